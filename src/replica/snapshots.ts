// Replica snapshots on disk: the engine's canonical snapshot plus the projections, API keys and log guard,
// checksummed, written to a temporary file, fsynced and renamed into place, so a crash leaves
// either the old snapshot or the new one, never half of one. Each snapshot also appends a
// checkpoint line (position, seq, state hash) that operators and peers can compare.

import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

const MAGIC = 'EVBSNAP1';
/** Version 3 added the log guard; version 2 files (without it) are still read. */
const FORMAT_VERSION = 3;
/** Snapshots kept on disk: the newest is used; the one before it is the fallback. */
export const SNAPSHOTS_KEPT = 2;

export interface SnapshotParts {
  readonly position: number;
  readonly seq: number;
  readonly stateHash: string;
  /** Taken at a deterministic checkpoint, where every replica published its hash (peers can vouch for it). */
  readonly checkpoint: boolean;
  readonly engine: Uint8Array;
  readonly projections: Uint8Array;
  readonly keys: Uint8Array;
  /** The log guard's canonical JSON; absent only in a version 2 file. */
  readonly guard?: Uint8Array;
}

export interface Checkpoint {
  readonly position: number;
  readonly seq: number;
  readonly stateHash: string;
  readonly ts: number;
}

interface Header {
  version: number;
  position: number;
  seq: number;
  stateHash: string;
  checkpoint: boolean;
  /** engine, projections, keys, then (from version 3) the guard. */
  lengths: number[];
  sha256: string;
}

const fileName = (position: number): string => `snapshot-${String(position).padStart(20, '0')}.snap`;

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try { await handle.sync(); } finally { await handle.close(); }
}

export class SnapshotStore {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  /** Positions of the snapshot files present, newest first. */
  async list(): Promise<number[]> {
    const names = await readdir(this.dir);
    return names
      .filter((n) => /^snapshot-\d{20}\.snap$/.test(n))
      .map((n) => Number(n.slice(9, 29)))
      .sort((a, b) => b - a);
  }

  async write(parts: SnapshotParts): Promise<void> {
    const tmp = join(this.dir, `${fileName(parts.position)}.tmp`);
    const handle = await open(tmp, 'w');
    try {
      await handle.writev(encodeSnapshotFile(parts));
      await handle.sync();
    } catch (error: unknown) {
      // A half-written snapshot (a full disk, most likely) must not keep holding the space the
      // journal needs; the caller logs the error and the log still holds every record.
      await handle.close();
      await rm(tmp, { force: true });
      throw error;
    }
    await handle.close();
    await rename(tmp, join(this.dir, fileName(parts.position)));
    await fsyncDir(this.dir);
    const checkpoint: Checkpoint = { position: parts.position, seq: parts.seq, stateHash: parts.stateHash, ts: Date.now() };
    await appendFile(join(this.dir, 'checkpoints.jsonl'), JSON.stringify(checkpoint) + '\n');
  }

  /** Reads and verifies one snapshot; throws with the reason when it cannot be trusted. */
  async read(position: number): Promise<SnapshotParts> {
    const parts = decodeSnapshotFile(await readFile(join(this.dir, fileName(position))));
    if (parts.position !== position) throw new Error('snapshot names another position');
    return parts;
  }

  /**
   * Deletes all but the newest SNAPSHOTS_KEPT and the one at `keep` (the newest checkpoint
   * snapshot, which peers may fetch); returns the oldest position still kept.
   */
  async prune(keep: number): Promise<number | undefined> {
    const positions = await this.list();
    const kept = positions.filter((p, i) => i < SNAPSHOTS_KEPT || p === keep);
    for (const p of positions) if (!kept.includes(p)) await rm(join(this.dir, fileName(p)), { force: true });
    for (const n of await readdir(this.dir)) if (n.endsWith('.tmp')) await rm(join(this.dir, n), { force: true });
    return kept.at(-1);
  }
}

/** The bytes of a snapshot file (also what a peer serves to a replica that fell behind). */
export function encodeSnapshotFile(parts: SnapshotParts): Buffer[] {
  const body = [parts.engine, parts.projections, parts.keys, parts.guard ?? new Uint8Array(0)];
  const hash = createHash('sha256');
  for (const b of body) hash.update(b);
  const header: Header = {
    version: FORMAT_VERSION, position: parts.position, seq: parts.seq, stateHash: parts.stateHash, checkpoint: parts.checkpoint,
    lengths: [parts.engine.length, parts.projections.length, parts.keys.length, body[3]!.length], sha256: hash.digest('hex'),
  };
  const headerBytes = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(12);
  prefix.write(MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(headerBytes.length, 8);
  return [prefix, headerBytes, ...body.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength))];
}

/** Parses and verifies snapshot file bytes; throws with the reason when they cannot be trusted. */
export function decodeSnapshotFile(bytes: Buffer): SnapshotParts {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 8) !== MAGIC) throw new Error('not a snapshot file');
  const headerLength = bytes.readUInt32LE(8);
  const header = JSON.parse(bytes.toString('utf8', 12, 12 + headerLength)) as Header;
  if (header.version !== FORMAT_VERSION && header.version !== 2) throw new Error(`snapshot file version ${header.version} is not supported`);
  if (header.lengths.length !== (header.version === 2 ? 3 : 4)) throw new Error('snapshot file has the wrong number of parts');
  let at = 12 + headerLength;
  const parts: Uint8Array[] = [];
  for (const length of header.lengths) {
    parts.push(bytes.subarray(at, at + length));
    at += length;
  }
  if (at !== bytes.length) throw new Error('snapshot file has the wrong length');
  const hash = createHash('sha256');
  for (const p of parts) hash.update(p);
  if (hash.digest('hex') !== header.sha256) throw new Error('snapshot checksum mismatch');
  return {
    position: header.position, seq: header.seq, stateHash: header.stateHash, checkpoint: header.checkpoint,
    engine: parts[0]!, projections: parts[1]!, keys: parts[2]!,
    ...(header.version === FORMAT_VERSION && { guard: parts[3]! }),
  };
}
