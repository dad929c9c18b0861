// npm run bench:engine — W1 (shared/reference/bench-workload.md) on Everbook's engine and on
// nodejs-order-book from npm, the identical stream, one fresh process per run, alternating so
// both see the same machine. Prints a table, then one JSON line with the summary, including the
// median CPU seconds of each engine's timed section (steadier than throughput on a shared machine).
// Usage: npm run bench:engine [-- RUNS [COMMANDS]]   (defaults: 5 runs of 1,000,000 commands)

import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 5);
const commands = Number(process.argv[3] ?? 1_000_000);
const script = join(root, 'dist', 'bench', 'engine-w1.js');

const one = (engine) => JSON.parse(execFileSync(process.execPath, [script, engine, String(commands)], { encoding: 'utf8' }).trim());
const results = { everbook: [], peer: [] };
for (let i = 0; i < runs; i++) {
  for (const engine of ['everbook', 'peer']) {
    const r = one(engine);
    results[engine].push(r);
    console.log(`run ${i + 1} ${engine.padEnd(8)} ${String(r.cmds_per_s).padStart(9)} cmds/s  cpu ${r.cpu_s} s  resting ${r.resting}  heap ${r.heap_mb} MB`);
  }
}
const best = (rs) => Math.max(...rs.map((r) => r.cmds_per_s));
const median = (rs, field = 'cmds_per_s') => {
  const v = rs.map((r) => r[field]).sort((a, b) => a - b);
  const m = v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  return field === 'cmds_per_s' ? Math.round(m) : Math.round(m * 1000) / 1000;
};
const ours = results.everbook;
const peer = results.peer;
const resting = ours[0].resting;
if (![...ours, ...peer].every((r) => r.resting === resting)) {
  console.error('engines disagree on the outcome:', [...ours, ...peer].map((r) => r.resting));
  process.exit(1);
}
console.log(`W1: ${ours[0].orders} limit orders, ${ours[0].cancels} cancels; ${ours[0].trades} trades, ${ours[0].events} events; ${resting} resting at the end (both engines)`);
console.log(JSON.stringify({
  workload: 'W1', commands, runs,
  engine_cmds_per_s: best(ours), engine_cmds_per_s_median: median(ours),
  peer: 'nodejs-order-book@10.1.1', peer_cmds_per_s: best(peer), peer_cmds_per_s_median: median(peer),
  ratio: Math.round((best(ours) / best(peer)) * 100) / 100,
  ratio_median: Math.round((median(ours) / median(peer)) * 100) / 100,
  engine_cpu_s_median: median(ours, 'cpu_s'), peer_cpu_s_median: median(peer, 'cpu_s'),
  resting_orders: resting, heap_mb: Math.max(...ours.map((r) => r.heap_mb)),
}));
