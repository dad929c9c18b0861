// Streams across clouds, in the outage drill on a real etcd cluster: two stream clients per cloud
// follow books and trades while the drill's clients trade in every cloud; one cloud is killed
// (and, as root, another partitioned, its sockets left open and silent). The clients of the lost
// cloud move to another and resynchronise from its snapshot; the clients together verify at
// least 10,000 updates (chain and recomputed checksum) during the trial, and a book seen at one
// seqId is the same book on every cloud it was seen on. At the quiet point after the trial every
// client's book equals every other client's and every cloud's REST book, and the drill's own
// checks hold (nothing acknowledged lost, replicas at the replay's state hash).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runDrill } from '../src/cluster/drill.js';
import { streamTable } from '../src/cluster/drill-streams.js';
import { clusterDown, clusterUp } from '../src/cluster/launcher.js';
import { destroyNetwork } from '../src/cluster/netns.js';
import { freeTopology, networkTag } from '../src/cluster/topology.js';

const CLIENTS_PER_CLOUD = 2;
const UPDATES_MIN = 10_000;

test('Cluster: streams: a cloud killed (and one partitioned) while books stream: chain and checksums hold, clients resync elsewhere, books converge', { timeout: 30 * 60_000 }, async (t) => {
  const namespaces = process.getuid?.() === 0;
  // The nodes the launcher starts inherit the environment: a books push per drain (no 100 ms
  // interval), so that 10,000 updates take no longer than the drill's orders.
  process.env['EVERBOOK_WS_BOOKS_INTERVAL_MS'] = '0';
  // Its own subnet: no other deployment's namespaces are touched.
  const topology = await freeTopology('everbook-streams', '10.213.14');
  const names = topology.clouds.map((c) => c.name);
  const dir = await mkdtemp(join(tmpdir(), 'everbook-cluster-streams-'));
  try {
    if (namespaces) await destroyNetwork(networkTag(topology));
    const state = await clusterUp(topology, dir, { namespaces });
    const trials = [{ cloud: names[0]!, kind: 'kill' as const }, ...(namespaces ? [{ cloud: names[1]!, kind: 'partition' as const }] : [])];
    const reports = await runDrill(state, {
      trials, outageMs: 3_000, workersPerCloud: 3, stepTimeoutMs: 10 * 60_000,
      streams: { clientsPerCloud: CLIENTS_PER_CLOUD, updatesMin: UPDATES_MIN },
      log: (line) => { t.diagnostic(line); },
    });
    for (const line of streamTable(reports).split('\n')) t.diagnostic(line);
    assert.equal(reports.length, trials.length);
    for (const r of reports) {
      const what = `${r.kind} ${r.cloud}`;
      const s = r.streams;
      assert.ok(s !== undefined, `${what}: streams ran`);
      t.diagnostic(`${what}: ${JSON.stringify({ ...s, problems: s.problems.slice(0, 10) })}`);
      assert.deepEqual(r.check.lost, [], `${what}: RPO 0`);
      assert.ok(r.hashesAgree, `${what}: replicas at the replay's state hash`);
      assert.equal(s.clients, CLIENTS_PER_CLOUD * names.length);
      assert.ok(s.updatesVerified >= UPDATES_MIN, `${what}: ${s.updatesVerified} updates verified`);
      assert.deepEqual(s.failureCounts, { chain: 0, seq_regress: 0, checksum: 0, update_before_snapshot: 0, unknown_level_deleted: 0, malformed: 0 }, `${what}: ${s.problems.join('; ')}`);
      assert.ok(s.reconnects >= CLIENTS_PER_CLOUD, `${what}: the lost cloud's clients reconnected elsewhere (${s.reconnects} reconnects)`);
      assert.ok(s.snapshots > s.clients * 2, `${what}: the reconnected clients resynchronised from fresh snapshots (${s.snapshots})`);
      assert.ok(s.seqIdsCompared > 0, `${what}: books compared by seqId across connections`);
      assert.ok(s.seqIdsComparedAcrossClouds > 0, `${what}: books compared by seqId across clouds`);
      assert.equal(s.seqIdConflicts, 0, `${what}: a book at one seqId is one book on every cloud`);
      assert.equal(s.tradeConflicts, 0, `${what}: a trade is one trade on every cloud`);
      assert.equal(s.tradeOrderViolations, 0);
      assert.ok(s.converged, `${what}: books converged: ${s.problems.join('; ')}`);
      assert.ok(s.ok, `${what}: ${s.problems.join('; ')}`);
      // Every client is connected to some cloud at the end (the quiet point read its book there).
      assert.ok(Object.values(s.endedOn).every((url) => url !== ''), `${what}: every client connected at the end`);
    }
  } finally {
    await clusterDown(dir, { removeData: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
