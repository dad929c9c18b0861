// Replicas in different clouds must compute the same bytes from the same log. These tests run
// generated command streams through fresh engines and check: the same stream gives the same
// events and state hash, also when the engine recycles its event and order objects; a snapshot
// taken anywhere and restored into a fresh engine carries on exactly as the uninterrupted run
// (same later events, same final hash); snapshot bytes are a fixed point of restore; a snapshot
// that cannot be trusted is refused; and a W1 stream of 100,000 commands ends with the book the
// reference model predicts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  audit, Engine, EventBuffer, Reject, restore, type Balance, snapshot, SnapshotError, SNAPSHOT_VERSION, stateHash, type Command, type Event,
} from '../src/core/index.js';
import { generateW1 } from '../bench/w1.js';
import { commandStream, Model, stepArbitrary, worldArbitrary } from './support/model.js';

type Stream = { cmd: Command; ts: number }[];

function runAll(engine: Engine, stream: Stream, from = 0, to = stream.length): Event[] {
  const events: Event[] = [];
  for (let i = from; i < to; i++) engine.apply(stream[i]!.cmd, stream[i]!.ts, events);
  return events;
}

/** Runs without keeping events (a long stream's events would dominate the run), showing each command's to `see`. */
function drive(engine: Engine, stream: Stream, from: number, to: number, see: (events: readonly Event[]) => void = () => undefined): void {
  const events: Event[] = [];
  for (let i = from; i < to; i++) {
    events.length = 0;
    engine.apply(stream[i]!.cmd, stream[i]!.ts, events);
    see(events);
  }
}

const streams = fc.tuple(worldArbitrary, fc.array(stepArbitrary(1), { minLength: 1, maxLength: 120, size: 'max' }))
  .map(([world, steps]) => commandStream(world, steps));

test('Determinism: the same command stream gives the same events and state hash in two fresh engines', () => {
  fc.assert(fc.property(streams, (stream) => {
    const a = new Engine();
    const b = new Engine();
    assert.deepEqual(runAll(a, stream), runAll(b, stream));
    assert.equal(stateHash(a), stateHash(b));
    assert.deepEqual(snapshot(a), snapshot(b));
  }), { numRuns: 60, includeErrorInReport: true });
});

test('Determinism: snapshot anywhere, restore in a fresh engine, carry on: same events after the cut and same final hash', () => {
  fc.assert(fc.property(streams, fc.double({ min: 0, max: 1, noNaN: true }), (stream, where) => {
    const cut = Math.floor(where * stream.length);
    const whole = new Engine();
    const before = runAll(whole, stream, 0, cut);
    const after = runAll(whole, stream, cut);

    const first = new Engine();
    assert.deepEqual(runAll(first, stream, 0, cut), before);
    const bytes = snapshot(first);
    const restored = restore(bytes);
    // Byte-stable: a restored engine snapshots to exactly the bytes it came from.
    assert.deepEqual(snapshot(restored), bytes);
    assert.deepEqual(audit(restored), []);
    assert.deepEqual(runAll(restored, stream, cut), after, `events after the cut at ${cut} differ`);
    assert.equal(stateHash(restored), stateHash(whole));
    // Restoring the final state again is still byte-stable.
    const end = snapshot(whole);
    assert.deepEqual(snapshot(restore(end)), end);
  }), { numRuns: 60, includeErrorInReport: true });
});

test('Determinism: an engine that recycles its event and order objects emits the same events and reaches the same state', () => {
  fc.assert(fc.property(streams, (stream) => {
    const fresh = new Engine();
    const text = (e: Event): string => JSON.stringify(e, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    const expected = runAll(fresh, stream).map(text);
    // As the replica does: events are read, then released, after every command (the most reuse).
    const recycling = new Engine();
    const seen: string[] = [];
    drive(recycling, stream, 0, stream.length, (events) => {
      for (const e of events) seen.push(text(e));
      recycling.releaseEvents();
    });
    assert.deepEqual(seen, expected);
    assert.equal(stateHash(recycling), stateHash(fresh));
    assert.deepEqual(audit(recycling), []);
  }), { numRuns: 60, includeErrorInReport: true });
});

test('Determinism: events collected in an EventBuffer, emptied and released after each record, are the events an array receives', () => {
  fc.assert(fc.property(streams, fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 40 }), (stream, sizes) => {
    const text = (e: Event): string => JSON.stringify(e, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
    const expected = runAll(new Engine(), stream).map(text);
    const engine = new Engine();
    const buffer = new EventBuffer();
    const seen: string[] = [];
    // Records of varying sizes, as the log delivers them: the buffer is reused across all of them.
    for (let from = 0, r = 0; from < stream.length; r++) {
      const to = Math.min(stream.length, from + sizes[r % sizes.length]!);
      for (let i = from; i < to; i++) engine.apply(stream[i]!.cmd, stream[i]!.ts, buffer);
      assert.deepEqual(buffer.toArray(), Array.from({ length: buffer.length }, (_, i) => buffer.at(i)));
      for (let i = 0; i < buffer.length; i++) seen.push(text(buffer.at(i)));
      buffer.clear();
      engine.releaseEvents();
      from = to;
    }
    assert.deepEqual(seen, expected);
    assert.equal(buffer.length, 0);
    assert.throws(() => buffer.at(0), RangeError);
  }), { numRuns: 40, includeErrorInReport: true });
});

test('Order index: orders resting and trading away at one price across many id pages are all found until they end', () => {
  const engine = new Engine();
  const events: Event[] = [];
  const ok = (cmd: Command): void => { assert.equal(engine.apply(cmd, 1, events).ok, true, JSON.stringify(cmd)); };
  ok({ type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false });
  ok({ type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false });
  ok({ type: 'SetInstrument', instId: 'BTC-USDT', base: 'BTC', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.0001', maxSz: '1000', maxPx: '1000000', bandBps: 1000, state: 'live' });
  for (let u = 1; u <= 2; u++) {
    ok({ type: 'CreateUser' });
    ok({ type: 'CreditDeposit', depositId: `b${u}`, userId: u, asset: 'BTC', amount: '1000000000000' });
    ok({ type: 'CreditDeposit', depositId: `q${u}`, userId: u, asset: 'USDT', amount: '1000000000000' });
  }
  // Buys and sells alternate at one price, so the newest id page empties and fills again on
  // every pair; every 1,000 orders a buy far below and a sell far above the market rest and keep
  // an older page alive.
  const far: number[] = [];
  for (let n = 0; n < 20_000; n++) {
    const farAway = n % 1000 >= 998;
    const result = engine.apply({
      type: 'PlaceOrder', userId: 1 + (n % 2), instId: 'BTC-USDT', side: n % 2 === 0 ? 'buy' : 'sell', orderType: 'limit',
      priceTicks: farAway ? (n % 2 === 0 ? 1 : 100_000) : 10_000, sizeLots: 5,
    }, 1, events);
    assert.ok(result.ok);
    if (farAway) far.push(result.orderId!);
    events.length = 0;
  }
  assert.equal(engine.orders.size, far.length);
  assert.deepEqual(audit(engine), []);
  for (const orderId of far) {
    const result = engine.apply({ type: 'CancelOrder', userId: 1 + ((orderId - 1) % 2), instId: 'BTC-USDT', orderId }, 1, events);
    assert.deepEqual(result.ok && result.state, 'canceled', `order ${orderId}`);
  }
  // Gone once canceled, on every page, and the index is empty.
  for (const orderId of [far[0]!, far[far.length - 1]!, 20_000]) {
    assert.deepEqual(engine.apply({ type: 'CancelOrder', userId: 1, instId: 'BTC-USDT', orderId }, 1, events), { ok: false, reject: Reject.orderNotFound });
  }
  assert.equal(engine.orders.size, 0);
  assert.deepEqual(audit(engine), []);
});

test('Determinism: the state hash is SHA-256 of the snapshot and changes with the state', () => {
  const engine = new Engine();
  const empty = stateHash(engine);
  assert.match(empty, /^[0-9a-f]{64}$/);
  engine.apply({ type: 'CreateUser' }, 1, []);
  assert.notEqual(stateHash(engine), empty);
});

function snapshotText(engine: Engine): Record<string, unknown> {
  return JSON.parse(new TextDecoder().decode(snapshot(engine))) as Record<string, unknown>;
}

function encode(body: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(body));
}

test('Snapshot: another version, another format, broken JSON, bad UTF-8 or inconsistent content is refused with SnapshotError', () => {
  const engine = new Engine();
  const stream = commandStream(
    { users: [{ makerFeePpm: 0, takerFeePpm: 1_000, stpMode: 'none' }], bandBps: 100, btcMinSz: '0.01', funding: [{ usd: 10_000, btc: 500, eth: 0 }] },
    [{ cmd: { type: 'PlaceOrder', userId: 1, instId: 'BTC-USD', side: 'buy', orderType: 'limit', priceTicks: 99, sizeLots: 2 }, dtMs: 1 }],
  );
  runAll(engine, stream);
  const good = snapshotText(engine);
  assert.equal(good.version, SNAPSHOT_VERSION);
  assert.ok(restore(encode(good)) instanceof Engine);

  const refused = (bytes: Uint8Array, what: RegExp): void => {
    assert.throws(() => restore(bytes), (e: unknown) => e instanceof SnapshotError && what.test(e.message));
  };
  refused(encode({ ...good, version: SNAPSHOT_VERSION + 1 }), /version/);
  refused(encode({ ...good, version: '1' }), /version/);
  refused(encode({ ...good, format: 'someone-else' }), /not an Everbook snapshot/);
  const text = new TextDecoder().decode(encode(good));
  refused(new TextEncoder().encode(text.slice(0, text.length - 1)), /not valid JSON/);
  refused(new TextEncoder().encode(text.replace('"users"', '"users"x')), /not valid JSON/);
  refused(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]), /not valid JSON/);
  refused(new Uint8Array(0), /not valid JSON/);
  // Well-formed JSON whose content does not hold together.
  const orders = good.orders as unknown[][];
  assert.equal(orders.length, 1);
  refused(encode({ ...good, orders: [[...orders[0]!.slice(0, 1), 99, ...orders[0]!.slice(2)]] }), /inconsistent/);
  refused(encode({ ...good, orders: [] }), /inconsistent/);
  refused(encode({ ...good, instruments: [] }), /inconsistent/);
});

// -------------------------------------------------------------------- W1

const W1_USERS = 1000;

/** The bench's W1 setup and commands (bench/engine-w1.ts), as plain commands. */
function w1Stream(count: number): Stream {
  const w = generateW1(count);
  const out: Stream = [
    { cmd: { type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false }, ts: 0 },
    { cmd: { type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false }, ts: 0 },
    { cmd: { type: 'SetInstrument', instId: 'BTC-USDT', base: 'BTC', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.0001', maxSz: '1000', maxPx: '1000000', bandBps: 1000, state: 'live' }, ts: 0 },
  ];
  for (let u = 1; u <= W1_USERS; u++) {
    out.push({ cmd: { type: 'CreateUser', stpMode: 'none' }, ts: 0 });
    out.push({ cmd: { type: 'CreditDeposit', depositId: `b${u}`, userId: u, asset: 'BTC', amount: '1000000000000' }, ts: 0 });
    out.push({ cmd: { type: 'CreditDeposit', depositId: `q${u}`, userId: u, asset: 'USDT', amount: '1000000000000' }, ts: 0 });
  }
  for (let i = 0; i < w.count; i++) {
    const id = w.id[i]!;
    const userId = (id % W1_USERS) + 1;
    out.push({
      cmd: w.kind[i] === 1
        ? { type: 'CancelOrder', userId, instId: 'BTC-USDT', orderId: id + 1 }
        : { type: 'PlaceOrder', userId, instId: 'BTC-USDT', side: w.side[i] === 0 ? 'buy' : 'sell', orderType: 'limit', priceTicks: w.tick[i]!, sizeLots: w.size[i]! },
      ts: 1 + i,
    });
  }
  return out;
}

const W1_PREFIX = 20_000;
let w1ModelMemo: { stream: Stream; model: Model } | undefined;

/** The reference model after the W1 setup and the first W1_PREFIX commands (computed once: it is slow on purpose). */
function w1Model(): { stream: Stream; model: Model } {
  if (w1ModelMemo === undefined) {
    const stream = w1Stream(W1_PREFIX);
    const model = new Model();
    for (const { cmd, ts } of stream) model.apply(cmd, ts);
    w1ModelMemo = { stream, model };
  }
  return w1ModelMemo;
}

function restingIds(engine: Engine): number[][] {
  const inst = engine.instruments.get('BTC-USDT')!;
  return [inst.bids, inst.asks].map((side) => {
    const ids: number[] = [];
    for (let i = side.levels.length - 1; i >= 0; i--) {
      for (let o = side.levels[i]!.head; o !== null; o = o.next) ids.push(o.id);
    }
    return ids;
  });
}

test('W1: a 20,000-command prefix leaves exactly the book (and balances) the reference model predicts', () => {
  const { stream } = w1Model();
  const engine = new Engine();
  const check = new Model();
  // Results agree command by command (on a shorter stretch: the model is slow on purpose) ...
  for (const { cmd, ts } of stream.slice(0, stream.length - W1_PREFIX + 2_000)) {
    assert.deepEqual(engine.apply(cmd, ts, []), check.apply(cmd, ts).result, JSON.stringify(cmd));
  }
  drive(engine, stream, stream.length - W1_PREFIX + 2_000, stream.length);
  // ... and the whole prefix ends in the same book and balances.
  const { model } = w1Model();
  const expected = (['buy', 'sell'] as const).map((side) => model.bookSide('BTC-USDT', side).flatMap((l) => l.orders.map((o) => o.id)));
  assert.deepEqual(restingIds(engine), expected);
  const inst = engine.instruments.get('BTC-USDT')!;
  assert.equal(inst.bids.orderCount + inst.asks.orderCount, model.allResting().length);
  assert.ok(model.allResting().length > 1_000, 'the prefix leaves a real book');
  for (const user of engine.users) {
    if (user === undefined) continue;
    for (const asset of engine.assets) {
      const account: { available: Balance; held: Balance } | undefined = user.accounts[asset.index];
      const held = model.held(user.id, asset.id);
      assert.equal(account?.held.toBigInt() ?? 0n, held, `user ${user.id} ${asset.id} held`);
      assert.equal(account?.available.toBigInt() ?? 0n, model.total(user.id, asset.id) - held, `user ${user.id} ${asset.id} available`);
    }
  }
  assert.deepEqual(audit(engine), []);
});

test('W1: 100,000 commands run identically in two engines and across a snapshot, and end with a sound book', () => {
  const stream = w1Stream(100_000);
  const setup = stream.length - 100_000;
  const a = new Engine();
  drive(a, stream, 0, setup + W1_PREFIX);
  // At 20,000 commands the book holds what the reference model predicts.
  const { model } = w1Model();
  const inst = a.instruments.get('BTC-USDT')!;
  assert.equal(inst.bids.orderCount + inst.asks.orderCount, model.allResting().length);
  assert.deepEqual(restingIds(a).flat().sort((x, y) => x - y), model.allResting().map((o) => o.id).sort((x, y) => x - y));

  const half = setup + 50_000;
  drive(a, stream, setup + W1_PREFIX, half);
  const resumed = restore(snapshot(a));
  drive(a, stream, half, stream.length);
  drive(resumed, stream, half, stream.length);

  // Every order W1 issued ended exactly one way: it rests, it filled, or it was cancelled. This
  // engine releases its events after each command, as the replica does, so it runs on recycled
  // event and order objects throughout; it must still end in the state of the one that does not.
  const b = new Engine();
  const filled = new Set<number>();
  const canceled = new Set<number>();
  let accepted = 0;
  drive(b, stream, 0, stream.length, (events) => {
    for (const e of events) {
      if (e.type === 'OrderAccepted') accepted += 1;
      else if (e.type === 'OrderFilled') filled.add(e.orderId);
      else if (e.type === 'OrderCanceled') canceled.add(e.orderId);
    }
    b.releaseEvents();
  });
  assert.equal(stateHash(a), stateHash(b));
  assert.equal(stateHash(resumed), stateHash(a));
  assert.deepEqual(audit(a), []);
  const w = generateW1(100_000);
  const resting = restingIds(a).flat();
  assert.equal(accepted, w.orders);
  assert.equal(resting.length + filled.size + canceled.size, w.orders);
  assert.ok(resting.every((id) => !filled.has(id) && !canceled.has(id)));
  assert.equal(a.orders.size, resting.length);
  assert.ok(resting.length > model.allResting().length, 'the book keeps growing under W1');
});
