// Acceptance test of the private WebSocket side with an unchanged ccxt.pro 4.5.84 `okx` client
// against a real `everbook start` process: watchBalance (login, account snapshot, updates),
// watchOrders and watchMyTrades (the orders channel's fill fields), and order entry with
// createOrderWs (which sends batch-orders), editOrderWs, cancelOrderWs and cancelOrdersWs
// (which send only ordIds). Every wait ends on a message or at a bounded deadline.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ccxt, { type Balances, type Order, type Trade } from 'ccxt';
import type { Credentials } from './support/okx-client.js';
import { kill, startServer, type ServerProcess } from './support/server-process.js';

type Pro = InstanceType<typeof ccxt.pro.okx>;
type Row = Record<string, unknown>;

const SYMBOL = 'BTC/USDT';
/** How long any single wait for the server may take before the test fails. */
const DEADLINE_MS = 15_000;

function proClient(url: string, creds: Credentials): Pro {
  return new ccxt.pro.okx({
    apiKey: creds.apiKey, secret: creds.secretKey, password: creds.passphrase,
    urls: { api: { rest: url, ws: `${url.replace(/^http/, 'ws')}/ws/v5` } },
    options: { fetchMarkets: { types: ['spot'] } },
    has: { fetchCurrencies: false },
    enableRateLimit: false,
  });
}

/** Resolves as the promise does, or rejects at the deadline (the promise is left to settle alone). */
function within<T>(promise: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`${what}: nothing within ${String(ms)} ms`)); }, ms); });
  return Promise.race([promise, deadline]).finally(() => { clearTimeout(timer); });
}

/** Calls `watch` until what it returns passes `done` (each call waits for the next update), up to the deadline. */
async function watchUntil<T>(watch: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const end = Date.now() + DEADLINE_MS;
  for (;;) {
    const left = end - Date.now();
    if (left <= 0) throw new Error(`${what}: not within ${String(DEADLINE_MS)} ms`);
    const value = await within(watch(), what, left);
    if (done(value)) return value;
  }
}

/** Frames the client sends on its private socket and every message it handles. */
function record(ex: Pro): { sent: Row[]; received: Row[] } {
  const sent: Row[] = [];
  const received: Row[] = [];
  // Wrapped before the client exists: ccxt binds handleMessage when it makes the client.
  const handle = ex.handleMessage.bind(ex);
  ex.handleMessage = (c: Parameters<Pro['handleMessage']>[0], message: unknown) => {
    if (typeof message === 'object' && message !== null) received.push(message as Row);
    handle(c, message);
  };
  const url = `${String(ex.urls['api']['ws'])}/private`;
  const client = ex.client(url);
  const send = client.send.bind(client);
  client.send = (message: unknown) => {
    sent.push(message as Row);
    return send(message);
  };
  return { sent, received };
}

function orderId(order: Order): string {
  assert.ok(order.id !== undefined && /^\d+$/.test(order.id), `an order id: ${String(order.id)}`);
  return order.id;
}

describe('ccxt.pro okx (unchanged, 4.5.84) on the private WebSocket of a real everbook process', { timeout: 180_000 }, () => {
  let dir = '';
  let server: ServerProcess | undefined;
  let a: Pro;
  let b: Pro;
  let aFrames: { sent: Row[]; received: Row[] };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everbook-ws-ccxt-'));
    server = await startServer(dir, ['--rate-limits', 'false']);
    a = proClient(server.url, server.traders[0]!);
    b = proClient(server.url, server.traders[1]!);
    // ccxt.pro refuses plain ws:// URLs until its HTTP agent is loaded.
    await a.loadHttpProxyAgent();
    await b.loadHttpProxyAgent();
    aFrames = record(a);
  });

  after(async () => {
    for (const ex of [a, b]) await ex.close();
    if (server !== undefined) await kill(server);
    await rm(dir, { recursive: true, force: true });
  });

  test('watchBalance: login, the account snapshot, then the hold of a new order', async () => {
    const first: Balances = await within(a.watchBalance(), 'watchBalance snapshot');
    assert.deepEqual([first['BTC']?.total, first['BTC']?.free, first['BTC']?.used], [10, 10, 0]);
    assert.equal(first['USDT']?.total, 100_000);
    const login = aFrames.sent.find((f) => f['op'] === 'login');
    assert.ok(login !== undefined, 'ccxt logged in on the private socket');
    assert.ok(aFrames.received.some((m) => m['event'] === 'login' && m['code'] === '0'));
    const next = a.watchBalance();
    const sell = await within(a.createOrderWs(SYMBOL, 'limit', 'sell', 0.01, 90_000), 'createOrderWs');
    const held = await within(next, 'watchBalance update');
    assert.deepEqual([held['BTC']?.total, held['BTC']?.free, held['BTC']?.used], [10, 9.99, 0.01]);
    await within(a.cancelOrderWs(orderId(sell), SYMBOL), 'cancelOrderWs');
  });

  test('createOrderWs sends batch-orders; watchOrders and watchMyTrades see the order, its fill and the fill fields on both sides', async () => {
    const aOrders = a.watchOrders(SYMBOL);
    const sell = await within(a.createOrderWs(SYMBOL, 'limit', 'sell', 0.01, 30_000), 'createOrderWs');
    const sellId = orderId(sell);
    const placeFrame = aFrames.sent.filter((f) => f['op'] !== 'login' && f['op'] !== 'subscribe').at(-1);
    assert.equal(placeFrame?.['op'], 'batch-orders', 'ccxt.pro places with batch-orders by default');
    const reply = aFrames.received.find((m) => m['id'] === placeFrame['id']);
    assert.deepEqual([reply?.['code'], reply?.['msg']], ['0', '']);
    assert.match(String(reply?.['inTime']), /^\d{16}$/);
    const placed = await within(aOrders, 'watchOrders');
    const open = placed.find((o) => o.id === sellId);
    assert.deepEqual([open?.status, open?.amount, open?.price, open?.side], ['open', 0.01, 30_000, 'sell']);

    const aTrades = a.watchMyTrades(SYMBOL);
    const bTrades = b.watchMyTrades(SYMBOL);
    // b subscribes before it trades: its subscribe goes out first on its own private socket.
    const buy = await within(b.createOrderWs(SYMBOL, 'limit', 'buy', 0.004, 30_100), 'taker createOrderWs');
    const buyId = orderId(buy);
    const [maker] = (await within(aTrades, 'maker watchMyTrades')).filter((t) => t.order === sellId) as [Trade];
    const [taker] = (await within(bTrades, 'taker watchMyTrades')).filter((t) => t.order === buyId) as [Trade];
    assert.equal(maker.id, taker.id, 'one trade id on both sides');
    assert.deepEqual([maker.side, maker.takerOrMaker, maker.price, maker.amount], ['sell', 'maker', 30_000, 0.004]);
    assert.deepEqual([taker.side, taker.takerOrMaker, taker.price, taker.amount], ['buy', 'taker', 30_000, 0.004]);
    // Fees as OKX's orders channel gives them (negative when charged): maker 0.08% of 120 USDT, taker 0.1% of 0.004 BTC.
    assert.deepEqual(maker.fee, { cost: -0.096, currency: 'USDT' });
    assert.deepEqual(taker.fee, { cost: -0.000004, currency: 'BTC' });
    const info = maker.info as Row;
    assert.deepEqual([info['fillPx'], info['fillSz'], info['fillFee'], info['fillFeeCcy'], info['execType'], info['state'], info['accFillSz']],
      ['30000', '0.004', '-0.096', 'USDT', 'M', 'partially_filled', '0.004']);
    assert.equal(info['fillTime'], String(maker.timestamp));

    // The orders push that carried the fill also updated ccxt's order cache.
    const cached = ([...(a.orders ?? [])] as Order[]).find((o) => o.id === sellId);
    assert.deepEqual([cached?.status, cached?.filled, cached?.remaining], ['open', 0.004, 0.006]);
  });

  test('editOrderWs amends; cancelOrderWs cancels by ordId alone (ccxt sends no instId)', async () => {
    const order = await within(a.createOrderWs(SYMBOL, 'limit', 'sell', 0.01, 95_000), 'createOrderWs');
    const id = orderId(order);
    const edited = await within(a.editOrderWs(id, SYMBOL, 'limit', 'sell', 0.02, 96_000), 'editOrderWs');
    assert.equal(edited.id, id);
    const amended = await a.fetchOrder(id, SYMBOL);
    assert.deepEqual([amended.price, amended.amount, amended.status], [96_000, 0.02, 'open']);
    const canceled = await within(a.cancelOrderWs(id, SYMBOL), 'cancelOrderWs');
    assert.equal(canceled.id, id);
    const cancelFrame = aFrames.sent.filter((f) => f['op'] === 'cancel-order').at(-1);
    assert.deepEqual(JSON.parse(JSON.stringify(cancelFrame?.['args'])), [{ ordId: id }], 'ccxt.pro 4.5.84 names the order by ordId only');
    assert.equal((await a.fetchOrder(id, SYMBOL)).status, 'canceled');
  });

  test('cancelOrdersWs: every order canceled and answered in one batch-cancel-orders reply', async () => {
    const ids: string[] = [];
    for (const px of [97_000, 97_100, 97_200]) ids.push(orderId(await within(a.createOrderWs(SYMBOL, 'limit', 'sell', 0.001, px), 'createOrderWs')));
    // ccxt.pro 4.5.84 sends batch-cancel-orders but has no handler for OKX's reply to it (its
    // handleMessage table lacks 'batch-cancel-orders'), so its promise does not settle on success
    // (nor would it against OKX). The reply is checked as ccxt receives it, and the orders' state.
    const pending = a.cancelOrdersWs(ids, SYMBOL);
    pending.catch(() => undefined);
    const replyOf = (): Row | undefined => {
      const frame = aFrames.sent.find((f) => f['op'] === 'batch-cancel-orders');
      return frame === undefined ? undefined : aFrames.received.find((m) => m['id'] === frame['id']);
    };
    // The reply goes out before the cancellations' pushes: wait on the pushes, then look.
    await watchUntil(() => a.watchOrders(SYMBOL), () => replyOf() !== undefined, 'the batch-cancel-orders reply');
    const reply = replyOf();
    assert.ok(reply !== undefined, 'the batch-cancel-orders reply arrived');
    assert.deepEqual([reply['op'], reply['code'], reply['msg']], ['batch-cancel-orders', '0', '']);
    assert.deepEqual((reply['data'] as Row[]).map((d) => [d['ordId'], d['sCode']]), ids.map((id) => [id, '0']));
    for (const id of ids) assert.equal((await a.fetchOrder(id, SYMBOL)).status, 'canceled');
  });
});
