// The OKX v5 REST gateway, request by request, through fastify's inject with real signatures:
// authentication and each of its failure codes, the envelope, every endpoint's main path and
// main errors, batch codes 0/1/2, rate limits, exact decimal conversion, and the error table
// against the engine's codes and docs/API.md.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { rejectCodes, stateHash } from '../src/core/index.js';
import {
  ApiErrors, createGateway, depositAddress, errorTableMarkdown, rejectMap, rejectOverrides, rejectTableMarkdown,
  type GatewayOptions,
} from '../src/gateway/index.js';
import type { LogCommand } from '../src/replica/index.js';
import { addTrader, call, venue, type MemoryPort, type Trader } from './support/memory-port.js';

type Row = Record<string, unknown>;

function setup(options: GatewayOptions = { rateLimits: false }) {
  const v = venue();
  const app = createGateway(v.port, options);
  return { ...v, app };
}

function rows(reply: { body: { data: unknown[] } }): Row[] {
  return reply.body.data as Row[];
}

function order(fields: Row): string {
  return JSON.stringify({ instId: 'BTC-USDT', tdMode: 'cash', ...fields });
}

async function place(app: ReturnType<typeof setup>['app'], port: MemoryPort, who: Trader, fields: Row) {
  return call(app, port, who, 'POST', '/api/v5/trade/order', order(fields));
}

// ------------------------------------------------------------------ authentication

test('auth: a correctly signed request is accepted, and the window is 30 s both ways', async () => {
  const { app, port, alice } = setup();
  const ok = await call(app, port, alice, 'GET', '/api/v5/account/balance');
  assert.equal(ok.status, 200);
  assert.equal(ok.body.code, '0');
  for (const skew of [-30_000, 30_000]) {
    const r = await call(app, port, alice, 'GET', '/api/v5/account/balance', undefined, { timestamp: new Date(port.now() + skew).toISOString() });
    assert.equal(r.body.code, '0', `skew ${String(skew)}`);
  }
  for (const skew of [-30_001, 30_001]) {
    const r = await call(app, port, alice, 'GET', '/api/v5/account/balance', undefined, { timestamp: new Date(port.now() + skew).toISOString() });
    assert.equal(r.body.code, '50102', `skew ${String(skew)}`);
    assert.equal(r.status, 401);
  }
});

test('auth: each failure has its OKX code', async () => {
  const { app, port, alice } = setup();
  const url = '/api/v5/account/balance';
  const cases: [string, Parameters<typeof call>[6], string][] = [
    ['no key', { headers: { 'ok-access-key': undefined } }, '50103'],
    ['no passphrase', { headers: { 'ok-access-passphrase': undefined } }, '50104'],
    ['no timestamp', { headers: { 'ok-access-timestamp': undefined } }, '50107'],
    ['no sign', { headers: { 'ok-access-sign': undefined } }, '50106'],
    ['malformed timestamp', { timestamp: '1700000000' }, '50112'],
    ['timestamp not a date', { timestamp: '2025-13-45T99:99:99.000Z' }, '50112'],
    ['unknown key', { headers: { 'ok-access-key': 'nobody' } }, '50111'],
    ['wrong passphrase', { headers: { 'ok-access-passphrase': 'guess' } }, '50105'],
    ['wrong secret', { secret: 'not-the-secret' }, '50113'],
    ['garbage sign', { headers: { 'ok-access-sign': '!!!' } }, '50113'],
  ];
  for (const [name, options, code] of cases) {
    const r = await call(app, port, alice, 'GET', url, undefined, options);
    assert.equal(r.body.code, code, name);
    assert.equal(r.status, 401, name);
    assert.deepEqual(r.body.data, [], name);
  }
  const none = await call(app, port, undefined, 'GET', url);
  assert.equal(none.body.code, '50103');
});

test('auth: the signature covers the query string and the raw body bytes', async () => {
  const { app, port, alice } = setup();
  const { sign } = await import('../src/gateway/auth.js');
  const ts = new Date(port.now()).toISOString();
  const headers = {
    'ok-access-key': alice.apiKey, 'ok-access-passphrase': alice.passphrase, 'ok-access-timestamp': ts,
    'ok-access-sign': sign(alice.secret, ts, 'GET', '/api/v5/account/balance?ccy=BTC', ''),
  };
  const tampered = await app.inject({ method: 'GET', url: '/api/v5/account/balance?ccy=USDT', headers });
  assert.equal((JSON.parse(tampered.body) as Row)['code'], '50113');
  // The same JSON with different whitespace is a different body: it must be signed as sent.
  const body = '{"instId": "BTC-USDT", "ordId": "1"}';
  const signedCompact = sign(alice.secret, ts, 'POST', '/api/v5/trade/cancel-order', JSON.stringify(JSON.parse(body)));
  const r = await app.inject({
    method: 'POST', url: '/api/v5/trade/cancel-order', payload: body,
    headers: { ...headers, 'content-type': 'application/json', 'ok-access-sign': signedCompact },
  });
  assert.equal((JSON.parse(r.body) as Row)['code'], '50113');
});

// ------------------------------------------------------------------ envelope and public data

test('envelope: strings everywhere, data always an array, unknown routes get a coded 404', async () => {
  const { app, port } = setup();
  const time = await call(app, port, undefined, 'GET', '/api/v5/public/time');
  assert.deepEqual(time.body, { code: '0', msg: '', data: [{ ts: String(port.now()) }] });
  const missing = await call(app, port, undefined, 'GET', '/api/v5/no/such/thing');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.body, { code: '404', msg: 'Not Found', data: [] });
  const wrongMethod = await call(app, port, undefined, 'DELETE', '/api/v5/public/time');
  assert.equal(wrongMethod.body.code, '404');
  const status = await call(app, port, undefined, 'GET', '/api/v5/system/status');
  assert.deepEqual(status.body.data, []);
  port.state = 'diverged';
  const down = await call(app, port, undefined, 'GET', '/api/v5/system/status');
  assert.equal(rows(down)[0]!['state'], 'ongoing');
  // A replica that is not serving answers nothing from its state: clients fail over.
  const books = await call(app, port, undefined, 'GET', '/api/v5/market/books?instId=BTC-USDT');
  assert.equal(books.status, 503);
  assert.equal(books.body.code, '50001');
});

test('public/instruments: spot instruments as ccxt reads them; other types are empty', async () => {
  const { app, port } = setup();
  const r = await call(app, port, undefined, 'GET', '/api/v5/public/instruments?instType=SPOT');
  const btc = rows(r).find((i) => i['instId'] === 'BTC-USDT')!;
  assert.deepEqual(
    { baseCcy: btc['baseCcy'], quoteCcy: btc['quoteCcy'], tickSz: btc['tickSz'], lotSz: btc['lotSz'], minSz: btc['minSz'], maxLmtSz: btc['maxLmtSz'], state: btc['state'], instType: btc['instType'] },
    { baseCcy: 'BTC', quoteCcy: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.001', maxLmtSz: '1000', state: 'live', instType: 'SPOT' },
  );
  const one = await call(app, port, undefined, 'GET', '/api/v5/public/instruments?instType=SPOT&instId=ETH-USDT');
  assert.deepEqual(rows(one).map((i) => i['instId']), ['ETH-USDT']);
  const option = await call(app, port, undefined, 'GET', '/api/v5/public/instruments?instType=OPTION&uly=BTC-USD');
  assert.deepEqual(option.body, { code: '0', msg: '', data: [] });
  const none = await call(app, port, undefined, 'GET', '/api/v5/public/instruments');
  assert.equal(none.body.code, '50014');
  const extra = await call(app, port, undefined, 'GET', '/api/v5/public/instruments?instType=SPOT&foo=1');
  assert.deepEqual([extra.body.code, extra.body.msg], ['51000', 'Parameter foo error']);
  const twice = await call(app, port, undefined, 'GET', '/api/v5/public/instruments?instType=SPOT&instType=SPOT');
  assert.equal(twice.body.code, '51000');
});

test('market data: books ascending asks and descending bids, ticker, trades and candles after a trade', async () => {
  const { app, port, alice, bob } = setup();
  for (const [px, sz] of [['20000', '0.5'], ['20001.5', '0.25'], ['20000', '0.1']] as const) {
    assert.equal((await place(app, port, alice, { side: 'sell', ordType: 'limit', px, sz })).body.code, '0');
  }
  for (const px of ['19999', '19990.01']) {
    assert.equal((await place(app, port, bob, { side: 'buy', ordType: 'limit', px, sz: '1' })).body.code, '0');
  }
  const books = await call(app, port, undefined, 'GET', '/api/v5/market/books?instId=BTC-USDT&sz=100');
  const book = rows(books)[0]!;
  assert.deepEqual(book['asks'], [['20000', '0.6', '0', '2'], ['20001.5', '0.25', '0', '1']]);
  assert.deepEqual(book['bids'], [['19999', '1', '0', '1'], ['19990.01', '1', '0', '1']]);
  const top = await call(app, port, undefined, 'GET', '/api/v5/market/books?instId=BTC-USDT');
  assert.equal((rows(top)[0]!['asks'] as unknown[]).length, 1, 'OKX default depth is 1');
  const deep = await call(app, port, undefined, 'GET', '/api/v5/market/books-full?instId=BTC-USDT&sz=99999');
  assert.equal(deep.body.code, '0');
  assert.equal((await call(app, port, undefined, 'GET', '/api/v5/market/books?instId=NOPE-USDT')).body.code, '51001');
  assert.equal((await call(app, port, undefined, 'GET', '/api/v5/market/books?instId=BTC-USDT&sz=-1')).body.code, '51000');

  // Bob takes 0.55 at 20000: two fills against alice's queue.
  assert.equal((await place(app, port, bob, { side: 'buy', ordType: 'limit', px: '20000', sz: '0.55' })).body.code, '0');
  const ticker = rows(await call(app, port, undefined, 'GET', '/api/v5/market/ticker?instId=BTC-USDT'))[0]!;
  assert.deepEqual(
    [ticker['last'], ticker['askPx'], ticker['askSz'], ticker['bidPx'], ticker['vol24h'], ticker['volCcy24h']],
    ['20000', '20000', '0.05', '19999', '0.55', '11000'],
  );
  const tickers = await call(app, port, undefined, 'GET', '/api/v5/market/tickers?instType=SPOT');
  assert.equal(rows(tickers).length, 2);
  const trades = rows(await call(app, port, undefined, 'GET', '/api/v5/market/trades?instId=BTC-USDT&limit=1'));
  assert.equal(trades.length, 1);
  assert.deepEqual([trades[0]!['px'], trades[0]!['sz'], trades[0]!['side']], ['20000', '0.05', 'buy']);
  const candles = await call(app, port, undefined, 'GET', '/api/v5/market/candles?instId=BTC-USDT&bar=1m&limit=5');
  const candle = rows(candles)[0] as unknown as string[];
  assert.deepEqual(candle.slice(1), ['20000', '20000', '20000', '20000', '0.55', '11000', '11000', '0']);
  assert.equal((await call(app, port, undefined, 'GET', '/api/v5/market/candles?instId=BTC-USDT&bar=7m')).body.code, '51000');
  assert.equal((await call(app, port, undefined, 'GET', '/api/v5/market/candles?instId=BTC-USDT&bar=toString')).body.code, '51000');
});

test('market data: quote volume past 2^53 minor units is exact on the wire, in the ticker and in candles', async () => {
  const { app, port } = setup();
  // QQ has 2 decimals and one tick x one lot is one minor unit: the trades are worth 2^53 - 1
  // and 2 minor units, so the exact total, 2^53 + 1, is odd and no float holds it.
  const bigLots = 20_394_401;
  const bigTicks = 441_650_591; // bigTicks x bigLots = 2^53 - 1
  const asset = (id: string, scale: number): LogCommand => ({ type: 'SetAsset', asset: id, scale, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false });
  const instId = 'BIG-QQ';
  for (const r of port.applyNow([
    asset('BIG', 0), asset('QQ', 2),
    { type: 'SetInstrument', instId, base: 'BIG', quote: 'QQ', tickSz: '0.01', lotSz: '1', minSz: '1', maxSz: String(bigLots), maxPx: '4416505.91', bandBps: 1, state: 'live' },
  ])) assert.ok(r.ok);
  const seller = addTrader(port, 'seller', { BIG: String(bigLots + 2) });
  const buyer = addTrader(port, 'buyer', { QQ: (2n ** 54n).toString() });
  for (const [priceTicks, sizeLots] of [[bigTicks, bigLots], [1, 2]] as const) {
    const [sell, buy] = port.applyNow([
      { type: 'PlaceOrder', userId: seller.userId, instId, side: 'sell', orderType: 'limit', priceTicks, sizeLots },
      { type: 'PlaceOrder', userId: buyer.userId, instId, side: 'buy', orderType: 'ioc', priceTicks, sizeLots },
    ]);
    assert.ok(sell?.ok === true && buy?.ok === true && buy.state === 'filled');
  }
  const ticker = rows(await call(app, port, undefined, 'GET', `/api/v5/market/ticker?instId=${instId}`))[0]!;
  assert.deepEqual([ticker['vol24h'], ticker['volCcy24h']], [String(bigLots + 2), '90071992547409.93']);
  const candle = rows(await call(app, port, undefined, 'GET', `/api/v5/market/candles?instId=${instId}&bar=1D`))[0] as unknown as string[];
  assert.deepEqual(candle.slice(5, 8), [String(bigLots + 2), '90071992547409.93', '90071992547409.93']);
});

// ------------------------------------------------------------------ trading

test('trade/order: conversions are exact, and malformed numbers never reach the engine', async () => {
  const { app, port, alice } = setup();
  const before = stateHash(port.engine);
  const submissions = port.submissions;
  const cases: [Row, string][] = [
    [{ side: 'buy', ordType: 'limit', px: '20000.001', sz: '0.001' }, '51006'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '0.00015' }, '51121'],
    [{ side: 'buy', ordType: 'limit', px: '99999999999999999', sz: '0.001' }, '51006'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1e3' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '-1' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '0' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '123456789012345678901234567890' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: 1 }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: ' 1' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '01' }, '51000'],
    [{ side: 'buy', ordType: 'limit', sz: '1' }, '50014'],
    [{ side: 'buy', ordType: 'stop', px: '20000', sz: '1' }, '51000'],
    [{ side: 'hold', ordType: 'limit', px: '20000', sz: '1' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1', tdMode: 'cross' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1', clOrdId: 'has-dash' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1', tag: '12345678901234567' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1', reduceOnly: true }, '51205'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1', tgtCcy: 'quote_ccy' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1', leverage: '3' }, '51000'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1', instId: 'DOGE-USDT' }, '51001'],
  ];
  for (const [fields, code] of cases) {
    const r = await place(app, port, alice, fields);
    assert.equal(r.body.code, '1', JSON.stringify(fields));
    assert.equal(rows(r)[0]!['sCode'], code, JSON.stringify(fields));
  }
  const unknown = await place(app, port, alice, { side: 'buy', ordType: 'limit', px: '1', sz: '1', leverage: '3' });
  assert.equal(rows(unknown)[0]!['sMsg'], 'Parameter leverage error');
  assert.equal(port.submissions, submissions);
  assert.equal(stateHash(port.engine), before);
});

test('trade/order: the instrument\'s limits are decided by the engine alone, with the same OKX codes', async () => {
  const { app, port, alice } = setup();
  const cases: [Row, string][] = [
    [{ side: 'buy', ordType: 'limit', px: '0', sz: '0.001' }, '51006'],
    [{ side: 'buy', ordType: 'limit', px: '2000000', sz: '0.001' }, '51006'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '0.0005' }, '51020'],
    [{ side: 'buy', ordType: 'limit', px: '20000', sz: '1001' }, '51203'],
    [{ side: 'buy', ordType: 'market', sz: '1001', tgtCcy: 'base_ccy' }, '51203'],
  ];
  for (const [fields, code] of cases) {
    const submissions = port.submissions;
    const r = await place(app, port, alice, fields);
    assert.equal(r.body.code, '1', JSON.stringify(fields));
    assert.equal(rows(r)[0]!['sCode'], code, JSON.stringify(fields));
    // The gateway parsed it into a well-formed command; the engine refused it (one place decides).
    assert.equal(port.submissions, submissions + 1, JSON.stringify(fields));
  }
});

test('trade/order: an order round-trips with the fields ccxt parses', async () => {
  const { app, port, alice, bob } = setup({ rateLimits: false });
  port.applyNow([{ type: 'SetUserConfig', userId: alice.userId, makerFeePpm: 800, takerFeePpm: 1000 }]);
  port.applyNow([{ type: 'SetUserConfig', userId: bob.userId, makerFeePpm: 800, takerFeePpm: 1000 }]);
  const placed = await place(app, port, alice, { side: 'sell', ordType: 'limit', px: '20000.01', sz: '0.3', clOrdId: 'abc123', tag: '6b9ad766b55dBCDE' });
  assert.equal(placed.body.code, '0');
  const item = rows(placed)[0]!;
  assert.deepEqual([item['clOrdId'], item['tag'], item['sCode']], ['abc123', '6b9ad766b55dBCDE', '0']);
  const ordId = item['ordId'] as string;
  port.clockMs += 1_000;
  // Bob buys 0.1 with a market order by quote: 2000.001 USDT buys 0.1 BTC at 20000.01.
  const market = await place(app, port, bob, { side: 'buy', ordType: 'market', sz: '2000.001', tgtCcy: 'quote_ccy' });
  assert.equal(market.body.code, '0');
  const q = await call(app, port, alice, 'GET', `/api/v5/trade/order?instId=BTC-USDT&ordId=${ordId}`);
  const o = rows(q)[0]!;
  assert.deepEqual(
    {
      state: o['state'], px: o['px'], sz: o['sz'], accFillSz: o['accFillSz'], avgPx: o['avgPx'], fee: o['fee'], feeCcy: o['feeCcy'],
      fillPx: o['fillPx'], fillSz: o['fillSz'], instType: o['instType'], ordType: o['ordType'], clOrdId: o['clOrdId'],
      tdMode: o['tdMode'], tgtCcy: o['tgtCcy'], reduceOnly: o['reduceOnly'], category: o['category'],
    },
    {
      state: 'partially_filled', px: '20000.01', sz: '0.3', accFillSz: '0.1', avgPx: '20000.01', fee: '-1.600001', feeCcy: 'USDT',
      fillPx: '20000.01', fillSz: '0.1', instType: 'SPOT', ordType: 'limit', clOrdId: 'abc123',
      tdMode: 'cash', tgtCcy: '', reduceOnly: 'false', category: 'normal',
    },
  );
  assert.equal(o['cTime'], String(port.now() - 1_000));
  assert.equal(o['uTime'], String(port.now()));
  const byClOrdId = await call(app, port, alice, 'GET', '/api/v5/trade/order?instId=BTC-USDT&clOrdId=abc123');
  assert.equal(rows(byClOrdId)[0]!['ordId'], ordId);
  const bobOrder = rows(await call(app, port, bob, 'GET', `/api/v5/trade/order?instId=BTC-USDT&ordId=${rows(market)[0]!['ordId'] as string}`))[0]!;
  assert.deepEqual([bobOrder['state'], bobOrder['tgtCcy'], bobOrder['sz'], bobOrder['px'], bobOrder['fee'], bobOrder['feeCcy']], ['filled', 'quote_ccy', '2000.001', '', '-0.0001', 'BTC']);

  const fills = rows(await call(app, port, alice, 'GET', '/api/v5/trade/fills-history?instType=SPOT&instId=BTC-USDT'));
  assert.equal(fills.length, 1);
  assert.deepEqual(
    [fills[0]!['ordId'], fills[0]!['fillPx'], fills[0]!['fillSz'], fills[0]!['side'], fills[0]!['execType'], fills[0]!['fee'], fills[0]!['feeCcy']],
    [ordId, '20000.01', '0.1', 'sell', 'M', '-1.600001', 'USDT'],
  );
  assert.equal((await call(app, port, alice, 'GET', '/api/v5/trade/fills-history?instId=BTC-USDT')).body.code, '50014');
  assert.equal(rows(await call(app, port, alice, 'GET', '/api/v5/trade/fills')).length, 1);
  const pending = rows(await call(app, port, alice, 'GET', '/api/v5/trade/orders-pending?instId=BTC-USDT'));
  assert.deepEqual(pending.map((p) => p['ordId']), [ordId]);
  const history = rows(await call(app, port, bob, 'GET', '/api/v5/trade/orders-history?instType=SPOT&state=filled'));
  assert.equal(history.length, 1);
  assert.equal((await call(app, port, bob, 'GET', '/api/v5/trade/orders-history?state=filled')).body.code, '50014');

  const fee = rows(await call(app, port, alice, 'GET', '/api/v5/account/trade-fee?instType=SPOT&instId=BTC-USDT'))[0]!;
  assert.deepEqual([fee['maker'], fee['taker']], ['-0.0008', '-0.001']);

  const missing = await call(app, port, alice, 'GET', '/api/v5/trade/order?instId=BTC-USDT&ordId=999999');
  assert.equal(missing.body.code, '51603');
  const others = await call(app, port, bob, 'GET', `/api/v5/trade/order?instId=BTC-USDT&ordId=${ordId}`);
  assert.equal(others.body.code, '51603', 'another user\'s order does not exist for you');
  assert.equal((await call(app, port, bob, 'GET', '/api/v5/trade/order?instId=BTC-USDT')).body.code, '51003');
});

test('trade/batch-orders: top-level code 0 when all succeed, 2 on partial success, 1 when all fail', async () => {
  const { app, port, alice } = setup();
  const url = '/api/v5/trade/batch-orders';
  const good = { instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px: '100', sz: '0.01' };
  const all = await call(app, port, alice, 'POST', url, JSON.stringify([good, { ...good, px: '101' }]));
  assert.equal(all.body.code, '0');
  assert.deepEqual(rows(all).map((r) => r['sCode']), ['0', '0']);
  const some = await call(app, port, alice, 'POST', url, JSON.stringify([good, { ...good, px: '20000', sz: '900' }, { ...good, sz: '0.00001' }]));
  assert.deepEqual([some.body.code, some.body.msg], ['2', 'Bulk operation partially succeeded']);
  assert.deepEqual(rows(some).map((r) => r['sCode']), ['0', '51008', '51121']);
  const none = await call(app, port, alice, 'POST', url, JSON.stringify([{ ...good, px: '20000', sz: '900' }]));
  assert.deepEqual([none.body.code, none.body.msg], ['1', 'All operations failed']);
  assert.equal(rows(none)[0]!['sCode'], '51008');
  assert.equal(rows(none)[0]!['ordId'], '');
  const dup = await call(app, port, alice, 'POST', url, JSON.stringify([{ ...good, clOrdId: 'x1' }, { ...good, clOrdId: 'x1' }]));
  assert.deepEqual(rows(dup).map((r) => r['sCode']), ['0', '51016']);
  const tooMany = await call(app, port, alice, 'POST', url, JSON.stringify(Array.from({ length: 21 }, () => good)));
  assert.equal(tooMany.body.code, '51111');
  assert.equal((await call(app, port, alice, 'POST', url, '[]')).body.code, '50014');
  assert.equal((await call(app, port, alice, 'POST', url, JSON.stringify(good))).body.code, '51000');
});

test('trade/batch-orders: a post-only order that would take and an unfillable FOK succeed as items, then show canceled with cancelSource 31 and 13', async () => {
  const { app, port, alice, bob } = setup();
  const ask = await place(app, port, bob, { side: 'sell', ordType: 'limit', px: '100', sz: '0.01' });
  assert.equal(rows(ask)[0]!['sCode'], '0');
  const good = { instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', px: '100' };
  const batch = await call(app, port, alice, 'POST', '/api/v5/trade/batch-orders', JSON.stringify([
    { ...good, ordType: 'post_only', sz: '0.01', clOrdId: 'po1' }, { ...good, ordType: 'fok', sz: '0.02', clOrdId: 'fok1' },
  ]));
  assert.equal(batch.body.code, '0');
  assert.deepEqual(rows(batch).map((r) => [r['clOrdId'], r['sCode']]), [['po1', '0'], ['fok1', '0']]);
  const shown = await Promise.all(rows(batch).map(async (r) =>
    rows(await call(app, port, alice, 'GET', `/api/v5/trade/order?instId=BTC-USDT&ordId=${r['ordId'] as string}`))[0]!));
  assert.deepEqual(
    shown.map((o) => [o['ordType'], o['state'], o['accFillSz'], o['fee'], o['cancelSource'], o['cancelSourceReason']]),
    [['post_only', 'canceled', '0', '0', '31', 'post_only_would_take'], ['fok', 'canceled', '0', '0', '13', 'fok_not_fillable']],
  );
  const history = rows(await call(app, port, alice, 'GET', '/api/v5/trade/orders-history?instType=SPOT&state=canceled'));
  assert.deepEqual(history.map((o) => o['clOrdId']), ['fok1', 'po1']);
  assert.equal(rows(await call(app, port, alice, 'GET', '/api/v5/trade/orders-pending')).length, 0, 'nothing rests');
  assert.equal(rows(await call(app, port, bob, 'GET', '/api/v5/trade/orders-pending'))[0]!['state'], 'live', 'the ask is untouched');
  // Amending a resting post-only order to a price that would take is refused, as OKX does.
  const resting = rows(await place(app, port, alice, { side: 'buy', ordType: 'post_only', px: '99', sz: '0.01' }))[0]!['ordId'] as string;
  const amend = await call(app, port, alice, 'POST', '/api/v5/trade/amend-order', JSON.stringify({ instId: 'BTC-USDT', ordId: resting, newPx: '100' }));
  assert.equal(rows(amend)[0]!['sCode'], '51511');
});

test('trade/cancel-order and cancel-batch-orders: per-item results; a closed order is 51400', async () => {
  const { app, port, alice } = setup();
  const placed = await call(app, port, alice, 'POST', '/api/v5/trade/batch-orders', JSON.stringify(
    [1, 2, 3].map((i) => ({ instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px: String(100 + i), sz: '0.01', clOrdId: `c${String(i)}` })),
  ));
  const ids = rows(placed).map((r) => r['ordId'] as string);
  const one = await call(app, port, alice, 'POST', '/api/v5/trade/cancel-order', JSON.stringify({ instId: 'BTC-USDT', ordId: ids[0] }));
  assert.equal(one.body.code, '0');
  assert.deepEqual([rows(one)[0]!['ordId'], rows(one)[0]!['clOrdId'], rows(one)[0]!['sCode']], [ids[0], 'c1', '0']);
  const again = await call(app, port, alice, 'POST', '/api/v5/trade/cancel-order', JSON.stringify({ instId: 'BTC-USDT', ordId: ids[0] }));
  assert.deepEqual([again.body.code, rows(again)[0]!['sCode']], ['1', '51400']);
  const batch = await call(app, port, alice, 'POST', '/api/v5/trade/cancel-batch-orders', JSON.stringify([
    { instId: 'BTC-USDT', ordId: ids[1] }, { instId: 'BTC-USDT', clOrdId: 'c3' }, { instId: 'BTC-USDT', ordId: ids[0] },
  ]));
  assert.equal(batch.body.code, '2');
  assert.deepEqual(rows(batch).map((r) => r['sCode']), ['0', '0', '51400']);
  const noId = await call(app, port, alice, 'POST', '/api/v5/trade/cancel-order', JSON.stringify({ instId: 'BTC-USDT' }));
  assert.equal(rows(noId)[0]!['sCode'], '51003');
  const badInst = await call(app, port, alice, 'POST', '/api/v5/trade/cancel-order', JSON.stringify({ instId: 'X-Y', ordId: '1' }));
  assert.equal(rows(badInst)[0]!['sCode'], '51001');
  const history = rows(await call(app, port, alice, 'GET', '/api/v5/trade/orders-history?instType=SPOT&state=canceled'));
  assert.equal(history.length, 3);
  assert.equal(history[0]!['state'], 'canceled');
});

test('trade/amend-order: newSz is the new total, reqId is echoed, failures have amend codes', async () => {
  const { app, port, alice } = setup();
  const placed = await place(app, port, alice, { side: 'buy', ordType: 'limit', px: '100', sz: '0.5' });
  const ordId = rows(placed)[0]!['ordId'] as string;
  const amended = await call(app, port, alice, 'POST', '/api/v5/trade/amend-order', JSON.stringify({ instId: 'BTC-USDT', ordId, newSz: '0.2', newPx: '101.5', reqId: 'r1' }));
  assert.equal(amended.body.code, '0');
  assert.deepEqual([rows(amended)[0]!['ordId'], rows(amended)[0]!['reqId'], rows(amended)[0]!['sCode']], [ordId, 'r1', '0']);
  const o = rows(await call(app, port, alice, 'GET', `/api/v5/trade/order?instId=BTC-USDT&ordId=${ordId}`))[0]!;
  assert.deepEqual([o['sz'], o['px']], ['0.2', '101.5']);
  const nothing = await call(app, port, alice, 'POST', '/api/v5/trade/amend-order', JSON.stringify({ instId: 'BTC-USDT', ordId }));
  assert.equal(rows(nothing)[0]!['sCode'], '51500');
  const unknown = await call(app, port, alice, 'POST', '/api/v5/trade/amend-order', JSON.stringify({ instId: 'BTC-USDT', ordId: '424242', newSz: '1', reqId: 'r2' }));
  assert.deepEqual([unknown.body.code, rows(unknown)[0]!['sCode'], rows(unknown)[0]!['reqId']], ['1', '51503', 'r2']);
  const broke = await call(app, port, alice, 'POST', '/api/v5/trade/amend-order', JSON.stringify({ instId: 'BTC-USDT', ordId, newSz: '999', newPx: '5000' }));
  assert.equal(rows(broke)[0]!['sCode'], '51502');
  const offTick = await call(app, port, alice, 'POST', '/api/v5/trade/amend-order', JSON.stringify({ instId: 'BTC-USDT', ordId, newPx: '1.001' }));
  assert.equal(rows(offTick)[0]!['sCode'], '51006');
  const cxl = await call(app, port, alice, 'POST', '/api/v5/trade/amend-order', JSON.stringify({ instId: 'BTC-USDT', ordId, newSz: '999', newPx: '5000', cxlOnFail: true }));
  assert.equal(rows(cxl)[0]!['sCode'], '51502');
  const gone = rows(await call(app, port, alice, 'GET', `/api/v5/trade/order?instId=BTC-USDT&ordId=${ordId}`))[0]!;
  assert.equal(gone['state'], 'canceled');
});

// ------------------------------------------------------------------ account and funding

test('account/balance and asset/balances: availEq is empty, free and used are availBal and frozenBal', async () => {
  const { app, port, alice } = setup();
  await place(app, port, alice, { side: 'buy', ordType: 'limit', px: '20000', sz: '0.5' });
  const balance = rows(await call(app, port, alice, 'GET', '/api/v5/account/balance'))[0]!;
  const details = balance['details'] as Row[];
  const usdt = details.find((d) => d['ccy'] === 'USDT')!;
  assert.deepEqual(
    [usdt['eq'], usdt['cashBal'], usdt['availBal'], usdt['frozenBal'], usdt['availEq']],
    ['1000000', '1000000', '990000', '10000', ''],
  );
  const onlyBtc = rows(await call(app, port, alice, 'GET', '/api/v5/account/balance?ccy=BTC'))[0]!;
  assert.deepEqual((onlyBtc['details'] as Row[]).map((d) => d['ccy']), ['BTC']);
  const funding = rows(await call(app, port, alice, 'GET', '/api/v5/asset/balances?ccy=USDT'));
  assert.deepEqual(funding, [{ ccy: 'USDT', bal: '1000000', availBal: '990000', frozenBal: '10000' }]);
});

test('funding: currencies, deposit address and history, withdrawal lifecycle', async () => {
  const { app, port, alice } = setup();
  const currencies = rows(await call(app, port, alice, 'GET', '/api/v5/asset/currencies?ccy=USDT'));
  assert.equal(currencies.length, 1);
  assert.deepEqual(
    [currencies[0]!['chain'], currencies[0]!['fee'], currencies[0]!['minWd'], currencies[0]!['maxWd'], currencies[0]!['canWd'], currencies[0]!['wdTickSz']],
    ['USDT-ERC20', '1', '10', '10000', true, '6'],
  );
  const address = rows(await call(app, port, alice, 'GET', '/api/v5/asset/deposit-address?ccy=USDT'))[0]!;
  assert.deepEqual([address['chain'], address['selected'], address['addr']], ['USDT-ERC20', true, depositAddress(alice.userId, 'USDT')]);
  assert.match(address['addr'] as string, /^0x[0-9a-f]{40}$/);
  assert.equal((await call(app, port, alice, 'GET', '/api/v5/asset/deposit-address?ccy=NOPE')).body.code, '51000');
  const deposits = rows(await call(app, port, alice, 'GET', '/api/v5/asset/deposit-history?ccy=USDT'));
  assert.deepEqual([deposits.length, deposits[0]!['amt'], deposits[0]!['state'], deposits[0]!['depId']], [1, '1000000', '2', 'dep-alice-USDT']);

  const to = '0x2222222222222222222222222222222222222222';
  const url = '/api/v5/asset/withdrawal';
  const body = (fields: Row): string => JSON.stringify({ ccy: 'USDT', amt: '10', dest: '4', toAddr: to, chain: 'USDT-ERC20', ...fields });
  const made = await call(app, port, alice, 'POST', url, body({ fee: '1', clientId: 'w1' }));
  assert.equal(made.body.code, '0');
  const wdId = rows(made)[0]!['wdId'] as string;
  assert.deepEqual(rows(made)[0], { amt: '10', wdId, ccy: 'USDT', clientId: 'w1', chain: 'USDT-ERC20' });
  assert.equal((await call(app, port, alice, 'POST', url, body({ fee: '2' }))).body.code, '51000');
  const carol = addTrader(port, 'carol', { USDT: '5000000' });
  assert.equal((await call(app, port, carol, 'POST', url, body({}))).body.code, '58350');
  assert.equal((await call(app, port, alice, 'POST', url, body({ amt: '5000000' }))).body.code, '58205');
  assert.equal((await call(app, port, alice, 'POST', url, body({ amt: '1' }))).body.code, '58206');
  assert.equal((await call(app, port, alice, 'POST', url, body({ toAddr: 'not an address' }))).body.code, '58207');
  assert.equal((await call(app, port, alice, 'POST', url, body({ chain: 'USDT-TRC20' }))).body.code, '51000');
  assert.equal((await call(app, port, alice, 'POST', url, body({ dest: '3' }))).body.code, '51000');
  assert.equal((await call(app, port, alice, 'POST', url, body({ amt: '10.0000001' }))).body.code, '51000');
  let history = rows(await call(app, port, alice, 'GET', '/api/v5/asset/withdrawal-history?ccy=USDT'));
  assert.deepEqual([history.length, history[0]!['state'], history[0]!['fee'], history[0]!['to'], history[0]!['clientId']], [1, '0', '1', to, 'w1']);
  const canceled = await call(app, port, alice, 'POST', '/api/v5/asset/cancel-withdrawal', JSON.stringify({ wdId }));
  assert.deepEqual(canceled.body, { code: '0', msg: '', data: [{ wdId }] });
  history = rows(await call(app, port, alice, 'GET', `/api/v5/asset/withdrawal-history?wdId=${wdId}`));
  assert.equal(history[0]!['state'], '-2');
  assert.equal((await call(app, port, alice, 'POST', '/api/v5/asset/cancel-withdrawal', JSON.stringify({ wdId }))).body.code, '58215');

  const done = await call(app, port, alice, 'POST', url, body({}));
  const doneId = Number(rows(done)[0]!['wdId']);
  port.applyNow([{ type: 'CompleteWithdrawal', withdrawalId: doneId, txId: '0xfeed' }]);
  const completed = rows(await call(app, port, alice, 'GET', `/api/v5/asset/withdrawal-history?wdId=${String(doneId)}`))[0]!;
  assert.deepEqual([completed['state'], completed['txId']], ['2', '0xfeed']);
});

// ------------------------------------------------------------------ malformed requests and limits

test('malformed bodies get OKX codes and change nothing', async () => {
  const { app, port, alice } = setup();
  const before = stateHash(port.engine);
  const url = '/api/v5/trade/order';
  const cases: [string | undefined, string, number, string?][] = [
    ['{"instId":', '50002', 400],
    ['', '50000', 400],
    [undefined, '50000', 400],
    ['{"__proto__":{"x":1},"instId":"BTC-USDT"}', '50002', 400],
    ['[{"a":{"constructor":{"prototype":1}}}]', '50002', 400],
    ['{"instId":"BTC-USDT","x":[1,{"y":[{"prototype":2}]}]}', '50002', 400],
    ['{"instId":"BTC-USDT","\\u005f_proto__":{"x":1}}', '50002', 400],
    ['null', '51000', 200],
    ['42', '51000', 200],
    ['"x"', '51000', 200],
    [`{"instId":"${'A'.repeat(70_000)}"}`, '50002', 413],
    ['{}', '50006', 400, 'text/plain'],
  ];
  for (const [body, code, status, contentType] of cases) {
    const r = await call(app, port, alice, 'POST', url, body, contentType === undefined ? {} : { contentType });
    assert.equal(r.body.code, code, String(body).slice(0, 40));
    assert.equal(r.status, status, String(body).slice(0, 40));
  }
  assert.equal(stateHash(port.engine), before);
  assert.equal(port.submissions, 0);
});

test('submission failures: busy 50013, unavailable 50001 with HTTP 503, timeout 50004', async () => {
  const { app, port, alice } = setup();
  for (const [refusal, code, status] of [['busy', '50013', 200], ['unavailable', '50001', 503], ['timeout', '50004', 200]] as const) {
    port.refuseWith = refusal;
    const r = await place(app, port, alice, { side: 'buy', ordType: 'limit', px: '100', sz: '0.01' });
    assert.deepEqual([r.body.code, r.status], [code, status], refusal);
    const w = await call(app, port, alice, 'POST', '/api/v5/asset/withdrawal', JSON.stringify({ ccy: 'USDT', amt: '10', dest: '4', toAddr: `0x${'1'.repeat(40)}` }));
    assert.equal(w.body.code, code, refusal);
  }
});

test('handler timeout: an order whose outcome does not arrive in time is answered 50004 (outcome unknown), once', async () => {
  const { app, port, alice } = setup({ rateLimits: false, handlerTimeoutMs: 200, bodyTimeoutMs: 100 });
  let submitted = 0;
  port.submit = () => { submitted += 1; return new Promise(() => undefined); };
  const r = await place(app, port, alice, { side: 'buy', ordType: 'limit', px: '100', sz: '0.01' });
  assert.deepEqual([r.body.code, r.status], ['50004', 200]);
  assert.equal(submitted, 1);
});

test('rate limits: HTTP 429 with 50011, keyed per IP, per user, and per user and instrument', async () => {
  const { app, port, alice, bob } = setup({ rateLimits: true });
  for (let i = 0; i < 10; i++) assert.equal((await call(app, port, undefined, 'GET', '/api/v5/public/time')).body.code, '0');
  const over = await call(app, port, undefined, 'GET', '/api/v5/public/time');
  assert.equal(over.status, 429);
  assert.deepEqual(over.body, { code: '50011', msg: 'Too Many Requests', data: [] });
  port.clockMs += 200;
  assert.equal((await call(app, port, undefined, 'GET', '/api/v5/public/time')).body.code, '0', 'one token back after 200 ms');

  for (let i = 0; i < 10; i++) assert.equal((await call(app, port, alice, 'GET', '/api/v5/account/balance')).body.code, '0');
  assert.equal((await call(app, port, alice, 'GET', '/api/v5/account/balance')).body.code, '50011');
  assert.equal((await call(app, port, bob, 'GET', '/api/v5/account/balance')).body.code, '0', 'per user');

  const batch = (instId: string, n: number): string => JSON.stringify(Array.from({ length: n }, () => ({ instId, tdMode: 'cash', side: 'buy', ordType: 'limit', px: '1', sz: '0.001' })));
  for (let i = 0; i < 15; i++) assert.equal((await call(app, port, alice, 'POST', '/api/v5/trade/batch-orders', batch('BTC-USDT', 20))).body.code, '0');
  assert.equal((await call(app, port, alice, 'POST', '/api/v5/trade/batch-orders', batch('BTC-USDT', 1))).body.code, '50011');
  assert.equal((await call(app, port, alice, 'POST', '/api/v5/trade/batch-orders', batch('ETH-USDT', 1))).body.code, '0', 'per instrument');
});

test('metrics: requests are counted by route and OKX code in the given registry', async () => {
  const registry = new Registry();
  const { app, port } = setup({ rateLimits: false, registry });
  await call(app, port, undefined, 'GET', '/api/v5/public/time');
  await call(app, port, undefined, 'GET', '/api/v5/market/books?instId=NOPE');
  const text = await registry.metrics();
  assert.match(text, /everbook_gateway_requests_total\{method="GET",route="\/api\/v5\/public\/time",code="0"\} 1/);
  assert.match(text, /everbook_gateway_requests_total\{method="GET",route="\/api\/v5\/market\/books",code="51001"\} 1/);
  assert.match(text, /everbook_gateway_request_duration_seconds_count/);
});

// ------------------------------------------------------------------ the error table

test('errors: every engine rejection code maps to a documented OKX code, in every context', () => {
  const documented = new Set(Object.values(ApiErrors).map((e) => e.code));
  for (const r of rejectCodes) {
    assert.ok(Object.hasOwn(rejectMap, r.code), `engine code ${r.code} has no OKX code`);
    assert.ok(documented.has(ApiErrors[rejectMap[r.code]].code));
  }
  for (const overrides of Object.values(rejectOverrides)) {
    for (const name of Object.values(overrides)) assert.ok(documented.has(ApiErrors[name].code));
  }
  assert.equal(Object.keys(rejectMap).length, rejectCodes.length, 'no mapping for a code the engine does not have');
  assert.equal(ApiErrors[rejectMap.insufficient_balance].code, '51008');
  assert.equal(ApiErrors[rejectOverrides.withdraw.insufficient_balance!].code, '58350');
  assert.equal(ApiErrors[rejectOverrides.cancel.order_not_found!].code, '51400');
  assert.equal(ApiErrors[rejectOverrides.amend.order_not_found!].code, '51503');
});

test('errors: docs/API.md carries the error tables exactly as errors.ts defines them', async () => {
  const doc = await readFile(new URL('../../docs/API.md', import.meta.url), 'utf8');
  assert.ok(doc.includes(errorTableMarkdown()), 'docs/API.md error table is stale: paste errorTableMarkdown()');
  assert.ok(doc.includes(rejectTableMarkdown()), 'docs/API.md engine mapping is stale: paste rejectTableMarkdown()');
});
