// The orders view: per user, open orders (a map in orderId order), closed orders (a deque in
// orderId order, bounded by count and by age) and the newest order for each client order id.
// It follows every order event and the order side of each trade; an order closing out of
// orderId order is placed by binary search, so nothing is copied. Queries return the view's
// own records, which later events update: read, never mutate.

import type { CancelReason, Event, OrderRecord, OrderState, OrderType, Side, StpMode } from '../core/index.js';
import { Deque, type Verdict } from './deque.js';
import { broken, userSlot, usersWithSlots } from './shared.js';
import { Retention, type Page } from './types.js';

export type LastFill = NonNullable<OrderRecord['lastFill']>;
export type Liquidity = LastFill['liquidity'];
export type TradeExecuted = Extract<Event, { type: 'TradeExecuted' }>;
type OrderAccepted = Extract<Event, { type: 'OrderAccepted' }>;
type OrderProgress = Extract<Event, { type: 'OrderPartiallyFilled' | 'OrderFilled' }>;
type OrderCanceled = Extract<Event, { type: 'OrderCanceled' }>;
type OrderAmended = Extract<Event, { type: 'OrderAmended' }>;

/** An order's record: a class, so that every record has one shape and apply() stays monomorphic. */
export class OrderRow implements OrderRecord {
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

/** What the saved projections hold of one user's orders. */
export interface UserOrdersJSON {
  /** Oldest first, as held. */
  readonly open: readonly OrderRecord[];
  readonly closed: readonly OrderRecord[];
  /** The newest order for each client order id: [clOrdId, orderId]. */
  readonly clOrdIds: readonly (readonly [string, number])[];
}

class UserOrders {
  /** Open orders by orderId; insertion order is acceptance order, which is orderId order. */
  readonly open = new Map<number, OrderRow>();
  /** Closed orders in orderId order (so also in creation-time order). */
  readonly closed = new Deque<OrderRow>((o) => o.orderId);
  /** The newest retained order with each client order id, open or closed. */
  readonly byClOrdId = new Map<string, OrderRow>();
}

function isClosed(order: OrderRecord): boolean {
  return order.state === 'filled' || order.state === 'canceled';
}

/** Plain copies for saving: the same fields, nothing shared, no prototype. */
function plainOrder(o: OrderRecord): OrderRecord {
  return { ...o, lastFill: o.lastFill === null ? null : { ...o.lastFill } };
}

export class OrdersView {
  private readonly users: (UserOrders | undefined)[] = [];

  // ------------------------------------------------------------------ applying events

  /** A new open order; a buyer's fee is in the base it receives, a seller's in the quote (feeAsset). */
  accept(e: OrderAccepted, feeAsset: string): void {
    const order = new OrderRow(
      e.orderId, e.userId, e.instId, e.side, e.orderType, e.priceTicks, e.sizeLots, e.quoteAmount, e.clOrdId,
      e.stpMode, feeAsset, e.ts,
    );
    const user = this.user(e.userId);
    user.open.set(order.orderId, order);
    if (order.clOrdId !== '') user.byClOrdId.set(order.clOrdId, order);
  }

  /** One side of a trade: the order's totals and last fill. Returns the order, for the fill record. */
  fill(orderId: number, userId: number, fee: number, liquidity: Liquidity, e: TradeExecuted): OrderRow {
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
    return order;
  }

  progressed(e: OrderProgress, nowMs: number): void {
    const order = this.liveOrder(e.userId, e.orderId);
    order.state = e.type === 'OrderFilled' ? 'filled' : 'partially_filled';
    order.filledLots = e.filledLots;
    order.updatedTs = e.ts;
    if (e.type === 'OrderFilled') this.close(order, nowMs);
  }

  canceled(e: OrderCanceled, nowMs: number): void {
    const order = this.liveOrder(e.userId, e.orderId);
    order.state = 'canceled';
    order.cancelReason = e.reason;
    order.updatedTs = e.ts;
    this.close(order, nowMs);
  }

  amended(e: OrderAmended): void {
    const order = this.liveOrder(e.userId, e.orderId);
    order.priceTicks = e.priceTicks;
    order.sizeLots = e.sizeLots;
    order.updatedTs = e.ts;
  }

  private user(userId: number): UserOrders {
    return userSlot(this.users, userId, () => new UserOrders());
  }

  /** An order events still refer to: open orders are never evicted, so it must be here. */
  private liveOrder(userId: number, orderId: number): OrderRow {
    const order = this.users[userId]?.open.get(orderId);
    if (order === undefined) broken(`order ${orderId} of user ${userId} is open in the projections`);
    return order;
  }

  /** Moves a filled or canceled order to its user's history, then enforces the history's bounds. */
  private close(order: OrderRow, nowMs: number): void {
    const user = this.user(order.userId);
    user.open.delete(order.orderId);
    const closed = user.closed;
    closed.insert(order);
    if (closed.length > Retention.closedOrdersPerUserMax) forget(user, closed.shift()!);
    // Creation times ascend with orderIds, so the oldest-placed orders are at the front.
    const cutoff = nowMs - Retention.closedOrderAgeMsMax;
    for (let oldest = closed.oldest(); oldest !== undefined && oldest.createdTs < cutoff; oldest = closed.oldest()) {
      forget(user, closed.shift()!);
    }
  }

  // ------------------------------------------------------------------ queries

  order(userId: number, orderId: number, nowMs: number): OrderRecord | undefined {
    const user = this.users[userId];
    if (user === undefined) return undefined;
    const open = user.open.get(orderId);
    if (open !== undefined) return open;
    const i = user.closed.lowerBound(orderId);
    return i < user.closed.length && user.closed.at(i).orderId === orderId ? served(user.closed.at(i), userId, nowMs) : undefined;
  }

  orderByClOrdId(userId: number, clOrdId: string, nowMs: number): OrderRecord | undefined {
    return served(this.users[userId]?.byClOrdId.get(clOrdId), userId, nowMs);
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
    nowMs: number,
  ): OrderRecord[] {
    const user = this.users[userId];
    if (user === undefined) return [];
    const begin = Math.max(filter.begin ?? 0, nowMs - Retention.closedOrderAgeMsMax);
    return user.closed.page(filter.after, filter.before, filter.limit, (o): Verdict => {
      if (o.createdTs < begin) return 'stop';
      if (filter.end !== undefined && o.createdTs > filter.end) return 'skip';
      if (filter.instId !== undefined && o.instId !== filter.instId) return 'skip';
      if (filter.state !== undefined && o.state !== filter.state) return 'skip';
      if (filter.orderType !== undefined && o.orderType !== filter.orderType) return 'skip';
      return 'take';
    });
  }

  // ------------------------------------------------------------------ saving

  userIds(): number[] {
    return usersWithSlots(this.users);
  }

  save(userId: number): UserOrdersJSON {
    const user = this.users[userId];
    if (user === undefined) return { open: [], closed: [], clOrdIds: [] };
    const clOrdIds: (readonly [string, number])[] = [];
    for (const [clOrdId, order] of user.byClOrdId) clOrdIds.push([clOrdId, order.orderId]);
    return { open: Array.from(user.open.values(), plainOrder), closed: user.closed.toArray().map(plainOrder), clOrdIds };
  }

  /** Loads one user's saved orders (the records are copied, never shared); the user is kept even if it has none. */
  load(userId: number, saved: UserOrdersJSON): void {
    const user = this.user(userId);
    const byId = new Map<number, OrderRow>();
    for (const o of saved.open) {
      const order = OrderRow.from(o);
      user.open.set(order.orderId, order);
      byId.set(order.orderId, order);
    }
    for (const o of saved.closed) {
      const order = OrderRow.from(o);
      user.closed.push(order);
      byId.set(order.orderId, order);
    }
    for (const [clOrdId, orderId] of saved.clOrdIds) {
      const order = byId.get(orderId);
      if (order === undefined) broken(`client order id ${clOrdId} names a retained order`);
      user.byClOrdId.set(clOrdId, order);
    }
  }
}

function forget(user: UserOrders, order: OrderRow): void {
  if (user.byClOrdId.get(order.clOrdId) === order) user.byClOrdId.delete(order.clOrdId);
}

/** A closed order past its age bound is not served, even before its eviction. */
function served(order: OrderRecord | undefined, userId: number, nowMs: number): OrderRecord | undefined {
  if (order?.userId !== userId) return undefined;
  if (isClosed(order) && order.createdTs < nowMs - Retention.closedOrderAgeMsMax) return undefined;
  return order;
}
