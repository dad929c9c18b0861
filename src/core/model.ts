// The engine's mutable state objects: assets with their system accounts, instruments with their
// books, users with their balances and open orders, orders and pending withdrawals. Plain
// classes with fixed shapes so the hot path stays monomorphic; only engine.ts mutates them.

import { BookSide, type Level } from './book.js';
import { Balance } from './money.js';
import type {
  ChainTxKind, InstrumentState, OrderRecord, OrderState, OrderType, SetAsset, SetChain, SetChainAsset, SetInstrument, Side, StpMode,
} from './types.js';

export class Asset {
  /** System accounts: sum over users' available + held, plus these three, is always zero. */
  readonly fees = new Balance();
  readonly deposits = new Balance();
  readonly withdrawals = new Balance();
  /** The chain the asset lives on, if it has a chain adapter (custody.ts). */
  chain: ChainAsset | null = null;
  constructor(readonly index: number, public spec: SetAsset) {}
  get id(): string { return this.spec.asset; }
}

/** A declared chain: its hot wallet's next nonce and every deposit address's, and the freeze. */
export class Chain {
  nextNonce: number;
  frozen = false;
  frozenReason = '';
  /** Whether any transaction was assigned: the hot wallet and the chain id are fixed from then on. */
  assigned = false;
  /** Next nonce of each deposit address that has sent (swept), by user id. */
  readonly depositNonces = new Map<number, number>();
  constructor(public spec: SetChain) {
    this.nextNonce = spec.nonceStart;
  }
}

/** An asset on a chain: its rules and the global daily withdrawal counter. */
export class ChainAsset {
  globalDay = -1;
  globalAmount = 0n;
  constructor(public spec: SetChainAsset, readonly asset: Asset, readonly chain: Chain, readonly unitsPerMinor: bigint) {}
}

/** A deposit seen on chain with fewer confirmations than its asset needs. */
export class PendingDeposit {
  constructor(
    readonly key: string,
    readonly userId: number,
    readonly asset: Asset,
    readonly chainAmount: bigint,
    readonly txId: string,
    readonly address: string,
    public blockNumber: number,
    public blockHash: string,
    public confirmations: number,
    readonly ts: number,
  ) {}
}

/** A transaction assigned to one of the exchange's addresses and not yet settled (ChainTxView). */
export class ChainTx {
  constructor(
    readonly chain: Chain,
    readonly fromIndex: number,
    readonly nonce: number,
    readonly kind: ChainTxKind,
    readonly withdrawalId: number,
    readonly asset: ChainAsset,
    readonly to: string,
    readonly toIndex: number,
    readonly chainAmount: bigint,
    /** Sweeps: the unswept amount this sweep settles (the value sent plus its gas budget). */
    readonly sweptAmount: bigint,
    /** The asset whose confirmations settle it (a sweep's gas top-up: the native coin's). */
    readonly gasAsset: ChainAsset,
    /**
     * Gas parameters at assignment, part of the signed bytes: an operator's later SetChainAsset
     * must not change the bytes of a transaction some cloud may already have sent.
     */
    readonly gasLimit: number,
    readonly maxFeePerGas: string,
    readonly maxPriorityFeePerGas: string,
    public feeLevel: number,
    readonly assignedSeq: number,
  ) {}
  get key(): string { return chainTxKey(this.chain.spec.chain, this.fromIndex, this.nonce); }
}

export const chainTxKey = (chain: string, fromIndex: number, nonce: number): string => `${chain}:${fromIndex}:${nonce}`;

export class Instrument {
  readonly bids = new BookSide(true);
  readonly asks = new BookSide(false);
  state: InstrumentState;
  constructor(
    public spec: SetInstrument,
    readonly base: Asset,
    readonly quote: Asset,
    /** Digits after the point in a price, and the tick in those units (tickSz = tickUnits / 10^priceDecimals). */
    readonly priceDecimals: number,
    readonly tickUnits: number,
    /** Digits after the point in a size, and the lot in those units. */
    readonly sizeDecimals: number,
    readonly lotUnitsDecimal: number,
    /** Base minor units in one lot. */
    readonly lotBase: number,
    /** Quote minor units in one tick times one lot: notional = priceTicks * sizeLots * this. */
    readonly quotePerTickLot: number,
    public minLots: number,
    public maxLots: number,
    public maxPriceTicks: number,
    public bandBps: number,
  ) {
    this.state = spec.state;
  }
  get instId(): string { return this.spec.instId; }
}

export class Account {
  readonly available = new Balance();
  readonly held = new Balance();
  /** Sequence number of the last command that changed this account (for BalanceChanged). */
  touchedSeq = 0;
  constructor(readonly user: User, readonly asset: Asset) {}
}

export class DailyWithdrawn {
  constructor(public day: number, public amount: bigint) {}
}

export class User {
  readonly accounts: (Account | undefined)[] = [];
  /** Open orders in arrival order, linked through the orders (for cancel-all). */
  openHead: Order | null = null;
  openTail: Order | null = null;
  openCount = 0;
  readonly byClOrdId = new Map<string, Order>();
  /** The client order ids of the user's most recent orders, oldest first from `recentNext` (a ring). */
  readonly recentClOrdIds = new Set<string>();
  readonly recentRing: string[] = [];
  recentNext = 0;
  readonly withdrawnToday = new Map<number, DailyWithdrawn>();
  constructor(
    readonly id: number,
    public makerFeePpm: number,
    public takerFeePpm: number,
    public stpMode: StpMode,
  ) {}
}

/**
 * The fields the engine's order shares with the one order record (types.ts); the engine holds
 * the user and the instrument themselves where the record holds their ids, and no fees.
 */
type EngineOrderFields = Pick<OrderRecord,
  'side' | 'orderType' | 'priceTicks' | 'sizeLots' | 'quoteAmount' | 'clOrdId' | 'stpMode' | 'state' | 'filledLots' | 'filledQuote' | 'createdTs' | 'updatedTs'>;

export class Order implements EngineOrderFields {
  // Book links (Level FIFO) and the user's open-order list.
  prev: Order | null = null;
  next: Order | null = null;
  level: Level | null = null;
  userPrev: Order | null = null;
  userNext: Order | null = null;

  filledLots = 0;
  /** Quote minor units traded so far (for the average price). */
  filledQuote = 0;
  /** Funds still held for this order: quote minor units for a buy, base minor units for a sell. */
  reserved = 0;
  state: OrderState = 'live';
  updatedTs: number;

  // Writable only so that the engine can recycle a finished order's object (reuse()); for the
  // life of one order they never change.
  constructor(
    public id: number,
    public user: User,
    public inst: Instrument,
    public side: Side,
    public orderType: OrderType,
    public priceTicks: number,
    public sizeLots: number,
    /** Market orders by quote: the quote budget (buy) or target (sell); else 0. */
    public quoteAmount: number,
    public clOrdId: string,
    public stpMode: StpMode,
    public createdTs: number,
    /**
     * The account its funds are held in: the user's quote account for a buy, base for a sell
     * (the matching path reaches it without the user's account table).
     */
    public heldAccount: Account,
  ) {
    this.updatedTs = createdTs;
  }

  /**
   * Turns the object of an order that has left the engine for good into a new order, every field
   * as the constructor sets it. The engine recycles order objects so that resting orders are not
   * copied by the garbage collector and dead ones do not pile up in the old generation.
   */
  reuse(
    id: number, user: User, inst: Instrument, side: Side, orderType: OrderType, priceTicks: number, sizeLots: number,
    quoteAmount: number, clOrdId: string, stpMode: StpMode, createdTs: number, heldAccount: Account,
  ): this {
    this.prev = null;
    this.next = null;
    this.level = null;
    this.userPrev = null;
    this.userNext = null;
    this.filledLots = 0;
    this.filledQuote = 0;
    this.reserved = 0;
    this.state = 'live';
    this.updatedTs = createdTs;
    this.id = id;
    this.user = user;
    this.inst = inst;
    this.side = side;
    this.orderType = orderType;
    this.priceTicks = priceTicks;
    this.sizeLots = sizeLots;
    this.quoteAmount = quoteAmount;
    this.clOrdId = clOrdId;
    this.stpMode = stpMode;
    this.createdTs = createdTs;
    this.heldAccount = heldAccount;
    return this;
  }

  remainingLots(): number { return this.sizeLots - this.filledLots; }
}

/**
 * pending: held, waiting for an operator's completion (assets without a chain adapter);
 * approval: held, waiting for an operator's approval (chain assets above the threshold);
 * assigned: a chain transaction with a nonce pays it out; it can no longer be canceled.
 */
export type WithdrawalStage = 'pending' | 'approval' | 'assigned';

export class Withdrawal {
  stage: WithdrawalStage = 'pending';
  constructor(
    readonly id: number,
    readonly user: User,
    readonly asset: Asset,
    readonly amount: bigint,
    readonly fee: bigint,
    readonly address: string,
    readonly clientId: string,
    readonly day: number,
    readonly ts: number,
  ) {}
}
