// WebSocket order entry without a socket: each op's reply in OKX's envelope (id, op, code, msg,
// data with sCodes, inTime/outTime), batch codes 0/1/2 as REST, cancel by ordId alone (what
// ccxt.pro sends), and every refusal of a whole op: no login (60011), a key without the trade
// permission (50120), a node not serving (50001), malformed ids and args (60013), the shared
// trade rate limit (50011). A refused op submits nothing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBuckets } from '../src/gateway/rate-limit.js';
import { tradeBudget } from '../src/gateway/server.js';
import { runOrderOp, type OrderOp, type OrderOpConnection } from '../src/gateway/ws-trade.js';
import { addTrader, venue, type MemoryPort, type Trader } from './support/memory-port.js';

type Row = Record<string, unknown>;
interface Reply { id: string; op: string; code: string; msg: string; data: Row[]; inTime: string; outTime: string }

function connection(port: MemoryPort, who: Trader | undefined, takeTrade: OrderOpConnection['takeTrade'] = () => true): OrderOpConnection {
  return { port, login: who === undefined ? undefined : { userId: who.userId, apiKey: who.apiKey, perms: port.keys.get(who.apiKey)!.perms }, takeTrade };
}

async function op(conn: OrderOpConnection, name: OrderOp, args: unknown, id: unknown = '1512'): Promise<Reply> {
  const text = await runOrderOp(conn, { id, op: name, args, inMs: conn.port.now() });
  return JSON.parse(text) as Reply;
}

const buy = (px: string, sz: string, more: Row = {}): Row => ({ instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px, sz, ...more });

test('order: placed and acknowledged in OKX\'s envelope, with the client\'s id', async () => {
  const { port, alice } = venue();
  const r = await op(connection(port, alice), 'order', [buy('100', '0.001', { clOrdId: 'abc1' })]);
  assert.deepEqual(Object.keys(r), ['id', 'op', 'code', 'msg', 'data', 'inTime', 'outTime']);
  assert.equal(r.id, '1512');
  assert.equal(r.op, 'order');
  assert.equal(r.code, '0');
  assert.equal(r.msg, '');
  assert.match(r.inTime, /^[0-9]{16}$/);
  const item = r.data[0]!;
  assert.equal(item['sCode'], '0');
  assert.equal(item['clOrdId'], 'abc1');
  const ordId = Number(item['ordId']);
  assert.equal(port.queries.order(alice.userId, ordId)?.state, 'live');
});

test('batch-orders: codes 0, 2 and 1 as REST; a failed batch has msg "" so clients read the sCodes', async () => {
  const { port, alice } = venue();
  const conn = connection(port, alice);
  const ok = await op(conn, 'batch-orders', [buy('100', '0.001'), buy('101', '0.001')]);
  assert.equal(ok.code, '0');
  assert.deepEqual(ok.data.map((d) => d['sCode']), ['0', '0']);
  const partial = await op(conn, 'batch-orders', [buy('100', '0.001'), buy('100', '0.0001')]);
  assert.equal(partial.code, '2');
  assert.equal(partial.msg, '');
  assert.deepEqual(partial.data.map((d) => d['sCode']), ['0', '51020']);
  const failed = await op(conn, 'batch-orders', [buy('100000', '999')]);
  assert.equal(failed.code, '1');
  assert.equal(failed.msg, '');
  assert.equal(failed.data[0]!['sCode'], '51008');
  const tooMany = await op(conn, 'batch-orders', Array.from({ length: 21 }, () => buy('100', '0.001')));
  assert.equal(tooMany.code, '51111');
});

test('cancel-order and batch-cancel-orders: by ordId alone (the order\'s own instrument), or with instId; unknown orders 51400', async () => {
  const { port, alice, bob } = venue();
  const conn = connection(port, alice);
  const placed = await op(conn, 'batch-orders', [buy('100', '0.001'), buy('99', '0.001'), buy('98', '0.001')]);
  const [a, b, c] = placed.data.map((d) => String(d['ordId']));
  const one = await op(conn, 'cancel-order', [{ ordId: a }]);
  assert.equal(one.code, '0');
  assert.equal(one.data[0]!['ordId'], a);
  assert.equal(port.queries.order(alice.userId, Number(a))?.state, 'canceled');
  const batch = await op(conn, 'batch-cancel-orders', [{ ordId: b }, { instId: 'BTC-USDT', ordId: c }, { ordId: '999999' }]);
  assert.equal(batch.code, '2');
  assert.deepEqual(batch.data.map((d) => d['sCode']), ['0', '0', '51400']);
  // Bob cannot cancel alice's order, by id or by guessing.
  const bobPlaced = await op(conn, 'order', [buy('97', '0.001')]);
  const theirs = String(bobPlaced.data[0]!['ordId']);
  const refused = await op(connection(port, bob), 'cancel-order', [{ ordId: theirs }]);
  assert.equal(refused.code, '1');
  assert.equal(refused.data[0]!['sCode'], '51400');
  assert.equal(port.queries.order(alice.userId, Number(theirs))?.state, 'live');
});

test('amend-order: new price and size, reqId echoed', async () => {
  const { port, alice } = venue();
  const conn = connection(port, alice);
  const placed = await op(conn, 'order', [buy('100', '0.001')]);
  const ordId = String(placed.data[0]!['ordId']);
  const r = await op(conn, 'amend-order', [{ instId: 'BTC-USDT', ordId, newPx: '101', newSz: '0.002', reqId: 'r1' }]);
  assert.equal(r.code, '0');
  assert.equal(r.data[0]!['reqId'], 'r1');
  const rec = port.queries.order(alice.userId, Number(ordId));
  assert.equal(rec?.priceTicks, 10_100);
  assert.equal(rec.sizeLots, 20);
});

test('refusals of a whole op, each with its code and its id, and nothing submitted', async () => {
  const { port, alice } = venue();
  const reader = addTrader(port, 'reader', { USDT: '1000000000' }, {}, { perms: ['read_only'] });
  const before = port.submissions;
  const code = async (conn: OrderOpConnection, name: OrderOp, args: unknown, id?: unknown) => (await op(conn, name, args, id ?? '7')).code;
  assert.equal(await code(connection(port, undefined), 'order', [buy('100', '0.001')]), '60011');
  assert.equal(await code(connection(port, reader), 'order', [buy('100', '0.001')]), '50120');
  assert.equal(await code(connection(port, reader), 'cancel-order', [{ ordId: '1' }]), '50120');
  assert.equal(await code(connection(port, alice), 'order', [buy('100', '0.001'), buy('100', '0.001')]), '60013');
  assert.equal(await code(connection(port, alice), 'order', []), '60013');
  assert.equal(await code(connection(port, alice), 'order', { instId: 'BTC-USDT' }), '60013');
  assert.equal(await code(connection(port, alice), 'order', [buy('100', '0.001')], 'not an id!'), '60013');
  port.state = 'stopped';
  const stopped = await op(connection(port, alice), 'order', [buy('100', '0.001')], '42');
  assert.equal(stopped.code, '50001');
  assert.equal(stopped.id, '42');
  port.state = 'serving';
  assert.equal(port.submissions, before, 'no refused op reached the log');
});

test('rate limit: the trade budget is REST\'s, per user and instrument; over it the op gets 50011', async () => {
  const { port, alice, bob } = venue();
  const budget = tradeBudget(port, new TokenBuckets(100), { 'POST /api/v5/trade/order': { requests: 2, windowMs: 2_000 } });
  const conn = connection(port, alice, budget);
  assert.equal((await op(conn, 'order', [buy('100', '0.001')])).code, '0');
  assert.equal((await op(conn, 'order', [buy('100', '0.001')])).code, '0');
  const limited = await op(conn, 'order', [buy('100', '0.001')]);
  assert.equal(limited.code, '50011');
  assert.equal(limited.id, '1512');
  assert.equal((await op(conn, 'order', [{ ...buy('100', '0.001'), instId: 'ETH-USDT' }])).code, '0', 'another instrument has its own budget');
  assert.equal((await op(connection(port, bob, budget), 'order', [buy('100', '0.001')])).code, '0', 'another user has its own budget');
  port.clockMs += 1_000;
  assert.equal((await op(conn, 'order', [buy('100', '0.001')])).code, '0', 'refilled');
});

test('a key revoked after login trades no more (50111): the key is read afresh on every op', async () => {
  const { port, alice } = venue();
  const conn = connection(port, alice);
  assert.equal((await op(conn, 'order', [buy('100', '0.001')])).code, '0');
  port.applyNow([{ type: 'RevokeApiKey', apiKey: alice.apiKey }]);
  const before = port.submissions;
  assert.equal((await op(conn, 'order', [buy('100', '0.001')])).code, '50111');
  assert.equal(port.submissions, before);
});
