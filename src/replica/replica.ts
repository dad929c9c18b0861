// A replica: the engine driven by the command log. It restores the newest valid snapshot,
// replays the log after it, then applies every new record as it becomes durable, in order.
// Results of a record go back to the request that wrote it (matched by origin and request id);
// events go to the projections. Every N commands it writes a snapshot and a checkpoint
// (position, seq, state hash). A broken invariant stops it: continuing would spread a wrong state.

import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { Engine, restore, snapshot, type Event, type Result } from '../core/index.js';
import type { LogCommand } from '../gateway/port.js';
import type { CommandLog, LogRecord, TailHandle } from '../log/index.js';
import type { Projections } from '../projections/types.js';
import { decodeBatch } from './codec.js';
import { MemoryKeyStore } from './keys.js';
import type { SnapshotStore } from './snapshots.js';

export type ReplicaState = 'starting' | 'serving' | 'stopped' | 'failed';

export interface ReplicaOptions {
  readonly log: CommandLog;
  readonly snapshots: SnapshotStore;
  /** Write a snapshot after this many applied commands. */
  readonly snapshotEveryCommands: number;
  /** Drop log segments behind the oldest kept snapshot (false keeps the whole history). */
  readonly compactLog: boolean;
  readonly createProjections: (engine: Engine, saved: unknown) => Projections;
  readonly logger: Logger;
  /** Called once if the replica stops on a broken invariant or an unreadable record. */
  readonly onFatal: (error: Error) => void;
  /** Called after each applied record, for metrics and streams. */
  readonly onApplied?: (commands: number, events: readonly Event[]) => void;
}

export interface AppliedBatch {
  readonly position: number;
  readonly results: Result[];
}

export class Replica {
  engine = new Engine();
  projections: Projections;
  keys = new MemoryKeyStore();
  state: ReplicaState = 'starting';
  appliedPosition = 0;
  lastCheckpoint = { position: 0, seq: 0, stateHash: '' };

  private tailHandle: TailHandle | undefined;
  private readonly waiters = new Map<string, (applied: AppliedBatch) => void>();
  private readonly events: Event[] = [];
  private commandsSinceSnapshot = 0;
  private snapshotting: Promise<void> | undefined;

  constructor(private readonly options: ReplicaOptions) {
    this.projections = options.createProjections(this.engine, undefined);
  }

  /** Restores, replays up to the log's current end, and keeps applying new records. */
  async start(): Promise<void> {
    const { log, snapshots, logger } = this.options;
    await snapshots.init();
    for (const position of await snapshots.list()) {
      try {
        const parts = await snapshots.read(position);
        this.engine = restore(parts.engine);
        this.projections = this.options.createProjections(this.engine, JSON.parse(Buffer.from(parts.projections).toString('utf8')));
        this.keys = MemoryKeyStore.fromJSON(JSON.parse(Buffer.from(parts.keys).toString('utf8')) as []);
        this.appliedPosition = position;
        this.lastCheckpoint = { position, seq: parts.seq, stateHash: parts.stateHash };
        logger.info({ position, seq: parts.seq, stateHash: parts.stateHash }, 'restored snapshot');
        break;
      } catch (e) {
        logger.warn({ position, err: (e as Error).message }, 'snapshot unusable, trying an older one');
      }
    }
    const bounds = log.bounds();
    if (bounds.first > this.appliedPosition + 1 && bounds.last >= bounds.first) {
      throw new Error(
        `the log starts at position ${bounds.first} but the newest usable snapshot ends at ${this.appliedPosition}: `
        + 'records in between are gone. Restore a snapshot from a peer or a backup.',
      );
    }
    const target = bounds.last;
    const t0 = Date.now();
    let caughtUp!: () => void;
    const ready = new Promise<void>((resolve) => { caughtUp = resolve; });
    if (this.appliedPosition >= target) caughtUp();
    this.tailHandle = log.tail(this.appliedPosition + 1, (record) => {
      this.applyRecord(record);
      if (record.position === target) caughtUp();
    });
    this.tailHandle.ended.catch((e: unknown) => { this.fail(e as Error); });
    await ready;
    this.state = 'serving';
    logger.info({ position: this.appliedPosition, seq: this.engine.seq, replay_ms: Date.now() - t0 }, 'replica serving');
  }

  /** Registers interest in the results of the record (origin, rid) before it is appended. */
  expect(origin: string, rid: number): Promise<AppliedBatch> {
    return new Promise((resolve) => { this.waiters.set(`${origin}/${rid}`, resolve); });
  }

  forget(origin: string, rid: number): void {
    this.waiters.delete(`${origin}/${rid}`);
  }

  private applyRecord(record: LogRecord): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    // Positions only ever increase (the journal's are contiguous; etcd revisions have gaps).
    if (record.position <= this.appliedPosition) {
      this.fail(new Error(`log delivered position ${record.position} after ${this.appliedPosition}`));
      return;
    }
    try {
      const batch = decodeBatch(record.payload);
      const events = this.events;
      const applied: [key: string, results: Result[]][] = [];
      let commands = 0;
      for (const item of batch.items) {
        const results: Result[] = [];
        for (const cmd of item.cmds) results.push(this.applyCommand(cmd, batch.ts, events));
        applied.push([`${batch.origin}/${item.rid}`, results]);
        commands += item.cmds.length;
      }
      this.appliedPosition = record.position;
      this.projections.apply(events);
      this.options.onApplied?.(commands, events);
      events.length = 0;
      for (const [key, results] of applied) {
        const waiter = this.waiters.get(key);
        if (waiter !== undefined) {
          this.waiters.delete(key);
          waiter({ position: record.position, results });
        }
      }
      this.commandsSinceSnapshot += commands;
      if (this.commandsSinceSnapshot >= this.options.snapshotEveryCommands && this.snapshotting === undefined) {
        this.commandsSinceSnapshot = 0;
        void this.startSnapshot();
      }
    } catch (e) {
      this.fail(e as Error);
    }
  }

  private applyCommand(cmd: LogCommand, ts: number, events: Event[]): Result {
    if (cmd.type === 'CreateApiKey' || cmd.type === 'RevokeApiKey') return this.keys.apply(this.engine, cmd);
    return this.engine.apply(cmd, ts, events);
  }

  /** Writes a snapshot of the state as of now (after any snapshot already being written). */
  async snapshotNow(): Promise<void> {
    while (this.snapshotting !== undefined) await this.snapshotting;
    if (this.lastCheckpoint.position === this.appliedPosition && this.appliedPosition > 0) return;
    await this.startSnapshot();
  }

  /** Captures the state now (synchronously, between records) and writes it in the background. */
  private startSnapshot(): Promise<void> {
    if (this.snapshotting !== undefined) return this.snapshotting;
    const engineBytes = snapshot(this.engine);
    const parts = {
      position: this.appliedPosition,
      seq: this.engine.seq,
      stateHash: createHash('sha256').update(engineBytes).digest('hex'),
      engine: engineBytes,
      projections: Buffer.from(JSON.stringify(this.projections.toJSON())),
      keys: Buffer.from(JSON.stringify(this.keys.toJSON())),
    };
    const { snapshots, log, logger, compactLog } = this.options;
    this.snapshotting = (async () => {
      try {
        await snapshots.write(parts);
        this.lastCheckpoint = { position: parts.position, seq: parts.seq, stateHash: parts.stateHash };
        const oldestKept = await snapshots.prune();
        if (compactLog && oldestKept !== undefined) await log.dropBefore(oldestKept + 1);
        logger.info({ position: parts.position, seq: parts.seq, stateHash: parts.stateHash }, 'snapshot written');
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
    return createHash('sha256').update(snapshot(this.engine)).digest('hex');
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    if (this.state === 'serving') this.state = 'stopped';
    await this.tailHandle?.stop().catch(() => undefined);
    await this.snapshotting;
  }

  private fail(error: Error): void {
    if (this.state === 'failed') return;
    this.state = 'failed';
    this.options.logger.fatal({ err: error.message, position: this.appliedPosition }, 'replica stopped: it will not apply further records');
    this.waiters.clear();
    this.options.onFatal(error);
  }
}
