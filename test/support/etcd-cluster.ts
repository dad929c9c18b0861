// Starts a real etcd cluster on 127.0.0.1 for tests: N members with free client and peer ports,
// fresh temporary data directories, and fast elections (heartbeat 50 ms, election timeout 500 ms,
// ten heartbeats per election timeout as etcd recommends; loopback round trips are well under
// 1 ms, so this stays stable while making a leader failover take about a second, not two).
// It waits for health by asking every member, through the etcd3 client (no etcdctl binary
// needed), for its status and a quorum read, in a loop bounded in count and time; it can SIGKILL
// a member by its PID and restart it on the same data, and stops only the processes it started.

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';

const etcdBinary = '/usr/bin/etcd';
/** Deadline of one health or status call to one member. */
const probeDeadlineMs = 2_000;
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
        for (const endpoint of endpoints) await probe(endpoint, async (client) => { await client.get('health').string(); });
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
      const seen: string[] = [];
      for (const [index, member] of members.entries()) {
        if (member.process === null) continue;
        // A member is the leader when the leader it reports is itself.
        const status = await probe(member.clientUrl, (client) => client.maintenance.status());
        if (status.leader !== '0' && status.leader === status.header.member_id) return index;
        seen.push(`${member.name}: member ${status.header.member_id}, leader ${status.leader}`);
      }
      throw new Error(`no leader among the live members:\n${seen.join('\n')}`);
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

/** Runs one call against exactly one member, with a deadline, on a client used only for it. */
async function probe<T>(endpoint: string, call: (client: Etcd3) => Promise<T>): Promise<T> {
  const client = new Etcd3({
    hosts: [endpoint],
    dialTimeout: probeDeadlineMs,
    defaultCallOptions: { deadline: Date.now() + probeDeadlineMs },
    // No retries and no circuit breaker: the caller's loop decides what to try again.
    faultHandling: { host: () => noop, global: noop },
  });
  try {
    return await call(client);
  } catch (error: unknown) {
    throw new Error(`${endpoint}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    client.close();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}
