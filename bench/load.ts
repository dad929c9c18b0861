// The load generator shared by the API benchmarks: C keep-alive connections, each sending one
// signed OKX limit order at a time (alternating buy and sell around one price, so orders trade)
// for a bounded number of requests, spread over one or more gateways. Reports orders/s and
// p50/p99 latency from send to acknowledgement.

import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';

export interface Creds { readonly apiKey: string; readonly secretKey: string; readonly passphrase: string }

export interface LoadResult {
  readonly label: string;
  readonly orders_per_s: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly errors: number;
}

/** Starts a process and resolves once a stdout line matches (collecting lines until `done`). */
export async function spawnUntil(
  cmd: string[], pattern: RegExp, options: { collect?: (line: string) => void; done?: (line: string) => boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<{ match: RegExpExecArray; pid: number; stop: () => Promise<void> }> {
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], env: options.env ?? process.env });
  const exited = new Promise<void>((resolve) => { child.on('exit', () => { resolve(); }); });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('server did not start in 60 s')); }, 60_000);
    let found: RegExpExecArray | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      options.collect?.(line);
      found ??= pattern.exec(line) ?? undefined;
      if (found !== undefined && (options.done?.(line) ?? true)) { clearTimeout(timer); resolve(found); }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error('server exited early')); });
  });
  return { match, pid: child.pid ?? 0, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/**
 * Order n's side when order n goes to trader n % traders: each trader buys in one pass over the
 * traders and sells in the next, so no trader's funds run out however many rounds a benchmark
 * drives (with a plain alternation and two traders, one would buy every time and run out of USDT
 * after about 20,000 orders).
 */
export const balancedSide = (n: number, traders: number): 'buy' | 'sell' => (Math.floor(n / traders) % 2 === 0 ? 'buy' : 'sell');

/**
 * Client order ids are `${clOrdIdPrefix}${n}`: several runs against one node need distinct
 * prefixes. `sideOf` picks order n's side (its trader is creds[n % creds.length]).
 */
export async function drive(
  urls: readonly URL[], creds: readonly Creds[], requests: number, connections: number, label: string, clOrdIdPrefix = 'b', sideOf = (n: number): 'buy' | 'sell' => balancedSide(n, creds.length),
): Promise<LoadResult> {
  const agents = urls.map(() => new Agent({ keepAlive: true, maxSockets: connections }));
  const latencies = new Float64Array(requests);
  let next = 0;
  let errors = 0;
  const path = '/api/v5/trade/order';
  const one = (n: number, connection: number): Promise<void> => new Promise((resolve) => {
    const target = connection % urls.length;
    const url = urls[target]!;
    const c = creds[n % creds.length]!;
    const side = sideOf(n);
    const body = JSON.stringify({ instId: 'BTC-USDT', tdMode: 'cash', side, ordType: 'limit', px: '50000', sz: '0.0001', clOrdId: `${clOrdIdPrefix}${n}` });
    const ts = new Date().toISOString();
    const sign = createHmac('sha256', c.secretKey).update(ts + 'POST' + path + body).digest('base64');
    const t0 = process.hrtime.bigint();
    const req = request({
      agent: agents[target], host: url.hostname, port: url.port, path, method: 'POST',
      headers: {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        'OK-ACCESS-KEY': c.apiKey, 'OK-ACCESS-PASSPHRASE': c.passphrase, 'OK-ACCESS-TIMESTAMP': ts, 'OK-ACCESS-SIGN': sign,
      },
    }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => {
        latencies[n] = Number(process.hrtime.bigint() - t0) / 1e6;
        if (res.statusCode !== 200 || !text.includes('"sCode":"0"')) errors += 1;
        resolve();
      });
    });
    req.on('error', () => { errors += 1; latencies[n] = Number(process.hrtime.bigint() - t0) / 1e6; resolve(); });
    req.end(body);
  });
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: connections }, async (_, connection) => {
    while (next < requests) await one(next++, connection);
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  for (const a of agents) a.destroy();
  const sorted = latencies.slice().sort();
  const r = { label, orders_per_s: Math.round(requests / seconds), p50_ms: Math.round(percentile(sorted, 0.5) * 100) / 100, p99_ms: Math.round(percentile(sorted, 0.99) * 100) / 100, errors };
  console.log(`${label.padEnd(22)} ${String(r.orders_per_s).padStart(7)} orders/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  errors ${errors}`);
  return r;
}

/** The dev traders a node prints on its first start. */
export function traderFrom(line: string): Creds | undefined {
  const t = /dev trader (\d+): apiKey (\S+)\s+secret (\S+)\s+(?:password|passphrase) (\S+)/.exec(line);
  return t === null ? undefined : { apiKey: t[2]!, secretKey: t[3]!, passphrase: t[4]! };
}

let clockTicksPerS: number | undefined;

/**
 * CPU time a process has used so far (user + system, all its threads), in ms, from
 * /proc/PID/stat; undefined where there is no /proc. On a shared machine CPU per request moves
 * far less than requests per second, which also counts time spent waiting for a core.
 */
export function processCpuMs(pid: number): number | undefined {
  return statCpuMs(`/proc/${String(pid)}/stat`);
}

/**
 * CPU time a process's main thread (the one that runs its JavaScript) has used so far, in ms:
 * beside processCpuMs, it tells whether that single thread or the machine is the limit.
 */
export function mainThreadCpuMs(pid: number): number | undefined {
  return statCpuMs(`/proc/${String(pid)}/task/${String(pid)}/stat`);
}

/**
 * The fields of a /proc stat file after the command name (field 2, in parentheses, which may
 * hold spaces): [0] is the state, [1] the parent's pid, [11] and [12] utime and stime.
 * Undefined when the file cannot be read (no /proc, or the process has ended).
 */
export function procStatFields(path: string): string[] | undefined {
  let stat: string;
  try {
    stat = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function statCpuMs(path: string): number | undefined {
  const fields = procStatFields(path);
  if (fields === undefined) return undefined;
  if (clockTicksPerS === undefined) {
    try {
      clockTicksPerS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicksPerS = 100;
    }
  }
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerS;
}

/** The median of a non-empty list. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
