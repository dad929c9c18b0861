// The local multicloud deployment's chain: one anvil for the whole deployment, outside every
// cloud as a public chain is. Without namespaces it listens on loopback; with them on the host's
// leg into the fabric, so every cloud reaches it through its own link and a partitioned cloud
// loses it too. It is started detached (it outlives `everbook cluster up`), recorded by PID with a
// marker in its command line (its state file, in the deployment's directory) and stopped by that
// PID at `cluster down`. The custody key (one mnemonic, mode 0600) is shared by every cloud's node.

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { anvilBinary, chainProcessEnv, loadOrCreateDevKeys } from '../custody/index.js';

/** The chain's name in the ledger (SetChain): the nodes' default `--chain-name`. */
export const CLUSTER_CHAIN_NAME = 'ethereum';
/** anvil's default chain id. */
export const CLUSTER_CHAIN_ID = 31_337;
/** Seconds between blocks: confirmations accrue without traffic, as on a real chain. */
export const CLUSTER_BLOCK_TIME_S = 1;
/** Confirmations the dev chain setup declares for the deployment's assets (few: blocks are 1 s). */
export const CLUSTER_CONFIRMATIONS = 2;
/** How long `up` waits for anvil to answer. */
const CHAIN_READY_TIMEOUT_MS = 30_000;
/** Each readiness probe's deadline. */
const PROBE_TIMEOUT_MS = 1_000;

export interface ClusterChain {
  readonly rpcUrl: string;
  readonly chainName: string;
  /** The custody mnemonic every node reads (mode 0600). */
  readonly custodyKeyFile: string;
  readonly pid: number;
  /** In anvil's command line: `down` signals the PID only if it is still this anvil. */
  readonly marker: string;
  readonly log: string;
}

/** Makes the deployment's custody key once (mode 0600, kept across `up`s on the same directory). */
export async function ensureCustodyKey(dir: string): Promise<string> {
  const file = join(dir, 'custody.key');
  await loadOrCreateDevKeys(file);
  return file;
}

/** Starts the deployment's anvil on `host`:`port`, detached, its state kept in `dir`/chain. */
export async function startClusterChain(dir: string, host: string, port: number): Promise<ClusterChain> {
  const chainDir = join(dir, 'chain');
  await mkdir(chainDir, { recursive: true, mode: 0o700 });
  const statePath = join(chainDir, 'anvil-state.json');
  const log = join(chainDir, 'anvil.log');
  // The key first: nothing is left running if it cannot be made.
  const custodyKeyFile = await ensureCustodyKey(dir);
  const args = [
    '--host', host, '--port', String(port), '--chain-id', String(CLUSTER_CHAIN_ID), '--block-time', String(CLUSTER_BLOCK_TIME_S),
    '--state', statePath, '--state-interval', '5',
  ];
  const fd = openSync(log, 'a');
  const child = spawn(anvilBinary(), args, { detached: true, stdio: ['ignore', fd, fd], env: chainProcessEnv() });
  closeSync(fd);
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) throw new Error('could not start anvil');
  const rpcUrl = `http://${host}:${port}`;
  return { rpcUrl, chainName: CLUSTER_CHAIN_NAME, custodyKeyFile, pid: child.pid, marker: statePath, log };
}

/** The chain's head block number, or undefined when it does not answer. */
export async function chainHead(rpcUrl: string): Promise<number | undefined> {
  try {
    const r = await fetch(rpcUrl, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }), signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    const body = (await r.json()) as { result?: string };
    return typeof body.result === 'string' ? Number(BigInt(body.result)) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the chain answers. */
export async function chainAnswering(rpcUrl: string): Promise<boolean> {
  return (await chainHead(rpcUrl)) !== undefined;
}

export const chainReadyTimeoutMs = CHAIN_READY_TIMEOUT_MS;

/** The node flags that put a node's custody runtime on the deployment's chain. */
export function chainFlags(chain: ClusterChain): string[] {
  return [
    '--chain-rpc', chain.rpcUrl, '--chain-name', chain.chainName, '--custody-key-file', chain.custodyKeyFile,
    '--dev-confirmations', String(CLUSTER_CONFIRMATIONS), '--custody-poll-ms', '250',
  ];
}
