// Turns requests into durable, applied log records. Group commit, pipelined: up to
// recordsInFlightMax records are in the log's hands at once; submissions that arrive meanwhile
// fill the next record, which goes out as soon as a slot is free. A record therefore holds what
// arrived during one append's share of the window: one submission when the load is light, up to
// the record bounds under heavy load, so the record size follows the load. The log decides the
// order of records that are in flight together (the file journal keeps the order of the calls;
// etcd orders them by commit); a submission made after another was acknowledged always lands
// after it, and every request is answered only once its record is durable and applied.
// The number of submissions in flight is bounded: past the bound a request is refused as busy
// at once rather than queued. A log error that proves nothing was written (a refusal, a full
// disk) is a definite failure; any other failure after the append began is "outcome unknown",
// never "failed": the record may still be applied. Each record names this node's cloud, and a
// signed request's submission carries its signature digest, for the log guard (guard.ts).
// Each submission is serialised once, on arrival: those bytes size it and go into the record.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Result } from '../core/index.js';
import { SubmitError, type LogCommand } from './port.js';
import { LogError, type CommandLog } from '../log/index.js';
import { compressRecord, encodeRecord, encodeSubmission, RECORD_BYTES_MAX, RECORD_COMMANDS_MAX, recordEnvelopeBytes, type Submission } from './codec.js';
import type { GuardRefusal, SignedBy } from './guard.js';
import type { ApplyWaiter, Replica, SubmissionOutcome } from './replica.js';

export interface SubmitterOptions {
  /** Submissions queued, appended or waiting to be applied, at most. */
  readonly inFlightMax: number;
  /** How long a request waits for its record to be applied before answering "unknown". */
  readonly applyTimeoutMs: number;
  /**
   * A submission not in the log by this long after it arrived is refused when it gets there
   * (command_expired). Keep it below the clients' attempt timeout, so that a client that retries
   * elsewhere never sees its first attempt apply afterwards.
   */
  readonly commandTtlMs: number;
  readonly now: () => number;
  /** The cloud this node runs in, written into every record (the log guard bounds each cloud's clock). */
  readonly cloud: string;
  /** Told of every log error an append met, after it is classified (the node watches the journal's disk). */
  readonly onLogError?: (error: unknown) => void;
  /**
   * Told, after each append the log confirmed, when it was sent: the log reached its quorum at
   * or after that time (the cluster coordinator counts it as contact).
   */
  readonly onAppended?: (sentAtMs: number) => void;
  /** Records handed to the log and not yet answered, at most (default RECORDS_IN_FLIGHT_MAX). */
  readonly recordsInFlightMax?: number;
  /**
   * Store records of COMPRESS_FROM_BYTES or more compressed (codec.ts, compressRecord). Only
   * nodes that read compressed records may share the log (every version since they came).
   */
  readonly compressRecords?: boolean;
}

/**
 * Records this size or larger are compressed when compressRecords is set. Deflating a record of
 * a few orders (about 1.5 KB) costs 15 to 20 us and saves about 1.2 KB, each byte of which
 * etcd pays about 0.15 us for across three members (docs/PERFORMANCE.md); below this, a
 * record is mostly its envelope and does not shrink much.
 */
export const COMPRESS_FROM_BYTES = 512;

/**
 * Records in the log's hands at once. One etcd write takes a few milliseconds, most of it
 * waiting (consensus, fsync): with several in flight, the next record fills and goes out while
 * the previous ones are committed.
 */
export const RECORDS_IN_FLIGHT_MAX = 8;

/** Answered requests at the front of the waiting list are dropped once this many, and half of it. */
const WAITING_DEAD_PREFIX_MIN = 1_024;

/**
 * One request from submit() to its answer. It is queued, then written (appended), then applied;
 * it is answered once both the append and the apply are done, or at once when the append fails
 * or its deadline passes. The replica calls it when its record applies (ApplyWaiter), so a
 * request costs one promise and this object: no timer, closure or race of its own.
 */
class Pending implements ApplyWaiter {
  /** Settled: answered, and no longer counted in flight; one still queued then is never written. */
  settled = false;
  private appendDone = false;
  private outcome: SubmissionOutcome | undefined;
  private replicaError: SubmitError | undefined;

  constructor(
    private readonly submitter: Submitter,
    readonly rid: number,
    readonly commands: number,
    /** The submission's JSON, as the record carries it, and its size in bytes (with a separating comma). */
    readonly json: string,
    readonly bytes: number,
    /** performance.now() by which it is answered, "outcome unknown" at the latest. */
    readonly answerAtMs: number,
    private readonly resolve: (results: Result[]) => void,
    private readonly reject: (error: SubmitError) => void,
  ) {}

  /** Its record's append ended: with the error that answers it, or undefined once durable. */
  appended(error: SubmitError | undefined): void {
    if (this.settled) return;
    if (error !== undefined) {
      this.fail(error);
      return;
    }
    this.appendDone = true;
    if (this.outcome !== undefined) this.answer(this.outcome);
    else if (this.replicaError !== undefined) this.fail(this.replicaError);
  }

  applied(_position: number, outcome: SubmissionOutcome): void {
    if (this.settled) return;
    // Answered only once the append has returned as well, as a log that lost records is found
    // there (the replica then fails, and this request is answered "outcome unknown").
    if (this.appendDone) this.answer(outcome);
    else this.outcome = outcome;
  }

  stopped(error: SubmitError): void {
    if (this.settled) return;
    if (this.appendDone) this.fail(error);
    else this.replicaError = error;
  }

  /** The deadline passed: if it is still queued it is never written, so it can never apply. */
  expire(): void {
    this.fail(new SubmitError('timeout', 'not applied in time, outcome unknown'));
  }

  private answer(outcome: SubmissionOutcome): void {
    if ('refused' in outcome) {
      this.fail(guardRefusal(outcome.refused));
      return;
    }
    this.submitter.settle(this);
    this.resolve(outcome);
  }

  private fail(error: SubmitError): void {
    this.submitter.settle(this);
    this.reject(error);
  }
}

/**
 * How either log's append errors (the file journal's or etcd's) reach a request. Only errors
 * that prove nothing was written are clean failures: a refusal before writing (too many appends
 * waiting, an oversized append, a closed or already failed log) or a journal write that ran out
 * of space (the journal cut it back off before rejecting). Anything else, an etcd append it did
 * not confirm included, is "outcome unknown": the record may still be applied.
 */
export function classifyLogError(e: unknown): SubmitError {
  if (e instanceof LogError) {
    switch (e.code) {
      case 'busy': case 'append_too_large': case 'record_too_large':
        return new SubmitError('busy', e.message);
      case 'closed': case 'failed': case 'no_space':
        return new SubmitError('unavailable', e.message);
      default:
        break;
    }
  }
  return new SubmitError('timeout', `log append failed, outcome unknown: ${(e as Error).message}`);
}

/** What a request learns when the log guard refused its signed submission (nothing applied). */
function guardRefusal(refused: GuardRefusal): SubmitError {
  switch (refused) {
    case 'replayed': return new SubmitError('replayed', 'this signed request was already applied: sign a new request');
    case 'signature_expired': return new SubmitError('replayed', 'the request timestamp is too far behind the log\'s time: sign a new request');
    case 'signatures_full': return new SubmitError('busy', 'too many signed requests within the signature window');
    default: {
      const unknown: never = refused;
      throw new Error(`unknown guard refusal ${String(unknown)}`);
    }
  }
}

export class Submitter {
  readonly origin = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  private rid = 0;
  /** Requests not yet taken into a record, in arrival order. */
  private readonly queue: Pending[] = [];
  /**
   * Requests not yet answered, in arrival order, so by deadline (each waits the same bound); the
   * front up to waitingHead is answered already. One timer watches the oldest deadline.
   */
  private readonly waiting: (Pending | undefined)[] = [];
  private waitingHead = 0;
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly answerByMs: number;
  /** Records handed to the log and not yet answered. */
  private recordsInFlight = 0;
  private flushScheduled = false;
  private readonly recordsInFlightMax: number;
  inFlight = 0;
  /** Records written and submissions they carried, for metrics. */
  records = 0;
  submissions = 0;
  /** Bytes of those records as stored (compressed or not). */
  recordBytes = 0;
  /** This node's clock when it last wrote a record, submissions or heartbeat. */
  private lastWriteMs = Number.NEGATIVE_INFINITY;

  /** Record bytes left for submissions once the envelope (version, time, origin, cloud) is counted. */
  private readonly itemBytesMax: number;

  constructor(private readonly log: CommandLog, private readonly replica: Replica, private readonly options: SubmitterOptions) {
    this.itemBytesMax = RECORD_BYTES_MAX - recordEnvelopeBytes(this.origin, options.cloud);
    this.recordsInFlightMax = options.recordsInFlightMax ?? RECORDS_IN_FLIGHT_MAX;
    this.answerByMs = Math.min(options.applyTimeoutMs, options.commandTtlMs);
    if (!Number.isSafeInteger(this.recordsInFlightMax) || this.recordsInFlightMax < 1) throw new Error('recordsInFlightMax must be a positive integer');
  }

  /** Submits commands; `sig` (a signed request's digest and timestamp) makes a replay of the request refused. */
  submit(cmds: readonly LogCommand[], sig?: SignedBy): Promise<Result[]> {
    // Not an async function (that would be a second promise per request), but it still never
    // throws: every refusal, and anything encoding throws, is a rejected promise.
    try {
      return this.enqueue(cmds, sig);
    } catch (error: unknown) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private enqueue(cmds: readonly LogCommand[], sig: SignedBy | undefined): Promise<Result[]> {
    if (this.replica.state !== 'serving') throw new SubmitError('unavailable', `replica is ${this.replica.state}`);
    if (this.inFlight >= this.options.inFlightMax) throw new SubmitError('busy', 'too many requests in flight');
    if (cmds.length > RECORD_COMMANDS_MAX) throw new SubmitError('busy', `more than ${RECORD_COMMANDS_MAX} commands in one request`);
    const rid = ++this.rid;
    const deadline = this.options.now() + this.options.commandTtlMs;
    const item: Submission = sig === undefined ? { rid, deadline, cmds } : { rid, deadline, cmds, sig };
    const json = encodeSubmission(item);
    // One comma joins it to the submission before it in the record.
    const bytes = Buffer.byteLength(json) + 1;
    if (bytes > this.itemBytesMax) throw new SubmitError('busy', 'request too large for one log record');
    // One bound on the whole wait, append and apply: a request in flight when the log stops
    // answering (this cloud cut off) is answered "outcome unknown" by its deadline at the
    // latest, so that its client fails over at once. (Past the deadline the log's time refuses
    // the submission should its record still land.)
    const answerAtMs = performance.now() + this.answerByMs;
    return new Promise<Result[]>((resolve, reject) => {
      const pending = new Pending(this, rid, cmds.length, json, bytes, answerAtMs, resolve, reject);
      this.replica.register(this.origin, rid, pending);
      this.inFlight += 1;
      this.waiting.push(pending);
      this.queue.push(pending);
      this.scheduleFlush();
      if (this.sweepTimer === undefined) this.armSweep(answerAtMs);
    });
  }

  /** A request was answered: it leaves the replica's waiters and the count in flight. */
  settle(pending: Pending): void {
    pending.settled = true;
    this.replica.forget(this.origin, pending.rid);
    this.inFlight -= 1;
    // Requests are mostly answered in the order they came, so the oldest is usually this one.
    const waiting = this.waiting;
    while (this.waitingHead < waiting.length && waiting[this.waitingHead]!.settled) waiting[this.waitingHead++] = undefined;
    if (this.waitingHead === waiting.length) {
      waiting.length = 0;
      this.waitingHead = 0;
      if (this.sweepTimer !== undefined) {
        clearTimeout(this.sweepTimer);
        this.sweepTimer = undefined;
      }
    } else if (this.waitingHead >= WAITING_DEAD_PREFIX_MIN && this.waitingHead * 2 >= waiting.length) {
      waiting.splice(0, this.waitingHead);
      this.waitingHead = 0;
    }
  }

  /** One timer for every request's deadline: it fires when the oldest request's is due. */
  private armSweep(atMs: number): void {
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweep();
    }, Math.max(1, Math.ceil(atMs - performance.now())));
  }

  /** Answers "outcome unknown" every request whose deadline has passed, oldest first. */
  private sweep(): void {
    const now = performance.now();
    for (;;) {
      const oldest = this.waiting[this.waitingHead];
      if (oldest === undefined) return;
      if (oldest.answerAtMs > now) break;
      // Settling it drops it (and every settled request behind it) from the front.
      if (oldest.settled) this.waitingHead += 1;
      else oldest.expire();
    }
    if (this.sweepTimer === undefined) this.armSweep(this.waiting[this.waitingHead]!.answerAtMs);
  }

  /**
   * Writes a record with no submissions (this cloud and its time only) unless this node wrote one
   * within `idleMs`. The log guard bounds a fast cloud's clock only by the clouds that wrote
   * within CLOCK_PEERS_WINDOW_MS, so a cluster node keeps writing while it has nothing to say:
   * then a cloud that was idle is still counted, and its first commands after a quiet spell are
   * not aged into command_expired by another cloud's fast clock. Resolves whether it wrote one;
   * a log error is the caller's to log (nothing waits on a heartbeat).
   */
  async heartbeat(idleMs: number): Promise<boolean> {
    const now = this.options.now();
    if (this.recordsInFlight > 0 || this.queue.length > 0 || this.replica.state !== 'serving' || now - this.lastWriteMs < idleMs) return false;
    this.lastWriteMs = now;
    const sentAtMs = Date.now();
    await this.log.append([encodeRecord({ ts: now, origin: this.origin, cloud: this.options.cloud }, [])]);
    this.options.onAppended?.(sentAtMs);
    return true;
  }

  /**
   * Sends what is queued at the end of this turn of the event loop, so that submissions arriving
   * together share a record, if a slot in the window is free (else a finishing append calls it).
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.recordsInFlight >= this.recordsInFlightMax) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Hands records to the log, each as full as the bounds allow, while the window has room. */
  private flush(): void {
    // A request whose deadline passed while it waited (the sweep's timer may run late when the
    // loop is busy) is answered now and never written.
    const now = performance.now();
    while (this.queue.length > 0 && this.recordsInFlight < this.recordsInFlightMax) {
      const group: Pending[] = [];
      let bytes = 0;
      let commands = 0;
      let taken = 0;
      for (; taken < this.queue.length; taken++) {
        const next = this.queue[taken]!;
        if (next.settled) continue;
        if (next.answerAtMs <= now) {
          next.expire();
          continue;
        }
        if (group.length > 0 && (bytes + next.bytes > this.itemBytesMax || commands + next.commands > RECORD_COMMANDS_MAX)) break;
        group.push(next);
        bytes += next.bytes;
        commands += next.commands;
      }
      // One splice per record: shifting a long queue one by one costs its length each time.
      this.queue.splice(0, taken);
      if (group.length === 0) continue;
      this.recordsInFlight += 1;
      void this.appendGroup(group).finally(() => {
        this.recordsInFlight -= 1;
        if (this.queue.length > 0) this.scheduleFlush();
      });
    }
  }

  /** Appends one record and tells its submissions how that went; never rejects. */
  private async appendGroup(group: readonly Pending[]): Promise<void> {
    let error: SubmitError | undefined;
    try {
      // Positions only grow, so a new record lands past whatever was applied before it was
      // written. (Not past what is applied when the append returns: the replica may already
      // have applied this very record, as it does with etcd when the watch is quicker.)
      const appliedBefore = this.replica.appliedPosition;
      const header = { ts: this.options.now(), origin: this.origin, cloud: this.options.cloud };
      const sentAtMs = Date.now();
      const jsons = new Array<string>(group.length);
      for (let i = 0; i < group.length; i++) jsons[i] = group[i]!.json;
      const json = encodeRecord(header, jsons);
      const record = this.options.compressRecords === true && json.byteLength >= COMPRESS_FROM_BYTES ? compressRecord(json) : json;
      const position = await this.log.append([record]);
      this.records += 1;
      this.recordBytes += record.byteLength;
      this.submissions += group.length;
      if (header.ts > this.lastWriteMs) this.lastWriteMs = header.ts;
      this.options.onAppended?.(sentAtMs);
      // A log that hands out a position the replica had already applied lost records (a
      // restored or wiped log): this record would never be applied here. Stop rather than go
      // on; the replica answers the waiting requests "outcome unknown".
      if (position <= appliedBefore) {
        this.replica.fail(new Error(`the log stored a record at position ${position}, but this replica had already applied up to ${appliedBefore}: the log lost records`));
      }
    } catch (e) {
      error = classifyLogError(e);
      this.options.onLogError?.(e);
    }
    for (const pending of group) pending.appended(error);
  }
}
