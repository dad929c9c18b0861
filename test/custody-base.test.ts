// The custody runtime's ground floor on a real local chain: anvil starts on loopback and stops by
// its PID, the custody key is refused from a file others can read and derives the documented HD
// addresses, the signer is a pure function (same view, same bytes, fee levels +25 % each), and
// its bytes are accepted and mined by the chain (native and token transfers) as the client reads them.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { createPublicClient, createWalletClient, http, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import type { ChainTxView } from '../src/core/index.js';
import {
  chainTxHash, CustodyKeys, feeAtLevel, loadCustodyKeys, rpcCall, signChainTx, startAnvil, ViemChainClient, type AnvilProcess,
} from '../src/custody/index.js';
import { waitFor } from './support/chain.js';

/** anvil's well-known dev mnemonic: its account 0 is prefunded (the faucet of these tests). */
const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
/** The custody key of these tests (not anvil's, so that no deposit address starts funded). */
const MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';
const artifact = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'contracts', 'DevToken.json'), 'utf8')) as { abi: unknown[]; bytecode: Hex };

function view(over: Partial<ChainTxView> = {}): ChainTxView {
  return {
    chain: 'ETH', chainId: 31_337, fromIndex: 0, nonce: 0, kind: 'withdrawal', withdrawalId: 1, asset: 'ETH', token: '',
    to: '0x000000000000000000000000000000000000dead', toIndex: -1, chainAmount: '1000000000000000000', gasLimit: 21_000,
    maxFeePerGas: '20000000000', maxPriorityFeePerGas: '1000000000', feeLevel: 0, assignedSeq: 7, ...over,
  };
}

describe('Custody key', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'everbook-keys-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('a key file others can read is refused; mode 0600 is read; index i is viem\'s mnemonicToAccount(m, { addressIndex: i })', async () => {
    const file = join(dir, 'custody.key');
    await writeFile(file, MNEMONIC + '\n', { mode: 0o644 });
    await chmod(file, 0o644);
    await assert.rejects(loadCustodyKeys(file, {}), /readable by others/);
    await chmod(file, 0o600);
    const keys = await loadCustodyKeys(file, {});
    assert.ok(keys !== undefined);
    for (const i of [0, 1, 7, 123_456, 2 ** 31 - 1]) assert.equal(keys.address(i), mnemonicToAccount(MNEMONIC, { addressIndex: i }).address.toLowerCase());
    assert.equal(keys.address(0), '0x9858effd232b4033e47d90003d41ec34ecaeda94');
  });

  test('the environment is used only when no file is named; the key never prints', async () => {
    const keys = await loadCustodyKeys('', { EVERBOOK_CUSTODY_MNEMONIC: MNEMONIC });
    assert.ok(keys !== undefined);
    assert.equal(await loadCustodyKeys('', {}), undefined);
    for (const text of [JSON.stringify({ keys }), String(keys), inspect(keys)]) assert.ok(!text.includes('abandon'), text);
    assert.throws(() => new CustodyKeys('not a mnemonic'), /12 to 24 words/);
  });
});

describe('Signer', () => {
  const keys = new CustodyKeys(MNEMONIC);

  test('the same view signs to the same bytes, twice; another nonce or fee level to other bytes', async () => {
    const a = await signChainTx(view(), keys.account(0));
    const b = await signChainTx(view(), keys.account(0));
    assert.equal(a, b);
    assert.notEqual(await signChainTx(view({ nonce: 1 }), keys.account(0)), a);
    assert.notEqual(await signChainTx(view(), keys.account(0), 1), a);
    assert.equal(chainTxHash(a), chainTxHash(b));
  });

  test('fee levels: each 125 % of the one below (integer division at each step), so each replacement raises by at least 10 %', () => {
    assert.deepEqual([0, 1, 2, 8].map((l) => feeAtLevel('1000000007', l)), [1_000_000_007n, 1_250_000_008n, 1_562_500_010n, 5_960_464_512n]);
    assert.throws(() => feeAtLevel('1', 9), /out of range/);
  });
});

/** The receipt once the node has it: anvil mines each transaction as it arrives, but may answer the send first. */
const mined = (chain: ViemChainClient, hash: string) => waitFor(`the receipt of ${hash}`, () => chain.receipt(hash));

describe('Local chain: anvil and the chain client', () => {
  let anvil: AnvilProcess;
  let chain: ViemChainClient;
  const keys = new CustodyKeys(MNEMONIC);
  const faucet = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: 0 });

  before(async () => {
    anvil = await startAnvil();
    chain = new ViemChainClient(anvil.url);
  });
  after(async () => { await anvil.stop(); });

  test('anvil listens on loopback and answers; blocks are mined on demand', async () => {
    assert.match(anvil.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await chain.chainId(), 31_337);
    const head = await chain.headNumber();
    await rpcCall(anvil.url, 'anvil_mine', ['0x3']);
    assert.equal(await chain.headNumber(), head + 3);
  });

  test('signed bytes of a native withdrawal are mined; sending them again is benign; the client sees the transfer', async () => {
    const wallet = createWalletClient({ account: faucet, transport: http(anvil.url) });
    const hot = keys.address(0);
    const fund = await wallet.sendTransaction({ to: hot as Hex, value: 10n ** 19n, chain: null });
    assert.equal((await mined(chain, fund)).status, 'success');
    const bytes = await signChainTx(view(), keys.account(0));
    assert.deepEqual(await chain.sendRawTransaction(bytes), { ok: true });
    const again = await chain.sendRawTransaction(bytes);
    assert.ok(!again.ok && again.benign, JSON.stringify(again));
    const receipt = await mined(chain, chainTxHash(bytes));
    assert.equal(receipt.status, 'success');
    const block = await chain.block(receipt.blockNumber);
    assert.ok(block !== undefined);
    assert.equal(block.hash, receipt.blockHash);
    const transfer = block.nativeTransfers.find((t) => t.hash === chainTxHash(bytes));
    assert.deepEqual(transfer, { hash: chainTxHash(bytes), from: hot, to: view().to, value: 10n ** 18n, nonce: 0 });
    assert.equal(await chain.nonce(hot), 1);
    assert.equal(await chain.balance(view().to), 10n ** 18n);
  });

  test('the DevToken deploys; a signed token withdrawal is a Transfer log the client reads', async () => {
    const wallet = createWalletClient({ account: faucet, transport: http(anvil.url) });
    const deploy = await wallet.deployContract({ abi: artifact.abi, bytecode: artifact.bytecode, args: [10n ** 12n], chain: null });
    const token = (await createPublicClient({ transport: http(anvil.url) }).waitForTransactionReceipt({ hash: deploy, pollingInterval: 50 })).contractAddress!.toLowerCase();
    const to = keys.address(3);
    // The hot wallet holds no token: the transfer reverts, and the receipt says so.
    const hotNonce = await chain.nonce(keys.address(0));
    const reverting = await signChainTx(view({ token, to, chainAmount: '5', nonce: hotNonce, gasLimit: 60_000 }), keys.account(0));
    assert.deepEqual(await chain.sendRawTransaction(reverting), { ok: true });
    assert.equal((await mined(chain, chainTxHash(reverting))).status, 'reverted');
    const sent = await wallet.writeContract({
      address: token as Hex, abi: artifact.abi, functionName: 'transfer', args: [to, 2_500_000n], chain: null,
    });
    const receipt = await mined(chain, sent);
    const logs = await chain.tokenTransfers(token, receipt.blockNumber, receipt.blockNumber);
    assert.equal(logs.length, 1);
    assert.deepEqual({ ...logs[0], logIndex: 0 }, {
      token, txHash: sent.toLowerCase(), logIndex: 0, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash,
      from: faucet.address.toLowerCase(), to, value: 2_500_000n,
    });
    assert.equal(await chain.tokenBalance(token, to), 2_500_000n);
  });

  test('anvil stops by its PID', async () => {
    const other = await startAnvil();
    const pid = other.pid;
    assert.doesNotThrow(() => process.kill(pid, 0));
    await other.stop();
    assert.throws(() => process.kill(pid, 0), /ESRCH/);
  });
});
