// npm run bench:cluster — committed orders/s and p50/p99 acknowledgement latency through the
// three-cloud local deployment (etcd log, one member per cloud, clients spread over every
// cloud's gateway), beside a single node on the embedded file journal, in the same run and with
// the same client (bench/load.ts). Processes on loopback (no namespaces), so the figures are
// the software's cost, not an emulated WAN. Beside each rate, the machine's CPU per order: all
// processes' busy time over the run (from /proc/stat) per order, and the cores busy meanwhile.
// When both runs keep the cores busy, the ratio of the rates is about the inverse ratio of their
// CPU per order, so the two figures say how far any ratio can go on this machine. The cluster's
// CPU per order is also split by part (the three nodes, their WebSocket fan-out children, the
// three etcd members, the load client), beside the raft proposals etcd committed, so the cost
// of each record of the log shows.
// Usage: npm run bench:cluster [-- REQUESTS [CONNECTIONS]]

import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterDown, clusterUp, type ClusterState } from '../src/cluster/launcher.js';
import { addresses, freeTopology } from '../src/cluster/topology.js';
import { drive, processCpuMs, procStatFields, spawnUntil, traderFrom, type Creds, type LoadResult } from './load.js';

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

/** The processes whose parent is `pid` (a node's WebSocket fan-out child). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    // Undefined for a process that ended while the list was read.
    if (/^\d+$/.test(entry) && Number(procStatFields(`/proc/${entry}/stat`)?.[1]) === pid) found.push(Number(entry));
  }
  return found;
}

/** CPU time so far (ms) of the deployment's nodes, their fan-out children and its etcd members. */
function deploymentCpuMs(state: ClusterState): { nodes: number; fanouts: number; etcd: number } {
  const sum = (pids: readonly number[]): number => pids.reduce((total, pid) => total + (processCpuMs(pid) ?? 0), 0);
  const nodes = state.processes.filter((p) => p.role === 'node').map((p) => p.pid);
  return {
    nodes: sum(nodes),
    fanouts: sum(nodes.flatMap(childrenOf)),
    etcd: sum(state.processes.filter((p) => p.role === 'etcd').map((p) => p.pid)),
  };
}

/** A metric's value as one server's /metrics reports it (NaN when it reports none). */
async function metricValue(url: string, name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? Number.NaN);
}

/** Raft proposals the etcd cluster has committed so far (the highest count any member reports). */
async function proposalsCommitted(etcdUrls: readonly string[]): Promise<number> {
  const counts = await Promise.all(etcdUrls.map((url) => metricValue(url, 'etcd_server_proposals_committed_total')));
  return Math.max(0, ...counts.filter((n) => !Number.isNaN(n)));
}

/** A counter summed over the given nodes' metrics (e.g. the records they wrote to the log). */
async function nodesCounter(apiUrls: readonly string[], name: string): Promise<number> {
  const values = await Promise.all(apiUrls.map((url) => metricValue(url, name)));
  return values.reduce((sum, v) => sum + v, 0);
}
const recordsWritten = (apiUrls: readonly string[]): Promise<number> => nodesCounter(apiUrls, 'everbook_log_records_written_total');
const appendRetries = (apiUrls: readonly string[]): Promise<number> => nodesCounter(apiUrls, 'everbook_etcd_append_retries_total');

const dir = await mkdtemp(join(tmpdir(), 'everbook-bench-cluster-'));
try {
  const topology = await freeTopology('everbook-bench', '10.213.8');
  const clusterDir = join(dir, 'cluster');
  const state = await clusterUp(topology, clusterDir, { namespaces: false });
  const log = await readFile(join(clusterDir, 'aws-tokyo', 'node.log'), 'utf8');
  const creds = log.split('\n').map(traderFrom).filter((c): c is Creds => c !== undefined);
  const apiUrls = addresses(topology, false).map((a) => a.apiUrl);
  const etcdUrls = addresses(topology, false).map((a) => a.etcdClientUrl);
  const records0 = await recordsWritten(apiUrls);
  const proposals0 = await proposalsCommitted(etcdUrls);
  const retries0 = await appendRetries(apiUrls);
  const cpu0 = deploymentCpuMs(state);
  const client0 = process.cpuUsage();
  const clustered = await measured(() => drive(apiUrls.map((u) => new URL(u)), creds, requests, connections, 'three clouds (etcd)'));
  const client1 = process.cpuUsage(client0);
  const cpu1 = deploymentCpuMs(state);
  const cluster = clustered.load;
  // Records of submissions only: the metric does not count heartbeats.
  const clusterRecords = (await recordsWritten(apiUrls)) - records0;
  // Proposals count every write (records, heartbeats, checkpoints) and the quorum probes' reads do not.
  const proposals = (await proposalsCommitted(etcdUrls)) - proposals0;
  // Hedges of slow appends and retries: each is one more write for etcd to carry.
  const retries = (await appendRetries(apiUrls)) - retries0;
  const orders = Math.max(1, requests - cluster.errors);
  const perOrder = (ms: number): number => Math.round((ms * 1000) / orders);
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
    cluster_etcd_proposals: proposals,
    cluster_append_retries: retries,
    // Where the deployment's CPU went, per order: the three nodes, their fan-out children, the
    // three etcd members, and this process (the load client).
    cluster_cpu_us_per_order_by_part: {
      nodes: perOrder(cpu1.nodes - cpu0.nodes), fanouts: perOrder(cpu1.fanouts - cpu0.fanouts),
      etcd: perOrder(cpu1.etcd - cpu0.etcd), client: perOrder((client1.user + client1.system) / 1000),
    },
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
