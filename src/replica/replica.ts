// A replica: the engine driven by the command log. It restores the newest valid snapshot (its
// own, or one fetched from a peer when the log behind it was compacted), replays the log after
// it, then applies every new record as it becomes durable, in order. Results of a record go back
// to the requests that wrote it (matched by origin and request id); events go to the
// projections. Before a record's commands run, the log guard (guard.ts) bounds how far its
// cloud's clock may move the log's time and refuses replayed signed requests. At deterministic
// checkpoints (the first record boundary after engine.seq crosses a multiple of N, the same on
// every replica) it hashes its state, reports the checkpoint so peers can compare, and writes a
// snapshot. A broken invariant, an unreadable record or a hash that differs from a peer's stops
// it: continuing would spread a wrong state.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Engine, Reject, restore, snapshot, type Event, type Result } from '../core/index.js';
import { SubmitError, type LogCommand } from './port.js';
import type { CommandLog, LogRecord, TailHandle } from '../log/index.js';
import { MemoryProjections } from '../projections/index.js';
import type { Projections } from '../projections/index.js';
import { decodeBatch, type LogBatch, type Submission } from './codec.js';
import { LogGuard, type GuardJson, type GuardRefusal } from './guard.js';
import { BalanceMirror, copyBalances, type BalanceCopy } from './liabilities.js';
import { MemoryKeyStore } from './keys.js';
import { LiveQueries, type ExchangeQueries } from './queries.js';
import type { SnapshotParts, SnapshotStore } from './snapshots.js';

export type ReplicaState = 'starting' | 'serving' | 'catching_up' | 'stopped' | 'failed' | 'diverged';

/** How long a replica waits before tailing again after the log became unreachable. */
const TAIL_RESUME_DELAY_MS = 250;

/** Where a liabilities report was requested: the record's position and the engine's seq after it. */
export interface LiabilitiesRequest {
  readonly reportId: string;
  readonly blockNumber: number;
  readonly position: number;
  readonly requestSeq: number;
  readonly seq: number;
  readonly ts: number;
}

export interface Checkpoint {
  readonly position: number;
  readonly seq: number;
  readonly stateHash: string;
}

export interface ReplicaOptions {
  readonly log: CommandLog;
  readonly snapshots: SnapshotStore;
  /** Checkpoint (hash, report, snapshot) each time engine.seq crosses a multiple of this. */
  readonly checkpointEveryCommands: number;
  /** Drop log records behind the oldest kept snapshot (the embedded journal; etcd compaction is coordinated by the cluster). */
  readonly compactLog: boolean;
  /** Builds the projections over a fresh or restored engine (default: MemoryProjections, from its saved JSON if any). */
  readonly createProjections?: (engine: Engine, saved: unknown) => Projections;
  readonly logger: Logger;
  /** Called once if the replica stops on a broken invariant, an unreadable record or divergence. */
  readonly onFatal: (error: Error) => void;
  /**
   * Called after each applied record, for metrics and streams: the commands it held, its events,
   * its log position and the engine's sequence number after it. The events are valid during the
   * call only: the array is reused and the engine recycles the event objects afterwards, so a
   * consumer that keeps an event copies it. Runs inside the apply loop: it must not wait or do I/O.
   */
  readonly onApplied?: (commands: number, events: readonly Event[], position: number, seq: number) => void;
  /**
   * Called on the apply thread for each accepted RequestLiabilitiesReport, after the whole record
   * that holds it has applied (every replica applies whole records, so every replica sees the
   * same state here). `copy` copies the balances when called (not before: a node that already
   * has the report does not pay for it); the builder takes it from there, off this thread.
   */
  readonly onLiabilitiesReport?: (request: LiabilitiesRequest, copy: () => BalanceCopy) => void;
  /** Called at every checkpoint, in log order, so the cluster can publish and compare hashes. */
  readonly onCheckpoint?: (checkpoint: Checkpoint) => void;
  /** Called after a snapshot is on disk (the cluster may then compact the shared log). */
  readonly onSnapshot?: (checkpoint: Checkpoint) => void;
  /**
   * Whether a tail that ended with this error may simply be resumed (the log was unreachable
   * for a while: a partition). The replica is `catching_up`, serving nothing, until the resumed
   * tail reaches the last position this node knew of; that cannot tell whether the log is
   * reachable again, so a cluster node also stops serving while its heartbeats fail
   * (Coordinator.isolated).
   */
  readonly resumable?: (error: unknown) => boolean;
}

/** A submission's outcome: one result per command, or the guard's refusal of the whole of it. */
export type SubmissionOutcome = Result[] | { readonly refused: GuardRefusal };

export interface AppliedBatch {
  readonly position: number;
  readonly outcome: SubmissionOutcome;
}

/** Told how a submission this node wrote ended: applied at a position, or never here (the replica stopped). */
export interface ApplyWaiter {
  applied(position: number, outcome: SubmissionOutcome): void;
  stopped(error: SubmitError): void;
}

/** Everything a record changes: the engine, the API keys and the log guard. */
export interface ReplicatedState {
  readonly engine: Engine;
  readonly keys: MemoryKeyStore;
  readonly guard: LogGuard;
}

const EXPIRED: Result = Object.freeze({ ok: false, reject: Reject.commandExpired });

/**
 * Applies one record, exactly as every replica (and every replay) must: the guard first turns
 * the record's time into the time it applies at (bounded by the other clouds' clocks), then
 * each submission applies at that time.
 */
export function applyBatch(state: ReplicatedState, batch: LogBatch, events: Event[]): SubmissionOutcome[] {
  const ts = state.guard.observe(batch.cloud, batch.ts);
  return batch.items.map((item) => applySubmission(state, item, ts, events));
}

/**
 * One submission: refused whole if the log's time has passed its deadline (deterministic: the
 * engine's time and the record's time are the same everywhere), or if the guard refuses its
 * signature (replayed, expired, or the seen-set full); else each command to the key store or
 * the engine. Only a submission that applies enters the seen-set, so a retry of one refused for
 * its deadline is safe.
 */
export function applySubmission(state: ReplicatedState, item: Submission, ts: number, events: Event[]): SubmissionOutcome {
  const { engine, keys, guard } = state;
  if (Math.max(engine.now, ts) > item.deadline) return item.cmds.map(() => EXPIRED);
  if (item.sig !== undefined) {
    const refused = guard.admit(item.sig);
    if (refused !== undefined) return { refused };
  }
  return item.cmds.map((cmd: LogCommand) => (cmd.type === 'CreateApiKey' || cmd.type === 'RevokeApiKey' ? keys.apply(engine, cmd) : engine.apply(cmd, ts, events)));
}

/**
 * A replica's state hash: SHA-256 over the engine's canonical snapshot, a zero byte, the API
 * keys' canonical JSON, a zero byte, the log guard's canonical JSON, so that replicas
 * disagreeing about any of them are told apart.
 */
export function replicaHash(engineBytes: Uint8Array, keysBytes: Uint8Array, guardBytes: Uint8Array): string {
  const zero = new Uint8Array([0]);
  return createHash('sha256').update(engineBytes).update(zero).update(keysBytes).update(zero).update(guardBytes).digest('hex');
}

export function replicaStateHash(state: ReplicatedState): string {
  return replicaHash(snapshot(state.engine), keysBytes(state.keys), guardBytes(state.guard));
}

/** A fresh state, as before the first record. */
export function emptyState(): ReplicatedState {
  return { engine: new Engine(), keys: new MemoryKeyStore(), guard: new LogGuard() };
}

/** The state hash of a snapshot file version 2 (before the guard), so such a snapshot can still be restored. */
function replicaHashV2(engineBytes: Uint8Array, keysBytes: Uint8Array): string {
  return createHash('sha256').update(engineBytes).update(new Uint8Array([0])).update(keysBytes).digest('hex');
}

const keysBytes = (keys: MemoryKeyStore): Uint8Array => Buffer.from(JSON.stringify(keys.toJSON()));
const guardBytes = (guard: LogGuard): Uint8Array => Buffer.from(JSON.stringify(guard.toJSON()));

function memoryProjections(engine: Engine, saved: unknown): Projections {
  return saved === undefined ? new MemoryProjections(engine) : MemoryProjections.fromJSON(engine, saved);
}

export class Replica {
  engine = new Engine();
  projections: Projections;
  keys = new MemoryKeyStore();
  guard = new LogGuard();
  /** What a gateway reads: plain records built from the engine and projections current at each call. */
  readonly queries: ExchangeQueries = new LiveQueries(() => this.engine, () => this.projections);
  state: ReplicaState = 'starting';
  appliedPosition = 0;
  /** The engine's sequence number: commands applied in all. */
  get appliedSeq(): number { return this.engine.seq; }
  lastCheckpoint: Checkpoint = { position: 0, seq: 0, stateHash: '' };
  /** The newest snapshot on disk, and the newest one taken at a checkpoint (what peers may fetch). */
  lastSnapshot: Checkpoint = { position: 0, seq: 0, stateHash: '' };
  lastCheckpointSnapshot: Checkpoint = { position: 0, seq: 0, stateHash: '' };
  failure: string | undefined;
  /** The position of the peer snapshot this replica started from, if it needed one. */
  installedPeerSnapshot: number | undefined;

  private tailHandle: TailHandle | undefined;
  /** Who waits for which submission: by origin, then request id (no key string per submission). */
  private readonly waiters = new Map<string, Map<number, ApplyWaiter>>();
  private readonly events: Event[] = [];
  private snapshotting: Promise<void> | undefined;
  /**
   * Every user's balances as a report copies them, kept current record by record, so that the
   * copy is a memcpy, not a walk that pauses matching (only with reports on; dropped, and the copy
   * walks again, if updating it ever fails).
   */
  private mirror: BalanceMirror | undefined;

  constructor(private readonly options: ReplicaOptions) {
    this.projections = (options.createProjections ?? memoryProjections)(this.engine, undefined);
    this.mirrorEngine();
  }

  /** Mirrors the engine's balances from scratch (a fresh or restored engine), if reports are on. */
  private mirrorEngine(): void {
    this.mirror = undefined;
    if (this.options.onLiabilitiesReport === undefined) return;
    try {
      this.mirror = new BalanceMirror(this.engine);
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, 'BALANCE MIRROR NOT BUILT: liabilities reports walk every user on the apply thread until restart');
    }
  }

  /**
   * Restores, replays up to the log's current end, and keeps applying new records. When the
   * log no longer holds the records after the newest local snapshot, `fetchSnapshot` (a peer's
   * snapshot, already checked against the hashes peers published) fills the gap.
   */
  async start(fetchSnapshot?: () => Promise<SnapshotParts>): Promise<void> {
    const { log, snapshots, logger } = this.options;
    await snapshots.init();
    for (const position of await snapshots.list()) {
      try {
        this.install(await snapshots.read(position));
        logger.info({ position, seq: this.engine.seq, stateHash: this.lastSnapshot.stateHash }, 'restored snapshot');
        break;
      } catch (e) {
        logger.warn({ position, err: (e as Error).message }, 'snapshot unusable, trying an older one');
      }
    }
    let bounds = log.bounds();
    if (bounds.first > this.appliedPosition + 1 && bounds.last >= bounds.first) {
      if (fetchSnapshot === undefined) {
        throw new Error(
          `the log starts at position ${bounds.first} but the newest usable snapshot ends at ${this.appliedPosition}: `
          + 'records in between are gone. Restore a snapshot from a peer or a backup.',
        );
      }
      const parts = await fetchSnapshot();
      this.install(parts);
      this.installedPeerSnapshot = parts.position;
      await snapshots.write(parts);
      logger.info({ position: parts.position, seq: parts.seq, stateHash: parts.stateHash }, 'installed a peer snapshot');
      bounds = log.bounds();
      if (bounds.first > this.appliedPosition + 1 && bounds.last >= bounds.first) {
        throw new Error(`even the peer snapshot (position ${this.appliedPosition}) is behind the log's start (${bounds.first})`);
      }
    }
    // A snapshot past the log's end means the log lost records the snapshot includes (a journal
    // cut short or deleted, an etcd whose data was wiped). Serving would write new records at
    // positions this replica already applied, and it would skip them forever. The log's end is at
    // least the position it was compacted through (etcd can drop every record behind a snapshot).
    const logEnd = Math.max(bounds.last, bounds.first - 1);
    if (this.appliedPosition > logEnd) {
      throw new Error(
        `the newest usable snapshot is at position ${this.appliedPosition}, but the log ends at position ${logEnd}: `
        + 'the log lost records the snapshot includes, and new records would reuse positions already applied. '
        + 'Restore the log (the journal directory, or etcd) from a backup or a peer; or, deliberately, move the '
        + `snapshots aside and start from the log alone, losing what they held past position ${logEnd}.`,
      );
    }
    const target = bounds.last;
    const t0 = Date.now();
    let caughtUp!: () => void;
    const ready = new Promise<void>((resolve) => { caughtUp = resolve; });
    if (this.appliedPosition >= target) caughtUp();
    this.tailHandle = log.tail(this.appliedPosition + 1, (record) => {
      this.applyRecord(record);
      if (record.position >= target) caughtUp();
    });
    const startTail = this.tailHandle;
    this.tailHandle.ended.catch((e: unknown) => { this.tailEnded(e, startTail); });
    await Promise.race([ready, this.tailHandle.ended]);
    if (this.state !== 'starting') throw new Error(`replica ${this.state} during replay: ${this.failure ?? ''}`);
    this.state = 'serving';
    logger.info({ position: this.appliedPosition, seq: this.engine.seq, replay_ms: Date.now() - t0 }, 'replica serving');
  }

  /** A tail ended: resume it after a transient outage (serving nothing meanwhile), else stop. */
  private tailEnded(error: unknown, ended: TailHandle): void {
    if (ended !== this.tailHandle) return;
    if (this.state === 'serving' || this.state === 'catching_up') {
      if (this.options.resumable?.(error) === true) {
        if (this.state === 'serving') this.options.logger.warn({ err: (error as Error).message }, 'log unreachable: serving nothing until the tail resumes');
        this.state = 'catching_up';
        setTimeout(() => { this.resumeTail(); }, TAIL_RESUME_DELAY_MS).unref();
        return;
      }
    }
    this.fail(error as Error);
  }

  private resumeTail(): void {
    if (this.state !== 'catching_up') return;
    const from = this.appliedPosition + 1;
    const target = this.options.log.bounds().last;
    const handle = this.options.log.tail(from, (record) => {
      this.applyRecord(record);
      if (this.state === 'catching_up' && record.position >= target) this.resumed();
    });
    this.tailHandle = handle;
    handle.ended.catch((e: unknown) => { this.tailEnded(e, handle); });
    if (this.appliedPosition >= target) this.resumed();
  }

  private resumed(): void {
    this.state = 'serving';
    this.options.logger.info({ position: this.appliedPosition }, 'log reachable again: replica serving');
  }

  /** Replaces the whole state with a verified snapshot (before the tail starts). */
  private install(parts: SnapshotParts): void {
    if (parts.guard === undefined) {
      // A snapshot from before the guard (file version 2): its hash covers the engine and keys only.
      if (replicaHashV2(parts.engine, parts.keys) !== parts.stateHash) throw new Error('snapshot does not match its own state hash');
    } else if (replicaHash(parts.engine, parts.keys, parts.guard) !== parts.stateHash) {
      throw new Error('snapshot does not match its own state hash');
    }
    this.engine = restore(parts.engine);
    this.mirrorEngine();
    this.projections = (this.options.createProjections ?? memoryProjections)(this.engine, JSON.parse(Buffer.from(parts.projections).toString('utf8')));
    this.keys = MemoryKeyStore.fromJSON(JSON.parse(Buffer.from(parts.keys).toString('utf8')) as []);
    this.guard = parts.guard === undefined ? LogGuard.startingAt(this.engine.now)
      : LogGuard.fromJSON(JSON.parse(Buffer.from(parts.guard).toString('utf8')) as GuardJson);
    this.appliedPosition = parts.position;
    this.lastCheckpoint = { position: parts.position, seq: parts.seq, stateHash: parts.stateHash };
    this.lastSnapshot = this.lastCheckpoint;
    if (parts.checkpoint) this.lastCheckpointSnapshot = this.lastCheckpoint;
  }

  /** The engine, keys and guard as one state (for the pure apply functions and the hash). */
  get replicated(): ReplicatedState {
    return { engine: this.engine, keys: this.keys, guard: this.guard };
  }

  /** Registers interest in the outcome of the submission (origin, rid) before it is appended. */
  register(origin: string, rid: number, waiter: ApplyWaiter): void {
    let byRid = this.waiters.get(origin);
    if (byRid === undefined) {
      byRid = new Map();
      this.waiters.set(origin, byRid);
    }
    byRid.set(rid, waiter);
  }

  /** The outcome of the submission (origin, rid), as a promise; register before it is appended. */
  expect(origin: string, rid: number): Promise<AppliedBatch> {
    return new Promise((resolve, reject) => {
      this.register(origin, rid, { applied: (position, outcome) => { resolve({ position, outcome }); }, stopped: reject });
    });
  }

  forget(origin: string, rid: number): void {
    this.waiters.get(origin)?.delete(rid);
  }

  private applyRecord(record: LogRecord): void {
    if (this.state !== 'starting' && this.state !== 'serving' && this.state !== 'catching_up') return;
    // Positions only ever increase (the journal's are contiguous; etcd revisions have gaps).
    if (record.position <= this.appliedPosition) {
      this.fail(new Error(`log delivered position ${record.position} after ${this.appliedPosition}`));
      return;
    }
    try {
      const batch = decodeBatch(record.payload);
      const events = this.events;
      const seqBefore = this.engine.seq;
      const outcomes = applyBatch(this.replicated, batch, events);
      const items = batch.items;
      let commands = 0;
      for (const item of items) commands += item.cmds.length;
      this.appliedPosition = record.position;
      this.projections.apply(events);
      if (this.mirror !== undefined) this.mirrorBalances(events, record.position);
      if (this.options.onLiabilitiesReport !== undefined) this.liabilitiesReports(events, record.position);
      this.options.onApplied?.(commands, events, record.position, this.engine.seq);
      // Every consumer has read the record's events: the engine may rewrite their objects.
      events.length = 0;
      this.engine.releaseEvents();
      // Only the node that wrote a record has anyone waiting for it.
      const waiting = this.waiters.get(batch.origin);
      if (waiting !== undefined && waiting.size > 0) {
        for (let i = 0; i < items.length; i++) {
          const rid = items[i]!.rid;
          const waiter = waiting.get(rid);
          if (waiter !== undefined) {
            waiting.delete(rid);
            waiter.applied(record.position, outcomes[i]!);
          }
        }
      }
      const every = this.options.checkpointEveryCommands;
      if (Math.floor(this.engine.seq / every) > Math.floor(seqBefore / every)) this.checkpoint();
    } catch (e) {
      this.fail(e as Error);
    }
  }

  /** Folds the record's balance changes into the mirror; a failure costs reports their speed, never the replica. */
  private mirrorBalances(events: readonly Event[], position: number): void {
    try {
      this.mirror!.apply(events);
    } catch (error) {
      this.mirror = undefined;
      this.options.logger.error({ position, err: (error as Error).message }, 'BALANCE MIRROR DROPPED: liabilities reports walk every user on the apply thread until restart');
    }
  }

  private liabilitiesReports(events: readonly Event[], position: number): void {
    for (const e of events) {
      if (e.type !== 'LiabilitiesReportRequested') continue;
      const engine = this.engine;
      const mirror = this.mirror;
      // A report that cannot be built is the report's failure, never the replica's: the engine's
      // state is sound, so applying goes on and operators are told.
      try {
        this.options.onLiabilitiesReport!(
          { reportId: e.reportId, blockNumber: e.blockNumber, position, requestSeq: e.seq, seq: engine.seq, ts: e.ts },
          () => (mirror !== undefined ? mirror.copy(e.reportId) : copyBalances(engine, e.reportId)),
        );
      } catch (error) {
        this.options.logger.error({ reportId: e.reportId, position, err: (error as Error).message }, 'LIABILITIES REPORT NOT STARTED');
      }
    }
  }

  /** Hashes the state at this record boundary, reports it, and snapshots it unless a write is under way. */
  private checkpoint(): void {
    let engineBytes: Uint8Array;
    try {
      engineBytes = snapshot(this.engine);
    } catch (e) {
      // Not fatal: every replica would fail here at once. Applying goes on; operators are told.
      this.options.logger.error({ err: (e as Error).message, position: this.appliedPosition }, 'CHECKPOINT FAILED: no state hash or snapshot at this position');
      return;
    }
    const checkpoint: Checkpoint = { position: this.appliedPosition, seq: this.engine.seq, stateHash: replicaHash(engineBytes, keysBytes(this.keys), guardBytes(this.guard)) };
    this.lastCheckpoint = checkpoint;
    this.options.onCheckpoint?.(checkpoint);
    if (this.snapshotting === undefined) void this.writeSnapshot(checkpoint, engineBytes, true);
  }

  /** Writes a snapshot of the state as of now (after any snapshot already being written). */
  async snapshotNow(): Promise<void> {
    while (this.snapshotting !== undefined) await this.snapshotting;
    if (this.lastSnapshot.position === this.appliedPosition && this.appliedPosition > 0) return;
    const engineBytes = snapshot(this.engine);
    await this.writeSnapshot({ position: this.appliedPosition, seq: this.engine.seq, stateHash: replicaHash(engineBytes, keysBytes(this.keys), guardBytes(this.guard)) }, engineBytes, false);
  }

  /**
   * The newest snapshot taken at a checkpoint, for a peer that fell behind the compacted log:
   * only there did every replica publish its hash, so the peer can check it.
   */
  async readCheckpointSnapshot(): Promise<SnapshotParts | undefined> {
    const position = this.lastCheckpointSnapshot.position;
    return position === 0 ? undefined : this.options.snapshots.read(position);
  }

  private writeSnapshot(checkpoint: Checkpoint, engineBytes: Uint8Array, atCheckpoint: boolean): Promise<void> {
    const parts: SnapshotParts = {
      ...checkpoint,
      checkpoint: atCheckpoint,
      engine: engineBytes,
      projections: Buffer.from(JSON.stringify(this.projections.toJSON())),
      keys: keysBytes(this.keys),
      guard: guardBytes(this.guard),
    };
    const { snapshots, log, logger, compactLog } = this.options;
    this.snapshotting = (async () => {
      try {
        await snapshots.write(parts);
        this.lastSnapshot = checkpoint;
        if (atCheckpoint) this.lastCheckpointSnapshot = checkpoint;
        const oldestKept = await snapshots.prune(this.lastCheckpointSnapshot.position);
        if (compactLog && oldestKept !== undefined) await log.dropBefore(oldestKept + 1);
        this.options.onSnapshot?.(checkpoint);
        logger.info(checkpoint, 'snapshot written');
      } catch (e) {
        logger.error({ err: (e as Error).message }, 'snapshot failed; the log still holds everything since the last one');
      } finally {
        this.snapshotting = undefined;
      }
    })();
    return this.snapshotting;
  }

  /** The state hash of the engine right now (walks the whole state: for checks, not hot paths). */
  stateHashNow(): string {
    return replicaStateHash(this.replicated);
  }

  /** Stops serving for good because this replica's state differs from its peers'. */
  diverge(reason: string): void {
    if (this.state === 'diverged' || this.state === 'failed') return;
    this.state = 'diverged';
    this.failure = reason;
    this.options.logger.fatal({ reason, position: this.appliedPosition }, 'REPLICA DIVERGED FROM ITS PEERS: it stops serving');
    void this.tailHandle?.stop().catch(() => undefined);
    this.answerWaiters(`replica diverged from its peers (${reason})`);
  }

  /**
   * Answers every waiting request at once when the replica stops applying. Their records may
   * already be in the log, where a restart (or another replica) applies them, so the answer is
   * "outcome unknown" (OKX 50004), never a failure: the client must check before it retries.
   */
  private answerWaiters(why: string): void {
    const waiting: ApplyWaiter[] = [];
    for (const byRid of this.waiters.values()) waiting.push(...byRid.values());
    this.waiters.clear();
    for (const waiter of waiting) waiter.stopped(new SubmitError('timeout', `${why}; outcome unknown`));
  }

  async stop(): Promise<void> {
    if (this.state === 'starting' || this.state === 'serving' || this.state === 'catching_up') this.state = 'stopped';
    await this.tailHandle?.stop().catch(() => undefined);
    // Nothing will apply their records here any more.
    this.answerWaiters('replica stopped');
    await this.snapshotting;
  }

  /** Stops applying for good on a broken invariant (also the submitter's, when the log lost records). */
  fail(error: Error): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.state = 'failed';
    this.failure = error.message;
    this.options.logger.fatal({ err: error.message, position: this.appliedPosition }, 'replica stopped: it will not apply further records');
    this.answerWaiters(`replica stopped: ${error.message}`);
    this.options.onFatal(error);
  }
}
