// Replays recorded log payloads the way every replica does (decode, guard, apply) and reduces
// what they did to a few digests: the replica's state hash and the projections' saved state at
// checkpoints, and, per record, the results and the events it produced. The golden test compares
// them with the digests stored beside the fixture; scripts/record-golden.mjs writes both.

import { createHash } from 'node:crypto';
import type { Event } from '../../src/core/index.js';
import { MemoryProjections } from '../../src/projections/index.js';
import { applyBatch, decodeBatch, emptyState, replicaStateHash } from '../../src/replica/index.js';

/** A checkpoint is taken after every this many records, and after the last. */
export const GOLDEN_CHECKPOINT_EVERY = 50;

export interface GoldenCheckpoint {
  /** Records applied so far. */
  readonly records: number;
  readonly seq: number;
  /** replicaStateHash: engine snapshot, API keys and log guard. */
  readonly stateHash: string;
  /** SHA-256 of the projections' saved JSON. */
  readonly projectionsHash: string;
}

export interface GoldenExpectation {
  readonly records: number;
  readonly checkpoints: readonly GoldenCheckpoint[];
  /** Per record, the first 16 hex digits of SHA-256 over its outcomes (results or guard refusals). */
  readonly results: readonly string[];
  /** Per record, the same over the events it produced. */
  readonly events: readonly string[];
  /** How often each outcome occurred ('ok', a reject code, or a guard refusal): shows what the log covers. */
  readonly outcomeCounts: Readonly<Record<string, number>>;
  /** How often each event type occurred (cancels by reason). */
  readonly eventCounts: Readonly<Record<string, number>>;
}

const digest = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('hex');

const sorted = (counts: Record<string, number>): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export function replayGolden(payloads: readonly Uint8Array[]): GoldenExpectation {
  const state = emptyState();
  const projections = new MemoryProjections(state.engine);
  const checkpoints: GoldenCheckpoint[] = [];
  const results: string[] = [];
  const events: string[] = [];
  const outcomeCounts: Record<string, number> = {};
  const eventCounts: Record<string, number> = {};
  const checkpoint = (records: number): void => {
    checkpoints.push({ records, seq: state.engine.seq, stateHash: replicaStateHash(state), projectionsHash: digest(projections.toJSON()) });
  };
  payloads.forEach((payload, i) => {
    const produced: Event[] = [];
    const outcomes = applyBatch(state, decodeBatch(payload), produced);
    projections.apply(produced);
    results.push(digest(outcomes).slice(0, 16));
    events.push(digest(produced).slice(0, 16));
    for (const outcome of outcomes) {
      const names = 'refused' in outcome ? [outcome.refused] : outcome.map((r) => (r.ok ? 'ok' : r.reject.code));
      for (const name of names) outcomeCounts[name] = (outcomeCounts[name] ?? 0) + 1;
    }
    for (const e of produced) {
      const name = e.type === 'OrderCanceled' ? `${e.type}:${e.reason}` : e.type;
      eventCounts[name] = (eventCounts[name] ?? 0) + 1;
    }
    if ((i + 1) % GOLDEN_CHECKPOINT_EVERY === 0 || i + 1 === payloads.length) checkpoint(i + 1);
  });
  return { records: payloads.length, checkpoints, results, events, outcomeCounts: sorted(outcomeCounts), eventCounts: sorted(eventCounts) };
}
