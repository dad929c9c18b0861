// Starts and stops real `everbook start` processes for tests: waits for the banner line that
// says the node is serving (no sleeping), parses the URL and dev credentials from it, and stops
// only the process it started, by its PID. Custody on a local chain is off unless a test turns
// it on (the custody tests start their own anvil and pass --chain-rpc).

import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Credentials } from './okx-client.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  readonly traders: (Credentials & { userId: number })[];
  /** Resolves with the exit code or signal once the process has exited. */
  readonly exited: Promise<number | string>;
  output(): string;
}

export async function startServer(dataDir: string, extraArgs: string[] = [], readyTimeoutMs = 60_000, env: NodeJS.ProcessEnv = process.env): Promise<ServerProcess> {
  const child = spawn(process.execPath, [cli, 'start', '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', '--dev', 'true', '--local-chain', 'false', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'], env,
  });
  let log = '';
  child.stderr.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<number | string>((resolve) => {
    child.on('exit', (code, signal) => { resolve(code ?? signal ?? 'unknown'); });
  });
  const traders: ServerProcess['traders'] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`server not ready in ${readyTimeoutMs} ms:\n${log}`)); }, readyTimeoutMs);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited (${code}) before it was ready:\n${log}`)); });
    const lines = createInterface({ input: child.stdout });
    let found: string | undefined;
    lines.on('line', (line) => {
      log += line + '\n';
      const running = /OKX v5 REST at (http:\/\/\S+)\/api\/v5/.exec(line);
      if (running !== null) found = running[1];
      const trader = /dev trader (\d+): apiKey (\S+)\s+secret (\S+)\s+(?:password|passphrase) (\S+)/.exec(line);
      if (trader !== null) traders.push({ userId: Number(trader[1]), apiKey: trader[2]!, secretKey: trader[3]!, passphrase: trader[4]! });
      if (found !== undefined && line.includes('operator CLI')) {
        clearTimeout(timer);
        resolve(found);
      }
    });
  });
  return { child, url, traders, exited, output: () => log };
}

export async function kill(server: ServerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | string> {
  if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill(signal);
  return server.exited;
}
