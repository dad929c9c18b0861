// The stream hub: how applied records leave the replica for WebSocket subscribers without the
// apply loop ever waiting on a socket or on formatting. The apply loop calls onApplied, which
// only marks the instruments the record's events touched and, if a consumer wants events, appends
// copies of them to a bounded buffer; a drain scheduled with setImmediate then hands everything
// gathered since the last drain to the consumers (the gateway's channels) in one call. At the
// bound the hub drops the buffered events rather than grow or block, and the next drain says so
// (`overflowed`): a consumer whose subscriptions are fed by events must make those clients
// resynchronise.
//
// Books are pulled, not fed: per watched instrument the hub keeps a MIRROR, the top levels as
// last broadcast and the seqId they were broadcast at. A books pass reads the current top levels
// of the books touched since the last pass through the replica's queries and diffs them against
// the mirrors: changed or new levels with their size and order count, and levels that went away
// (or left the window) with size 0. Passes run at most every booksIntervalMs (OKX pushes `books`
// at most every 100 ms), in a drain or, when the interval has not passed yet, in a drain of their
// own when it has, so the cost of books follows the clock, not the command rate. The seqId of an
// update is the engine's sequence number (commands applied) at the moment of the diff, and its
// prevSeqId the mirror's previous seqId: the book at seqId S is the engine's book after command S,
// the same on every replica, so the streams of two clouds agree and a client that reconnects
// anywhere resynchronises from a snapshot. A new subscriber gets the mirror itself as its
// snapshot, so the updates that follow chain exactly onto it.

import type { BookLevelView, Event } from '../core/index.js';
import type { ExchangeQueries } from '../replica/index.js';

/** The hub's bounds. */
export const StreamLimits = {
  /**
   * Events the apply loop may leave for one drain. A drain normally runs within a millisecond
   * of a record; this many events waiting means the process is starved, and at the bound the
   * events are dropped (consumers are told to resync) instead of queued without end.
   */
  hubBufferEventsMax: 200_000,
  /** Levels per side a book mirror holds: the depth of OKX's `books` channel. */
  bookDepth: 400,
  /**
   * Least time between two books passes (diffs of the touched books against their mirrors), so
   * between two `books` pushes of an instrument: OKX's 100 ms. 0 diffs in every drain (tests
   * that need many updates quickly).
   */
  booksIntervalMs: 100,
} as const;

/** A level of a diff: sizeLots 0 (and orders 0) deletes the level. */
export type BookLevel = BookLevelView;

/** A book as last broadcast: both sides best first, at engine sequence number seqId. */
export interface BookMirror {
  readonly instId: string;
  readonly seqId: number;
  readonly asks: readonly BookLevel[];
  readonly bids: readonly BookLevel[];
  /** Wall-clock ms when this state was read. */
  readonly ts: number;
}

/** One watched book's change in a drain: the changed levels, and the mirror after them. */
export interface BookUpdate {
  readonly instId: string;
  readonly seqId: number;
  readonly prevSeqId: number;
  readonly asks: readonly BookLevel[];
  readonly bids: readonly BookLevel[];
  readonly mirror: BookMirror;
}

/** Everything gathered since the last drain, handed to every consumer at once. */
export interface Drain {
  /** The engine's sequence number and the log position applied when the drain ran. */
  readonly seq: number;
  readonly position: number;
  /** The applied events since the last drain, in log order (empty when overflowed). */
  readonly events: readonly Event[];
  /** Events were dropped at hubBufferEventsMax: subscriptions fed by events must resync. */
  readonly overflowed: boolean;
  /** Instruments named by the events since the last drain (trades, orders, state changes). */
  readonly touched: ReadonlySet<string>;
  /** An event since the last drain may have moved any book (an amend names no instrument). */
  readonly allTouched: boolean;
  /** Watched books that changed, one update each (empty unless a books pass ran in this drain). */
  readonly books: readonly BookUpdate[];
  /** Wall-clock ms of the drain. */
  readonly ts: number;
}

export interface HubConsumer {
  onDrain(drain: Drain): void;
  /**
   * Whether the consumer has subscribers now (default: always). While none has, the apply loop's
   * call into the hub returns at once: no event is copied and no drain scheduled.
   */
  active?(): boolean;
  /**
   * Whether the consumer reads `events` now (default: whenever active). While no active consumer
   * does, the apply loop's call only marks the instruments touched and copies no event.
   */
  wantsEvents?(): boolean;
}

export interface StreamHubOptions {
  readonly queries: ExchangeQueries;
  /** The engine's sequence number now (commands applied): the seqId of a book read now. */
  readonly appliedSeq: () => number;
  /** Wall-clock ms: the time stamped on mirrors and drains. */
  readonly now?: () => number;
  /** A monotonic ms clock for the books interval (default performance.now); never the wall clock, which tests fix. */
  readonly clockMs?: () => number;
  readonly bufferEventsMax?: number;
  readonly bookDepth?: number;
  readonly booksIntervalMs?: number;
  /** A consumer threw (a bug in it): reported here, and the other consumers still run. */
  readonly onConsumerError?: (error: unknown) => void;
}

/** What the hub has done, for metrics and tests. */
export interface HubStats {
  readonly drains: number;
  /** Books passes run (each diffs the books touched since the previous one). */
  readonly booksPasses: number;
  /** Watched books touched since the last pass, waiting for the next. */
  readonly booksPending: number;
  readonly bufferedEvents: number;
  readonly overflows: number;
  readonly droppedEvents: number;
  readonly watchedBooks: number;
}

/**
 * The levels that differ between two sides sorted best first (`better(a, b)`: a is a better
 * price than b): new or changed levels as they are now, vanished levels with size 0.
 */
export function diffSide(old: readonly BookLevel[], next: readonly BookLevel[], better: (a: number, b: number) => boolean): BookLevel[] {
  const out: BookLevel[] = [];
  let i = 0;
  let j = 0;
  while (i < old.length || j < next.length) {
    const o = old[i];
    const n = next[j];
    if (n === undefined || (o !== undefined && o.priceTicks !== n.priceTicks && better(o.priceTicks, n.priceTicks))) {
      out.push({ priceTicks: o!.priceTicks, sizeLots: 0, orders: 0 });
      i++;
    } else if (o === undefined || o.priceTicks !== n.priceTicks) {
      out.push(n);
      j++;
    } else {
      if (o.sizeLots !== n.sizeLots || o.orders !== n.orders) out.push(n);
      i++;
      j++;
    }
  }
  return out;
}

const asksBetter = (a: number, b: number): boolean => a < b;
const bidsBetter = (a: number, b: number): boolean => a > b;

interface Watched {
  mirror: BookMirror;
  watchers: number;
}

export class StreamHub {
  private readonly queries: ExchangeQueries;
  private readonly appliedSeq: () => number;
  private readonly now: () => number;
  private readonly clockMs: () => number;
  private readonly bufferEventsMax: number;
  private readonly depth: number;
  private readonly booksIntervalMs: number;
  private readonly consumers = new Set<HubConsumer>();
  private readonly books = new Map<string, Watched>();
  private buffer: Event[] = [];
  private touched = new Set<string>();
  /** An event named no instrument but may have moved a book (an amend): look at every book. */
  private allTouched = false;
  /** Watched books touched since the last books pass (every one when booksAll). */
  private booksPending = new Set<string>();
  private booksAll = false;
  /** When the last books pass ran (the hub's clock); the next runs booksIntervalMs after it at the earliest. */
  private lastBooksPassMs = -Infinity;
  private booksTimer: NodeJS.Timeout | undefined;
  private overflowed = false;
  private position = 0;
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;
  private counts = { drains: 0, booksPasses: 0, overflows: 0, droppedEvents: 0 };

  constructor(private readonly options: StreamHubOptions) {
    this.queries = options.queries;
    this.appliedSeq = options.appliedSeq;
    this.now = options.now ?? Date.now;
    this.clockMs = options.clockMs ?? (() => performance.now());
    this.bufferEventsMax = options.bufferEventsMax ?? StreamLimits.hubBufferEventsMax;
    this.depth = options.bookDepth ?? StreamLimits.bookDepth;
    this.booksIntervalMs = options.booksIntervalMs ?? StreamLimits.booksIntervalMs;
    if (!(this.bufferEventsMax > 0 && this.depth > 0)) throw new RangeError('stream hub bounds must be positive');
    if (!(Number.isSafeInteger(this.booksIntervalMs) && this.booksIntervalMs >= 0)) throw new RangeError('booksIntervalMs must be a whole number of ms, 0 or more');
  }

  /**
   * Called by the apply loop after each record, with the record's events (the array is reused
   * by the replica and the event objects recycled by the engine: the hub keeps shallow copies of
   * the events, never the array or the objects, and only while a consumer wants events). Does no
   * I/O and no formatting: O(events) marks and appends, then a drain is scheduled.
   */
  onApplied(events: readonly Event[], position: number): void {
    if (this.closed || !this.anyActive()) return;
    this.position = position;
    for (const e of events) {
      if ('instId' in e) {
        this.touched.add(e.instId);
        if (this.books.has(e.instId)) this.booksPending.add(e.instId);
      } else if (e.type === 'OrderAmended') {
        this.allTouched = true;
        this.booksAll = true;
      }
    }
    if (!this.overflowed && this.anyWantsEvents()) {
      if (this.buffer.length + events.length > this.bufferEventsMax) {
        this.markOverflow(this.buffer.length + events.length);
      } else {
        // The engine recycles its event objects once the record's consumers return (its
        // events are valid during onApplied only): the hub keeps copies (the recycled kinds are flat).
        for (const e of events) this.buffer.push({ ...e });
      }
    } else if (this.overflowed) {
      this.counts.droppedEvents += events.length;
    }
    this.schedule();
  }

  private markOverflow(dropped: number): void {
    this.overflowed = true;
    this.booksAll = true;
    this.counts.overflows += 1;
    this.counts.droppedEvents += dropped;
    this.buffer = [];
  }

  private anyActive(): boolean {
    for (const consumer of this.consumers) if (consumer.active?.() ?? true) return true;
    return false;
  }

  private anyWantsEvents(): boolean {
    for (const consumer of this.consumers) if ((consumer.active?.() ?? true) && (consumer.wantsEvents?.() ?? true)) return true;
    return false;
  }

  private schedule(): void {
    if (this.scheduled !== undefined || this.closed) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      this.drain();
    });
  }

  /** Registers a consumer of drains; returns the function that removes it. */
  addConsumer(consumer: HubConsumer): () => void {
    this.consumers.add(consumer);
    return () => { this.consumers.delete(consumer); };
  }

  /**
   * Starts (or joins) watching a book: its mirror, which a new subscriber sends as its snapshot.
   * The first watcher reads the book now, at the current seqId. Undefined for an unknown
   * instrument. Every call must be matched by one unwatchBook.
   */
  watchBook(instId: string): BookMirror | undefined {
    const watched = this.books.get(instId);
    if (watched !== undefined) {
      watched.watchers += 1;
      return watched.mirror;
    }
    const book = this.queries.book(instId, this.depth);
    if (book === undefined) return undefined;
    const mirror: BookMirror = { instId, seqId: this.appliedSeq(), asks: book.asks, bids: book.bids, ts: this.now() };
    this.books.set(instId, { mirror, watchers: 1 });
    return mirror;
  }

  unwatchBook(instId: string): void {
    const watched = this.books.get(instId);
    if (watched === undefined) throw new Error(`unwatchBook(${instId}) without watchBook`);
    watched.watchers -= 1;
    if (watched.watchers === 0) this.books.delete(instId);
  }

  /** The engine's sequence number now: the seqId of a book read now. */
  seq(): number {
    return this.appliedSeq();
  }

  /** The mirror of a watched book (undefined if nobody watches it). */
  mirror(instId: string): BookMirror | undefined {
    return this.books.get(instId)?.mirror;
  }

  stats(): HubStats {
    const booksPending = this.booksAll ? this.books.size : [...this.booksPending].filter((instId) => this.books.has(instId)).length;
    return { ...this.counts, bufferedEvents: this.buffer.length, watchedBooks: this.books.size, booksPending };
  }

  /**
   * Runs a drain now (tests, the scheduled drain and the books timer): the events and touched
   * instruments since the last drain, and the books pass if one is due.
   */
  drain(): void {
    if (this.closed) return;
    if (this.scheduled !== undefined) {
      clearImmediate(this.scheduled);
      this.scheduled = undefined;
    }
    const events = this.buffer;
    const overflowed = this.overflowed;
    const touched = this.touched;
    const allTouched = this.allTouched;
    this.buffer = [];
    this.overflowed = false;
    this.touched = new Set();
    this.allTouched = false;
    this.counts.drains += 1;
    const ts = this.now();
    const books = this.booksPassIfDue(ts);
    const drain: Drain = { seq: this.appliedSeq(), position: this.position, events, overflowed, touched, allTouched, books, ts };
    for (const consumer of this.consumers) {
      try {
        consumer.onDrain(drain);
      } catch (e) {
        this.options.onConsumerError?.(e);
      }
    }
  }

  /**
   * The books pass, if a book is pending and booksIntervalMs has passed since the last pass;
   * otherwise (a book pending) a timer drains again when it has. A timer firing early finds the
   * pass not due and waits again, so passes are never closer than the interval on the hub's monotonic clock.
   */
  private booksPassIfDue(ts: number): BookUpdate[] {
    if (!this.booksAll && this.booksPending.size === 0) return [];
    const clock = this.clockMs();
    const waitMs = this.lastBooksPassMs + this.booksIntervalMs - clock;
    if (waitMs > 0) {
      if (this.booksTimer === undefined) {
        this.booksTimer = setTimeout(() => {
          this.booksTimer = undefined;
          this.drain();
        }, Math.ceil(waitMs));
        this.booksTimer.unref();
      }
      return [];
    }
    const all = this.booksAll;
    const pending = this.booksPending;
    this.booksAll = false;
    this.booksPending = new Set();
    this.lastBooksPassMs = clock;
    this.counts.booksPasses += 1;
    const books: BookUpdate[] = [];
    for (const [instId, watched] of this.books) {
      if (!all && !pending.has(instId)) continue;
      const update = this.diffBook(instId, watched, ts);
      if (update !== undefined) books.push(update);
    }
    return books;
  }

  private diffBook(instId: string, watched: Watched, ts: number): BookUpdate | undefined {
    const book = this.queries.book(instId, this.depth);
    if (book === undefined) return undefined;
    const before = watched.mirror;
    const asks = diffSide(before.asks, book.asks, asksBetter);
    const bids = diffSide(before.bids, book.bids, bidsBetter);
    if (asks.length === 0 && bids.length === 0) return undefined;
    const seqId = this.appliedSeq();
    // A book only changes when a command applies, and every command moves the sequence number.
    if (!(seqId > before.seqId)) throw new Error(`book ${instId} changed at seqId ${seqId}, not after its previous ${before.seqId}`);
    const mirror: BookMirror = { instId, seqId, asks: book.asks, bids: book.bids, ts };
    watched.mirror = mirror;
    return { instId, seqId, prevSeqId: before.seqId, asks, bids, mirror };
  }

  /** Stops draining; buffered events are dropped. */
  close(): void {
    this.closed = true;
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    if (this.booksTimer !== undefined) clearTimeout(this.booksTimer);
    this.booksTimer = undefined;
    this.buffer = [];
    this.consumers.clear();
  }
}
