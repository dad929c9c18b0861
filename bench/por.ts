// npm run bench:por [-- USERS]: the cost of a liabilities report over USERS users (default
// 1,000,000, two assets each), built as a node builds it: the balances copied on the main thread
// (what the apply loop pays: a slice of the balance mirror, which the engine's events keep
// current after every slice of W1, as a replica does after every record; the walk it replaced is
// timed too), the tree built and written in a worker thread while the engine keeps matching W1
// on the main thread. The engine's rate is measured before, during and after
// the build in the same run, so the figures share one machine state. Prints one JSON line.

import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Engine, type Command, type Event } from '../src/core/index.js';
import { LiabilitiesReports, saltKeyFrom, type BuildOutcome } from '../src/por/index.js';
import { BalanceMirror, copyBalances } from '../src/replica/index.js';
import { generateW1, mulberry32 } from './w1.js';

const users = Number(process.argv[2] ?? 1_000_000);
if (!Number.isSafeInteger(users) || users < 1_000) throw new Error('USERS is a whole number of at least 1000');
/** Commands per slice: about one log record under load; the event loop runs between slices, as between records. */
const SLICE = 1_000;
/** Commands timed before and after the build. */
const PHASE_COMMANDS = 300_000;
/** W1 traders among the users. */
const TRADERS = 1_000;

const mb = (bytes: number): number => Math.round(bytes / 1048576);

// The exchange: every user funded (one or both assets), the first TRADERS trading W1.
const engine = new Engine();
const sink: Event[] = [];
const apply = (cmd: Command): void => {
  const r = engine.apply(cmd, 0, sink);
  if (!r.ok) throw new Error(`setup: ${cmd.type} refused: ${r.reject.code}`);
  sink.length = 0;
  engine.releaseEvents();
};
const tSetup = performance.now();
apply({ type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false });
apply({ type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false });
apply({ type: 'SetInstrument', instId: 'BTC-USDT', base: 'BTC', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.0001', maxSz: '1000', maxPx: '1000000', bandBps: 1000, state: 'live' });
const draw = mulberry32(11);
for (let u = 1; u <= users; u++) {
  apply({ type: 'CreateUser', stpMode: 'none' });
  const trader = u <= TRADERS;
  if (trader || u % 2 === 0) apply({ type: 'CreditDeposit', depositId: `b${u}`, userId: u, asset: 'BTC', amount: trader ? '1000000000000' : String(1 + Math.floor(draw() * 1e8)) });
  if (trader || u % 2 === 1) apply({ type: 'CreditDeposit', depositId: `q${u}`, userId: u, asset: 'USDT', amount: trader ? '1000000000000' : String(1 + Math.floor(draw() * 1e10)) });
}
const setupS = (performance.now() - tSetup) / 1000;
const tMirror = performance.now();
const mirror = new BalanceMirror(engine);
const mirrorBuildMs = performance.now() - tMirror;

// W1, cycled: in cycle c the stream's order k is engine order c * orders + k + 1.
const w = generateW1(1_000_000, 42);
let next = 0;
function command(n: number): Command {
  const i = n % w.count;
  const cycle = Math.floor(n / w.count);
  const id = w.id[i]!;
  const userId = (id % TRADERS) + 1;
  return w.kind[i] === 1
    ? { type: 'CancelOrder', userId, instId: 'BTC-USDT', orderId: cycle * w.orders + id + 1 }
    : { type: 'PlaceOrder', userId, instId: 'BTC-USDT', side: w.side[i] === 0 ? 'buy' : 'sell', orderType: 'limit', priceTicks: w.tick[i]!, sizeLots: w.size[i]! };
}

let rssPeak = 0;
/** Runs slices until `done()` (checked between slices) or `count` commands; returns commands per second. */
async function run(count: number, done: () => boolean = () => false): Promise<{ rate: number; commands: number }> {
  const t0 = performance.now();
  let applied = 0;
  while (applied < count && !done()) {
    const slice: Command[] = [];
    for (let k = 0; k < SLICE; k++) slice.push(command(next++));
    for (const cmd of slice) engine.apply(cmd, 1, sink);
    mirror.apply(sink);
    sink.length = 0;
    engine.releaseEvents();
    applied += SLICE;
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    await yieldToLoop();
  }
  return { rate: Math.round(applied / ((performance.now() - t0) / 1000)), commands: applied };
}

const dir = await mkdtemp(join(tmpdir(), 'everbook-bench-por-'));
try {
  // Warm-up, long enough for the mirror to have touched the buffers its copy lands in (as a node
  // has long before a report).
  await run(PHASE_COMMANDS);
  const before = await run(PHASE_COMMANDS);
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  rssPeak = rssBefore;

  // The apply loop's share: the copy. Then the worker builds while W1 goes on.
  let worker: BuildOutcome | undefined;
  const reports = new LiabilitiesReports({ dir, saltKey: saltKeyFrom(Buffer.alloc(32, 7)), onSettled: (_meta, o) => { worker = o; } });
  const tCopy = performance.now();
  const table = mirror.copy('bench');
  const copyMs = performance.now() - tCopy;
  const tWalk = performance.now();
  const walked = copyBalances(engine, 'bench');
  const walkMs = performance.now() - tWalk;
  const same = (a: ArrayBufferView, b: ArrayBufferView): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  if (!same(table.limbs, walked.limbs) || !same(table.userIds, walked.userIds)) throw new Error('the mirror differs from the walked copy');
  const tRequest = performance.now();
  let settledAt = 0;
  let outcome: Awaited<ReturnType<LiabilitiesReports['settled']>> | undefined;
  reports.request(table, { reportId: 'bench', position: 1, requestSeq: engine.seq, seq: engine.seq, ts: 0, blockNumber: 0 });
  void reports.settled('bench').then((s) => { outcome = s; settledAt = performance.now(); });
  const during = await run(Number.MAX_SAFE_INTEGER, () => outcome !== undefined);
  const after = await run(PHASE_COMMANDS);
  await reports.close();
  if (outcome?.state !== 'ready' || worker?.ok !== true) throw new Error(`the build did not finish: ${JSON.stringify(outcome)}`);
  const tree = await stat(join(dir, 'bench', 'tree.bin'));
  console.log(JSON.stringify({
    bench: 'por', users, assets: table.assets.length, setup_s: Math.round(setupS * 10) / 10,
    copy_ms: Math.round(copyMs * 10) / 10, walk_copy_ms: Math.round(walkMs), mirror_build_ms: Math.round(mirrorBuildMs), tree_build_ms: Math.round(worker.buildMs), write_ms: Math.round(worker.writeMs), build_total_ms: Math.round(settledAt - tRequest),
    tree_mb: mb(tree.size), worker_heap_mb: mb(worker.heapBytes), worker_buffers_mb: mb(worker.externalBytes),
    // The process's RSS also grows with the engine's own book as W1 runs on meanwhile.
    rss_before_mb: mb(rssBefore), rss_peak_mb: mb(rssPeak), rss_build_extra_mb: mb(rssPeak - rssBefore),
    engine_cmds_per_s_before: before.rate, engine_cmds_per_s_during: during.rate, engine_cmds_during: during.commands,
    engine_cmds_per_s_after: after.rate, root: outcome.report.root.hash, leaf_count: outcome.report.leafCount,
    // The machine's state: a worker thread competes with the engine only when cores are short.
    cpus: cpus().length, load_avg_1m: Math.round(loadavg()[0]! * 10) / 10,
  }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
