// Recovery across clouds on a real etcd cluster: a cloud that was down while the others
// snapshotted and compacted the shared log comes back behind the log's start, fetches a peer's
// snapshot, checks it against the hashes the clouds published, and rejoins at the same state.
// And a replica whose checkpoint hash is in the minority stops serving and says why.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { FailoverClient } from '../src/cluster/client.js';
import { Coordinator } from '../src/cluster/coordinator.js';
import { adminTokens, devTraders } from '../src/cluster/drill.js';
import { alive, clusterDown, clusterUp, nodeServing, saveClusterState, startEtcd, startNodeProcess, waitFor } from '../src/cluster/launcher.js';
import { addresses, freeTopology, type CloudAddress } from '../src/cluster/topology.js';
import type { CommandLog } from '../src/log/index.js';
import type { Replica } from '../src/replica/index.js';


interface Status { state: string; appliedPosition: number; logStart: number; installedPeerSnapshot?: number; peers: { cloud: string; ts: number }[] }

async function admin<T>(c: CloudAddress, token: string, method: 'GET' | 'POST', path: string): Promise<T> {
  const r = await fetch(`${c.apiUrl}/admin/v1${path}`, { method, headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  return (await r.json()) as T;
}


test('Cluster: recovery: a cloud behind the compacted log fetches a verified peer snapshot and rejoins at the same state', { timeout: 5 * 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-recovery-'));
  const previous = { live: process.env.EVERBOOK_PEER_LIVE_MS, every: process.env.EVERBOOK_SNAPSHOT_EVERY };
  // A down peer stops holding back compaction after 1.5 s instead of 15 s, and the nodes
  // checkpoint (hash, publish, snapshot) every 25 commands instead of every 100,000.
  process.env.EVERBOOK_PEER_LIVE_MS = '1500';
  process.env.EVERBOOK_SNAPSHOT_EVERY = '25';
  try {
    const t = await freeTopology('everbook-recovery', '10.213.10');
    const state = await clusterUp(t, dir, { namespaces: false });
    const all = addresses(t, false);
    const tokens = await adminTokens(state);
    const [trader] = await devTraders(state);
    const client = new FailoverClient({ endpoints: all.slice(0, 2).map((a) => a.apiUrl), credentials: trader!, attemptTimeoutMs: 2_000, budgetMs: 20_000 });
    const place = async (n: number): Promise<void> => {
      const r = await client.placeOrder({ instId: 'ETH-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px: '50', sz: '0.01', clOrdId: `rec${n}` });
      assert.equal(r.data[0]?.['sCode'], '0');
    };
    for (let n = 0; n < 20; n++) await place(n);

    // azure-singapore goes down; the others keep trading, checkpoint and compact the log.
    const lost = all[2]!;
    const atLoss = await admin<Status>(all[0]!, tokens[0]!, 'GET', '/status');
    for (const p of state.processes.filter((q) => q.cloud === lost.cloud.name)) if (alive(p.pid, p.marker)) process.kill(p.pid, 'SIGKILL');
    for (let n = 20; n < 60; n++) await place(n);
    await waitFor('the down cloud no longer counted as live', async () => {
      const s = await admin<Status>(all[0]!, tokens[0]!, 'GET', '/status');
      const peer = s.peers.find((p) => p.cloud === lost.cloud.name);
      return peer === undefined || Date.now() - peer.ts > 2_000;
    });
    let seen = '';
    await waitFor('the shared log compacted past where the lost cloud stopped', async () => {
      // Whichever live node compacted sees the log's new start (the other learns it later).
      const s = await Promise.all([0, 1].map((i) => admin<Status>(all[i]!, tokens[i]!, 'GET', '/status')));
      seen = JSON.stringify({ atLoss: atLoss.appliedPosition, logStart: s.map((x) => x.logStart), peers: s[0]!.peers });
      return Math.max(...s.map((x) => x.logStart)) > atLoss.appliedPosition + 1;
    }).catch((e: unknown) => { throw new Error(`${(e as Error).message}; last seen ${seen}`); });

    // It comes back: its own state is behind the log's start, so it must use a peer's snapshot.
    const rest = state.processes.filter((p) => p.cloud !== lost.cloud.name);
    rest.push(startEtcd(state, lost, 'existing'), startNodeProcess(state, lost, false));
    state.processes = rest;
    await saveClusterState(state);
    await waitFor('the returning node serving', () => nodeServing(lost), 90_000);
    for (let n = 60; n < 70; n++) await place(n);
    await waitFor('all three at one position', async () => {
      const s = await Promise.all(all.map((c, i) => admin<Status>(c, tokens[i]!, 'GET', '/status')));
      return s.every((x) => x.state === 'serving' && x.appliedPosition === s[0]!.appliedPosition);
    });
    const back = await admin<Status>(lost, tokens[2]!, 'GET', '/status');
    assert.ok(back.installedPeerSnapshot !== undefined && back.installedPeerSnapshot > atLoss.appliedPosition,
      `the returning node started from a peer snapshot past where it stopped (${String(back.installedPeerSnapshot)})`);
    // Idle nodes keep writing heartbeat records: compare hashes read at one and the same position.
    let hashes: { stateHash: string; position: number }[] = [];
    await waitFor('every replica reports its state hash at one position', async () => {
      hashes = await Promise.all(all.map((c, i) => admin<{ stateHash: string; position: number }>(c, tokens[i]!, 'GET', '/state-hash')));
      return hashes.every((h) => h.position === hashes[0]!.position);
    });
    assert.equal(new Set(hashes.map((h) => h.stateHash)).size, 1, 'every replica has the same state hash');
  } finally {
    if (previous.live === undefined) delete process.env.EVERBOOK_PEER_LIVE_MS;
    else process.env.EVERBOOK_PEER_LIVE_MS = previous.live;
    if (previous.every === undefined) delete process.env.EVERBOOK_SNAPSHOT_EVERY;
    else process.env.EVERBOOK_SNAPSHOT_EVERY = previous.every;
    await clusterDown(dir, { removeData: process.env.EVERBOOK_KEEP_TEST_DIR === undefined }).catch(() => undefined);
    if (process.env.EVERBOOK_KEEP_TEST_DIR === undefined) await rm(dir, { recursive: true, force: true });
  }
});

test('Cluster: divergence: a replica whose checkpoint hash is in the minority stops serving and says why', { timeout: 2 * 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-diverge-'));
  try {
    const t = await freeTopology('everbook-divergence', '10.213.11');
    await clusterUp(t, dir, { namespaces: false });
    const endpoints = addresses(t, false).map((a) => a.etcdClientUrl);
    const logger = pino({ level: 'silent' });
    const coordinator = (cloud: string): Coordinator => new Coordinator({
      endpoints, prefix: 'divergence-test/cluster', cloud, apiUrl: 'http://127.0.0.1:1', clusterToken: 'x'.repeat(16),
      logger, heartbeatMs: 60_000, liveMs: 60_000, callTimeoutMs: 2_000, compact: false, isolatedAfterMs: 60_000, probeMs: 60_000,
    });
    // Three replicas publish the checkpoint at position 100; one of them computed another hash.
    const verdicts = new Map<string, string>();
    const stub = (cloud: string): Replica => ({ diverge: (reason: string) => { verdicts.set(cloud, reason); } }) as unknown as Replica;
    const clouds = ['a', 'b', 'c'];
    const coordinators = clouds.map(coordinator);
    coordinators.forEach((c, i) => { c.attach(stub(clouds[i]!), {} as CommandLog); });
    await coordinators[0]!.publish({ position: 100, seq: 500, stateHash: 'good' });
    await coordinators[1]!.publish({ position: 100, seq: 500, stateHash: 'good' });
    await coordinators[2]!.publish({ position: 100, seq: 500, stateHash: 'bad' });
    assert.deepEqual([...verdicts.keys()], ['c'], 'only the replica in the minority stops');
    assert.match(verdicts.get('c')!, /position 100 is 500:bad; peers: .*a=500:good/);
    for (const c of coordinators) c.close();
  } finally {
    await clusterDown(dir, { removeData: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
