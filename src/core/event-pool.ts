// Recycled event objects for the matching hot path. A W1 command emits about five events; made
// fresh, they are most of what the engine allocates, and the garbage collector's work with them.
// The engine rewrites an object from its pool only after its caller called
// Engine.releaseEvents(), which promises that nothing still reads the events handed out before;
// a caller that keeps events (tests, tools) never calls it and always gets objects of its own.

/** A mutable view of an event type: only the engine's pools write into events. */
export type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** Event objects kept for reuse, per kind, at most: enough for a large log record's events. */
export const eventsPooledPerKindMax = 16_384;

export class EventPool<T extends object> {
  private readonly items: T[] = [];
  private used = 0;

  constructor(private readonly blank: () => T) {}

  /** An object to fill in: a released one, or a fresh one (kept for reuse while the pool has room). */
  take(): T {
    const items = this.items;
    if (this.used < items.length) return items[this.used++]!;
    const fresh = this.blank();
    if (items.length < eventsPooledPerKindMax) {
      items.push(fresh);
      this.used += 1;
    }
    return fresh;
  }

  /** Every object taken so far may be rewritten. */
  release(): void {
    this.used = 0;
  }
}
