// The replica module's public surface: the apply loop with snapshots and recovery, the
// submitter that turns requests into durable applied records, and the record codec.
export { Replica, applySubmission, replicaHash, replicaStateHash, type Checkpoint as ReplicaCheckpoint, type ReplicaOptions, type ReplicaState } from './replica.js';
export { Submitter, classifyJournalError, type SubmitterOptions } from './submitter.js';
export { SnapshotStore, decodeSnapshotFile, encodeSnapshotFile, type Checkpoint, type SnapshotParts } from './snapshots.js';
export { MemoryKeyStore } from './keys.js';
export { encodeBatch, decodeBatch, RecordDecodeError, RECORD_COMMANDS_MAX, RECORD_BYTES_MAX, type LogBatch, type Submission } from './codec.js';
