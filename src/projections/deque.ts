// The one collection the projections are built from: an array-backed double-ended queue kept in
// ascending key order (ids or timestamps), oldest at the front. Appending and evicting from the
// front are O(1) amortised (the dead prefix is dropped once it is half the array), and queries
// find their range by binary search, so a newest-first page costs O(log n + page).

/** Keys are safe integers: order ids, bill ids, timestamps in ms. */
export type KeyOf<T> = (item: T) => number;

/** What a page query does with each item it walks, newest first: take it, skip it, or stop there. */
export type Verdict = 'take' | 'skip' | 'stop';

/** Once this many evicted slots sit at the front, and they are half the array, they are dropped. */
const deadPrefixMin = 1_024;

export class Deque<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  constructor(private readonly keyOf: KeyOf<T>) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** The item at `index` counted from the oldest (0). */
  at(index: number): T {
    return this.items[this.head + index]!;
  }

  oldest(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.head];
  }

  newest(): T | undefined {
    return this.length === 0 ? undefined : this.items[this.items.length - 1];
  }

  /** Appends an item whose key is not below the newest key (the caller's ordering promise). */
  push(item: T): void {
    this.items.push(item);
  }

  /**
   * Inserts in key order, after any items with the same key. Items nearly always arrive at the
   * end (orders close soon after they open), which is a plain append; otherwise a binary search
   * finds the place and only the newer items move.
   */
  insert(item: T): void {
    const key = this.keyOf(item);
    const newest = this.newest();
    if (newest === undefined || this.keyOf(newest) <= key) {
      this.items.push(item);
      return;
    }
    this.items.splice(this.head + this.upperBound(key), 0, item);
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head += 1;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head >= deadPrefixMin && this.head * 2 >= this.items.length) {
      // Moved down in place: splice() would also make an array of the dropped slots.
      this.items.copyWithin(0, this.head);
      this.items.length -= this.head;
      this.head = 0;
    }
    return item;
  }

  /** The index (from the oldest) of the first item whose key is >= key; length if none. */
  lowerBound(key: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keyOf(this.at(mid)) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The index of the first item whose key is > key; length if none. */
  upperBound(key: number): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keyOf(this.at(mid)) <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Newest-first page: the newest `limit` items with after > key > before (either bound
   * optional) that `judge` takes; the walk ends early where `judge` says stop.
   */
  page(after: number | undefined, before: number | undefined, limit: number, judge: (item: T) => Verdict): T[] {
    const out: T[] = [];
    if (limit <= 0) return out;
    const from = after === undefined ? this.length : this.lowerBound(after);
    const to = before === undefined ? 0 : this.upperBound(before);
    for (let i = from - 1; i >= to && out.length < limit; i--) {
      const item = this.at(i);
      const verdict = judge(item);
      if (verdict === 'stop') break;
      if (verdict === 'take') out.push(item);
    }
    return out;
  }

  /** The live items, oldest first (a fresh array). */
  toArray(): T[] {
    return this.items.slice(this.head) as T[];
  }
}
