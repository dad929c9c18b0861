// The log's guard: replicated state, applied beside the engine, that judges each record before
// its commands run. It keeps each cloud's newest written time, so that one cloud's fast clock can
// move the log's time only a bounded step ahead of the others (clock skew), and the digests of
// the signed requests applied within the signature window, so that the same signed request sent
// twice, to any cloud, applies once (replay). Pure and deterministic: every replica computes the
// same guard from the same records, and it is in the snapshot and the state hash.

/**
 * How far one record may move the log's time past the newest time any *other* cloud wrote
 * within CLOCK_PEERS_WINDOW_MS. Well below the command TTL (1.5 s by default), so a fast cloud
 * cannot age the other clouds' commands into command_expired. A protocol constant: every replica
 * must use the same value, so it is not a per-node setting.
 */
export const CLOCK_AHEAD_MAX_MS = 500;
/**
 * Other clouds that wrote within this long before a record's own time count as active peers and
 * bound it. Judged against the record's time, not the log's: after an idle period every cloud's
 * last write is old, so the first record moves time freely instead of being held at the time
 * the log went quiet (and a cloud that died stops holding the others back after this long). The
 * bound therefore holds for clocks up to this far apart; a clock further off is an NTP failure
 * that status and metrics show.
 */
export const CLOCK_PEERS_WINDOW_MS = 10_000;
/** Clouds whose clocks are kept; at the bound the one that wrote longest ago is forgotten. */
export const CLOCK_CLOUDS_MAX = 64;
/**
 * How long a signed request is valid, in log time: OKX's timestamp window (the gateway refuses a
 * request more than this from its clock, either way). A signature seen within it is refused again.
 */
export const SIGNATURE_WINDOW_MS = 30_000;
/**
 * Signatures the seen-set holds at most (about 8,000 signed requests a second, sustained for a
 * whole window). At the bound a new signed submission is refused as busy, never let through and
 * never an entry evicted early: either would let a replay apply.
 */
export const SEEN_SIGNATURES_MAX = 250_000;

/** What a signed submission carries: a digest of its OK-ACCESS-SIGN, and its OK-ACCESS-TIMESTAMP. */
export interface SignedBy {
  /** SHA-256 of the signature header value, first 16 bytes, base64url (22 characters). */
  readonly d: string;
  /** The request's OK-ACCESS-TIMESTAMP, in ms since the epoch. */
  readonly ts: number;
}

/** Why the guard refused a signed submission (nothing of it applied). */
export type GuardRefusal = 'replayed' | 'signature_expired' | 'signatures_full';

export interface CloudClock {
  /** The newest time this cloud wrote into a record, as its gateway stamped it. */
  readonly lastTs: number;
  /**
   * How far that record's time was ahead of the log's time as the other clouds set it: the
   * newest time any other active cloud wrote. Negative: behind. 0 when no other cloud wrote
   * recently (nothing to compare with).
   */
  readonly aheadMs: number;
}

export interface GuardJson {
  readonly logTs: number;
  readonly clouds: readonly (readonly [name: string, lastTs: number, aheadMs: number])[];
  readonly seen: readonly (readonly [digest: string, ts: number])[];
}

const BUCKET_MS = 1_000;

export class LogGuard {
  /** The log's time: the newest time any record moved it to (after the clock bound). */
  logTs = 0;
  private readonly clouds = new Map<string, CloudClock>();
  private readonly seen = new Map<string, number>();
  /** Seen digests by the second of their request time, so expired ones are dropped a second at a time. */
  private readonly buckets = new Map<number, string[]>();

  get seenSize(): number {
    return this.seen.size;
  }

  clocks(): ReadonlyMap<string, CloudClock> {
    return this.clouds;
  }

  /**
   * Takes a record written by `cloud` at `ts` and returns the time it applies at: `ts`, or less
   * when `ts` is more than CLOCK_AHEAD_MAX_MS past the newest time the other active clouds wrote.
   * A cloud that is the only active writer moves time freely (a single node, or one surviving
   * cloud, is never frozen). Records without a cloud (older record versions) are not bounded.
   */
  observe(cloud: string | undefined, ts: number): number {
    let others = -Infinity;
    if (cloud !== undefined) {
      for (const [name, c] of this.clouds) {
        if (name !== cloud && c.lastTs >= ts - CLOCK_PEERS_WINDOW_MS && c.lastTs > others) others = c.lastTs;
      }
    }
    const effective = others === -Infinity ? ts : Math.min(ts, others + CLOCK_AHEAD_MAX_MS);
    if (cloud !== undefined) {
      const aheadMs = others === -Infinity ? 0 : ts - others;
      this.clouds.set(cloud, { lastTs: Math.max(ts, this.clouds.get(cloud)?.lastTs ?? ts), aheadMs });
      if (this.clouds.size > CLOCK_CLOUDS_MAX) this.forgetStalestCloud();
    }
    if (effective > this.logTs) this.advance(effective);
    return effective;
  }

  /**
   * Judges a signed submission that is about to apply: refused if its request time is already
   * more than the window behind the log's time, if its signature was applied before, or if the
   * seen-set is full; otherwise its digest is remembered and undefined returned.
   */
  admit(signed: SignedBy): GuardRefusal | undefined {
    if (signed.ts < this.logTs - SIGNATURE_WINDOW_MS) return 'signature_expired';
    if (this.seen.has(signed.d)) return 'replayed';
    if (this.seen.size >= SEEN_SIGNATURES_MAX) return 'signatures_full';
    this.remember(signed.d, signed.ts);
    return undefined;
  }

  private remember(digest: string, ts: number): void {
    this.seen.set(digest, ts);
    const bucket = Math.floor(ts / BUCKET_MS);
    const list = this.buckets.get(bucket);
    if (list === undefined) this.buckets.set(bucket, [digest]);
    else list.push(digest);
  }

  /**
   * Moves the log's time and drops the digests whose request time fell more than the window
   * behind it: a repeat of one of them is refused as expired anyway. Only whole seconds are
   * dropped, so a digest may stay up to a second longer than it must, never shorter.
   */
  private advance(ts: number): void {
    const oldCutoff = Math.floor((this.logTs - SIGNATURE_WINDOW_MS) / BUCKET_MS);
    this.logTs = ts;
    const cutoff = Math.floor((ts - SIGNATURE_WINDOW_MS) / BUCKET_MS);
    if (cutoff === oldCutoff) return;
    for (const [bucket, digests] of this.buckets) {
      if (bucket >= cutoff) continue;
      for (const d of digests) this.seen.delete(d);
      this.buckets.delete(bucket);
    }
  }

  private forgetStalestCloud(): void {
    let stalest: string | undefined;
    let stalestTs = Infinity;
    for (const [name, c] of this.clouds) {
      if (c.lastTs < stalestTs || (c.lastTs === stalestTs && stalest !== undefined && name < stalest)) {
        stalest = name;
        stalestTs = c.lastTs;
      }
    }
    if (stalest !== undefined) this.clouds.delete(stalest);
  }

  /** Canonical form: clouds by name, digests by (request time, digest); the same bytes on every replica. */
  toJSON(): GuardJson {
    const clouds = [...this.clouds].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([name, c]) => [name, c.lastTs, c.aheadMs] as const);
    const seen = [...this.seen].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { logTs: this.logTs, clouds, seen };
  }

  /** A guard for a state restored from before the guard existed: the log's time is the engine's. */
  static startingAt(logTs: number): LogGuard {
    const guard = new LogGuard();
    guard.logTs = logTs;
    return guard;
  }

  static fromJSON(json: GuardJson): LogGuard {
    const guard = new LogGuard();
    guard.logTs = json.logTs;
    for (const [name, lastTs, aheadMs] of json.clouds) guard.clouds.set(name, { lastTs, aheadMs });
    for (const [digest, ts] of json.seen) guard.remember(digest, ts);
    return guard;
  }
}
