// The read-side projections, driven by a real engine: every command's events are fed to
// MemoryProjections, and the tests read back what an exchange API would serve: order records
// through their life, fills, history pages, public trades, candles, the ticker, transfers, the
// retention bounds, and a snapshot round trip. All times are engine times given with commands.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Engine, type Command, type Event, type OrderType, type Result, type Side } from '../src/core/index.js';
import { CandleBarsMs, MemoryProjections, Retention, type Projections } from '../src/projections/index.js';

const minuteMs = 60_000;
const hourMs = 3_600_000;
const dayMs = 86_400_000;
/** 2024-01-01T00:00:00Z: a UTC day start, so bars of every size start here. */
const D0 = Date.UTC(2024, 0, 1);
const inst = 'BTC-USDT';
/** tickSz 0.1 USDT and lotSz 0.001 BTC: one lot at one tick is 100 USDT minor units (scale 6). */
const quotePerTickLot = 100;
/** 50,000.0 USDT. */
const px = 500_000;
/** More than any test asks for: a page limit that never truncates. */
const everything = 1_000_000;

/** An engine with BTC, USDT, BTC-USDT and two funded users, whose events feed the projections. */
class Market {
  readonly engine = new Engine();
  readonly views = new MemoryProjections(this.engine);
  /** Every applied command's events, in order, for feeding a second projection. */
  readonly log: Event[][] = [];
  lastEvents: Event[] = [];
  /** Alice pays 1000 ppm as taker and earns a 100 ppm rebate as maker; Bob pays 2000 / 1000. */
  readonly alice: number;
  readonly bob: number;

  constructor() {
    this.ok({ type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '1000', withdrawMin: '1', withdrawMax: '100000000', withdrawDailyMax: '1000000000', withdrawEnabled: true }, D0);
    this.ok({ type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '1000000', withdrawMin: '1', withdrawMax: '1000000000000', withdrawDailyMax: '10000000000000', withdrawEnabled: true }, D0);
    this.ok({ type: 'SetInstrument', instId: inst, base: 'BTC', quote: 'USDT', tickSz: '0.1', lotSz: '0.001', minSz: '0.001', maxSz: '1000', maxPx: '1000000', bandBps: 1000, state: 'live' }, D0);
    this.alice = this.ok({ type: 'CreateUser', makerFeePpm: -100, takerFeePpm: 1000 }, D0).userId!;
    this.bob = this.ok({ type: 'CreateUser', makerFeePpm: 1000, takerFeePpm: 2000 }, D0).userId!;
    for (const userId of [this.alice, this.bob]) {
      this.ok({ type: 'CreditDeposit', depositId: `btc-${userId}`, userId, asset: 'BTC', amount: '100000000000' }, D0);
      this.ok({ type: 'CreditDeposit', depositId: `usdt-${userId}`, userId, asset: 'USDT', amount: '100000000000000' }, D0);
    }
  }

  run(cmd: Command, atMs: number): Result {
    const events: Event[] = [];
    const result = this.engine.apply(cmd, atMs, events);
    this.views.apply(events);
    this.log.push(events);
    this.lastEvents = events;
    return result;
  }

  ok(cmd: Command, atMs: number): Extract<Result, { ok: true }> {
    const result = this.run(cmd, atMs);
    if (!result.ok) assert.fail(`${cmd.type} rejected: ${result.reject.code}`);
    return result;
  }

  /** Places an order and returns its id. */
  place(userId: number, side: Side, orderType: OrderType, priceTicks: number, sizeLots: number, atMs: number, clOrdId?: string): number {
    const cmd: Command = clOrdId === undefined
      ? { type: 'PlaceOrder', userId, instId: inst, side, orderType, priceTicks, sizeLots }
      : { type: 'PlaceOrder', userId, instId: inst, side, orderType, priceTicks, sizeLots, clOrdId };
    return this.ok(cmd, atMs).orderId!;
  }

  /** One public trade: Alice rests a sell, Bob takes it with an IOC buy. */
  trade(priceTicks: number, sizeLots: number, atMs: number): void {
    this.place(this.alice, 'sell', 'limit', priceTicks, sizeLots, atMs);
    this.place(this.bob, 'buy', 'ioc', priceTicks, sizeLots, atMs);
  }
}

function ids(records: readonly { orderId: number }[]): number[] {
  return records.map((r) => r.orderId);
}

test('Orders: a resting sell is partly filled, then filled; each fill updates both records, with fees and liquidity', () => {
  const m = new Market();
  const t1 = D0 + minuteMs;
  const ask = m.place(m.alice, 'sell', 'limit', px, 10, t1, 'ask1');
  // Records are the projection's own objects; compare their fields.
  assert.deepEqual(Object.assign({}, m.views.order(m.alice, ask)), {
    orderId: ask, userId: m.alice, instId: inst, side: 'sell', orderType: 'limit', priceTicks: px, sizeLots: 10,
    quoteAmount: 0, clOrdId: 'ask1', stpMode: 'none', state: 'live', filledLots: 0, filledQuote: 0, fee: 0,
    feeAsset: 'USDT', cancelReason: '', lastFill: null, createdTs: t1, updatedTs: t1,
  });

  // Bob takes 4 lots: 4 x 500,000 ticks x 100 = 200,000,000 USDT minor units.
  const t2 = D0 + 2 * minuteMs;
  const take = m.place(m.bob, 'buy', 'ioc', px, 4, t2);
  const trade1 = m.engine.nextTradeId - 1;
  const askRecord = m.views.order(m.alice, ask)!;
  assert.equal(askRecord.state, 'partially_filled');
  assert.equal(askRecord.filledLots, 4);
  assert.equal(askRecord.filledQuote, 200_000_000);
  assert.equal(askRecord.fee, -20_000, 'a 100 ppm maker rebate on 200 USDT, in USDT');
  assert.deepEqual(askRecord.lastFill, { tradeId: trade1, priceTicks: px, sizeLots: 4, fee: -20_000, liquidity: 'maker', ts: t2 });
  const takeRecord = m.views.order(m.bob, take)!;
  assert.equal(takeRecord.state, 'filled');
  assert.equal(takeRecord.feeAsset, 'BTC');
  assert.equal(takeRecord.fee, 800, 'a 2000 ppm taker fee on 0.004 BTC, in satoshi');
  assert.equal(takeRecord.lastFill?.liquidity, 'taker');
  assert.deepEqual(ids(m.views.openOrders(m.alice, { limit: 100 })), [ask]);
  assert.deepEqual(ids(m.views.openOrders(m.bob, { limit: 100 })), [], 'a filled IOC never rests');
  assert.deepEqual(ids(m.views.orderHistory(m.bob, { limit: 100 })), [take]);

  // Bob's resting-capable limit buy takes the other 6 lots and fills the ask.
  const t3 = D0 + 3 * minuteMs;
  const take2 = m.place(m.bob, 'buy', 'limit', px, 6, t3);
  const trade2 = m.engine.nextTradeId - 1;
  const filled = m.views.order(m.alice, ask)!;
  assert.equal(filled.state, 'filled');
  assert.equal(filled.filledLots, 10);
  assert.equal(filled.filledQuote, 500_000_000);
  assert.equal(filled.fee, -50_000);
  assert.equal(filled.updatedTs, t3);
  assert.deepEqual(ids(m.views.openOrders(m.alice, { limit: 100 })), []);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { limit: 100 })), [ask]);
  assert.deepEqual(ids(m.views.orderHistory(m.bob, { limit: 100 })), [take2, take]);

  // One fill record per side per trade, newest first.
  assert.deepEqual(m.views.fills(m.alice, { limit: 100 }).map((f) => [f.tradeId, f.side, f.sizeLots, f.fee, f.feeAsset, f.liquidity, f.clOrdId]), [
    [trade2, 'sell', 6, -30_000, 'USDT', 'maker', 'ask1'],
    [trade1, 'sell', 4, -20_000, 'USDT', 'maker', 'ask1'],
  ]);
  assert.deepEqual(m.views.fills(m.bob, { limit: 100 }).map((f) => [f.tradeId, f.orderId, f.side, f.fee, f.feeAsset, f.liquidity]), [
    [trade2, take2, 'buy', 1_200, 'BTC', 'taker'],
    [trade1, take, 'buy', 800, 'BTC', 'taker'],
  ]);
  assert.deepEqual(m.views.fills(m.bob, { orderId: take, limit: 100 }).map((f) => f.tradeId), [trade1]);
});

test('Orders: amend changes price and size; cancel closes with its reason; IOC leftovers and rejections', () => {
  const m = new Market();
  const bid = m.place(m.alice, 'buy', 'limit', px - 10, 5, D0, 'bid1');
  m.ok({ type: 'AmendOrder', userId: m.alice, instId: inst, orderId: bid, newPriceTicks: px - 20 }, D0 + 1_000);
  m.ok({ type: 'AmendOrder', userId: m.alice, instId: inst, orderId: bid, newSizeLots: 3 }, D0 + 2_000);
  const amended = m.views.order(m.alice, bid)!;
  assert.equal(amended.priceTicks, px - 20);
  assert.equal(amended.sizeLots, 3);
  assert.equal(amended.state, 'live');
  assert.equal(amended.updatedTs, D0 + 2_000);

  m.ok({ type: 'CancelOrder', userId: m.alice, instId: inst, orderId: bid }, D0 + 3_000);
  const canceled = m.views.order(m.alice, bid)!;
  assert.equal(canceled.state, 'canceled');
  assert.equal(canceled.cancelReason, 'user');
  assert.deepEqual(ids(m.views.openOrders(m.alice, { limit: 100 })), []);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { state: 'canceled', limit: 100 })), [bid]);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { state: 'filled', limit: 100 })), []);

  // An IOC that finds 2 of its 5 lots: partly filled, then canceled as unfilled, straight to history.
  m.place(m.bob, 'sell', 'limit', px, 2, D0 + 4_000);
  const ioc = m.place(m.alice, 'buy', 'ioc', px, 5, D0 + 4_000);
  const iocRecord = m.views.order(m.alice, ioc)!;
  assert.equal(iocRecord.state, 'canceled');
  assert.equal(iocRecord.cancelReason, 'unfilled');
  assert.equal(iocRecord.filledLots, 2);
  assert.equal(iocRecord.lastFill?.liquidity, 'taker');
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { limit: 100 })), [ioc, bid]);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { orderType: 'limit', limit: 100 })), [bid]);

  // A post-only order that would take is accepted and canceled at once, as OKX does: a closed
  // record with its reason, nothing filled or charged.
  m.place(m.bob, 'sell', 'limit', px, 1, D0 + 5_000);
  const killed = m.place(m.alice, 'buy', 'post_only', px, 1, D0 + 5_000, 'po1');
  const killedRecord = m.views.order(m.alice, killed)!;
  assert.equal(killedRecord.state, 'canceled');
  assert.equal(killedRecord.cancelReason, 'post_only_would_take');
  assert.equal(killedRecord.filledLots, 0);
  assert.equal(killedRecord.fee, 0);
  assert.equal(killedRecord.lastFill, null);
  assert.equal(m.views.orderByClOrdId(m.alice, 'po1')?.orderId, killed);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { state: 'canceled', limit: 1 })), [killed]);

  // A rejected order leaves no record at all: here, its client order id is taken.
  const rejected = m.run({ type: 'PlaceOrder', userId: m.alice, instId: inst, side: 'buy', orderType: 'limit', priceTicks: px - 100, sizeLots: 1, clOrdId: 'po1' }, D0 + 5_000);
  assert.equal(rejected.ok, false);
  const event = m.lastEvents.find((e) => e.type === 'OrderRejected');
  assert.ok(event?.type === 'OrderRejected');
  assert.equal(m.views.order(m.alice, event.orderId), undefined);
  assert.equal(m.views.orderByClOrdId(m.alice, 'po1')?.orderId, killed);
});

test('Orders: a client order id finds the order that used it, open or closed, and only for its owner', () => {
  const m = new Market();
  const first = m.place(m.alice, 'buy', 'limit', px - 100, 1, D0, 'again');
  assert.equal(m.views.orderByClOrdId(m.alice, 'again')?.orderId, first);
  assert.equal(m.views.orderByClOrdId(m.bob, 'again'), undefined);
  assert.equal(m.views.order(m.bob, first), undefined, 'an order id of another user');
  m.ok({ type: 'CancelOrder', userId: m.alice, instId: inst, orderId: first }, D0 + 1);
  assert.equal(m.views.orderByClOrdId(m.alice, 'again')?.orderId, first, 'closed orders are found too');
  assert.equal(m.views.orderByClOrdId(m.alice, 'again')?.state, 'canceled');
});

test('Pages: open orders and history are newest first; after = older ids, before = newer ids, at most limit', () => {
  const m = new Market();
  const placed: number[] = [];
  for (let i = 0; i < 30; i++) placed.push(m.place(m.alice, 'buy', 'limit', px - 100 - i, 1, D0 + i));
  const newestFirst = [...placed].reverse();
  assert.deepEqual(ids(m.views.openOrders(m.alice, { limit: 10 })), newestFirst.slice(0, 10));
  assert.deepEqual(ids(m.views.openOrders(m.alice, { after: newestFirst[9]!, limit: 10 })), newestFirst.slice(10, 20));
  assert.deepEqual(ids(m.views.openOrders(m.alice, { before: placed[24]!, limit: 100 })), newestFirst.slice(0, 5));
  assert.deepEqual(ids(m.views.openOrders(m.alice, { before: placed[4]!, limit: 3 })), newestFirst.slice(0, 3), 'before alone: the newest, as OKX');
  assert.deepEqual(ids(m.views.openOrders(m.alice, { after: placed[10]!, before: placed[4]!, limit: 100 })), newestFirst.slice(20, 25));
  assert.deepEqual(ids(m.views.openOrders(m.alice, { instId: 'ETH-USDT', limit: 100 })), []);

  // Close them oldest first: history is still in orderId order, not closing order.
  for (const orderId of [...placed.slice(10), ...placed.slice(0, 10)]) {
    m.ok({ type: 'CancelOrder', userId: m.alice, instId: inst, orderId }, D0 + 100);
  }
  assert.deepEqual(ids(m.views.openOrders(m.alice, { limit: 100 })), []);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { limit: 100 })), newestFirst);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { after: placed[20]!, limit: 5 })), newestFirst.slice(10, 15));
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { before: placed[20]!, limit: 100 })), newestFirst.slice(0, 9));
  // begin/end filter on creation time (inclusive).
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { begin: D0 + 5, end: D0 + 7, limit: 100 })), [placed[7]!, placed[6]!, placed[5]!]);
  assert.deepEqual(ids(m.views.orderHistory(m.alice, { limit: 0 })), []);
});

test('Open orders: closed in a scattered order, the rest are still found by id and paged newest first', () => {
  const m = new Market();
  const placed: number[] = [];
  for (let i = 0; i < 80; i++) placed.push(m.place(m.alice, 'buy', 'limit', px - 100 - i, 1, D0 + i));
  // 37 and 80 share no factor: every order is canceled once, far from its neighbours in time.
  const cancelOrder = placed.map((_, i) => placed[(i * 37) % placed.length]!);
  const open = new Set(placed);
  for (const [n, orderId] of cancelOrder.entries()) {
    m.ok({ type: 'CancelOrder', userId: m.alice, instId: inst, orderId }, D0 + 1_000 + n);
    open.delete(orderId);
    const newestFirst = placed.filter((id) => open.has(id)).reverse();
    assert.deepEqual(ids(m.views.openOrders(m.alice, { limit: everything })), newestFirst, `after ${n + 1} cancels`);
    assert.equal(m.views.order(m.alice, orderId)?.state, 'canceled');
    for (const id of newestFirst) assert.equal(m.views.order(m.alice, id)?.state, 'live');
    const middle = newestFirst[Math.floor(newestFirst.length / 2)];
    if (middle !== undefined) {
      assert.deepEqual(ids(m.views.openOrders(m.alice, { after: middle, limit: 5 })), newestFirst.filter((id) => id < middle).slice(0, 5));
      assert.deepEqual(ids(m.views.openOrders(m.alice, { before: middle, limit: everything })), newestFirst.filter((id) => id > middle));
    }
  }
  // New orders after all that are found and paged as ever.
  const later = [m.place(m.alice, 'buy', 'limit', px - 100, 1, D0 + 2_000), m.place(m.alice, 'buy', 'limit', px - 101, 1, D0 + 2_001)];
  assert.deepEqual(ids(m.views.openOrders(m.alice, { limit: everything })), [...later].reverse());
  assert.equal(m.views.order(m.alice, later[0]!)?.state, 'live');
});

test('Retention: closed orders keep the newest 2,000 per user and drop orders placed over 7 days ago', () => {
  const m = new Market();
  const extra = 5;
  const placed: number[] = [];
  // Unfilled IOCs (nothing to trade against) close as soon as they arrive.
  for (let i = 0; i < Retention.closedOrdersPerUserMax + extra; i++) placed.push(m.place(m.alice, 'buy', 'ioc', 1, 1, D0 + i));
  const history = m.views.orderHistory(m.alice, { limit: everything });
  assert.equal(history.length, Retention.closedOrdersPerUserMax);
  assert.equal(history[0]!.orderId, placed.at(-1));
  assert.equal(history.at(-1)!.orderId, placed[extra]);
  for (const evicted of placed.slice(0, extra)) assert.equal(m.views.order(m.alice, evicted), undefined);
  assert.equal(m.views.order(m.alice, placed[extra]!)?.state, 'canceled');

  // An order placed more than 7 days before the latest event is gone, even from a quiet user.
  const quiet = m.place(m.bob, 'buy', 'ioc', 1, 1, D0 + dayMs, 'quiet');
  assert.equal(m.views.orderByClOrdId(m.bob, 'quiet')?.orderId, quiet);
  m.ok({ type: 'CreditDeposit', depositId: 'tick', userId: m.alice, asset: 'BTC', amount: '1' }, D0 + dayMs + Retention.closedOrderAgeMsMax);
  assert.equal(m.views.order(m.bob, quiet)?.orderId, quiet, 'exactly 7 days old is kept');
  m.ok({ type: 'CreditDeposit', depositId: 'tock', userId: m.alice, asset: 'BTC', amount: '1' }, D0 + dayMs + Retention.closedOrderAgeMsMax + 1);
  assert.equal(m.views.order(m.bob, quiet), undefined);
  assert.equal(m.views.orderByClOrdId(m.bob, 'quiet'), undefined);
  assert.deepEqual(m.views.orderHistory(m.bob, { limit: 100 }), []);
  assert.deepEqual(m.views.orderHistory(m.alice, { limit: 100 }), []);

  // An order that is still open is never dropped, however old.
  const resting = m.place(m.bob, 'buy', 'limit', 1, 1, D0 + 10 * dayMs);
  m.ok({ type: 'CreditDeposit', depositId: 'later', userId: m.alice, asset: 'BTC', amount: '1' }, D0 + 30 * dayMs);
  assert.equal(m.views.order(m.bob, resting)?.state, 'live');
  m.place(m.bob, 'buy', 'ioc', 1, 1, D0 + 30 * dayMs);
  assert.deepEqual(ids(m.views.openOrders(m.bob, { limit: 100 })), [resting]);
});

test('Fills: self-trades give two records with one tradeId, and billIds page them without loss', () => {
  const m = new Market();
  m.place(m.alice, 'sell', 'limit', px, 3, D0);
  m.place(m.alice, 'buy', 'limit', px, 3, D0 + 1);
  const tradeId = m.engine.nextTradeId - 1;
  const fills = m.views.fills(m.alice, { limit: 100 });
  assert.deepEqual(fills.map((f) => [f.billId, f.tradeId, f.liquidity, f.side]), [
    [tradeId * 2 + 1, tradeId, 'taker', 'buy'],
    [tradeId * 2, tradeId, 'maker', 'sell'],
  ]);
  const first = m.views.fills(m.alice, { limit: 1 });
  const second = m.views.fills(m.alice, { after: first[0]!.billId, limit: 1 });
  assert.deepEqual([...first, ...second], fills);
  assert.deepEqual(m.views.fills(m.alice, { before: fills[1]!.billId, limit: 100 }), [fills[0]]);
});

test('Retention: fills keep the newest 5,000 per user and none older than 90 days', () => {
  const m = new Market();
  m.place(m.alice, 'sell', 'limit', px, Retention.fillsPerUserMax + 10, D0);
  const extra = 3;
  for (let i = 0; i < Retention.fillsPerUserMax + extra; i++) m.place(m.bob, 'buy', 'ioc', px, 1, D0 + i);
  const firstTrade = 1;
  const fills = m.views.fills(m.alice, { limit: everything });
  assert.equal(fills.length, Retention.fillsPerUserMax);
  assert.equal(fills.at(-1)!.tradeId, firstTrade + extra);
  assert.equal(fills[0]!.tradeId, m.engine.nextTradeId - 1);
  // The maker order's own totals are not bounded by fill retention.
  assert.equal(m.views.openOrders(m.alice, { limit: 1 })[0]!.filledLots, Retention.fillsPerUserMax + extra);

  m.ok({ type: 'CreditDeposit', depositId: 'late', userId: m.bob, asset: 'BTC', amount: '1' }, D0 + Retention.fillAgeMsMax + dayMs);
  assert.deepEqual(m.views.fills(m.alice, { limit: 100 }), []);
  assert.deepEqual(m.views.fills(m.bob, { limit: 100 }), []);
});

test('Public trades: newest first, the newest 1,000 per instrument', () => {
  const m = new Market();
  m.place(m.alice, 'sell', 'limit', px, 3 * (Retention.tradesPerInstrumentMax + 10), D0);
  for (let i = 0; i < Retention.tradesPerInstrumentMax + 2; i++) m.place(m.bob, 'buy', 'ioc', px, 1 + (i % 3), D0 + i);
  const lastTradeId = m.engine.nextTradeId - 1;
  assert.deepEqual(m.views.trades(inst, 2), [
    { tradeId: lastTradeId, instId: inst, priceTicks: px, sizeLots: 1 + ((Retention.tradesPerInstrumentMax + 1) % 3), takerSide: 'buy', ts: D0 + Retention.tradesPerInstrumentMax + 1 },
    { tradeId: lastTradeId - 1, instId: inst, priceTicks: px, sizeLots: 1 + (Retention.tradesPerInstrumentMax % 3), takerSide: 'buy', ts: D0 + Retention.tradesPerInstrumentMax },
  ]);
  const all = m.views.trades(inst, everything);
  assert.equal(all.length, Retention.tradesPerInstrumentMax);
  assert.equal(all.at(-1)!.tradeId, 3);
  assert.deepEqual(m.views.trades('ETH-USDT', 10), []);
});

test('Candles: one-minute bars from trades, aggregated into UTC-aligned bars, newest first, the open bar unconfirmed', () => {
  const m = new Market();
  // minute | trades (price x lots)
  //    0   | 100 x 1, 110 x 2
  //    1   | 90 x 1
  //    4   | 120 x 3
  //    6   | 105 x 1, 104 x 1   <- the latest event is in minute 6
  m.trade(100, 1, D0);
  m.trade(110, 2, D0 + 30_000);
  m.trade(90, 1, D0 + minuteMs);
  m.trade(120, 3, D0 + 4 * minuteMs + 59_999);
  m.trade(105, 1, D0 + 6 * minuteMs);
  m.trade(104, 1, D0 + 6 * minuteMs + 10_000);
  const q = (ticks: number, lots: number): bigint => BigInt(ticks * lots * quotePerTickLot);

  const oneMinute = m.views.candles(inst, CandleBarsMs['1m'], { limit: 100 });
  assert.deepEqual(oneMinute.map((c) => [c.startTs - D0, c.open, c.high, c.low, c.close, c.volLots, c.volQuote, c.confirmed]), [
    [6 * minuteMs, 105, 105, 104, 104, 2, q(105, 1) + q(104, 1), false],
    [4 * minuteMs, 120, 120, 120, 120, 3, q(120, 3), true],
    [1 * minuteMs, 90, 90, 90, 90, 1, q(90, 1), true],
    [0, 100, 110, 100, 110, 3, q(100, 1) + q(110, 2), true],
  ]);

  const fiveMinutes = m.views.candles(inst, CandleBarsMs['5m'], { limit: 100 });
  assert.deepEqual(fiveMinutes.map((c) => [c.startTs - D0, c.open, c.high, c.low, c.close, c.volLots, c.confirmed]), [
    [5 * minuteMs, 105, 105, 104, 104, 2, false],
    [0, 100, 120, 90, 120, 7, true],
  ]);
  assert.equal(fiveMinutes[1]!.volQuote, q(100, 1) + q(110, 2) + q(90, 1) + q(120, 3));

  const threeMinutes = m.views.candles(inst, CandleBarsMs['3m'], { limit: 100 });
  assert.deepEqual(threeMinutes.map((c) => [c.startTs - D0, c.open, c.close, c.volLots, c.confirmed]), [
    [6 * minuteMs, 105, 104, 2, false],
    [3 * minuteMs, 120, 120, 3, true],
    [0, 100, 90, 4, true],
  ]);
  // Paging by bar start: after = older bars, before = newer bars.
  assert.deepEqual(m.views.candles(inst, CandleBarsMs['3m'], { after: D0 + 6 * minuteMs, limit: 1 }).map((c) => c.startTs), [D0 + 3 * minuteMs]);
  assert.deepEqual(m.views.candles(inst, CandleBarsMs['3m'], { after: D0 + 5 * minuteMs, limit: 100 }).map((c) => c.startTs), [D0 + 3 * minuteMs, D0]);
  assert.deepEqual(m.views.candles(inst, CandleBarsMs['3m'], { before: D0, limit: 100 }).map((c) => c.startTs), [D0 + 6 * minuteMs, D0 + 3 * minuteMs]);
  assert.deepEqual(m.views.candles(inst, CandleBarsMs['3m'], { limit: 2 }).map((c) => c.startTs), [D0 + 6 * minuteMs, D0 + 3 * minuteMs]);

  const oneDay = m.views.candles(inst, CandleBarsMs['1D'], { limit: 100 });
  assert.deepEqual(oneDay.map((c) => [c.startTs, c.open, c.high, c.low, c.close, c.volLots, c.confirmed]), [[D0, 100, 120, 90, 104, 9, false]]);

  // Once time moves past the bar, it is confirmed.
  m.ok({ type: 'CreditDeposit', depositId: 'clock', userId: m.alice, asset: 'BTC', amount: '1' }, D0 + 7 * minuteMs);
  assert.equal(m.views.candles(inst, CandleBarsMs['1m'], { limit: 1 })[0]!.confirmed, true);
  assert.equal(m.views.candles(inst, CandleBarsMs['5m'], { limit: 1 })[0]!.confirmed, false);

  assert.throws(() => m.views.candles(inst, 90_000, { limit: 1 }), RangeError);
  assert.throws(() => m.views.candles(inst, 0, { limit: 1 }), RangeError);
  assert.deepEqual(m.views.candles('ETH-USDT', CandleBarsMs['1m'], { limit: 10 }), []);
});

test('Retention: one-minute candles keep the newest 7 days of minutes per instrument', () => {
  const m = new Market();
  const minutes = Retention.minuteCandlesPerInstrumentMax + 2;
  m.place(m.alice, 'sell', 'limit', px, minutes, D0);
  for (let i = 0; i < minutes; i++) m.place(m.bob, 'buy', 'ioc', px, 1, D0 + i * minuteMs);
  const candles = m.views.candles(inst, CandleBarsMs['1m'], { limit: everything });
  assert.equal(candles.length, Retention.minuteCandlesPerInstrumentMax);
  assert.equal(candles.at(-1)!.startTs, D0 + 2 * minuteMs);
  assert.equal(candles[0]!.startTs, D0 + (minutes - 1) * minuteMs);
  // A daily bar aggregates only what is retained: day 0 lost its first two minutes.
  const days = m.views.candles(inst, CandleBarsMs['1D'], { limit: everything });
  assert.equal(days.at(-1)!.startTs, D0);
  assert.equal(days.at(-1)!.volLots, 1_440 - 2);
});

test('Ticker: last trade, a rolling 24h window of minutes ending at the latest event, and start-of-day prices (UTC and UTC+8)', () => {
  const m = new Market();
  assert.deepEqual(m.views.ticker(inst), {
    instId: inst, lastTicks: null, lastLots: null, open24hTicks: null, high24hTicks: null, low24hTicks: null,
    vol24hLots: 0, volQuote24h: 0n, sodUtc0Ticks: null, sodUtc8Ticks: null, ts: D0,
  });
  m.trade(100, 1, D0 + hourMs); // leaves the window by one minute
  m.trade(150, 2, D0 + hourMs + minuteMs); // the window's first minute
  m.trade(90, 1, D0 + 10 * hourMs);
  m.trade(300, 1, D0 + 17 * hourMs); // first trade of the UTC+8 day that starts at 16:00 UTC

  // Day 2 has begun (UTC), with no trade yet: its start price is the last price before it.
  m.ok({ type: 'CreditDeposit', depositId: 'clock', userId: m.alice, asset: 'BTC', amount: '1' }, D0 + dayMs + 10 * minuteMs);
  const early = m.views.ticker(inst);
  assert.equal(early.sodUtc0Ticks, 300);
  assert.equal(early.sodUtc8Ticks, 300);
  assert.equal(early.open24hTicks, 100, 'the 1h trade is still inside this window');

  m.trade(200, 1, D0 + dayMs + 30 * minuteMs);
  m.trade(210, 4, D0 + dayMs + hourMs);
  assert.deepEqual(m.views.ticker(inst), {
    instId: inst, lastTicks: 210, lastLots: 4, open24hTicks: 150, high24hTicks: 300, low24hTicks: 90,
    vol24hLots: 2 + 1 + 1 + 1 + 4, volQuote24h: BigInt((150 * 2 + 90 + 300 + 200 + 210 * 4) * quotePerTickLot),
    sodUtc0Ticks: 200, sodUtc8Ticks: 300, ts: D0 + dayMs + hourMs,
  });

  // A day later with no trades: the window is empty, the last trade remains.
  m.ok({ type: 'CreditDeposit', depositId: 'clock2', userId: m.alice, asset: 'BTC', amount: '1' }, D0 + 3 * dayMs);
  const quiet = m.views.ticker(inst);
  assert.equal(quiet.lastTicks, 210);
  assert.equal(quiet.open24hTicks, null);
  assert.equal(quiet.vol24hLots, 0);
  assert.equal(quiet.sodUtc0Ticks, 210);
});

test('Candles and ticker: quote volume is exact past 2^53 minor units, on every bar, in the 24h window and through a snapshot', () => {
  // One tick x one lot is one quote minor unit, so a trade's quote is price x size. The first
  // trade is worth 2^53 - 1 (the most one trade may be worth), the second 2: the exact sum,
  // 2^53 + 1, is odd, so no float can hold it.
  const engine = new Engine();
  const views = new MemoryProjections(engine);
  const at = D0 + 10_000;
  const run = (cmd: Command): Extract<Result, { ok: true }> => {
    const events: Event[] = [];
    const result = engine.apply(cmd, at, events);
    views.apply(events);
    if (!result.ok) assert.fail(`${cmd.type} rejected: ${result.reject.code}`);
    return result;
  };
  const asset = (id: string): Command => ({ type: 'SetAsset', asset: id, scale: 0, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false });
  run(asset('BIG'));
  run(asset('QQ'));
  const bigLots = 20_394_401;
  const bigTicks = 441_650_591; // bigTicks x bigLots = 2^53 - 1
  const instId = 'BIG-QQ';
  run({ type: 'SetInstrument', instId, base: 'BIG', quote: 'QQ', tickSz: '1', lotSz: '1', minSz: '1', maxSz: String(bigLots), maxPx: String(bigTicks), bandBps: 1, state: 'live' });
  const seller = run({ type: 'CreateUser', makerFeePpm: 0, takerFeePpm: 0 }).userId!;
  const buyer = run({ type: 'CreateUser', makerFeePpm: 0, takerFeePpm: 0 }).userId!;
  run({ type: 'CreditDeposit', depositId: 'big', userId: seller, asset: 'BIG', amount: String(bigLots + 2) });
  run({ type: 'CreditDeposit', depositId: 'qq', userId: buyer, asset: 'QQ', amount: (2n ** 54n).toString() });
  const trade = (priceTicks: number, sizeLots: number): void => {
    run({ type: 'PlaceOrder', userId: seller, instId, side: 'sell', orderType: 'limit', priceTicks, sizeLots });
    assert.equal(run({ type: 'PlaceOrder', userId: buyer, instId, side: 'buy', orderType: 'ioc', priceTicks, sizeLots }).state, 'filled');
  };
  trade(bigTicks, bigLots);
  trade(1, 2);

  const exact = '9007199254740993';
  for (const bar of Object.values(CandleBarsMs)) {
    const candles = views.candles(instId, bar, { limit: 10 });
    assert.equal(candles.length, 1);
    assert.equal(String(candles[0]!.volQuote), exact, `bar of ${String(bar)} ms`);
  }
  assert.equal(String(views.ticker(instId).volQuote24h), exact);

  const text = JSON.stringify(views.toJSON());
  assert.equal(text.split(`"${exact}"`).length, 2, 'saved once, as a decimal string: the minute\'s volume');
  const restored = MemoryProjections.fromJSON(engine, JSON.parse(text));
  assert.equal(String(restored.ticker(instId).volQuote24h), exact);
  assert.equal(JSON.stringify(restored.toJSON()), text);

  // A version 1 snapshot wrote the volume as a JSON number; it is still read.
  const v1 = JSON.parse(text.replace(`"${exact}"`, '2')) as { version: number };
  v1.version = 1;
  assert.equal(MemoryProjections.fromJSON(engine, v1).ticker(instId).volQuote24h, 2n);
  assert.throws(() => MemoryProjections.fromJSON(engine, JSON.parse(text.replace(`"${exact}"`, '"1e3"'))), /quote volume/);
});

test('Deposits and withdrawals: newest first, every state change, filters, and pages by timestamp', () => {
  const m = new Market();
  const u = m.alice;
  m.ok({ type: 'CreditDeposit', depositId: 'd1', userId: u, asset: 'USDT', amount: '5000000' }, D0 + 1_000);
  m.ok({ type: 'CreditDeposit', depositId: 'd2', userId: u, asset: 'BTC', amount: '7' }, D0 + 2_000);
  m.ok({ type: 'CreditDeposit', depositId: 'd3', userId: u, asset: 'USDT', amount: '9' }, D0 + 3_000);
  // The setup deposits came first, at D0.
  assert.deepEqual(m.views.deposits(u, { limit: 3 }).map((d) => d.depositId), ['d3', 'd2', 'd1']);
  assert.deepEqual(m.views.deposits(u, { asset: 'USDT', limit: 100 }).map((d) => d.depositId), ['d3', 'd1', `usdt-${u}`]);
  assert.deepEqual(m.views.deposits(u, { depositId: 'd2', limit: 100 }), [{ depositId: 'd2', userId: u, asset: 'BTC', amount: '7', state: 'credited', ts: D0 + 2_000 }]);
  assert.deepEqual(m.views.deposits(u, { after: D0 + 3_000, before: D0, limit: 100 }).map((d) => d.depositId), ['d2', 'd1']);
  assert.deepEqual(m.views.deposits(u, { before: D0 + 1_000, limit: 100 }).map((d) => d.depositId), ['d3', 'd2']);

  const w1 = m.ok({ type: 'RequestWithdrawal', userId: u, asset: 'USDT', amount: '2000000', address: 'addr1', clientId: 'w1' }, D0 + 10_000).withdrawalId!;
  const w2 = m.ok({ type: 'RequestWithdrawal', userId: u, asset: 'USDT', amount: '3000000', address: 'addr2' }, D0 + 11_000).withdrawalId!;
  const w3 = m.ok({ type: 'RequestWithdrawal', userId: u, asset: 'BTC', amount: '5000', address: 'addr3' }, D0 + 12_000).withdrawalId!;
  const w4 = m.ok({ type: 'RequestWithdrawal', userId: u, asset: 'BTC', amount: '6000', address: 'addr4' }, D0 + 13_000).withdrawalId!;
  m.ok({ type: 'CompleteWithdrawal', withdrawalId: w1, txId: 'tx1' }, D0 + 20_000);
  m.ok({ type: 'FailWithdrawal', withdrawalId: w2, reason: 'address rejected' }, D0 + 21_000);
  m.ok({ type: 'CancelWithdrawal', userId: u, withdrawalId: w3 }, D0 + 22_000);
  const all = m.views.withdrawals(u, { limit: 100 });
  assert.deepEqual(all.map((w) => [w.withdrawalId, w.state, w.txId, w.reason, w.updatedTs - D0]), [
    [w4, 'pending', '', '', 13_000],
    [w3, 'canceled', '', 'user', 22_000],
    [w2, 'failed', '', 'address rejected', 21_000],
    [w1, 'completed', 'tx1', '', 20_000],
  ]);
  assert.deepEqual(all[3], {
    withdrawalId: w1, userId: u, asset: 'USDT', amount: '2000000', fee: '1000000', address: 'addr1', clientId: 'w1',
    state: 'completed', txId: 'tx1', reason: '', ts: D0 + 10_000, updatedTs: D0 + 20_000,
  });
  assert.deepEqual(m.views.withdrawals(u, { asset: 'BTC', limit: 100 }).map((w) => w.withdrawalId), [w4, w3]);
  assert.deepEqual(m.views.withdrawals(u, { clientId: 'w1', limit: 100 }).map((w) => w.withdrawalId), [w1]);
  assert.deepEqual(m.views.withdrawals(u, { withdrawalId: w2, limit: 100 }).map((w) => w.withdrawalId), [w2]);
  assert.deepEqual(m.views.withdrawals(u, { after: D0 + 12_000, limit: 1 }).map((w) => w.withdrawalId), [w2]);
  assert.deepEqual(m.views.withdrawals(u, { before: D0 + 11_000, limit: 100 }).map((w) => w.withdrawalId), [w4, w3]);
  assert.deepEqual(m.views.withdrawals(m.bob, { limit: 100 }), []);
});

test('Retention: deposits and withdrawals keep the newest 1,000 per user', () => {
  const m = new Market();
  const u = m.bob;
  const count = Retention.transfersPerUserMax + 1;
  for (let i = 0; i < count; i++) m.ok({ type: 'CreditDeposit', depositId: `many-${i}`, userId: u, asset: 'BTC', amount: '1' }, D0 + 1 + i);
  const deposits = m.views.deposits(u, { limit: everything });
  assert.equal(deposits.length, Retention.transfersPerUserMax);
  assert.equal(deposits[0]!.depositId, `many-${count - 1}`);
  assert.equal(deposits.at(-1)!.depositId, 'many-1');

  const first = m.ok({ type: 'RequestWithdrawal', userId: u, asset: 'BTC', amount: '1', address: 'a' }, D0 + dayMs).withdrawalId!;
  for (let i = 1; i < count; i++) m.ok({ type: 'RequestWithdrawal', userId: u, asset: 'BTC', amount: '1', address: 'a' }, D0 + dayMs + i);
  const withdrawals = m.views.withdrawals(u, { limit: everything });
  assert.equal(withdrawals.length, Retention.transfersPerUserMax);
  assert.equal(withdrawals.at(-1)!.withdrawalId, first + 1);
  // The evicted withdrawal's completion finds nothing to update and changes nothing else.
  m.ok({ type: 'CompleteWithdrawal', withdrawalId: first, txId: 'late' }, D0 + 2 * dayMs);
  assert.ok(m.views.withdrawals(u, { limit: everything }).every((w) => w.state === 'pending'));
});

/** A deterministic stream of orders, cancels and amends from a small linear congruential generator. */
function churn(m: Market, commands: number, seed: number): void {
  let state = seed;
  const next = (n: number): number => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    // The low bits of this generator cycle quickly: draw from the high ones.
    return Math.floor(state / 65_536) % n;
  };
  const types: readonly OrderType[] = ['limit', 'limit', 'limit', 'post_only', 'ioc', 'fok', 'market'];
  for (let i = 0; i < commands; i++) {
    const userId = next(2) === 0 ? m.alice : m.bob;
    const at = D0 + i * 7_000;
    const roll = next(10);
    const open = m.views.openOrders(userId, { limit: 100 });
    if (roll < 2 && open.length > 0) {
      const orderId = open[next(open.length)]!.orderId;
      m.run({ type: 'CancelOrder', userId, instId: inst, orderId }, at);
    } else if (roll < 3 && open.length > 0) {
      const order = open[next(open.length)]!;
      m.run({ type: 'AmendOrder', userId, instId: inst, orderId: order.orderId, newPriceTicks: order.priceTicks + next(5) - 2, newSizeLots: order.sizeLots + 1 }, at);
    } else {
      const orderType = types[next(types.length)]!;
      const side: Side = next(2) === 0 ? 'buy' : 'sell';
      const sizeLots = 1 + next(5);
      const cmd: Command = orderType === 'market'
        ? { type: 'PlaceOrder', userId, instId: inst, side, orderType, sizeLots }
        : { type: 'PlaceOrder', userId, instId: inst, side, orderType, priceTicks: px - 5 + next(11), sizeLots, clOrdId: `c${i}` };
      m.run(cmd, at);
    }
  }
}

test('Model check: over a generated stream, open orders match the engine book and every total is the sum of its fills', () => {
  const m = new Market();
  churn(m, 3_000, 7);
  for (const userId of [m.alice, m.bob]) {
    const engineOpen: { orderId: number; priceTicks: number; sizeLots: number; filledLots: number; state: string }[] = [];
    for (let o = m.engine.users[userId]!.openHead; o !== null; o = o.userNext) {
      engineOpen.push({ orderId: o.id, priceTicks: o.priceTicks, sizeLots: o.sizeLots, filledLots: o.filledLots, state: o.state });
    }
    engineOpen.sort((a, b) => b.orderId - a.orderId);
    const open = m.views.openOrders(userId, { limit: everything });
    assert.deepEqual(open.map((o) => ({ orderId: o.orderId, priceTicks: o.priceTicks, sizeLots: o.sizeLots, filledLots: o.filledLots, state: o.state })), engineOpen);

    const fills = m.views.fills(userId, { limit: everything });
    for (const order of [...open, ...m.views.orderHistory(userId, { limit: everything })]) {
      const own = fills.filter((f) => f.orderId === order.orderId);
      assert.equal(order.filledLots, own.reduce((sum, f) => sum + f.sizeLots, 0), `order ${order.orderId} lots`);
      assert.equal(order.filledQuote, own.reduce((sum, f) => sum + f.quoteAmount, 0), `order ${order.orderId} quote`);
      assert.equal(order.fee, own.reduce((sum, f) => sum + f.fee, 0), `order ${order.orderId} fee`);
      assert.equal(order.lastFill?.tradeId ?? null, own[0]?.tradeId ?? null);
    }
  }
  // Conservation on the public side: both sides' fills are one trade each.
  const trades = m.views.trades(inst, everything);
  const fillsByTrade = new Map<number, number>();
  for (const userId of [m.alice, m.bob]) {
    for (const f of m.views.fills(userId, { limit: everything })) fillsByTrade.set(f.tradeId, (fillsByTrade.get(f.tradeId) ?? 0) + f.sizeLots);
  }
  for (const t of trades) assert.equal(fillsByTrade.get(t.tradeId), 2 * t.sizeLots);
  assert.ok(trades.length > 100, `the stream trades enough to mean something (${trades.length} trades)`);
});

/** The answers an API would give, for comparing two projections. */
function answers(p: Projections, m: Market): unknown {
  const perUser = [m.alice, m.bob].map((u) => ({
    open: p.openOrders(u, { limit: everything }),
    history: p.orderHistory(u, { limit: everything }),
    fills: p.fills(u, { limit: everything }),
    deposits: p.deposits(u, { limit: everything }),
    withdrawals: p.withdrawals(u, { limit: everything }),
    byClOrdId: p.orderByClOrdId(u, 'c100'),
  }));
  return {
    perUser,
    trades: p.trades(inst, everything),
    candles: Object.values(CandleBarsMs).map((bar) => p.candles(inst, bar, { limit: everything })),
    ticker: p.ticker(inst),
  };
}

test('Snapshot: toJSON/fromJSON restores equal answers, the same JSON, and keeps applying events identically', () => {
  const m = new Market();
  churn(m, 1_500, 11);
  m.ok({ type: 'RequestWithdrawal', userId: m.alice, asset: 'USDT', amount: '2000000', address: 'addr', clientId: 'snap' }, D0 + 2 * dayMs);
  const text = JSON.stringify(m.views.toJSON());
  const restored = MemoryProjections.fromJSON(m.engine, JSON.parse(text));
  assert.equal(JSON.stringify(restored.toJSON()), text);
  assert.deepEqual(answers(restored, m), answers(m.views, m));

  // A projection rebuilt from the whole event log agrees too.
  const replayed = new MemoryProjections(m.engine);
  for (const events of m.log) replayed.apply(events);
  assert.equal(JSON.stringify(replayed.toJSON()), text);

  // The restored copy shares nothing with the original and keeps up with new events.
  const before = m.log.length;
  churn(m, 500, 13);
  m.ok({ type: 'CompleteWithdrawal', withdrawalId: m.engine.nextWithdrawalId - 1, txId: 'tx' }, D0 + 3 * dayMs);
  for (const events of m.log.slice(before)) restored.apply(events);
  assert.deepEqual(answers(restored, m), answers(m.views, m));
  assert.equal(JSON.stringify(restored.toJSON()), JSON.stringify(m.views.toJSON()));

  assert.throws(() => MemoryProjections.fromJSON(m.engine, { version: 99 }), /version/);
});
