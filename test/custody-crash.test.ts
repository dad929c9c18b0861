// Custody: a broadcaster killed mid-send never pays twice. A real `everbook start` process with
// custody on a test's anvil is SIGKILLed by its own test hook (EVERBOOK_CRASH_AT) right after
// signing a withdrawal (nothing sent) and, in a second round, right after sending one (already
// mined); each time it is started again on the same data directory, finds the withdrawal's
// transaction (or sends it), and settles it. Then the whole chain is scanned: every hot-wallet
// nonce was used by exactly one transaction, and each withdrawal paid its recipient once.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ccxt from 'ccxt';
import { CustodyKeys, startAnvil, ViemChainClient, type AnvilProcess, type NativeTransfer } from '../src/custody/index.js';
import { TEST_MNEMONIC, writeKeyFile } from './support/chain.js';
import { CustodyNode } from './support/custody-node.js';
import { kill } from './support/server-process.js';
import type { Credentials } from './support/okx-client.js';

type Okx = InstanceType<typeof ccxt.okx>;

describe('Custody: the broadcaster SIGKILLed after signing and after sending, then restarted', () => {
  let dir: string;
  let dataDir: string;
  let keyFile: string;
  let anvil: AnvilProcess;
  let chain: ViemChainClient;
  let node: CustodyNode | undefined;
  let trader: Credentials;
  const paid = new Map<string, { recipient: string; wei: bigint }>();

  const okx = (url: string): Okx => new ccxt.okx({
    apiKey: trader.apiKey, secret: trader.secretKey, password: trader.passphrase, urls: { api: { rest: url } },
    options: { fetchMarkets: { types: ['spot'] } }, has: { fetchCurrencies: false }, enableRateLimit: false,
  });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everbook-custody-crash-'));
    dataDir = join(dir, 'node');
    keyFile = await writeKeyFile(dir);
    anvil = await startAnvil();
    chain = new ViemChainClient(anvil.url);
    node = await CustodyNode.start(dataDir, anvil.url, keyFile);
    trader = node.server.traders[0]!;
    await node.settle();
    await kill(node.server, 'SIGTERM');
    node = undefined;
  });

  after(async () => {
    if (node !== undefined) await kill(node.server, 'SIGKILL');
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [point, recipient, eth, wei] of [
    ['after-sign', `0x${'a1'.repeat(20)}`, 1, 10n ** 18n],
    ['after-broadcast', `0x${'b2'.repeat(20)}`, 2, 2n * 10n ** 18n],
  ] as const) {
    test(`${point}: the node dies; restarted, it settles the withdrawal with one transaction`, async () => {
      const crashing = await CustodyNode.start(dataDir, anvil.url, keyFile, [], { ...process.env, EVERBOOK_CRASH_AT: point });
      node = crashing;
      await crashing.settle();
      const w = await okx(crashing.url).withdraw('ETH', eth, recipient, undefined, { network: 'ERC20', fee: '0.001' });
      assert.equal(await crashing.server.exited, 'SIGKILL', 'the node killed itself at the hook');
      node = undefined;
      // After signing nothing was sent; after sending, the chain (a block per transaction) mined it.
      assert.equal(await chain.balance(recipient), point === 'after-sign' ? 0n : wei);

      const restarted = await CustodyNode.start(dataDir, anvil.url, keyFile);
      node = restarted;
      const ex = okx(restarted.url);
      await restarted.settle(async () => (await ex.fetchWithdrawals('ETH')).find((x) => x.id === w.id)?.status === 'ok');
      const done = (await ex.fetchWithdrawals('ETH')).find((x) => x.id === w.id)!;
      assert.equal(await chain.balance(recipient), wei, 'paid exactly once');
      paid.set(done.txid!, { recipient, wei });
      await kill(restarted.server, 'SIGTERM');
      node = undefined;
    });
  }

  test('the chain: every hot-wallet nonce used once, each withdrawal one transaction, its txid the one mined', async () => {
    const hot = new CustodyKeys(TEST_MNEMONIC).address(0);
    const head = await chain.headNumber();
    const fromHot: NativeTransfer[] = [];
    for (let n = 0; n <= head; n++) fromHot.push(...(await chain.block(n))!.nativeTransfers.filter((t) => t.from === hot));
    const nonces = fromHot.map((t) => t.nonce);
    assert.deepEqual(nonces, [...new Set(nonces)].sort((a, b) => a - b), 'nonces ascend without a repeat');
    assert.equal(await chain.nonce(hot), nonces.length > 0 ? Math.max(...nonces) + 1 : 0, 'no hot-wallet nonce was skipped or used by a value-less transaction');
    assert.equal(paid.size, 2);
    // Six starts, each rescanning the chain from block 0: the seed deposit was still credited once.
    const node2 = await CustodyNode.start(dataDir, anvil.url, keyFile);
    node = node2;
    const deposits = await okx(node2.url).fetchDeposits('ETH');
    assert.deepEqual(deposits.map((d) => [d.amount, d.status]), [[100, 'ok']]);
    for (const [txid, { recipient, wei }] of paid) {
      const toRecipient = fromHot.filter((t) => t.to === recipient);
      assert.deepEqual(toRecipient.map((t) => [t.hash, t.value]), [[txid, wei]]);
    }
  });
});
