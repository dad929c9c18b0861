// The read side: records built from the engine's events for the queries an exchange API serves
// (order and fill history, public trades, candles, tickers, deposit and withdrawal history).
// Everything is bounded by the retention limits below; everything is a pure function of the
// event stream, so every replica builds the same projections and they can be snapshotted.

import type { CancelReason, Event, OrderState, OrderType, Side, StpMode } from '../core/index.js';

export const Retention = {
  /** Closed orders kept per user (newest kept), and for how long (engine time). */
  closedOrdersPerUserMax: 2_000,
  closedOrderAgeMsMax: 7 * 86_400_000,
  /** Fills kept per user, and for how long. */
  fillsPerUserMax: 5_000,
  fillAgeMsMax: 90 * 86_400_000,
  /** Public trades kept per instrument. */
  tradesPerInstrumentMax: 1_000,
  /** One-minute candles kept per instrument (7 days); longer bars are aggregated from them. */
  minuteCandlesPerInstrumentMax: 7 * 1_440,
  /** Deposits and withdrawals kept per user. */
  transfersPerUserMax: 1_000,
} as const;

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

export interface FillRecord {
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
  /** Base traded, in lots, and quote traded, in quote minor units. */
  readonly volLots: number;
  readonly volQuote: number;
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
  readonly volQuote24h: number;
  readonly sodUtc0Ticks: number | null;
  readonly sodUtc8Ticks: number | null;
  readonly ts: number;
}

export type DepositState = 'credited';
export interface DepositRecord {
  readonly depositId: string;
  readonly userId: number;
  readonly asset: string;
  /** Integer minor units as a decimal string. */
  readonly amount: string;
  readonly state: DepositState;
  readonly ts: number;
}

export interface WithdrawalRecord {
  readonly withdrawalId: number;
  readonly userId: number;
  readonly asset: string;
  readonly amount: string;
  readonly fee: string;
  readonly address: string;
  readonly clientId: string;
  state: 'pending' | 'completed' | 'failed' | 'canceled';
  txId: string;
  reason: string;
  readonly ts: number;
  updatedTs: number;
}

/** Id-based pagination as OKX does it: `after` = older than this id, `before` = newer than this id. */
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
  /** Closed (filled or canceled) orders, newest first. */
  orderHistory(userId: number, filter: { instId?: string; state?: 'filled' | 'canceled'; orderType?: OrderType; begin?: number; end?: number } & Page): OrderRecord[];
  /** Fills, newest first; begin/end are ms timestamps (inclusive). */
  fills(userId: number, filter: { instId?: string; orderId?: number; begin?: number; end?: number } & Page): FillRecord[];
  /** Public trades, newest first. */
  trades(instId: string, limit: number): PublicTrade[];
  /** Candles of `barMs` (a multiple of one minute), newest first; after/before are bar start ms. */
  candles(instId: string, barMs: number, page: Page): Candle[];
  ticker(instId: string): Ticker;
  deposits(userId: number, filter: { asset?: string; depositId?: string } & Page): DepositRecord[];
  withdrawals(userId: number, filter: { asset?: string; withdrawalId?: number; clientId?: string } & Page): WithdrawalRecord[];

  /** JSON-serialisable state, and rebuilding from it (stored beside engine snapshots). */
  toJSON(): unknown;
}
