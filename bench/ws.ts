// npm run bench:ws — WebSocket streams and order entry, on one node (dev exchange, fresh data
// directory, the file journal with fsync), all in the same run:
//  1. order entry, REST vs WebSocket, with the same number of orders in flight (IN_FLIGHT) on
//     both paths: both end in the same submitter, group-committed journal and apply loop and
//     are bound by the commit's latency, so what differs is how a client keeps orders in
//     flight. REST: IN_FLIGHT keep-alive connections, one signed order in flight on each (all
//     HTTP/1.1 allows). WebSocket: WS_CONNECTIONS logged-in /ws/v5/private connections, each
//     with IN_FLIGHT / WS_CONNECTIONS `order` ops in flight, correlated by OKX's `id` (as a
//     market maker pipelines; fewer connections, as the gateway allows 100 per IP). Both paths
//     warm up alternately (JIT, heap, buffers), then ROUNDS alternating rounds (REST, WS, REST,
//     WS, ...) of ORDERS orders each; the ratio is WS's median orders/s over REST's (goal: >= 2x),
//     with p50/p99 and the node's CPU per order (from /proc; steadier than orders/s on a shared
//     machine). A secondary row keeps the older comparison: WS_CONNECTIONS connections on both
//     paths, one order in flight on each (same alternation and medians), so nothing is hidden;
//  2. the engine's command rate (the node's applied seq per second) while REST orders flow
//     (WS_CONNECTIONS connections) with 0, 1, 100 and 1,000 subscribers to `books` + `trades` (a separate process,
//     bench/ws-subscribers.ts), and the updates/s delivered to them (all subscribers together,
//     and per subscriber), and the node's CPU per applied command (/proc; steadier than the rate
//     on a shared machine) with its ratio to none; the first subscriber checks every books push
//     (chain and checksum). The node holds its public sockets in its fan-out process (its
//     default, ws-fanout.ts), whose CPU is reported apart; `--in-process` runs the node with
//     `--ws-fanout-process false` (the node writes every push itself), for comparison.
//     A last phase is the control: no subscribers, but processes that burn as much CPU as the
//     fan-out process and the subscribers used in the 1,000-subscriber phase, so that what the
//     machine's cores alone cost the engine's rate shows beside what the subscribers cost it.
//     `--no-fanout` skips this part.
// Prints one JSON line with the figures and same-run ratios. A measurement, not a pass/fail test.
// Usage: npm run bench:ws [-- ORDERS [IN_FLIGHT [WS_CONNECTIONS [ROUNDS]]]] [--no-fanout] [--in-process]
//        (defaults 10000 128 16 3: 128 in flight; 16 WS connections with 8 each)

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { drive, spawnUntil, traderFrom, balancedSide, type Creds, type LoadResult } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const orders = Number(positional[0] ?? 10_000);
/** Orders in flight on each path: REST connections (one each), WS connections times the window. */
const inFlight = Number(positional[1] ?? 128);
/** WS connections of the main comparison; also the connection count of the secondary row and of part 2. */
const connections = Number(positional[2] ?? 16);
const rounds = Number(positional[3] ?? 3);
const fanoutOn = !flags.includes('--no-fanout');
const inProcess = flags.includes('--in-process');
const wsWindow = inFlight / connections;
if (![orders, inFlight, connections, rounds].every((n) => Number.isSafeInteger(n) && n > 0) || !Number.isSafeInteger(wsWindow)) {
  throw new Error('ORDERS, IN_FLIGHT, WS_CONNECTIONS and ROUNDS must be positive integers, IN_FLIGHT a multiple of WS_CONNECTIONS');
}
/** Warm-up rounds of each path, alternating, not counted. */
const WARM_UP_ROUNDS = 2;
/** 0 first: the engine's rate without subscribers, measured next to the rates with them. */
const SUBSCRIBER_COUNTS = [0, 1, 100, 1_000] as const;
/** Bound on one WS order's answer, and on a WS phase as a whole. */
const WS_ORDER_TIMEOUT_MS = 10_000;
const PHASE_TIMEOUT_MS = 10 * 60_000;

interface AdminFile { url: string; token: string; pid: number }

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); 0 elsewhere. */
async function cpuSeconds(pid: number | undefined): Promise<number> {
  if (pid === undefined) return 0;
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of stat, in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The node's fan-out child process (its command line names ws-fanout-process), if it runs one. */
async function fanoutPid(nodePid: number): Promise<number | undefined> {
  try {
    const children = (await readFile(`/proc/${nodePid}/task/${nodePid}/children`, 'utf8')).trim().split(/\s+/).filter((p) => p !== '');
    for (const child of children) {
      if ((await readFile(`/proc/${child}/cmdline`, 'utf8')).includes('ws-fanout-process')) return Number(child);
    }
  } catch {
    // Not Linux, or the node is gone.
  }
  return undefined;
}

/**
 * Processes that burn `cores` of CPU between them (each at most one core, busy for its share of
 * every 10 ms slice), standing in for the subscribers' and the fan-out process's CPU.
 */
function burners(cores: number): { pids: number[]; stop: () => Promise<void> } {
  const count = Math.max(1, Math.ceil(cores));
  const duty = Math.min(1, cores / count);
  const script = `const d=${String(duty)};(function t(){const e=Date.now()+10*d;while(Date.now()<e){}setTimeout(t,10*(1-d));})();`;
  const children = Array.from({ length: count }, () => spawn(process.execPath, ['-e', script], { stdio: 'ignore' }));
  return {
    pids: children.map((c) => c.pid!),
    stop: async () => {
      await Promise.all(children.map((c) => new Promise<void>((resolve) => { c.once('exit', () => { resolve(); }); c.kill('SIGKILL'); })));
    },
  };
}

const ratio = (a: number, b: number): number => Math.round((a / b) * 100) / 100;
/** Microseconds of CPU per command, from CPU seconds over a number of commands. */
const cpuUsPerCommand = (cpuSeconds: number, commands: number): number => (commands > 0 ? Math.round((cpuSeconds * 1e6) / commands) : 0);

async function appliedSeq(admin: AdminFile): Promise<number> {
  const r = await fetch(`${admin.url}/admin/v1/status`, { headers: { authorization: `Bearer ${admin.token}` }, signal: AbortSignal.timeout(5_000) });
  return ((await r.json()) as { appliedSeq: number }).appliedSeq;
}

/** Runs `work` and measures the engine's applied commands per second over it. */
async function withCommandRate<T>(admin: AdminFile, work: () => Promise<T>): Promise<{ result: T; commands_per_s: number }> {
  const s0 = await appliedSeq(admin);
  const t0 = process.hrtime.bigint();
  const result = await work();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const s1 = await appliedSeq(admin);
  return { result, commands_per_s: Math.round((s1 - s0) / seconds) };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** One logged-in private connection that places orders one at a time, correlated by OKX's `id`. */
async function wsTrader(url: string, c: Creds): Promise<{ place: (args: Record<string, string>) => Promise<boolean>; close: () => void }> {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: WS_ORDER_TIMEOUT_MS });
  const waiting = new Map<string, (ok: boolean) => void>();
  let loginDone: ((error: string) => void) | undefined;
  ws.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { id?: string; event?: string; code?: string; msg?: string; data?: { sCode?: string }[] };
    if (m.event === 'login') loginDone?.('');
    else if (m.event === 'error' && loginDone !== undefined) loginDone(`${m.code ?? ''} ${m.msg ?? ''}`);
    else if (m.id !== undefined) {
      waiting.get(m.id)?.(m.code === '0' && m.data?.[0]?.sCode === '0');
      waiting.delete(m.id);
    }
  });
  ws.on('close', () => { for (const w of waiting.values()) w(false); waiting.clear(); });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => { resolve(); }); ws.once('error', reject); });
  const ts = String(Math.floor(Date.now() / 1000));
  const sign = createHmac('sha256', c.secretKey).update(`${ts}GET/users/self/verify`).digest('base64');
  const error = await new Promise<string>((resolve) => {
    loginDone = resolve;
    ws.send(JSON.stringify({ op: 'login', args: [{ apiKey: c.apiKey, passphrase: c.passphrase, timestamp: ts, sign }] }));
    setTimeout(() => { resolve('login timed out'); }, WS_ORDER_TIMEOUT_MS).unref();
  });
  loginDone = undefined;
  if (error !== '') { ws.terminate(); throw new Error(`WS login failed: ${error}`); }
  let next = 0;
  return {
    place: (args) => new Promise<boolean>((resolve) => {
      const id = String(++next);
      const timer = setTimeout(() => { waiting.delete(id); resolve(false); }, WS_ORDER_TIMEOUT_MS);
      waiting.set(id, (ok) => { clearTimeout(timer); resolve(ok); });
      ws.send(JSON.stringify({ id, op: 'order', args: [args] }));
    }),
    close: () => { ws.terminate(); },
  };
}

/**
 * The WS counterpart of bench/load.ts's drive(): the same orders and accounting, on `conns`
 * connections with `window` orders in flight on each (ids correlate the answers).
 */
async function driveWs(url: string, creds: readonly Creds[], requests: number, conns: number, window: number, label: string, clOrdIdPrefix: string): Promise<LoadResult> {
  const traders = await Promise.all(Array.from({ length: conns }, (_, i) => wsTrader(url, creds[i % creds.length]!)));
  const latencies = new Float64Array(requests);
  let next = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(traders.flatMap((trader) => Array.from({ length: window }, async () => {
    while (next < requests) {
      const n = next++;
      const side = balancedSide(n, creds.length);
      const s = process.hrtime.bigint();
      const ok = await trader.place({ instId: 'BTC-USDT', tdMode: 'cash', side, ordType: 'limit', px: '50000', sz: '0.0001', clOrdId: `${clOrdIdPrefix}${n}` });
      latencies[n] = Number(process.hrtime.bigint() - s) / 1e6;
      if (!ok) errors += 1;
    }
  })));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const t of traders) t.close();
  const sorted = latencies.slice().sort();
  const r = { label, orders_per_s: Math.round(requests / seconds), p50_ms: Math.round(percentile(sorted, 0.5) * 100) / 100, p99_ms: Math.round(percentile(sorted, 0.99) * 100) / 100, errors };
  console.log(`${label.padEnd(22)} ${String(r.orders_per_s).padStart(7)} orders/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  errors ${errors}`);
  return r;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** One path's rounds: each round's figures and the node's CPU microseconds per order. */
interface PathRounds { runs: LoadResult[]; cpuUsPerOrder: number[] }

interface PathSummary {
  orders_per_s: number; orders_per_s_runs: number[]; p50_ms: number; p99_ms: number;
  node_cpu_us_per_order: number; node_cpu_us_per_order_runs: number[]; errors: number;
}

/** Medians over the rounds (each round's figures kept beside them). */
function summary(p: PathRounds): PathSummary {
  return {
    orders_per_s: Math.round(median(p.runs.map((r) => r.orders_per_s))), orders_per_s_runs: p.runs.map((r) => r.orders_per_s),
    p50_ms: median(p.runs.map((r) => r.p50_ms)), p99_ms: median(p.runs.map((r) => r.p99_ms)),
    node_cpu_us_per_order: Math.round(median(p.cpuUsPerOrder)), node_cpu_us_per_order_runs: p.cpuUsPerOrder, errors: p.runs.reduce((n, r) => n + r.errors, 0),
  };
}

interface SubscriberCounts { messages: number; updates: number; snapshots: number; trades: number; bytes: number; errors: number; closed: number; errorSamples: string[]; checker: { updates: number; checksumsVerified: number; failures: number } }

/** Starts the subscriber process and waits until every subscriber holds a snapshot. */
async function subscribers(wsUrl: string, n: number): Promise<{ pid: number | undefined; counts: () => Promise<SubscriberCounts>; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(here, 'ws-subscribers.js'), wsUrl, String(n), 'BTC-USDT'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => { child.on('exit', () => { resolve(); }); });
  const lines = createInterface({ input: child.stdout });
  const queue: ((line: string) => void)[] = [];
  lines.on('line', (line) => { queue.shift()?.(line); });
  const nextLine = (): Promise<string> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('subscriber process did not answer')); }, PHASE_TIMEOUT_MS);
    queue.push((line) => { clearTimeout(timer); resolve(line); });
    void exited.then(() => { clearTimeout(timer); reject(new Error('subscriber process exited')); });
  });
  const first = await nextLine();
  if (first !== 'ready') throw new Error(`subscribers not ready: ${first}`);
  return {
    pid: child.pid,
    counts: async () => { child.stdin.write('report\n'); return JSON.parse(await nextLine()) as SubscriberCounts; },
    stop: async () => { child.stdin.end(); await exited; },
  };
}

const dataDir = await mkdtemp(join(tmpdir(), 'everbook-bench-ws-'));
try {
  const creds: Creds[] = [];
  const node = await spawnUntil(
    [process.execPath, join(here, '..', 'src', 'cli', 'main.js'), 'start', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', '--dev', 'true', '--local-chain', 'false', '--rate-limits', 'false', '--ws-fanout-process', String(!inProcess)],
    /OKX v5 REST at (http:\/\/\S+)\/api\/v5/,
    { collect: (line) => { const c = traderFrom(line); if (c !== undefined) creds.push(c); }, done: (line) => line.includes('operator CLI') },
  );
  try {
    const base = node.match[1]!;
    const admin = JSON.parse(await readFile(join(dataDir, 'admin.json'), 'utf8')) as AdminFile;
    const wsBase = base.replace(/^http/, 'ws');
    const rest = [new URL(base)];

    // 1. Order entry, no subscribers: both paths warm up alternately, then alternating rounds.
    const privateUrl = `${wsBase}/ws/v5/private`;
    const restSide = (n: number): 'buy' | 'sell' => balancedSide(n, creds.length);
    let phase = 0;
    /** One round of one path; the node's CPU per order from /proc around it. */
    const round = async (p: PathRounds, run: (prefix: string) => Promise<LoadResult>): Promise<void> => {
      phase += 1;
      const cpu0 = await cpuSeconds(admin.pid);
      const r = await run(`p${String(phase)}x`);
      const cpu1 = await cpuSeconds(admin.pid);
      p.runs.push(r);
      p.cpuUsPerOrder.push(Math.round(((cpu1 - cpu0) * 1e6) / orders));
    };
    const warm: PathRounds = { runs: [], cpuUsPerOrder: [] };
    for (let i = 0; i < WARM_UP_ROUNDS; i++) {
      await round(warm, (prefix) => drive(rest, creds, orders, inFlight, 'warm-up REST', prefix, restSide));
      await round(warm, (prefix) => driveWs(privateUrl, creds, orders, connections, wsWindow, 'warm-up WS', prefix));
    }
    const main = { rest: { runs: [], cpuUsPerOrder: [] } as PathRounds, ws: { runs: [], cpuUsPerOrder: [] } as PathRounds };
    const same = { rest: { runs: [], cpuUsPerOrder: [] } as PathRounds, ws: { runs: [], cpuUsPerOrder: [] } as PathRounds };
    for (let i = 0; i < rounds; i++) {
      await round(main.rest, (prefix) => drive(rest, creds, orders, inFlight, `REST ${String(inFlight)}x1`, prefix, restSide));
      await round(main.ws, (prefix) => driveWs(privateUrl, creds, orders, connections, wsWindow, `WS ${String(connections)}x${String(wsWindow)}`, prefix));
    }
    for (let i = 0; i < rounds; i++) {
      await round(same.rest, (prefix) => drive(rest, creds, orders, connections, `REST ${String(connections)}x1`, prefix, restSide));
      await round(same.ws, (prefix) => driveWs(privateUrl, creds, orders, connections, 1, `WS ${String(connections)}x1`, prefix));
    }
    const entry = (p: typeof main): { rest: PathSummary; ws: PathSummary; ws_vs_rest_orders: number } => {
      const restSummary = summary(p.rest);
      const wsSummary = summary(p.ws);
      return { rest: restSummary, ws: wsSummary, ws_vs_rest_orders: ratio(wsSummary.orders_per_s, restSummary.orders_per_s) };
    };
    const orderEntry = { in_flight: inFlight, rest_connections: inFlight, ws_connections: connections, ws_window: wsWindow, ...entry(main) };
    const orderEntrySame = { in_flight: connections, rest_connections: connections, ws_connections: connections, ws_window: 1, ...entry(same) };
    console.log(`order entry, ${String(inFlight)} in flight: WS/REST ${String(orderEntry.ws_vs_rest_orders)}; same ${String(connections)} connections, one in flight each: ${String(orderEntrySame.ws_vs_rest_orders)}`);

    // 2. Streams: the engine's rate and the updates delivered, with 1, 100 and 1,000 subscribers.
    const fanout: ({ subscribers: number; orders_per_s: number; commands_per_s: number; commands_vs_none: number } & Record<string, number>)[] = [];
    for (const n of SUBSCRIBER_COUNTS) {
      const subs = n === 0 ? undefined : await subscribers(`${wsBase}/ws/v5/public`, n);
      if (!fanoutOn) break;
      if (subs === undefined) {
        const cpu0 = await cpuSeconds(admin.pid);
        const t0 = process.hrtime.bigint();
        const run = await withCommandRate(admin, () => drive(rest, creds, orders, connections, 'REST, no subscribers', 's0x', restSide));
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const usPerCommand = cpuUsPerCommand(await cpuSeconds(admin.pid) - cpu0, run.commands_per_s * seconds);
        fanout.push({ subscribers: 0, orders_per_s: run.result.orders_per_s, commands_per_s: run.commands_per_s, commands_vs_none: 1, node_cpu_us_per_command: usPerCommand, node_cpu_per_command_vs_none: 1 });
        continue;
      }
      try {
        const before = await subs.counts();
        const fanoutChild = await fanoutPid(admin.pid);
        const cpu0 = [await cpuSeconds(admin.pid), await cpuSeconds(subs.pid), await cpuSeconds(fanoutChild)];
        const t0 = process.hrtime.bigint();
        const run = await withCommandRate(admin, () => drive(rest, creds, orders, connections, `REST, ${n} subscribers`, `s${n}x`, restSide));
        const after = await subs.counts();
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu1 = [await cpuSeconds(admin.pid), await cpuSeconds(subs.pid), await cpuSeconds(fanoutChild)];
        const updates = after.updates - before.updates;
        const usPerCommand = cpuUsPerCommand(cpu1[0]! - cpu0[0]!, run.commands_per_s * seconds);
        const row = {
          subscribers: n, orders_per_s: run.result.orders_per_s, commands_per_s: run.commands_per_s, commands_vs_none: ratio(run.commands_per_s, fanout[0]!.commands_per_s),
          updates_per_s_delivered: Math.round(updates / seconds), updates_per_s_per_subscriber: Math.round(updates / n / seconds),
          messages_per_s_delivered: Math.round((after.messages - before.messages) / seconds), mb_per_s_delivered: Math.round((after.bytes - before.bytes) / seconds / 1e4) / 100,
          // Of the machine's cores, how much the node, its fan-out process and the subscriber process each used.
          node_cpu_cores: Math.round(((cpu1[0]! - cpu0[0]!) / seconds) * 100) / 100, fanout_process_cpu_cores: Math.round(((cpu1[2]! - cpu0[2]!) / seconds) * 100) / 100,
          subscribers_cpu_cores: Math.round(((cpu1[1]! - cpu0[1]!) / seconds) * 100) / 100,
          // The node's CPU per applied command: steadier than the rate on a shared machine.
          node_cpu_us_per_command: usPerCommand, node_cpu_per_command_vs_none: ratio(usPerCommand, fanout[0]!['node_cpu_us_per_command']!),
          checked_updates: after.checker.updates, checker_failures: after.checker.failures, subscriber_errors: after.errors, closed: after.closed,
        };
        console.log(`${String(n).padStart(5)} subscribers: ${row.updates_per_s_delivered} updates/s delivered (${row.updates_per_s_per_subscriber} each), engine ${row.commands_per_s} commands/s, node ${row.node_cpu_cores} cores, fan-out process ${row.fanout_process_cpu_cores} cores, subscribers ${row.subscribers_cpu_cores} cores, checker ${row.checked_updates} updates, ${row.checker_failures} failures`);
        fanout.push(row);
      } finally {
        await subs.stop();
      }
    }

    // 3. The control: no subscribers, the machine as busy as the fan-out process and the
    //    subscribers made it in the last phase.
    const most = fanout[fanout.length - 1];
    let control: Record<string, number> | undefined;
    if (most !== undefined && most.subscribers > 0) {
      const cores = (most['fanout_process_cpu_cores'] ?? 0) + (most['subscribers_cpu_cores'] ?? 0);
      const burn = burners(cores);
      try {
        const cpu0 = [await cpuSeconds(admin.pid), ...await Promise.all(burn.pids.map((pid) => cpuSeconds(pid)))];
        const t0 = process.hrtime.bigint();
        const run = await withCommandRate(admin, () => drive(rest, creds, orders, connections, `REST, no subscribers, ${cores.toFixed(2)} cores burnt`, 'ctlx', restSide));
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu1 = [await cpuSeconds(admin.pid), ...await Promise.all(burn.pids.map((pid) => cpuSeconds(pid)))];
        const burnt = cpu1.slice(1).reduce((a, b, i) => a + b - cpu0[i + 1]!, 0);
        const usPerCommand = cpuUsPerCommand(cpu1[0]! - cpu0[0]!, run.commands_per_s * seconds);
        control = {
          burn_cores_asked: Math.round(cores * 100) / 100, burn_cores_used: Math.round((burnt / seconds) * 100) / 100,
          commands_per_s: run.commands_per_s, commands_vs_none: ratio(run.commands_per_s, fanout[0]!.commands_per_s),
          node_cpu_us_per_command: usPerCommand, node_cpu_per_command_vs_none: ratio(usPerCommand, fanout[0]!['node_cpu_us_per_command']!),
        };
        console.log(`control: no subscribers, ${String(control['burn_cores_used'])} cores burnt: engine ${String(run.commands_per_s)} commands/s (${String(control['commands_vs_none'])}x none; ${String(most.subscribers)} subscribers: ${String(most.commands_vs_none)}x)`);
      } finally {
        await burn.stop();
      }
    }
    console.log(JSON.stringify({
      bench: 'ws', orders, rounds, fanout_process: !inProcess,
      ws_vs_rest_orders: orderEntry.ws_vs_rest_orders,
      order_entry: orderEntry,
      order_entry_same_connections: orderEntrySame,
      ...(most !== undefined && {
        engine_commands_per_s_no_subscribers: fanout[0]!.commands_per_s,
        fanout,
        engine_rate_ratio_1000_subscribers_vs_none: ratio(most.commands_per_s, fanout[0]!.commands_per_s),
      }),
      ...(control !== undefined && { control_same_cpu_burnt_no_subscribers: control }),
    }));
  } finally {
    await node.stop();
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
