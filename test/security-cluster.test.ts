// API keys across clouds on a real etcd cluster (three clouds as processes on loopback): the
// launcher gives every node one key-derivation file, so a key created through one cloud
// verifies in all of them, and a key revoked through one cloud is refused by every cloud once
// each has applied the revoke. The same deployment shows that each node exports its etcd log's
// append counters, as docs/OPERATIONS.md names them.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { adminTokens } from '../src/cluster/drill.js';
import { clusterDown, clusterUp, waitFor } from '../src/cluster/launcher.js';
import { addresses, freeTopology, type CloudAddress } from '../src/cluster/topology.js';
import { okx, type Credentials } from './support/okx-client.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

async function admin(c: CloudAddress, token: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(`${c.apiUrl}/admin/v1${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const json = (await r.json()) as Record<string, unknown>;
  assert.equal(json['ok'], true, `${path}: ${JSON.stringify(json)}`);
  return json;
}

const balanceCode = async (c: CloudAddress, creds: Credentials): Promise<string> => (await okx(c.apiUrl, 'GET', '/api/v5/account/balance', undefined, creds)).code;

/** A node's everbook_etcd_* counters, from its metrics (loopback needs no token). */
async function etcdAppendCounters(c: CloudAddress): Promise<Map<string, number>> {
  const text = await (await fetch(`${c.apiUrl}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const counters = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(everbook_etcd_\w+) (\S+)$/.exec(line);
    if (m !== null) counters.set(m[1]!, Number(m[2]));
  }
  return counters;
}

test('Cluster: keys: created through one cloud, a key verifies in every cloud; revoked through another, every cloud refuses it; each node exports its etcd append counters', { timeout: 5 * 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-keys-'));
  try {
    const t = await freeTopology('everbook-keys', '10.213.11');
    const state = await clusterUp(t, dir, { namespaces: false });
    const all = addresses(t, false);
    const tokens = await adminTokens(state);
    assert.equal((await stat(state.keySecretFile)).mode & 0o777, 0o600, 'the shared derivation file is private');
    for (const c of all) {
      assert.ok(!(await readdir(join(dir, c.cloud.name, 'node'))).includes('key-secret'), `${c.cloud.name} uses the shared file, not one of its own`);
    }

    const created = await admin(all[0]!, tokens[0]!, '/keys', { userId: 1, label: 'cross-cloud' });
    const creds: Credentials = { apiKey: String(created['apiKey']), secretKey: String(created['secret']), passphrase: String(created['password']) };
    for (const c of all) await waitFor(`${c.cloud.name} accepts the new key`, async () => (await balanceCode(c, creds)) === '0');

    await admin(all[1]!, tokens[1]!, '/keys/revoke', { apiKey: creds.apiKey });
    assert.equal(await balanceCode(all[1]!, creds), '50111', 'refused where the revoke was acknowledged, at once');
    for (const c of all) await waitFor(`${c.cloud.name} refuses the revoked key`, async () => (await balanceCode(c, creds)) === '50111');

    // Each node exports how its etcd appends went, as the operations guide names the counters;
    // the two that wrote the key's records counted them.
    const documented = new Set((await readFile(join(root, 'docs', 'OPERATIONS.md'), 'utf8')).match(/\beverbook_etcd_[a-z_]+/g) ?? []);
    assert.ok(documented.size >= 5, 'the operations guide names the etcd log\'s counters');
    for (const [i, c] of all.entries()) {
      const counters = await etcdAppendCounters(c);
      for (const name of documented) assert.ok(Number.isInteger(counters.get(name)), `${c.cloud.name} exports ${name}`);
      if (i < 2) assert.ok(counters.get('everbook_etcd_appends_total')! >= 1, `${c.cloud.name} counted the append it made`);
    }
  } finally {
    await clusterDown(dir, { removeData: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
