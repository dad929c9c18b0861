// The engine against its reference model on generated command streams. After every command the
// two must agree on the result (accepted or the same rejection code, order state, filled lots),
// on the trades and cancellations it caused, on every balance (available and held, per user and
// asset, and the system accounts), on every book (levels, and order ids in priority order) and
// on the pending withdrawals; and the engine's own audit and our own conservation sum must pass.
// fast-check prints the seed and a shrunk command list when anything differs. Set
// EVERBOOK_PROPERTY_RUNS to search harder (e.g. 4000) than the default quick run.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { audit, Engine, type Command, type Event, type Side } from '../src/core/index.js';
import {
  clock, Model, resolve, stepArbitrary, worldArbitrary, worldCommands, type ModelCancel, type ModelTrade, type Step, type World,
} from './support/model.js';

interface Account { available: bigint; held: bigint }

/** Every non-empty user account, keyed `user/asset`. */
function engineAccounts(engine: Engine): Map<string, Account> {
  const out = new Map<string, Account>();
  for (const user of engine.users) {
    if (user === undefined) continue;
    for (const account of user.accounts) {
      if (account === undefined) continue;
      const a = { available: account.available.toBigInt(), held: account.held.toBigInt() };
      if (a.available !== 0n || a.held !== 0n) out.set(`${user.id}/${account.asset.id}`, a);
    }
  }
  return out;
}

function modelAccounts(model: Model): Map<string, Account> {
  const out = new Map<string, Account>();
  for (const user of model.users.values()) {
    for (const asset of model.assets.keys()) {
      const held = model.held(user.id, asset);
      const a = { available: model.total(user.id, asset) - held, held };
      if (a.available !== 0n || a.held !== 0n) out.set(`${user.id}/${asset}`, a);
    }
  }
  return out;
}

function sorted<V>(map: Map<string, V>): [string, V][] {
  return [...map.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
}

/** A side as [price, [order id, user, size, filled]...] levels, best first. */
type BookView = [number, [number, number, number, number][]][];

function engineBook(engine: Engine, instId: string, side: Side): BookView {
  const inst = engine.instruments.get(instId);
  if (inst === undefined) return [];
  const bookSide = side === 'buy' ? inst.bids : inst.asks;
  const out: BookView = [];
  for (let i = bookSide.levels.length - 1; i >= 0; i--) {
    const level = bookSide.levels[i]!;
    const orders: BookView[number][1] = [];
    for (let o = level.head; o !== null; o = o.next) orders.push([o.id, o.user.id, o.sizeLots, o.filledLots]);
    out.push([level.priceTicks, orders]);
  }
  return out;
}

function modelBook(model: Model, instId: string, side: Side): BookView {
  return model.bookSide(instId, side).map((l) => [l.priceTicks, l.orders.map((o) => [o.id, o.userId, o.size, o.filled])]);
}

function tradesOf(events: readonly Event[]): ModelTrade[] {
  const out: ModelTrade[] = [];
  for (const e of events) {
    if (e.type !== 'TradeExecuted') continue;
    out.push({
      tradeId: e.tradeId, instId: e.instId, priceTicks: e.priceTicks, sizeLots: e.sizeLots, quoteAmount: e.quoteAmount,
      takerSide: e.takerSide, makerOrderId: e.makerOrderId, makerUserId: e.makerUserId, makerFee: e.makerFee,
      takerOrderId: e.takerOrderId, takerUserId: e.takerUserId, takerFee: e.takerFee,
    });
  }
  return out;
}

function cancelsOf(events: readonly Event[]): ModelCancel[] {
  const out: ModelCancel[] = [];
  for (const e of events) {
    if (e.type === 'OrderCanceled') out.push({ orderId: e.orderId, reason: e.reason, filledLots: e.filledLots, remainingLots: e.remainingLots });
  }
  return out;
}

/** Our own conservation check, independent of audit(): per asset, everything sums to zero. */
function checkConservation(engine: Engine, model: Model, where: string): void {
  const sums = new Map<string, bigint>();
  const add = (asset: string, v: bigint): void => { sums.set(asset, (sums.get(asset) ?? 0n) + v); };
  for (const a of engine.assets) add(a.id, a.fees.toBigInt() + a.deposits.toBigInt() + a.withdrawals.toBigInt());
  for (const [key, a] of engineAccounts(engine)) {
    assert.ok(a.available >= 0n && a.held >= 0n, `${where}: negative balance ${key}`);
    add(key.split('/')[1]!, a.available + a.held);
  }
  for (const [asset, sum] of sums) assert.equal(sum, 0n, `${where}: ${asset} sums to ${sum}`);

  for (const [id, a] of model.assets) {
    let sum = a.fees + a.deposits + a.withdrawals;
    for (const u of model.users.values()) sum += u.total.get(id) ?? 0n;
    assert.equal(sum, 0n, `${where}: the model's ${id} sums to ${sum}`);
  }
}

function compareState(engine: Engine, model: Model, where: string): void {
  assert.deepEqual(sorted(engineAccounts(engine)), sorted(modelAccounts(model)), `${where}: balances differ`);
  const system = (fees: bigint, deposits: bigint, withdrawals: bigint): string => `${fees}/${deposits}/${withdrawals}`;
  assert.deepEqual(
    engine.assets.map((a) => [a.id, system(a.fees.toBigInt(), a.deposits.toBigInt(), a.withdrawals.toBigInt())]),
    [...model.assets].map(([id, a]) => [id, system(a.fees, a.deposits, a.withdrawals)]),
    `${where}: system accounts (fees/deposits/withdrawals) differ`,
  );
  for (const instId of model.instruments.keys()) {
    for (const side of ['buy', 'sell'] as const) {
      assert.deepEqual(engineBook(engine, instId, side), modelBook(model, instId, side), `${where}: ${instId} ${side} book differs`);
    }
  }
  assert.deepEqual(
    [...engine.withdrawals.values()].map((w) => [w.id, w.user.id, w.asset.id, w.amount, w.fee]).sort((a, b) => Number(a[0]) - Number(b[0])),
    [...model.withdrawals.values()].map((w) => [w.id, w.userId, w.asset, w.amount, w.fee]).sort((a, b) => Number(a[0]) - Number(b[0])),
    `${where}: pending withdrawals differ`,
  );
}

/** Applies one command to both and checks everything; returns nothing, throws on a difference. */
function step(engine: Engine, model: Model, cmd: Command, ts: number, where: string): void {
  const events: Event[] = [];
  const result = engine.apply(cmd, ts, events);
  const expected = model.apply(cmd, ts);
  const at = `${where} ${JSON.stringify(cmd)}`;
  assert.deepEqual(result, expected.result, `${at}: results differ`);
  assert.deepEqual(tradesOf(events), expected.trades, `${at}: trades differ`);
  assert.deepEqual(cancelsOf(events), expected.cancels, `${at}: cancellations differ`);
  assert.deepEqual(audit(engine), [], `${at}: audit`);
  checkConservation(engine, model, at);
  compareState(engine, model, at);
}

const RUNS = Number(process.env.EVERBOOK_PROPERTY_RUNS ?? 300);

function run(world: fc.Arbitrary<World>, noise: number, maxLength: number, numRuns: number): void {
  fc.assert(
    fc.property(world, fc.array(stepArbitrary(noise), { minLength: 1, maxLength, size: 'max' }), (w, steps) => {
      const engine = new Engine();
      const model = new Model();
      worldCommands(w).forEach((cmd, i) => { step(engine, model, cmd, 0, `setup #${i}`); });
      const times = clock(steps);
      steps.forEach((s, i) => { step(engine, model, resolve(s, model), times[i]!, `#${i}`); });
    }),
    { numRuns, includeErrorInReport: true },
  );
}

test('Engine = model: valid command streams (orders, cancels, amends, deposits, withdrawals)', () => {
  run(worldArbitrary, 0, 80, RUNS);
});

test('Engine = model: command streams with invalid commands mixed in (every rejection code in order)', () => {
  run(worldArbitrary, 2, 60, RUNS);
});

test('Engine = model: long streams with one busy book', () => {
  run(worldArbitrary, 0, 300, Math.ceil(RUNS / 8));
});

/** Replays a shrunk counterexample the property once found, as a fixed regression. */
function replay(world: World, steps: Step[]): void {
  const engine = new Engine();
  const model = new Model();
  worldCommands(world).forEach((cmd, i) => { step(engine, model, cmd, 0, `setup #${i}`); });
  const times = clock(steps);
  steps.forEach((s, i) => { step(engine, model, resolve(s, model), times[i]!, `#${i}`); });
}

const plainUsers: World['users'] = [0, 1, 2].map(() => ({ makerFeePpm: 0, takerFeePpm: 250, stpMode: 'none' as const }));

test('Regression: a market buy by quote that has spent its budget stops before STP cancels the buyer\'s own resting sell', () => {
  replay({ users: plainUsers, bandBps: 1, btcMinSz: '0.01', funding: [{ usd: 0, btc: 0, eth: 0 }, { usd: 0, btc: 0, eth: 200 }, { usd: 315, btc: 0, eth: 100 }] }, [
    { cmd: { type: 'PlaceOrder', userId: 2, instId: 'ETH-USD', side: 'sell', orderType: 'limit', priceTicks: 105, sizeLots: 2 }, dtMs: 0 },
    { cmd: { type: 'PlaceOrder', userId: 3, instId: 'ETH-USD', side: 'sell', orderType: 'limit', priceTicks: 105, sizeLots: 1 }, dtMs: 0 },
    // 315 buys exactly one lot at 105 (3 minor units per tick-lot); user 3's own ask behind it must survive.
    { cmd: { type: 'PlaceOrder', userId: 3, instId: 'ETH-USD', side: 'buy', orderType: 'market', stpMode: 'cancel_maker', quoteAmount: 315 }, dtMs: 0 },
  ]);
});

test('Regression: a hold above 10^15 minor units is checked against the whole balance (no negative available)', () => {
  replay({ users: plainUsers, bandBps: 1, btcMinSz: '0.01', funding: [{ usd: 0, btc: 0, eth: 100 }, { usd: 0, btc: 0, eth: 0 }, { usd: 0, btc: 0, eth: 0 }] }, [
    { cmd: { type: 'PlaceOrder', userId: 1, instId: 'ETH-USD', side: 'sell', orderType: 'limit', priceTicks: 105, sizeLots: 1 }, dtMs: 0 },
    { cmd: { type: 'CreditDeposit', depositId: 'whale', userId: 3, asset: 'USD', amount: '1000000000000000' }, dtMs: 0 },
    { cmd: { type: 'PlaceOrder', userId: 3, instId: 'ETH-USD', side: 'buy', orderType: 'market', quoteAmount: 1_000_000_000_000_001 }, dtMs: 0 },
  ]);
});

test('Regression: a maker rebate that rounds to nothing is reported as 0, not -0', () => {
  const users: World['users'] = [{ makerFeePpm: -250, takerFeePpm: 250, stpMode: 'none' }, ...plainUsers.slice(1)];
  replay({ users, bandBps: 1, btcMinSz: '0.01', funding: [{ usd: 0, btc: 0, eth: 700 }, { usd: 0, btc: 0, eth: 0 }, { usd: 285, btc: 0, eth: 0 }] }, [
    { cmd: { type: 'PlaceOrder', userId: 1, instId: 'ETH-USD', side: 'sell', orderType: 'limit', priceTicks: 95, sizeLots: 1 }, dtMs: 0 },
    { cmd: { type: 'PlaceOrder', userId: 3, instId: 'ETH-USD', side: 'buy', orderType: 'limit', priceTicks: 95, sizeLots: 1 }, dtMs: 0 },
  ]);
});
