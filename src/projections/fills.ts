// The fills view: per user, one record for each side of each trade the user's orders took part
// in, in billId order, bounded by count and by age (engine time). A quiet user's old fills are
// never served even before they are evicted: the query applies the age bound too.

import type { Side } from '../core/index.js';
import { Deque, type Verdict } from './deque.js';
import type { Liquidity, OrderRow, TradeExecuted } from './orders.js';
import { userSlot, usersWithSlots } from './shared.js';
import { Retention, type FillRecord, type Page } from './types.js';

/**
 * A fill's record. Made here only, as an object literal, for the reasons orders.ts gives for
 * order records: one shape, and an allocation site V8 can allocate long-lived records from in
 * the old generation directly.
 */
function fillRow(
  billId: number, tradeId: number, orderId: number, clOrdId: string, userId: number, instId: string, side: Side, priceTicks: number,
  sizeLots: number, quoteAmount: number, fee: number, feeAsset: string, liquidity: Liquidity, ts: number,
): FillRecord {
  return { billId, tradeId, orderId, clOrdId, userId, instId, side, priceTicks, sizeLots, quoteAmount, fee, feeAsset, liquidity, ts };
}

/** A plain copy for saving: the same fields, nothing shared, no prototype. */
function plainFill(f: FillRecord): FillRecord {
  return { ...f };
}

const newUserFills = (): Deque<FillRecord> => new Deque<FillRecord>((f) => f.billId);

export class FillsView {
  private readonly users: (Deque<FillRecord> | undefined)[] = [];

  /** The fill record of one side of a trade, for `order` (already updated by the orders view). */
  add(order: OrderRow, side: Side, fee: number, liquidity: Liquidity, e: TradeExecuted, nowMs: number): void {
    const fills = this.user(order.userId);
    fills.push(fillRow(
      e.tradeId * 2 + (liquidity === 'taker' ? 1 : 0), e.tradeId, order.orderId, order.clOrdId, order.userId, e.instId, side,
      e.priceTicks, e.sizeLots, e.quoteAmount, fee, order.feeAsset, liquidity, e.ts,
    ));
    if (fills.length > Retention.fillsPerUserMax) fills.shift();
    const cutoff = nowMs - Retention.fillAgeMsMax;
    while (fills.oldest()!.ts < cutoff) fills.shift();
  }

  private user(userId: number): Deque<FillRecord> {
    return userSlot(this.users, userId, newUserFills);
  }

  fills(userId: number, filter: { instId?: string; orderId?: number; begin?: number; end?: number } & Page, nowMs: number): FillRecord[] {
    const fills = this.users[userId];
    if (fills === undefined) return [];
    const begin = Math.max(filter.begin ?? 0, nowMs - Retention.fillAgeMsMax);
    return fills.page(filter.after, filter.before, filter.limit, (f): Verdict => {
      if (f.ts < begin) return 'stop';
      if (filter.end !== undefined && f.ts > filter.end) return 'skip';
      if (filter.instId !== undefined && f.instId !== filter.instId) return 'skip';
      if (filter.orderId !== undefined && f.orderId !== filter.orderId) return 'skip';
      return 'take';
    });
  }

  userIds(): number[] {
    return usersWithSlots(this.users);
  }

  save(userId: number): FillRecord[] {
    return this.users[userId]?.toArray().map(plainFill) ?? [];
  }

  load(userId: number, saved: readonly FillRecord[]): void {
    const fills = this.user(userId);
    for (const f of saved) {
      fills.push(fillRow(
        f.billId, f.tradeId, f.orderId, f.clOrdId, f.userId, f.instId, f.side, f.priceTicks, f.sizeLots, f.quoteAmount, f.fee, f.feeAsset, f.liquidity, f.ts,
      ));
    }
  }
}
