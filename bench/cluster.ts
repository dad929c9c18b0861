// npm run bench:cluster — committed orders/s and p50/p99 acknowledgement latency through the
// three-cloud local deployment (etcd log, one member per cloud, clients spread over every
// cloud's gateway), beside a single node on the embedded file journal, in the same run and with
// the same client (bench/load.ts). Processes on loopback (no namespaces), so the figures are
// the software's cost, not an emulated WAN. Beside each rate, the machine's CPU per order: all
// processes' busy time over the run (from /proc/stat) per order, and the cores busy meanwhile.
// When both runs keep the cores busy, the ratio of the rates is about the inverse ratio of their
// CPU per order, so the two figures say how far any ratio can go on this machine.
// Usage: npm run bench:cluster [-- REQUESTS [CONNECTIONS]]

import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterDown, clusterUp } from '../src/cluster/launcher.js';
import { addresses, freeTopology } from '../src/cluster/topology.js';
import { drive, spawnUntil, traderFrom, type Creds, type LoadResult } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const requests = Number(process.argv[2] ?? 20_000);
const connections = Number(process.argv[3] ?? 48);

/** The machine's busy and total CPU time so far, in clock ticks (/proc/stat's first line). */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  // idle and iowait are the 4th and 5th fields.
  return { busy: total - fields[3]! - fields[4]!, total };
}

/** Drives a load and reports, with it, the machine's CPU per order (us) and the cores busy meanwhile. */
async function measured(run: () => Promise<LoadResult>): Promise<{ load: LoadResult; cpuUsPerOrder: number; coresBusy: number }> {
  const before = machineTicks();
  const load = await run();
  const after = machineTicks();
  const busyTicks = after.busy - before.busy;
  // /proc/stat counts in USER_HZ, 100 ticks a second on Linux: 10,000 us a tick.
  return {
    load,
    cpuUsPerOrder: Math.round((busyTicks * 10_000) / Math.max(1, requests - load.errors)),
    coresBusy: Math.round((busyTicks / (after.total - before.total)) * cpus().length * 100) / 100,
  };
}

/** Records the given nodes have written to the log so far, from their metrics. */
async function recordsWritten(apiUrls: readonly string[]): Promise<number> {
  let sum = 0;
  for (const url of apiUrls) {
    const text = await (await fetch(new URL('/metrics', url))).text();
    const line = text.split('\n').find((l) => l.startsWith('everbook_log_records_written_total '));
    sum += Number(line?.split(' ')[1] ?? Number.NaN);
  }
  return sum;
}

const dir = await mkdtemp(join(tmpdir(), 'everbook-bench-cluster-'));
try {
  const topology = await freeTopology('everbook-bench', '10.213.8');
  const clusterDir = join(dir, 'cluster');
  await clusterUp(topology, clusterDir, { namespaces: false });
  const log = await readFile(join(clusterDir, 'aws-tokyo', 'node.log'), 'utf8');
  const creds = log.split('\n').map(traderFrom).filter((c): c is Creds => c !== undefined);
  const apiUrls = addresses(topology, false).map((a) => a.apiUrl);
  const records0 = await recordsWritten(apiUrls);
  const clustered = await measured(() => drive(apiUrls.map((u) => new URL(u)), creds, requests, connections, 'three clouds (etcd)'));
  const cluster = clustered.load;
  // Records of submissions only: the metric does not count heartbeats.
  const clusterRecords = (await recordsWritten(apiUrls)) - records0;
  await clusterDown(clusterDir, { removeData: true });

  const single: Creds[] = [];
  const node = await spawnUntil(
    [process.execPath, join(here, '..', 'src', 'cli', 'main.js'), 'start', '--data-dir', join(dir, 'single'), '--port', '0', '--log-level', 'warn', '--dev', 'true', '--local-chain', 'false', '--rate-limits', 'false'],
    /OKX v5 REST at (http:\/\/\S+)\/api\/v5/,
    { collect: (line) => { const c = traderFrom(line); if (c !== undefined) single.push(c); }, done: (line) => line.includes('operator CLI') },
  );
  const singleRecords0 = await recordsWritten([node.match[1]!]);
  const single1 = await measured(() => drive([new URL(node.match[1]!)], single, requests, connections, 'single node (journal)'));
  const journal = single1.load;
  const singleRecords = (await recordsWritten([node.match[1]!])) - singleRecords0;
  await node.stop();
  console.log(JSON.stringify({
    bench: 'cluster', requests, connections,
    cluster_orders_per_s: cluster.orders_per_s, cluster_p50_ms: cluster.p50_ms, cluster_p99_ms: cluster.p99_ms, cluster_errors: cluster.errors,
    cluster_orders_per_record: Math.round((requests / Math.max(1, clusterRecords)) * 10) / 10,
    journal_orders_per_s: journal.orders_per_s, journal_p50_ms: journal.p50_ms, journal_p99_ms: journal.p99_ms, journal_errors: journal.errors,
    journal_orders_per_record: Math.round((requests / Math.max(1, singleRecords)) * 10) / 10,
    ratio: Math.round((cluster.orders_per_s / journal.orders_per_s) * 100) / 100,
    cluster_machine_cpu_us_per_order: clustered.cpuUsPerOrder, cluster_cores_busy: clustered.coresBusy,
    journal_machine_cpu_us_per_order: single1.cpuUsPerOrder, journal_cores_busy: single1.coresBusy,
    // With both runs holding the cores, the ratio cannot pass this: the single node's CPU per order over the cluster's.
    cpu_bound_ratio: Math.round((single1.cpuUsPerOrder / clustered.cpuUsPerOrder) * 100) / 100,
  }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
