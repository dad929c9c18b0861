// Issue 10's proof that no withdrawal is paid twice, on a three-cloud deployment with a real etcd
// cluster and one real anvil outside every cloud (as root, each cloud in its own network
// namespace, the chain on the host's leg into the fabric). First the outage drill with withdrawal
// clients in every cloud: one whole cloud killed, then one partitioned (as root; else a second
// kill), while orders and withdrawals flow; then the custody checker holds chain, ledger and
// history to one another. Second, the broadcaster's crash points: the only running node is
// started with EVERBOOK_CRASH_AT and SIGKILLs itself right after signing a withdrawal, then right
// after sending one; restarted, it must finish each withdrawal with exactly one mined transaction.
// Last, the checker is shown to see a double withdrawal: a payment repeated from the hot wallet
// with a nonce the ledger never assigned (what a broadcaster that re-signed would do).
// Counts and timings are printed; only correctness is asserted (the machines are shared).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FailoverClient } from '../src/cluster/client.js';
import { custodySummary, custodyTable } from '../src/cluster/custody-checker.js';
import type { DrillAck } from '../src/cluster/drill-client.js';
import { CustodyDrill } from '../src/cluster/drill-custody.js';
import { adminTokens, devTraders, rtoTable, runDrill } from '../src/cluster/drill.js';
import {
  alive, clusterDown, clusterUp, nodeServing, saveClusterState, startNodeProcess, stopProcess, waitFor, type ClusterState,
} from '../src/cluster/launcher.js';
import { destroyNetwork } from '../src/cluster/netns.js';
import { addresses, freeTopology, networkTag, type CloudAddress } from '../src/cluster/topology.js';
import type { ChainTxView } from '../src/core/index.js';
import { CRASH_AT_ENV, loadCustodyKeys, signChainTx, ViemChainClient } from '../src/custody/index.js';

/** Bounds on every wait of these tests. */
const STEP_TIMEOUT_MS = 90_000;
/** How long the outage lasts in each trial. */
const OUTAGE_MS = 3_000;

describe('Cluster: custody: no double withdrawal', { timeout: 8 * 60_000 }, () => {
  const namespaces = process.getuid?.() === 0;
  let dir: string;
  let state: ClusterState;
  let all: CloudAddress[];
  let tokens: string[];

  before(async () => {
    // Its own subnet (and so its own namespaces and links): every other deployment is untouched.
    const topology = await freeTopology('everbook-custody', '10.213.12');
    dir = await mkdtemp(join(tmpdir(), 'everbook-custody-'));
    if (namespaces) await destroyNetwork(networkTag(topology));
    state = await clusterUp(topology, dir, { namespaces, chain: true });
    all = addresses(topology, namespaces);
    tokens = await adminTokens(state);
  });

  after(async () => {
    await clusterDown(dir, { removeData: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  test('a whole cloud killed and one partitioned while withdrawals flow: 0 duplicates; chain, ledger and history agree', async (t) => {
    const names = state.topology.clouds.map((c) => c.name);
    const custody = CustodyDrill.for(state, names.length);
    assert.ok(custody !== undefined, 'the deployment has a chain');
    if (!namespaces) t.diagnostic('not root: no network namespaces, so two kill trials');
    const trials = [{ cloud: names[0]!, kind: 'kill' as const }, { cloud: names[1]!, kind: namespaces ? 'partition' as const : 'kill' as const }];
    const t0 = Date.now();
    const reports = await runDrill(state, {
      trials, outageMs: OUTAGE_MS, workersPerCloud: 2, stepTimeoutMs: STEP_TIMEOUT_MS, custody, log: (line) => { t.diagnostic(line); },
    });
    const tTrials = Date.now();
    const check = await custody.check(all, tokens, await devTraders(state), STEP_TIMEOUT_MS);
    for (const line of rtoTable(reports).split('\n')) t.diagnostic(line);
    for (const line of custodyTable(check).split('\n')) t.diagnostic(line);
    t.diagnostic(custodySummary(check));
    t.diagnostic(`funding and trials ${tTrials - t0} ms; settling ${check.settleMs} ms; check ${Date.now() - tTrials} ms`);

    for (const r of reports) {
      assert.deepEqual(r.check.lost, [], `${r.kind} ${r.cloud}: no acknowledged operation lost`);
      assert.deepEqual(r.check.contradicted, [], `${r.kind} ${r.cloud}: nothing acknowledged contradicted`);
      assert.ok(r.hashesAgree, `${r.kind} ${r.cloud}: replicas agree`);
    }
    assert.deepEqual(check.problems, [], 'chain, ledger and history agree');
    assert.equal(check.counts.duplicates, 0, 'no withdrawal id has two mined transactions');
    assert.ok(check.counts.acknowledged > 0, 'withdrawals were acknowledged');
    assert.equal(check.counts.assigned, check.counts.completed + check.counts.failed, 'every assigned withdrawal ended');
    assert.equal(check.counts.mined, check.counts.completed, 'each completed withdrawal has its one mined transaction');
    assert.ok(check.hashesAgree);
  });

  test('broadcaster SIGKILLed after signing, then after broadcasting: restarted, each withdrawal has exactly one mined transaction', async (t) => {
    const custody = CustodyDrill.for(state, 1)!;
    const chain = new ViemChainClient(state.chain!.rpcUrl);
    const [trader] = await devTraders(state);
    const own = all[0]!;
    // Only cloud 0's node runs (every etcd member stays up, so the log keeps its quorum): no
    // other cloud's broadcaster can send the transaction in its place.
    for (const p of state.processes.filter((q) => q.role === 'node' && q.cloud !== own.cloud.name)) await stopProcess(p);
    const hot = await hotWallet(own, tokens[0]!);

    /**
     * Restarts cloud 0's node (with the crash hook, or without) and waits until it serves, unless
     * it is expected to die first (its runtime's first round may send before the gateway listens).
     */
    const restart = async (crashAt: string | undefined, serves = true): Promise<number> => {
      const old = state.processes.find((p) => p.role === 'node' && p.cloud === own.cloud.name)!;
      await stopProcess(old);
      const fresh = startNodeProcess(state, own, false, crashAt === undefined ? {} : { EVERBOOK_CRASH_AT: crashAt });
      state.processes = [...state.processes.filter((p) => p !== old), fresh];
      await saveClusterState(state);
      if (serves) await waitFor(`${own.cloud.name} serving`, () => nodeServing(own), STEP_TIMEOUT_MS);
      return fresh.pid;
    };
    const withdraw = async (n: number): Promise<void> => {
      const clientId = `crash${String(n)}${String(Date.now())}`;
      const client = new FailoverClient({ endpoints: [own.apiUrl], credentials: trader!, attemptTimeoutMs: 2_500, budgetMs: 10_000 });
      const s = Date.now();
      const r = await client.request('POST', '/api/v5/asset/withdrawal', {
        ccy: 'USDT', amt: '10', chain: 'USDT-ERC20', fee: '1', dest: '4', toAddr: custody.withdrawTo(0), clientId,
      }).catch(() => undefined);
      const ack: DrillAck = {
        cloud: own.cloud.name, worker: 0, op: 'withdraw', s, t: Date.now(), id: clientId, userId: trader!.userId,
        ok: r?.code === '0', code: r?.code ?? 'failed', endpoint: own.apiUrl, attempts: r?.attempts ?? 0,
      };
      t.diagnostic(`withdrawal ${clientId}: ${r?.code ?? 'no answer'} ${r?.msg ?? ''}`);
      custody.acks.push(ack);
    };
    const nodeLog = state.processes.find((p) => p.role === 'node' && p.cloud === own.cloud.name)!.log;
    const died = async (pid: number, what: string): Promise<void> => {
      await waitFor(`the node killed by its crash hook ${what}`, () => Promise.resolve(!alive(pid)), STEP_TIMEOUT_MS);
    };
    const crashes = async (point: string): Promise<number> => (await readFile(nodeLog, 'utf8')).split(`${CRASH_AT_ENV}=${point}: killing this process`).length - 1;

    // 1. After signing: the node dies before the bytes reach the chain.
    const nonce0 = await chain.nonce(hot);
    let pid = await restart('after-sign');
    await withdraw(1);
    await died(pid, 'after signing');
    assert.equal(await crashes('after-sign'), 1, 'the hook killed the node after signing');
    assert.equal(await chain.nonce(hot), nonce0, 'nothing was sent: the hot wallet\'s nonce did not move');

    // 2. After broadcasting: restarted with the hook moved on, it signs the same bytes again,
    //    sends them and dies; the chain mines them once.
    pid = await restart('after-broadcast', false);
    await died(pid, 'after broadcasting');
    await waitFor('the first withdrawal mined', async () => (await chain.nonce(hot)) === nonce0 + 1, STEP_TIMEOUT_MS);

    // 3. A second withdrawal under the same hook: sent, then the node dies before recording it.
    pid = await restart('after-broadcast');
    await withdraw(2);
    await died(pid, 'after broadcasting the second withdrawal');
    assert.equal(await crashes('after-broadcast'), 2, 'the hook killed the node after sending, twice');
    await waitFor('the second withdrawal mined', async () => (await chain.nonce(hot)) === nonce0 + 2, STEP_TIMEOUT_MS);

    // 4. Every node back without the hook: both settle, and the checker finds one mined transaction each.
    await restart(undefined);
    for (const c of all.slice(1)) {
      const old = state.processes.find((p) => p.role === 'node' && p.cloud === c.cloud.name)!;
      state.processes = [...state.processes.filter((p) => p !== old), startNodeProcess(state, c, false)];
    }
    await saveClusterState(state);
    for (const c of all) await waitFor(`${c.cloud.name} serving`, () => nodeServing(c), STEP_TIMEOUT_MS);
    const check = await custody.check(all, tokens, await devTraders(state), STEP_TIMEOUT_MS);
    for (const line of custodyTable(check).split('\n')) t.diagnostic(line);
    t.diagnostic(custodySummary(check));
    assert.deepEqual(check.problems, [], 'chain, ledger and history agree');
    assert.equal(check.counts.duplicates, 0);
    assert.equal(await chain.nonce(hot), nonce0 + 2, 'exactly two transactions left the hot wallet');
    assert.equal(check.counts.completed, check.counts.assigned);

    // 5. The checker sees a double withdrawal: the hot wallet pays the last withdrawal again, at
    //    the next nonce, which the ledger never assigned.
    const keys = await loadCustodyKeys(state.chain!.custodyKeyFile, {});
    const usdt = await tokenOf(own, tokens[0]!, 'USDT');
    const again: ChainTxView = {
      chain: state.chain!.chainName, chainId: await chain.chainId(), fromIndex: 0, nonce: await chain.nonce(hot), kind: 'withdrawal', withdrawalId: 0,
      asset: 'USDT', token: usdt, to: custody.withdrawTo(0), toIndex: -1, chainAmount: '10000000', gasLimit: 100_000,
      maxFeePerGas: '20000000000', maxPriorityFeePerGas: '1000000000', feeLevel: 0, assignedSeq: 0,
    };
    const sent = await chain.sendRawTransaction(await signChainTx(again, keys!.account(0)));
    assert.ok(sent.ok, 'the repeated payment was accepted by the chain');
    await waitFor('the repeated payment mined', async () => (await chain.nonce(hot)) === again.nonce + 1, STEP_TIMEOUT_MS);
    const caught = await custody.check(all, tokens, await devTraders(state), STEP_TIMEOUT_MS);
    t.diagnostic(custodySummary(caught));
    assert.equal(caught.counts.duplicates, 1, 'the repeated payment is counted as a double withdrawal');
    assert.equal(caught.counts.unassigned, 1);
    assert.ok(caught.problems.some((p) => p.startsWith('DOUBLE WITHDRAWAL')), caught.problems.join('\n'));
    assert.ok(!caught.ok);
  });
});

async function tokenOf(c: CloudAddress, token: string, asset: string): Promise<string> {
  const r = await fetch(`${c.apiUrl}/admin/v1/custody`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2_000) });
  const body = (await r.json()) as { chains: { assets: { asset: string; token: string }[] }[] };
  const found = body.chains[0]?.assets.find((a) => a.asset === asset)?.token;
  assert.ok(found !== undefined && found !== '', `${asset} is a token on the chain`);
  return found;
}

async function hotWallet(c: CloudAddress, token: string): Promise<string> {
  const r = await fetch(`${c.apiUrl}/admin/v1/custody`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2_000) });
  const body = (await r.json()) as { chains: { hotWallet: string }[] };
  const chain = body.chains[0];
  assert.ok(chain !== undefined, 'the chain is declared');
  return chain.hotWallet;
}
