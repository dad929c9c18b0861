// The plain records that describe the engine's state to readers outside the core: an
// instrument's trading rules, a book to a depth, a user's balances and fee rates. They are
// declared once, here, and built by the replica's queries (src/replica/queries.ts), so the
// gateway formats them without ever seeing an engine class or its data layout.

import type { ChainTxView, InstrumentState, SetAsset, SetChain, SetChainAsset, SetInstrument } from './types.js';

/** An asset as the operator set it (scale, withdrawal rules). */
export type AssetView = Omit<SetAsset, 'type'>;

/** One instrument's rules in the engine's integer units, and its state. */
export interface InstrumentView {
  readonly instId: string;
  /** The instrument as the operator last set it (decimal strings, as OKX publishes them). */
  readonly spec: SetInstrument;
  readonly state: InstrumentState;
  /** Digits after the point in a price, and the tick in those units (tickSz = tickUnits / 10^priceDecimals). */
  readonly priceDecimals: number;
  readonly tickUnits: number;
  /** Digits after the point in a size, and the lot in those units. */
  readonly sizeDecimals: number;
  readonly lotUnitsDecimal: number;
  /** Base minor units in one lot. */
  readonly lotBase: number;
  readonly minLots: number;
  readonly maxLots: number;
  readonly maxPriceTicks: number;
  /** Decimal places of the base and the quote asset's minor units. */
  readonly baseScale: number;
  readonly quoteScale: number;
}

/** One price level: its price, the lots resting there and how many orders hold them. */
export interface BookLevelView {
  readonly priceTicks: number;
  readonly sizeLots: number;
  readonly orders: number;
}

/** A book to a depth: each side best first (asks ascending, bids descending). */
export interface BookView {
  readonly asks: readonly BookLevelView[];
  readonly bids: readonly BookLevelView[];
  /** Orders resting on each side in all, at any depth. */
  readonly askOrders: number;
  readonly bidOrders: number;
}

/** One asset's balance of a user, in minor units. */
export interface BalanceView {
  readonly asset: string;
  readonly available: bigint;
  readonly held: bigint;
}

/** A user's fee rates (parts per million) and balances, in asset order (only assets it holds an account in). */
export interface AccountView {
  readonly userId: number;
  readonly makerFeePpm: number;
  readonly takerFeePpm: number;
  readonly balances: readonly BalanceView[];
}

/** A declared chain as the engine holds it. */
export interface ChainView {
  readonly spec: SetChain;
  /** The next hot-wallet nonce the engine will assign. */
  readonly nextNonce: number;
  readonly frozen: boolean;
  readonly frozenReason: string;
}

/** An asset on a chain, with what the ledger owes its users in it. */
export interface ChainAssetView {
  readonly spec: SetChainAsset;
  /** The asset's scale (decimals of a minor unit) and chain units per minor unit. */
  readonly scale: number;
  readonly unitsPerMinor: bigint;
  /** Sum over users of available + held, in minor units: what reconciliation must find on chain. */
  readonly liabilities: bigint;
}

/** What the ledger credited to one deposit address for one asset and has not swept yet. */
export interface UnsweptView {
  readonly userId: number;
  readonly asset: string;
  readonly chainAmount: bigint;
  /** A sweep of this address and asset is assigned and not settled. */
  readonly sweeping: boolean;
}

/** Everything the custody runtime (watchers, broadcasters, sweeper, reconciler) reads of one chain. */
export interface CustodyView {
  readonly chain: ChainView;
  readonly assets: readonly ChainAssetView[];
  /** Assigned transactions not yet settled, ordered by key index then nonce. */
  readonly openTxs: readonly ChainTxView[];
  /** Deposit addresses holding credited, unswept funds (and every address with a sweep in flight). */
  readonly unswept: readonly UnsweptView[];
  /** Users that exist (ids 1..userCount): the deposit addresses a watcher derives. */
  readonly userCount: number;
  /** The log position this view was read at. */
  readonly seq: number;
}

/** Where the engine stands with one on-chain deposit (chain, txId, logIndex). */
export type DepositStatus = 'unknown' | 'pending' | 'credited';
