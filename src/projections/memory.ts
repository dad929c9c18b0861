// The projections kept in memory: per user, open orders (a map in orderId order), closed orders,
// fills, deposits and withdrawals (key-ordered deques); per instrument, public trades and
// one-minute candles, from which longer bars and the ticker are computed at query time.
// apply() is O(1) amortised per event and copies no arrays (an order closing out of orderId
// order is placed by binary search); every collection evicts its oldest records at a bound from
// Retention, so the state is a pure function of the event stream.
//
// Time is engine time: the largest `ts` of any event seen. Age bounds are enforced by eviction
// when a user's collection grows and by the queries themselves, so a quiet user's old records
// are never served even before they are evicted. Pages are newest first; orders page by
// orderId and fills by billId, but deposits and withdrawals page by timestamp, as OKX's
// deposit-history and withdrawal-history do: `after` = older than that ms, `before` = newer.
// Queries return the projection's own records, which later events update: read, never mutate.

import {
  InvariantError, type CancelReason, type Engine, type Event, type OrderState, type OrderType, type Side, type StpMode,
} from '../core/index.js';
import { Deque, type Verdict } from './deque.js';
import {
  Retention,
  type Candle,
  type DepositRecord,
  type FillRecord,
  type OrderRecord,
  type Page,
  type Projections,
  type PublicTrade,
  type Ticker,
  type WithdrawalRecord,
} from './types.js';

const minuteMs = 60_000;
const dayMs = 86_400_000;
/** The ticker's rolling window: the current minute and the 1,439 before it. */
const tickerWindowMinutes = 1_440;
/** The UTC+8 day starts at 16:00 UTC. */
const utc8OffsetMs = 8 * 3_600_000;

/**
 * The format version of toJSON(); fromJSON() refuses any other but the one before it. Version 2
 * writes a minute's quote volume as a decimal string (exact past 2^53); version 1 wrote a JSON
 * number, which is still read (it was exact wherever it was below 2^53).
 */
export const PROJECTIONS_JSON_VERSION = 2;
const PROJECTIONS_JSON_VERSION_READABLE: readonly number[] = [1, PROJECTIONS_JSON_VERSION];

/** What toJSON() produces: every record, in the order the live structures hold them. */
export interface ProjectionsJSON {
  readonly version: number;
  readonly nowMs: number;
  readonly users: readonly UserJSON[];
  readonly instruments: readonly InstrumentJSON[];
}
export interface UserJSON {
  readonly userId: number;
  /** Oldest first, as held. */
  readonly open: readonly OrderRecord[];
  readonly closed: readonly OrderRecord[];
  /** The newest order for each client order id: [clOrdId, orderId]. */
  readonly clOrdIds: readonly (readonly [string, number])[];
  readonly fills: readonly FillRecord[];
  readonly deposits: readonly DepositRecord[];
  readonly withdrawals: readonly WithdrawalRecord[];
}
export interface InstrumentJSON {
  readonly instId: string;
  readonly trades: readonly PublicTrade[];
  /** [startTs, open, high, low, close, volLots, volQuote (integer minor units as a decimal string)], oldest first. */
  readonly minutes: readonly (readonly [number, number, number, number, number, number, string])[];
}

class MinuteCandle {
  constructor(
    readonly startTs: number,
    public open: number,
    public high: number,
    public low: number,
    public close: number,
    public volLots: number,
    /** Quote minor units: a bigint, as the sum of a minute's trades can pass 2^53. */
    public volQuote: bigint,
  ) {}
}

class UserView {
  /** Open orders by orderId; insertion order is acceptance order, which is orderId order. */
  readonly open = new Map<number, OrderRow>();
  /** Closed orders in orderId order (so also in creation-time order). */
  readonly closed = new Deque<OrderRow>((o) => o.orderId);
  /** The newest retained order with each client order id, open or closed. */
  readonly byClOrdId = new Map<string, OrderRow>();
  readonly fills = new Deque<FillRow>((f) => f.billId);
  readonly deposits = new Deque<DepositRecord>((d) => d.ts);
  readonly withdrawals = new Deque<WithdrawalRecord>((w) => w.ts);
  constructor(readonly userId: number) {}
}

class InstrumentView {
  readonly trades = new Deque<PublicTrade>((t) => t.tradeId);
  readonly minutes = new Deque<MinuteCandle>((c) => c.startTs);
  constructor(readonly instId: string) {}
}

/** A broken invariant: a bug, or events that did not come from this engine in log order. */
function broken(what: string): never {
  throw new InvariantError(`projections: invariant broken: ${what}`);
}

function isClosed(order: OrderRecord): boolean {
  return order.state === 'filled' || order.state === 'canceled';
}

type LastFill = NonNullable<OrderRecord['lastFill']>;
type Liquidity = LastFill['liquidity'];
type TradeExecuted = Extract<Event, { type: 'TradeExecuted' }>;

/** An order's record: a class, so that every record has one shape and apply() stays monomorphic. */
class OrderRow implements OrderRecord {
  state: OrderState = 'live';
  filledLots = 0;
  filledQuote = 0;
  fee = 0;
  cancelReason: CancelReason | '' = '';
  lastFill: LastFill | null = null;
  updatedTs: number;

  constructor(
    readonly orderId: number,
    readonly userId: number,
    readonly instId: string,
    readonly side: Side,
    readonly orderType: OrderType,
    public priceTicks: number,
    public sizeLots: number,
    readonly quoteAmount: number,
    readonly clOrdId: string,
    readonly stpMode: StpMode,
    readonly feeAsset: string,
    readonly createdTs: number,
  ) {
    this.updatedTs = createdTs;
  }

  static from(r: OrderRecord): OrderRow {
    const row = new OrderRow(
      r.orderId, r.userId, r.instId, r.side, r.orderType, r.priceTicks, r.sizeLots, r.quoteAmount, r.clOrdId,
      r.stpMode, r.feeAsset, r.createdTs,
    );
    row.state = r.state;
    row.filledLots = r.filledLots;
    row.filledQuote = r.filledQuote;
    row.fee = r.fee;
    row.cancelReason = r.cancelReason;
    row.lastFill = r.lastFill === null ? null : { ...r.lastFill };
    row.updatedTs = r.updatedTs;
    return row;
  }
}

class FillRow implements FillRecord {
  constructor(
    readonly billId: number,
    readonly tradeId: number,
    readonly orderId: number,
    readonly clOrdId: string,
    readonly userId: number,
    readonly instId: string,
    readonly side: Side,
    readonly priceTicks: number,
    readonly sizeLots: number,
    readonly quoteAmount: number,
    readonly fee: number,
    readonly feeAsset: string,
    readonly liquidity: Liquidity,
    readonly ts: number,
  ) {}

  static from(f: FillRecord): FillRow {
    return new FillRow(
      f.billId, f.tradeId, f.orderId, f.clOrdId, f.userId, f.instId, f.side, f.priceTicks, f.sizeLots, f.quoteAmount,
      f.fee, f.feeAsset, f.liquidity, f.ts,
    );
  }
}

/** Plain copies for toJSON(): the same fields, nothing shared, no prototype. */
function plainOrder(o: OrderRecord): OrderRecord {
  return { ...o, lastFill: o.lastFill === null ? null : { ...o.lastFill } };
}
function plainFill(f: FillRecord): FillRecord {
  return { ...f };
}

export class MemoryProjections implements Projections {
  /** Engine time: the largest event ts seen. */
  private nowMs = 0;
  /** By userId: the engine issues user ids densely from 1. */
  private readonly users: (UserView | undefined)[] = [];
  private readonly instruments = new Map<string, InstrumentView>();
  /** Every retained withdrawal, for the events that change its state. */
  private readonly withdrawalsById = new Map<number, WithdrawalRecord>();

  /** The engine that emits the events, read only for instrument definitions (fee assets). */
  constructor(private readonly engine: Engine) {}

  // ------------------------------------------------------------------ applying events

  apply(events: readonly Event[]): void {
    for (const event of events) this.applyOne(event);
  }

  private applyOne(e: Event): void {
    switch (e.type) {
      case 'OrderAccepted': {
        this.advance(e.ts);
        const inst = this.engine.instruments.get(e.instId);
        if (inst === undefined) broken(`instrument ${e.instId} of order ${e.orderId} is known to the engine`);
        // A buyer receives base and pays its fee in base; a seller receives quote.
        const feeAsset = e.side === 'buy' ? inst.spec.base : inst.spec.quote;
        const order = new OrderRow(
          e.orderId, e.userId, e.instId, e.side, e.orderType, e.priceTicks, e.sizeLots, e.quoteAmount, e.clOrdId,
          e.stpMode, feeAsset, e.ts,
        );
        const user = this.user(e.userId);
        user.open.set(order.orderId, order);
        if (order.clOrdId !== '') user.byClOrdId.set(order.clOrdId, order);
        return;
      }
      case 'TradeExecuted': {
        this.advance(e.ts);
        const makerSide: Side = e.takerSide === 'buy' ? 'sell' : 'buy';
        this.fill(e.makerOrderId, e.makerUserId, makerSide, e.makerFee, 'maker', e);
        this.fill(e.takerOrderId, e.takerUserId, e.takerSide, e.takerFee, 'taker', e);
        this.trade(e);
        return;
      }
      case 'OrderPartiallyFilled': {
        this.advance(e.ts);
        const order = this.liveOrder(e.userId, e.orderId);
        order.state = 'partially_filled';
        order.filledLots = e.filledLots;
        order.updatedTs = e.ts;
        return;
      }
      case 'OrderFilled': {
        this.advance(e.ts);
        const order = this.liveOrder(e.userId, e.orderId);
        order.state = 'filled';
        order.filledLots = e.filledLots;
        order.updatedTs = e.ts;
        this.close(order);
        return;
      }
      case 'OrderCanceled': {
        this.advance(e.ts);
        const order = this.liveOrder(e.userId, e.orderId);
        order.state = 'canceled';
        order.cancelReason = e.reason;
        order.updatedTs = e.ts;
        this.close(order);
        return;
      }
      case 'OrderAmended': {
        this.advance(e.ts);
        const order = this.liveOrder(e.userId, e.orderId);
        order.priceTicks = e.priceTicks;
        order.sizeLots = e.sizeLots;
        order.updatedTs = e.ts;
        return;
      }
      case 'OrderRejected':
        this.advance(e.ts);
        return;
      case 'DepositCredited': {
        this.advance(e.ts);
        const deposits = this.user(e.userId).deposits;
        deposits.push({ depositId: e.depositId, userId: e.userId, asset: e.asset, amount: e.amount, state: 'credited', ts: e.ts });
        if (deposits.length > Retention.transfersPerUserMax) deposits.shift();
        return;
      }
      case 'WithdrawalRequested': {
        this.advance(e.ts);
        const record: WithdrawalRecord = {
          withdrawalId: e.withdrawalId, userId: e.userId, asset: e.asset, amount: e.amount, fee: e.fee,
          address: e.address, clientId: e.clientId, state: 'pending', txId: '', reason: '', ts: e.ts, updatedTs: e.ts,
        };
        const withdrawals = this.user(e.userId).withdrawals;
        withdrawals.push(record);
        this.withdrawalsById.set(record.withdrawalId, record);
        // The oldest goes even if still pending: its later events then find nothing to update.
        if (withdrawals.length > Retention.transfersPerUserMax) this.withdrawalsById.delete(withdrawals.shift()!.withdrawalId);
        return;
      }
      case 'WithdrawalCompleted': {
        this.advance(e.ts);
        const record = this.withdrawalsById.get(e.withdrawalId);
        if (record === undefined) return;
        record.state = 'completed';
        record.txId = e.txId;
        record.updatedTs = e.ts;
        return;
      }
      case 'WithdrawalFailed':
      case 'WithdrawalCanceled': {
        this.advance(e.ts);
        const record = this.withdrawalsById.get(e.withdrawalId);
        if (record === undefined) return;
        record.state = e.type === 'WithdrawalFailed' ? 'failed' : 'canceled';
        record.reason = e.reason;
        record.updatedTs = e.ts;
        return;
      }
      // Definitions and balances are read from the engine itself.
      case 'UserCreated':
      case 'UserConfigChanged':
      case 'AssetSet':
      case 'InstrumentSet':
      case 'InstrumentStateChanged':
      case 'BalanceChanged':
        return;
      default: {
        const unknown: never = e;
        throw new InvariantError(`projections: unknown event ${JSON.stringify(unknown)}`);
      }
    }
  }

  private advance(ts: number): void {
    if (ts > this.nowMs) this.nowMs = ts;
  }

  private user(userId: number): UserView {
    let user = this.users[userId];
    if (user === undefined) {
      if (!Number.isSafeInteger(userId) || userId < 1) broken(`user id ${userId} is one the engine issues`);
      user = new UserView(userId);
      while (this.users.length < userId) this.users.push(undefined);
      this.users[userId] = user;
    }
    return user;
  }

  private instrument(instId: string): InstrumentView {
    let inst = this.instruments.get(instId);
    if (inst === undefined) {
      inst = new InstrumentView(instId);
      this.instruments.set(instId, inst);
    }
    return inst;
  }

  /** An order events still refer to: open orders are never evicted, so it must be here. */
  private liveOrder(userId: number, orderId: number): OrderRow {
    const order = this.users[userId]?.open.get(orderId);
    if (order === undefined) broken(`order ${orderId} of user ${userId} is open in the projections`);
    return order;
  }

  /** One side of a trade: the order's totals and last fill, and the user's fill record. */
  private fill(orderId: number, userId: number, side: Side, fee: number, liquidity: Liquidity, e: TradeExecuted): void {
    const user = this.user(userId);
    const order = this.liveOrder(userId, orderId);
    order.filledLots += e.sizeLots;
    order.filledQuote += e.quoteAmount;
    order.fee += fee;
    // Rewritten in place: a maker filled piece by piece allocates one, not one per fill.
    const last = order.lastFill;
    if (last === null) {
      order.lastFill = { tradeId: e.tradeId, priceTicks: e.priceTicks, sizeLots: e.sizeLots, fee, liquidity, ts: e.ts };
    } else {
      last.tradeId = e.tradeId;
      last.priceTicks = e.priceTicks;
      last.sizeLots = e.sizeLots;
      last.fee = fee;
      last.liquidity = liquidity;
      last.ts = e.ts;
    }
    order.updatedTs = e.ts;
    const fills = user.fills;
    fills.push(new FillRow(
      e.tradeId * 2 + (liquidity === 'taker' ? 1 : 0), e.tradeId, orderId, order.clOrdId, userId, e.instId, side,
      e.priceTicks, e.sizeLots, e.quoteAmount, fee, order.feeAsset, liquidity, e.ts,
    ));
    if (fills.length > Retention.fillsPerUserMax) fills.shift();
    const cutoff = this.nowMs - Retention.fillAgeMsMax;
    while (fills.oldest()!.ts < cutoff) fills.shift();
  }

  /** The public trade and the minute candle it falls in. */
  private trade(e: TradeExecuted): void {
    const inst = this.instrument(e.instId);
    inst.trades.push({ tradeId: e.tradeId, instId: e.instId, priceTicks: e.priceTicks, sizeLots: e.sizeLots, takerSide: e.takerSide, ts: e.ts });
    if (inst.trades.length > Retention.tradesPerInstrumentMax) inst.trades.shift();

    const startTs = Math.floor(e.ts / minuteMs) * minuteMs;
    const last = inst.minutes.newest();
    if (last?.startTs === startTs) {
      if (e.priceTicks > last.high) last.high = e.priceTicks;
      if (e.priceTicks < last.low) last.low = e.priceTicks;
      last.close = e.priceTicks;
      last.volLots += e.sizeLots;
      last.volQuote += BigInt(e.quoteAmount);
      return;
    }
    if (last !== undefined && last.startTs > startTs) broken('trade times never go back');
    inst.minutes.push(new MinuteCandle(startTs, e.priceTicks, e.priceTicks, e.priceTicks, e.priceTicks, e.sizeLots, BigInt(e.quoteAmount)));
    if (inst.minutes.length > Retention.minuteCandlesPerInstrumentMax) inst.minutes.shift();
  }

  /** Moves a filled or canceled order to its user's history, then enforces the history's bounds. */
  private close(order: OrderRow): void {
    const user = this.user(order.userId);
    user.open.delete(order.orderId);
    const closed = user.closed;
    closed.insert(order);
    if (closed.length > Retention.closedOrdersPerUserMax) this.forget(user, closed.shift()!);
    // Creation times ascend with orderIds, so the oldest-placed orders are at the front.
    const cutoff = this.nowMs - Retention.closedOrderAgeMsMax;
    for (let oldest = closed.oldest(); oldest !== undefined && oldest.createdTs < cutoff; oldest = closed.oldest()) {
      this.forget(user, closed.shift()!);
    }
  }

  private forget(user: UserView, order: OrderRow): void {
    if (user.byClOrdId.get(order.clOrdId) === order) user.byClOrdId.delete(order.clOrdId);
  }

  /** A closed order past its age bound is not served, even before its eviction. */
  private served(order: OrderRecord | undefined, userId: number): OrderRecord | undefined {
    if (order?.userId !== userId) return undefined;
    if (isClosed(order) && order.createdTs < this.nowMs - Retention.closedOrderAgeMsMax) return undefined;
    return order;
  }

  // ------------------------------------------------------------------ queries

  order(userId: number, orderId: number): OrderRecord | undefined {
    const user = this.users[userId];
    if (user === undefined) return undefined;
    const open = user.open.get(orderId);
    if (open !== undefined) return open;
    const i = user.closed.lowerBound(orderId);
    return i < user.closed.length && user.closed.at(i).orderId === orderId ? this.served(user.closed.at(i), userId) : undefined;
  }

  orderByClOrdId(userId: number, clOrdId: string): OrderRecord | undefined {
    return this.served(this.users[userId]?.byClOrdId.get(clOrdId), userId);
  }

  openOrders(userId: number, filter: { instId?: string; orderType?: OrderRecord['orderType'] } & Page): OrderRecord[] {
    const user = this.users[userId];
    if (user === undefined || filter.limit <= 0) return [];
    // The map iterates in ascending orderId: collect the matches, return the newest `limit`.
    const matches: OrderRecord[] = [];
    for (const order of user.open.values()) {
      if (filter.after !== undefined && order.orderId >= filter.after) break;
      if (filter.before !== undefined && order.orderId <= filter.before) continue;
      if (filter.instId !== undefined && order.instId !== filter.instId) continue;
      if (filter.orderType !== undefined && order.orderType !== filter.orderType) continue;
      matches.push(order);
    }
    const out: OrderRecord[] = [];
    for (let i = matches.length - 1; i >= 0 && out.length < filter.limit; i--) out.push(matches[i]!);
    return out;
  }

  orderHistory(
    userId: number,
    filter: { instId?: string; state?: 'filled' | 'canceled'; orderType?: OrderRecord['orderType']; begin?: number; end?: number } & Page,
  ): OrderRecord[] {
    const user = this.users[userId];
    if (user === undefined) return [];
    const begin = Math.max(filter.begin ?? 0, this.nowMs - Retention.closedOrderAgeMsMax);
    return user.closed.page(filter.after, filter.before, filter.limit, (o): Verdict => {
      if (o.createdTs < begin) return 'stop';
      if (filter.end !== undefined && o.createdTs > filter.end) return 'skip';
      if (filter.instId !== undefined && o.instId !== filter.instId) return 'skip';
      if (filter.state !== undefined && o.state !== filter.state) return 'skip';
      if (filter.orderType !== undefined && o.orderType !== filter.orderType) return 'skip';
      return 'take';
    });
  }

  fills(userId: number, filter: { instId?: string; orderId?: number; begin?: number; end?: number } & Page): FillRecord[] {
    const user = this.users[userId];
    if (user === undefined) return [];
    const begin = Math.max(filter.begin ?? 0, this.nowMs - Retention.fillAgeMsMax);
    return user.fills.page(filter.after, filter.before, filter.limit, (f): Verdict => {
      if (f.ts < begin) return 'stop';
      if (filter.end !== undefined && f.ts > filter.end) return 'skip';
      if (filter.instId !== undefined && f.instId !== filter.instId) return 'skip';
      if (filter.orderId !== undefined && f.orderId !== filter.orderId) return 'skip';
      return 'take';
    });
  }

  trades(instId: string, limit: number): PublicTrade[] {
    const inst = this.instruments.get(instId);
    if (inst === undefined) return [];
    return inst.trades.page(undefined, undefined, limit, () => 'take');
  }

  candles(instId: string, barMs: number, page: Page): Candle[] {
    if (!Number.isSafeInteger(barMs) || barMs <= 0 || barMs % minuteMs !== 0) {
      throw new RangeError(`candle bar must be a positive whole number of minutes in ms, not ${barMs}`);
    }
    const out: Candle[] = [];
    const minutes = this.instruments.get(instId)?.minutes;
    if (minutes === undefined || page.limit <= 0) return out;
    // Bars starting before `after` hold exactly the minutes before the end of the last such bar.
    const from = page.after === undefined ? minutes.length
      : minutes.lowerBound((Math.floor((page.after - 1) / barMs) + 1) * barMs);
    let bar: MinuteCandle | undefined;
    for (let i = from - 1; i >= 0; i--) {
      const m = minutes.at(i);
      const startTs = Math.floor(m.startTs / barMs) * barMs;
      if (page.before !== undefined && startTs <= page.before) break;
      if (bar?.startTs === startTs) {
        // Walking back in time: this minute is older, so it gives the bar its open.
        bar.open = m.open;
        if (m.high > bar.high) bar.high = m.high;
        if (m.low < bar.low) bar.low = m.low;
        bar.volLots += m.volLots;
        bar.volQuote += m.volQuote;
        continue;
      }
      if (bar !== undefined) {
        out.push(this.candle(bar, barMs));
        if (out.length === page.limit) return out;
      }
      bar = new MinuteCandle(startTs, m.open, m.high, m.low, m.close, m.volLots, m.volQuote);
    }
    if (bar !== undefined) out.push(this.candle(bar, barMs));
    return out;
  }

  private candle(bar: MinuteCandle, barMs: number): Candle {
    return {
      startTs: bar.startTs, open: bar.open, high: bar.high, low: bar.low, close: bar.close,
      volLots: bar.volLots, volQuote: bar.volQuote, confirmed: this.nowMs >= bar.startTs + barMs,
    };
  }

  ticker(instId: string): Ticker {
    const inst = this.instruments.get(instId);
    const last = inst?.trades.newest();
    let open: number | null = null;
    let high: number | null = null;
    let low: number | null = null;
    let volLots = 0;
    let volQuote = 0n;
    let sodUtc0: number | null = null;
    let sodUtc8: number | null = null;
    if (inst !== undefined) {
      const minutes = inst.minutes;
      const windowStartTs = Math.floor(this.nowMs / minuteMs) * minuteMs - (tickerWindowMinutes - 1) * minuteMs;
      for (let i = minutes.lowerBound(windowStartTs); i < minutes.length; i++) {
        const m = minutes.at(i);
        open ??= m.open;
        if (high === null || m.high > high) high = m.high;
        if (low === null || m.low < low) low = m.low;
        volLots += m.volLots;
        volQuote += m.volQuote;
      }
      const utc0DayStartTs = Math.floor(this.nowMs / dayMs) * dayMs;
      const utc8DayStartTs = Math.floor((this.nowMs + utc8OffsetMs) / dayMs) * dayMs - utc8OffsetMs;
      sodUtc0 = startOfDayPrice(minutes, utc0DayStartTs);
      sodUtc8 = startOfDayPrice(minutes, utc8DayStartTs);
    }
    return {
      instId, lastTicks: last?.priceTicks ?? null, lastLots: last?.sizeLots ?? null,
      open24hTicks: open, high24hTicks: high, low24hTicks: low, vol24hLots: volLots, volQuote24h: volQuote,
      sodUtc0Ticks: sodUtc0, sodUtc8Ticks: sodUtc8, ts: this.nowMs,
    };
  }

  deposits(userId: number, filter: { asset?: string; depositId?: string } & Page): DepositRecord[] {
    const user = this.users[userId];
    if (user === undefined) return [];
    return user.deposits.page(filter.after, filter.before, filter.limit, (d): Verdict =>
      (filter.asset !== undefined && d.asset !== filter.asset) || (filter.depositId !== undefined && d.depositId !== filter.depositId)
        ? 'skip' : 'take');
  }

  withdrawals(userId: number, filter: { asset?: string; withdrawalId?: number; clientId?: string } & Page): WithdrawalRecord[] {
    const user = this.users[userId];
    if (user === undefined) return [];
    return user.withdrawals.page(filter.after, filter.before, filter.limit, (w): Verdict =>
      (filter.asset !== undefined && w.asset !== filter.asset)
      || (filter.withdrawalId !== undefined && w.withdrawalId !== filter.withdrawalId)
      || (filter.clientId !== undefined && w.clientId !== filter.clientId)
        ? 'skip' : 'take');
  }

  // ------------------------------------------------------------------ snapshots

  /** A fresh, JSON-serialisable copy of the whole state; nothing in it is shared with this object. */
  toJSON(): ProjectionsJSON {
    const users: UserJSON[] = [];
    for (const u of this.users) {
      if (u === undefined) continue;
      const clOrdIds: (readonly [string, number])[] = [];
      for (const [clOrdId, order] of u.byClOrdId) clOrdIds.push([clOrdId, order.orderId]);
      users.push({
        userId: u.userId,
        open: Array.from(u.open.values(), plainOrder),
        closed: u.closed.toArray().map(plainOrder),
        clOrdIds,
        fills: u.fills.toArray().map(plainFill),
        deposits: u.deposits.toArray().map((d) => ({ ...d })),
        withdrawals: u.withdrawals.toArray().map((w) => ({ ...w })),
      });
    }
    const instruments: InstrumentJSON[] = [];
    for (const inst of this.instruments.values()) {
      instruments.push({
        instId: inst.instId,
        trades: inst.trades.toArray().map((t) => ({ ...t })),
        minutes: inst.minutes.toArray().map((m) => [m.startTs, m.open, m.high, m.low, m.close, m.volLots, m.volQuote.toString()] as const),
      });
    }
    return { version: PROJECTIONS_JSON_VERSION, nowMs: this.nowMs, users, instruments };
  }

  /** Rebuilds what toJSON() produced (parsed or not); the records are copied, never shared. */
  static fromJSON(engine: Engine, json: unknown): MemoryProjections {
    const state = json as ProjectionsJSON;
    if (typeof json !== 'object' || json === null || !PROJECTIONS_JSON_VERSION_READABLE.includes(state.version)) {
      throw new Error(`projections snapshot: expected version ${PROJECTIONS_JSON_VERSION_READABLE.join(' or ')}`);
    }
    const p = new MemoryProjections(engine);
    p.nowMs = state.nowMs;
    for (const u of state.users) {
      const user = p.user(u.userId);
      const byId = new Map<number, OrderRow>();
      for (const o of u.open) {
        const order = OrderRow.from(o);
        user.open.set(order.orderId, order);
        byId.set(order.orderId, order);
      }
      for (const o of u.closed) {
        const order = OrderRow.from(o);
        user.closed.push(order);
        byId.set(order.orderId, order);
      }
      for (const [clOrdId, orderId] of u.clOrdIds) {
        const order = byId.get(orderId);
        if (order === undefined) broken(`client order id ${clOrdId} names a retained order`);
        user.byClOrdId.set(clOrdId, order);
      }
      for (const f of u.fills) user.fills.push(FillRow.from(f));
      for (const d of u.deposits) user.deposits.push({ ...d });
      for (const w of u.withdrawals) {
        const record = { ...w };
        user.withdrawals.push(record);
        p.withdrawalsById.set(record.withdrawalId, record);
      }
    }
    for (const i of state.instruments) {
      const inst = p.instrument(i.instId);
      for (const t of i.trades) inst.trades.push({ ...t });
      for (const [startTs, open, high, low, close, volLots, volQuote] of i.minutes) {
        inst.minutes.push(new MinuteCandle(startTs, open, high, low, close, volLots, quoteVolume(volQuote)));
      }
    }
    return p;
  }
}

/**
 * A saved minute's quote volume: a decimal string (version 2) or a JSON number (version 1). A
 * version 1 figure past 2^53 was already rounded; it is kept as it was served, not refused, and
 * ages out with its minute.
 */
function quoteVolume(saved: string | number): bigint {
  if (typeof saved === 'number' ? Number.isInteger(saved) && saved >= 0 : /^(0|[1-9][0-9]*)$/.test(saved)) return BigInt(saved);
  return broken(`a saved quote volume is a non-negative integer, not ${JSON.stringify(saved)}`);
}

/**
 * The price at the start of a day: the open of the day's first minute with trades, or, before
 * any trade that day, the last price before it; null when no retained candle says.
 */
function startOfDayPrice(minutes: Deque<MinuteCandle>, dayStartTs: number): number | null {
  const i = minutes.lowerBound(dayStartTs);
  if (i < minutes.length) return minutes.at(i).open;
  return i > 0 ? minutes.at(i - 1).close : null;
}
