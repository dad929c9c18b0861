// The engine's language: the commands it accepts, the results it returns and the events it
// emits. Commands are imperative (PlaceOrder), events past tense (OrderAccepted). Prices are in
// ticks and sizes in lots (safe integers); asset amounts that can be large (deposits,
// withdrawals, limits) are integer minor units written as decimal strings.

import type { Rejection } from './codes.js';
import type { Units } from './money.js';

export type Side = 'buy' | 'sell';
export type OrderType = 'limit' | 'post_only' | 'ioc' | 'fok' | 'market';
export type StpMode = 'none' | 'cancel_maker' | 'cancel_taker' | 'cancel_both';
export type InstrumentState = 'live' | 'suspended' | 'cancel_only' | 'post_only';
export type OrderState = 'live' | 'partially_filled' | 'filled' | 'canceled';
export type CancelReason =
  | 'user' | 'user_all' | 'stp' | 'unfilled' | 'market_band' | 'amend_failed'
  /** Placed and canceled in the same command, as OKX does, instead of being rejected. */
  | 'post_only_would_take' | 'fok_not_fillable';
export type WithdrawalState = 'pending' | 'completed' | 'failed' | 'canceled';
/** Why a transaction leaves one of the exchange's addresses. */
export type ChainTxKind = 'withdrawal' | 'sweep' | 'gas';

export type { Units };

/** Integer minor units as a decimal string, e.g. "1500000" (no sign, no point). */
export type MinorUnits = string;

// ---------------------------------------------------------------- commands

export interface CreateUser { readonly type: 'CreateUser'; readonly makerFeePpm?: number; readonly takerFeePpm?: number; readonly stpMode?: StpMode }
export interface SetUserConfig { readonly type: 'SetUserConfig'; readonly userId: number; readonly makerFeePpm?: number; readonly takerFeePpm?: number; readonly stpMode?: StpMode }
export interface SetAsset {
  readonly type: 'SetAsset';
  readonly asset: string;
  readonly scale: number;
  readonly withdrawFee: MinorUnits;
  readonly withdrawMin: MinorUnits;
  readonly withdrawMax: MinorUnits;
  readonly withdrawDailyMax: MinorUnits;
  readonly withdrawEnabled: boolean;
}
export interface SetInstrument {
  readonly type: 'SetInstrument';
  readonly instId: string;
  readonly base: string;
  readonly quote: string;
  /** Decimal strings in quote (price) and base (size) units, as OKX publishes them. */
  readonly tickSz: string;
  readonly lotSz: string;
  readonly minSz: string;
  readonly maxSz: string;
  readonly maxPx: string;
  /** How far (in basis points) a market order may trade away from the best price it found. */
  readonly bandBps: number;
  readonly state: InstrumentState;
}
export interface SetInstrumentState { readonly type: 'SetInstrumentState'; readonly instId: string; readonly state: InstrumentState }
export interface CreditDeposit { readonly type: 'CreditDeposit'; readonly depositId: string; readonly userId: number; readonly asset: string; readonly amount: MinorUnits }
export interface RequestWithdrawal { readonly type: 'RequestWithdrawal'; readonly userId: number; readonly asset: string; readonly amount: MinorUnits; readonly address: string; readonly clientId?: string }
export interface CompleteWithdrawal { readonly type: 'CompleteWithdrawal'; readonly withdrawalId: number; readonly txId: string }
export interface FailWithdrawal { readonly type: 'FailWithdrawal'; readonly withdrawalId: number; readonly reason: string }
export interface CancelWithdrawal { readonly type: 'CancelWithdrawal'; readonly userId: number; readonly withdrawalId: number }

// Custody on a chain (docs/CUSTODY.md). Addresses are lower-case 0x-hex; chain amounts are the
// chain's own integer units (wei, token base units) as decimal strings. Key index 0 of the HD
// key is the hot wallet, index u is user u's deposit address: the engine names addresses by
// index and never sees a key.

/** Declares a chain and its hot wallet. The hot wallet cannot change once a transaction was assigned. */
export interface SetChain {
  readonly type: 'SetChain';
  readonly chain: string;
  readonly chainId: number;
  /** The address of key index 0. */
  readonly hotWallet: string;
  /** The first hot-wallet nonce the engine may assign (the wallet's on-chain nonce when declared). */
  readonly nonceStart: number;
}
/** Puts an existing asset on a declared chain: its native coin (token '') or an ERC-20 contract. */
export interface SetChainAsset {
  readonly type: 'SetChainAsset';
  readonly asset: string;
  readonly chain: string;
  readonly token: string;
  /** The chain's decimals; one minor unit is 10^(chainDecimals - scale) chain units. */
  readonly chainDecimals: number;
  /** Blocks on top of a deposit's (its own included) before it is credited; at least 1. */
  readonly confirmations: number;
  /** A withdrawal of more than this (minor units) waits for an operator's approval. */
  readonly approvalThreshold: MinorUnits;
  /** All users' withdrawals of the asset together per UTC day (minor units). */
  readonly globalDailyMax: MinorUnits;
  /** Fixed gas parameters: part of every signed transaction's bytes, raised only by ReplaceChainTx. */
  readonly gasLimit: number;
  readonly maxFeePerGas: string;
  readonly maxPriorityFeePerGas: string;
}
/** A watcher saw a transfer into user's deposit address, with this many confirmations at its head. */
export interface ObserveDeposit {
  readonly type: 'ObserveDeposit';
  readonly chain: string;
  readonly txId: string;
  /**
   * Which of the transaction's Transfer logs of this token it is (0, 1, ... in log order): its
   * position within the transaction, which stays the same when a reorg mines the transaction
   * again in another block (a block-wide log index would not); -1 for the native coin.
   */
  readonly logIndex: number;
  readonly asset: string;
  readonly userId: number;
  readonly address: string;
  readonly chainAmount: string;
  readonly blockNumber: number;
  readonly blockHash: string;
  readonly confirmations: number;
}
/** A watcher saw the block that held a pending (unconfirmed) deposit leave the chain. */
export interface RevertDeposit {
  readonly type: 'RevertDeposit';
  readonly chain: string;
  readonly txId: string;
  readonly asset: string;
  readonly logIndex: number;
  readonly blockHash: string;
}
/** An operator releases a withdrawal that waits for approval: it gets the next nonce. */
export interface ApproveWithdrawal { readonly type: 'ApproveWithdrawal'; readonly withdrawalId: number }
/** A broadcaster saw the transaction at (chain, key index, nonce) mined, with this many confirmations. */
export interface ObserveChainTx {
  readonly type: 'ObserveChainTx';
  readonly chain: string;
  readonly fromIndex: number;
  readonly nonce: number;
  readonly txHash: string;
  readonly blockNumber: number;
  readonly status: 'success' | 'reverted';
  readonly confirmations: number;
}
/** Raises an assigned transaction's fee level: new bytes at the same nonce (docs/CUSTODY.md). */
export interface ReplaceChainTx { readonly type: 'ReplaceChainTx'; readonly chain: string; readonly fromIndex: number; readonly nonce: number; readonly feeLevel: number }
/** Moves what the ledger credited to user's deposit address for the asset, and has not swept, to the hot wallet. */
export interface RequestSweep { readonly type: 'RequestSweep'; readonly chain: string; readonly asset: string; readonly userId: number }
/** Stops (or resumes) withdrawals on a chain, with the reason shown to operators and users. */
export interface SetWithdrawalsFrozen { readonly type: 'SetWithdrawalsFrozen'; readonly chain: string; readonly frozen: boolean; readonly reason: string }
/** The only addresses the user may withdraw to; an empty list removes the restriction. */
export interface SetWithdrawalAllowlist { readonly type: 'SetWithdrawalAllowlist'; readonly userId: number; readonly addresses: readonly string[] }

export interface PlaceOrder {
  readonly type: 'PlaceOrder';
  readonly userId: number;
  readonly instId: string;
  readonly side: Side;
  readonly orderType: OrderType;
  /** Limit price; required for every type but market. */
  readonly priceTicks?: number;
  /** Size in lots. A market order gives either this (base target) or quoteAmount. */
  readonly sizeLots?: number;
  /** Market orders only: quote minor units to spend (buy) or to receive (sell). */
  readonly quoteAmount?: number;
  readonly clOrdId?: string;
  readonly stpMode?: StpMode;
}
export interface OrderRef { readonly userId: number; readonly instId: string; readonly orderId?: number; readonly clOrdId?: string }
export interface CancelOrder extends OrderRef { readonly type: 'CancelOrder' }
export interface CancelAll { readonly type: 'CancelAll'; readonly userId: number; readonly instId?: string }
export interface AmendOrder extends OrderRef {
  readonly type: 'AmendOrder';
  readonly newPriceTicks?: number;
  /** The new total size in lots, filled part included (as OKX's newSz). */
  readonly newSizeLots?: number;
  readonly cancelOnFail?: boolean;
}

// Proof of reserves (docs/PROOF-OF-RESERVES.md). The command only fixes the position: every node
// builds the liabilities tree over the balances after the record that holds it, off the apply thread.

/** Names a liabilities report to be built over every user's balances at this point of the log. */
export interface RequestLiabilitiesReport {
  readonly type: 'RequestLiabilitiesReport';
  /** 1 to 64 letters, digits, '-' and '_'. */
  readonly reportId: string;
  /** The chain block at which reserves are read for this report (0: no reserves section). */
  readonly blockNumber?: number;
}

export type Command =
  | CreateUser | SetUserConfig | SetAsset | SetInstrument | SetInstrumentState
  | CreditDeposit | RequestWithdrawal | CompleteWithdrawal | FailWithdrawal | CancelWithdrawal
  | SetChain | SetChainAsset | ObserveDeposit | RevertDeposit | ApproveWithdrawal | ObserveChainTx | ReplaceChainTx
  | RequestSweep | SetWithdrawalsFrozen | SetWithdrawalAllowlist
  | PlaceOrder | CancelOrder | CancelAll | AmendOrder
  | RequestLiabilitiesReport;

// ---------------------------------------------------------------- results

export interface Rejected { readonly ok: false; readonly reject: Rejection }
export interface Accepted {
  readonly ok: true;
  readonly userId?: number;
  readonly orderId?: number;
  readonly clOrdId?: string;
  readonly state?: OrderState;
  readonly filledLots?: number;
  readonly withdrawalId?: number;
  readonly canceledOrders?: number;
}
export type Result = Accepted | Rejected;

// ---------------------------------------------------------------- the order record

/**
 * An order, declared once for every layer: what it was placed as (the OrderAccepted event
 * carries these fields), how far it has got, and what the read side adds (fees, the last fill,
 * why it was canceled). The engine's Order class, the snapshot's order row and the projections'
 * records are derived from it, so a field changes in one place.
 */
export interface OrderRecord {
  readonly orderId: number;
  readonly userId: number;
  readonly instId: string;
  readonly side: Side;
  readonly orderType: OrderType;
  priceTicks: number;
  sizeLots: number;
  /** Market orders by quote: the quote budget or target (quote minor units); else 0. */
  readonly quoteAmount: number;
  readonly clOrdId: string;
  readonly stpMode: StpMode;
  state: OrderState;
  filledLots: number;
  /** Quote minor units traded (for the average price). */
  filledQuote: number;
  /** Signed fee total, in the asset this order receives: positive charged, negative rebated. */
  fee: number;
  readonly feeAsset: string;
  cancelReason: CancelReason | '';
  lastFill: { tradeId: number; priceTicks: number; sizeLots: number; fee: number; liquidity: 'maker' | 'taker'; ts: number } | null;
  readonly createdTs: number;
  updatedTs: number;
}

/** The fields an order is placed with: what OrderAccepted announces. */
export type OrderPlacedFields = 'orderId' | 'userId' | 'instId' | 'side' | 'orderType' | 'priceTicks' | 'sizeLots' | 'quoteAmount' | 'clOrdId' | 'stpMode';

// ---------------------------------------------------------------- events

/** Every event names the command (by its sequence number in the log) that caused it. */
interface At { readonly seq: number }

export type OrderView = Readonly<Pick<OrderRecord, OrderPlacedFields>> & {
  readonly seq: number;
  readonly type: 'OrderAccepted';
  readonly ts: number;
};

export type Event =
  | (At & { readonly type: 'UserCreated'; readonly userId: number; readonly makerFeePpm: number; readonly takerFeePpm: number; readonly stpMode: StpMode })
  | (At & { readonly type: 'UserConfigChanged'; readonly userId: number; readonly makerFeePpm: number; readonly takerFeePpm: number; readonly stpMode: StpMode })
  | (At & { readonly type: 'AssetSet'; readonly asset: string; readonly spec: SetAsset })
  | (At & { readonly type: 'InstrumentSet'; readonly instId: string; readonly spec: SetInstrument })
  | (At & { readonly type: 'InstrumentStateChanged'; readonly instId: string; readonly state: InstrumentState })
  | OrderView
  | (At & { readonly type: 'OrderRejected'; readonly userId: number; readonly instId: string; readonly clOrdId: string; readonly orderId: number; readonly reject: Rejection; readonly ts: number })
  | (At & {
      readonly type: 'TradeExecuted';
      readonly tradeId: number;
      readonly instId: string;
      readonly priceTicks: number;
      readonly sizeLots: number;
      /** Quote minor units that changed hands; base minor units are sizeLots * lot. */
      readonly quoteAmount: number;
      readonly takerSide: Side;
      readonly makerOrderId: number;
      readonly makerUserId: number;
      /** Signed: positive charged, negative rebated; in the asset the side received. */
      readonly makerFee: number;
      readonly takerOrderId: number;
      readonly takerUserId: number;
      readonly takerFee: number;
      readonly ts: number;
    })
  | (At & { readonly type: 'OrderPartiallyFilled' | 'OrderFilled'; readonly orderId: number; readonly userId: number; readonly filledLots: number; readonly remainingLots: number; readonly ts: number })
  | (At & { readonly type: 'OrderCanceled'; readonly orderId: number; readonly userId: number; readonly instId: string; readonly reason: CancelReason; readonly filledLots: number; readonly remainingLots: number; readonly ts: number })
  | (At & { readonly type: 'OrderAmended'; readonly orderId: number; readonly userId: number; readonly priceTicks: number; readonly sizeLots: number; readonly priorityKept: boolean; readonly ts: number })
  | (At & { readonly type: 'BalanceChanged'; readonly userId: number; readonly asset: string; readonly available: Units; readonly held: Units })
  | (At & {
      readonly type: 'DepositCredited'; readonly depositId: string; readonly userId: number; readonly asset: string; readonly amount: MinorUnits; readonly ts: number;
      /** On-chain deposits only: where it came in (absent for an operator's credit). */
      readonly chain?: string; readonly txId?: string; readonly address?: string; readonly confirmations?: number;
    })
  | (At & {
      readonly type: 'DepositPending'; readonly depositId: string; readonly userId: number; readonly asset: string; readonly amount: MinorUnits;
      readonly chain: string; readonly txId: string; readonly address: string; readonly confirmations: number; readonly ts: number;
    })
  | (At & { readonly type: 'DepositReverted'; readonly depositId: string; readonly userId: number; readonly ts: number })
  | (At & { readonly type: 'WithdrawalRequested'; readonly withdrawalId: number; readonly userId: number; readonly asset: string; readonly amount: MinorUnits; readonly fee: MinorUnits; readonly address: string; readonly clientId: string; readonly ts: number })
  | (At & { readonly type: 'WithdrawalCompleted'; readonly withdrawalId: number; readonly userId: number; readonly txId: string; readonly ts: number })
  | (At & { readonly type: 'WithdrawalFailed' | 'WithdrawalCanceled'; readonly withdrawalId: number; readonly userId: number; readonly reason: string; readonly ts: number })
  | (At & { readonly type: 'WithdrawalAwaitingApproval'; readonly withdrawalId: number; readonly userId: number; readonly ts: number })
  | (At & { readonly type: 'ChainSet'; readonly spec: SetChain })
  | (At & { readonly type: 'ChainAssetSet'; readonly spec: SetChainAsset })
  | (At & { readonly type: 'ChainTxAssigned'; readonly tx: ChainTxView; readonly ts: number })
  | (At & { readonly type: 'ChainTxReplaced'; readonly chain: string; readonly fromIndex: number; readonly nonce: number; readonly feeLevel: number; readonly ts: number })
  | (At & {
      readonly type: 'ChainTxSettled'; readonly chain: string; readonly fromIndex: number; readonly nonce: number; readonly kind: ChainTxKind;
      readonly withdrawalId: number; readonly txHash: string; readonly status: 'success' | 'reverted'; readonly ts: number;
    })
  | (At & { readonly type: 'WithdrawalsFrozen'; readonly chain: string; readonly frozen: boolean; readonly reason: string; readonly ts: number })
  | (At & { readonly type: 'WithdrawalAllowlistSet'; readonly userId: number; readonly addresses: readonly string[] })
  | (At & { readonly type: 'LiabilitiesReportRequested'; readonly reportId: string; readonly blockNumber: number; readonly ts: number });

/**
 * A transaction the engine assigned to one of the exchange's addresses: everything its signed
 * bytes depend on except the key. A broadcaster in any cloud signs exactly this, so every
 * cloud sends the same bytes (docs/CUSTODY.md).
 */
export interface ChainTxView {
  readonly chain: string;
  readonly chainId: number;
  /** Key index: 0 the hot wallet, u user u's deposit address. */
  readonly fromIndex: number;
  readonly nonce: number;
  readonly kind: ChainTxKind;
  /** The withdrawal it pays out (kind 'withdrawal'), else 0. */
  readonly withdrawalId: number;
  readonly asset: string;
  /** '' for the native coin, else the ERC-20 contract the transfer calls. */
  readonly token: string;
  /**
   * The recipient of the value (for a token, the transfer's recipient, not the contract); '' when
   * it is one of the exchange's own addresses named by key index (toIndex), as a sweep's gas is.
   */
  readonly to: string;
  /** Key index of the recipient when `to` is ''; else -1. */
  readonly toIndex: number;
  readonly chainAmount: string;
  readonly gasLimit: number;
  /** Fees at level 0 (frozen at assignment); each level n multiplies both by 125 / 100 once more, integer division at each step. */
  readonly maxFeePerGas: string;
  readonly maxPriorityFeePerGas: string;
  readonly feeLevel: number;
  /** Assigned by the command at this sequence number. */
  readonly assignedSeq: number;
}

export type EventType = Event['type'];
