// The orders view: per user, open orders (in orderId order, found by binary search), closed
// orders (a deque in orderId order, bounded by count and by age) and the newest order for each
// client order id. It follows every order event and the order side of each trade; an order
// closing out of orderId order is placed by binary search, so nothing is copied. Queries return
// the view's own records, which later events update: read, never mutate.

import type { Event, OrderRecord, OrderType, Side, StpMode } from '../core/index.js';
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

/** An order's record as the view holds it: the fields the view updates are writable. */
export type OrderRow = OrderRecord;

/**
 * A new order's record, open and unfilled. Records are object literals made here and only here,
 * so they all have the literal's one shape (apply() stays monomorphic), and so V8 tracks their
 * allocation site: records that outlive a scavenge (nearly all do, an order stays in its
 * user's history for days) are soon allocated in the old generation directly, instead of being
 * copied there by the young-generation collector. V8 (Node 20) tracks no allocation site for
 * `new` of a class, so class instances were always copied.
 */
function orderRow(
  orderId: number, userId: number, instId: string, side: Side, orderType: OrderType, priceTicks: number, sizeLots: number,
  quoteAmount: number, clOrdId: string, stpMode: StpMode, feeAsset: string, createdTs: number,
): OrderRow {
  return {
    orderId, userId, instId, side, orderType, priceTicks, sizeLots, quoteAmount, clOrdId, stpMode, feeAsset, createdTs,
    state: 'live', filledLots: 0, filledQuote: 0, fee: 0, cancelReason: '', lastFill: null, updatedTs: createdTs,
  };
}

/** An order's last fill: made here only, for the reasons orderRow() gives. */
function lastFillOf(tradeId: number, priceTicks: number, sizeLots: number, fee: number, liquidity: Liquidity, ts: number): LastFill {
  return { tradeId, priceTicks, sizeLots, fee, liquidity, ts };
}

/** A saved order's record: a copy, nothing shared with `r`. */
function loadedOrderRow(r: OrderRecord): OrderRow {
  const row = orderRow(
    r.orderId, r.userId, r.instId, r.side, r.orderType, r.priceTicks, r.sizeLots, r.quoteAmount, r.clOrdId, r.stpMode, r.feeAsset, r.createdTs,
  );
  row.state = r.state;
  row.filledLots = r.filledLots;
  row.filledQuote = r.filledQuote;
  row.fee = r.fee;
  row.cancelReason = r.cancelReason;
  const f = r.lastFill;
  row.lastFill = f === null ? null : lastFillOf(f.tradeId, f.priceTicks, f.sizeLots, f.fee, f.liquidity, f.ts);
  row.updatedTs = r.updatedTs;
  return row;
}

/** What the saved projections hold of one user's orders. */
export interface UserOrdersJSON {
  /** Oldest first, as held. */
  readonly open: readonly OrderRecord[];
  readonly closed: readonly OrderRecord[];
  /** The newest order for each client order id: [clOrdId, orderId]. */
  readonly clOrdIds: readonly (readonly [string, number])[];
}

/** Once this many closed orders' slots are left among the open ones, and they outnumber them, they are swept out. */
const deadSlotsSweptMin = 16;

/**
 * One user's open orders in orderId order. Orders are accepted in orderId order, so a new one is
 * appended, and one is found by binary search. A closed order leaves its slot behind (its state
 * says it is closed) until the dead slots outnumber the live ones, when they are swept out in
 * place; the newest slots are dropped at once. So opening and closing an order allocates
 * nothing, where a Map emptied by its last delete allocates a new table: once per closed order
 * for a user with one order open at a time.
 */
class OpenOrders {
  private readonly rows: (OrderRow | undefined)[] = [];
  /** Slots in use: rows[0, slots), every one an order, open or closed. The array keeps its storage. */
  private slots = 0;
  /** Open orders: the slots whose order is not closed. */
  private live = 0;

  /** A newly accepted order: its orderId is above every other this user has had. */
  add(order: OrderRow): void {
    if (this.slots > 0 && this.rows[this.slots - 1]!.orderId >= order.orderId) broken(`order ${order.orderId} is accepted in orderId order`);
    if (this.slots < this.rows.length) this.rows[this.slots] = order;
    else this.rows.push(order);
    this.slots += 1;
    this.live += 1;
  }

  /** The open order with this id, if any. */
  get(orderId: number): OrderRow | undefined {
    const i = this.lowerBound(orderId);
    const order = i < this.slots ? this.rows[i]! : undefined;
    return order?.orderId === orderId && !isClosed(order) ? order : undefined;
  }

  /** `order`, an order of this list, has just closed: its slot is dead. */
  closed(order: OrderRow): void {
    this.live -= 1;
    if (this.rows[this.slots - 1] === order) {
      // The newest order closed (a taker, often): drop it and any dead slots below it.
      while (this.slots > 0 && isClosed(this.rows[this.slots - 1]!)) this.rows[--this.slots] = undefined;
      return;
    }
    const dead = this.slots - this.live;
    if (dead >= deadSlotsSweptMin && dead > this.live) this.sweep();
  }

  /**
   * Newest-first page of open orders: the newest `limit` with after > orderId > before (either
   * bound optional) that `wanted` accepts.
   */
  page(after: number | undefined, before: number | undefined, limit: number, wanted: (order: OrderRow) => boolean): OrderRow[] {
    const out: OrderRow[] = [];
    for (let i = (after === undefined ? this.slots : this.lowerBound(after)) - 1; i >= 0 && out.length < limit; i--) {
      const order = this.rows[i]!;
      if (before !== undefined && order.orderId <= before) break;
      if (!isClosed(order) && wanted(order)) out.push(order);
    }
    return out;
  }

  /** The open orders, oldest first (a fresh array). */
  toArray(): OrderRow[] {
    const out: OrderRow[] = [];
    for (let i = 0; i < this.slots; i++) {
      const order = this.rows[i]!;
      if (!isClosed(order)) out.push(order);
    }
    return out;
  }

  /** The index of the first slot whose orderId is >= orderId; slots if none. */
  private lowerBound(orderId: number): number {
    let lo = 0;
    let hi = this.slots;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.rows[mid]!.orderId < orderId) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Moves the open orders to the front, in order, and clears the slots behind them. */
  private sweep(): void {
    let to = 0;
    for (let i = 0; i < this.slots; i++) {
      const order = this.rows[i]!;
      if (!isClosed(order)) this.rows[to++] = order;
    }
    for (let i = to; i < this.slots; i++) this.rows[i] = undefined;
    this.slots = to;
  }
}

class UserOrders {
  /** Open orders, in orderId order (acceptance order is orderId order). */
  readonly open = new OpenOrders();
  /** Closed orders in orderId order (so also in creation-time order). */
  readonly closed = new Deque<OrderRow>((o) => o.orderId);
  /** The newest retained order with each client order id, open or closed. */
  readonly byClOrdId = new Map<string, OrderRow>();
}

const newUserOrders = (): UserOrders => new UserOrders();

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
    const order = orderRow(
      e.orderId, e.userId, e.instId, e.side, e.orderType, e.priceTicks, e.sizeLots, e.quoteAmount, e.clOrdId, e.stpMode, feeAsset, e.ts,
    );
    const user = this.user(e.userId);
    user.open.add(order);
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
      order.lastFill = lastFillOf(e.tradeId, e.priceTicks, e.sizeLots, fee, liquidity, e.ts);
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
    return userSlot(this.users, userId, newUserOrders);
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
    user.open.closed(order);
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
    return user.open.page(filter.after, filter.before, filter.limit, (o) =>
      (filter.instId === undefined || o.instId === filter.instId) && (filter.orderType === undefined || o.orderType === filter.orderType));
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
    return { open: user.open.toArray().map(plainOrder), closed: user.closed.toArray().map(plainOrder), clOrdIds };
  }

  /** Loads one user's saved orders (the records are copied, never shared); the user is kept even if it has none. */
  load(userId: number, saved: UserOrdersJSON): void {
    const user = this.user(userId);
    const byId = new Map<number, OrderRow>();
    for (const o of saved.open) {
      const order = loadedOrderRow(o);
      user.open.add(order);
      byId.set(order.orderId, order);
    }
    for (const o of saved.closed) {
      const order = loadedOrderRow(o);
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
