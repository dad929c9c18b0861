// Custody as an OKX client sees it, through the REST gateway with real signatures (the chain's
// observations are applied as the watchers and broadcasters would submit them): deposit history
// in OKX's states (0 waiting for confirmation, 2 credited) with the txid and confirmations, a
// reverted deposit never shown, withdrawal states 1 (broadcasting), 4 (manual review) and 2 with
// the mined txid, a freeze refused with 58200 and its reason, currencies naming the contract and
// the confirmation count.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGateway } from '../src/gateway/index.js';
import type { LogCommand } from '../src/replica/index.js';
import { call, venue } from './support/memory-port.js';

type Row = Record<string, unknown>;
const TOKEN = '0x' + 'b2'.repeat(20);
const ALICE_ADDR = '0x' + 'c3'.repeat(20);
const EXTERNAL = '0x' + 'd4'.repeat(20);
const hash = (n: number): string => '0x' + n.toString(16).padStart(64, '0');

function setup() {
  const v = venue();
  const app = createGateway(v.port, { rateLimits: false });
  const apply = (cmds: LogCommand[]): void => {
    for (const r of v.port.applyNow(cmds)) assert.ok(r.ok, JSON.stringify(r));
  };
  apply([
    { type: 'SetAsset', asset: 'DUSD', scale: 6, withdrawFee: '1000000', withdrawMin: '1000000', withdrawMax: '100000000000', withdrawDailyMax: '500000000000', withdrawEnabled: true },
    { type: 'SetChain', chain: 'anvil', chainId: 31337, hotWallet: '0x' + 'a1'.repeat(20), nonceStart: 0 },
    {
      type: 'SetChainAsset', asset: 'DUSD', chain: 'anvil', token: TOKEN, chainDecimals: 6, confirmations: 3, approvalThreshold: '50000000',
      globalDailyMax: '1000000000000', gasLimit: 65000, maxFeePerGas: '2000000000', maxPriorityFeePerGas: '1000000000',
    },
  ]);
  const deposit = (n: number, confirmations: number): LogCommand => ({
    type: 'ObserveDeposit', chain: 'anvil', txId: hash(n), logIndex: 2, asset: 'DUSD', userId: v.alice.userId, address: ALICE_ADDR,
    chainAmount: '300000000', blockNumber: 10, blockHash: hash(0xb10 + n), confirmations,
  });
  return { ...v, app, apply, deposit };
}

test('Custody gateway: deposit history shows a pending deposit as state 0 with its confirmations, then state 2; a reverted one disappears', async () => {
  const { app, port, alice, apply, deposit } = setup();
  apply([deposit(1, 1), deposit(2, 1)]);
  let rows = (await call(app, port, alice, 'GET', '/api/v5/asset/deposit-history?ccy=DUSD')).body.data as Row[];
  assert.deepEqual(rows.map((r) => [r.txId, r.state, r.actualDepBlkConfirm, r.to, r.amt]).sort(), [
    [hash(1), '0', '1', ALICE_ADDR, '300'], [hash(2), '0', '1', ALICE_ADDR, '300'],
  ]);
  apply([deposit(1, 3), { type: 'RevertDeposit', chain: 'anvil', txId: hash(2), logIndex: 2, blockHash: hash(0xb12) }]);
  rows = (await call(app, port, alice, 'GET', '/api/v5/asset/deposit-history?ccy=DUSD')).body.data as Row[];
  assert.deepEqual(rows.map((r) => [r.txId, r.state, r.actualDepBlkConfirm]), [[hash(1), '2', '3']]);
  const pendingOnly = (await call(app, port, alice, 'GET', '/api/v5/asset/deposit-history?state=0')).body.data as Row[];
  assert.equal(pendingOnly.length, 0);
  const balance = (await call(app, port, alice, 'GET', '/api/v5/asset/balances?ccy=DUSD')).body.data as Row[];
  assert.equal(balance[0]?.availBal, '300');
});

test('Custody gateway: withdrawals show OKX states 1 (broadcasting), 4 (manual review) and 2 with the mined txid; a freeze answers 58200 with its reason', async () => {
  const { app, port, alice, apply, deposit } = setup();
  apply([deposit(1, 3)]);
  const withdraw = async (amt: string) => call(app, port, alice, 'POST', '/api/v5/asset/withdrawal', JSON.stringify({ ccy: 'DUSD', amt, dest: '4', toAddr: EXTERNAL }));
  const small = await withdraw('20');
  assert.equal(small.body.code, '0');
  const big = await withdraw('60');
  assert.equal(big.body.code, '0');
  const state = async (): Promise<string[][]> => ((await call(app, port, alice, 'GET', '/api/v5/asset/withdrawal-history?ccy=DUSD')).body.data as Row[])
    .map((r) => [String(r.wdId), String(r.state), String(r.txId)]).sort();
  assert.deepEqual(await state(), [['1', '1', ''], ['2', '4', '']]);
  apply([{ type: 'ObserveChainTx', chain: 'anvil', fromIndex: 0, nonce: 0, txHash: hash(0xabc), blockNumber: 20, status: 'success', confirmations: 3 }]);
  assert.deepEqual(await state(), [['1', '2', hash(0xabc)], ['2', '4', '']]);
  // The user may still cancel the one under review, not the one on chain.
  const cancel = await call(app, port, alice, 'POST', '/api/v5/asset/cancel-withdrawal', JSON.stringify({ wdId: '2' }));
  assert.equal(cancel.body.code, '0');

  apply([{ type: 'SetWithdrawalsFrozen', chain: 'anvil', frozen: true, reason: 'reconciliation: DUSD on chain 1 < ledger 2 at block 7' }]);
  const refused = await withdraw('5');
  assert.equal(refused.body.code, '58200');
  assert.match(refused.body.msg, /Reason: reconciliation: DUSD on chain 1 < ledger 2 at block 7/);
  const currencies = (await call(app, port, alice, 'GET', '/api/v5/asset/currencies?ccy=DUSD')).body.data as Row[];
  assert.deepEqual([currencies[0]?.ctAddr, currencies[0]?.minDepArrivalConfirm, currencies[0]?.canWd], [TOKEN, '3', false]);
});
