// The bytes of one log record: a batch of commands from one submission, with the time the
// gateway stamped on it and a request id that routes the results back to the waiting request.
// JSON, versioned; decoding checks the envelope and refuses what it cannot trust.

import type { LogCommand } from '../gateway/port.js';

export const RECORD_VERSION = 1;
/** Commands one record may carry (a batch endpoint sends at most 20; operators a few more). */
export const RECORD_COMMANDS_MAX = 1_000;

export interface LogBatch {
  /** Gateway wall-clock ms; the engine makes it monotonic. */
  readonly ts: number;
  /** Which gateway process wrote it, and its request id there: (origin, rid) is unique. */
  readonly origin: string;
  readonly rid: number;
  readonly cmds: readonly LogCommand[];
}

export class RecordDecodeError extends Error {
  override readonly name = 'RecordDecodeError';
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export function encodeBatch(batch: LogBatch): Uint8Array {
  return encoder.encode(JSON.stringify({ v: RECORD_VERSION, ts: batch.ts, origin: batch.origin, rid: batch.rid, cmds: batch.cmds }));
}

export function decodeBatch(bytes: Uint8Array): LogBatch {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch (e) {
    throw new RecordDecodeError(`log record is not JSON: ${(e as Error).message}`);
  }
  if (typeof value !== 'object' || value === null) throw new RecordDecodeError('log record is not an object');
  const r = value as Record<string, unknown>;
  if (r.v !== RECORD_VERSION) throw new RecordDecodeError(`log record version ${String(r.v)} is not supported`);
  if (typeof r.ts !== 'number' || !Number.isSafeInteger(r.ts)) throw new RecordDecodeError('log record has no valid ts');
  if (typeof r.origin !== 'string' || typeof r.rid !== 'number') throw new RecordDecodeError('log record has no origin/rid');
  if (!Array.isArray(r.cmds) || r.cmds.length > RECORD_COMMANDS_MAX) throw new RecordDecodeError('log record has no valid command list');
  for (const c of r.cmds as unknown[]) {
    if (typeof c !== 'object' || c === null || typeof (c as { type?: unknown }).type !== 'string') {
      throw new RecordDecodeError('log record holds a command without a type');
    }
  }
  return { ts: r.ts, origin: r.origin, rid: r.rid, cmds: r.cmds as LogCommand[] };
}
