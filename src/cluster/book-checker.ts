// An independent client-side copy of an OKX `books` stream, for the drill, the stream tests and
// the WebSocket benchmark: it applies snapshot and update messages to its own book (size "0"
// deletes a level), holds the server to the seqId chain (each update's prevSeqId is the last
// seqId of this connection, seqIds never go back) and recomputes every checksum itself (OKX
// §1.7: the top 25 levels interleaved bid, ask as "px:sz", zlib CRC-32 as a signed int32). It
// shares no code with the server's hub, so it cannot share its mistakes. A SeqIdLedger then holds
// several connections, on several clouds, to one more rule: a book at seqId S is the same book
// wherever it was seen.

import { crc32 } from 'node:zlib';

/** OKX's checksum covers this many levels of each side. */
export const CHECKSUM_DEPTH = 25;
/** The most levels a side may hold: OKX `books` is 400 deep; more is a server bug, not growth. */
export const BOOK_SIDE_LEVELS_MAX = 5_000;
/** How many failures a checker keeps in full (the counts keep counting). */
export const FAILURES_KEPT_MAX = 50;

export interface Level { readonly px: string; readonly sz: string }

/** One `books` push's data[0], as OKX sends it. */
export interface BooksData {
  readonly asks?: readonly (readonly string[])[];
  readonly bids?: readonly (readonly string[])[];
  readonly seqId?: number;
  readonly prevSeqId?: number;
  readonly checksum?: number;
  readonly ts?: string;
}

export type FailureKind =
  /** prevSeqId is not the last seqId this connection saw. */
  | 'chain'
  /** seqId went back (below prevSeqId). */
  | 'seq_regress'
  /** The checksum recomputed from this book differs from the server's. */
  | 'checksum'
  /** An update arrived before any snapshot on this connection. */
  | 'update_before_snapshot'
  /** An update deleted a level this book does not have. */
  | 'unknown_level_deleted'
  /** A field missing or malformed (no seqId, a level that is not [px, sz, ...], a side over its bound). */
  | 'malformed';

export interface Failure { readonly kind: FailureKind; readonly instId: string; readonly seqId: number; readonly detail: string }

/** Exact order of two non-negative decimal strings ("3366.1" < "3366.10" is equal): no floats. */
export function compareDecimal(a: string, b: string): number {
  const [ai = '', af = ''] = a.split('.');
  const [bi = '', bf = ''] = b.split('.');
  const aInt = ai.replace(/^0+(?=\d)/, '');
  const bInt = bi.replace(/^0+(?=\d)/, '');
  if (aInt.length !== bInt.length) return aInt.length - bInt.length;
  if (aInt !== bInt) return aInt < bInt ? -1 : 1;
  const width = Math.max(af.length, bf.length);
  const aFrac = af.padEnd(width, '0');
  const bFrac = bf.padEnd(width, '0');
  return aFrac === bFrac ? 0 : aFrac < bFrac ? -1 : 1;
}

const DECIMAL = /^\d+(\.\d+)?$/;

/** The OKX checksum of a book: top 25 a side, interleaved bid then ask, "px:sz" joined by ":", signed CRC-32. */
export function okxChecksum(bids: readonly Level[], asks: readonly Level[]): number {
  const parts: string[] = [];
  for (let i = 0; i < CHECKSUM_DEPTH; i++) {
    const bid = bids[i];
    const ask = asks[i];
    if (bid !== undefined) parts.push(bid.px, bid.sz);
    if (ask !== undefined) parts.push(ask.px, ask.sz);
  }
  return crc32Signed(parts.join(':'));
}

export function crc32Signed(text: string): number {
  return crc32(Buffer.from(text, 'utf8')) | 0;
}

/** One side of a book, kept sorted best first: bids high to low, asks low to high. */
class Side {
  readonly levels: Level[] = [];
  constructor(private readonly descending: boolean) {}

  /** Index of px, or -(insertion point) - 1. */
  private find(px: string): number {
    let lo = 0;
    let hi = this.levels.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const c = compareDecimal(this.levels[mid]!.px, px) * (this.descending ? -1 : 1);
      if (c === 0) return mid;
      if (c < 0) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  /** Sets a level (size "0" deletes it); false when a deleted level was not there. */
  set(px: string, sz: string): boolean {
    const at = this.find(px);
    if (compareDecimal(sz, '0') === 0) {
      if (at < 0) return false;
      this.levels.splice(at, 1);
      return true;
    }
    if (at >= 0) this.levels[at] = { px, sz };
    else this.levels.splice(-at - 1, 0, { px, sz });
    return true;
  }

  clear(): void { this.levels.length = 0; }
}

export type Verdict = { readonly ok: true; readonly action: 'snapshot' | 'update' } | { readonly ok: false; readonly failure: Failure };

/**
 * One instrument's book on one connection. A failure leaves the book unsynchronised: further
 * updates are refused ('update_before_snapshot' is not counted again) until the next snapshot,
 * as ccxt drops a book whose chain broke.
 */
export class BookChecker {
  private readonly bids = new Side(true);
  private readonly asks = new Side(false);
  private synced = false;
  /** The last seqId of this connection (-1 before the first snapshot). */
  seqId = -1;
  snapshots = 0;
  updates = 0;
  /** Messages whose checksum this checker recomputed and found equal. */
  checksumsVerified = 0;
  /** Updates that arrived while the book was dropped after a failure (not failures themselves). */
  ignoredAfterFailure = 0;
  readonly failureCounts: Record<FailureKind, number> = {
    chain: 0, seq_regress: 0, checksum: 0, update_before_snapshot: 0, unknown_level_deleted: 0, malformed: 0,
  };
  readonly failures: Failure[] = [];

  constructor(readonly instId: string) {}

  get failureTotal(): number {
    return Object.values(this.failureCounts).reduce((a, b) => a + b, 0);
  }

  /** Applies one `books` push (action "snapshot" or "update"). */
  apply(action: string, data: BooksData): Verdict {
    const seqId = data.seqId;
    const prevSeqId = data.prevSeqId;
    if (!Number.isSafeInteger(seqId) || !Number.isSafeInteger(prevSeqId) || !Number.isSafeInteger(data.checksum)) {
      return this.fail('malformed', seqId ?? -1, `seqId ${String(seqId)}, prevSeqId ${String(prevSeqId)}, checksum ${String(data.checksum)}`);
    }
    const seq = seqId!;
    if (action === 'snapshot') {
      this.bids.clear();
      this.asks.clear();
      this.synced = true;
    } else if (action === 'update') {
      if (!this.synced) {
        // After a failure the book is dropped: what follows until a snapshot is not counted again.
        if (this.failureTotal > 0) {
          this.ignoredAfterFailure += 1;
          return { ok: false, failure: { kind: 'update_before_snapshot', instId: this.instId, seqId: seq, detail: 'book dropped after an earlier failure' } };
        }
        return this.fail('update_before_snapshot', seq, `update ${seq} with no snapshot`);
      }
      if (prevSeqId !== this.seqId) return this.fail('chain', seq, `prevSeqId ${String(prevSeqId)} after seqId ${this.seqId}`);
      if (seq < prevSeqId) return this.fail('seq_regress', seq, `seqId ${seq} below prevSeqId ${String(prevSeqId)}`);
    } else {
      return this.fail('malformed', seq, `action "${action}"`);
    }
    for (const [side, levels] of [[this.bids, data.bids ?? []], [this.asks, data.asks ?? []]] as const) {
      for (const level of levels) {
        const [px, sz] = level;
        if (px === undefined || sz === undefined || !DECIMAL.test(px) || !DECIMAL.test(sz)) return this.fail('malformed', seq, `level ${JSON.stringify(level)}`);
        if (!side.set(px, sz)) return this.fail('unknown_level_deleted', seq, `${side === this.bids ? 'bid' : 'ask'} ${px} deleted but not in the book`);
      }
      if (side.levels.length > BOOK_SIDE_LEVELS_MAX) return this.fail('malformed', seq, `more than ${BOOK_SIDE_LEVELS_MAX} levels a side`);
    }
    const mine = okxChecksum(this.bids.levels, this.asks.levels);
    if (mine !== data.checksum) return this.fail('checksum', seq, `server ${String(data.checksum)}, recomputed ${mine}`);
    this.seqId = seq;
    this.checksumsVerified += 1;
    if (action === 'snapshot') this.snapshots += 1;
    else this.updates += 1;
    return { ok: true, action };
  }

  /** The book now: best first on each side. */
  book(): { readonly seqId: number; readonly bids: readonly Level[]; readonly asks: readonly Level[] } {
    return { seqId: this.seqId, bids: this.bids.levels.slice(), asks: this.asks.levels.slice() };
  }

  get isSynced(): boolean { return this.synced; }

  /** A digest of the whole book (every level of both sides), to compare books cheaply. */
  digest(): string {
    return bookDigest(this.bids.levels, this.asks.levels);
  }

  private fail(kind: FailureKind, seqId: number, detail: string): Verdict {
    const failure = { kind, instId: this.instId, seqId, detail };
    this.failureCounts[kind] += 1;
    if (this.failures.length < FAILURES_KEPT_MAX) this.failures.push(failure);
    this.synced = false;
    return { ok: false, failure };
  }
}

/** The whole book as one comparable text's CRC-32 and length (a digest, not a proof). */
export function bookDigest(bids: readonly Level[], asks: readonly Level[]): string {
  const text = `${bids.map((l) => `${l.px}:${l.sz}`).join(',')}|${asks.map((l) => `${l.px}:${l.sz}`).join(',')}`;
  return `${crc32Signed(text)}/${text.length}`;
}

/** How many (instrument, seqId) books a ledger remembers; past it, the oldest are forgotten. */
export const LEDGER_ENTRIES_MAX = 500_000;

/**
 * The book seen at each (instrument, seqId), by every connection of every client: two that saw
 * the same seqId must have seen the same book, whichever cloud served them.
 */
export class SeqIdLedger {
  private readonly books = new Map<string, { digest: string; source: string; origin: string }>();
  /** Observations that met an earlier one at the same seqId (and agreed, or not). */
  matched = 0;
  /** Of those, the ones whose earlier observation came from another origin (another cloud). */
  matchedAcrossOrigins = 0;
  readonly conflicts: string[] = [];
  conflictCount = 0;

  /** Records the book `source` held at seqId; `origin` names where it came from (the cloud's URL). */
  record(instId: string, seqId: number, digest: string, source: string, origin = source): boolean {
    const key = `${instId}@${seqId}`;
    const seen = this.books.get(key);
    if (seen === undefined) {
      if (this.books.size >= LEDGER_ENTRIES_MAX) this.books.delete(this.books.keys().next().value!);
      this.books.set(key, { digest, source, origin });
      return true;
    }
    this.matched += 1;
    if (seen.origin !== origin) this.matchedAcrossOrigins += 1;
    if (seen.digest === digest) return true;
    this.conflictCount += 1;
    if (this.conflicts.length < FAILURES_KEPT_MAX) this.conflicts.push(`${key}: ${seen.source} saw ${seen.digest}, ${source} saw ${digest}`);
    return false;
  }
}

/** The trades each tradeId was reported as, by every connection: one trade, one description. */
export class TradeLedger {
  private readonly trades = new Map<string, string>();
  seen = 0;
  matched = 0;
  readonly conflicts: string[] = [];
  conflictCount = 0;

  record(trade: { instId?: unknown; tradeId?: unknown; px?: unknown; sz?: unknown; side?: unknown }, source: string): boolean {
    this.seen += 1;
    const key = String(trade.tradeId);
    const description = `${String(trade.instId)} ${String(trade.side)} ${String(trade.sz)}@${String(trade.px)}`;
    const earlier = this.trades.get(key);
    if (earlier === undefined) {
      if (this.trades.size >= LEDGER_ENTRIES_MAX) this.trades.delete(this.trades.keys().next().value!);
      this.trades.set(key, description);
      return true;
    }
    this.matched += 1;
    if (earlier === description) return true;
    this.conflictCount += 1;
    if (this.conflicts.length < FAILURES_KEPT_MAX) this.conflicts.push(`trade ${key}: ${earlier} vs ${description} (${source})`);
    return false;
  }
}
