// The read side: records built from the engine's events for the queries an exchange API serves
// (order and fill history, public trades, candles, tickers, deposit and withdrawal history).
// Everything is bounded by the retention limits below; everything is a pure function of the
// event stream, so every replica builds the same projections and they can be snapshotted.

import type { Event, OrderRecord, OrderType, Side } from '../core/index.js';

export const Retention = {
  /**
   * Closed orders kept per user (highest orderIds kept), and for how long after they were placed
   * (engine time), as OKX keeps the orders placed in the last 7 days.
   */
  closedOrdersPerUserMax: 2_000,
  closedOrderAgeMsMax: 7 * 86_400_000,
  /** Fills kept per user, and for how long. */
  fillsPerUserMax: 5_000,
  fillAgeMsMax: 90 * 86_400_000,
  /** Public trades kept per instrument. */
  tradesPerInstrumentMax: 1_000,
  /**
   * One-minute candles kept per instrument (7 days of them); longer bars are aggregated from
   * them. A minute without trades has no candle, so a quiet market keeps a longer span.
   */
  minuteCandlesPerInstrumentMax: 7 * 1_440,
  /** Deposits and withdrawals kept per user. */
  transfersPerUserMax: 1_000,
} as const;

/** The candle bars served, by OKX's names, in ms; bars align to UTC epoch multiples. */
export const CandleBarsMs = {
  '1m': 60_000,
  '3m': 3 * 60_000,
  '5m': 5 * 60_000,
  '15m': 15 * 60_000,
  '30m': 30 * 60_000,
  '1H': 3_600_000,
  '2H': 2 * 3_600_000,
  '4H': 4 * 3_600_000,
  '6H': 6 * 3_600_000,
  '12H': 12 * 3_600_000,
  '1D': 86_400_000,
} as const;
export type CandleBar = keyof typeof CandleBarsMs;

/** The order record is declared once, in the core's types; the projections build and serve it. */
export type { OrderRecord };

export interface FillRecord {
  /**
   * Unique per fill record, as OKX's billId: tradeId * 2, plus 1 for the taker's side. A trade
   * between two orders of the same user gives that user two records with one tradeId, so fills
   * paginate by this id, never by tradeId. Ascending in trade order.
   */
  readonly billId: number;
  readonly tradeId: number;
  readonly orderId: number;
  readonly clOrdId: string;
  readonly userId: number;
  readonly instId: string;
  readonly side: Side;
  readonly priceTicks: number;
  readonly sizeLots: number;
  readonly quoteAmount: number;
  /** Signed: positive charged, negative rebated. */
  readonly fee: number;
  readonly feeAsset: string;
  readonly liquidity: 'maker' | 'taker';
  readonly ts: number;
}

export interface PublicTrade {
  readonly tradeId: number;
  readonly instId: string;
  readonly priceTicks: number;
  readonly sizeLots: number;
  readonly takerSide: Side;
  readonly ts: number;
}

export interface Candle {
  readonly startTs: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  /**
   * Base traded, in lots, and quote traded, in quote minor units: a bigint, since one trade's
   * quote is a safe integer but a bar's sum of them need not be.
   */
  readonly volLots: number;
  readonly volQuote: bigint;
  /** False while the bar is still open at the engine's current time. */
  readonly confirmed: boolean;
}

export interface Ticker {
  readonly instId: string;
  readonly lastTicks: number | null;
  readonly lastLots: number | null;
  readonly open24hTicks: number | null;
  readonly high24hTicks: number | null;
  readonly low24hTicks: number | null;
  readonly vol24hLots: number;
  /** Quote minor units traded in the window, exact (a bigint, as a candle's volQuote). */
  readonly volQuote24h: bigint;
  readonly sodUtc0Ticks: number | null;
  readonly sodUtc8Ticks: number | null;
  readonly ts: number;
}

/** pending: seen on chain, too few confirmations; reverted: its block left the chain (never credited). */
export type DepositState = 'pending' | 'credited' | 'reverted';
export interface DepositRecord {
  readonly depositId: string;
  readonly userId: number;
  readonly asset: string;
  /** Integer minor units as a decimal string. */
  readonly amount: string;
  state: DepositState;
  readonly ts: number;
  /** On-chain deposits: the transaction, the deposit address and the confirmations last seen. */
  readonly txId?: string;
  readonly address?: string;
  confirmations?: number;
}

export interface WithdrawalRecord {
  readonly withdrawalId: number;
  readonly userId: number;
  readonly asset: string;
  readonly amount: string;
  readonly fee: string;
  readonly address: string;
  readonly clientId: string;
  /** approval: waits for an operator; broadcasting: its chain transaction has a nonce and is being sent. */
  state: 'pending' | 'approval' | 'broadcasting' | 'completed' | 'failed' | 'canceled';
  txId: string;
  reason: string;
  readonly ts: number;
  updatedTs: number;
}

/**
 * Pagination as OKX does it: `after` = older than this key, `before` = newer than this key, at
 * most `limit` records (the caller clamps it), newest first; with `before` alone the newest
 * records are returned, as OKX does. The key is the orderId for orders, the billId for fills,
 * the bar start (ms) for candles, and the timestamp (ms) for deposits and withdrawals.
 */
export interface Page {
  readonly after?: number;
  readonly before?: number;
  readonly limit: number;
}

export interface Projections {
  /** Feeds the events of applied commands, in log order. */
  apply(events: readonly Event[]): void;

  order(userId: number, orderId: number): OrderRecord | undefined;
  orderByClOrdId(userId: number, clOrdId: string): OrderRecord | undefined;
  /** Open orders, newest first. */
  openOrders(userId: number, filter: { instId?: string; orderType?: OrderType } & Page): OrderRecord[];
  /**
   * Closed (filled or canceled) orders, newest (highest orderId) first; begin/end are ms
   * timestamps (inclusive) on the order's creation time, as OKX filters on cTime.
   */
  orderHistory(userId: number, filter: { instId?: string; state?: 'filled' | 'canceled'; orderType?: OrderType; begin?: number; end?: number } & Page): OrderRecord[];
  /** Fills, newest first; begin/end are ms timestamps (inclusive). */
  fills(userId: number, filter: { instId?: string; orderId?: number; begin?: number; end?: number } & Page): FillRecord[];
  /** Public trades, newest first. */
  trades(instId: string, limit: number): PublicTrade[];
  /**
   * Candles of `barMs` (a multiple of one minute, e.g. a value of CandleBarsMs), newest first;
   * after/before are bar start ms. Throws RangeError for any other barMs (a caller's bug).
   */
  candles(instId: string, barMs: number, page: Page): Candle[];
  ticker(instId: string): Ticker;
  /** Deposits, newest first; after/before are ms timestamps (as OKX's deposit-history). */
  deposits(userId: number, filter: { asset?: string; depositId?: string } & Page): DepositRecord[];
  /** Withdrawals, newest first by request time; after/before are ms timestamps. */
  withdrawals(userId: number, filter: { asset?: string; withdrawalId?: number; clientId?: string } & Page): WithdrawalRecord[];

  /** JSON-serialisable state, and rebuilding from it (stored beside engine snapshots). */
  toJSON(): unknown;
}
