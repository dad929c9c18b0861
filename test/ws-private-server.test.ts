// The private WebSocket endpoint over a real socket, in process: the gateway over a MemoryPort
// (its clock held still, so rate-limit budgets do not refill behind the test's back) with the
// stream hub fed by every applied batch. Login and each of its refusals, the public URL, a user
// who sees only their own orders and balances, a read-only key, a node that stops serving, the
// trade budget shared with REST, and many order ops pipelined on one connection.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { createGateway, WsCloses, type GatewayOptions } from '../src/gateway/index.js';
import { loginSign } from '../src/gateway/ws-private.js';
import { StreamHub } from '../src/streams/index.js';
import { addTrader, call, venue, type MemoryPort, type Trader } from './support/memory-port.js';
import { event, push, WsClient, type Message } from './support/ws-client.js';

type Row = Record<string, unknown>;

interface Venue {
  readonly port: MemoryPort;
  readonly alice: Trader;
  readonly bob: Trader;
  readonly app: FastifyInstance;
  readonly url: string;
  readonly clients: WsClient[];
}

const open: Venue[] = [];

after(async () => {
  for (const v of open) {
    for (const c of v.clients) await c.close();
    await v.app.close();
  }
});

/** A gateway with WebSockets over a fresh venue; the not-serving sweep is off so tests see the op refusals themselves. */
async function setup(options: GatewayOptions = { rateLimits: false }, sweepIntervalMs = 3_600_000): Promise<Venue> {
  const { port, alice, bob } = venue();
  const hub = new StreamHub({ queries: port.queries, appliedSeq: () => port.engine.seq, now: () => port.now() });
  port.onApplied = (events) => { hub.onApplied(events, port.engine.seq); };
  const app = createGateway(port, { ...options, streams: { hub, options: { sweepIntervalMs } } });
  app.addHook('onClose', (_i, done) => { hub.close(); done(); });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const url = `ws://127.0.0.1:${String(typeof address === 'object' && address !== null ? address.port : 0)}`;
  const v = { port, alice, bob, app, url, clients: [] };
  open.push(v);
  return v;
}

async function connect(v: Venue, path = '/ws/v5/private'): Promise<WsClient> {
  const client = await WsClient.open(v.url + path);
  v.clients.push(client);
  return client;
}

function loginMessage(v: Venue, who: Trader, change: Partial<Record<'apiKey' | 'passphrase' | 'timestamp' | 'sign', string>> = {}): Row {
  const timestamp = change.timestamp ?? String(Math.floor(v.port.now() / 1000));
  return { op: 'login', args: [{ apiKey: who.apiKey, passphrase: who.passphrase, timestamp, sign: loginSign(who.secret, timestamp), ...change }] };
}

const loginReply = (m: Message): boolean => typeof m !== 'string' && (m['event'] === 'login' || m['event'] === 'error');

async function loggedIn(v: Venue, who: Trader): Promise<WsClient> {
  const client = await connect(v);
  client.send(loginMessage(v, who));
  const reply = await client.take(loginReply, 'login reply');
  assert.equal(reply['code'], '0', JSON.stringify(reply));
  return client;
}

async function subscribe(client: WsClient, arg: Row): Promise<void> {
  client.send({ op: 'subscribe', args: [arg] });
  const ack = await client.take((m) => typeof m !== 'string' && (m['event'] === 'subscribe' || m['event'] === 'error'), `subscribe ${JSON.stringify(arg)}`);
  assert.equal(ack['event'], 'subscribe', JSON.stringify(ack));
}

let nextId = 0;
/** Sends an order op and waits for the reply carrying its id. */
async function op(client: WsClient, name: string, args: unknown): Promise<Row & { code: string; data: Row[] }> {
  const id = `t${String(++nextId)}`;
  client.send({ id, op: name, args });
  return client.take((m) => typeof m !== 'string' && m['id'] === id, `reply to ${name} ${id}`);
}

const order = (side: 'buy' | 'sell', px: string, sz: string): Row => ({ instId: 'BTC-USDT', tdMode: 'cash', side, ordType: 'limit', px, sz });

test('a user sees only their own orders and balances; fills carry the fill fields', async () => {
  const v = await setup();
  const a = await loggedIn(v, v.alice);
  const b = await loggedIn(v, v.bob);
  for (const c of [a, b]) {
    await subscribe(c, { channel: 'orders', instType: 'ANY' });
    await subscribe(c, { channel: 'account' });
    await subscribe(c, { channel: 'balance_and_position' });
  }
  const sell = await op(a, 'order', [order('sell', '100', '0.002')]);
  assert.equal(sell.code, '0');
  const sellId = String(sell.data[0]!['ordId']);
  const buy = await call(v.app, v.port, v.bob, 'POST', '/api/v5/trade/order', JSON.stringify(order('buy', '100', '0.001')));
  assert.equal(buy.body.code, '0');
  const buyId = String((buy.body.data[0] as Row)['ordId']);
  const filled = (id: string) => (m: Message) => push('orders')(m) && ((m as Row)['data'] as Row[]).some((r) => r['ordId'] === id && r['tradeId'] !== '');
  const aFill = await a.take(filled(sellId), 'alice\'s fill');
  const bFill = await b.take(filled(buyId), 'bob\'s fill');
  const aRow = (aFill['data'] as Row[]).find((r) => r['tradeId'] !== '')!;
  const bRow = (bFill['data'] as Row[]).find((r) => r['tradeId'] !== '')!;
  assert.deepEqual([aRow['state'], aRow['fillPx'], aRow['fillSz'], aRow['accFillSz'], aRow['execType'], aRow['side']], ['partially_filled', '100', '0.001', '0.001', 'M', 'sell']);
  assert.deepEqual([bRow['state'], bRow['fillPx'], bRow['fillSz'], bRow['execType'], bRow['side']], ['filled', '100', '0.001', 'T', 'buy']);
  assert.equal(aRow['tradeId'], bRow['tradeId']);
  await a.take(push('balance_and_position'), 'alice\'s balance_and_position snapshot');
  const aTrade = await a.take((m) => push('balance_and_position')(m) && ((m as Row)['data'] as Row[])[0]!['eventType'] === 'filled', 'alice\'s balance_and_position after the fill');
  assert.deepEqual((((aTrade['data'] as Row[])[0]!['trades']) as Row[]).map((t) => t['tradeId']), [aRow['tradeId']]);
  await b.until(() => b.inbox.some((m) => push('account')(m) && (m as Row)['eventType'] === 'event_update'), 'bob\'s account update');
  // Everything each received was theirs: their uid on every push, their orders only.
  for (const [client, who, own] of [[a, v.alice, sellId], [b, v.bob, buyId]] as const) {
    for (const m of [...client.inbox, client === a ? aFill : bFill]) {
      if (typeof m === 'string' || m['arg'] === undefined || m['event'] !== undefined) continue;
      assert.equal((m['arg'] as Row)['uid'], String(who.userId));
      if ((m['arg'] as Row)['channel'] === 'orders') for (const r of m['data'] as Row[]) assert.equal(r['ordId'], own);
    }
  }
});

test('login refusals over the socket: each OKX code; the public URL refuses login (60008); private channels and ops need a login (60011)', async () => {
  const v = await setup();
  const c = await connect(v);
  const seconds = Math.floor(v.port.now() / 1000);
  const cases: [Row, string][] = [
    [loginMessage(v, v.alice, { sign: loginSign('wrong', String(seconds)) }), '60007'],
    [loginMessage(v, v.alice, { timestamp: String(seconds - 31) }), '60006'],
    [loginMessage(v, v.alice, { apiKey: 'key-nobody' }), '60005'],
    [loginMessage(v, v.alice, { passphrase: 'guess' }), '60024'],
    [{ op: 'login', args: [] }, '60013'],
  ];
  for (const [message, code] of cases) {
    c.send(message);
    const reply = await c.take(loginReply, `login reply ${code}`);
    assert.deepEqual([reply['event'], reply['code']], ['error', code], JSON.stringify(reply));
  }
  c.send({ op: 'subscribe', args: [{ channel: 'orders', instType: 'ANY' }] });
  assert.equal((await c.take(event('error'), 'subscribe refusal'))['code'], '60011');
  const refused = await op(c, 'order', [order('buy', '100', '0.001')]);
  assert.equal(refused.code, '60011');
  const pub = await connect(v, '/ws/v5/public');
  pub.send(loginMessage(v, v.alice));
  assert.equal((await pub.take(loginReply, 'login on public'))['code'], '60008');
  pub.send({ id: '1', op: 'order', args: [order('buy', '100', '0.001')] });
  assert.equal((await pub.take(event('error'), 'order op on public'))['code'], '60019');
  // The connection still works after refusals: the right login succeeds.
  c.send(loginMessage(v, v.alice));
  assert.equal((await c.take(loginReply, 'login'))['code'], '0');
  c.send(loginMessage(v, v.bob));
  assert.equal((await c.take(loginReply, 'login with another key'))['code'], '60031');
});

test('a key with an IP allowlist that excludes the client cannot log in (60009)', async () => {
  const v = await setup();
  const dave = addTrader(v.port, 'dave', {}, {}, { ips: ['10.1.2.3'] });
  const c = await connect(v);
  c.send(loginMessage(v, dave));
  const reply = await c.take(loginReply, 'login reply');
  assert.deepEqual([reply['event'], reply['code']], ['error', '60009']);
});

test('a read_only key logs in and subscribes, but every order op gets 50120 and nothing is submitted', async () => {
  const v = await setup();
  const reader = addTrader(v.port, 'reader', { USDT: '1000000000' }, {}, { perms: ['read_only'] });
  const c = await loggedIn(v, reader);
  await subscribe(c, { channel: 'orders', instType: 'SPOT' });
  await subscribe(c, { channel: 'account' });
  const before = v.port.submissions;
  for (const [name, args] of [
    ['order', [order('buy', '100', '0.001')]], ['batch-orders', [order('buy', '100', '0.001')]],
    ['cancel-order', [{ instId: 'BTC-USDT', ordId: '1' }]], ['batch-cancel-orders', [{ ordId: '1' }]],
    ['amend-order', [{ instId: 'BTC-USDT', ordId: '1', newPx: '101' }]],
  ] as const) {
    const r = await op(c, name, args);
    assert.equal(r.code, '50120', name);
    assert.deepEqual(r.data, []);
  }
  assert.equal(v.port.submissions, before);
});

test('while the node is not serving, order ops get 50001 and a login is refused (50001); nothing is submitted', async () => {
  const v = await setup();
  const c = await loggedIn(v, v.alice);
  const other = await connect(v);
  v.port.state = 'stopped';
  const before = v.port.submissions;
  const r = await op(c, 'batch-orders', [order('buy', '100', '0.001')]);
  assert.deepEqual([r.code, r.data], ['50001', []]);
  other.send(loginMessage(v, v.bob));
  assert.equal((await other.take(loginReply, 'login while stopped'))['code'], '50001');
  assert.equal(v.port.submissions, before);
  v.port.state = 'serving';
  assert.equal((await op(c, 'order', [order('buy', '100', '0.001')])).code, '0');
});

test('rate limit: WS and REST order entry share one budget per user and instrument; over it the op gets 50011 with its id', async () => {
  const v = await setup({ rateLimits: { 'POST /api/v5/trade/order': { requests: 3, windowMs: 60_000 } } });
  const c = await loggedIn(v, v.alice);
  assert.equal((await op(c, 'order', [order('buy', '100', '0.001')])).code, '0');
  assert.equal((await op(c, 'order', [order('buy', '100', '0.001')])).code, '0');
  const rest = await call(v.app, v.port, v.alice, 'POST', '/api/v5/trade/order', JSON.stringify(order('buy', '100', '0.001')));
  assert.equal(rest.body.code, '0');
  const limited = await op(c, 'order', [order('buy', '100', '0.001')]);
  assert.deepEqual([limited.code, limited['msg'], limited.data], ['50011', 'Too Many Requests', []]);
  const restLimited = await call(v.app, v.port, v.alice, 'POST', '/api/v5/trade/order', JSON.stringify(order('buy', '100', '0.001')));
  assert.deepEqual([restLimited.status, restLimited.body.code], [429, '50011']);
  const eth = await op(c, 'order', [{ ...order('buy', '100', '0.001'), instId: 'ETH-USDT' }]);
  assert.equal(eth.code, '0', 'another instrument, another budget');
});

test('pipelining: 300 order ops sent at once on one connection each get their own reply, beyond the per-second message bound', async () => {
  const v = await setup();
  const c = await loggedIn(v, v.alice);
  const n = 300;
  for (let i = 0; i < n; i++) c.send({ id: `p${String(i)}`, op: 'order', args: [order(i % 2 === 0 ? 'buy' : 'sell', i % 2 === 0 ? '99' : '101', '0.001')] });
  await c.until(() => c.inbox.filter((m) => typeof m !== 'string' && typeof m['id'] === 'string' && m['id'].startsWith('p')).length === n, 'every reply');
  const replies = c.inbox.filter((m): m is Row => typeof m !== 'string' && typeof m['id'] === 'string' && m['id'].startsWith('p'));
  assert.deepEqual(new Set(replies.map((r) => r['id'])).size, n);
  assert.ok(replies.every((r) => r['code'] === '0'), JSON.stringify(replies.find((r) => r['code'] !== '0')));
  assert.ok(!c.inbox.some(event('error', '60014')), 'order ops are not held to the message rate');
  assert.equal(v.port.queries.openOrders(v.alice.userId, { limit: 1_000 }).length, n);
});

test('a revoked key: its logged-in connection is closed (4013), so its private subscriptions stop; another user\'s stays open', async () => {
  const v = await setup({ rateLimits: false }, 10);
  const alice = await loggedIn(v, v.alice);
  await subscribe(alice, { channel: 'orders', instType: 'SPOT' });
  const bob = await loggedIn(v, v.bob);
  await subscribe(bob, { channel: 'orders', instType: 'SPOT' });
  const result = v.port.applyNow([{ type: 'RevokeApiKey', apiKey: v.alice.apiKey }])[0]!;
  assert.ok(result.ok, JSON.stringify(result));
  const closed = await alice.closed;
  assert.equal(closed.code, WsCloses.keyRevoked.code);
  assert.match(closed.reason, /revoked/);
  const placed = await op(bob, 'order', [order('buy', '100', '0.001')]);
  assert.equal(placed.code, '0', JSON.stringify(placed));
  await bob.take(push('orders'), 'bob still receives his orders');
  assert.equal(bob.isClosed, undefined);
});

test('order ops before login count against the message rate (60014), so an unauthenticated flood is bounded', async () => {
  const v = await setup();
  const c = await connect(v);
  for (let i = 0; i < 200; i++) c.send({ id: `f${String(i)}`, op: 'order', args: [order('buy', '100', '0.001')] });
  const limited = await c.take(event('error', '60014'), 'the message-rate refusal');
  assert.equal(limited['code'], '60014');
  assert.equal(v.port.submissions, 0);
});
