// The gateway under thousands of malformed requests: random bodies, wrong types, huge and
// strange numbers, poisoned keys, random query strings and broken signatures, against every
// POST and GET endpoint. Whatever arrives, the gateway must answer with JSON carrying a code
// from the documented table (per-item sCodes too), never crash or leave a rejection unhandled,
// and a request that submitted nothing must leave the engine's state hash unchanged.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { audit, stateHash } from '../src/core/index.js';
import { createGateway, documentedCodes, sign } from '../src/gateway/index.js';
import { call, venue, type Trader } from './support/memory-port.js';

const POSTS = [
  '/api/v5/trade/order', '/api/v5/trade/batch-orders', '/api/v5/trade/cancel-order', '/api/v5/trade/cancel-batch-orders',
  '/api/v5/trade/amend-order', '/api/v5/asset/withdrawal', '/api/v5/asset/cancel-withdrawal',
] as const;
const GETS = [
  '/api/v5/public/time', '/api/v5/public/instruments', '/api/v5/market/ticker', '/api/v5/market/tickers',
  '/api/v5/market/books', '/api/v5/market/books-full', '/api/v5/market/trades', '/api/v5/market/candles',
  '/api/v5/system/status', '/api/v5/account/balance', '/api/v5/account/trade-fee', '/api/v5/trade/order',
  '/api/v5/trade/orders-pending', '/api/v5/trade/orders-history', '/api/v5/trade/fills', '/api/v5/trade/fills-history',
  '/api/v5/asset/currencies', '/api/v5/asset/balances', '/api/v5/asset/deposit-address', '/api/v5/asset/deposit-history',
  '/api/v5/asset/withdrawal-history',
] as const;
const FIELDS = [
  'instId', 'tdMode', 'side', 'ordType', 'sz', 'px', 'clOrdId', 'tag', 'tgtCcy', 'reduceOnly', 'ordId', 'newSz', 'newPx',
  'reqId', 'cxlOnFail', 'ccy', 'amt', 'dest', 'toAddr', 'chain', 'fee', 'clientId', 'wdId', 'instType', 'after', 'before',
  'limit', 'bar', 'state', 'begin', 'end', 'stpMode', '__proto__', 'constructor', 'prototype', 'toString', '',
] as const;

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => { unhandled.push(reason); };
process.on('unhandledRejection', onUnhandled);
after(() => {
  process.off('unhandledRejection', onUnhandled);
  assert.deepEqual(unhandled, [], 'no unhandled rejections');
});

/** Strings that have broken parsers before: numbers in every wrong form, ids, unicode, huge. */
const weirdString = fc.oneof(
  fc.constantFrom(
    '', ' ', '0', '1', '-1', '+1', '1e3', '1E-3', '.5', '5.', '00.1', '0.0001', '0.00015', '20000', '20000.005', 'NaN',
    'Infinity', '0x10', '1_000', '1,5', '١٢٣', '9'.repeat(400), `0.${'0'.repeat(60)}1`, '123456789012345678901234567890',
    '9007199254740993', 'BTC-USDT', 'ETH-USDT', 'btc-usdt', 'USDT', 'BTC', 'cash', 'cross', 'buy', 'sell', 'limit', 'market',
    'post_only', 'fok', 'ioc', 'quote_ccy', 'base_ccy', 'true', 'false', 'null', '__proto__', 'constructor', '\u0000', '😀',
    '%00', '<script>', 'A'.repeat(33), '4', `0x${'2'.repeat(40)}`, 'USDT-ERC20', '1m', '1H', 'SPOT',
  ),
  fc.string({ maxLength: 40 }),
  fc.integer({ min: -1_000_000, max: 1_000_000_000 }).map(String),
);

const weirdValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 5, arbitrary: weirdString },
  fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(Number.MAX_SAFE_INTEGER + 2),
  fc.array(weirdString, { maxLength: 3 }), fc.dictionary(weirdString, weirdString, { maxKeys: 2 }),
);

/** A JSON object of known and unknown fields with weird values (plain objects, so __proto__ is an own key). */
const weirdObject = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), weirdValue), { maxLength: 8 })
  .map((entries) => {
    const parts = entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    return `{${parts.join(',')}}`;
  });

/** An order item that is mostly right, with one or two fields made wrong. */
const nearlyValidOrder = fc.record({
  instId: fc.oneof(fc.constant('BTC-USDT'), weirdValue), tdMode: fc.oneof(fc.constant('cash'), weirdValue),
  side: fc.constantFrom('buy', 'sell'), ordType: fc.oneof(fc.constantFrom('limit', 'market', 'post_only', 'ioc', 'fok'), weirdValue),
  sz: weirdValue, px: weirdValue,
}, { requiredKeys: ['instId', 'tdMode', 'side', 'ordType'] }).map((o) => JSON.stringify(o));

const rawBody = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.json({ maxDepth: 3 }),
  weirdObject,
  weirdObject.map((o) => `[${o}]`),
  fc.array(weirdObject, { minLength: 0, maxLength: 25 }).map((items) => `[${items.join(',')}]`),
  nearlyValidOrder,
  nearlyValidOrder.map((o) => `[${o},${o}]`),
  fc.constantFrom(
    '', '{', '[', '{"sz":1e400}', '{"sz":-0}', '[[[[[[[[[[]]]]]]]]]]', `${'['.repeat(5000)}${']'.repeat(5000)}`,
    '{"__proto__":{"isAdmin":true}}', '{"constructor":{"prototype":{"x":1}}}', '{"a":1,"a":2}', '\uFEFF{}', 'null', 'true',
  ),
);

const queryString = fc.array(
  fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), weirdString),
  { maxLength: 6 },
).chain((pairs) => fc.boolean().map((encode) => pairs.map(([k, v]) => (encode ? `${encodeURIComponent(k)}=${encodeURIComponent(v)}` : `${k}=${v}`)).join('&')));

function setup() {
  const { port, alice, bob } = venue({ makerFeePpm: 800, takerFeePpm: 1000 });
  const app = createGateway(port, { rateLimits: false });
  return { port, alice, bob, app };
}

/** Checks one reply: JSON, a documented code, documented per-item codes. */
function checkReply(status: number, raw: string): { code: string } {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    assert.fail(`reply ${String(status)} is not JSON: ${raw.slice(0, 200)}`);
  }
  assert.ok(typeof body === 'object' && body !== null, 'reply is an object');
  const { code, msg, data } = body as { code: unknown; msg: unknown; data: unknown };
  assert.equal(typeof code, 'string');
  assert.ok(documentedCodes.has(code as string), `undocumented code ${String(code)}`);
  assert.equal(typeof msg, 'string');
  assert.ok(Array.isArray(data), 'data is an array');
  for (const item of data as unknown[]) {
    if (typeof item === 'object' && item !== null && 'sCode' in item) {
      const sCode = item.sCode;
      assert.ok(typeof sCode === 'string' && documentedCodes.has(sCode), `undocumented sCode ${String(sCode)}`);
    }
  }
  return { code: code as string };
}

test('fuzz: random bodies to every POST endpoint', async () => {
  const { port, alice, bob, app } = setup();
  // Something on the book for cancels and amends to find.
  await call(app, port, bob, 'POST', '/api/v5/trade/order', JSON.stringify({ instId: 'BTC-USDT', tdMode: 'cash', side: 'sell', ordType: 'limit', px: '20000', sz: '1' }));
  const traders: Trader[] = [alice, bob];
  await fc.assert(fc.asyncProperty(fc.constantFrom(...POSTS), rawBody, fc.constantFrom(0, 1), async (url, body, who) => {
    const hash = stateHash(port.engine);
    const submissions = port.submissions;
    const r = await app.inject({ method: 'POST', url, payload: body, headers: signedHeaders(traders[who]!, port.now(), 'POST', url, body) });
    checkReply(r.statusCode, r.body);
    if (port.submissions === submissions) assert.equal(stateHash(port.engine), hash, `nothing submitted for ${url} ${body.slice(0, 100)}`);
  }), { numRuns: 2_500, includeErrorInReport: true });
  assert.deepEqual(audit(port.engine), []);
});

test('fuzz: random query strings to every GET endpoint', async () => {
  const { port, alice, app } = setup();
  await fc.assert(fc.asyncProperty(fc.constantFrom(...GETS), queryString, async (path, query) => {
    const url = query === '' ? path : `${path}?${query}`;
    const hash = stateHash(port.engine);
    const r = await app.inject({ method: 'GET', url, headers: signedHeaders(alice, port.now(), 'GET', url, '') });
    checkReply(r.statusCode, r.body);
    assert.equal(port.submissions, 0, 'a GET never submits');
    assert.equal(stateHash(port.engine), hash);
  }), { numRuns: 2_500, includeErrorInReport: true });
});

test('fuzz: broken authentication never reaches a handler', async () => {
  const { port, alice, app } = setup();
  const authCodes = new Set(['50102', '50103', '50104', '50105', '50106', '50107', '50111', '50112', '50113']);
  const headerValue = fc.option(weirdString, { nil: undefined });
  await fc.assert(fc.asyncProperty(
    fc.constantFrom(...POSTS, '/api/v5/account/balance'), headerValue, headerValue, headerValue, headerValue, fc.integer({ min: -120_000, max: 120_000 }),
    async (url, key, passphrase, timestamp, signature, skew) => {
      const method = url.startsWith('/api/v5/account') ? 'GET' : 'POST';
      const body = method === 'POST' ? JSON.stringify({ instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px: '1', sz: '1' }) : undefined;
      const good = signedHeaders(alice, port.now() + skew, method, url, body ?? '');
      const headers: Record<string, string> = { ...good };
      const overrides = { 'ok-access-key': key, 'ok-access-passphrase': passphrase, 'ok-access-timestamp': timestamp, 'ok-access-sign': signature };
      let broken = Math.abs(skew) > 30_000;
      for (const [name, value] of Object.entries(overrides)) {
        if (value === undefined) continue;
        // Header values are latin-1 on the wire; anything else cannot be sent at all.
        if (!/^[\x20-\x7e]*$/.test(value)) continue;
        headers[name] = value;
        broken ||= value !== good[name];
      }
      const submissions = port.submissions;
      const r = await app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: body }) });
      const { code } = checkReply(r.statusCode, r.body);
      if (broken) {
        assert.ok(authCodes.has(code), `broken auth answered ${code}`);
        assert.equal(port.submissions, submissions);
      }
    },
  ), { numRuns: 1_500, includeErrorInReport: true });
});

test('fuzz: unknown paths and methods get a coded 404', async () => {
  const { port, app } = setup();
  await fc.assert(fc.asyncProperty(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') , fc.string({ maxLength: 30 }), async (method, tail) => {
    const url = `/api/v5/${encodeURIComponent(tail)}x`;
    const r = await app.inject({ method, url });
    const { code } = checkReply(r.statusCode, r.body);
    assert.equal(code, '404');
    assert.equal(port.submissions, 0);
  }), { numRuns: 500, includeErrorInReport: true });
});

function signedHeaders(trader: Trader, atMs: number, method: string, url: string, body: string): Record<string, string> {
  const timestamp = new Date(atMs).toISOString();
  return {
    'content-type': 'application/json',
    'ok-access-key': trader.apiKey,
    'ok-access-passphrase': trader.passphrase,
    'ok-access-timestamp': timestamp,
    'ok-access-sign': sign(trader.secret, timestamp, method, url, body),
  };
}
