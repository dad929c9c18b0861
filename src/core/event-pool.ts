// Recycled event objects for the matching hot path, and a reusable buffer to collect them in. A
// W1 command emits about five events; made fresh, they are most of what the engine allocates,
// and the garbage collector's work with them. The engine rewrites an object from its pool only
// after its caller called Engine.releaseEvents(), which promises that nothing still reads the
// events handed out before; a caller that keeps events (tests, tools) never calls it and always
// gets objects of its own.

import type { Event } from './types.js';

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

/** Where Engine.apply() appends a command's events: a plain array, or an EventBuffer. */
export interface EventSink {
  push(event: Event): unknown;
}

/**
 * A list of events that keeps its storage when emptied. An array emptied with `length = 0`
 * gives its storage back, so the next record's thousands of events grow a new one step by step:
 * over W1 that regrowth was more than half of all the bytes the engine's loop allocated. Slots
 * past `length` keep their last events until overwritten (pooled objects, or at most one
 * record's worth of others).
 */
export class EventBuffer implements EventSink {
  private readonly items: Event[] = [];
  /** Events in the buffer: items[0, length). */
  length = 0;

  push(event: Event): number {
    this.items[this.length] = event;
    this.length += 1;
    return this.length;
  }

  /** The i-th event, 0 <= i < length. */
  at(i: number): Event {
    if (i < 0 || i >= this.length) throw new RangeError(`event ${i} of ${this.length}`);
    return this.items[i]!;
  }

  /** Empties the buffer, keeping its storage. */
  clear(): void {
    this.length = 0;
  }

  /** The events as a new array (for consumers that take one). */
  toArray(): Event[] {
    return this.items.slice(0, this.length);
  }
}
