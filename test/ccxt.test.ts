// Acceptance test with an unchanged ccxt 4.5.84 `okx` client against a real `everbook start`
// process over HTTP: markets, balances, every order flavour ccxt sends (limit, market by base and
// by quote, post-only, amend, batch), order and trade queries, market data, fees, deposits and
// withdrawals (settled through the operator routes), and the error codes as ccxt's exception
// classes. Balances are checked exactly, in minor units, from the raw strings ccxt keeps in
// `info`; ccxt's parsed numbers are only compared where ccxt itself produces them.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import ccxt, {
  AuthenticationError, BadSymbol, ExchangeError, InsufficientFunds, InvalidNonce, OrderNotFound, PermissionDenied, RateLimitExceeded,
  type Order, type Trade,
} from 'ccxt';
import type { Credentials } from './support/okx-client.js';
import { kill, startServer, type ServerProcess } from './support/server-process.js';

type Okx = InstanceType<typeof ccxt.okx>;
type Raw = Record<string, unknown>;
type Ccy = 'USDT' | 'BTC' | 'ETH';

/** Minor-unit scales of the dev assets (src/server/dev.ts). */
const SCALE: Readonly<Record<Ccy, number>> = { USDT: 6, BTC: 8, ETH: 9 };
const CCYS: readonly Ccy[] = ['USDT', 'BTC', 'ETH'];
/** The default fee rates of a new user (src/core/limits.ts); the fee test checks the server reports them. */
const MAKER_PPM = 800n;
const TAKER_PPM = 1_000n;

// ----------------------------------------------------------------------------- raw values

function obj(value: unknown, what: string): Raw {
  assert.ok(typeof value === 'object' && value !== null && !Array.isArray(value), `${what} is an object`);
  return value as Raw;
}

function list(value: unknown, what: string): unknown[] {
  assert.ok(Array.isArray(value), `${what} is an array`);
  return value as unknown[];
}

/** A string field of a raw OKX object (ccxt's `info`). */
function str(value: unknown, key: string): string {
  const v = obj(value, `object holding ${key}`)[key];
  assert.equal(typeof v, 'string', `${key} is a string in ${JSON.stringify(value)}`);
  return v as string;
}

/** An exact decimal string as an integer count of 10^-scale units; rejects more decimals. */
function units(text: string, scale: number): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  assert.ok(m !== null, `a plain decimal: "${text}"`);
  const fraction = (m[3] ?? '').replace(/0+$/, '');
  assert.ok(fraction.length <= scale, `"${text}" has at most ${scale} decimals`);
  const value = BigInt(m[2]! + fraction.padEnd(scale, '0'));
  return m[1] === '-' ? -value : value;
}

/** The engine's fee: amount × rate, rounded up to the minor unit (src/core/money.ts). */
function feeOf(amount: bigint, ppm: bigint): bigint {
  return (amount * ppm + 999_999n) / 1_000_000n;
}

/** A float ccxt computed from a decimal string; equal within float rounding. */
function near(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined, `${what} is set`);
  assert.ok(Math.abs(actual - expected) <= 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≈ ${expected}`);
}

function defined<T>(value: T | undefined, what: string): T {
  assert.ok(value !== undefined, `${what} is defined`);
  return value;
}

// ----------------------------------------------------------------------------- clients

interface Holding { readonly total: bigint; readonly free: bigint; readonly used: bigint }
type Holdings = Readonly<Record<Ccy, Holding>>;

/** Records `METHOD /path?query` of every HTTP request the client sends. */
function recordRequests(ex: Okx): string[] {
  const seen: string[] = [];
  const original = ex.fetch.bind(ex);
  ex.fetch = (url: unknown, method?: string, headers?: unknown, body?: unknown): Promise<unknown> => {
    const target = new URL(String(url));
    seen.push(`${method ?? 'GET'} ${target.pathname}${target.search}`);
    return original(url, method, headers, body);
  };
  return seen;
}

function client(url: string, creds: Credentials): Okx {
  return new ccxt.okx({
    apiKey: creds.apiKey, secret: creds.secretKey, password: creds.passphrase,
    urls: { api: { rest: url } },
    options: { fetchMarkets: { types: ['spot'] } },
    has: { fetchCurrencies: false },
    enableRateLimit: false,
  });
}

/** Balances from the raw account/balance reply (exact), checked against ccxt's parsed view. */
async function holdings(ex: Okx): Promise<Holdings> {
  const balance = await ex.fetchBalance();
  const details = list(obj(list(obj(balance.info, 'balance reply')['data'], 'data')[0], 'balance row')['details'], 'details');
  const out: Partial<Record<Ccy, Holding>> = {};
  for (const row of details) {
    const ccy = str(row, 'ccy');
    if (!CCYS.includes(ccy as Ccy)) continue;
    const scale = SCALE[ccy as Ccy];
    assert.equal(str(row, 'availEq'), '', 'availEq is empty on a cash account, so ccxt uses availBal/frozenBal');
    const h = { total: units(str(row, 'eq'), scale), free: units(str(row, 'availBal'), scale), used: units(str(row, 'frozenBal'), scale) };
    assert.equal(h.total, h.free + h.used, `${ccy}: eq = availBal + frozenBal`);
    const parsed = defined(balance[ccy], `ccxt balance for ${ccy}`);
    near(parsed.total, Number(str(row, 'eq')), `${ccy} total`);
    near(parsed.free, Number(str(row, 'availBal')), `${ccy} free`);
    near(parsed.used, Number(str(row, 'frozenBal')), `${ccy} used`);
    out[ccy as Ccy] = h;
  }
  return { USDT: defined(out.USDT, 'USDT row'), BTC: defined(out.BTC, 'BTC row'), ETH: defined(out.ETH, 'ETH row') };
}

function delta(before: Holdings, after: Holdings, ccy: Ccy): Holding {
  return { total: after[ccy].total - before[ccy].total, free: after[ccy].free - before[ccy].free, used: after[ccy].used - before[ccy].used };
}

function orderId(order: Order): string {
  assert.ok(order.id !== undefined && /^\d+$/.test(order.id), `an order id: ${String(order.id)}`);
  return order.id;
}

function tradesOf(trades: Trade[], ordId: string): Trade[] {
  return trades.filter((t) => t.order === ordId);
}

/** Cancels whatever the user still has open, so each test leaves the books as it found them. */
async function cancelAllOpen(ex: Okx): Promise<void> {
  for (const o of await ex.fetchOpenOrders()) await ex.cancelOrder(orderId(o), defined(o.symbol, 'symbol'));
  assert.deepEqual(await ex.fetchOpenOrders(), []);
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  return assert.fail('expected a rejection');
}

async function admin(server: ServerProcess, token: string, path: string, body: Raw): Promise<Raw> {
  const response = await fetch(`${server.url}/admin/v1${path}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const json = obj(await response.json(), 'admin reply');
  assert.equal(response.status, 200, `admin ${path}: ${JSON.stringify(json)}`);
  assert.equal(json['ok'], true);
  return json;
}

// ----------------------------------------------------------------------------- the suite

describe('ccxt okx (unchanged, 4.5.84) against a real everbook process', { timeout: 120_000 }, () => {
  const dirs: string[] = [];
  const servers: ServerProcess[] = [];
  let server: ServerProcess;
  let limited: ServerProcess;
  let token = '';
  let a: Okx; // dev trader 1: mostly the maker
  let b: Okx; // dev trader 2: mostly the taker

  before(async () => {
    const [mainDir, limitedDir] = await Promise.all([mkdtemp(join(tmpdir(), 'everbook-ccxt-')), mkdtemp(join(tmpdir(), 'everbook-ccxt-rl-'))]);
    dirs.push(mainDir, limitedDir);
    // The main server runs without rate limits so the suite's clients need no pacing; the
    // second keeps the defaults for the rate-limit test.
    const started = await Promise.allSettled([startServer(mainDir, ['--rate-limits', 'false']), startServer(limitedDir)]);
    for (const s of started) if (s.status === 'fulfilled') servers.push(s.value);
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    [server, limited] = servers as [ServerProcess, ServerProcess];
    assert.equal(server.traders.length, 2, 'the dev exchange has two traders');
    token = (await readFile(join(mainDir, 'admin.token'), 'utf8')).trim();
    a = client(server.url, server.traders[0]!);
    b = client(server.url, server.traders[1]!);
  });

  // Orders a failed test left open would trade with the next one; start each test from empty books.
  beforeEach(async () => {
    if (servers.length < 2) return;
    await cancelAllOpen(a);
    await cancelAllOpen(b);
  });

  after(async () => {
    for (const s of servers) await kill(s);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  test('loadMarkets (spot only, no currencies call): three spot markets with exact precision and limits', async () => {
    const fresh = client(server.url, server.traders[0]!);
    const requests = recordRequests(fresh);
    const markets = await fresh.loadMarkets();
    assert.deepEqual(requests, ['GET /api/v5/public/instruments?instType=SPOT']);
    assert.deepEqual(Object.keys(markets).sort(), ['BTC/USDT', 'ETH/BTC', 'ETH/USDT']);
    const btc = defined(markets['BTC/USDT'], 'BTC/USDT');
    assert.equal(btc.id, 'BTC-USDT');
    assert.equal(btc.base, 'BTC');
    assert.equal(btc.quote, 'USDT');
    assert.equal(btc.spot, true);
    assert.equal(btc.type, 'spot');
    assert.equal(btc.active, true);
    assert.equal(btc.precision.price, 0.1);
    assert.equal(btc.precision.amount, 0.00001);
    const amountLimits = defined(btc.limits.amount, 'amount limits');
    assert.equal(amountLimits.min, 0.00001);
    assert.equal(amountLimits.max, 1000);
    const raw = obj(btc.info, 'instrument');
    assert.equal(str(raw, 'tickSz'), '0.1');
    assert.equal(str(raw, 'lotSz'), '0.00001');
    assert.equal(str(raw, 'state'), 'live');
    const ethBtc = defined(markets['ETH/BTC'], 'ETH/BTC');
    assert.equal(ethBtc.precision.price, 0.00001);
    assert.equal(ethBtc.precision.amount, 0.01);
    for (const ccy of CCYS) assert.ok(ccy in fresh.currencies, `currency ${ccy} derived from the markets`);
  });

  test('loadMarkets with ccxt defaults (currencies fetched, all instrument types asked for) works too', async () => {
    const ex = new ccxt.okx({
      apiKey: server.traders[0]!.apiKey, secret: server.traders[0]!.secretKey, password: server.traders[0]!.passphrase,
      urls: { api: { rest: server.url } },
    });
    const requests = recordRequests(ex);
    const markets = await ex.loadMarkets();
    assert.deepEqual(requests.sort(), [
      'GET /api/v5/asset/currencies', // signed: it needs the credentials
      'GET /api/v5/public/instruments?instType=FUTURES',
      'GET /api/v5/public/instruments?instType=OPTION&uly=BTC-USD',
      'GET /api/v5/public/instruments?instType=OPTION&uly=ETH-USD',
      'GET /api/v5/public/instruments?instType=SPOT',
      'GET /api/v5/public/instruments?instType=SWAP',
    ]);
    assert.deepEqual(Object.keys(markets).sort(), ['BTC/USDT', 'ETH/BTC', 'ETH/USDT'], 'the other types are answered with no instruments');
    const usdt = defined(ex.currencies['USDT'], 'USDT currency');
    const erc20 = obj(obj(usdt.networks, 'networks')['ERC20'], 'USDT ERC20 network');
    assert.equal(erc20['fee'], 1);
    assert.equal(erc20['withdraw'], true);
    // With the currencies loaded, ccxt resolves the deposit chain USDT-ERC20 to its network code.
    const addr = await ex.fetchDepositAddress('USDT');
    assert.equal(addr.network, 'ERC20');
    assert.equal(addr.address, (await a.fetchDepositAddress('USDT')).address);
  });

  test('fetchTradingFee: OKX-signed rates, flipped positive by ccxt', async () => {
    const fee = await a.fetchTradingFee('BTC/USDT');
    assert.equal(fee.symbol, 'BTC/USDT');
    const raw = obj(fee.info, 'trade-fee row');
    assert.equal(-units(str(raw, 'maker'), 6), MAKER_PPM, 'maker rate, negative when charged');
    assert.equal(-units(str(raw, 'taker'), 6), TAKER_PPM, 'taker rate, negative when charged');
    const other = await b.fetchTradingFee('ETH/BTC');
    assert.equal(other.symbol, 'ETH/BTC');
    assert.equal(other.maker, 0.0008);
    assert.equal(fee.maker, 0.0008);
    assert.equal(fee.taker, 0.001);
  });

  test('fetchBalance: the dev funding, in the trading and the funding view', async () => {
    const h = await holdings(a);
    assert.deepEqual(h.USDT, { total: 100_000n * 10n ** 6n, free: 100_000n * 10n ** 6n, used: 0n });
    assert.deepEqual(h.BTC, { total: 10n * 10n ** 8n, free: 10n * 10n ** 8n, used: 0n });
    assert.deepEqual(h.ETH, { total: 100n * 10n ** 9n, free: 100n * 10n ** 9n, used: 0n });
    const funding = await a.fetchBalance({ type: 'funding' });
    assert.equal(funding['USDT']?.total, 100_000);
    assert.equal(funding['BTC']?.free, 10);
  });

  test('limit orders cross: both closed, one fill each side, balances move by the trade minus fees', async () => {
    const a0 = await holdings(a);
    const b0 = await holdings(b);
    const sell = await a.createOrder('BTC/USDT', 'limit', 'sell', 0.01, 30000);
    const sellId = orderId(sell);
    const open = await a.fetchOpenOrders('BTC/USDT');
    const resting = open.find((o) => o.id === sellId);
    assert.ok(resting !== undefined, 'the sell rests');
    assert.equal(resting.status, 'open');
    assert.equal(resting.remaining, 0.01);
    const a1 = await holdings(a);
    assert.deepEqual(delta(a0, a1, 'BTC'), { total: 0n, free: -1_000_000n, used: 1_000_000n }, 'the sell holds 0.01 BTC');

    // The buy is priced above the ask, so it trades at the maker's price and its extra hold is released.
    const buy = await b.createOrder('BTC/USDT', 'limit', 'buy', 0.01, 30100);
    const buyId = orderId(buy);

    const so = await a.fetchOrder(sellId, 'BTC/USDT');
    assert.equal(so.status, 'closed');
    assert.equal(so.filled, 0.01);
    assert.equal(so.remaining, 0);
    assert.equal(so.average, 30000);
    assert.equal(str(so.info, 'state'), 'filled');
    assert.equal(str(so.info, 'accFillSz'), '0.01');
    assert.equal(units(str(so.info, 'avgPx'), 9), 30000n * 10n ** 9n);
    const sellFee = feeOf(300_000_000n, MAKER_PPM); // quote received 300 USDT, maker rate
    assert.equal(units(str(so.info, 'fee'), 6), -sellFee);
    assert.equal(str(so.info, 'feeCcy'), 'USDT');
    assert.deepEqual(so.fee, { cost: Number(sellFee) / 1e6, currency: 'USDT' });

    const bo = await b.fetchOrder(buyId, 'BTC/USDT');
    assert.equal(bo.status, 'closed');
    assert.equal(bo.price, 30100);
    assert.equal(bo.average, 30000);
    const buyFee = feeOf(1_000_000n, TAKER_PPM); // base received 0.01 BTC, taker rate
    assert.equal(units(str(bo.info, 'fee'), 8), -buyFee);
    assert.equal(str(bo.info, 'feeCcy'), 'BTC');

    const aTrades = tradesOf(await a.fetchMyTrades('BTC/USDT'), sellId);
    const bTrades = tradesOf(await b.fetchMyTrades('BTC/USDT'), buyId);
    assert.equal(aTrades.length, 1);
    assert.equal(bTrades.length, 1);
    const [at] = aTrades as [Trade];
    const [bt] = bTrades as [Trade];
    assert.equal(at.id, bt.id, 'both sides report the same trade id');
    assert.equal(at.side, 'sell');
    assert.equal(at.takerOrMaker, 'maker');
    assert.equal(bt.side, 'buy');
    assert.equal(bt.takerOrMaker, 'taker');
    for (const t of [at, bt]) {
      assert.equal(t.symbol, 'BTC/USDT');
      assert.equal(str(t.info, 'fillPx'), '30000');
      assert.equal(str(t.info, 'fillSz'), '0.01');
      assert.equal(t.price, 30000);
      assert.equal(t.amount, 0.01);
      near(t.cost, 300, 'trade cost');
    }
    assert.equal(units(str(at.info, 'fee'), 6), -sellFee);
    assert.equal(units(str(bt.info, 'fee'), 8), -buyFee);
    assert.deepEqual(bt.fee, { cost: Number(buyFee) / 1e8, currency: 'BTC' });

    const orderTrades = await b.fetchOrderTrades(buyId, 'BTC/USDT');
    assert.deepEqual(orderTrades.map((t) => t.id), [bt.id]);

    const a2 = await holdings(a);
    const b2 = await holdings(b);
    assert.deepEqual(delta(a0, a2, 'BTC'), { total: -1_000_000n, free: -1_000_000n, used: 0n });
    assert.deepEqual(delta(a0, a2, 'USDT'), { total: 300_000_000n - sellFee, free: 300_000_000n - sellFee, used: 0n });
    assert.deepEqual(delta(b0, b2, 'USDT'), { total: -300_000_000n, free: -300_000_000n, used: 0n });
    assert.deepEqual(delta(b0, b2, 'BTC'), { total: 1_000_000n - buyFee, free: 1_000_000n - buyFee, used: 0n });

    const closed = await a.fetchClosedOrders('BTC/USDT');
    assert.ok(closed.some((o) => o.id === sellId && o.status === 'closed'), 'fetchClosedOrders lists the filled sell');
    assert.ok(!(await a.fetchOpenOrders('BTC/USDT')).some((o) => o.id === sellId), 'no longer open');
  });

  test('market orders: buy by base amount (tgtCcy base_ccy), buy by cost (quote_ccy), sell by base', async () => {
    const a0 = await holdings(a);
    const b0 = await holdings(b);
    const ask = orderId(await a.createOrder('BTC/USDT', 'limit', 'sell', 0.02, 31000));

    const byBase = await b.createOrder('BTC/USDT', 'market', 'buy', 0.005);
    const baseOrder = await b.fetchOrder(orderId(byBase), 'BTC/USDT');
    assert.equal(str(baseOrder.info, 'tgtCcy'), 'base_ccy');
    assert.equal(str(baseOrder.info, 'ordType'), 'market');
    assert.equal(str(baseOrder.info, 'sz'), '0.005');
    assert.equal(str(baseOrder.info, 'accFillSz'), '0.005');
    assert.equal(baseOrder.status, 'closed');
    assert.equal(baseOrder.type, 'market');
    assert.equal(baseOrder.amount, 0.005);
    assert.equal(baseOrder.average, 31000);

    const byCost = await b.createMarketBuyOrderWithCost('BTC/USDT', 62);
    const costOrder = await b.fetchOrder(orderId(byCost), 'BTC/USDT');
    assert.equal(str(costOrder.info, 'tgtCcy'), 'quote_ccy');
    assert.equal(str(costOrder.info, 'sz'), '62', 'sz is the quote amount');
    assert.equal(str(costOrder.info, 'accFillSz'), '0.002', '62 USDT buys 0.002 BTC at 31000');
    assert.equal(costOrder.status, 'closed');
    assert.equal(costOrder.cost, 62, 'ccxt reads sz as the cost');
    assert.equal(costOrder.filled, 0.002);

    const bid = orderId(await b.createOrder('BTC/USDT', 'limit', 'buy', 0.003, 29000));
    const sold = await a.createOrder('BTC/USDT', 'market', 'sell', 0.003);
    const soldOrder = await a.fetchOrder(orderId(sold), 'BTC/USDT');
    assert.equal(soldOrder.status, 'closed');
    assert.equal(str(soldOrder.info, 'accFillSz'), '0.003');
    assert.equal(soldOrder.average, 29000);
    assert.equal((await b.fetchOrder(bid, 'BTC/USDT')).status, 'closed');

    const rest = await a.fetchOrder(ask, 'BTC/USDT');
    assert.equal(rest.status, 'open');
    assert.equal(str(rest.info, 'state'), 'partially_filled');
    assert.equal(str(rest.info, 'accFillSz'), '0.007');
    await cancelAllOpen(a);

    // A sold 0.007 BTC at 31000 as maker (217 USDT) and 0.003 at 29000 as taker (87 USDT);
    // B bought 0.005 + 0.002 as taker and 0.003 as maker. Fees are per fill.
    const aUsdt = 217_000_000n - feeOf(155_000_000n, MAKER_PPM) - feeOf(62_000_000n, MAKER_PPM) + 87_000_000n - feeOf(87_000_000n, TAKER_PPM);
    const bBtc = 1_000_000n - feeOf(500_000n, TAKER_PPM) - feeOf(200_000n, TAKER_PPM) - feeOf(300_000n, MAKER_PPM);
    const a1 = await holdings(a);
    const b1 = await holdings(b);
    assert.deepEqual(delta(a0, a1, 'BTC'), { total: -1_000_000n, free: -1_000_000n, used: 0n });
    assert.deepEqual(delta(a0, a1, 'USDT'), { total: aUsdt, free: aUsdt, used: 0n });
    assert.deepEqual(delta(b0, b1, 'USDT'), { total: -304_000_000n, free: -304_000_000n, used: 0n });
    assert.deepEqual(delta(b0, b1, 'BTC'), { total: bBtc, free: bBtc, used: 0n });
  });

  test('post-only: rests as post_only, is accepted then canceled when it would take (cancelSource 31), cancels, shows in fetchCanceledOrders', async () => {
    const placed = await a.createOrder('BTC/USDT', 'limit', 'sell', 0.001, 40000, { postOnly: true });
    const id = orderId(placed);
    const fetched = await a.fetchOrder(id, 'BTC/USDT');
    assert.equal(str(fetched.info, 'ordType'), 'post_only');
    assert.equal(fetched.postOnly, true);
    assert.equal(fetched.status, 'open');

    // Would trade against the resting sell: as OKX, placed (an id comes back) and canceled at
    // once, with nothing held or traded.
    const b0 = await holdings(b);
    const taker = orderId(await b.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 40000, { postOnly: true }));
    const killed = await b.fetchOrder(taker, 'BTC/USDT');
    assert.equal(killed.status, 'canceled');
    assert.equal(killed.filled, 0);
    assert.equal(str(killed.info, 'cancelSource'), '31');
    assert.deepEqual(delta(b0, await holdings(b), 'USDT'), { total: 0n, free: 0n, used: 0n });
    assert.equal((await a.fetchOrder(id, 'BTC/USDT')).status, 'open', 'the resting sell is untouched');

    const canceled = await a.cancelOrder(id, 'BTC/USDT');
    assert.equal(canceled.id, id);
    const after = await a.fetchOrder(id, 'BTC/USDT');
    assert.equal(after.status, 'canceled');
    assert.equal(str(after.info, 'state'), 'canceled');
    const history = await a.fetchCanceledOrders('BTC/USDT');
    assert.ok(history.some((o) => o.id === id && o.status === 'canceled'), 'fetchCanceledOrders lists it');
    assert.ok(!(await a.fetchClosedOrders('BTC/USDT')).some((o) => o.id === id), 'not among the filled ones');
  });

  test('FOK (timeInForce FOK): one that cannot fill in full is accepted then canceled (cancelSource 13), nothing traded', async () => {
    const ask = orderId(await a.createOrder('BTC/USDT', 'limit', 'sell', 0.001, 40000));
    const b0 = await holdings(b);
    const placed = await b.createOrder('BTC/USDT', 'limit', 'buy', 0.002, 40000, { timeInForce: 'FOK' });
    const fetched = await b.fetchOrder(orderId(placed), 'BTC/USDT');
    assert.equal(str(fetched.info, 'ordType'), 'fok');
    assert.equal(fetched.status, 'canceled');
    assert.equal(fetched.filled, 0);
    assert.equal(str(fetched.info, 'cancelSource'), '13');
    assert.deepEqual(delta(b0, await holdings(b), 'USDT'), { total: 0n, free: 0n, used: 0n });
    assert.equal((await a.fetchOrder(ask, 'BTC/USDT')).status, 'open', 'the resting sell is untouched');
    await cancelAllOpen(a);
  });

  test('editOrder amends price and size; the hold follows', async () => {
    const h0 = await holdings(a);
    const id = orderId(await a.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 20000));
    const h1 = await holdings(a);
    assert.deepEqual(delta(h0, h1, 'USDT'), { total: 0n, free: -20_000_000n, used: 20_000_000n });
    const edited = await a.editOrder(id, 'BTC/USDT', 'limit', 'buy', 0.002, 20500);
    assert.equal(edited.id, id);
    const fetched = await a.fetchOrder(id, 'BTC/USDT');
    assert.equal(str(fetched.info, 'px'), '20500');
    assert.equal(str(fetched.info, 'sz'), '0.002');
    assert.equal(fetched.price, 20500);
    assert.equal(fetched.amount, 0.002);
    assert.equal(fetched.status, 'open');
    const h2 = await holdings(a);
    assert.deepEqual(delta(h0, h2, 'USDT'), { total: 0n, free: -41_000_000n, used: 41_000_000n });
    await cancelAllOpen(a);
    assert.deepEqual(await holdings(a), h0);
  });

  test('createOrders: one batch over two instruments; a batch with a failing item reports it rejected', async () => {
    const placed = await a.createOrders([
      { symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.001, price: 20000 },
      { symbol: 'ETH/USDT', type: 'limit', side: 'buy', amount: 0.01, price: 1000 },
    ]);
    assert.equal(placed.length, 2);
    const ids = placed.map(orderId);
    const open = await a.fetchOpenOrders();
    assert.deepEqual(open.map((o) => o.id).sort(), [...ids].sort());
    assert.deepEqual(open.map((o) => o.symbol).sort(), ['BTC/USDT', 'ETH/USDT']);
    assert.deepEqual((await a.fetchOpenOrders('ETH/USDT')).map((o) => o.id), [ids[1]]);

    const mixed = await a.createOrders([
      { symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 0.001, price: 20100 },
      { symbol: 'BTC/USDT', type: 'limit', side: 'buy', amount: 900, price: 20000 }, // 18M USDT: far beyond the balance
    ]);
    assert.equal(mixed.length, 2);
    const [good, bad] = mixed as [Order, Order];
    assert.notEqual(good.status, 'rejected');
    orderId(good);
    assert.equal(bad.status, 'rejected');
    assert.equal(str(bad.info, 'sCode'), '51008');
    assert.equal((await a.fetchOpenOrders()).length, 3);
    await cancelAllOpen(a);
    const canceled = await a.fetchCanceledOrders('ETH/USDT');
    assert.ok(canceled.some((o) => o.id === ids[1]), 'the ETH order is among the canceled');
  });

  test('market data on ETH/BTC: order book, ticker, trades and OHLCV reflect exactly the orders placed', async () => {
    await a.createOrder('ETH/BTC', 'limit', 'sell', 0.5, 0.05);
    await a.createOrder('ETH/BTC', 'limit', 'sell', 0.3, 0.051);
    await b.createOrder('ETH/BTC', 'limit', 'buy', 0.2, 0.049);
    const taker = orderId(await b.createOrder('ETH/BTC', 'limit', 'buy', 0.1, 0.05));

    const book = await a.fetchOrderBook('ETH/BTC');
    assert.equal(book.symbol, 'ETH/BTC');
    const levels = (side: [number | undefined, number | undefined][]): unknown[] => side.map(([px, sz]) => [px, sz]);
    assert.deepEqual(levels(book.asks), [[0.05, 0.4], [0.051, 0.3]]);
    assert.deepEqual(levels(book.bids), [[0.049, 0.2]]);
    // The raw levels, exact: [px, sz, "0", order count].
    const rawBook = obj(list((await a.publicGetMarketBooks({ instId: 'ETH-BTC', sz: '5' }))['data'], 'books data')[0], 'raw book');
    assert.deepEqual(rawBook['asks'], [['0.05', '0.4', '0', '1'], ['0.051', '0.3', '0', '1']]);
    assert.deepEqual(rawBook['bids'], [['0.049', '0.2', '0', '1']]);
    const top = await a.fetchOrderBook('ETH/BTC', 1);
    assert.deepEqual(levels(top.asks), [[0.05, 0.4]]);
    assert.deepEqual(levels(top.bids), [[0.049, 0.2]]);

    const ticker = await a.fetchTicker('ETH/BTC');
    assert.equal(ticker.symbol, 'ETH/BTC');
    assert.equal(ticker.last, 0.05);
    assert.equal(ticker.bid, 0.049);
    assert.equal(ticker.ask, 0.05);
    assert.equal(ticker.bidVolume, 0.2);
    assert.equal(ticker.askVolume, 0.4);
    assert.equal(ticker.baseVolume, 0.1);
    assert.equal(str(ticker.info, 'vol24h'), '0.1');
    assert.equal(units(str(ticker.info, 'volCcy24h'), 8), 500_000n, '0.1 ETH × 0.05 = 0.005 BTC');
    const tickers = await a.fetchTickers();
    assert.deepEqual(Object.keys(tickers).sort(), ['BTC/USDT', 'ETH/BTC', 'ETH/USDT']);

    const trades = await a.fetchTrades('ETH/BTC');
    assert.equal(trades.length, 1);
    const [trade] = trades as [Trade];
    assert.equal(trade.price, 0.05);
    assert.equal(trade.amount, 0.1);
    assert.equal(trade.side, 'buy', "the taker's side");
    const mine = tradesOf(await b.fetchMyTrades('ETH/BTC'), taker);
    assert.deepEqual(mine.map((t) => t.id), [trade.id]);

    const candles = await a.fetchOHLCV('ETH/BTC', '1m', undefined, 5);
    assert.equal(candles.length, 1, 'one trade, one candle');
    const candle = defined(candles[0], 'the candle');
    assert.deepEqual(candle.slice(1), [0.05, 0.05, 0.05, 0.05, 0.1]);
    assert.equal(defined(candle[0], 'candle time') % 60_000, 0, 'bar start on the minute');
    assert.ok(defined(trade.timestamp, 'trade time') - candle[0]! < 60_000);

    await cancelAllOpen(a);
    await cancelAllOpen(b);
    const empty = await a.fetchOrderBook('ETH/BTC');
    assert.deepEqual([empty.asks, empty.bids], [[], []], 'the book is empty again');
  });

  test('fetchDepositAddress: one ERC20 address per user and currency', async () => {
    const addr = await a.fetchDepositAddress('USDT');
    assert.equal(addr.currency, 'USDT');
    assert.match(defined(addr.address, 'address'), /^0x[0-9a-f]{40}$/);
    assert.equal(str(addr.info, 'chain'), 'USDT-ERC20');
    assert.equal((await a.fetchDepositAddress('USDT')).address, addr.address, 'stable');
    assert.notEqual((await b.fetchDepositAddress('USDT')).address, addr.address, 'per user');
    assert.notEqual((await a.fetchDepositAddress('BTC')).address, addr.address, 'per currency');
  });

  test('a test deposit credited through the admin route shows in fetchDeposits and the balance', async () => {
    const h0 = await holdings(a);
    const depositId = `ccxt-dep-${String(process.pid)}`;
    await admin(server, token, '/deposits', { userId: server.traders[0]!.userId, ccy: 'USDT', amount: '123.456789', depositId });
    const deposits = await a.fetchDeposits('USDT');
    const dep = deposits.find((d) => d.id === depositId);
    assert.ok(dep !== undefined, `deposit ${depositId} listed in ${JSON.stringify(deposits.map((d) => d.id))}`);
    assert.equal(dep.type, 'deposit');
    assert.equal(dep.status, 'ok');
    assert.equal(dep.currency, 'USDT');
    assert.equal(dep.network, 'ERC20');
    assert.equal(dep.amount, 123.456789);
    assert.equal(str(dep.info, 'amt'), '123.456789');
    assert.equal(dep.address, (await a.fetchDepositAddress('USDT')).address);
    const h1 = await holdings(a);
    assert.deepEqual(delta(h0, h1, 'USDT'), { total: 123_456_789n, free: 123_456_789n, used: 0n });
    assert.deepEqual(await b.fetchDeposits('USDT').then((ds) => ds.filter((d) => d.id === depositId)), [], 'not visible to another user');
  });

  test('withdraw (network ERC20, fee given): pending and held, then completed by the operator: ok with txid', async () => {
    const h0 = await holdings(a);
    const to = `0x${'2'.repeat(40)}`;
    const w = await a.withdraw('USDT', 50, to, undefined, { network: 'ERC20', fee: '1' });
    const wdId = defined(w.id, 'withdrawal id');
    assert.match(wdId, /^\d+$/);
    const h1 = await holdings(a);
    assert.deepEqual(delta(h0, h1, 'USDT'), { total: 0n, free: -51_000_000n, used: 51_000_000n }, 'amount + fee held');

    const pending = (await a.fetchWithdrawals('USDT')).find((x) => x.id === wdId);
    assert.ok(pending !== undefined, 'listed');
    assert.equal(pending.type, 'withdrawal');
    assert.equal(pending.status, 'pending');
    assert.equal(pending.amount, 50);
    assert.equal(pending.address, to);
    assert.equal(pending.network, 'ERC20');
    assert.deepEqual(pending.fee, { currency: 'USDT', cost: 1 });
    assert.equal(str(pending.info, 'state'), '0');

    const txId = `0x${'ab'.repeat(32)}`;
    await admin(server, token, '/withdrawals/complete', { withdrawalId: Number(wdId), txId });
    const done = (await a.fetchWithdrawals('USDT')).find((x) => x.id === wdId);
    assert.ok(done !== undefined, 'still listed');
    assert.equal(done.status, 'ok');
    assert.equal(done.txid, txId);
    assert.equal(str(done.info, 'state'), '2');
    const h2 = await holdings(a);
    assert.deepEqual(delta(h0, h2, 'USDT'), { total: -51_000_000n, free: -51_000_000n, used: 0n });
  });

  test('withdraw without a fee (ccxt defaults read it from asset/currencies), then canceled through the implicit API', async () => {
    const trader = server.traders[0]!;
    const ex = new ccxt.okx({ apiKey: trader.apiKey, secret: trader.secretKey, password: trader.passphrase, urls: { api: { rest: server.url } } });
    await ex.loadMarkets();
    const h0 = await holdings(a);
    const w = await ex.withdraw('USDT', 20, `0x${'4'.repeat(40)}`, undefined, { network: 'ERC20' });
    const wdId = defined(w.id, 'withdrawal id');
    const pending = (await a.fetchWithdrawals('USDT')).find((x) => x.id === wdId);
    assert.equal(pending?.status, 'pending');
    assert.deepEqual(pending.fee, { currency: 'USDT', cost: 1 }, 'the fee ccxt took from asset/currencies');
    assert.deepEqual(delta(h0, await holdings(a), 'USDT'), { total: 0n, free: -21_000_000n, used: 21_000_000n });
    const canceled = await ex.privatePostAssetCancelWithdrawal({ wdId });
    assert.deepEqual(canceled['data'], [{ wdId }]);
    const after = (await a.fetchWithdrawals('USDT')).find((x) => x.id === wdId);
    assert.equal(after?.status, 'canceled');
    assert.equal(str(after.info, 'state'), '-2');
    assert.deepEqual(await holdings(a), h0, 'the hold is released');
  });

  test('errors: insufficient funds → InsufficientFunds (order and withdrawal)', async () => {
    const h0 = await holdings(a);
    const order = await rejection(a.createOrder('BTC/USDT', 'limit', 'buy', 100, 30000));
    assert.ok(order instanceof InsufficientFunds, String(order));
    assert.match(order.message, /51008/);
    const withdrawal = await rejection(a.withdraw('BTC', 50, `0x${'3'.repeat(40)}`, undefined, { network: 'ERC20', fee: '0.0002' }));
    assert.ok(withdrawal instanceof InsufficientFunds, String(withdrawal));
    assert.match(withdrawal.message, /58350/);
    assert.deepEqual(await holdings(a), h0, 'nothing moved');
  });

  test('errors: unknown order → OrderNotFound (cancel of a filled or unknown order, fetchOrder of an unknown id)', async () => {
    const sell = orderId(await a.createOrder('BTC/USDT', 'limit', 'sell', 0.001, 30000));
    orderId(await b.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 30000));
    assert.equal((await a.fetchOrder(sell, 'BTC/USDT')).status, 'closed');
    const filled = await rejection(a.cancelOrder(sell, 'BTC/USDT'));
    assert.ok(filled instanceof OrderNotFound, String(filled));
    assert.match(filled.message, /51400/);
    const unknown = await rejection(a.cancelOrder('999999999', 'BTC/USDT'));
    assert.ok(unknown instanceof OrderNotFound, String(unknown));
    const fetched = await rejection(a.fetchOrder('999999999', 'BTC/USDT'));
    assert.ok(fetched instanceof OrderNotFound, String(fetched));
    assert.match(fetched.message, /51603/);
    const othersOrder = await rejection(b.fetchOrder(sell, 'BTC/USDT'));
    assert.ok(othersOrder instanceof OrderNotFound, `another user's order is not found: ${String(othersOrder)}`);
  });

  test('errors: unknown instrument → BadSymbol (implicit API, past ccxt\'s client-side symbol check)', async () => {
    const place = await rejection(a.privatePostTradeOrder({ instId: 'NOPE-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', sz: '1', px: '1' }));
    assert.ok(place instanceof BadSymbol, String(place));
    assert.match(place.message, /51001/);
    const ticker = await rejection(a.publicGetMarketTicker({ instId: 'NOPE-USDT' }));
    assert.ok(ticker instanceof BadSymbol, String(ticker));
    const book = await rejection(a.publicGetMarketBooks({ instId: 'NOPE-USDT' }));
    assert.ok(book instanceof BadSymbol, String(book));
  });

  test('errors: wrong secret or passphrase → AuthenticationError', async () => {
    const trader = server.traders[0]!;
    const wrongSecret = client(server.url, { ...trader, secretKey: 'F'.repeat(32) });
    const e1 = await rejection(wrongSecret.fetchBalance());
    assert.ok(e1 instanceof AuthenticationError, String(e1));
    assert.match(e1.message, /50113/);
    const wrongPass = client(server.url, { ...trader, passphrase: 'not-the-passphrase' });
    const e2 = await rejection(wrongPass.fetchBalance());
    assert.ok(e2 instanceof AuthenticationError, String(e2));
    assert.match(e2.message, /50105/);
    const wrongKey = client(server.url, { ...trader, apiKey: '00000000-0000-0000-0000-000000000000' });
    const e3 = await rejection(wrongKey.fetchBalance());
    assert.ok(e3 instanceof AuthenticationError, String(e3));
    assert.match(e3.message, /50111/);
  });

  test('errors: a read-only key trading → ExchangeError carrying 50120 (ccxt has no class for it); outside its IP allowlist → PermissionDenied (50110)', async () => {
    const reader = await admin(server, token, '/keys', { userId: server.traders[0]!.userId, perm: 'read_only' });
    // The fields a key is created with are the ones ccxt's constructor takes.
    const ro = new ccxt.okx({ apiKey: str(reader, 'apiKey'), secret: str(reader, 'secret'), password: str(reader, 'password'), urls: { api: { rest: server.url } } });
    await ro.loadMarkets();
    assert.ok((await ro.fetchBalance()).total !== undefined, 'reading is allowed');
    const denied = await rejection(ro.createOrder('BTC/USDT', 'limit', 'buy', 0.001, 1000));
    assert.ok(denied instanceof ExchangeError && !(denied instanceof AuthenticationError), String(denied));
    assert.match(denied.message, /50120/);
    const elsewhere = await admin(server, token, '/keys', { userId: server.traders[0]!.userId, ips: '192.0.2.1' });
    const far = new ccxt.okx({ apiKey: str(elsewhere, 'apiKey'), secret: str(elsewhere, 'secret'), password: str(elsewhere, 'password'), urls: { api: { rest: server.url } } });
    const refused = await rejection(far.privateGetAccountBalance());
    assert.ok(refused instanceof PermissionDenied, String(refused));
    assert.match(refused.message, /50110/);
  });

  test('errors: a timestamp 60 s off either way → InvalidNonce; 10 s off is accepted', async () => {
    // okx.sign() stamps requests with iso8601(nonce()), and nonce() = milliseconds() - options.timeDifference.
    const skewed = client(server.url, server.traders[0]!);
    await skewed.loadMarkets();
    skewed.options['timeDifference'] = 60_000;
    const behind = await rejection(skewed.fetchBalance());
    assert.ok(behind instanceof InvalidNonce, String(behind));
    assert.match(behind.message, /50102/);
    skewed.options['timeDifference'] = -60_000;
    const ahead = await rejection(skewed.fetchBalance());
    assert.ok(ahead instanceof InvalidNonce, String(ahead));
    skewed.options['timeDifference'] = 10_000;
    const balance = await skewed.fetchBalance();
    assert.equal(balance['BTC'] !== undefined, true);
  });

  test('rate limits (second server, defaults): concurrent bursts get 429/50011 → RateLimitExceeded', async () => {
    const ex = client(limited.url, limited.traders[0]!);
    await ex.loadMarkets();
    // Bounded: the budgets are 10 per 2 s for both routes, so one burst of 30 must trip them.
    const burst = async (call: () => Promise<unknown>): Promise<unknown[]> => {
      for (let round = 0; round < 5; round++) {
        const results = await Promise.allSettled(Array.from({ length: 30 }, call));
        const errors = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
        if (errors.length > 0) {
          assert.ok(results.some((r) => r.status === 'fulfilled'), 'the budget lets some through');
          return errors;
        }
      }
      return assert.fail('no request was refused');
    };
    for (const errors of [await burst(() => ex.publicGetPublicTime()), await burst(() => ex.fetchBalance())]) {
      for (const e of errors) assert.ok(e instanceof RateLimitExceeded, String(e));
      assert.match((errors[0] as RateLimitExceeded).message, /50011/);
    }
    // Another user's private budget is untouched by the first user's burst.
    const other = client(limited.url, limited.traders[1]!);
    await other.loadMarkets();
    assert.ok((await other.fetchBalance())['USDT'] !== undefined);
  });
});
