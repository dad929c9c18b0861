// Custody end to end through an unchanged CCXT 4.5.84 okx client, against a real `everbook start`
// process with custody on a test's anvil: the deposit address is the user's HD address; a chain
// deposit shows in fetchDeposits as pending and then ok; withdrawals of ETH and USDT are signed,
// mined from the hot wallet and settled at 3 confirmations, and fetchWithdrawals shows the chain's
// txid; one above the approval threshold waits for the operator; and when funds leave the hot
// wallet behind the ledger's back (anvil_setBalance), reconciliation freezes withdrawals.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ccxt, { ExchangeError } from 'ccxt';
import { CustodyKeys, rpcCall, startAnvil, ViemChainClient, type AnvilProcess } from '../src/custody/index.js';
import { depositAddress as devAddress } from '../src/gateway/index.js';
import { faucetPay, mine, TEST_MNEMONIC, waitFor, writeKeyFile } from './support/chain.js';
import { CustodyNode } from './support/custody-node.js';
import { kill } from './support/server-process.js';

type Okx = InstanceType<typeof ccxt.okx>;
interface BalanceInfo { data: { details: { ccy: string; cashBal: string }[] }[] }

/** The ETH cash balance as the server wrote it (account/balance's exact decimal string). */
function ethCash(balance: { info: unknown }): string | undefined {
  return (balance.info as BalanceInfo).data[0]?.details.find((d) => d.ccy === 'ETH')?.cashBal;
}

describe('Custody through CCXT: deposit address, deposits, withdrawals, approval, reconciliation freeze', () => {
  let dir: string;
  let anvil: AnvilProcess;
  let chain: ViemChainClient;
  let node: CustodyNode;
  let ex: Okx;
  let userId: number;
  const keys = new CustodyKeys(TEST_MNEMONIC);
  const recipient = `0x${'7e'.repeat(20)}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everbook-custody-wd-'));
    anvil = await startAnvil();
    chain = new ViemChainClient(anvil.url);
    node = await CustodyNode.start(join(dir, 'node'), anvil.url, await writeKeyFile(dir), ['--reconcile-every-ms', '200', '--replace-after-ms', '1000', '--log-level', 'info']);
    const trader = node.server.traders[0]!;
    userId = trader.userId;
    ex = new ccxt.okx({
      apiKey: trader.apiKey, secret: trader.secretKey, password: trader.passphrase, urls: { api: { rest: node.url } },
      options: { fetchMarkets: { types: ['spot'] } }, has: { fetchCurrencies: false }, enableRateLimit: false,
    });
    // The seed deposits (100 ETH, 100,000 USDT) credited and swept to the hot wallet.
    await node.settle(async () => ethCash(await ex.fetchBalance()) === '100');
  });

  after(async () => {
    await kill(node.server, 'SIGTERM');
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('fetchDepositAddress: ETH and USDT at the user\'s HD address (key index = user id); BTC, on no chain, keeps its dev address', async () => {
    assert.equal((await ex.fetchDepositAddress('ETH')).address, keys.address(userId));
    assert.equal((await ex.fetchDepositAddress('USDT')).address, keys.address(userId));
    assert.equal((await ex.fetchDepositAddress('BTC')).address, devAddress(userId, 'BTC'));
  });

  test('fetchDeposits: a chain deposit of 0.25 ETH is pending with its txid, then ok at 3 confirmations; the balance grows by exactly 0.25', async () => {
    assert.equal(ethCash(await ex.fetchBalance()), '100');
    const txId = await faucetPay(chain, '', keys.address(userId), 250_000_000_000_000_000n);
    const pending = await waitFor('the deposit listed as pending', async () => (await ex.fetchDeposits('ETH')).find((d) => d.txid === txId));
    assert.equal(pending.status, 'pending');
    assert.equal(pending.amount, 0.25);
    assert.equal(pending.address, keys.address(userId));
    await mine(anvil.url, 2);
    const ok = await waitFor('the deposit ok', async () => (await ex.fetchDeposits('ETH')).find((d) => d.txid === txId && d.status === 'ok'));
    assert.equal((ok.info as Record<string, string>)['state'], '2');
    assert.equal(ethCash(await ex.fetchBalance()), '100.25');
    await node.settle();
  });

  test('withdraw 1.25 ETH and 10 USDT: mined from the hot wallet, ok at 3 confirmations with the chain txid; the recipient holds exactly the amounts', async () => {
    const eth = await ex.withdraw('ETH', 1.25, recipient, undefined, { network: 'ERC20', fee: '0.001' });
    const usdt = await ex.withdraw('USDT', 10, recipient, undefined, { network: 'ERC20', fee: '1' });
    const sent = await waitFor('both withdrawals broadcasting', async () => {
      const ws = await ex.fetchWithdrawals();
      const mine1 = ws.find((w) => w.id === eth.id);
      const mine2 = ws.find((w) => w.id === usdt.id);
      return mine1 !== undefined && mine2 !== undefined ? [mine1, mine2] : undefined;
    });
    for (const w of sent) assert.equal(w.status, 'pending');
    await node.settle(async () => (await ex.fetchWithdrawals()).filter((w) => (w.id === eth.id || w.id === usdt.id) && w.status === 'ok').length === 2);
    const done = (await ex.fetchWithdrawals()).filter((w) => w.id === eth.id || w.id === usdt.id);
    const hot = (await node.custody()).chains[0]!.hotWallet;
    for (const w of done) {
      assert.equal(w.status, 'ok');
      assert.match(w.txid ?? '', /^0x[0-9a-f]{64}$/);
      const receipt = await chain.receipt(w.txid!);
      assert.equal(receipt?.status, 'success', `${w.currency} txid is a successful chain transaction`);
      const block = await chain.block(receipt.blockNumber);
      if (w.currency === 'ETH') assert.equal(block?.nativeTransfers.find((t) => t.hash === w.txid)?.from, hot);
    }
    assert.equal(await chain.balance(recipient), 1_250_000_000_000_000_000n);
    const token = (await node.custody()).chains[0]!.assets.find((a) => a.asset === 'USDT')!.token;
    assert.equal(await chain.tokenBalance(token, recipient), 10_000_000n);
  });

  test('above the approval threshold (10 ETH): 20 ETH waits (state 4) with nothing sent, until the operator approves it; then mined and ok', async () => {
    const w = await ex.withdraw('ETH', 20, recipient, undefined, { network: 'ERC20', fee: '0.001' });
    const waiting = await waitFor('listed', async () => (await ex.fetchWithdrawals('ETH')).find((x) => x.id === w.id));
    assert.equal((waiting.info as Record<string, string>)['state'], '4');
    await node.rounds();
    assert.equal((await node.custody()).chains[0]!.openTxs, 0, 'no transaction before approval');
    await node.admin('POST', '/withdrawals/approve', { withdrawalId: Number(w.id) });
    await node.settle(async () => (await ex.fetchWithdrawals('ETH')).find((x) => x.id === w.id)?.status === 'ok');
    assert.equal(await chain.balance(recipient), 21_250_000_000_000_000_000n);
  });

  test('a stuck withdrawal (no block mined) is replaced at fee level 1 (+25 %) after --replace-after-ms; that variant is mined and settles it, paid once', async () => {
    const to = `0x${'5c'.repeat(20)}`;
    const hot = (await node.custody()).chains[0]!.hotWallet;
    await rpcCall(anvil.url, 'evm_setAutomine', [false]);
    try {
      const w = await ex.withdraw('ETH', 0.1, to, undefined, { network: 'ERC20', fee: '0.001' });
      // The pool holds the hot wallet's transaction at 20 gwei, then (replaced) at 25 gwei.
      const pooled = async (): Promise<string | undefined> => {
        const pool = await rpcCall(anvil.url, 'txpool_content', []) as { pending: Record<string, Record<string, { maxFeePerGas: string; hash: string }>> };
        const mine1 = Object.entries(pool.pending).find(([from]) => from.toLowerCase() === hot)?.[1];
        return mine1 === undefined ? undefined : Object.values(mine1)[0]?.maxFeePerGas;
      };
      assert.equal(await waitFor('the withdrawal in the pool', pooled), '0x4a817c800', '20 gwei at level 0');
      await waitFor('the replacement in the pool', async () => (await pooled()) === '0x5d21dba00');
      await mine(anvil.url, 1);
      await rpcCall(anvil.url, 'evm_setAutomine', [true]);
      await node.settle(async () => (await ex.fetchWithdrawals('ETH')).find((x) => x.id === w.id)?.status === 'ok');
      const done = (await ex.fetchWithdrawals('ETH')).find((x) => x.id === w.id)!;
      const mined = await rpcCall(anvil.url, 'eth_getTransactionByHash', [done.txid]) as { maxFeePerGas: string };
      assert.equal(BigInt(mined.maxFeePerGas), 25_000_000_000n, 'the txid is the level-1 variant');
      assert.equal(await chain.balance(to), 100_000_000_000_000_000n);
    } finally {
      await rpcCall(anvil.url, 'evm_setAutomine', [true]);
    }
  });

  test('reconciliation: ETH taken from the hot wallet behind the ledger\'s back freezes withdrawals with the figures; ccxt withdraw is refused', async () => {
    const before = await node.custody();
    assert.equal(before.chains[0]!.frozen, false);
    assert.equal(before.runtime.reconciliation?.outcome, 'balanced');
    const hot = before.chains[0]!.hotWallet;
    await rpcCall(anvil.url, 'anvil_setBalance', [hot, '0x0']);
    const frozen = await waitFor('withdrawals frozen', async () => {
      const c = (await node.custody()).chains[0]!;
      return c.frozen ? c : undefined;
    });
    assert.match(frozen.frozenReason, /^reconciliation deficit: ETH: on chain \d+ \+ mined unsettled 0 < owed \d+ \(short \d+\) at block \d+/);
    assert.equal((await node.custody()).runtime.reconciliation?.outcome, 'deficit');
    const refused = await ex.withdraw('ETH', 1, recipient, undefined, { network: 'ERC20', fee: '0.001' }).then(() => undefined, (e: unknown) => e);
    assert.ok(refused instanceof ExchangeError, String(refused));
    assert.match(refused.message, /"code":"58200"/);
    assert.match(refused.message, /reconciliation deficit: ETH/, 'the refusal carries the freeze\'s reason');
  });

  test('the node\'s log tells what custody did, and never carries the custody key', () => {
    const output = node.server.output();
    assert.match(output, /custody watcher: deposit observed/);
    assert.match(output, /custody broadcaster: transaction settled/);
    assert.match(output, /custody reconciliation: DEFICIT/);
    assert.ok(!output.includes(TEST_MNEMONIC) && !output.includes('abandon'), 'the mnemonic appears in the log');
  });
});
