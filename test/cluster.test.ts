// The outage drill in the test suite: a three-cloud local deployment on a real etcd cluster,
// with each cloud taken out in turn, by SIGKILL of all its processes and (as root, in network
// namespaces) by a real partition that leaves its processes and clients running. Every trial
// must end with nothing acknowledged lost or contradicted, the ledger balanced, and every
// replica, the healed one included, at the state hash of a clean replay of the shared log.
// The RTO table is printed; timings are reported, never asserted (the machines are shared).

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runDrill, rtoTable } from '../src/cluster/drill.js';
import { clusterDown, clusterUp } from '../src/cluster/launcher.js';
import { destroyNetwork } from '../src/cluster/netns.js';
import { freeTopology, networkTag } from '../src/cluster/topology.js';

/** Rounds of trials: each round takes every cloud out once per outage kind. */
const ROUNDS = 2;


test('Cluster: outage drills: every cloud in turn, killed and partitioned, 0 acknowledged loss, replicas agree', { timeout: 25 * 60_000 }, async (t) => {
  const namespaces = process.getuid?.() === 0;
  // Its own subnet (and so its own namespace and link names): a developer's cluster is untouched.
  const topology = await freeTopology('everbook-test', '10.213.9');
  const names = topology.clouds.map((c) => c.name);
  const dir = await mkdtemp(join(tmpdir(), 'everbook-cluster-'));
  try {
    // Subnet 10.213.9 belongs to this test alone: clear what an interrupted earlier run left.
    if (namespaces) await destroyNetwork(networkTag(topology));
    const state = await clusterUp(topology, dir, { namespaces });
    const kinds = namespaces ? (['kill', 'partition'] as const) : (['kill'] as const);
    if (!namespaces) t.diagnostic('not root: no network namespaces, so kill trials only');
    const trials = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const cloud of names) for (const kind of kinds) trials.push({ cloud, kind });
    }
    const reports = await runDrill(state, {
      trials, outageMs: 3_000, workersPerCloud: 2, stepTimeoutMs: 90_000, log: (line) => { t.diagnostic(line); },
    });
    for (const line of rtoTable(reports).split('\n')) t.diagnostic(line);
    assert.equal(reports.length, trials.length);
    for (const r of reports) {
      const what = `${r.kind} ${r.cloud}`;
      assert.ok(r.acknowledged > 0, `${what}: operations were acknowledged`);
      assert.deepEqual(r.check.lost, [], `${what}: no acknowledged operation lost (RPO 0)`);
      assert.deepEqual(r.check.contradicted, [], `${what}: no client saw a result later contradicted`);
      assert.deepEqual(r.check.auditFailures, [], `${what}: ledger conserved, holds match`);
      assert.ok(r.hashesAgree, `${what}: every replica, the healed one included, has the replay's state hash`);
    }
  } finally {
    await clusterDown(dir, { removeData: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
