// Private to the etcd log: the configured etcd3 client, the key layout and the one create-only
// write an append is made of. The client is tuned for fast failover: no circuit breaker (etcd3's
// default opens for 5 s and stretched a 1-2 s failover to about 6 s), a global retry that only
// moves a call that could not reach its member to another member, and a deadline on every unary
// call. Watches use raw gRPC streams that require a leader, so a member cut off from the quorum
// ends them instead of leaving them silent.

import assert from 'node:assert/strict';
import { ConstantBackoff, handleWhen, noop, retry } from 'cockatiel';
import {
  Etcd3,
  GRPCUnavailableError,
  isRecoverableError,
  type IKeyValue,
  type ITxnResponse,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import { LogError } from './errors.js';

/** gRPC metadata that makes etcd refuse, and later cancel, a stream on a member without a leader. */
const requireLeaderKey = 'hasleader';

/** gRPC keepalive on the client's connections: a hung member is noticed within about 15 s. */
const keepaliveTimeMs = 10_000;
const keepaliveTimeoutMs = 5_000;

/** The characters allowed in prefixes, writer ids and KV keys: they appear in etcd keys verbatim. */
const keySafe = /^[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;
/** Sequence numbers are zero-padded so that one writer's keys sort in sequence order. */
const seqDigits = 16;

export interface EtcdClientOptions {
  readonly hosts: readonly string[];
  readonly callDeadlineMs: number;
  readonly retryBackoffMsMin: number;
  readonly receiveBytesMax: number;
}

/** A watch stream: requests go in, responses come out in order, with backpressure. */
export interface WatchStream extends AsyncIterable<IWatchResponse> {
  write(request: IWatchRequest): boolean;
  cancel(): void;
  on(event: 'error', listener: (error: Error) => void): this;
}

interface WatchService {
  watch(metadata: unknown, options: object): WatchStream;
}

export class LogEtcdClient extends Etcd3 {
  constructor(options: EtcdClientOptions) {
    const { callDeadlineMs } = options;
    super({
      hosts: [...options.hosts],
      // Streams live as long as their tail; every other call gets its own deadline.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + callDeadlineMs }),
      faultHandling: {
        host: () => noop,
        // A member that refused the connection or has no leader: try the next member at once.
        // Timeouts are not retried here: the caller decides, because an append that timed out
        // may have been stored.
        global: retry(handleWhen((error) => error instanceof GRPCUnavailableError), {
          maxAttempts: Math.max(1, options.hosts.length - 1),
          backoff: new ConstantBackoff(options.retryBackoffMsMin),
        }),
      },
      grpcOptions: {
        'grpc.max_receive_message_length': options.receiveBytesMax,
        'grpc.keepalive_time_ms': keepaliveTimeMs,
        'grpc.keepalive_timeout_ms': keepaliveTimeoutMs,
      },
    });
  }

  /** Opens a watch stream on one member (chosen by the pool) that etcd ends if it loses its leader. */
  openWatchStream(): Promise<WatchStream> {
    return this.pool.withConnection('Watch', ({ client, metadata }) => {
      const withLeader = metadata.clone();
      withLeader.set(requireLeaderKey, 'true');
      const stream = (client as unknown as WatchService).watch(withLeader, {});
      // Readers see errors through iteration; this listener keeps the CANCELLED error that
      // cancel() emits after iteration has finished from becoming an uncaught exception.
      stream.on('error', ignoreError);
      return stream;
    });
  }
}

function ignoreError(): void {
  // Deliberately empty: see openWatchStream.
}

/** True for failures worth retrying: the call may not have reached a working member. */
export function isTransient(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  if (error instanceof WatchInterrupted) return true;
  if (isRecoverableError(error as Error)) return true;
  const message = error instanceof Error ? error.message : '';
  // A member between leaders drops a proposal at once ('raft proposal dropped', not mapped to a
  // gRPC code by etcd 3.4): nothing was written, and the next attempt finds the new leader.
  return message.includes('etcdserver: too many requests') || message.includes('etcdserver: no leader')
    || message.includes('etcdserver: leader changed') || message.includes('raft proposal dropped');
}

/** A watch stream ended or was cancelled by the server for a reason worth reconnecting over. */
export class WatchInterrupted extends Error {
  override readonly name: string = 'WatchInterrupted';
}

export function isCompactedError(error: unknown): boolean {
  return error instanceof Error && error.message.includes('required revision has been compacted');
}

export function checkKeyPart(name: string, value: string, lengthMax: number): void {
  assert(value.length >= 1 && value.length <= lengthMax && keySafe.test(value),
    `${name} must be 1-${lengthMax} characters of [A-Za-z0-9._-] separated by single slashes, got ${JSON.stringify(value)}`);
}

/** The key layout: `<prefix>/log/<writerId>/<seq>` for records, `<prefix>/<key>` for KV entries. */
export class LogKeys {
  /** `<prefix>/log/`: every record key starts with it. */
  readonly logPrefix: Buffer;
  readonly logRangeEnd: Buffer;
  readonly writerPrefix: Buffer;
  readonly writerRangeEnd: Buffer;
  readonly #prefix: string;
  readonly #writerPrefix: string;

  constructor(prefix: string, writerId: string) {
    this.#prefix = `${prefix}/`;
    this.logPrefix = Buffer.from(`${prefix}/log/`);
    this.logRangeEnd = rangeEnd(this.logPrefix);
    this.#writerPrefix = `${prefix}/log/${writerId}/`;
    this.writerPrefix = Buffer.from(this.#writerPrefix);
    this.writerRangeEnd = rangeEnd(this.writerPrefix);
  }

  record(seq: number): Buffer {
    assert(Number.isSafeInteger(seq) && seq >= 1, 'sequence numbers are positive');
    return Buffer.from(this.#writerPrefix + String(seq).padStart(seqDigits, '0'));
  }

  /** The sequence number of one of this writer's keys. */
  seqOf(key: Buffer): number {
    const text = key.toString();
    assert(text.startsWith(this.#writerPrefix), 'a key of this writer');
    const seq = Number(text.slice(this.#writerPrefix.length));
    if (!Number.isSafeInteger(seq) || seq < 1) throw new LogError('foreign_record', `key ${text}`);
    return seq;
  }

  /** True when the key has the shape of a record key, whoever wrote it. */
  isRecordKey(key: Buffer): boolean {
    const rest = key.subarray(this.logPrefix.length).toString();
    return key.subarray(0, this.logPrefix.length).equals(this.logPrefix)
      && /^[A-Za-z0-9._-]+\/\d{16}$/.test(rest);
  }

  kv(key: string): Buffer {
    return Buffer.from(this.#prefix + key);
  }

  /** A KV key relative to the prefix, for the caller. */
  relative(key: Buffer): string {
    const text = key.toString();
    assert(text.startsWith(this.#prefix), 'a key under the prefix');
    return text.slice(this.#prefix.length);
  }
}

/** The end of the key range holding every key that starts with `prefix` (which ends in '/'). */
export function rangeEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  const last = end.length - 1;
  assert(last >= 0 && end[last]! < 0xff, 'a prefix whose last byte can be incremented');
  end[last] = end[last]! + 1;
  return end;
}

/** An etcd revision (an int64 the client hands over as a decimal string) as a number. */
export function revisionOf(text: string): number {
  const revision = Number(text);
  assert(Number.isSafeInteger(revision) && revision >= 0, `etcd revision ${text} is a safe integer`);
  return revision;
}

export interface Written {
  /** The etcd revision the record is stored at. */
  readonly revision: number;
  /** The key already held this value: an earlier attempt of the same append stored it. */
  readonly existed: boolean;
}

/**
 * One attempt at storing `value` under `key` if the key has never been written (create-only),
 * which makes repeating it after an unknown outcome safe. Resolves with the revision the record
 * is stored at: this write's, or, when the key exists with exactly this value, the earlier
 * attempt's. A different value under the key means another process uses this writer id.
 */
export async function writeOnce(client: Etcd3, key: Buffer, value: Buffer): Promise<Written> {
  const response: ITxnResponse = await client.kv.txn({
    compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
    success: [{ request_put: { key, value } }],
    failure: [{ request_range: { key } }],
  });
  if (response.succeeded) return { revision: revisionOf(response.header.revision), existed: false };
  const stored: IKeyValue | undefined = response.responses[0]?.response_range.kvs[0];
  // The compare and the read ran in one transaction, so a failed compare means the key exists.
  assert(stored !== undefined, 'a failed create-only compare finds the key');
  if (!stored.value.equals(value) || stored.create_revision !== stored.mod_revision) {
    throw new LogError('writer_conflict',
      `${key.toString()} holds ${stored.value.length} other bytes written at revision ${stored.mod_revision}`);
  }
  return { revision: revisionOf(stored.mod_revision), existed: true };
}
