// Starts and stops a local chain: the anvil binary from the npm package @foundry-rs/anvil (the
// binary ships in a per-platform optional package, spawned directly so that its PID is anvil's
// own, never a wrapper's). It listens on loopback only, on a free port it picks itself, and is
// ready once it printed its address and answered eth_chainId. Stopping signals that PID only.

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

export interface AnvilOptions {
  /** 0 (the default): a free port, chosen by anvil. */
  readonly port?: number;
  readonly chainId?: number;
  /**
   * Seconds between blocks; absent: a block per transaction ("automine"), so that a test decides
   * when confirmations accrue by mining them (anvil_mine).
   */
  readonly blockTimeS?: number;
  /** Loads the chain from this file at start and writes it there while running (dev: survives restarts). */
  readonly statePath?: string;
  /** How long to wait for anvil to answer. */
  readonly readyTimeoutMs?: number;
}

export interface AnvilProcess {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The last lines anvil printed (bounded), for error messages. */
  output(): string;
  /** Signals anvil (SIGTERM, then SIGKILL after a grace period) and waits for it to exit. */
  stop(): Promise<void>;
}

/** Lines of anvil's output kept for diagnostics. */
const OUTPUT_LINES_MAX = 200;
const READY_TIMEOUT_MS_DEFAULT = 30_000;
const STOP_GRACE_MS = 5_000;

const platforms: Readonly<Record<string, string>> = { linux: 'linux', darwin: 'darwin', win32: 'win32' };
const archs: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64' };

/** The anvil binary of this platform, from its npm package. */
export function anvilBinary(): string {
  const platform = platforms[process.platform];
  const arch = archs[process.arch];
  if (platform === undefined || arch === undefined) throw new Error(`anvil: no binary package for ${process.platform}-${process.arch}`);
  const pkg = `@foundry-rs/anvil-${platform}-${arch}`;
  const manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
  return join(dirname(manifest), 'bin', platform === 'win32' ? 'anvil.exe' : 'anvil');
}

export async function startAnvil(options: AnvilOptions = {}): Promise<AnvilProcess> {
  const args = ['--host', '127.0.0.1', '--port', String(options.port ?? 0), '--chain-id', String(options.chainId ?? 31_337)];
  if (options.blockTimeS !== undefined) args.push('--block-time', String(options.blockTimeS));
  if (options.statePath !== undefined) args.push('--state', options.statePath, '--state-interval', '5');
  const child = spawn(anvilBinary(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (line: string): void => {
    lines.push(line);
    if (lines.length > OUTPUT_LINES_MAX) lines.shift();
  };
  createInterface({ input: child.stderr }).on('line', keep);
  const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
  const timeoutMs = options.readyTimeoutMs ?? READY_TIMEOUT_MS_DEFAULT;
  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`anvil did not start in ${timeoutMs} ms:\n${lines.join('\n')}`)); }, timeoutMs);
      child.once('error', (e) => { clearTimeout(timer); reject(e); });
      void exited.then(() => { clearTimeout(timer); reject(new Error(`anvil exited before it listened:\n${lines.join('\n')}`)); });
      createInterface({ input: child.stdout }).on('line', (line) => {
        keep(line);
        const m = /^Listening on 127\.0\.0\.1:(\d+)$/.exec(line.trim());
        if (m !== null) { clearTimeout(timer); resolve(Number(m[1])); }
      });
    });
    const url = `http://127.0.0.1:${port}`;
    await waitUntilAnswering(url, timeoutMs);
    return handle(child, url, port, lines, exited);
  } catch (e) {
    await stopChild(child, exited);
    throw e;
  }
}

function handle(child: ChildProcess, url: string, port: number, lines: string[], exited: Promise<void>): AnvilProcess {
  const pid = child.pid;
  if (pid === undefined) throw new Error('anvil has no PID');
  return { url, port, pid, output: () => lines.join('\n'), stop: () => stopChild(child, exited) };
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const grace = setTimeout(() => { child.kill('SIGKILL'); }, STOP_GRACE_MS);
  await exited;
  clearTimeout(grace);
}

/** Polls eth_chainId (each call bounded) until anvil answers or the deadline passes. */
async function waitUntilAnswering(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }), signal: AbortSignal.timeout(1_000),
      });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`anvil at ${url} did not answer in ${timeoutMs} ms: ${last}`);
}
