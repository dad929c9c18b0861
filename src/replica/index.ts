// The replica module's public surface: the port a gateway serves through (log commands, keys,
// submit errors, queries), the apply loop with snapshots and recovery, the submitter that turns
// requests into durable applied records, and the record codec.
export {
  keyIpsMax, permissions, submitCommands, SubmitError, type ApiKey, type CreateApiKey, type ExchangePort, type KeySecrets, type KeyStore,
  type LogCommand, type NodeStatus, type Permission, type RevokeApiKey, type SubmitErrorCode,
} from './port.js';
export { LiveQueries, type ExchangeQueries, type HistoryQueries, type OpenWithdrawalView } from './queries.js';
/** How much history the queries keep (the projections' retention bounds), for checkers that read it. */
export { Retention } from '../projections/index.js';
export {
  Replica, applyBatch, applySubmission, emptyState, replicaHash, replicaStateHash,
  type Checkpoint as ReplicaCheckpoint, type LiabilitiesRequest, type ReplicaOptions, type ReplicaState, type ReplicatedState, type SubmissionOutcome,
} from './replica.js';
export {
  LogGuard, CLOCK_AHEAD_MAX_MS, CLOCK_CLOUDS_MAX, CLOCK_PEERS_WINDOW_MS, SEEN_SIGNATURES_MAX, SIGNATURE_WINDOW_MS,
  type CloudClock, type GuardRefusal, type SignedBy,
} from './guard.js';
export { Submitter, classifyLogError, COMPRESS_FROM_BYTES, type SubmitterOptions } from './submitter.js';
export { SnapshotStore, decodeSnapshotFile, encodeSnapshotFile, type Checkpoint, type SnapshotParts } from './snapshots.js';
export { MemoryKeyStore } from './keys.js';
export { compressRecord, encodeBatch, encodeRecord, encodeSubmission, decodeBatch, RecordDecodeError, RECORD_COMMANDS_MAX, RECORD_BYTES_MAX, type LogBatch, type Submission } from './codec.js';
export { BalanceMirror, copyBalances, copyUsersMax, type BalanceCopy } from './liabilities.js';
