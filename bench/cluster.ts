// npm run bench:cluster — committed orders/s and p50/p99 acknowledgement latency through the
// three-cloud local deployment (etcd log, one member per cloud, clients spread over every
// cloud's gateway), beside a single node on the embedded file journal, in the same run and with
// the same client (bench/load.ts). Processes on loopback (no namespaces), so the figures are
// the software's cost, not an emulated WAN. Usage: npm run bench:cluster [-- REQUESTS [CONNECTIONS]]

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clusterDown, clusterUp } from '../src/cluster/launcher.js';
import { addresses, freeTopology } from '../src/cluster/topology.js';
import { drive, spawnUntil, traderFrom, type Creds } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const requests = Number(process.argv[2] ?? 20_000);
const connections = Number(process.argv[3] ?? 48);


const dir = await mkdtemp(join(tmpdir(), 'everbook-bench-cluster-'));
try {
  const topology = await freeTopology('everbook-bench', '10.213.8');
  const clusterDir = join(dir, 'cluster');
  await clusterUp(topology, clusterDir, { namespaces: false });
  const log = await readFile(join(clusterDir, 'aws-tokyo', 'node.log'), 'utf8');
  const creds = log.split('\n').map(traderFrom).filter((c): c is Creds => c !== undefined);
  const cluster = await drive(addresses(topology, false).map((a) => new URL(a.apiUrl)), creds, requests, connections, 'three clouds (etcd)');
  await clusterDown(clusterDir, { removeData: true });

  const single: Creds[] = [];
  const node = await spawnUntil(
    [process.execPath, join(here, '..', 'src', 'cli', 'main.js'), 'start', '--data-dir', join(dir, 'single'), '--port', '0', '--log-level', 'warn', '--dev', 'true', '--local-chain', 'false', '--rate-limits', 'false'],
    /OKX v5 REST at (http:\/\/\S+)\/api\/v5/,
    { collect: (line) => { const c = traderFrom(line); if (c !== undefined) single.push(c); }, done: (line) => line.includes('operator CLI') },
  );
  const journal = await drive([new URL(node.match[1]!)], single, requests, connections, 'single node (journal)');
  await node.stop();
  console.log(JSON.stringify({
    bench: 'cluster', requests, connections,
    cluster_orders_per_s: cluster.orders_per_s, cluster_p50_ms: cluster.p50_ms, cluster_p99_ms: cluster.p99_ms, cluster_errors: cluster.errors,
    journal_orders_per_s: journal.orders_per_s, journal_p50_ms: journal.p50_ms, journal_p99_ms: journal.p99_ms, journal_errors: journal.errors,
  }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
