// The command log module's public surface: the CommandLog contract, its two implementations (the
// embedded file journal and the multicloud etcd log), and the errors both can produce. Everything
// else in src/log is private.

export type { CommandLog, LogBounds, LogRecord, RecordHandler, TailHandle } from './command-log.js';
export { FileJournal, fileJournalDefaults, type FileJournalOptions, type FileJournalStats } from './file-journal.js';
export { EtcdLog, etcdLogDefaults, type EtcdLogOptions, type EtcdLogStats, type JsonEntry } from './etcd-log.js';
export type { RecoveryReport } from './recovery.js';
export {
  JournalBusyError,
  JournalCorruptError,
  LogError,
  JournalLockedError,
  logErrorMessages,
  LogCompactedError,
  needsSnapshot,
  type LogErrorCode,
} from './errors.js';
