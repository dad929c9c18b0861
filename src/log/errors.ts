// Every error either command log (the file journal or etcd) can produce, in one table under one
// name (LogError), so that callers can branch on a stable code and operators read the same
// message each time. Operating errors (a full queue, an
// oversized record, a held lock, a corrupt file) are rejections with these codes; a broken
// internal invariant is an assertion instead, because it can only be a bug.

export const logErrorMessages = {
  append_empty: 'an append must carry at least one record',
  record_too_large: 'a record payload is larger than recordBytesMax',
  append_too_large: 'one append carries more bytes or records than the queue can ever hold',
  busy: 'too many bytes or records are waiting for fsync; retry once earlier appends resolve',
  closed: 'the journal is closed',
  failed: 'an earlier write or fsync failed; reopen the journal to recover',
  write_failed: 'a write or fsync failed: the records may or may not be on disk (outcome unknown); the journal refuses appends until reopened',
  no_space: 'the disk is full: nothing of this append was written; the next append tries again',
  position_dropped: 'the position lies before the first stored record (dropped behind a snapshot)',
  locked: 'another process holds the journal lock',
  corrupt: 'the journal is corrupt and will not be opened',
  // The etcd log's codes.
  append_multiple: 'the etcd log stores exactly one payload per append; batch commands into one payload',
  outcome_unknown: 'etcd did not confirm the append in time; it may still be stored, so do not assume it failed',
  compacted: 'the position lies before the etcd compaction point; load a snapshot from a peer replica',
  unavailable: 'etcd could not be reached for longer than the configured bound',
  writer_conflict: 'a different record is stored under this writer id; writer ids must be unique per process',
  rejected: 'etcd refused the request',
  foreign_record: 'a key under the log prefix is not a record an etcd log wrote',
  kv_too_many: 'more keys match the prefix than kvPrefixKeysMax',
} as const;

export type LogErrorCode = keyof typeof logErrorMessages;

export class LogError extends Error {
  override readonly name: string = 'LogError';

  constructor(
    readonly code: LogErrorCode,
    detail?: string,
    options?: ErrorOptions,
  ) {
    const message = logErrorMessages[code];
    super(detail === undefined ? message : `${message}: ${detail}`, options);
  }
}

/** Appends are arriving faster than the disk confirms them; the caller should back off. */
export class JournalBusyError extends LogError {
  override readonly name: string = 'JournalBusyError';

  constructor(detail: string) {
    super('busy', detail);
  }
}

/** Another live process (or this one) has the journal open for writing. */
export class JournalLockedError extends LogError {
  override readonly name: string = 'JournalLockedError';

  constructor(
    readonly lockFile: string,
    readonly holderPid: number | null,
    detail: string,
  ) {
    super('locked', detail);
  }
}

/**
 * Open found damage that truncating a torn tail cannot explain, so continuing could lose or
 * reorder acknowledged records. The message names the file, the byte offset and the fault.
 */
export class JournalCorruptError extends LogError {
  override readonly name: string = 'JournalCorruptError';

  constructor(
    readonly file: string,
    readonly offsetBytes: number,
    readonly fault: string,
  ) {
    super('corrupt', `${file} at byte ${offsetBytes}: ${fault}`);
  }
}

/**
 * The etcd log no longer holds records from `position` on: they were deleted behind a snapshot
 * and their history compacted. The reader must load a snapshot (from a peer replica) at or past
 * `compactedRevision + 1` and continue from there. compactedRevision is null when etcd did not
 * say it within the call deadline.
 */
export class LogCompactedError extends LogError {
  override readonly name: string = 'LogCompactedError';

  constructor(
    readonly position: number,
    readonly compactedRevision: number | null,
  ) {
    super('compacted', `position ${position}; etcd is compacted through revision ${compactedRevision ?? 'unknown'}`);
  }
}

/**
 * True when `error` says the records asked for were dropped behind a snapshot, whichever log
 * said so: the file journal (position_dropped) or etcd (compacted). Either way, load a snapshot.
 */
export function needsSnapshot(error: unknown): boolean {
  return error instanceof LogError && (error.code === 'position_dropped' || error.code === 'compacted');
}
