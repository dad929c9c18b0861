// npm run bench:apply — what one replica pays per command to apply the log, without the log:
// bench:log's commands (every order a trade) in records of 2,000, as a busy gateway writes
// them, applied in this process by the replica's own functions. Three stages, each on a fresh
// state, in turn for ROUNDS rounds: decode only (decodeBatch of the compressed record, as
// etcd delivers it), decode and the engine (applyBatch: the log guard, the engine and its
// events), and all of it with the projections the queries read (MemoryProjections). Reports the
// median CPU time per command of each (user + system of this process, the collector's threads
// included) and the differences, one JSON line. Every replica of a deployment pays this for every
// command, so three replicas on one machine pay it three times.
// Usage: npm run bench:apply [-- COMMANDS [ROUNDS]]

import { compressRecord, applyBatch, decodeBatch, emptyState, encodeBatch, type ReplicatedState } from '../src/replica/index.js';
import { MemoryProjections } from '../src/projections/index.js';
import type { Command, Event } from '../src/core/index.js';
import { orders, setup } from './log-workload.js';

const count = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 5);
const perRecord = 2_000;
if (!(count >= 1 && rounds >= 1)) throw new RangeError('COMMANDS and ROUNDS must be positive');

type Stage = 'decode' | 'engine' | 'projections';

/** Records of one submission per command, as the submitter writes them under load. */
function records(cmds: readonly Command[], ts: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < cmds.length; i += perRecord) {
    const items = cmds.slice(i, i + perRecord).map((cmd, j) => ({ rid: i + j + 1, deadline: ts + 3_600_000, cmds: [cmd] }));
    out.push(compressRecord(encodeBatch({ ts, origin: 'bench-apply', cloud: 'bench', items })));
  }
  return out;
}

function applyAll(state: ReplicatedState, projections: MemoryProjections | undefined, recs: readonly Uint8Array[], events: Event[], stage: Stage): void {
  for (const record of recs) {
    const batch = decodeBatch(record);
    if (stage === 'decode') continue;
    applyBatch(state, batch, events);
    projections?.apply(events);
    events.length = 0;
    state.engine.releaseEvents();
  }
}

/** CPU microseconds per command of one stage, on a fresh state set up with the market. */
function run(stage: Stage, setupRecords: readonly Uint8Array[], orderRecords: readonly Uint8Array[]): number {
  const state = emptyState();
  const projections = stage === 'projections' ? new MemoryProjections(state.engine) : undefined;
  const events: Event[] = [];
  applyAll(state, projections, setupRecords, events, stage === 'decode' ? 'engine' : stage);
  const cpu0 = process.cpuUsage();
  applyAll(state, projections, orderRecords, events, stage);
  const used = process.cpuUsage(cpu0);
  return (used.user + used.system) / count;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round2 = (x: number): number => Math.round(x * 100) / 100;

const ts = Date.now();
const setupRecords = records(setup(), ts);
const orderRecords = records(orders(count), ts);
const stages: Stage[] = ['decode', 'engine', 'projections'];
const figures = new Map<Stage, number[]>(stages.map((s) => [s, []]));
for (let r = 0; r < rounds; r++) for (const stage of stages) figures.get(stage)!.push(run(stage, setupRecords, orderRecords));
const [decode, engine, projections] = stages.map((s) => median(figures.get(s)!)) as [number, number, number];
console.log(JSON.stringify({
  bench: 'apply', commands: count, rounds, commands_per_record: perRecord,
  bytes_per_command: round2(orderRecords.reduce((sum, r) => sum + r.byteLength, 0) / count),
  decode_us_per_command: round2(decode),
  engine_us_per_command: round2(engine - decode),
  projections_us_per_command: round2(projections - engine),
  replica_us_per_command: round2(projections),
  // A replica's apply alone bounds what one core can apply: the log, the gateway and the other replicas come on top.
  replica_commands_per_core_s: Math.round(1e6 / projections),
  rounds_us: Object.fromEntries(stages.map((s) => [s, figures.get(s)!.map(round2)])),
}));
