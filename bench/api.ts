// npm run bench:api — signed order entry over keep-alive HTTP on loopback: an Everbook node
// (dev exchange, fresh data directory, the file journal with fsync) beside a bare fastify route,
// each in its own process, driven by the same client (bench/load.ts) in the same run. The ratio
// shows what our path costs: auth, validation, the journal's fsync, the engine, projections.
// Both servers stay up and are driven in turn (a warm-up of each, then bare, everbook, bare,
// everbook, ...), so a burst of load from elsewhere on a shared machine falls on both; the
// ratio is of the medians. Beside throughput, each server's CPU per request (utime + stime
// from /proc over its own rounds), which waiting for a core does not inflate, and the part of
// it spent on the main thread, the one thread that runs a server's JavaScript.
// Usage: npm run bench:api [-- REQUESTS_PER_ROUND [CONNECTIONS [ROUNDS]]]
// EVERBOOK_BENCH_NODE_ARGS adds node options to the Everbook processes (e.g. --cpu-prof);
// EVERBOOK_BENCH_BASELINE=path/to/other/dist/src/cli/main.js adds a second build to the rounds,
// started with EVERBOOK_BENCH_BASELINE_NODE_ARGS when set (so one build can also be compared with
// itself under other node options), else with EVERBOOK_BENCH_NODE_ARGS.

import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drive, mainThreadCpuMs, median, processCpuMs, spawnUntil, traderFrom, type Creds, type LoadResult } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const requests = Number(process.argv[2] ?? 20_000);
const connections = Number(process.argv[3] ?? 32);
const rounds = Number(process.argv[4] ?? 3);
const warmupRequests = Math.min(requests, 2_000);
if (!(rounds >= 1 && requests >= 1 && connections >= 1)) throw new RangeError('REQUESTS, CONNECTIONS and ROUNDS must be positive');
const splitArgs = (text: string | undefined): string[] => (text ?? '').split(' ').filter((a) => a !== '');
const nodeArgs = splitArgs(process.env.EVERBOOK_BENCH_NODE_ARGS);
const baselineNodeArgs = process.env.EVERBOOK_BENCH_BASELINE_NODE_ARGS === undefined ? nodeArgs : splitArgs(process.env.EVERBOOK_BENCH_BASELINE_NODE_ARGS);

interface Round {
  readonly load: LoadResult;
  readonly cpuUsPerRequest: number | undefined;
  /** The part of cpuUsPerRequest spent on the server's main thread. */
  readonly mainThreadCpuUsPerRequest: number | undefined;
  readonly clientCpuUsPerRequest: number;
}

/**
 * One round against a server: its load figures and the CPU its process used meanwhile, per
 * request; beside it the client's own CPU per request (signing, HTTP), which shares the machine.
 */
async function round(url: URL, pid: number, creds: readonly Creds[], n: number, label: string, prefix: string): Promise<Round> {
  const before = processCpuMs(pid);
  const mainBefore = mainThreadCpuMs(pid);
  const clientBefore = process.cpuUsage();
  const load = await drive([url], creds, n, connections, label, prefix);
  const client = process.cpuUsage(clientBefore);
  const after = processCpuMs(pid);
  const mainAfter = mainThreadCpuMs(pid);
  const perRequest = (from: number | undefined, to: number | undefined): number | undefined =>
    (from === undefined || to === undefined ? undefined : Math.round(((to - from) * 1000) / n));
  return {
    load, cpuUsPerRequest: perRequest(before, after), mainThreadCpuUsPerRequest: perRequest(mainBefore, mainAfter),
    clientCpuUsPerRequest: Math.round((client.user + client.system) / n),
  };
}

const dataDir = await mkdtemp(join(tmpdir(), 'everbook-bench-api-'));
const loadAtStart = loadavg()[0]!;

interface Server { readonly label: string; readonly url: URL; readonly pid: number; readonly creds: readonly Creds[]; readonly stop: () => Promise<void>; readonly rounds: Round[] }

async function startNode(label: string, main: string, dir: string, args: readonly string[]): Promise<Server> {
  const creds: Creds[] = [];
  const node = await spawnUntil(
    [process.execPath, ...args, main, 'start', '--data-dir', dir, '--port', '0', '--log-level', 'warn', '--dev', 'true', '--local-chain', 'false', '--rate-limits', 'false'],
    /OKX v5 REST at (http:\/\/\S+)\/api\/v5/,
    { collect: (line) => { const c = traderFrom(line); if (c !== undefined) creds.push(c); }, done: (line) => line.includes('operator CLI') },
  );
  return { label, url: new URL(node.match[1]!), pid: node.pid, creds, stop: node.stop, rounds: [] };
}

const servers: Server[] = [];
try {
  const bare = await spawnUntil([process.execPath, join(here, 'bare-fastify.js')], /listening (\d+)/);
  servers.push({ label: 'bare fastify', url: new URL(`http://127.0.0.1:${bare.match[1]!}`), pid: bare.pid, creds: [{ apiKey: 'k', secretKey: 's', passphrase: 'p' }], stop: bare.stop, rounds: [] });
  servers.push(await startNode('everbook (journal)', join(here, '..', 'src', 'cli', 'main.js'), join(dataDir, 'ours'), nodeArgs));
  // An A/B of two builds in one run: EVERBOOK_BENCH_BASELINE names another build's
  // dist/src/cli/main.js, driven in turn with the other two.
  const baseline = process.env.EVERBOOK_BENCH_BASELINE;
  if (baseline !== undefined && baseline !== '') servers.push(await startNode('everbook baseline', baseline, join(dataDir, 'baseline'), baselineNodeArgs));
  for (const s of servers) await round(s.url, s.pid, s.creds, warmupRequests, `${s.label} warm-up`, 'w');
  for (let r = 0; r < rounds; r++) {
    for (const s of servers) s.rounds.push(await round(s.url, s.pid, s.creds, requests, s.label, `r${String(r)}n`));
  }
  const medianOf = (values: readonly (number | undefined)[]): number | undefined =>
    (values.every((v) => v !== undefined) ? median(values) : undefined);
  const summary = (rs: readonly Round[]): {
    per_s: number; p50_ms: number; p99_ms: number; errors: number; cpu_us: number | undefined; main_thread_cpu_us: number | undefined; client_cpu_us: number;
  } => ({
    per_s: median(rs.map((r) => r.load.orders_per_s)), p50_ms: median(rs.map((r) => r.load.p50_ms)), p99_ms: median(rs.map((r) => r.load.p99_ms)),
    errors: rs.reduce((sum, r) => sum + r.load.errors, 0),
    cpu_us: medianOf(rs.map((r) => r.cpuUsPerRequest)),
    main_thread_cpu_us: medianOf(rs.map((r) => r.mainThreadCpuUsPerRequest)),
    client_cpu_us: median(rs.map((r) => r.clientCpuUsPerRequest)),
  });
  const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined || b === undefined ? undefined : Math.round((a / b) * 100) / 100);
  const b = summary(servers[0]!.rounds);
  const o = summary(servers[1]!.rounds);
  const base = servers[2] === undefined ? undefined : summary(servers[2].rounds);
  console.log(JSON.stringify({
    bench: 'api', requests_per_round: requests, connections, rounds,
    everbook_orders_per_s: o.per_s, everbook_p50_ms: o.p50_ms, everbook_p99_ms: o.p99_ms, everbook_errors: o.errors,
    bare_fastify_req_per_s: b.per_s, bare_p50_ms: b.p50_ms, bare_p99_ms: b.p99_ms,
    ratio: ratio(o.per_s, b.per_s),
    everbook_cpu_us_per_order: o.cpu_us, bare_cpu_us_per_req: b.cpu_us, cpu_ratio: ratio(b.cpu_us, o.cpu_us),
    // One thread runs each server's JavaScript: at 1e6 / this many us it is busy all the time.
    everbook_main_thread_cpu_us_per_order: o.main_thread_cpu_us, bare_main_thread_cpu_us_per_req: b.main_thread_cpu_us,
    client_cpu_us_per_order: o.client_cpu_us, client_cpu_us_per_bare_req: b.client_cpu_us,
    ...(base !== undefined && {
      baseline_orders_per_s: base.per_s, baseline_p50_ms: base.p50_ms, baseline_errors: base.errors, baseline_ratio: ratio(base.per_s, b.per_s),
      baseline_cpu_us_per_order: base.cpu_us, baseline_cpu_ratio: ratio(b.cpu_us, base.cpu_us),
    }),
    rounds_per_s: Object.fromEntries(servers.map((s) => [s.label, s.rounds.map((r) => r.load.orders_per_s)])),
    rounds_cpu_us: Object.fromEntries(servers.map((s) => [s.label, s.rounds.map((r) => r.cpuUsPerRequest)])),
    load_avg_1m: [Math.round(loadAtStart * 100) / 100, Math.round(loadavg()[0]! * 100) / 100],
  }));
} finally {
  for (const s of servers) await s.stop();
  await rm(dataDir, { recursive: true, force: true });
}
