// Public endpoints: server time, instruments, tickers, order books, public trades, candles and
// system status. Everything is read through the local replica's queries (books, instruments,
// tickers, trades, candles) as plain integer records and formatted exactly.

import { z } from 'zod';
import { amountText, pxText, szText, type Instrument } from './convert.js';
import { ApiErrors } from './errors.js';
import {
  fail, instrument, optional, pageFields, parsePage, required, validate,
  type RequestContext, type RouteDef,
} from './request.js';
import { Failure } from './errors.js';
import type { BookLevelView } from '../core/index.js';
import { CandleBarsMs, type Candle, type PublicTrade, type Ticker } from '../projections/index.js';
import type { ExchangeQueries } from '../replica/index.js';

/** Book depth bounds: OKX's books endpoint serves up to 400 levels a side, books-full 5000. */
export const booksDepthMax = 400;
export const booksFullDepthMax = 5_000;
/** Public trades per request, and candles per request. */
export const tradesLimitMax = 500;
export const candlesLimitMax = 300;


const instrumentsQuery = z.strictObject({ instType: required(16), instId: optional(64), uly: optional(64), instFamily: optional(64) });
const tickerQuery = z.strictObject({ instId: required(64) });
const tickersQuery = z.strictObject({ instType: required(16), uly: optional(64), instFamily: optional(64) });
const booksQuery = z.strictObject({ instId: required(64), sz: optional(8) });
const tradesQuery = z.strictObject({ instId: required(64), limit: optional(8) });
const candlesQuery = z.strictObject({ instId: required(64), bar: optional(8), ...pageFields });
const statusQuery = z.strictObject({ state: optional(16) });
const emptyQuery = z.strictObject({});

/** Every instrument, in name order (the order every list endpoint answers in). */
function instrumentsByName(queries: ExchangeQueries): Instrument[] {
  return [...queries.instruments()].sort((a, b) => (a.instId < b.instId ? -1 : 1));
}

/** OKX's instrument states: suspended and cancel-only instruments cannot take new orders. */
function okxState(inst: Instrument): string {
  return inst.state === 'suspended' || inst.state === 'cancel_only' ? 'suspend' : 'live';
}

function instrumentRow(inst: Instrument): Record<string, unknown> {
  const s = inst.spec;
  return {
    instType: 'SPOT', instId: s.instId, uly: '', instFamily: '', category: '1', baseCcy: s.base, quoteCcy: s.quote,
    settleCcy: '', ctVal: '', ctMult: '', ctValCcy: '', optType: '', stk: '', listTime: '', expTime: '',
    lever: '', tickSz: pxText(inst, 1), lotSz: szText(inst, 1), minSz: szText(inst, inst.minLots),
    ctType: '', alias: '', state: okxState(inst), maxLmtSz: szText(inst, inst.maxLots),
    maxMktSz: szText(inst, inst.maxLots), maxLmtAmt: '', maxMktAmt: '', maxTwapSz: '', maxIcebergSz: '',
    maxTriggerSz: '', maxStopSz: '', ruleType: 'normal',
  };
}

function optionalPx(inst: Instrument, ticks: number | null): string {
  return ticks === null ? '' : pxText(inst, ticks);
}

/** A ticker as REST and the `tickers` channel send it. */
export function tickerRow(queries: ExchangeQueries, inst: Instrument, t: Ticker, nowMs: number): Record<string, string> {
  const top = queries.book(inst.instId, 1);
  const ask = top?.asks[0];
  const bid = top?.bids[0];
  return {
    instType: 'SPOT', instId: inst.instId,
    last: optionalPx(inst, t.lastTicks), lastSz: t.lastLots === null ? '' : szText(inst, t.lastLots),
    askPx: ask === undefined ? '' : pxText(inst, ask.priceTicks), askSz: ask === undefined ? '' : szText(inst, ask.sizeLots),
    bidPx: bid === undefined ? '' : pxText(inst, bid.priceTicks), bidSz: bid === undefined ? '' : szText(inst, bid.sizeLots),
    open24h: optionalPx(inst, t.open24hTicks), high24h: optionalPx(inst, t.high24hTicks), low24h: optionalPx(inst, t.low24hTicks),
    volCcy24h: amountText(queries, inst.spec.quote, t.volQuote24h), vol24h: szText(inst, t.vol24hLots),
    sodUtc0: optionalPx(inst, t.sodUtc0Ticks), sodUtc8: optionalPx(inst, t.sodUtc8Ticks),
    ts: String(t.ts > 0 ? t.ts : nowMs),
  };
}

/** A book level as OKX sends it: [price, size, "0" (liquidated orders, none on spot), orders]. */
export function bookLevelRow(inst: Instrument, level: BookLevelView): [string, string, string, string] {
  return [pxText(inst, level.priceTicks), szText(inst, level.sizeLots), '0', String(level.orders)];
}

/** A public trade as REST and the `trades` channel send it. */
export function tradeRow(inst: Instrument, t: PublicTrade): Record<string, string> {
  return {
    instId: t.instId, tradeId: String(t.tradeId), px: pxText(inst, t.priceTicks), sz: szText(inst, t.sizeLots),
    side: t.takerSide, ts: String(t.ts), count: '1', source: '0',
  };
}

/** A candle as REST and the candle channels send it: ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm. */
export function candleRow(queries: ExchangeQueries, inst: Instrument, c: Candle): string[] {
  const quote = amountText(queries, inst.spec.quote, c.volQuote);
  return [
    String(c.startTs), pxText(inst, c.open), pxText(inst, c.high), pxText(inst, c.low), pxText(inst, c.close),
    szText(inst, c.volLots), quote, quote, c.confirmed ? '1' : '0',
  ];
}

function books(ctx: RequestContext, depthMax: number): ReturnType<RouteDef['handle']> {
  const q = validate(booksQuery, ctx.query);
  if (q instanceof Failure) return q;
  const inst = instrument(ctx.port.queries, q.instId);
  if (inst instanceof Failure) return inst;
  let depth = 1;
  if (q.sz !== undefined && q.sz !== '') {
    if (!/^[0-9]{1,8}$/.test(q.sz)) return fail(ApiErrors.paramError, 'sz');
    depth = Math.min(depthMax, Math.max(1, Number(q.sz)));
  }
  const book = ctx.port.queries.book(inst.instId, depth);
  if (book === undefined) return fail(ApiErrors.instrumentNotFound);
  const side = (levels: readonly BookLevelView[]): string[][] => levels.map((level) => bookLevelRow(inst, level));
  return { data: [{ asks: side(book.asks), bids: side(book.bids), ts: String(ctx.nowMs) }] };
}

export const marketRoutes: readonly RouteDef[] = [
  {
    method: 'GET', path: '/api/v5/public/time', auth: false, scope: 'ip',
    handle: (ctx) => {
      const q = validate(emptyQuery, ctx.query);
      return q instanceof Failure ? q : { data: [{ ts: String(ctx.nowMs) }] };
    },
  },
  {
    method: 'GET', path: '/api/v5/public/instruments', auth: false, scope: 'ip',
    handle: (ctx) => {
      const q = validate(instrumentsQuery, ctx.query);
      if (q instanceof Failure) return q;
      if (q.instType !== 'SPOT') return { data: [] };
      const all = instrumentsByName(ctx.port.queries);
      const wanted = q.instId === undefined || q.instId === '' ? all : all.filter((i) => i.instId === q.instId);
      return { data: wanted.map(instrumentRow) };
    },
  },
  {
    method: 'GET', path: '/api/v5/market/ticker', auth: false, scope: 'ip',
    handle: (ctx) => {
      const q = validate(tickerQuery, ctx.query);
      if (q instanceof Failure) return q;
      const queries = ctx.port.queries;
      const inst = instrument(queries, q.instId);
      if (inst instanceof Failure) return inst;
      return { data: [tickerRow(queries, inst, queries.ticker(inst.instId), ctx.nowMs)] };
    },
  },
  {
    method: 'GET', path: '/api/v5/market/tickers', auth: false, scope: 'ip',
    handle: (ctx) => {
      const q = validate(tickersQuery, ctx.query);
      if (q instanceof Failure) return q;
      if (q.instType !== 'SPOT') return { data: [] };
      const queries = ctx.port.queries;
      return { data: instrumentsByName(queries).map((inst) => tickerRow(queries, inst, queries.ticker(inst.instId), ctx.nowMs)) };
    },
  },
  { method: 'GET', path: '/api/v5/market/books', auth: false, scope: 'ip', handle: (ctx) => books(ctx, booksDepthMax) },
  { method: 'GET', path: '/api/v5/market/books-full', auth: false, scope: 'ip', handle: (ctx) => books(ctx, booksFullDepthMax) },
  {
    method: 'GET', path: '/api/v5/market/trades', auth: false, scope: 'ip',
    handle: (ctx) => {
      const q = validate(tradesQuery, ctx.query);
      if (q instanceof Failure) return q;
      const inst = instrument(ctx.port.queries, q.instId);
      if (inst instanceof Failure) return inst;
      const page = parsePage({ limit: q.limit }, 100, tradesLimitMax);
      if (page instanceof Failure) return page;
      const trades = ctx.port.queries.trades(inst.instId, page.limit);
      return { data: trades.map((t) => tradeRow(inst, t)) };
    },
  },
  {
    method: 'GET', path: '/api/v5/market/candles', auth: false, scope: 'ip',
    handle: (ctx) => {
      const q = validate(candlesQuery, ctx.query);
      if (q instanceof Failure) return q;
      const queries = ctx.port.queries;
      const inst = instrument(queries, q.instId);
      if (inst instanceof Failure) return inst;
      const bar = q.bar === undefined || q.bar === '' ? '1m' : q.bar;
      const ms = Object.hasOwn(CandleBarsMs, bar) ? (CandleBarsMs as Readonly<Record<string, number>>)[bar] : undefined;
      if (ms === undefined) return fail(ApiErrors.paramError, 'bar');
      const page = parsePage(q, 100, candlesLimitMax);
      if (page instanceof Failure) return page;
      const candles = queries.candles(inst.instId, ms, page);
      return { data: candles.map((c) => candleRow(queries, inst, c)) };
    },
  },
  {
    method: 'GET', path: '/api/v5/system/status', auth: false, scope: 'ip',
    handle: (ctx) => {
      const q = validate(statusQuery, ctx.query);
      if (q instanceof Failure) return q;
      const status = ctx.port.status();
      if (status.state === 'serving') return { data: [] };
      return {
        data: [{
          title: `Everbook node ${status.state}`, state: 'ongoing', begin: String(ctx.nowMs), end: '', preOpenBegin: '',
          href: '', serviceType: '0', system: 'unified', scheDesc: '', maintType: '1', env: '1',
        }],
      };
    },
  },
];
