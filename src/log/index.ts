// The command log module's public surface: the CommandLog contract, the embedded file journal
// that implements it, and the errors both can produce. Everything else in src/log is private.

export type { CommandLog, LogBounds, LogRecord, RecordHandler, TailHandle } from './command-log.js';
export { FileJournal, fileJournalDefaults, type FileJournalOptions, type FileJournalStats } from './file-journal.js';
export type { RecoveryReport } from './recovery.js';
export {
  JournalBusyError,
  JournalCorruptError,
  JournalError,
  JournalLockedError,
  journalErrorMessages,
  type JournalErrorCode,
} from './errors.js';
