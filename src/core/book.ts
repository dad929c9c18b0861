// One side of an order book: price levels kept in a sorted array with the best level at the
// end (so taking the best level is a pop), each level a FIFO of orders linked through the
// orders themselves, so adding, cancelling and filling an order are O(1) once its level is
// found, and finding a level is a binary search. Levels near the spread open and empty all the
// time, so an emptied level's object is kept for the next new price instead of being garbage.

import { invariant } from './codes.js';
import type { Order } from './model.js';

/** Emptied level objects a side keeps for reuse, at most. */
const spareLevelsMax = 64;

export class Level {
  head: Order | null = null;
  tail: Order | null = null;
  totalLots = 0;
  count = 0;
  // Writable only so that the side can reuse an emptied level's object (BookSide.newLevel).
  constructor(public priceTicks: number) {}
}

export class BookSide {
  /** Sorted so that the best price is last: bids ascending, asks descending. */
  readonly levels: Level[] = [];
  orderCount = 0;
  /** Emptied levels, kept for the next new price; nothing outside the side holds a level between commands. */
  private readonly spareLevels: Level[] = [];

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
        const level = this.newLevel(priceTicks);
        levels.push(level);
        return level;
      }
    }
    const at = this.search(priceTicks);
    const found = levels[at];
    if (found?.priceTicks === priceTicks) return found;
    const level = this.newLevel(priceTicks);
    // Shift the worse-priced tail up by one by hand: splice would allocate the array it returns.
    for (let i = n; i > at; i--) levels[i] = levels[i - 1]!;
    levels[at] = level;
    return level;
  }

  private newLevel(priceTicks: number): Level {
    const level = this.spareLevels.pop();
    if (level === undefined) return new Level(priceTicks);
    // Every field as the constructor sets it.
    level.head = level.tail = null;
    level.totalLots = 0;
    level.count = 0;
    level.priceTicks = priceTicks;
    return level;
  }

  private dropLevel(level: Level): void {
    const levels = this.levels;
    const n = levels.length;
    if (levels[n - 1] === level) {
      levels.pop();
    } else {
      const at = this.search(level.priceTicks);
      invariant(levels[at] === level, 'empty level is indexed');
      for (let i = at; i < n - 1; i++) levels[i] = levels[i + 1]!;
      levels.pop();
    }
    if (this.spareLevels.length < spareLevelsMax) this.spareLevels.push(level);
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
