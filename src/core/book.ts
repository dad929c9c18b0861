// One side of an order book: price levels kept in a sorted array with the best level at the
// end (so taking the best level is a pop), each level a FIFO of orders linked through the
// orders themselves, so adding, cancelling and filling an order are O(1) once its level is
// found, and finding a level is a binary search.

import { invariant } from './codes.js';
import type { Order } from './model.js';

export class Level {
  head: Order | null = null;
  tail: Order | null = null;
  totalLots = 0;
  count = 0;
  constructor(readonly priceTicks: number) {}
}

export class BookSide {
  /** Sorted so that the best price is last: bids ascending, asks descending. */
  readonly levels: Level[] = [];
  orderCount = 0;

  constructor(readonly isBid: boolean) {}

  best(): Level | undefined {
    return this.levels[this.levels.length - 1];
  }

  /** True when `a` is a better price than `b` for this side. */
  better(a: number, b: number): boolean {
    return this.isBid ? a > b : a < b;
  }

  /** Appends the order at the back of its price level's queue. */
  add(order: Order): void {
    const level = this.levelFor(order.priceTicks);
    order.level = level;
    order.prev = level.tail;
    order.next = null;
    if (level.tail === null) level.head = order;
    else level.tail.next = order;
    level.tail = order;
    level.totalLots += order.remainingLots();
    level.count += 1;
    this.orderCount += 1;
  }

  /** Unlinks the order from its level, dropping the level when it empties. */
  remove(order: Order): void {
    const level = order.level;
    invariant(level !== null, 'removed order is on the book');
    if (order.prev === null) level.head = order.next;
    else order.prev.next = order.next;
    if (order.next === null) level.tail = order.prev;
    else order.next.prev = order.prev;
    level.totalLots -= order.remainingLots();
    level.count -= 1;
    this.orderCount -= 1;
    order.prev = order.next = order.level = null;
    if (level.count === 0) this.dropLevel(level);
  }

  private levelFor(priceTicks: number): Level {
    const levels = this.levels;
    const n = levels.length;
    // Most arrivals land at or near the top of the book: check the end first.
    const last = levels[n - 1];
    if (last !== undefined) {
      if (last.priceTicks === priceTicks) return last;
      if (this.better(priceTicks, last.priceTicks)) {
        const level = new Level(priceTicks);
        levels.push(level);
        return level;
      }
    }
    const at = this.search(priceTicks);
    const found = levels[at];
    if (found?.priceTicks === priceTicks) return found;
    const level = new Level(priceTicks);
    levels.splice(at, 0, level);
    return level;
  }

  private dropLevel(level: Level): void {
    const levels = this.levels;
    if (levels[levels.length - 1] === level) {
      levels.pop();
      return;
    }
    const at = this.search(level.priceTicks);
    invariant(levels[at] === level, 'empty level is indexed');
    levels.splice(at, 1);
  }

  /** Index of the first level whose price is not worse-ordered before `priceTicks`. */
  private search(priceTicks: number): number {
    const levels = this.levels;
    let lo = 0;
    let hi = levels.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = levels[mid]!.priceTicks;
      // Bids ascend, asks descend: move right while the level sorts before the price.
      if (this.isBid ? p < priceTicks : p > priceTicks) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
