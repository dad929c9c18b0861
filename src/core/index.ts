// The engine's public surface. Everything outside src/core imports from here only.
export { Engine, buildInstrument } from './engine.js';
export { EventBuffer, type EventSink } from './event-pool.js';
export { Reject, rejectCodes, InvariantError, type Rejection, type RejectCode } from './codes.js';
export { Limits } from './limits.js';
export { Balance, BALANCE_MAX, LIMB, feeFor, parseDecimal, formatDecimal, type Units } from './money.js';
export type * from './types.js';
export { snapshot, restore, stateHash, SnapshotError, SNAPSHOT_VERSION } from './snapshot.js';
export { audit } from './audit.js';
export { custodyView, depositStatus, feeAtLevel } from './custody.js';
export { sha256Hex } from './sha256.js';
export type * from './views.js';
