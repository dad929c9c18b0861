// The contract between the engine and whatever stores its commands durably. The embedded
// FileJournal implements it on local disk; EtcdLog implements it across clouds. A position is the
// global sequence number of one record: at least 1 and strictly increasing along the log. The file
// journal's are also contiguous and assigned in the order appends are called; the etcd log's are
// etcd revisions, with gaps, assigned in commit order.

export interface LogRecord {
  /** Global sequence number: >= 1, strictly increasing (contiguous in the file journal only). */
  readonly position: number;
  readonly payload: Uint8Array;
}

export interface LogBounds {
  /** First stored position; equals last + 1 when nothing is stored. */
  readonly first: number;
  /** Last durable position; 0 when nothing was ever appended. */
  readonly last: number;
}

export type RecordHandler = (record: LogRecord) => void | Promise<void>;

export interface TailHandle {
  /**
   * Stops delivery and resolves once the handler is no longer running. Rejects with the error
   * that ended the tail, if one did. Called from inside the handler, do not await it: it waits
   * for that very handler to return.
   */
  stop(): Promise<void>;
  /**
   * Settles when the tail ends: resolves after stop() or close(), rejects if the handler threw or
   * a read failed. A failure nobody observes surfaces as an unhandled rejection, on purpose: a
   * replica that silently stops applying commands is worse than one that crashes.
   */
  readonly ended: Promise<void>;
}

export interface CommandLog {
  /**
   * Appends the payloads as one group. Resolves with the position of the first (in the file
   * journal the rest follow contiguously; the etcd log takes exactly one payload) only once all
   * are durable. Rejects, never resolving partially, on error. As with any remote or crashing
   * write, a rejected append may still have been stored, so the layer above must recognise a
   * command it sees twice.
   */
  append(payloads: readonly Uint8Array[]): Promise<number>;

  /**
   * Delivers every record with position >= from, in order: first those already stored, then new
   * ones as they become durable. The handler may be async; delivery waits for it (backpressure).
   */
  tail(from: number, onRecord: RecordHandler): TailHandle;

  /**
   * Reads stored records from `from` on, at most maxRecords of them (fewer when a byte bound is
   * reached or the log ends; never none when from <= bounds().last). Used for recovery replay.
   */
  read(from: number, maxRecords: number): Promise<LogRecord[]>;

  bounds(): LogBounds;

  /**
   * Drops records that lie before `position` (a snapshot covers them): the file journal drops
   * whole segments, the etcd log every record before it.
   */
  dropBefore(position: number): Promise<void>;

  /** Waits for in-flight appends, ends all tails and releases the log. Idempotent. */
  close(): Promise<void>;
}
