// A real `everbook start` process with custody on a test's anvil (--chain-rpc), as the custody
// tests drive it: the operator routes read through the data directory's admin token, and
// `settle` mines blocks until the node's custody runtime has no chain work left.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mine, waitFor } from './chain.js';
import { startServer, type ServerProcess } from './server-process.js';

export interface CustodyReply {
  chains: { chain: string; hotWallet: string; nextNonce: number; frozen: boolean; frozenReason: string; openTxs: number; assets: { asset: string; token: string; liabilities: string }[] }[];
  runtime: { rounds: number; head: number; lastError: string; watcher: { following: number }; reconciliation: { outcome: string; detail: string; ts: number } | null };
}

export class CustodyNode {
  private constructor(readonly server: ServerProcess, readonly dataDir: string, readonly anvilUrl: string, private readonly token: string) {}

  static async start(dataDir: string, anvilUrl: string, keyFile: string, extraArgs: string[] = [], env: NodeJS.ProcessEnv = process.env): Promise<CustodyNode> {
    const server = await startServer(dataDir, [
      '--chain-rpc', anvilUrl, '--custody-key-file', keyFile, '--custody-poll-ms', '50', '--dev-confirmations', '3', '--rate-limits', 'false', ...extraArgs,
    ], 60_000, env);
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    return new CustodyNode(server, dataDir, anvilUrl, token);
  }

  get url(): string {
    return this.server.url;
  }

  async admin<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.server.url}/admin/v1${path}`, {
      method, headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }), signal: AbortSignal.timeout(10_000),
    });
    const json = await response.json() as T;
    assert.equal(response.status, 200, `admin ${path}: ${JSON.stringify(json)}`);
    return json;
  }

  custody(): Promise<CustodyReply> {
    return this.admin<CustodyReply>('GET', '/custody');
  }

  /** Waits until the runtime has completed two rounds that started after this call. */
  async rounds(): Promise<void> {
    const start = (await this.custody()).runtime.rounds;
    await waitFor('two custody rounds', async () => (await this.custody()).runtime.rounds >= start + 2, 30_000);
  }

  /** Mines until every assigned transaction settled and no deposit is followed (bounded). */
  async settle(until: () => Promise<boolean> = () => Promise.resolve(true)): Promise<void> {
    for (let i = 0; i < 40; i++) {
      await this.rounds();
      const c = await this.custody();
      if (c.chains[0]!.openTxs === 0 && c.runtime.watcher.following === 0 && await until()) return;
      await mine(this.anvilUrl, 1);
    }
    assert.fail(`chain work did not settle in 40 blocks: ${JSON.stringify(await this.custody())}`);
  }
}
