// The local multicloud deployment: for each cloud of a topology, one etcd member and one
// Everbook node (replica + gateway) on the etcd log, each cloud in its own network namespace
// when run as root (else plain processes on loopback); with a chain (chain.ts), one anvil outside
// every cloud that all nodes' custody runtimes use, declared once by the bootstrapping node's dev
// chain setup. `up` starts them and waits until every node serves; `down` stops exactly the
// processes it started (by PID, checked against their command line) and removes the namespaces;
// the state lives in <dir>/cluster.json.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KeyDerivation } from '../gateway/index.js';
import { chainAnswering, chainFlags, chainReadyTimeoutMs, startClusterChain, type ClusterChain } from './chain.js';
import { createNetwork, destroyNetwork, existingNamespaces, namespacesAvailable, netnsPrefix } from './netns.js';
import { addresses, freeLoopbackPort, networkTag, type CloudAddress, type TopologySpec } from './topology.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.js');
/**
 * etcd timing for clouds on one machine: heartbeat 50 ms, election after 350 ms of silence.
 * When the leader's cloud dies, the two survivors each wait a randomized 1x to 2x the election
 * timeout; if both campaign in the same heartbeat tick the vote splits and they wait again, so
 * the worst case is about 4x the timeout. 350 ms keeps that under 1.5 s (500 ms allowed 2 s).
 */
export const etcdTiming = { heartbeatMs: 50, electionMs: 350 } as const;
/** How long `up` waits for a member or node to come up. */
const START_TIMEOUT_MS = 60_000;

export interface ProcessRecord {
  /** '' for the chain, which is in no cloud. */
  readonly cloud: string;
  readonly role: 'etcd' | 'node' | 'chain';
  readonly pid: number;
  /** A string its command line must contain, so `down` never signals a reused PID. */
  readonly marker: string;
  readonly log: string;
}

export interface ClusterState {
  readonly topology: TopologySpec;
  readonly dir: string;
  readonly namespaces: boolean;
  readonly hostAddress: string | undefined;
  /** Shared by the nodes: guards their internal routes (peer snapshots). */
  readonly clusterToken: string;
  /** Shared by the nodes: the key-derivation secret every cloud verifies API keys with (mode 0600). */
  readonly keySecretFile: string;
  processes: ProcessRecord[];
  /** The deployment's chain, when it has one (custody on in every node). */
  readonly chain?: ClusterChain;
  /** Drills only: clouds whose node runs with a skewed clock (`--clock-offset-ms`), in ms. */
  clockOffsets?: Record<string, number>;
}

export const stateFile = (dir: string): string => join(dir, 'cluster.json');

export async function loadState(dir: string): Promise<ClusterState> {
  try {
    return JSON.parse(await readFile(stateFile(dir), 'utf8')) as ClusterState;
  } catch {
    throw new Error(`no cluster found in ${dir} (start one with: everbook cluster up)`);
  }
}

async function saveState(state: ClusterState): Promise<void> {
  await writeFile(stateFile(state.dir), JSON.stringify(state, null, 2) + '\n');
}

function startDetached(cmd: string[], log: string, env: NodeJS.ProcessEnv = process.env): number {
  const fd = openSync(log, 'a');
  const child = spawn(cmd[0]!, cmd.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
  closeSync(fd);
  // A program that cannot start (missing binary) reports through 'error': never crash on it.
  child.on('error', () => undefined);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${cmd.join(' ')}`);
  return child.pid;
}

export function alive(pid: number, marker?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  if (marker === undefined) return true;
  return readCmdline(pid).includes(marker);
}

function readCmdline(pid: number): string {
  try {
    // Synchronous on purpose: a tiny procfs read, used between signals.
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
}

export function etcdCommand(c: CloudAddress, all: readonly CloudAddress[], dataDir: string, state: 'new' | 'existing'): string[] {
  return [
    ...netnsPrefix(c), 'etcd', '--name', c.cloud.name, '--data-dir', dataDir,
    '--listen-client-urls', c.etcdClientUrl, '--advertise-client-urls', c.etcdClientUrl,
    '--listen-peer-urls', c.etcdPeerUrl, '--initial-advertise-peer-urls', c.etcdPeerUrl,
    '--initial-cluster', all.map((a) => `${a.cloud.name}=${a.etcdPeerUrl}`).join(','),
    '--initial-cluster-state', state, '--initial-cluster-token', 'everbook',
    '--heartbeat-interval', String(etcdTiming.heartbeatMs), '--election-timeout', String(etcdTiming.electionMs),
    // A member that was cut off campaigns alone, raising its term; without a pre-vote it forces
    // a needless second election (writes stop again) the moment it rejoins.
    '--pre-vote',
    '--logger', 'zap', '--log-level', 'warn',
  ];
}

export function nodeCommand(c: CloudAddress, all: readonly CloudAddress[], dataDir: string, bootstrap: boolean, clockOffsetMs = 0, extra: readonly string[] = []): string[] {
  // Each node lists its own cloud's etcd member first: it talks to the others only when it must.
  const endpoints = [c, ...all.filter((a) => a !== c)].map((a) => a.etcdClientUrl).join(',');
  return [
    ...netnsPrefix(c), process.execPath, cli, 'start', '--data-dir', dataDir, '--host', c.host, '--port', String(c.cloud.apiPort),
    '--log', 'etcd', '--etcd-endpoints', endpoints, '--cloud', c.cloud.name, '--dev', 'true', '--bootstrap', String(bootstrap),
    '--log-level', 'warn', '--rate-limits', 'false', '--admin-remote', 'true',
    // One argument with '=': a negative value would otherwise read as another flag.
    ...(clockOffsetMs === 0 ? [] : [`--clock-offset-ms=${String(clockOffsetMs)}`]),
    ...extra,
  ];
}

async function etcdHealthy(c: CloudAddress): Promise<boolean> {
  try {
    const r = await fetch(`${c.etcdClientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await r.json()) as { health?: string };
    return body.health === 'true';
  } catch {
    return false;
  }
}

export async function nodeServing(c: CloudAddress): Promise<boolean> {
  try {
    const r = await fetch(`${c.apiUrl}/api/v5/public/time`, { signal: AbortSignal.timeout(1_000) });
    return r.status === 200;
  } catch {
    return false;
  }
}

/** Starts one cloud's etcd member (fresh, or rejoining with its data) and returns its record. */
export function startEtcd(state: ClusterState, c: CloudAddress, initial: 'new' | 'existing'): ProcessRecord {
  const all = addresses(state.topology, state.namespaces);
  const dataDir = join(state.dir, c.cloud.name, 'etcd');
  const log = join(state.dir, c.cloud.name, 'etcd.log');
  return { cloud: c.cloud.name, role: 'etcd', pid: startDetached(etcdCommand(c, all, dataDir, initial), log), marker: dataDir, log };
}

/**
 * Starts one cloud's node. `extraEnv` is for drills and tests only (the broadcaster's crash hook,
 * EVERBOOK_CRASH_AT); it is not recorded, so a restart by the drill starts the node without it.
 */
export function startNodeProcess(state: ClusterState, c: CloudAddress, bootstrap: boolean, extraEnv: Readonly<Record<string, string>> = {}): ProcessRecord {
  const all = addresses(state.topology, state.namespaces);
  const dataDir = join(state.dir, c.cloud.name, 'node');
  const log = join(state.dir, c.cloud.name, 'node.log');
  const env = { ...process.env, EVERBOOK_CLUSTER_TOKEN: state.clusterToken, EVERBOOK_KEY_SECRET_FILE: state.keySecretFile, ...extraEnv };
  const offset = state.clockOffsets?.[c.cloud.name] ?? 0;
  const extra = state.chain === undefined ? [] : chainFlags(state.chain);
  return { cloud: c.cloud.name, role: 'node', pid: startDetached(nodeCommand(c, all, dataDir, bootstrap, offset, extra), log, env), marker: dataDir, log };
}

export interface ClusterUpOptions {
  /** Network namespaces per cloud (default: when root). */
  readonly namespaces?: boolean;
  /** One anvil for the deployment, and custody on in every node (default: off; the CLI turns it on). */
  readonly chain?: boolean;
}

export async function clusterUp(topology: TopologySpec, dirArg: string, options: ClusterUpOptions = {}): Promise<ClusterState> {
  const dir = resolve(dirArg);
  const namespaces = options.namespaces ?? namespacesAvailable();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  try {
    const existing = await loadState(dir);
    if (existing.processes.some((p) => alive(p.pid, p.marker))) throw new Error(`a cluster is already running from ${dir}; run everbook cluster down first`);
  } catch (e) {
    if (!(e as Error).message.startsWith('no cluster found')) throw e;
  }
  let state: ClusterState = {
    topology, dir, namespaces, hostAddress: namespaces ? `${topology.subnet}.1` : undefined,
    clusterToken: randomBytes(24).toString('hex'), keySecretFile: join(dir, 'key-secret'), processes: [],
  };
  // One key-derivation secret for every cloud, made once: a key created in one cloud verifies in all.
  // An existing one is kept, so a cluster brought up again on its data still knows its keys.
  try {
    await writeFile(state.keySecretFile, KeyDerivation.generate() + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const all = addresses(topology, namespaces);
  if (namespaces) {
    const tag = networkTag(topology);
    const taken = await existingNamespaces(tag);
    if (taken.length > 0) {
      throw new Error(
        `network namespaces ${taken.join(', ')} exist: another deployment uses subnet ${topology.subnet}. `
        + 'Stop it (everbook cluster down --dir <its dir>), give this one another subnet in its topology, or remove stale ones with ip netns del.',
      );
    }
    await createNetwork(tag, all, state.hostAddress!);
  }
  for (const c of all) await mkdir(join(dir, c.cloud.name), { recursive: true });
  try {
    if (options.chain === true) {
      // The chain is outside every cloud: on the host's leg into the fabric, or on loopback.
      const chain = await startClusterChain(dir, state.hostAddress ?? '127.0.0.1', await freeLoopbackPort());
      state = { ...state, chain, processes: [{ cloud: '', role: 'chain', pid: chain.pid, marker: chain.marker, log: chain.log }] };
      await saveState(state);
      await waitFor('the chain (anvil) answering', () => chainAnswering(chain.rpcUrl), chainReadyTimeoutMs);
    }
    for (const c of all) state.processes.push(startEtcd(state, c, 'new'));
    await saveState(state);
    for (const c of all) await waitFor(`etcd member ${c.cloud.name} healthy`, () => etcdHealthy(c));
    // The first cloud's node creates the dev market; the others start once it serves.
    for (const [i, c] of all.entries()) {
      state.processes.push(startNodeProcess(state, c, i === 0));
      await saveState(state);
      await waitFor(`node ${c.cloud.name} serving`, () => nodeServing(c));
    }
  } catch (e) {
    await clusterDown(dir).catch(() => undefined);
    throw e;
  }
  return state;
}

/** Sends SIGTERM, then SIGKILL after a grace period, to one recorded process if it is still ours. */
export async function stopProcess(p: ProcessRecord, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!alive(p.pid, p.marker)) return;
  process.kill(p.pid, signal);
  const deadline = Date.now() + graceMs;
  while (alive(p.pid, p.marker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (alive(p.pid, p.marker)) process.kill(p.pid, 'SIGKILL');
}

export async function clusterDown(dir: string, options: { removeData?: boolean } = {}): Promise<void> {
  const state = await loadState(resolve(dir));
  // Nodes first (they snapshot on the way out), then the etcd members, then the chain.
  for (const role of ['node', 'etcd', 'chain'] as const) {
    await Promise.all(state.processes.filter((p) => p.role === role).map((p) => stopProcess(p)));
  }
  if (state.namespaces) await destroyNetwork(networkTag(state.topology));
  if (options.removeData === true) await rm(state.dir, { recursive: true, force: true });
  else await rm(stateFile(state.dir), { force: true });
}

export async function saveClusterState(state: ClusterState): Promise<void> {
  await saveState(state);
}
