// npm run bench:api — signed order entry over keep-alive HTTP on loopback. Runs an Everbook
// node (dev exchange, fresh data directory, journal with fsync) and a bare fastify route, each
// in its own process, and drives both with the same client: C connections each sending one
// signed limit order at a time (alternating buy and sell around one price, so orders trade),
// for a bounded number of requests. Prints orders/s and p50/p99 latency for each, then one
// JSON line. Usage: npm run bench:api [-- REQUESTS [CONNECTIONS]]

import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const requests = Number(process.argv[2] ?? 20_000);
const connections = Number(process.argv[3] ?? 32);

interface Target { readonly url: URL; stop(): Promise<void>; readonly creds: { apiKey: string; secretKey: string; passphrase: string }[] }

async function spawnUntil(args: string[], pattern: RegExp, collect?: (line: string) => void): Promise<{ match: RegExpExecArray; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => { child.on('exit', () => { resolve(); }); });
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('server did not start in 60 s')); }, 60_000);
    const lines = createInterface({ input: child.stdout });
    let found: RegExpExecArray | undefined;
    lines.on('line', (line) => {
      collect?.(line);
      found ??= pattern.exec(line) ?? undefined;
      if (found !== undefined && (collect === undefined || line.includes('operator CLI'))) { clearTimeout(timer); resolve(found); }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error('server exited early')); });
  });
  return { match, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

async function everbook(dataDir: string): Promise<Target> {
  const creds: Target['creds'] = [];
  const { match, stop } = await spawnUntil(
    [join(here, '..', 'src', 'cli', 'main.js'), 'start', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', '--rate-limits', 'false'],
    /OKX v5 REST at (http:\/\/\S+)\/api\/v5/,
    (line) => {
      const t = /dev trader (\d+): apiKey (\S+)\s+secret (\S+)\s+passphrase (\S+)/.exec(line);
      if (t !== null) creds.push({ apiKey: t[2]!, secretKey: t[3]!, passphrase: t[4]! });
    },
  );
  return { url: new URL(match[1]!), stop, creds };
}

async function bare(): Promise<Target> {
  const { match, stop } = await spawnUntil([join(here, 'bare-fastify.js')], /listening (\d+)/);
  return { url: new URL(`http://127.0.0.1:${match[1]!}`), stop, creds: [{ apiKey: 'k', secretKey: 's', passphrase: 'p' }] };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

async function drive(target: Target, label: string): Promise<{ label: string; orders_per_s: number; p50_ms: number; p99_ms: number; errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies = new Float64Array(requests);
  let next = 0;
  let errors = 0;
  const path = '/api/v5/trade/order';
  const one = (n: number): Promise<void> => new Promise((resolve) => {
    const creds = target.creds[n % target.creds.length]!;
    const side = n % 2 === 0 ? 'buy' : 'sell';
    const body = JSON.stringify({ instId: 'BTC-USDT', tdMode: 'cash', side, ordType: 'limit', px: '50000', sz: '0.0001', clOrdId: `b${n}` });
    const ts = new Date().toISOString();
    const sign = createHmac('sha256', creds.secretKey).update(ts + 'POST' + path + body).digest('base64');
    const t0 = process.hrtime.bigint();
    const req = request({
      agent, host: target.url.hostname, port: target.url.port, path, method: 'POST',
      headers: {
        'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
        'OK-ACCESS-KEY': creds.apiKey, 'OK-ACCESS-PASSPHRASE': creds.passphrase, 'OK-ACCESS-TIMESTAMP': ts, 'OK-ACCESS-SIGN': sign,
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
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next < requests) await one(next++);
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  const sorted = latencies.slice().sort();
  const r = { label, orders_per_s: Math.round(requests / seconds), p50_ms: Math.round(percentile(sorted, 0.5) * 100) / 100, p99_ms: Math.round(percentile(sorted, 0.99) * 100) / 100, errors };
  console.log(`${label.padEnd(14)} ${String(r.orders_per_s).padStart(7)} orders/s  p50 ${r.p50_ms} ms  p99 ${r.p99_ms} ms  errors ${errors}`);
  return r;
}

const dataDir = await mkdtemp(join(tmpdir(), 'everbook-bench-api-'));
try {
  const base = await bare();
  const baseline = await drive(base, 'bare fastify');
  await base.stop();
  const node = await everbook(dataDir);
  const ours = await drive(node, 'everbook');
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
