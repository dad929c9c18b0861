// The bytes of one log record: the submissions one gateway process group-committed together,
// each with its request id (so results go back to the request that waits for them) and, for a
// signed request, its signature digest, stamped with the gateway's time and cloud. JSON,
// versioned; decoding checks the envelope and refuses what it cannot trust. A record may be
// stored compressed (compressRecord): two bytes that JSON never starts with, then the raw
// deflate stream of the same JSON. The etcd log stores records that way, because there every
// byte is paid several times over (the consensus, every member's WAL and store, every watch).

import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { LogCommand } from './port.js';
import type { SignedBy } from './guard.js';

/** Version 4 added the writing cloud and the signed requests' digests; version 3 records still decode. */
export const RECORD_VERSION = 4;
const RECORD_VERSIONS_READ: readonly unknown[] = [3, 4];
/** A cloud name as the server's settings allow it. */
const CLOUD_NAME = /^[a-z][a-z0-9-]{0,30}$/;
const DIGEST = /^[A-Za-z0-9_-]{22}$/;
/** Commands one record may carry in all (a batch endpoint sends at most 20 per submission). */
export const RECORD_COMMANDS_MAX = 2_000;
/** Encoded size one record may reach; etcd's default request limit is 1.5 MiB. */
export const RECORD_BYTES_MAX = 1024 * 1024;

export interface Submission {
  /** Request id, unique within the origin. */
  readonly rid: number;
  /**
   * Gateway ms after which the submission must not apply: the replica refuses it
   * (command_expired) if the log's time has passed this when it arrives. A client that gave up
   * on this gateway and retried elsewhere can then never see its first attempt apply later.
   */
  readonly deadline: number;
  readonly cmds: readonly LogCommand[];
  /** The signed request it came from (absent for operator and internal submissions). */
  readonly sig?: SignedBy;
}

export interface LogBatch {
  /** Gateway wall-clock ms; the engine makes it monotonic. */
  readonly ts: number;
  /** Which gateway process wrote it: (origin, rid) is unique across the log. */
  readonly origin: string;
  /** The cloud whose gateway wrote it (absent in version 3 records): its clock is bounded by the others'. */
  readonly cloud?: string;
  readonly items: readonly Submission[];
}

export class RecordDecodeError extends Error {
  override readonly name = 'RecordDecodeError';
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** First byte of a compressed record: not '{' nor any byte JSON text may start with. */
const COMPRESSED_MARK = 0xeb;
/** Second byte: the compression. 1 is raw deflate (RFC 1951) of the record's JSON. */
const COMPRESSION_DEFLATE_RAW = 1;
/**
 * Deflate's fastest level: on records of orders it already shrinks them 5x (a few orders) to
 * 14x (a full record), at about 0.2 us per order for a full record; slower levels gain a few per cent.
 */
const DEFLATE_LEVEL = 1;

/**
 * A record's bytes, compressed: the mark, the compression, then the raw deflate stream. The
 * decoded JSON may not exceed RECORD_BYTES_MAX, as an uncompressed record may not.
 */
export function compressRecord(json: Uint8Array): Uint8Array {
  if (json.byteLength > RECORD_BYTES_MAX) throw new RangeError(`a record of ${json.byteLength} bytes is over ${RECORD_BYTES_MAX}`);
  const deflated = deflateRawSync(json, { level: DEFLATE_LEVEL });
  const record = Buffer.allocUnsafe(2 + deflated.length);
  record[0] = COMPRESSED_MARK;
  record[1] = COMPRESSION_DEFLATE_RAW;
  deflated.copy(record, 2);
  return new Uint8Array(record.buffer, record.byteOffset, record.length);
}

/** The record's JSON bytes: as stored, or inflated from a compressed record (bounded by RECORD_BYTES_MAX). */
function recordJson(bytes: Uint8Array): Uint8Array {
  if (bytes[0] !== COMPRESSED_MARK) return bytes;
  if (bytes[1] !== COMPRESSION_DEFLATE_RAW) fail(`is compressed by an unknown method (${String(bytes[1])})`);
  const stream = bytes.subarray(2);
  let inflated: InflatedWithInfo;
  try {
    inflated = inflateRawSync(stream, { maxOutputLength: RECORD_BYTES_MAX, info: true }) as unknown as InflatedWithInfo;
  } catch (e) {
    throw new RecordDecodeError(`log record does not inflate: ${(e as Error).message}`);
  }
  // Inflate stops at the stream's end; bytes after it would let two records of different bytes
  // decode alike, so the stream must be the whole rest of the record.
  if (inflated.engine.bytesWritten !== stream.byteLength) fail(`has ${stream.byteLength - inflated.engine.bytesWritten} bytes after its deflate stream`);
  return inflated.buffer;
}

/** What inflateRawSync returns with `info: true`: the output, and the engine (bytesWritten: the input it consumed). */
interface InflatedWithInfo {
  readonly buffer: Buffer;
  readonly engine: { readonly bytesWritten: number };
}

/** Encodes a record at the current version, which names its cloud. */
export function encodeBatch(batch: LogBatch & { readonly cloud: string }): Uint8Array {
  return encodeRecord(batch, batch.items.map(encodeSubmission));
}

/**
 * One submission's JSON, as it appears inside a record. The submitter encodes each submission
 * once, sizes those bytes against the record bound, and joins them with encodeRecord.
 */
export function encodeSubmission(item: Submission): string {
  return JSON.stringify(item);
}

/**
 * A record from submissions already encoded by encodeSubmission: the same bytes as
 * JSON.stringify of the whole record, so the format does not depend on who encodes it.
 */
export function encodeRecord(header: Omit<LogBatch, 'items'> & { readonly cloud: string }, items: readonly string[]): Uint8Array {
  const envelope = JSON.stringify({ v: RECORD_VERSION, ts: header.ts, origin: header.origin, cloud: header.cloud, items: [] });
  // Written piece by piece into one buffer of the exact size: joining a record's submissions into
  // one string and encoding that makes two copies of up to a mebibyte, the string a large object
  // of the JS heap.
  const head = envelope.slice(0, -3);
  let bytes = Buffer.byteLength(head) + 3 + Math.max(0, items.length - 1);
  for (const item of items) bytes += Buffer.byteLength(item);
  const record = Buffer.allocUnsafe(bytes);
  let at = record.write(head, 0);
  record[at++] = BRACKET_OPEN;
  for (let i = 0; i < items.length; i++) {
    if (i > 0) record[at++] = COMMA;
    at += record.write(items[i]!, at);
  }
  record[at++] = BRACKET_CLOSE;
  record[at++] = BRACE_CLOSE;
  if (at !== bytes) throw new Error(`record encoding wrote ${at} bytes of ${bytes}`);
  // A plain Uint8Array over the same bytes, as the codec has always returned.
  return new Uint8Array(record.buffer, record.byteOffset, bytes);
}

const BRACKET_OPEN = 0x5b;
const BRACKET_CLOSE = 0x5d;
const BRACE_CLOSE = 0x7d;
const COMMA = 0x2c;

/** Bytes a record takes besides its submissions' JSON (and the commas between them), at most. */
export function recordEnvelopeBytes(origin: string, cloud: string): number {
  return encodeRecord({ ts: Number.MIN_SAFE_INTEGER, origin, cloud }, []).length;
}

function fail(what: string): never {
  throw new RecordDecodeError(`log record ${what}`);
}

export function decodeBatch(bytes: Uint8Array): LogBatch {
  const json = recordJson(bytes);
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(json));
  } catch (e) {
    throw new RecordDecodeError(`log record is not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) fail('is not an object');
  const r = value as Record<string, unknown>;
  if (!RECORD_VERSIONS_READ.includes(r.v)) fail(`version ${String(r.v)} is not supported`);
  if (typeof r.ts !== 'number' || !Number.isSafeInteger(r.ts)) fail('has no valid ts');
  if (typeof r.origin !== 'string') fail('has no origin');
  if (r.v === RECORD_VERSION && (typeof r.cloud !== 'string' || !CLOUD_NAME.test(r.cloud))) fail('has no valid cloud');
  if (!Array.isArray(r.items)) fail('has no submissions');
  let commands = 0;
  for (const item of r.items as unknown[]) {
    const s = item as Partial<Submission> | null;
    if (typeof s !== 'object' || s === null || typeof s.rid !== 'number' || typeof s.deadline !== 'number' || !Array.isArray(s.cmds)) {
      fail('holds a malformed submission');
    }
    if (s.sig !== undefined) {
      const sig = s.sig as Partial<SignedBy> | null;
      if (typeof sig !== 'object' || sig === null || typeof sig.d !== 'string' || !DIGEST.test(sig.d) || typeof sig.ts !== 'number' || !Number.isSafeInteger(sig.ts)) {
        fail('holds a malformed signature digest');
      }
    }
    for (const c of s.cmds as unknown[]) {
      if (typeof c !== 'object' || c === null || typeof (c as { type?: unknown }).type !== 'string') fail('holds a command without a type');
    }
    commands += s.cmds.length;
  }
  if (commands > RECORD_COMMANDS_MAX) fail(`holds ${commands} commands, more than ${RECORD_COMMANDS_MAX}`);
  const items = r.items as Submission[];
  return typeof r.cloud === 'string' ? { ts: r.ts, origin: r.origin, cloud: r.cloud, items } : { ts: r.ts, origin: r.origin, items };
}
