// npm run bench:ws — WebSocket streams and order entry, on one node (dev exchange, fresh data
// directory, the file journal with fsync), all in the same run:
//  1. order entry: signed REST orders (bench/load.ts) vs the same orders as WebSocket `order`
//     ops on logged-in /ws/v5/private connections, with the same connection count and one
//     order in flight per connection; after a warm-up, REST runs before and after WS and the
//     ratio is WS over their mean, so a drift of the (shared) machine does not pick the winner;
//     orders/s and p50/p99 of each, and the ratio (goal: WS >= 2x);
//  2. the engine's command rate (the node's applied seq per second) while REST orders flow with
//     0, 1, 100 and 1,000 subscribers to `books` + `trades` (a separate process,
//     bench/ws-subscribers.ts), and the updates/s delivered to them (all subscribers together,
//     and per subscriber), and the node's CPU per applied command (/proc; steadier than the rate
//     on a shared machine) with its ratio to none; the first subscriber checks every books push
//     (chain and checksum).
// Prints one JSON line with the figures and same-run ratios. A measurement, not a pass/fail test.
// Usage: npm run bench:ws [-- ORDERS [CONNECTIONS]]

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { drive, spawnUntil, traderFrom, type Creds, type LoadResult } from './load.js';

const here = dirname(fileURLToPath(import.meta.url));
const orders = Number(process.argv[2] ?? 10_000);
const connections = Number(process.argv[3] ?? 32);
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

/** The WS counterpart of bench/load.ts's drive(): the same orders, connections and accounting. */
async function driveWs(url: string, creds: readonly Creds[], requests: number, conns: number, label: string): Promise<LoadResult> {
  const traders = await Promise.all(Array.from({ length: conns }, (_, i) => wsTrader(url, creds[i % creds.length]!)));
  const latencies = new Float64Array(requests);
  let next = 0;
  let errors = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(traders.map(async (trader) => {
    while (next < requests) {
      const n = next++;
      const side = n % 2 === 0 ? 'buy' : 'sell';
      const s = process.hrtime.bigint();
      const ok = await trader.place({ instId: 'BTC-USDT', tdMode: 'cash', side, ordType: 'limit', px: '50000', sz: '0.0001', clOrdId: `w${n}` });
      latencies[n] = Number(process.hrtime.bigint() - s) / 1e6;
      if (!ok) errors += 1;
    }
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const t of traders) t.close();
  const sorted = latencies.slice().sort();
  const r = { label, orders_per_s: Math.round(requests / seconds), p50_ms: Math.round(percentile(sorted, 0.5) * 100) / 100, p99_ms: Math.round(percentile(sorted, 0.99) * 100) / 100, errors };
  console.log(`${label.padEnd(22)} ${String(r.orders_per_s).padStart(7)} orders/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  errors ${errors}`);
  return r;
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
    [process.execPath, join(here, '..', 'src', 'cli', 'main.js'), 'start', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', '--dev', 'true', '--local-chain', 'false', '--rate-limits', 'false'],
    /OKX v5 REST at (http:\/\/\S+)\/api\/v5/,
    { collect: (line) => { const c = traderFrom(line); if (c !== undefined) creds.push(c); }, done: (line) => line.includes('operator CLI') },
  );
  try {
    const base = node.match[1]!;
    const admin = JSON.parse(await readFile(join(dataDir, 'admin.json'), 'utf8')) as AdminFile;
    const wsBase = base.replace(/^http/, 'ws');
    const rest = [new URL(base)];

    // 1. Order entry, no subscribers: a warm-up, then REST, WebSocket, REST.
    await drive(rest, creds, orders, connections, 'warm-up (not counted)', 'u');
    const restEntry = await withCommandRate(admin, () => drive(rest, creds, orders, connections, 'REST order entry', 'r'));
    let wsEntry: { result: LoadResult; commands_per_s: number } | undefined;
    let wsEntryError = '';
    try {
      wsEntry = await withCommandRate(admin, () => driveWs(`${wsBase}/ws/v5/private`, creds, orders, connections, 'WS order entry'));
    } catch (e) {
      wsEntryError = (e as Error).message;
      console.log(`WS order entry not measured: ${wsEntryError}`);
    }
    const restAgain = await withCommandRate(admin, () => drive(rest, creds, orders, connections, 'REST order entry again', 'q'));
    const restMean = Math.round((restEntry.result.orders_per_s + restAgain.result.orders_per_s) / 2);

    // 2. Streams: the engine's rate and the updates delivered, with 1, 100 and 1,000 subscribers.
    const fanout: ({ subscribers: number; orders_per_s: number; commands_per_s: number; commands_vs_none: number } & Record<string, number>)[] = [];
    for (const n of SUBSCRIBER_COUNTS) {
      const subs = n === 0 ? undefined : await subscribers(`${wsBase}/ws/v5/public`, n);
      if (subs === undefined) {
        const cpu0 = await cpuSeconds(admin.pid);
        const t0 = process.hrtime.bigint();
        const run = await withCommandRate(admin, () => drive(rest, creds, orders, connections, 'REST, no subscribers', 's0x'));
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const usPerCommand = cpuUsPerCommand(await cpuSeconds(admin.pid) - cpu0, run.commands_per_s * seconds);
        fanout.push({ subscribers: 0, orders_per_s: run.result.orders_per_s, commands_per_s: run.commands_per_s, commands_vs_none: 1, node_cpu_us_per_command: usPerCommand, node_cpu_per_command_vs_none: 1 });
        continue;
      }
      try {
        const before = await subs.counts();
        const cpu0 = [await cpuSeconds(admin.pid), await cpuSeconds(subs.pid)];
        const t0 = process.hrtime.bigint();
        const run = await withCommandRate(admin, () => drive(rest, creds, orders, connections, `REST, ${n} subscribers`, `s${n}x`));
        const after = await subs.counts();
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpu1 = [await cpuSeconds(admin.pid), await cpuSeconds(subs.pid)];
        const updates = after.updates - before.updates;
        const usPerCommand = cpuUsPerCommand(cpu1[0]! - cpu0[0]!, run.commands_per_s * seconds);
        const row = {
          subscribers: n, orders_per_s: run.result.orders_per_s, commands_per_s: run.commands_per_s, commands_vs_none: ratio(run.commands_per_s, fanout[0]!.commands_per_s),
          updates_per_s_delivered: Math.round(updates / seconds), updates_per_s_per_subscriber: Math.round(updates / n / seconds),
          messages_per_s_delivered: Math.round((after.messages - before.messages) / seconds), mb_per_s_delivered: Math.round((after.bytes - before.bytes) / seconds / 1e4) / 100,
          // Of the machine's cores, how much the node and the subscriber process each used.
          node_cpu_cores: Math.round(((cpu1[0]! - cpu0[0]!) / seconds) * 100) / 100, subscribers_cpu_cores: Math.round(((cpu1[1]! - cpu0[1]!) / seconds) * 100) / 100,
          // The node's CPU per applied command: steadier than the rate on a shared machine.
          node_cpu_us_per_command: usPerCommand, node_cpu_per_command_vs_none: ratio(usPerCommand, fanout[0]!['node_cpu_us_per_command']!),
          checked_updates: after.checker.updates, checker_failures: after.checker.failures, subscriber_errors: after.errors, closed: after.closed,
        };
        console.log(`${String(n).padStart(5)} subscribers: ${row.updates_per_s_delivered} updates/s delivered (${row.updates_per_s_per_subscriber} each), engine ${row.commands_per_s} commands/s, node ${row.node_cpu_cores} cores, subscribers ${row.subscribers_cpu_cores} cores, checker ${row.checked_updates} updates, ${row.checker_failures} failures`);
        fanout.push(row);
      } finally {
        await subs.stop();
      }
    }

    const most = fanout[fanout.length - 1]!;
    console.log(JSON.stringify({
      bench: 'ws', orders, connections,
      rest_orders_per_s: restMean, rest_orders_per_s_runs: [restEntry.result.orders_per_s, restAgain.result.orders_per_s], rest_p50_ms: restEntry.result.p50_ms, rest_p99_ms: restEntry.result.p99_ms, rest_errors: restEntry.result.errors,
      ws_orders_per_s: wsEntry?.result.orders_per_s ?? null, ws_p50_ms: wsEntry?.result.p50_ms ?? null, ws_p99_ms: wsEntry?.result.p99_ms ?? null, ws_errors: wsEntry?.result.errors ?? null,
      ...(wsEntryError !== '' && { ws_order_entry_error: wsEntryError }),
      ws_vs_rest_orders: wsEntry === undefined ? null : ratio(wsEntry.result.orders_per_s, restMean),
      engine_commands_per_s_no_subscribers: fanout[0]!.commands_per_s,
      fanout,
      engine_rate_ratio_1000_subscribers_vs_none: ratio(most.commands_per_s, fanout[0]!.commands_per_s),
    }));
  } finally {
    await node.stop();
  }
} finally {
  await rm(dataDir, { recursive: true, force: true });
}
