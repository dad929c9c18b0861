// Starts a real etcd cluster on 127.0.0.1 for tests: N members with free client and peer ports,
// fresh temporary data directories, and fast elections (heartbeat 50 ms, election timeout 500 ms,
// ten heartbeats per election timeout as etcd recommends; loopback round trips are well under
// 1 ms, so this stays stable while making a leader failover take about a second, not two).
// It waits for health by polling `etcdctl` in a loop bounded in count and time, can SIGKILL a
// member by its PID and restart it on the same data, and stops only the processes it started.

import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const etcdBinary = '/usr/bin/etcd';
const etcdctlBinary = '/usr/bin/etcdctl';
const heartbeatIntervalMs = 50;
const electionTimeoutMs = 500;
/** How long a member, or the whole cluster, may take to report healthy. */
const healthyWithinMs = 20_000;
const healthPollMs = 100;
/** How long a member may take to exit after SIGTERM before it is SIGKILLed. */
const stopWithinMs = 5_000;

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** The running process, or null while the member is killed. */
  process: ChildProcess | null;
  /** stderr of the current process, kept for failure messages. */
  log: string;
}

export interface EtcdCluster {
  readonly members: readonly EtcdMember[];
  /** Every member's client URL, for a client that should survive any one member's loss. */
  readonly endpoints: readonly string[];
  /** Index of the member that is the raft leader now. */
  leaderIndex(): Promise<number>;
  /** SIGKILLs the member by its PID and waits until it has exited. */
  kill(index: number): Promise<void>;
  /** Starts a killed member again on its data directory and waits until it is healthy. */
  restart(index: number): Promise<void>;
  /** Stops every member this cluster started and removes the data directories. */
  stop(): Promise<void>;
}

export async function startEtcdCluster(size: number): Promise<EtcdCluster> {
  assert(Number.isSafeInteger(size) && size >= 1 && size <= 7, 'an etcd test cluster has 1 to 7 members');
  const ports = await freePorts(2 * size);
  const root = await mkdtemp(join(tmpdir(), 'everbook-etcd-'));
  const members: EtcdMember[] = [];
  for (let index = 0; index < size; index++) {
    members.push({
      name: `m${index}`,
      clientUrl: `http://127.0.0.1:${ports[2 * index]!}`,
      peerUrl: `http://127.0.0.1:${ports[2 * index + 1]!}`,
      dataDir: join(root, `m${index}`),
      process: null,
      log: '',
    });
  }
  const initialCluster = members.map((member) => `${member.name}=${member.peerUrl}`).join(',');
  const token = `everbook-test-${randomUUID()}`;

  // If the test process dies without calling stop(), take the members down with it.
  const killOnExit = (): void => {
    for (const member of members) {
      if (member.process?.pid !== undefined && member.process.exitCode === null) member.process.kill('SIGKILL');
    }
  };
  process.once('exit', killOnExit);

  const launch = (member: EtcdMember): void => {
    const child = spawn(etcdBinary, [
      '--name', member.name,
      '--data-dir', member.dataDir,
      '--listen-client-urls', member.clientUrl,
      '--advertise-client-urls', member.clientUrl,
      '--listen-peer-urls', member.peerUrl,
      '--initial-advertise-peer-urls', member.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-token', token,
      '--initial-cluster-state', 'new',
      '--heartbeat-interval', String(heartbeatIntervalMs),
      '--election-timeout', String(electionTimeoutMs),
      '--logger', 'zap',
      '--log-level', 'error',
    ], { stdio: ['ignore', 'ignore', 'pipe'] });
    member.process = child;
    member.log = '';
    child.stderr.on('data', (chunk: Buffer) => {
      // Keep only the end: enough to explain a failure, bounded in memory.
      member.log = (member.log + chunk.toString()).slice(-20_000);
    });
  };

  const waitHealthy = async (endpoints: readonly string[]): Promise<void> => {
    const deadline = Date.now() + healthyWithinMs;
    let lastFailure = '';
    for (let attempt = 0; attempt < healthyWithinMs / healthPollMs; attempt++) {
      try {
        await etcdctl(endpoints, ['endpoint', 'health']);
        return;
      } catch (error: unknown) {
        lastFailure = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() > deadline) break;
      await delay(healthPollMs);
    }
    throw new Error(`etcd not healthy within ${healthyWithinMs} ms: ${lastFailure}\n${members.map((m) => `${m.name}: ${m.log}`).join('\n')}`);
  };

  const stopMember = async (member: EtcdMember, signal: NodeJS.Signals): Promise<void> => {
    const child = member.process;
    if (child === null) return;
    member.process = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
    child.kill(signal);
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, stopWithinMs);
    await exited;
    clearTimeout(timer);
  };

  for (const member of members) launch(member);
  const endpoints = members.map((member) => member.clientUrl);
  try {
    await waitHealthy(endpoints);
  } catch (error: unknown) {
    for (const member of members) await stopMember(member, 'SIGKILL');
    await rm(root, { recursive: true, force: true });
    throw error;
  }

  return {
    members,
    endpoints,
    async leaderIndex(): Promise<number> {
      const live = members.filter((member) => member.process !== null).map((member) => member.clientUrl);
      // `simple` output: endpoint, id, version, db size, is leader, is learner, term, index, ...
      const output = await etcdctl(live, ['endpoint', 'status', '--write-out', 'simple']);
      for (const line of output.split('\n')) {
        const fields = line.split(', ');
        if (fields[4] === 'true') {
          const index = members.findIndex((member) => member.clientUrl === fields[0]);
          if (index >= 0) return index;
        }
      }
      throw new Error(`no leader in:\n${output}`);
    },
    async kill(index: number): Promise<void> {
      const member = members[index];
      assert(member?.process !== null && member !== undefined, `member ${index} is running`);
      await stopMember(member, 'SIGKILL');
    },
    async restart(index: number): Promise<void> {
      const member = members[index];
      assert(member !== undefined && member.process === null, `member ${index} is stopped`);
      launch(member);
      await waitHealthy([member.clientUrl]);
    },
    async stop(): Promise<void> {
      for (const member of members) await stopMember(member, 'SIGTERM');
      process.removeListener('exit', killOnExit);
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Ports the kernel reports free, found by binding port 0; all held until every one is known. */
async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => { resolve(server); });
  })));
  const ports = servers.map((server) => {
    const address = server.address();
    assert(address !== null && typeof address === 'object', 'a TCP server has an address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => { server.close(() => { resolve(); }); })));
  return ports;
}

function etcdctl(endpoints: readonly string[], args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(etcdctlBinary, [`--endpoints=${endpoints.join(',')}`, '--dial-timeout=1s', '--command-timeout=2s', ...args],
      { env: { ...process.env, ETCDCTL_API: '3' }, timeout: 5_000 },
      (error, stdout, stderr) => {
        if (error !== null) reject(new Error(`etcdctl ${args.join(' ')}: ${error.message} ${stderr}`));
        else resolve(stdout);
      });
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}
