// The private WebSocket side without a socket: login verification and each of its OKX codes,
// the private channels' args, what one applied record means to each subscribed user (the order
// as it stood after each event, fills, balances), and the feed's rule that a user receives only
// their own updates.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PlaceOrder } from '../src/core/index.js';
import { WsCloses, type WsClose, type WsError } from '../src/gateway/errors.js';
import {
  capturePrivate, loginSign, orderPushRow, parsePrivateArg, PrivateFeed, verifyLogin, type OrderUpdate,
} from '../src/gateway/ws-private.js';
import { WsPaths, type WsConnection, type WsLogin } from '../src/gateway/ws-server.js';
import type { Event } from '../src/core/index.js';
import type { Drain } from '../src/streams/index.js';
import { addTrader, venue, type MemoryPort, type Trader } from './support/memory-port.js';
import { T0 } from './support/scenario.js';

type Row = Record<string, unknown>;

function loginArg(trader: Trader, nowMs: number, change: Partial<Record<'apiKey' | 'passphrase' | 'timestamp' | 'sign', string>> = {}): Row {
  const timestamp = change.timestamp ?? String(Math.floor(nowMs / 1000));
  return {
    apiKey: trader.apiKey, passphrase: trader.passphrase, timestamp, sign: loginSign(trader.secret, timestamp), ...change,
  };
}

function codeOf(result: object): string {
  return 'msg' in result ? (result as WsError).code : '0';
}

function limit(who: Trader, side: 'buy' | 'sell', priceTicks: number, sizeLots: number): PlaceOrder {
  return { type: 'PlaceOrder', userId: who.userId, instId: 'BTC-USDT', side, orderType: 'limit', priceTicks, sizeLots };
}

/** Applies commands as one record and returns that record's events. */
function record(port: MemoryPort, ...commands: PlaceOrder[]): Event[] {
  let seen: Event[] = [];
  port.onApplied = (events) => { seen = events.map((e) => ({ ...e })); };
  port.applyNow(commands);
  port.onApplied = undefined;
  return seen;
}

/** A connection that keeps what it is sent. */
class Peer implements WsConnection {
  readonly sent: Row[] = [];
  readonly path = WsPaths.private;
  readonly ip = '127.0.0.1';
  login: WsLogin | undefined;
  closed = false;
  closedWith: WsClose | undefined;
  constructor(readonly connId: string) {}
  send(text: string): boolean { this.sent.push(JSON.parse(text) as Row); return true; }
  sendReply(text: string): boolean { return this.send(text); }
  sendEvent(event: Readonly<Record<string, unknown>>): boolean { this.sent.push({ ...event }); return true; }
  sendError(error: WsError): boolean { return this.sendEvent({ event: 'error', ...error }); }
  close(close: WsClose): void { this.closed = true; this.closedWith = close; }
  readonly fanout = undefined;
  joinTopic(): void { /* held here: nothing to tell */ }
  leaveTopic(): void { /* held here: nothing to tell */ }
}

/** A hub drain of these events, as the hub hands it to its consumers. */
function drainOf(events: readonly Event[], overflowed = false): Drain {
  return { seq: 0, position: 0, events, overflowed, touched: new Set(), allTouched: false, books: [], ts: T0 };
}

// ------------------------------------------------------------------ login

test('login: a correct signature over unix seconds + GET + /users/self/verify logs in as the key', () => {
  const { port, alice } = venue();
  const key = verifyLogin({ arg: loginArg(alice, port.now()), ip: '127.0.0.1', nowMs: port.now(), windowMs: 30_000 }, port.keys, port.keyDerivation);
  assert.ok('userId' in key, JSON.stringify(key));
  assert.equal(key.userId, alice.userId);
});

test('login: each failure has its OKX WebSocket code', () => {
  const { port, alice } = venue();
  const now = port.now();
  const seconds = Math.floor(now / 1000);
  const cases: [string, unknown, string][] = [
    ['no key', loginArg(alice, now, { apiKey: '' }), '60001'],
    ['no sign', loginArg(alice, now, { sign: '' }), '60002'],
    ['no passphrase', loginArg(alice, now, { passphrase: '' }), '60003'],
    ['ISO timestamp', loginArg(alice, now, { timestamp: new Date(now).toISOString() }), '60004'],
    ['31 s old', loginArg(alice, now, { timestamp: String(seconds - 31) }), '60006'],
    ['31 s ahead', loginArg(alice, now, { timestamp: String(seconds + 31) }), '60006'],
    ['unknown key', loginArg(alice, now, { apiKey: 'key-nobody' }), '60005'],
    ['wrong passphrase', loginArg(alice, now, { passphrase: 'guess' }), '60024'],
    ['wrong signature', loginArg(alice, now, { sign: loginSign('not-the-secret', String(seconds)) }), '60007'],
    ['signature of another timestamp', { ...loginArg(alice, now), sign: loginSign(alice.secret, String(seconds - 1)) }, '60007'],
    ['not an object', 'alice', '60001'],
  ];
  for (const [name, arg, code] of cases) {
    const r = verifyLogin({ arg, ip: '127.0.0.1', nowMs: now, windowMs: 30_000 }, port.keys, port.keyDerivation);
    assert.equal(codeOf(r), code, name);
  }
  for (const skew of [-30, 30]) {
    const r = verifyLogin({ arg: loginArg(alice, now, { timestamp: String(seconds + skew) }), ip: '127.0.0.1', nowMs: seconds * 1000, windowMs: 30_000 }, port.keys, port.keyDerivation);
    assert.equal(codeOf(r), '0', `skew ${String(skew)} s is inside the window`);
  }
});

test('login: a key with an IP allowlist logs in from a listed address only (60009 elsewhere)', () => {
  const { port } = venue();
  const carol = addTrader(port, 'carol', {}, {}, { ips: ['10.0.0.7'] });
  const req = (ip: string) => ({ arg: loginArg(carol, port.now()), ip, nowMs: port.now(), windowMs: 30_000 });
  assert.equal(codeOf(verifyLogin(req('10.0.0.7'), port.keys, port.keyDerivation)), '0');
  assert.equal(codeOf(verifyLogin(req('::ffff:10.0.0.7'), port.keys, port.keyDerivation)), '0');
  assert.equal(codeOf(verifyLogin(req('127.0.0.1'), port.keys, port.keyDerivation)), '60009');
});

// ------------------------------------------------------------------ channel args

test('private channel args: what ccxt.pro sends is accepted; malformed args get 60013, an unknown instrument 60018', () => {
  const { port } = venue();
  const ok = (arg: Row) => {
    const parsed = parsePrivateArg(port.queries, arg);
    assert.ok('key' in parsed, JSON.stringify(parsed));
    return parsed;
  };
  assert.deepEqual(ok({ channel: 'orders', instType: 'ANY' }).arg, { channel: 'orders', instType: 'ANY' });
  assert.equal(ok({ channel: 'orders', instType: 'SWAP' }).spot, false);
  assert.equal(ok({ channel: 'orders', instType: 'SPOT', instId: 'BTC-USDT' }).instId, 'BTC-USDT');
  assert.deepEqual([...ok({ channel: 'account', ccy: 'BTC' }).ccys], ['BTC']);
  ok({ channel: 'account' });
  ok({ channel: 'balance_and_position' });
  const code = (arg: unknown) => { const r = parsePrivateArg(port.queries, arg); return 'key' in r ? '0' : r.code; };
  assert.equal(code({ channel: 'orders' }), '60013');
  assert.equal(code({ channel: 'orders', instType: 'BONDS' }), '60013');
  assert.equal(code({ channel: 'orders', instType: 'SPOT', side: 'buy' }), '60013');
  assert.equal(code({ channel: 'account', ccy: 7 }), '60013');
  assert.equal(code({ channel: 'orders', instType: 'SPOT', instId: 'DOGE-USDT' }), '60018');
  assert.equal(code(['orders']), '60013');
});

// ------------------------------------------------------------------ capture

test('capture: a taker sweeping two levels gets live, then one update per fill with totals as they stood after it', () => {
  const { port, alice, bob } = venue({ makerFeePpm: 1_000, takerFeePpm: 2_000 });
  // alice rests two asks: 0.001 BTC at 100.00 and 0.002 BTC at 100.01.
  port.applyNow([limit(alice, 'sell', 10_000, 10), limit(alice, 'sell', 10_001, 20)]);
  const events = record(port, limit(bob, 'buy', 10_001, 30));
  const updates = capturePrivate(events, port.queries, (u) => u === bob.userId, port.now());
  const orders = updates.filter((u): u is OrderUpdate => u.kind === 'order');
  assert.ok(orders.every((u) => u.userId === bob.userId), 'only the wanted user');
  const rows = orders.map((u) => orderPushRow(port.queries, u)!);
  assert.deepEqual(rows.map((r) => [r['state'], r['accFillSz'], r['fillSz'], r['fillPx'], r['execType'], r['fillFee'], r['fee'], r['avgPx']]), [
    ['live', '0', '0', '', '', '0', '0', ''],
    // Bob's fee is in the BTC he receives: 0.2% of 0.001 BTC = 0.000002 BTC, then of 0.002 BTC.
    ['partially_filled', '0.001', '0.001', '100', 'T', '-0.000002', '-0.000002', '100'],
    ['filled', '0.003', '0.002', '100.01', 'T', '-0.000004', '-0.000006', '100.0066666666'],
  ]);
  assert.equal(rows[1]!['tradeId'] !== rows[2]!['tradeId'], true);
  const balance = updates.find((u) => u.kind === 'balance');
  assert.ok(balance?.kind === 'balance');
  assert.equal(balance.eventType, 'filled');
  assert.equal(balance.trades.length, 2);
  assert.deepEqual(balance.balances.map((b) => b.asset).sort(), ['BTC', 'USDT']);
});

test('capture: the maker sees each of its fills as maker; nothing is captured for users nobody watches', () => {
  const { port, alice, bob } = venue();
  port.applyNow([limit(alice, 'sell', 10_000, 30)]);
  const events = record(port, limit(bob, 'buy', 10_000, 10), limit(bob, 'buy', 10_000, 20));
  const updates = capturePrivate(events, port.queries, (u) => u === alice.userId, port.now());
  const rows = updates.filter((u): u is OrderUpdate => u.kind === 'order').map((u) => orderPushRow(port.queries, u)!);
  assert.deepEqual(rows.map((r) => [r['state'], r['accFillSz'], r['execType']]), [
    ['partially_filled', '0.001', 'M'], ['filled', '0.003', 'M'],
  ]);
  assert.deepEqual(capturePrivate(events, port.queries, () => false, port.now()), []);
});

test('capture: amend and cancel each give an update (amendResult 0; canceled with what had filled)', () => {
  const { port, alice } = venue();
  const placed = port.applyNow([limit(alice, 'buy', 9_000, 10)])[0]!;
  assert.ok(placed.ok);
  const orderId = placed.orderId!;
  let seen: Event[] = [];
  port.onApplied = (events) => { seen = events.map((e) => ({ ...e })); };
  port.applyNow([{ type: 'AmendOrder', userId: alice.userId, instId: 'BTC-USDT', orderId, newPriceTicks: 9_100 }]);
  const amended = capturePrivate(seen, port.queries, () => true, port.now()).filter((u): u is OrderUpdate => u.kind === 'order');
  assert.deepEqual(amended.map((u) => [orderPushRow(port.queries, u)!['px'], orderPushRow(port.queries, u)!['amendResult']]), [['91', '0']]);
  port.applyNow([{ type: 'CancelOrder', userId: alice.userId, instId: 'BTC-USDT', orderId }]);
  const canceled = capturePrivate(seen, port.queries, () => true, port.now()).filter((u): u is OrderUpdate => u.kind === 'order');
  assert.deepEqual(canceled.map((u) => [orderPushRow(port.queries, u)!['state'], orderPushRow(port.queries, u)!['cancelSource']]), [['canceled', '1']]);
  port.onApplied = undefined;
});

// ------------------------------------------------------------------ the feed

test('feed: each user receives only their own orders and balances; account starts with a snapshot', () => {
  const { port, alice, bob } = venue();
  const feed = new PrivateFeed(port.queries, () => port.now());
  const events: Event[] = [];
  port.onApplied = (e) => { events.push(...e.map((x) => ({ ...x }))); }; // events are valid during the call only
  const alicePeer = new Peer('a');
  const bobPeer = new Peer('b');
  const sub = (who: Trader, peer: Peer, arg: Row) => {
    const parsed = parsePrivateArg(port.queries, arg);
    assert.ok('key' in parsed);
    return feed.subscribe(who.userId, parsed, peer);
  };
  sub(alice, alicePeer, { channel: 'orders', instType: 'ANY' });
  sub(alice, alicePeer, { channel: 'account' });
  sub(bob, bobPeer, { channel: 'orders', instType: 'SPOT', instId: 'ETH-USDT' });
  assert.equal(alicePeer.sent.length, 1, 'the account snapshot');
  assert.equal((alicePeer.sent[0]!['arg'] as Row)['channel'], 'account');
  port.applyNow([limit(alice, 'sell', 10_000, 10)]);
  port.applyNow([limit(bob, 'buy', 10_000, 10)]);
  feed.onDrain(drainOf(events));
  for (const m of alicePeer.sent) assert.equal((m['arg'] as Row)['uid'], String(alice.userId));
  const rows = alicePeer.sent.filter((m) => (m['arg'] as Row)['channel'] === 'orders').flatMap((m) => m['data'] as Row[]);
  assert.deepEqual(rows.map((r) => r['state']), ['live', 'filled']);
  assert.equal(rows[1]!['execType'], 'M');
  const account = alicePeer.sent.filter((m) => (m['arg'] as Row)['channel'] === 'account');
  assert.equal(account.length, 2, 'the snapshot, then one update for the drain');
  assert.equal(bobPeer.sent.length, 0, 'bob watches ETH-USDT only, and never sees alice');
});

test('feed: a drain the hub overflowed closes private subscribers (resync), and they receive nothing', () => {
  const { port, alice } = venue();
  const feed = new PrivateFeed(port.queries, () => port.now());
  const peer = new Peer('a');
  const parsed = parsePrivateArg(port.queries, { channel: 'orders', instType: 'ANY' });
  assert.ok('key' in parsed);
  const end = feed.subscribe(alice.userId, parsed, peer);
  feed.onDrain(drainOf([], true));
  assert.deepEqual(peer.closedWith, WsCloses.overflow);
  assert.equal(peer.sent.length, 0);
  end();
  assert.equal(feed.subscriptions, 0);
});
