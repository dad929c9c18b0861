// Custody: deposits on a real local chain (anvil, a block per transaction, more blocks only when
// the test mines them). One node runs in this process with its custody runtime, and a second
// runtime over the same port plays another cloud's watcher, so every observation reaches the
// log twice. A deposit is pending below the asset's 3 confirmations and credited once at 3,
// native and token alike; a repeated observation changes nothing; a reorganisation that drops
// the deposit's block before the count reverts it, and it is never credited.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { ObserveDeposit } from '../src/core/index.js';
import {
  chainTxHash, CustodyKeys, CustodyRuntime, custodyPortOf, rpcCall, startAnvil, ViemChainClient, waitForReceipt, type AnvilProcess, type CustodyPort,
} from '../src/custody/index.js';
import { loadConfig } from '../src/server/config.js';
import { startNode, type RunningNode } from '../src/server/node.js';
import { faucetPay, faucetSign, mine, TEST_MNEMONIC, waitFor, writeKeyFile } from './support/chain.js';

const CHAIN = 'ethereum';
const CONFIRMATIONS = 3;
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };

describe('Custody: deposits on a local chain, observed by two clouds\' watchers', () => {
  let dir: string;
  let anvil: AnvilProcess;
  let chain: ViemChainClient;
  let node: RunningNode;
  let port: CustodyPort;
  let second: CustodyRuntime;
  const keys = new CustodyKeys(TEST_MNEMONIC);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everbook-custody-dep-'));
    anvil = await startAnvil();
    chain = new ViemChainClient(anvil.url);
    const config = loadConfig([
      '--data-dir', join(dir, 'node'), '--port', '0', '--dev', 'true', '--log-level', 'warn', '--rate-limits', 'false',
      '--chain-rpc', anvil.url, '--custody-key-file', await writeKeyFile(dir), '--custody-poll-ms', '50',
      '--dev-confirmations', String(CONFIRMATIONS), '--reconcile-every-ms', '500',
    ], {});
    node = await startNode(config, (e) => { throw e; });
    port = custodyPortOf(node.port);
    second = new CustodyRuntime({
      chain: CHAIN, client: chain, keys, port, logger: quiet, pollMs: 50, reconcileEveryMs: 60_000, replaceAfterMs: 60_000,
      scanFromBlock: 0, crashAt: '', now: Date.now,
    });
    second.start();
  });

  after(async () => {
    await second.stop();
    await node.close();
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Waits until both runtimes have finished a round that started after this call. */
  async function bothRoundsDone(): Promise<void> {
    const a = node.custody!.status().rounds;
    const b = second.status().rounds;
    await waitFor('a full round of both runtimes', () => node.custody!.status().rounds >= a + 2 && second.status().rounds >= b + 2);
  }

  /**
   * Mines until no chain work is left: every deposit credited, every sweep sent and settled. The
   * runtimes' own transactions add blocks (a block per transaction), so a test that counts
   * confirmations starts from here.
   */
  async function quiesce(): Promise<void> {
    for (let i = 0; i < 30; i++) {
      await bothRoundsDone();
      const view = port.custody(CHAIN)!;
      if (view.openTxs.length === 0 && view.unswept.length === 0 && node.custody!.status().watcher.following === 0) return;
      await mine(anvil.url, 1);
    }
    assert.fail('the chain work did not settle in 30 blocks');
  }

  async function newUser(): Promise<number> {
    const [r] = await node.port.submit([{ type: 'CreateUser' }]);
    assert.ok(r?.ok === true && r.userId !== undefined);
    await quiesce();
    return r.userId;
  }

  const balance = (userId: number, asset: string): bigint => node.port.queries.account(userId)?.balances.find((b) => b.asset === asset)?.available ?? 0n;
  const deposits = (userId: number, asset: string) => node.port.queries.deposits(userId, { asset, limit: 100 });

  test('the dev chain is declared: ETH native and USDT the DevToken, 3 confirmations, hot wallet = key index 0', () => {
    const view = port.custody(CHAIN);
    assert.ok(view !== undefined);
    assert.equal(view.chain.spec.hotWallet, keys.address(0));
    assert.deepEqual(view.assets.map((a) => [a.spec.asset, a.spec.token === '' ? 'native' : 'token', a.spec.confirmations, a.unitsPerMinor]).sort(),
      [['ETH', 'native', 3, 10n ** 9n], ['USDT', 'token', 3, 1n]]);
  });

  test('native: 1.5 ETH is pending at 1 confirmation, credited once (1.5 ETH, not 3) at 3; repeated observations change nothing', async () => {
    const user = await newUser();
    const address = keys.address(user);
    const txId = await faucetPay(chain, '', address, 1_500_000_000_000_000_000n);
    await waitFor('the deposit pending', () => port.depositStatus(CHAIN, txId, -1) === 'pending');
    assert.equal(balance(user, 'ETH'), 0n);
    assert.deepEqual(deposits(user, 'ETH').map((d) => [d.state, d.amount, d.txId, d.address]), [['pending', '1500000000', txId, address]]);

    // The same pending observation once more, as a third cloud would send it: refused, no effect.
    const receipt = (await chain.receipt(txId))!;
    const head = await chain.headNumber();
    const observation: ObserveDeposit = {
      type: 'ObserveDeposit', chain: CHAIN, txId, logIndex: -1, asset: 'ETH', userId: user, address, chainAmount: '1500000000000000000',
      blockNumber: receipt.blockNumber, blockHash: receipt.blockHash, confirmations: head - receipt.blockNumber + 1,
    };
    const again = await port.submit([observation]);
    assert.ok(Array.isArray(again) && again[0]?.ok === false);
    assert.equal(balance(user, 'ETH'), 0n);

    await mine(anvil.url, 1);
    await bothRoundsDone();
    assert.equal(port.depositStatus(CHAIN, txId, -1), 'pending', '2 confirmations: still pending');
    assert.equal(balance(user, 'ETH'), 0n);

    await mine(anvil.url, 1);
    await waitFor('the deposit credited', () => port.depositStatus(CHAIN, txId, -1) === 'credited');
    await bothRoundsDone();
    await mine(anvil.url, 2);
    await bothRoundsDone();
    // Credited after observation by both runtimes, and the credited observation once more by hand.
    const late = await port.submit([{ ...observation, confirmations: CONFIRMATIONS + 3 }]);
    assert.ok(Array.isArray(late) && late[0]?.ok === false && late[0].reject.code === 'deposit_duplicate');
    const held = node.port.queries.account(user)!.balances.find((b) => b.asset === 'ETH')!;
    assert.equal(held.available + held.held, 1_500_000_000n, 'exactly 1.5 ETH in minor units (scale 9)');
    assert.deepEqual(deposits(user, 'ETH').map((d) => [d.state, d.amount]), [['credited', '1500000000']]);
  });

  test('token: 2,500.5 USDT (a Transfer log) is credited once at 3 confirmations, keyed by its log index', async () => {
    const user = await newUser();
    const usdt = port.custody(CHAIN)!.assets.find((a) => a.spec.asset === 'USDT')!.spec.token;
    const txId = await faucetPay(chain, usdt, keys.address(user), 2_500_500_000n);
    const receipt = (await chain.receipt(txId))!;
    const [log] = await chain.tokenTransfers(usdt, receipt.blockNumber, receipt.blockNumber);
    assert.ok(log !== undefined);
    await waitFor('the token deposit pending', () => port.depositStatus(CHAIN, txId, log.logIndex) === 'pending');
    assert.equal(balance(user, 'USDT'), 0n);
    await mine(anvil.url, CONFIRMATIONS - 1);
    await waitFor('the token deposit credited', () => port.depositStatus(CHAIN, txId, log.logIndex) === 'credited');
    await mine(anvil.url, 2);
    await bothRoundsDone();
    const b = node.port.queries.account(user)!.balances.find((x) => x.asset === 'USDT')!;
    assert.equal(b.available + b.held, 2_500_500_000n);
    assert.deepEqual(deposits(user, 'USDT').map((d) => [d.state, d.amount]), [['credited', '2500500000']]);
  });

  test('reorg: a pending deposit whose block is replaced (anvil_reorg) is reverted, and never credited however many blocks follow', async () => {
    const user = await newUser();
    const txId = await faucetPay(chain, '', keys.address(user), 2_000_000_000_000_000_000n);
    await waitFor('the deposit pending', () => port.depositStatus(CHAIN, txId, -1) === 'pending');
    const reverted = node.custody!.status().watcher.reverted + second.status().watcher.reverted;
    // The deposit's block (the head) is replaced by an empty one: the transaction is gone.
    await rpcCall(anvil.url, 'anvil_reorg', [1, []]);
    assert.equal(await chain.receipt(txId), undefined);
    await waitFor('the deposit reverted', () => port.depositStatus(CHAIN, txId, -1) === 'unknown');
    assert.ok(node.custody!.status().watcher.reverted + second.status().watcher.reverted > reverted, 'a watcher submitted RevertDeposit');
    for (let i = 0; i < 3; i++) {
      await mine(anvil.url, 2);
      await bothRoundsDone();
    }
    assert.equal(port.depositStatus(CHAIN, txId, -1), 'unknown');
    assert.equal(balance(user, 'ETH'), 0n);
    assert.deepEqual(deposits(user, 'ETH').map((d) => d.state), ['reverted']);
    assert.equal(await chain.balance(keys.address(user)), 0n, 'the chain holds nothing for the user either');
  });

  test('reorg: the deposit\'s transaction mined again in another block at the same height: reverted, pending again in the new block, credited once', async () => {
    const user = await newUser();
    await mine(anvil.url, 1);
    const raw = await faucetSign(chain, '', keys.address(user), 3_000_000_000_000_000_000n);
    assert.ok((await chain.sendRawTransaction(raw)).ok);
    const txId = chainTxHash(raw);
    const minedFirst = await waitForReceipt(chain, txId, 10_000);
    await waitFor('the deposit pending', () => port.depositStatus(CHAIN, txId, -1) === 'pending');
    const reverted = node.custody!.status().watcher.reverted + second.status().watcher.reverted;
    // The last two blocks (an empty one and the deposit's) are replaced; the same transaction lands in the second new one.
    await rpcCall(anvil.url, 'anvil_reorg', [2, [[raw, 1]]]);
    const minedAgain = (await chain.receipt(txId))!;
    assert.equal(minedAgain.blockNumber, minedFirst.blockNumber);
    assert.notEqual(minedAgain.blockHash, minedFirst.blockHash);
    await waitFor('reverted, then pending again in the new block', () => port.depositStatus(CHAIN, txId, -1) === 'pending'
      && node.custody!.status().watcher.reverted + second.status().watcher.reverted > reverted);
    assert.equal(balance(user, 'ETH'), 0n);
    await mine(anvil.url, CONFIRMATIONS - 1);
    await waitFor('the deposit credited', () => port.depositStatus(CHAIN, txId, -1) === 'credited');
    await quiesce();
    const b = node.port.queries.account(user)!.balances.find((x) => x.asset === 'ETH')!;
    assert.equal(b.available + b.held, 3_000_000_000n, 'exactly 3 ETH, once');
    assert.deepEqual(deposits(user, 'ETH').filter((d) => d.state === 'credited').map((d) => [d.amount, d.txId]), [['3000000000', txId]]);
  });

  test('the seed deposits of the dev traders and every deposit above, swept to the hot wallet, leave the books balanced', async () => {
    await quiesce();
    const before = node.custody!.status().reconciliation?.ts ?? 0;
    const result = await waitFor('a reconciliation after the sweeps', () => {
      const r = node.custody!.status().reconciliation;
      return r !== null && r.ts > before ? r : undefined;
    });
    assert.equal(result.outcome, 'balanced', JSON.stringify(result));
    for (const user of [1, 2]) {
      const seeded = node.port.queries.account(user)!.balances;
      assert.equal(seeded.find((b) => b.asset === 'ETH')?.available, 100_000_000_000n, 'trader seeded with 100 ETH on chain');
      assert.equal(seeded.find((b) => b.asset === 'USDT')?.available, 100_000_000_000n, 'trader seeded with 100,000 USDT on chain');
    }
    assert.equal(port.custody(CHAIN)!.chain.frozen, false);
    // Swept: the deposit addresses hold no token and at most native dust (gas left unspent);
    // the hot wallet holds its float plus every sweep.
    const usdt = port.custody(CHAIN)!.assets.find((a) => a.spec.asset === 'USDT')!.spec.token;
    for (const user of [1, 2]) {
      assert.equal(await chain.tokenBalance(usdt, keys.address(user)), 0n);
      assert.ok(await chain.balance(keys.address(user)) < 10n ** 16n, 'native swept, dust below 0.01 ETH left');
    }
    assert.equal(await chain.tokenBalance(usdt, keys.address(0)), 1_000_000_000_000n + 2n * 100_000_000_000n + 2_500_500_000n);
    assert.equal(node.custody!.status().reconciliation?.assets.length, 2);
  });
});
