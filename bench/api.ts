// npm run bench:api — signed order entry over keep-alive HTTP on loopback: an Everbook node
// (dev exchange, fresh data directory, the file journal with fsync) beside a bare fastify route,
// each in its own process, driven by the same client (bench/load.ts) in the same run. The ratio
// shows what our path costs: auth, validation, the journal's fsync, the engine, projections.
// Usage: npm run bench:api [-- REQUESTS [CONNECTIONS]]

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drive, spawnUntil, traderFrom, type Creds } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const requests = Number(process.argv[2] ?? 20_000);
const connections = Number(process.argv[3] ?? 32);

const dataDir = await mkdtemp(join(tmpdir(), 'everbook-bench-api-'));
try {
  const bare = await spawnUntil([process.execPath, join(here, 'bare-fastify.js')], /listening (\d+)/);
  const baseline = await drive([new URL(`http://127.0.0.1:${bare.match[1]!}`)], [{ apiKey: 'k', secretKey: 's', passphrase: 'p' }], requests, connections, 'bare fastify');
  await bare.stop();
  const creds: Creds[] = [];
  const node = await spawnUntil(
    [process.execPath, join(here, '..', 'src', 'cli', 'main.js'), 'start', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', '--dev', 'true', '--local-chain', 'false', '--rate-limits', 'false'],
    /OKX v5 REST at (http:\/\/\S+)\/api\/v5/,
    { collect: (line) => { const c = traderFrom(line); if (c !== undefined) creds.push(c); }, done: (line) => line.includes('operator CLI') },
  );
  const ours = await drive([new URL(node.match[1]!)], creds, requests, connections, 'everbook (journal)');
  await node.stop();
  console.log(JSON.stringify({
    bench: 'api', requests, connections,
    everbook_orders_per_s: ours.orders_per_s, everbook_p50_ms: ours.p50_ms, everbook_p99_ms: ours.p99_ms, everbook_errors: ours.errors,
    bare_fastify_req_per_s: baseline.orders_per_s, bare_p50_ms: baseline.p50_ms, bare_p99_ms: baseline.p99_ms,
    ratio: Math.round((ours.orders_per_s / baseline.orders_per_s) * 100) / 100,
  }));
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
