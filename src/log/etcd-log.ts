// The multicloud command log: one etcd cluster with a voting member per cloud. Each append is one
// create-only transaction on a key unique to this process and append (`<prefix>/log/<writerId>/
// <seq>`), so a retry after a timeout can never store a record twice; the etcd revision of that
// write is the record's position. Positions therefore increase strictly but have gaps (every other
// etcd write takes a revision too). A tail pages through the stored records in revision order,
// then watches the prefix from the revision after the last page, and starts over from the next
// undelivered position whenever the watch breaks, so it neither skips nor repeats a record.
//
// Use one etcd cluster per log: dropBefore compacts etcd's whole history, not only this prefix.

import assert from 'node:assert/strict';
import { castGrpcError, type IKeyValue, type IRangeResponse } from 'etcd3';
import type { CommandLog, LogBounds, LogRecord, RecordHandler, TailHandle } from './command-log.js';
import {
  checkKeyPart,
  isCompactedError,
  isTransient,
  LogEtcdClient,
  LogKeys,
  rangeEnd,
  revisionOf,
  WatchInterrupted,
  writeOnce,
  type WatchStream,
  type Written,
} from './etcd-client.js';
import { LogError, LogCompactedError } from './errors.js';

const kibibyte = 1024;
const mebibyte = 1024 * kibibyte;

/** etcd's default --max-request-bytes. */
const etcdRequestBytesDefault = 1.5 * mebibyte;
/** Room in one request for the key (twice: compare and put), the transaction and gRPC framing. */
const requestHeadroomBytes = 64 * kibibyte;
/** gRPC refuses messages over 2 GiB - 1; the receive bound must stay under it. */
const grpcMessageBytesMax = 2 ** 31 - 1;
const prefixLengthMax = 128;
const writerIdLengthMax = 64;
const kvKeyLengthMax = 256;
/** An append is hedged after this many times the recent mean append latency (within bounds). */
const hedgeLatencyFactor = 3;

export interface EtcdLogOptions {
  /** Client URLs of the etcd members, one per cloud, e.g. `http://10.1.0.5:2379`. */
  readonly hosts: readonly string[];
  /** Key prefix of this log, e.g. `everbook/main`. Records live under `<prefix>/log/`. */
  readonly prefix: string;
  /**
   * Unique to the appending process (a gateway name plus a boot id, say). A process that reopens
   * with the same id continues after its highest stored sequence number; two live processes with
   * one id make appends fail with writer_conflict.
   */
  readonly writerId: string;
  /** Must equal etcd's --max-request-bytes. */
  readonly etcdRequestBytesMax?: number;
  /** Largest payload of one append; at most etcdRequestBytesMax minus 64 KiB of headroom. */
  readonly recordBytesMax?: number;
  /** Deadline of each unary call to etcd. Streams (watches) have none. */
  readonly callDeadlineMs?: number;
  /**
   * Total time one operation keeps retrying after transient failures (a member down, no leader,
   * a timeout). An append still unconfirmed after it rejects with outcome_unknown; other
   * operations reject with unavailable. One call's deadline may run past it.
   */
  readonly retryMsMax?: number;
  readonly retryBackoffMsMin?: number;
  readonly retryBackoffMsMax?: number;
  /** Appends waiting for etcd at once; beyond it append rejects as busy. */
  readonly appendsInFlightMax?: number;
  /**
   * An append unanswered after a few times the recent append latency, but at least hedgeAfterMsMin
   * and at most hedgeAfterMsMax, is sent again (the same create-only write), and again after each
   * such delay, with at most hedgeAttemptsMax attempts out at once for one append.
   */
  readonly hedgeAfterMsMin?: number;
  readonly hedgeAfterMsMax?: number;
  readonly hedgeAttemptsMax?: number;
  /** Hedge attempts out at once over all appends: the most extra work hedging adds to etcd. */
  readonly hedgesInFlightMax?: number;
  /** Records one read() returns at most, and one page of a tail's catch-up. */
  readonly readPageRecordsMax?: number;
  /** A tail that has had no answer from etcd for this long ends with unavailable. */
  readonly tailUnavailableMsMax?: number;
  /** Keys deleted per transaction by dropBefore; under etcd's --max-txn-ops (128 by default). */
  readonly deleteBatchKeysMax?: number;
  /** Keys one getJsonPrefix() may return. */
  readonly kvPrefixKeysMax?: number;
  /** Largest JSON value putJson() stores. */
  readonly kvValueBytesMax?: number;
}

export const etcdLogDefaults = {
  etcdRequestBytesMax: etcdRequestBytesDefault,
  recordBytesMax: etcdRequestBytesDefault - requestHeadroomBytes,
  callDeadlineMs: 1_500,
  retryMsMax: 10_000,
  retryBackoffMsMin: 25,
  retryBackoffMsMax: 500,
  appendsInFlightMax: 256,
  hedgeAfterMsMin: 50,
  hedgeAfterMsMax: 250,
  // With a 1 s call deadline and hedges 50-250 ms apart, attempts stuck on a dead leader never
  // use up an append's allowance before the new leader is there.
  hedgeAttemptsMax: 24,
  hedgesInFlightMax: 64,
  readPageRecordsMax: 64,
  tailUnavailableMsMax: 60_000,
  deleteBatchKeysMax: 100,
  kvPrefixKeysMax: 1024,
  kvValueBytesMax: 64 * kibibyte,
} as const satisfies Required<Omit<EtcdLogOptions, 'hosts' | 'prefix' | 'writerId'>>;

type Limits = { readonly [Key in keyof typeof etcdLogDefaults]: number };

/** A JSON value stored with putJson, as getJsonPrefix returns it. */
export interface JsonEntry {
  /** The key relative to the log's prefix, e.g. `replicas/cloud-a`. */
  readonly key: string;
  readonly value: unknown;
  /** The etcd revision of the put that stored this value. */
  readonly modRevision: number;
}

export interface EtcdLogStats {
  readonly appendsStored: number;
  /** Attempts beyond an append's first, after a timeout or an unreachable member. */
  readonly appendRetries: number;
  /** Retries that found the record already stored by an earlier attempt of the same append. */
  readonly appendsFoundStored: number;
  readonly appendsOutcomeUnknown: number;
  /** Times a tail's read or watch failed and the tail resumed from its next position. */
  readonly tailResumes: number;
}

interface ActiveTail {
  stopped: boolean;
  /** Set while the tail sleeps before a retry. */
  wake: (() => void) | null;
  /** Set while the tail reads a watch stream; cancelling it ends the read. */
  stream: WatchStream | null;
}

interface Page {
  readonly records: LogRecord[];
  /** More records follow the page at the read's revision. */
  readonly more: boolean;
  /** The etcd revision the page was read at: every record up to it is in this page or before it. */
  readonly revision: number;
}

/** Carries a tail handler's own failure past the retry logic, which must not retry it. */
class HandlerFailed extends Error {
  override readonly name: string = 'HandlerFailed';
}

export class EtcdLog implements CommandLog {
  readonly writerId: string;
  readonly #client: LogEtcdClient;
  readonly #keys: LogKeys;
  readonly #limits: Limits;

  #nextSeq: number;
  /** etcd's history is compacted through this revision (0: never), so reads from above it are complete. */
  #compactedThrough: number;
  /** Highest record position this instance has stored or seen; 0 when none. */
  #last: number;
  /** Highest etcd revision any answer has shown; never above the cluster's current revision. */
  #revisionSeen: number;
  /** Recent mean time an append took to answer, for the hedge delay. */
  #appendLatencyMs = 0;
  /** Hedge attempts out now, over every append (bounded by hedgesInFlightMax). */
  #hedgesOutstanding = 0;
  /** The appends waiting for etcd: each one's "hedge now if you have waited a while". */
  readonly #pending = new Set<() => void>();

  readonly #appends = new Set<Promise<number>>();
  readonly #tails = new Map<ActiveTail, Promise<void>>();
  #closeRequested = false;
  #closed: Promise<void> | null = null;
  readonly #stats = { appendsStored: 0, appendRetries: 0, appendsFoundStored: 0, appendsOutcomeUnknown: 0, tailResumes: 0 };

  private constructor(client: LogEtcdClient, keys: LogKeys, limits: Limits, writerId: string, start: {
    nextSeq: number; compactedThrough: number; last: number; revision: number;
  }) {
    this.#client = client;
    this.#keys = keys;
    this.#limits = limits;
    this.writerId = writerId;
    this.#nextSeq = start.nextSeq;
    this.#compactedThrough = start.compactedThrough;
    this.#last = start.last;
    this.#revisionSeen = start.revision;
  }

  /**
   * Connects and reads, in one transaction, the last stored record and this writer's highest
   * sequence number, then how far etcd is compacted. Rejects with unavailable if etcd does not
   * answer within retryMsMax.
   */
  static async open(options: EtcdLogOptions): Promise<EtcdLog> {
    const limits = resolveLimits(options);
    checkKeyPart('prefix', options.prefix, prefixLengthMax);
    checkKeyPart('writerId', options.writerId, writerIdLengthMax);
    assert(!options.writerId.includes('/'), 'writerId has no slash');
    assert(options.hosts.length >= 1, 'at least one etcd host');
    const client = new LogEtcdClient({
      hosts: options.hosts,
      callDeadlineMs: limits.callDeadlineMs,
      retryBackoffMsMin: limits.retryBackoffMsMin,
      // A full page of the largest records, plus their keys and framing.
      receiveBytesMax: limits.readPageRecordsMax * (limits.recordBytesMax + kibibyte) + mebibyte,
    });
    try {
      const keys = new LogKeys(options.prefix, options.writerId);
      const keysOnly = { keys_only: true, limit: 1 } as const;
      const response = await withRetries(limits, () => client.kv.txn({
        success: [
          { request_range: { key: keys.logPrefix, range_end: keys.logRangeEnd, sort_target: 'Mod', sort_order: 'Descend', ...keysOnly } },
          { request_range: { key: keys.writerPrefix, range_end: keys.writerRangeEnd, sort_target: 'Key', sort_order: 'Descend', ...keysOnly } },
        ],
      }));
      const [last, ownLast] = response.responses.map((op) => op.response_range.kvs[0]);
      const log = new EtcdLog(client, keys, limits, options.writerId, {
        nextSeq: ownLast === undefined ? 1 : keys.seqOf(ownLast.key) + 1,
        compactedThrough: 0,
        last: last === undefined ? 0 : revisionOf(last.mod_revision),
        revision: revisionOf(response.header.revision),
      });
      await log.#learnCompaction();
      return log;
    } catch (error: unknown) {
      client.close();
      throw error;
    }
  }

  /**
   * Stores exactly one payload and resolves with its position once etcd has committed it (on a
   * quorum, fsynced). Concurrent appends are ordered by commit, not by call: await one append
   * before the next when their order matters. Rejects with outcome_unknown when etcd could not
   * confirm the write within retryMsMax: the record may still be stored.
   */
  append(payloads: readonly Uint8Array[]): Promise<number> {
    const refusal = this.#refuseAppend(payloads);
    if (refusal !== null) return Promise.reject(refusal);
    const key = this.#keys.record(this.#nextSeq);
    this.#nextSeq += 1;
    // A copy: retries resend it, and the caller may reuse its buffer once append returns.
    const value = Buffer.from(payloads[0]!);
    const stored = this.#store(key, value).then((position) => {
      this.#noteRecord(position);
      return position;
    });
    this.#appends.add(stored);
    const forget = (): void => { this.#appends.delete(stored); };
    stored.then(forget, forget);
    return stored;
  }

  /** The reason an append cannot be accepted, checked in a fixed order; null to accept it. */
  #refuseAppend(payloads: readonly Uint8Array[]): LogError | null {
    const limits = this.#limits;
    if (this.#closeRequested) return new LogError('closed');
    if (payloads.length === 0) return new LogError('append_empty');
    if (payloads.length > 1) return new LogError('append_multiple', `${payloads.length} payloads`);
    const bytes = payloads[0]!.byteLength;
    if (bytes > limits.recordBytesMax) {
      return new LogError('record_too_large', `${bytes} bytes, recordBytesMax is ${limits.recordBytesMax}`);
    }
    if (this.#appends.size >= limits.appendsInFlightMax) {
      return new LogError('busy', `${this.#appends.size} appends await etcd; appendsInFlightMax is ${limits.appendsInFlightMax}`);
    }
    return null;
  }

  /**
   * Writes the key create-only until one attempt answers. An attempt still unanswered after the
   * hedge delay is joined by another identical one (a hedge), and again after each further
   * delay: when the leader dies, the writes this member forwarded to it get no answer until their
   * deadline, and a hedge is what reaches the new leader. As soon as any append of this log is
   * answered, every other append already past its hedge delay is hedged at once: the cluster has
   * a leader again, so follow it now rather than at the next tick. Attempts are
   * bounded per append (hedgeAttemptsMax) and over the whole log (hedgesInFlightMax). The key is
   * create-only, so however many attempts commit, one record is stored; the others find it and
   * answer with its revision. A failed attempt is repeated after a backoff. Everything stops
   * after retryMsMax.
   */
  #store(key: Buffer, value: Buffer): Promise<number> {
    const limits = this.#limits;
    const stats = this.#stats;
    const startedAt = Date.now();
    const hedgeAfterMs = this.#hedgeAfterMs();
    return new Promise<number>((resolve, reject) => {
      let attempts = 0;
      let outstanding = 0;
      let settled = false;
      let backoffMs = limits.retryBackoffMsMin;
      let lastError: unknown = null;
      /** An attempt failed in a way repeating cannot fix: no new attempts. */
      let definite = false;
      let timer: NodeJS.Timeout | undefined;
      let launchedAt = startedAt;

      const finish = (error: unknown, written: Written | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#pending.delete(kick);
        if (written !== null) {
          stats.appendsStored += 1;
          if (written.existed) stats.appendsFoundStored += 1;
          this.#noteAppendLatency(Date.now() - startedAt);
          resolve(written.revision);
          // The cluster answers: whoever has waited a while, try again now.
          for (const other of [...this.#pending]) other();
          return;
        }
        if (error instanceof LogError && error.code === 'writer_conflict') {
          reject(error);
          return;
        }
        // Any transient failure may have been a write that etcd committed but could not confirm.
        const uncertain = attempts > 1 || isTransient(error);
        if (uncertain) stats.appendsOutcomeUnknown += 1;
        const detail = `${key.toString()} after ${attempts} attempts in ${Date.now() - startedAt} ms: ${messageOf(error)}`;
        reject(new LogError(uncertain ? 'outcome_unknown' : 'rejected', detail, { cause: error }));
      };

      const timeLeft = (): boolean => Date.now() - startedAt < limits.retryMsMax;
      const mayHedge = (): boolean => !settled && !definite && timeLeft()
        && outstanding < limits.hedgeAttemptsMax && this.#hedgesOutstanding < limits.hedgesInFlightMax;

      // Arms the one timer: the next hedge while attempts are out, the next retry when none is.
      const arm = (delayMs: number): void => {
        clearTimeout(timer);
        const leftMs = limits.retryMsMax - (Date.now() - startedAt);
        if (leftMs <= 0 || delayMs > leftMs) {
          if (outstanding === 0) finish(lastError ?? new LogError('unavailable', 'no attempt left'), null);
          return;
        }
        timer = setTimeout(() => {
          if (settled) return;
          if (outstanding === 0 || mayHedge()) launch();
          else arm(hedgeAfterMs);
        }, delayMs);
      };

      const launch = (): void => {
        launchedAt = Date.now();
        attempts += 1;
        const hedge = outstanding > 0;
        outstanding += 1;
        if (hedge) this.#hedgesOutstanding += 1;
        if (attempts > 1) stats.appendRetries += 1;
        const done = (): void => {
          outstanding -= 1;
          if (hedge) this.#hedgesOutstanding -= 1;
        };
        writeOnce(this.#client, key, value).then((written) => {
          done();
          finish(null, written);
        }, (error: unknown) => {
          done();
          if (settled) return;
          if (!isTransient(error)) {
            // No more attempts: repeating cannot help. A hedge still out may yet answer.
            lastError = error;
            definite = true;
            clearTimeout(timer);
            if (outstanding === 0 || (error instanceof LogError && error.code === 'writer_conflict')) finish(error, null);
            return;
          }
          if (definite) {
            if (outstanding === 0) finish(lastError, null);
            return;
          }
          lastError = error;
          if (outstanding === 0) {
            arm(backoffMs);
            backoffMs = Math.min(2 * backoffMs, limits.retryBackoffMsMax);
          }
        });
        arm(hedgeAfterMs);
      };

      /**
       * Another append was just answered: hedge now if this one is late (waited its hedge delay)
       * and its newest attempt is not itself fresh.
       */
      const kick = (): void => {
        const now = Date.now();
        if (now - startedAt >= hedgeAfterMs && now - launchedAt >= limits.hedgeAfterMsMin && outstanding > 0 && mayHedge()) launch();
      };

      this.#pending.add(kick);
      launch();
    });
  }

  /**
   * How long an append may go unanswered before it is hedged: a few times the recent append
   * latency (so a loaded but healthy cluster is not sent every write twice), within bounds.
   */
  #hedgeAfterMs(): number {
    const limits = this.#limits;
    return Math.min(limits.hedgeAfterMsMax, Math.max(limits.hedgeAfterMsMin, Math.round(hedgeLatencyFactor * this.#appendLatencyMs)));
  }

  #noteAppendLatency(ms: number): void {
    // An exponentially weighted mean over about the last ten appends.
    this.#appendLatencyMs += (ms - this.#appendLatencyMs) / 10;
  }

  /**
   * Reads stored records from `from` on, at most min(maxRecords, readPageRecordsMax). Rejects
   * with LogCompactedError (code compacted) when records from `from` on may have been dropped.
   */
  async read(from: number, maxRecords: number): Promise<LogRecord[]> {
    assert(Number.isSafeInteger(from) && from >= 1, 'read from a position >= 1');
    assert(Number.isSafeInteger(maxRecords) && maxRecords >= 1, 'read at least one record');
    if (this.#closeRequested) throw new LogError('closed');
    const page = await withRetries(this.#limits, () => this.#readPage(from, Math.min(maxRecords, this.#limits.readPageRecordsMax)));
    return page.records;
  }

  /**
   * One page of records from `from` on, in position order, read in one transaction together
   * with a read at revision from-1 that fails if etcd has compacted past it. dropBefore compacts
   * before it deletes, so a page that passes the check has lost no record at or after `from`.
   */
  async #readPage(from: number, limit: number): Promise<Page> {
    const { logPrefix: key, logRangeEnd: range_end } = this.#keys;
    // Revision 0 would mean "now", and a revision the cluster has not reached is refused.
    const checkRevision = Math.max(1, Math.min(from - 1, this.#revisionSeen));
    let response;
    try {
      response = await this.#client.kv.txn({
        success: [
          { request_range: { key, range_end, revision: checkRevision, count_only: true } },
          { request_range: { key, range_end, min_mod_revision: from, sort_target: 'Mod', sort_order: 'Ascend', limit } },
        ],
      });
    } catch (error: unknown) {
      if (isCompactedError(error)) throw new LogCompactedError(from, await this.#compactedRevision());
      throw error;
    }
    const revision = this.#noteRevision(response.header.revision);
    const range: IRangeResponse | undefined = response.responses[1]?.response_range;
    assert(range !== undefined, 'the transaction answers both reads');
    let previous = from - 1;
    const records = range.kvs.map((kv) => {
      const record = this.#toRecord(kv);
      if (record.position <= previous) {
        throw new LogError('foreign_record', `${kv.key.toString()} at revision ${record.position} after ${previous}`);
      }
      previous = record.position;
      return record;
    });
    return { records, more: range.more, revision };
  }

  /** A stored key-value as a record; refuses keys this log's appends cannot have written. */
  #toRecord(kv: IKeyValue): LogRecord {
    if (!this.#keys.isRecordKey(kv.key) || kv.create_revision !== kv.mod_revision || kv.version !== '1') {
      throw new LogError('foreign_record',
        `${kv.key.toString()}: version ${kv.version}, created at ${kv.create_revision}, modified at ${kv.mod_revision}`);
    }
    const position = revisionOf(kv.mod_revision);
    this.#noteRecord(position);
    // A copy, so that a kept record does not pin the whole gRPC message in memory.
    return { position, payload: new Uint8Array(kv.value) };
  }

  tail(from: number, onRecord: RecordHandler): TailHandle {
    assert(Number.isSafeInteger(from) && from >= 1, 'tail from a position >= 1');
    const tail: ActiveTail = { stopped: false, wake: null, stream: null };
    const ended = this.#runTail(tail, from, onRecord).finally(() => this.#tails.delete(tail));
    this.#tails.set(tail, ended);
    return {
      ended,
      stop: () => {
        endTail(tail);
        return ended;
      },
    };
  }

  async #runTail(tail: ActiveTail, from: number, onRecord: RecordHandler): Promise<void> {
    /** The lowest position not yet delivered: the tail's whole state, kept across reconnects. */
    let next = from;
    let answeredAt = Date.now();
    let backoffMs = this.#limits.retryBackoffMsMin;
    const ending = (): boolean => this.#ending(tail);
    const answered = (): void => {
      answeredAt = Date.now();
      backoffMs = this.#limits.retryBackoffMsMin;
    };
    const deliver = async (record: LogRecord): Promise<void> => {
      if (ending()) return;
      // Pages and watches both start at `next`, so an earlier position can only be a second
      // record at one revision: a transaction no append of this log writes.
      if (record.position < next) {
        throw new LogError('foreign_record', `a second record at revision ${record.position}; the next expected is ${next}`);
      }
      try {
        await onRecord(record);
      } catch (error: unknown) {
        throw new HandlerFailed('the tail handler failed', { cause: error });
      }
      next = record.position + 1;
    };

    while (!ending()) {
      try {
        // 1. Catch up on stored records, a page at a time.
        const page = await this.#readPage(next, this.#limits.readPageRecordsMax);
        answered();
        for (const record of page.records) await deliver(record);
        if (page.more) continue;
        // 2. Every record up to page.revision is delivered: watch from the revision after it.
        next = Math.max(next, page.revision + 1);
        await this.#watch(tail, next, deliver, answered);
      } catch (error: unknown) {
        if (error instanceof HandlerFailed) throw error.cause;
        if (ending()) return;
        if (error instanceof LogCompactedError && error.position !== next) throw new LogCompactedError(next, error.compactedRevision);
        if (!isTransient(error)) throw error;
        const silentMs = Date.now() - answeredAt;
        if (silentMs > this.#limits.tailUnavailableMsMax) {
          throw new LogError('unavailable', `no answer from etcd for ${silentMs} ms: ${messageOf(error)}`, { cause: error });
        }
        this.#stats.tailResumes += 1;
        await pause(tail, backoffMs);
        backoffMs = Math.min(2 * backoffMs, this.#limits.retryBackoffMsMax);
      }
    }
  }

  /**
   * Delivers put events of the log prefix from revision `start` on until the stream breaks (it
   * then throws a transient error, and the tail resumes from its next position) or the tail ends.
   */
  async #watch(tail: ActiveTail, start: number, deliver: (record: LogRecord) => Promise<void>, answered: () => void): Promise<void> {
    const stream = await this.#client.openWatchStream();
    tail.stream = stream;
    try {
      if (this.#ending(tail)) return;
      stream.write({
        create_request: {
          key: this.#keys.logPrefix,
          range_end: this.#keys.logRangeEnd,
          start_revision: start,
          filters: ['Nodelete'],
          progress_notify: true,
          // Catch-up responses are split at etcd's request limit instead of growing unbounded.
          fragment: true,
        },
      });
      for await (const response of stream) {
        answered();
        if (response.compact_revision !== '0') {
          throw new LogCompactedError(start, this.#noteCompaction(revisionOf(response.compact_revision)));
        }
        if (response.canceled) throw new WatchInterrupted(`etcd cancelled the watch: ${response.cancel_reason}`);
        this.#noteRevision(response.header.revision);
        for (const event of response.events) {
          // The client's types say 'Put'; its decoder hands over the proto name, 'PUT'.
          if (event.type.toUpperCase() === 'PUT') await deliver(this.#toRecord(event.kv));
        }
        if (this.#ending(tail)) return;
      }
      throw new WatchInterrupted('the watch stream ended');
    } catch (error: unknown) {
      throw castStreamError(error);
    } finally {
      tail.stream = null;
      stream.cancel();
    }
  }

  /**
   * Learns how far etcd is compacted: a read at revision 1 succeeds unless it is compacted past
   * it, and only then does the slower watch probe run.
   */
  async #learnCompaction(): Promise<void> {
    const { logPrefix: key, logRangeEnd: range_end } = this.#keys;
    try {
      await withRetries(this.#limits, () => this.#client.kv.range({ key, range_end, revision: 1, count_only: true }));
    } catch (error: unknown) {
      if (!isCompactedError(error)) throw error;
      await this.#compactedRevision();
    }
  }

  /** The revision etcd is compacted through, asked by a watch from revision 1; null if unknown. */
  async #compactedRevision(): Promise<number | null> {
    let stream: WatchStream | null = null;
    const probe = { timedOut: false };
    const timer = setTimeout(() => {
      probe.timedOut = true;
      stream?.cancel();
    }, this.#limits.callDeadlineMs);
    try {
      stream = await this.#client.openWatchStream();
      if (probe.timedOut) return null;
      const probeKey = this.#keys.kv('meta/compaction-probe/');
      // Both filters: no events, only the compaction notice etcd sends before syncing.
      stream.write({ create_request: { key: probeKey, range_end: rangeEnd(probeKey), start_revision: 1, filters: ['Noput', 'Nodelete'] } });
      for await (const response of stream) {
        if (response.compact_revision !== '0') return this.#noteCompaction(revisionOf(response.compact_revision));
        if (response.canceled) return null;
      }
      return null;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
      stream?.cancel();
    }
  }

  /**
   * first: the lowest position from which reads and tails are complete, one past the revision etcd
   * is compacted through (1 when never compacted); it need not be a record's position, and is
   * last + 1 or more once every record is dropped. last: the highest record position this
   * instance stored or saw (0 when none). Both as this instance knows them: from open, its own
   * appends, reads, tails and drops.
   */
  bounds(): LogBounds {
    return { first: this.#compactedThrough + 1, last: this.#last };
  }

  /**
   * Drops every record before `position`: compacts etcd's history through position - 1 (from
   * then on, reads and tails from before `position` reject with compacted), then deletes those
   * record keys in batches. Compacting first means a crash or a concurrent reader never sees a
   * silent gap. The caller (replica coordination) must only call this once every live replica
   * has a snapshot at or past `position`. Idempotent; a repeat finishes an interrupted drop.
   */
  async dropBefore(position: number): Promise<void> {
    assert(Number.isSafeInteger(position) && position >= 1, 'drop before a position >= 1');
    if (this.#closeRequested) throw new LogError('closed');
    if (position === 1) return;
    const limits = this.#limits;
    const { logPrefix: key, logRangeEnd: range_end } = this.#keys;

    const counted = await withRetries(limits, () => this.#client.kv.range({ key, range_end, count_only: true }));
    const current = this.#noteRevision(counted.header.revision);
    const compactAt = Math.min(position - 1, current);
    try {
      await withRetries(limits, () => this.#client.kv.compact({ revision: compactAt }));
      this.#noteCompaction(compactAt);
    } catch (error: unknown) {
      // Already compacted at or past compactAt, by an earlier drop.
      if (!isCompactedError(error)) throw error;
    }

    // Each round deletes at least one key, so the stored count bounds the rounds.
    const roundsMax = Math.ceil(Number(counted.count) / limits.deleteBatchKeysMax) + 1;
    for (let round = 0; round < roundsMax; round++) {
      const batch = await withRetries(limits, () => this.#client.kv.range({
        key, range_end, max_mod_revision: position - 1, keys_only: true, limit: limits.deleteBatchKeysMax,
      }));
      if (batch.kvs.length === 0) break;
      await withRetries(limits, () => this.#client.kv.txn({
        success: batch.kvs.map((kv) => ({ request_delete_range: { key: kv.key } })),
      }));
    }
  }

  /**
   * Stores a small JSON value at `<prefix>/<key>` (a plain put: the last write wins), for the
   * cluster's status and checkpoint records, e.g. `replicas/<name>` -> {position, stateHash}.
   * Keys under `log/` belong to the log and are refused. Resolves with the put's revision.
   */
  async putJson(key: string, value: unknown): Promise<number> {
    this.#checkKvKey(key);
    if (this.#closeRequested) throw new LogError('closed');
    const bytes = Buffer.from(JSON.stringify(value));
    if (bytes.length > this.#limits.kvValueBytesMax) {
      throw new LogError('record_too_large', `${key}: ${bytes.length} bytes of JSON, kvValueBytesMax is ${this.#limits.kvValueBytesMax}`);
    }
    const response = await withRetries(this.#limits, () => this.#client.kv.put({ key: this.#keys.kv(key), value: bytes }));
    return this.#noteRevision(response.header.revision);
  }

  /** Every JSON value stored under `<prefix>/<prefix_>/`, sorted by key; kv_too_many past the bound. */
  async getJsonPrefix(keyPrefix: string): Promise<JsonEntry[]> {
    this.#checkKvKey(keyPrefix);
    if (this.#closeRequested) throw new LogError('closed');
    const start = this.#keys.kv(`${keyPrefix}/`);
    const response = await withRetries(this.#limits, () => this.#client.kv.range({
      key: start, range_end: rangeEnd(start), limit: this.#limits.kvPrefixKeysMax,
    }));
    this.#noteRevision(response.header.revision);
    if (response.more) {
      throw new LogError('kv_too_many', `${keyPrefix}/ holds ${response.count} keys; kvPrefixKeysMax is ${this.#limits.kvPrefixKeysMax}`);
    }
    return response.kvs.map((kv) => ({
      key: this.#keys.relative(kv.key),
      value: JSON.parse(kv.value.toString()) as unknown,
      modRevision: revisionOf(kv.mod_revision),
    }));
  }

  #checkKvKey(key: string): void {
    checkKeyPart('key', key, kvKeyLengthMax);
    assert(key !== 'log' && !key.startsWith('log/'), 'keys under log/ belong to the log');
  }

  stats(): EtcdLogStats {
    return { ...this.#stats };
  }

  /** A function, not a condition, because stop() and close() flip these flags during awaits. */
  #ending(tail: ActiveTail): boolean {
    return tail.stopped || this.#closeRequested;
  }

  #noteRecord(position: number): void {
    if (position > this.#last) this.#last = position;
    if (position > this.#revisionSeen) this.#revisionSeen = position;
  }

  #noteCompaction(revision: number): number {
    if (revision > this.#compactedThrough) this.#compactedThrough = revision;
    return revision;
  }

  #noteRevision(text: string): number {
    const revision = revisionOf(text);
    if (revision > this.#revisionSeen) this.#revisionSeen = revision;
    return revision;
  }

  /** Waits for in-flight appends (each bounded by retryMsMax), ends all tails, closes the client. */
  close(): Promise<void> {
    // Set before anything else, so appends are refused from this tick on.
    this.#closeRequested = true;
    this.#closed ??= this.#closeOnce();
    return this.#closed;
  }

  async #closeOnce(): Promise<void> {
    await Promise.allSettled([...this.#appends]);
    const tails = [...this.#tails];
    for (const [tail] of tails) endTail(tail);
    // A tail that failed reports it through its own `ended`; closing still completes.
    await Promise.allSettled(tails.map(([, ended]) => ended));
    this.#client.close();
  }
}

function endTail(tail: ActiveTail): void {
  tail.stopped = true;
  tail.wake?.();
  tail.stream?.cancel();
}

/** Sleeps, or returns early when the tail is stopped. */
function pause(tail: ActiveTail, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      tail.wake = null;
      resolve();
    };
    const timer = setTimeout(done, ms);
    tail.wake = done;
  });
}

/**
 * Runs `operation` until it succeeds, fails for a reason retrying cannot fix, or retryMsMax has
 * passed (then rejects with unavailable). Backs off exponentially between attempts.
 */
async function withRetries<T>(limits: Limits, operation: () => Promise<T>): Promise<T> {
  const startedAt = Date.now();
  let backoffMs = limits.retryBackoffMsMin;
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation();
    } catch (error: unknown) {
      if (!isTransient(error)) throw error;
      const elapsedMs = Date.now() - startedAt;
      if (elapsedMs + backoffMs > limits.retryMsMax) {
        throw new LogError('unavailable', `${attempt} attempts in ${elapsedMs} ms: ${messageOf(error)}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, backoffMs));
      backoffMs = Math.min(2 * backoffMs, limits.retryBackoffMsMax);
    }
  }
}

/** Raw gRPC stream errors arrive untyped; give them etcd3's types so they can be classified. */
function castStreamError(error: unknown): unknown {
  if (error instanceof Error && error.constructor === Error) return castGrpcError(error);
  return error;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Fills in defaults and checks, once at open, that the bounds fit together. */
function resolveLimits(options: EtcdLogOptions): Limits {
  const requestBytesMax = options.etcdRequestBytesMax ?? etcdLogDefaults.etcdRequestBytesMax;
  const limits: { -readonly [Key in keyof Limits]: number } = {
    ...etcdLogDefaults,
    recordBytesMax: Math.min(etcdLogDefaults.recordBytesMax, requestBytesMax - requestHeadroomBytes),
  };
  for (const name of Object.keys(etcdLogDefaults) as (keyof Limits)[]) {
    const value = options[name];
    if (value !== undefined) limits[name] = value;
  }
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value >= 1, `${name} must be a positive integer, got ${value}`);
  }
  assert(limits.recordBytesMax + requestHeadroomBytes <= limits.etcdRequestBytesMax,
    'recordBytesMax must leave 64 KiB of etcdRequestBytesMax for the key and framing');
  assert(limits.readPageRecordsMax * (limits.recordBytesMax + kibibyte) + mebibyte <= grpcMessageBytesMax,
    'a page of readPageRecordsMax records of recordBytesMax must fit one gRPC message');
  assert(limits.retryBackoffMsMin <= limits.retryBackoffMsMax, 'retryBackoffMsMin <= retryBackoffMsMax');
  assert(limits.hedgeAfterMsMin <= limits.hedgeAfterMsMax, 'hedgeAfterMsMin <= hedgeAfterMsMax');
  assert(limits.kvValueBytesMax + requestHeadroomBytes <= limits.etcdRequestBytesMax, 'kvValueBytesMax fits one request');
  return limits;
}
