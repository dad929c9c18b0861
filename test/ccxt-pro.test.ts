// ccxt.pro's okx class (in the pinned ccxt 4.5.84, unchanged) against a real `everbook start`
// process: watchOrderBook equals the REST book (ccxt's own fetchOrderBook) at every quiet point of
// a long, seeded stream of resting orders, crossing orders and cancels, with ccxt checking the
// seqId chain itself (a break would throw InvalidNonce); watchOrderBook with limit 5 (books5),
// watchTrades, watchTicker, watchBidsAsks (bbo-tbt) and watchOHLCV (the business URL) each see
// what REST says. Orders go in over REST from the dev traders.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import ccxt, { type OrderBook } from 'ccxt';
import { okx, type Credentials } from './support/okx-client.js';
import { kill, startServer, type ServerProcess } from './support/server-process.js';
import { mulberry32 } from '../bench/w1.js';

type Pro = InstanceType<typeof ccxt.pro.okx>;
type Side = 'buy' | 'sell';

function pro(server: ServerProcess): Pro {
  return new ccxt.pro.okx({
    urls: { api: { rest: server.url, ws: server.url.replace(/^http/, 'ws') + '/ws/v5' } },
    options: { fetchMarkets: { types: ['spot'] } },
    has: { fetchCurrencies: false },
    enableRateLimit: false,
  });
}

async function place(server: ServerProcess, who: Credentials, instId: string, side: Side, px: string, sz: string): Promise<string> {
  const reply = await okx(server.url, 'POST', '/api/v5/trade/order', { instId, tdMode: 'cash', side, ordType: 'limit', px, sz }, who);
  assert.equal(reply.code, '0', JSON.stringify(reply));
  return reply.data[0]!['ordId']!;
}

/** Cancels an order that may meanwhile have filled (51400: nothing to cancel). */
async function cancel(server: ServerProcess, who: Credentials, instId: string, ordId: string): Promise<void> {
  const reply = await okx(server.url, 'POST', '/api/v5/trade/cancel-order', { instId, ordId }, who);
  assert.ok(reply.code === '0' || reply.data[0]?.['sCode'] === '51400', JSON.stringify(reply));
}

/** [price, amount] pairs, as ccxt holds them, from either an ws or a REST order book. */
function levels(side: readonly (readonly (number | undefined)[])[]): [number, number][] {
  // ccxt's Bids and Asks are Array subclasses: copy into a plain array first.
  return [...side].map((l) => [l[0]!, l[1]!]);
}

/** A watch call, failed if its push does not come within the deadline. */
async function within<T>(promise: Promise<T>, what: string, timeoutMs = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => { reject(new Error(`no ${what} within ${String(timeoutMs)} ms`)); }, timeoutMs); });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until ccxt's cached view (what its last push left) satisfies `ok`, calling `watch` for
 * the next push while it does not. The cache is read first, so a push that came before the
 * wait is not waited for again. Bounded in pushes and, per push, in time.
 */
async function until<T>(cached: () => T | undefined, ok: (v: T) => boolean, watch: () => Promise<unknown>, what: string, pushesMax = 1_000): Promise<T> {
  for (let i = 0; i < pushesMax; i++) {
    const v = cached();
    if (v !== undefined && ok(v)) return v;
    await within(watch(), what);
  }
  return assert.fail(`${what}: not after ${String(pushesMax)} pushes`);
}

describe('ccxt.pro okx (unchanged, 4.5.84) against a real everbook process', { timeout: 180_000 }, () => {
  let server: ServerProcess;
  let dir = '';
  let a: Credentials;
  let b: Credentials;
  const clients: Pro[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everbook-ccxt-pro-'));
    server = await startServer(dir, ['--rate-limits', 'false']);
    a = server.traders[0]!;
    b = server.traders[1]!;
  });

  after(async () => {
    for (const c of clients) await c.close();
    await kill(server);
    await rm(dir, { recursive: true, force: true });
  });

  async function client(): Promise<Pro> {
    const ex = pro(server);
    clients.push(ex);
    await ex.loadHttpProxyAgent();
    await ex.loadMarkets();
    return ex;
  }

  test('watchOrderBook equals fetchOrderBook at every quiet point of a long stream of orders, trades and cancels', async () => {
    const symbol = 'BTC/USDT';
    const instId = 'BTC-USDT';
    const ex = await client();
    const rest = await client();
    // Four traders' lanes at once, each its own seeded stream; their requests share records.
    const lanes = [mulberry32(9), mulberry32(10), mulberry32(11), mulberry32(12)];
    const open: { who: Credentials; ordId: string }[] = [];
    const quietPoints = 12;
    const opsPerLane = 8;
    let book = await within(ex.watchOrderBook(symbol), 'the books snapshot');
    const lane = async (random: () => number): Promise<void> => {
      for (let op = 0; op < opsPerLane; op++) {
        const who = random() < 0.5 ? a : b;
        const roll = random();
        if (roll < 0.25 && open.length > 0) {
          const [victim] = open.splice(Math.floor(random() * open.length), 1);
          await cancel(server, victim!.who, instId, victim!.ordId);
        } else {
          // Prices 29,950-30,050 in whole dollars: buys and sells overlap, so many cross and trade.
          const side: Side = roll < 0.6 ? 'buy' : 'sell';
          const px = String(29_950 + Math.floor(random() * 101));
          const sz = (0.001 * (1 + Math.floor(random() * 20))).toFixed(3);
          open.push({ who, ordId: await place(server, who, instId, side, px, sz) });
        }
      }
    };
    for (let round = 0; round < quietPoints; round++) {
      await Promise.all(lanes.map(lane));
      // The quiet point's marker, the round's last change: a lone ask at a price of its own.
      const markerPx = 31_000 + round;
      const marker = await place(server, a, instId, 'sell', String(markerPx), '0.001');
      // ccxt updates its book object in place: what it holds is the latest push.
      book = await until(() => book, (ob) => ob.asks.some((l) => l[0] === markerPx), () => ex.watchOrderBook(symbol), `the marker of quiet point ${String(round)}`);
      const fetched = await rest.fetchOrderBook(symbol, 400);
      assert.deepEqual(levels(book.bids), levels(fetched.bids), `bids at quiet point ${String(round)}`);
      assert.deepEqual(levels(book.asks), levels(fetched.asks), `asks at quiet point ${String(round)}`);
      await cancel(server, a, instId, marker);
    }
    for (const o of open) await cancel(server, o.who, instId, o.ordId);
  });

  test('watchOrderBook with limit 5 (books5) and watchBidsAsks (bbo-tbt) show the top of the REST book', async () => {
    const symbol = 'ETH/USDT';
    const instId = 'ETH-USDT';
    const ex = await client();
    const ids = [
      await place(server, a, instId, 'buy', '2000', '0.01'), await place(server, a, instId, 'buy', '1999', '0.02'),
      await place(server, b, instId, 'sell', '2001', '0.03'),
    ];
    const top = await within(ex.watchOrderBook(symbol, 5), 'books5');
    assert.deepEqual(levels(top.bids), [[2000, 0.01], [1999, 0.02]]);
    assert.deepEqual(levels(top.asks), [[2001, 0.03]]);
    const bidsAsks = await within(ex.watchBidsAsks([symbol]), 'bbo-tbt');
    const bbo = bidsAsks[symbol]!;
    assert.equal(bbo.bid, 2000);
    assert.equal(bbo.ask, 2001);
    assert.equal(bbo.bidVolume, 0.01);
    ids.push(await place(server, a, instId, 'buy', '2000.5', '0.04'));
    const next = await until(() => ex.bidsasks[symbol], (t) => t.bid === 2000.5, () => ex.watchBidsAsks([symbol]), 'the new best bid');
    assert.equal(next.bidVolume, 0.04);
    const top5 = await until(() => ex.orderbooks[symbol] as OrderBook | undefined, (ob) => levels(ob.bids)[0]?.[0] === 2000.5, () => ex.watchOrderBook(symbol, 5), 'books5 with the new bid');
    assert.deepEqual(levels(top5.bids), [[2000.5, 0.04], [2000, 0.01], [1999, 0.02]]);
    for (const id of ids) await cancel(server, id === ids[2] ? b : a, instId, id);
  });

  test('watchTrades, watchTicker and watchOHLCV see a trade as fetchTrades, fetchTicker and fetchOHLCV do', async () => {
    const symbol = 'ETH/BTC';
    const instId = 'ETH-BTC';
    const ex = await client();
    const trades = ex.watchTrades(symbol);
    // The ticker's first push follows its acknowledgement on the same connection: the trades
    // subscription, sent first, is in place once it arrives.
    await within(ex.watchTicker(symbol), 'the first ticker');
    await place(server, a, instId, 'sell', '0.05', '0.5');
    await place(server, b, instId, 'buy', '0.05', '0.2');
    const seen = await within(trades, 'the trade');
    const fetched = await ex.fetchTrades(symbol);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.id, fetched[0]!.id);
    assert.equal(seen[0]!.price, 0.05);
    assert.equal(seen[0]!.amount, 0.2);
    assert.equal(seen[0]!.side, 'buy');

    const ticker = await until(() => ex.tickers[symbol], (t) => t.last === 0.05, () => ex.watchTicker(symbol), 'the ticker after the trade');
    const restTicker = await ex.fetchTicker(symbol);
    for (const key of ['last', 'bid', 'ask', 'open', 'high', 'low', 'baseVolume', 'quoteVolume'] as const) {
      assert.equal(ticker[key], restTicker[key], `ticker ${key}`);
    }

    // The current candle comes at once on subscribing (the business URL), and again after a trade.
    const candles = await within(ex.watchOHLCV(symbol, '1m'), 'the current candle');
    // ccxt updates a candle of the same start in place: keep a copy.
    const first = [...candles[candles.length - 1]!];
    const restCandles = await ex.fetchOHLCV(symbol, '1m', undefined, 1);
    assert.deepEqual(first, [...restCandles[restCandles.length - 1]!]);
    assert.equal(first[4], 0.05, 'close');
    await place(server, b, instId, 'buy', '0.05', '0.1');
    const cachedCandle = (): number[] | undefined => {
      const stored = (ex.ohlcvs[symbol] as Record<string, number[][]> | undefined)?.['1m'];
      return stored?.[stored.length - 1];
    };
    const latest = await until(cachedCandle, (c) => c[0] !== first[0] || c[5] !== first[5], () => ex.watchOHLCV(symbol, '1m'), 'the candle after the second trade');
    const after = await ex.fetchOHLCV(symbol, '1m', undefined, 1);
    assert.deepEqual([...latest], after[after.length - 1]);
  });
});
