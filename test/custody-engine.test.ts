// The engine's side of custody, pure (no chain): deposits credited once at the asset's
// confirmation count and never after a revert, withdrawals given hot-wallet nonces in log order
// (or held for approval), settlement only by a confirmed transaction, sweeps, the freeze, the
// allowlist and the global daily limit; conservation audited after every command and the state
// surviving a snapshot byte for byte.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  audit, custodyView, Engine, restore, snapshot, type Command, type Event, type Result,
} from '../src/core/index.js';

const HOT = '0x' + 'a1'.repeat(20);
const TOKEN = '0x' + 'b2'.repeat(20);
const ALICE_ADDR = '0x' + 'c3'.repeat(20);
const EXTERNAL = '0x' + 'd4'.repeat(20);
const hash = (n: number): string => '0x' + n.toString(16).padStart(64, '0');
const GWEI = 10n ** 9n;

class Harness {
  engine = new Engine();
  ts = 1_700_000_000_000;
  events: Event[] = [];

  run(cmd: Command): Result {
    const events: Event[] = [];
    const r = this.engine.apply(cmd, (this.ts += 1000), events);
    this.events = events;
    assert.deepEqual(audit(this.engine), [], `ledger consistent after ${cmd.type}`);
    return r;
  }

  ok(cmd: Command): Result {
    const r = this.run(cmd);
    assert.ok(r.ok, `${cmd.type} accepted: ${JSON.stringify(r)}`);
    return r;
  }

  refused(cmd: Command, code: string): void {
    const before = snapshot(this.engine);
    const r = this.run(cmd);
    assert.equal(r.ok ? 'accepted' : r.reject.code, code, `${cmd.type} refused`);
    assert.deepEqual(this.events, [], 'a refusal emits nothing');
    // Nothing changes but the sequence number and the clock.
    const strip = (b: Uint8Array): string => new TextDecoder().decode(b).replace(/"seq":\d+,"now":\d+/, '');
    assert.equal(strip(snapshot(this.engine)), strip(before), 'a refusal changes no state');
  }

  balance(userId: number, asset: string): { available: bigint; held: bigint } {
    const a = this.engine.users[userId]!.accounts[this.engine.assetById.get(asset)!.index];
    return { available: a?.available.toBigInt() ?? 0n, held: a?.held.toBigInt() ?? 0n };
  }

  view() {
    return custodyView(this.engine, 'anvil')!;
  }
}

/** ETH (scale 9, 18 chain decimals, 2 confirmations) and USDT (a token, 6 and 6, 3 confirmations); user 1 = alice. */
function setup(opts: { threshold?: string; globalDailyMax?: string } = {}): Harness {
  const h = new Harness();
  h.ok({ type: 'SetAsset', asset: 'ETH', scale: 9, withdrawFee: '1000000', withdrawMin: '1000000', withdrawMax: '100000000000', withdrawDailyMax: '500000000000', withdrawEnabled: true });
  h.ok({ type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '1000000', withdrawMin: '1000000', withdrawMax: '100000000000', withdrawDailyMax: '500000000000', withdrawEnabled: true });
  h.ok({ type: 'CreateUser' });
  h.ok({ type: 'CreateUser' });
  h.ok({ type: 'SetChain', chain: 'anvil', chainId: 31337, hotWallet: HOT, nonceStart: 5 });
  const gas = { gasLimit: 21000, maxFeePerGas: String(2n * GWEI), maxPriorityFeePerGas: String(GWEI) };
  h.ok({ type: 'SetChainAsset', asset: 'ETH', chain: 'anvil', token: '', chainDecimals: 18, confirmations: 2, approvalThreshold: opts.threshold ?? '10000000000', globalDailyMax: opts.globalDailyMax ?? '1000000000000', ...gas });
  h.ok({ type: 'SetChainAsset', asset: 'USDT', chain: 'anvil', token: TOKEN, chainDecimals: 6, confirmations: 3, approvalThreshold: '10000000000', globalDailyMax: '1000000000000', ...gas, gasLimit: 65000 });
  return h;
}

const ethDeposit = (n: number, wei: bigint, confirmations: number, block = hash(1000 + n)): Command => ({
  type: 'ObserveDeposit', chain: 'anvil', txId: hash(n), logIndex: -1, asset: 'ETH', userId: 1, address: ALICE_ADDR,
  chainAmount: wei.toString(), blockNumber: 10 + n, blockHash: block, confirmations,
});

test('Custody engine: a deposit is pending below its confirmation count and credited exactly once at it', () => {
  const h = setup();
  h.ok(ethDeposit(1, 3n * 10n ** 18n, 1));
  assert.equal(h.events.at(0)?.type, 'DepositPending');
  assert.equal(h.balance(1, 'ETH').available, 0n, 'nothing credited while pending');
  h.refused(ethDeposit(1, 3n * 10n ** 18n, 1), 'deposit_unchanged');
  h.ok(ethDeposit(1, 3n * 10n ** 18n, 2));
  assert.deepEqual(h.events.map((e) => e.type), ['DepositCredited', 'BalanceChanged']);
  assert.equal(h.balance(1, 'ETH').available, 3n * 10n ** 9n, '3 ETH in gwei minor units');
  // Every other cloud's watcher observes the same deposit: refused, nothing changes.
  h.refused(ethDeposit(1, 3n * 10n ** 18n, 2), 'deposit_duplicate');
  h.refused(ethDeposit(1, 3n * 10n ** 18n, 9), 'deposit_duplicate');
  h.refused(ethDeposit(1, 4n * 10n ** 18n, 9), 'deposit_conflict');
  h.refused({ ...ethDeposit(1, 3n * 10n ** 18n, 9), type: 'RevertDeposit' } as Command, 'deposit_duplicate');
  assert.equal(h.balance(1, 'ETH').available, 3n * 10n ** 9n);
  // A chain asset's ledger moves only with the chain: no operator credit.
  h.refused({ type: 'CreditDeposit', depositId: 'x', userId: 1, asset: 'ETH', amount: '5' }, 'deposit_on_chain');
  // Less than a minor unit cannot be credited; a remainder stays on the address as surplus.
  h.refused(ethDeposit(2, 10n ** 8n, 5), 'deposit_too_small');
  h.ok(ethDeposit(3, 10n ** 9n + 7n, 5));
  assert.equal(h.balance(1, 'ETH').available, 3n * 10n ** 9n + 1n);
  assert.equal(h.view().unswept[0]?.chainAmount, 3n * 10n ** 18n + 10n ** 9n + 7n, 'unswept counts the chain amount, remainder included');
});

test('Custody engine: a reorg before the confirmation count never credits; the same transaction mined again is a new pending deposit', () => {
  const h = setup();
  h.ok(ethDeposit(7, 10n ** 18n, 1, hash(0xaaa)));
  h.refused({ type: 'RevertDeposit', chain: 'anvil', txId: hash(7), logIndex: -1, blockHash: hash(0xbbb) }, 'deposit_not_pending');
  h.ok({ type: 'RevertDeposit', chain: 'anvil', txId: hash(7), logIndex: -1, blockHash: hash(0xaaa) });
  assert.equal(h.events.at(0)?.type, 'DepositReverted');
  h.refused({ type: 'RevertDeposit', chain: 'anvil', txId: hash(7), logIndex: -1, blockHash: hash(0xaaa) }, 'deposit_not_pending');
  assert.equal(h.balance(1, 'ETH').available, 0n);
  h.ok(ethDeposit(7, 10n ** 18n, 1, hash(0xccc)));
  assert.equal(h.events.at(0)?.type, 'DepositPending');
  h.ok(ethDeposit(7, 10n ** 18n, 2, hash(0xccc)));
  assert.equal(h.balance(1, 'ETH').available, 10n ** 9n);
});

test('Custody engine: withdrawals get consecutive hot-wallet nonces in log order; above the threshold they wait for an operator', () => {
  const h = setup({ threshold: '2000000000' });
  h.ok(ethDeposit(1, 10n * 10n ** 18n, 2));
  const w1 = h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1000000000', address: EXTERNAL.toUpperCase().replace('0X', '0x') });
  assert.deepEqual(h.events.map((e) => e.type), ['WithdrawalRequested', 'ChainTxAssigned', 'BalanceChanged']);
  const assigned = h.events[1] as Extract<Event, { type: 'ChainTxAssigned' }>;
  assert.equal(assigned.tx.nonce, 5, 'the first nonce is the chain\'s nonceStart');
  assert.equal(assigned.tx.to, EXTERNAL, 'addresses are kept lower-case');
  assert.equal(assigned.tx.chainAmount, String(10n ** 18n), '1 ETH in wei; the fee stays in the ledger');
  const big = h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '3000000000', address: EXTERNAL });
  assert.deepEqual(h.events.map((e) => e.type), ['WithdrawalRequested', 'WithdrawalAwaitingApproval', 'BalanceChanged']);
  const w3 = h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1500000000', address: EXTERNAL });
  assert.equal((h.events[1] as Extract<Event, { type: 'ChainTxAssigned' }>).tx.nonce, 6);
  h.refused({ type: 'CancelWithdrawal', userId: 1, withdrawalId: w1.ok ? w1.withdrawalId! : 0 }, 'withdrawal_not_pending');
  h.refused({ type: 'CompleteWithdrawal', withdrawalId: w1.ok ? w1.withdrawalId! : 0, txId: 'x' }, 'withdrawal_on_chain');
  h.refused({ type: 'FailWithdrawal', withdrawalId: w3.ok ? w3.withdrawalId! : 0, reason: 'x' }, 'withdrawal_on_chain');
  h.refused({ type: 'ApproveWithdrawal', withdrawalId: w1.ok ? w1.withdrawalId! : 0 }, 'withdrawal_not_awaiting_approval');
  h.ok({ type: 'ApproveWithdrawal', withdrawalId: big.ok ? big.withdrawalId! : 0 });
  assert.equal((h.events[0] as Extract<Event, { type: 'ChainTxAssigned' }>).tx.nonce, 7, 'approval assigns the next nonce then');
  assert.deepEqual(h.view().openTxs.map((t) => [t.nonce, t.withdrawalId]), [[5, 1], [6, 3], [7, 2]]);
  assert.equal(h.view().chain.nextNonce, 8);
  // An operator may reject one that waits for approval: the hold is released.
  const big2 = h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '2500000000', address: EXTERNAL });
  const heldBefore = h.balance(1, 'ETH').held;
  h.ok({ type: 'FailWithdrawal', withdrawalId: big2.ok ? big2.withdrawalId! : 0, reason: 'rejected by operator' });
  assert.equal(h.balance(1, 'ETH').held, heldBefore - 2_501_000_000n);
  // The chain cannot change under assigned transactions.
  h.refused({ type: 'SetChain', chain: 'anvil', chainId: 31337, hotWallet: EXTERNAL, nonceStart: 5 }, 'chain_immutable');
});

test('Custody engine: only a confirmed transaction settles a withdrawal, once; a reverted one releases the funds', () => {
  const h = setup();
  h.ok(ethDeposit(1, 10n * 10n ** 18n, 2));
  h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1000000000', address: EXTERNAL });
  h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '2000000000', address: EXTERNAL });
  const seen = (nonce: number, confirmations: number, status: 'success' | 'reverted' = 'success'): Command => ({
    type: 'ObserveChainTx', chain: 'anvil', fromIndex: 0, nonce, txHash: hash(0xf00 + nonce), blockNumber: 40, status, confirmations,
  });
  h.refused(seen(5, 1), 'chain_tx_unconfirmed');
  h.refused(seen(9, 5), 'chain_tx_not_open');
  h.refused({ type: 'ReplaceChainTx', chain: 'anvil', fromIndex: 0, nonce: 5, feeLevel: 2 }, 'chain_tx_replace_invalid');
  h.ok({ type: 'ReplaceChainTx', chain: 'anvil', fromIndex: 0, nonce: 5, feeLevel: 1 });
  assert.equal(h.view().openTxs[0]?.feeLevel, 1);
  const before = h.balance(1, 'ETH');
  h.ok(seen(5, 2));
  assert.deepEqual(h.events.map((e) => e.type), ['ChainTxSettled', 'WithdrawalCompleted', 'BalanceChanged']);
  assert.equal((h.events[1] as Extract<Event, { type: 'WithdrawalCompleted' }>).txId, hash(0xf05));
  assert.equal(h.balance(1, 'ETH').held, before.held - 1_001_000_000n);
  h.refused(seen(5, 3), 'chain_tx_not_open');
  h.ok(seen(6, 2, 'reverted'));
  assert.deepEqual(h.events.map((e) => e.type), ['ChainTxSettled', 'WithdrawalFailed', 'BalanceChanged']);
  assert.equal(h.balance(1, 'ETH').held, 0n);
  assert.equal(h.balance(1, 'ETH').available, 10n * 10n ** 9n - 1_001_000_000n);
  assert.equal(h.view().openTxs.length, 0);
});

test('Custody engine: the allowlist, the global daily limit and the freeze refuse withdrawals before anything is held', () => {
  const h = setup({ globalDailyMax: '3000000000' });
  h.ok(ethDeposit(1, 10n * 10n ** 18n, 2));
  h.ok({ type: 'SetWithdrawalAllowlist', userId: 1, addresses: [EXTERNAL.toUpperCase().replace('0X', '0x')] });
  h.refused({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1000000000', address: HOT }, 'withdrawal_address_not_allowed');
  h.refused({ type: 'SetWithdrawalAllowlist', userId: 1, addresses: ['0x12'] }, 'allowlist_invalid');
  h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '2000000000', address: EXTERNAL });
  h.ok({ type: 'SetWithdrawalAllowlist', userId: 1, addresses: [] });
  h.refused({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1500000000', address: HOT }, 'withdrawal_global_daily_limit');
  h.ok({ type: 'SetWithdrawalsFrozen', chain: 'anvil', frozen: true, reason: 'reconciliation: ETH short by 1' });
  h.refused({ type: 'SetWithdrawalsFrozen', chain: 'anvil', frozen: true, reason: 'another reconciler' }, 'freeze_unchanged');
  assert.equal(h.view().chain.frozenReason, 'reconciliation: ETH short by 1', 'the first reason is kept');
  h.refused({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1000000000', address: HOT }, 'withdrawals_frozen');
  h.ok({ type: 'SetWithdrawalsFrozen', chain: 'anvil', frozen: false, reason: '' });
  h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1000000000', address: HOT });
  // A withdrawal to a non-EVM address is refused for a chain asset.
  h.refused({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1000000', address: 'bc1qexample' }, 'withdrawal_address_invalid');
});

test('Custody engine: sweeps move what was credited to the hot wallet, one at a time per address; a token sweep first sends gas', () => {
  const h = setup();
  h.ok(ethDeposit(1, 10n ** 18n, 2));
  h.ok({
    type: 'ObserveDeposit', chain: 'anvil', txId: hash(50), logIndex: 3, asset: 'USDT', userId: 1, address: ALICE_ADDR,
    chainAmount: '250000000', blockNumber: 60, blockHash: hash(0x60), confirmations: 3,
  });
  h.ok({ type: 'RequestSweep', chain: 'anvil', asset: 'ETH', userId: 1 });
  let txs = h.view().openTxs;
  assert.equal(txs.length, 1);
  assert.deepEqual([txs[0]!.fromIndex, txs[0]!.nonce, txs[0]!.kind, txs[0]!.to], [1, 0, 'sweep', HOT]);
  assert.equal(BigInt(txs[0]!.chainAmount), 10n ** 18n - 21000n * 2n * GWEI, 'the deposit address pays its own gas');
  h.refused({ type: 'RequestSweep', chain: 'anvil', asset: 'ETH', userId: 1 }, 'sweep_in_flight');
  h.refused({ type: 'RequestSweep', chain: 'anvil', asset: 'ETH', userId: 2 }, 'sweep_too_small');
  h.ok({ type: 'RequestSweep', chain: 'anvil', asset: 'USDT', userId: 1 });
  txs = h.view().openTxs;
  assert.deepEqual(txs.map((t) => [t.fromIndex, t.nonce, t.kind, t.asset, t.token, t.to, t.toIndex]), [
    [0, 5, 'gas', 'ETH', '', '', 1],
    [1, 0, 'sweep', 'ETH', '', HOT, -1],
    [1, 1, 'sweep', 'USDT', TOKEN, HOT, -1],
  ]);
  assert.equal(txs[0]!.chainAmount, String(65000n * 2n * GWEI), 'gas for the token transfer');
  h.ok({ type: 'ObserveChainTx', chain: 'anvil', fromIndex: 1, nonce: 0, txHash: hash(0x100), blockNumber: 70, status: 'success', confirmations: 2 });
  const eth = h.view().unswept.find((u) => u.asset === 'ETH');
  assert.equal(eth, undefined, 'the swept native amount is no longer unswept');
  h.ok({ type: 'ObserveChainTx', chain: 'anvil', fromIndex: 1, nonce: 1, txHash: hash(0x101), blockNumber: 71, status: 'reverted', confirmations: 3 });
  assert.deepEqual(h.view().unswept.map((u) => [u.asset, u.chainAmount, u.sweeping]), [['USDT', 250_000_000n, false]], 'a reverted sweep leaves it unswept');
  assert.equal(h.balance(1, 'USDT').available, 250_000_000n, 'sweeps never touch users\' balances');
  // Liabilities are what users hold in all (the ledger's identity, not a walk over users).
  const usersTotal = (asset: string): bigint => [1, 2].reduce((n, u) => n + h.balance(u, asset).available + h.balance(u, asset).held, 0n);
  assert.deepEqual(h.view().assets.map((a) => [a.spec.asset, a.liabilities]), [['ETH', usersTotal('ETH')], ['USDT', usersTotal('USDT')]]);
  assert.equal(usersTotal('USDT'), 250_000_000n);
});

test('Custody engine: the custody state survives a snapshot byte for byte, and the restored engine decides the same', () => {
  const h = setup({ threshold: '2000000000' });
  h.ok(ethDeposit(1, 10n * 10n ** 18n, 2));
  h.ok(ethDeposit(2, 10n ** 18n, 1));
  h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '1000000000', address: EXTERNAL });
  h.ok({ type: 'RequestWithdrawal', userId: 1, asset: 'ETH', amount: '3000000000', address: EXTERNAL });
  h.ok({ type: 'RequestSweep', chain: 'anvil', asset: 'ETH', userId: 1 });
  h.ok({ type: 'SetWithdrawalAllowlist', userId: 2, addresses: [EXTERNAL] });
  h.ok({ type: 'ReplaceChainTx', chain: 'anvil', fromIndex: 0, nonce: 5, feeLevel: 1 });
  const bytes = snapshot(h.engine);
  const restored = restore(bytes);
  assert.deepEqual(snapshot(restored), bytes);
  assert.deepEqual(custodyView(restored, 'anvil'), h.view());
  const next: Command[] = [
    { type: 'ApproveWithdrawal', withdrawalId: 2 },
    ethDeposit(2, 10n ** 18n, 2),
    { type: 'ObserveChainTx', chain: 'anvil', fromIndex: 0, nonce: 5, txHash: hash(1), blockNumber: 80, status: 'success', confirmations: 2 },
    { type: 'CancelWithdrawal', userId: 1, withdrawalId: 2 },
  ];
  for (const cmd of next) {
    const a: Event[] = [];
    const b: Event[] = [];
    assert.deepEqual(restored.apply(cmd, h.ts + 5000, b), h.engine.apply(cmd, h.ts + 5000, a), cmd.type);
    assert.deepEqual(b, a, `${cmd.type}: same events`);
  }
  assert.deepEqual(snapshot(restored), snapshot(h.engine));
});
