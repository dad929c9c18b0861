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
import { encodeRecord, encodeSubmission, RECORD_BYTES_MAX, RECORD_COMMANDS_MAX, recordEnvelopeBytes, type Submission } from './codec.js';
import type { GuardRefusal, SignedBy } from './guard.js';
import type { Replica } from './replica.js';

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
}

/**
 * Records in the log's hands at once. One etcd write takes a few milliseconds, most of it
 * waiting (consensus, fsync): with several in flight, the next record fills and goes out while
 * the previous ones are committed.
 */
export const RECORDS_IN_FLIGHT_MAX = 8;

interface Queued {
  readonly item: Submission;
  /** The submission's JSON, as the record carries it, and its size in bytes (with a separating comma). */
  readonly json: string;
  readonly bytes: number;
  readonly appended: (error: SubmitError | undefined) => void;
  /** Its request was already answered "outcome unknown" (deadline passed): it is not written. */
  abandoned: boolean;
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
  private readonly queue: Queued[] = [];
  /** Records handed to the log and not yet answered. */
  private recordsInFlight = 0;
  private flushScheduled = false;
  private readonly recordsInFlightMax: number;
  inFlight = 0;
  /** Records written and submissions they carried, for metrics. */
  records = 0;
  submissions = 0;
  /** This node's clock when it last wrote a record, submissions or heartbeat. */
  private lastWriteMs = Number.NEGATIVE_INFINITY;

  /** Record bytes left for submissions once the envelope (version, time, origin, cloud) is counted. */
  private readonly itemBytesMax: number;

  constructor(private readonly log: CommandLog, private readonly replica: Replica, private readonly options: SubmitterOptions) {
    this.itemBytesMax = RECORD_BYTES_MAX - recordEnvelopeBytes(this.origin, options.cloud);
    this.recordsInFlightMax = options.recordsInFlightMax ?? RECORDS_IN_FLIGHT_MAX;
    if (!Number.isSafeInteger(this.recordsInFlightMax) || this.recordsInFlightMax < 1) throw new Error('recordsInFlightMax must be a positive integer');
  }

  /** Submits commands; `sig` (a signed request's digest and timestamp) makes a replay of the request refused. */
  async submit(cmds: readonly LogCommand[], sig?: SignedBy): Promise<Result[]> {
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
    const applied = this.replica.expect(this.origin, rid);
    // The replica may reject it (it stopped) while the append is still pending; that rejection is
    // read below, after the append, so mark it handled now.
    applied.catch(() => undefined);
    this.inFlight += 1;
    let timer: NodeJS.Timeout | undefined;
    try {
      // One bound on the whole wait, append and apply: a request in flight when the log stops
      // answering (this cloud cut off) is answered "outcome unknown" by its deadline at the
      // latest, so that its client fails over at once. (Past the deadline the log's time refuses
      // the submission should its record still land.)
      const answerByMs = Math.min(this.options.applyTimeoutMs, this.options.commandTtlMs);
      let queued: Queued | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // If it is still queued, it is never written, so it can never apply.
          if (queued !== undefined) queued.abandoned = true;
          reject(new SubmitError('timeout', 'not applied in time, outcome unknown'));
        }, answerByMs);
      });
      const appended = new Promise<SubmitError | undefined>((resolve) => {
        queued = { item, json, bytes, appended: resolve, abandoned: false };
        this.queue.push(queued);
        this.scheduleFlush();
      });
      const appendError = await Promise.race([appended, timeout]);
      if (appendError !== undefined) throw appendError;
      const { outcome } = await Promise.race([applied, timeout]);
      if ('refused' in outcome) throw guardRefusal(outcome.refused);
      return outcome;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.replica.forget(this.origin, rid);
      this.inFlight -= 1;
    }
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
    while (this.queue.length > 0 && this.recordsInFlight < this.recordsInFlightMax) {
      const group: Queued[] = [];
      let bytes = 0;
      let commands = 0;
      let taken = 0;
      for (; taken < this.queue.length; taken++) {
        const next = this.queue[taken]!;
        if (next.abandoned) continue;
        if (group.length > 0 && (bytes + next.bytes > this.itemBytesMax || commands + next.item.cmds.length > RECORD_COMMANDS_MAX)) break;
        group.push(next);
        bytes += next.bytes;
        commands += next.item.cmds.length;
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
  private async appendGroup(group: readonly Queued[]): Promise<void> {
    let error: SubmitError | undefined;
    try {
      // Positions only grow, so a new record lands past whatever was applied before it was
      // written. (Not past what is applied when the append returns: the replica may already
      // have applied this very record, as it does with etcd when the watch is quicker.)
      const appliedBefore = this.replica.appliedPosition;
      const header = { ts: this.options.now(), origin: this.origin, cloud: this.options.cloud };
      const sentAtMs = Date.now();
      const position = await this.log.append([encodeRecord(header, group.map((q) => q.json))]);
      this.records += 1;
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
    for (const q of group) q.appended(error);
  }
}
