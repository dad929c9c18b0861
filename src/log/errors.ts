// Every error the command log can produce, in one table, so that callers can branch on a stable
// code and operators read the same message each time. Operating errors (a full queue, an
// oversized record, a held lock, a corrupt file) are rejections with these codes; a broken
// internal invariant is an assertion instead, because it can only be a bug.

export const journalErrorMessages = {
  append_empty: 'an append must carry at least one record',
  record_too_large: 'a record payload is larger than recordBytesMax',
  append_too_large: 'one append carries more bytes or records than the queue can ever hold',
  busy: 'too many bytes or records are waiting for fsync; retry once earlier appends resolve',
  closed: 'the journal is closed',
  failed: 'an earlier write or fsync failed; reopen the journal to recover',
  position_dropped: 'the position lies before the first stored record (dropped behind a snapshot)',
  locked: 'another process holds the journal lock',
  corrupt: 'the journal is corrupt and will not be opened',
} as const;

export type JournalErrorCode = keyof typeof journalErrorMessages;

export class JournalError extends Error {
  override readonly name: string = 'JournalError';

  constructor(
    readonly code: JournalErrorCode,
    detail?: string,
    options?: ErrorOptions,
  ) {
    const message = journalErrorMessages[code];
    super(detail === undefined ? message : `${message}: ${detail}`, options);
  }
}

/** Appends are arriving faster than the disk confirms them; the caller should back off. */
export class JournalBusyError extends JournalError {
  override readonly name: string = 'JournalBusyError';

  constructor(detail: string) {
    super('busy', detail);
  }
}

/** Another live process (or this one) has the journal open for writing. */
export class JournalLockedError extends JournalError {
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
export class JournalCorruptError extends JournalError {
  override readonly name: string = 'JournalCorruptError';

  constructor(
    readonly file: string,
    readonly offsetBytes: number,
    readonly fault: string,
  ) {
    super('corrupt', `${file} at byte ${offsetBytes}: ${fault}`);
  }
}
