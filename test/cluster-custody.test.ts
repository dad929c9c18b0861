// Issue 10's proof that no withdrawal is paid twice, on a three-cloud deployment with a real etcd
// cluster and one real anvil outside every cloud (as root, each cloud in its own network
// namespace, the chain on the host's leg into the fabric). First the outage drill with withdrawal
// clients in every cloud: one whole cloud killed, then one partitioned (as root; else a second
// kill), while orders and withdrawals flow; then the custody checker holds chain, ledger and
// history to one another. Second, the broadcaster's crash points in one cloud while the others
// carry on (test/custody-crash.test.ts has a lone node's): cloud 0's node is started with
// EVERBOOK_CRASH_AT and SIGKILLs itself right after signing a withdrawal, then right after
// sending one; every withdrawal must still be paid by exactly one mined transaction.
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
/** Withdrawals sent at most, and how long each is given, for a crash hook to fire. */
const WITHDRAWALS_TO_CRASH_MAX = 5;
const CRASH_WAIT_MS = 10_000;

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
    // The killed cloud's withdrawal worker sends every 250 ms: the first request after the kill fails over.
    assert.ok(check.counts.retried > 0, 'withdrawals were acknowledged after a failover');
    assert.equal(check.counts.assigned, check.counts.completed + check.counts.failed, 'every assigned withdrawal ended');
    assert.equal(check.counts.mined, check.counts.completed, 'each completed withdrawal has its one mined transaction');
    assert.ok(check.hashesAgree);
  });

  test('one cloud\'s broadcaster SIGKILLed after signing, then after broadcasting, while the others carry on: one mined transaction per withdrawal', async (t) => {
    const custody = CustodyDrill.for(state, 1)!;
    const chain = new ViemChainClient(state.chain!.rpcUrl);
    const [trader] = await devTraders(state);
    const own = all[0]!;
    const hot = await hotWallet(own, tokens[0]!);
    const nodeLog = state.processes.find((p) => p.role === 'node' && p.cloud === own.cloud.name)!.log;
    const crashes = async (point: string): Promise<number> => (await readFile(nodeLog, 'utf8')).split(`${CRASH_AT_ENV}=${point}: killing this process`).length - 1;

    /** Restarts cloud 0's node, with the crash hook or without, and waits until it serves. */
    const restart = async (crashAt: string | undefined): Promise<number> => {
      const old = state.processes.find((p) => p.role === 'node' && p.cloud === own.cloud.name)!;
      await stopProcess(old);
      const fresh = startNodeProcess(state, own, false, crashAt === undefined ? {} : { [CRASH_AT_ENV]: crashAt });
      state.processes = [...state.processes.filter((p) => p !== old), fresh];
      await saveClusterState(state);
      await waitFor(`${own.cloud.name} serving`, () => nodeServing(own), STEP_TIMEOUT_MS);
      return fresh.pid;
    };
    /** A withdrawal through another cloud's gateway; cloud 0's broadcaster sends it as every cloud's does. */
    const withdraw = async (n: number, via: CloudAddress): Promise<void> => {
      const clientId = `crash${String(n)}${String(Date.now())}`;
      const client = new FailoverClient({ endpoints: [via.apiUrl], credentials: trader!, attemptTimeoutMs: 2_500, budgetMs: 10_000 });
      const s = Date.now();
      const r = await client.request('POST', '/api/v5/asset/withdrawal', {
        ccy: 'USDT', amt: '10', chain: 'USDT-ERC20', fee: '1', dest: '4', toAddr: custody.withdrawTo(0), clientId,
      });
      assert.equal(r.code, '0', `withdrawal ${clientId}: ${r.msg}`);
      custody.acks.push({
        cloud: via.cloud.name, worker: 0, op: 'withdraw', s, t: Date.now(), id: clientId, userId: trader!.userId, ok: true, code: '0', endpoint: via.apiUrl, attempts: r.attempts,
      } satisfies DrillAck);
    };
    /**
     * Withdraws through another cloud until cloud 0's node has died by its hook: another cloud's
     * broadcaster may get a transaction mined before cloud 0 sends it, so a few may be needed (bounded).
     */
    let n = 0;
    const withdrawUntilDied = async (pid: number, via: CloudAddress, what: string): Promise<void> => {
      for (let i = 0; i < WITHDRAWALS_TO_CRASH_MAX && alive(pid); i++) {
        await withdraw(++n, via);
        await waitFor(`cloud 0's node killed by its crash hook ${what}`, () => Promise.resolve(!alive(pid)), CRASH_WAIT_MS).catch(() => undefined);
      }
      assert.ok(!alive(pid), `cloud 0's node died by its hook ${what}`);
    };

    // 1. Cloud 0's node dies right after signing a withdrawal; the other clouds send the same bytes.
    const nonce0 = await chain.nonce(hot);
    let pid = await restart('after-sign');
    await withdrawUntilDied(pid, all[1]!, 'after signing');
    assert.equal(await crashes('after-sign'), 1, 'the hook killed the node after signing');

    // 2. Restarted with the hook moved on, it dies right after sending the next withdrawal, before recording it.
    pid = await restart('after-broadcast');
    await withdrawUntilDied(pid, all[2]!, 'after broadcasting');
    assert.equal(await crashes('after-broadcast'), 1, 'the hook killed the node after sending');

    // 3. Restarted without the hook: both settle, each paid by exactly one mined transaction.
    await restart(undefined);
    const check = await custody.check(all, tokens, await devTraders(state), STEP_TIMEOUT_MS);
    for (const line of custodyTable(check).split('\n')) t.diagnostic(line);
    t.diagnostic(custodySummary(check));
    assert.deepEqual(check.problems, [], 'chain, ledger and history agree');
    assert.equal(check.counts.duplicates, 0);
    assert.equal(await chain.nonce(hot), nonce0 + n, `exactly ${n} transactions left the hot wallet, one per withdrawal`);
    assert.equal(check.counts.completed, check.counts.assigned);

    // 4. The checker sees a double withdrawal: the hot wallet pays the last withdrawal again, at
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
