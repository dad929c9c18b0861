// Trade endpoints: place (single and batch), cancel (single and batch), amend, and the order and
// fill queries. Each order item is parsed and converted exactly at the edge (price to ticks,
// size to lots, quote amounts to minor units), so only well-formed commands reach the log; the
// business rules (instrument state, price and size limits, balance, duplicates, liquidity) are
// decided by the engine alone, and its rejection comes back as the item's sCode. A batch is one
// log record: its items apply in order, together.

import { z } from 'zod';
import type {
  AmendOrder, CancelOrder, CancelReason, OrderType, PlaceOrder, Result, StpMode,
} from '../core/index.js';
import type { FillRecord, OrderRecord } from '../projections/index.js';
import {
  amountText, avgPxText, feeText, parseId, pxText, szText, toSteps, type Instrument,
} from './convert.js';
import {
  ApiErrors, Failure, rejectToApi, withParam, type ApiError, type CodeAndMsg, type RejectContext,
} from './errors.js';
import type { ExchangeQueries, LogCommand } from '../replica/index.js';
import {
  defined, fail, instrument, isSpot, optional, optionalId, optionalMatch, pageFields, parsePage, required, submit, validate,
  type Outcome, type RequestContext, type RouteDef, type Success,
} from './request.js';

/** Orders per batch request, as OKX. */
export const batchItemsMax = 20;
/** Orders and fills per page, as OKX. */
export const historyLimitMax = 100;

const ID_TEXT = /^[A-Za-z0-9]{0,32}$/;
const TAG_TEXT = /^[A-Za-z0-9]{0,16}$/;
const ORDER_TYPES: readonly OrderType[] = ['limit', 'market', 'post_only', 'fok', 'ioc'];
const flag = z.union([z.boolean(), z.enum(['true', 'false'])]).optional();

const orderItem = z.strictObject({
  instId: required(64),
  tdMode: z.literal('cash'),
  side: z.enum(['buy', 'sell']),
  ordType: z.enum(['limit', 'market', 'post_only', 'fok', 'ioc']),
  sz: required(64),
  px: optional(64),
  clOrdId: optionalMatch(ID_TEXT),
  tag: optionalMatch(TAG_TEXT),
  tgtCcy: z.enum(['base_ccy', 'quote_ccy', '']).optional(),
  reduceOnly: flag,
  posSide: z.enum(['net', '']).optional(),
  ccy: optional(16),
  stpMode: z.enum(['cancel_maker', 'cancel_taker', 'cancel_both', '']).optional(),
  stpId: optional(32),
  banAmend: flag,
});

const cancelItem = z.strictObject({
  instId: required(64),
  ordId: optional(32),
  clOrdId: optionalMatch(ID_TEXT),
});

const amendBody = z.strictObject({
  instId: required(64),
  ordId: optional(32),
  clOrdId: optionalMatch(ID_TEXT),
  newSz: optional(64),
  newPx: optional(64),
  reqId: optionalMatch(ID_TEXT),
  cxlOnFail: flag,
});

const orderQuery = z.strictObject({ instId: required(64), ordId: optional(32), clOrdId: optional(32) });
const listFields = {
  instType: optional(16), instFamily: optional(64), uly: optional(64), instId: optional(64), ordType: optional(16),
  state: optional(32), ...pageFields,
};
const pendingQuery = z.strictObject(listFields);
const historyQuery = z.strictObject({ ...listFields, instType: required(16), category: optional(16), begin: optional(20), end: optional(20) });
const fillFields = {
  instType: optional(16), instFamily: optional(64), uly: optional(64), instId: optional(64), ordId: optional(32),
  subType: optional(8), begin: optional(20), end: optional(20), ...pageFields,
};
const fillsQuery = z.strictObject(fillFields);
const fillsHistoryQuery = z.strictObject({ ...fillFields, instType: required(16) });

// ------------------------------------------------------------------------- conversions

// Wire-level parsing only: a decimal becomes a whole number of ticks or lots, or the request is
// refused with the code OKX gives a malformed or off-step value. The instrument's limits
// (price band, minimum and maximum size) are business rules the engine alone decides; its
// rejection comes back with the same OKX code through the one error table (errors.ts).

function priceTicks(inst: Instrument, text: string, name: string): number | Failure {
  const steps = toSteps(text, inst.priceDecimals, inst.tickUnits);
  if (steps === 'malformed') return fail(ApiErrors.paramError, name);
  if (steps === 'notMultiple') return new Failure({ ...ApiErrors.priceOutOfLimit, msg: `${name} must be a multiple of the tick size ${pxText(inst, 1)}.` });
  // Past 2^53 the price is not a command's integer at all; the engine would refuse it as out of limit.
  if (steps > BigInt(Number.MAX_SAFE_INTEGER)) return new Failure(ApiErrors.priceOutOfLimit);
  return Number(steps);
}

function sizeLots(inst: Instrument, text: string, name: string): number | Failure {
  const steps = toSteps(text, inst.sizeDecimals, inst.lotUnitsDecimal);
  if (steps === 'malformed' || steps === 0n) return fail(ApiErrors.paramError, name);
  if (steps === 'notMultiple') return new Failure({ ...ApiErrors.lotMultiple, msg: `${name} must be a multiple of the lot size ${szText(inst, 1)}.` });
  // Past 2^53 the size is not a command's integer at all; the engine would refuse it as above the maximum.
  if (steps > BigInt(Number.MAX_SAFE_INTEGER)) return new Failure(ApiErrors.sizeAboveMax);
  return Number(steps);
}

function quoteUnits(inst: Instrument, text: string): number | Failure {
  const steps = toSteps(text, inst.quoteScale, 1);
  if (typeof steps !== 'bigint' || steps === 0n || steps > BigInt(Number.MAX_SAFE_INTEGER)) return fail(ApiErrors.paramError, 'sz');
  return Number(steps);
}

function isTrue(value: boolean | 'true' | 'false' | undefined): boolean {
  return value === true || value === 'true';
}

/** A string field of an item that failed validation, if it is safe to echo. */
function echo(item: unknown, field: string, pattern: RegExp): string {
  if (typeof item !== 'object' || item === null) return '';
  const value = (item as Record<string, unknown>)[field];
  return typeof value === 'string' && pattern.test(value) ? value : '';
}

function itemInstId(item: unknown): string {
  if (typeof item !== 'object' || item === null) return '';
  const value = (item as Record<string, unknown>)['instId'];
  return typeof value === 'string' && value.length <= 64 ? value : '';
}

// ------------------------------------------------------------------------- placing

interface Echo { readonly clOrdId: string; readonly tag: string; readonly reqId: string; readonly ordId: string }
type Prepared<C> = { readonly cmd: C; readonly echo: Echo } | { readonly error: ApiError; readonly echo: Echo };

function prepareOrder(queries: ExchangeQueries, userId: number, item: unknown): Prepared<PlaceOrder> {
  const o = validate(orderItem, item);
  if (o instanceof Failure) return { error: o.error, echo: { clOrdId: echo(item, 'clOrdId', ID_TEXT), tag: echo(item, 'tag', TAG_TEXT), reqId: '', ordId: '' } };
  // A valid item's clOrdId and tag have passed the same patterns in the schema: echoed as they are.
  const echoed: Echo = { clOrdId: o.clOrdId ?? '', tag: o.tag ?? '', reqId: '', ordId: '' };
  const inst = instrument(queries, o.instId);
  if (inst instanceof Failure) return { error: inst.error, echo: echoed };
  if (isTrue(o.reduceOnly)) return { error: ApiErrors.reduceOnly, echo: echoed };
  const type: OrderType = o.ordType;
  const clOrdId = o.clOrdId ?? '';
  const stpMode: StpMode | undefined = o.stpMode === undefined || o.stpMode === '' ? undefined : o.stpMode;
  const base = {
    type: 'PlaceOrder' as const, userId, instId: inst.instId, side: o.side, orderType: type,
    ...(clOrdId === '' ? {} : { clOrdId }), ...(stpMode === undefined ? {} : { stpMode }),
  };
  // OKX's default for a spot market buy is a quote amount; everything else is a base size.
  const tgtCcy = o.tgtCcy === undefined || o.tgtCcy === '' ? (type === 'market' && o.side === 'buy' ? 'quote_ccy' : 'base_ccy') : o.tgtCcy;
  if (type === 'market') {
    if (tgtCcy === 'quote_ccy') {
      const quoteAmount = quoteUnits(inst, o.sz);
      if (quoteAmount instanceof Failure) return { error: quoteAmount.error, echo: echoed };
      return { cmd: { ...base, quoteAmount }, echo: echoed };
    }
    const lots = sizeLots(inst, o.sz, 'sz');
    if (lots instanceof Failure) return { error: lots.error, echo: echoed };
    return { cmd: { ...base, sizeLots: lots }, echo: echoed };
  }
  if (tgtCcy === 'quote_ccy') return { error: withParam(ApiErrors.paramError, 'tgtCcy'), echo: echoed };
  if (o.px === undefined || o.px === '') return { error: withParam(ApiErrors.paramEmpty, 'px'), echo: echoed };
  const ticks = priceTicks(inst, o.px, 'px');
  if (ticks instanceof Failure) return { error: ticks.error, echo: echoed };
  const lots = sizeLots(inst, o.sz, 'sz');
  if (lots instanceof Failure) return { error: lots.error, echo: echoed };
  return { cmd: { ...base, priceTicks: ticks, sizeLots: lots }, echo: echoed };
}

function cancelEcho(item: unknown): Echo {
  return { clOrdId: echo(item, 'clOrdId', ID_TEXT), tag: '', reqId: '', ordId: echo(item, 'ordId', /^[0-9]{1,16}$/) };
}

function prepareCancel(queries: ExchangeQueries, userId: number, item: unknown): Prepared<CancelOrder> {
  const echoed = cancelEcho(item);
  const c = validate(cancelItem, item);
  if (c instanceof Failure) return { error: c.error, echo: echoed };
  const inst = instrument(queries, c.instId);
  if (inst instanceof Failure) return { error: inst.error, echo: echoed };
  const ref = orderRef(c.ordId, c.clOrdId);
  if (ref instanceof Failure) return { error: ref.error, echo: echoed };
  return { cmd: { type: 'CancelOrder', userId, instId: inst.instId, ...ref }, echo: echoed };
}

/** ordId wins when both are given (the engine also checks that both name the same order). */
function orderRef(ordId: string | undefined, clOrdId: string | undefined): { orderId?: number; clOrdId?: string } | Failure {
  const hasId = ordId !== undefined && ordId !== '';
  const hasCl = clOrdId !== undefined && clOrdId !== '';
  if (!hasId && !hasCl) return new Failure(ApiErrors.orderIdRequired);
  const ref: { orderId?: number; clOrdId?: string } = {};
  if (hasId) {
    const id = parseId(ordId);
    if (id === undefined) return fail(ApiErrors.paramError, 'ordId');
    ref.orderId = id;
  }
  if (hasCl) ref.clOrdId = clOrdId;
  return ref;
}

interface ItemReply { readonly ok: boolean; readonly row: Record<string, unknown> }

/** Runs prepared items: valid ones are submitted together, in order; all get a row. */
async function runItems<C extends LogCommand>(
  ctx: RequestContext,
  prepared: readonly Prepared<C>[],
  context: RejectContext,
  row: (p: Prepared<C>, result: Result | undefined, status: CodeAndMsg) => Record<string, unknown>,
): Promise<ItemReply[] | Failure> {
  const commands: C[] = [];
  for (const p of prepared) if ('cmd' in p) commands.push(p.cmd);
  const results = await submit(ctx, commands);
  if (results instanceof Failure) return results;
  let next = 0;
  return prepared.map((p) => {
    if (!('cmd' in p)) return { ok: false, row: row(p, undefined, { code: p.error.code, msg: p.error.msg }) };
    const result = results[next++];
    if (result === undefined) return { ok: false, row: row(p, undefined, { code: ApiErrors.systemError.code, msg: ApiErrors.systemError.msg }) };
    if (!result.ok) return { ok: false, row: row(p, result, rejectToApi(result.reject, context)) };
    return { ok: true, row: row(p, result, { code: '0', msg: '' }) };
  });
}

/** The top-level code of a batch: 0 all succeeded, 1 all failed, 2 some of each. */
function batchReply(items: readonly ItemReply[] | Failure): Outcome {
  if (items instanceof Failure) return items;
  const ok = items.filter((i) => i.ok).length;
  const data = items.map((i) => i.row);
  if (ok === items.length) return { data };
  return { data, status: ok === 0 ? ApiErrors.allFailed : ApiErrors.partial };
}

/** The body of a batch endpoint: an array of 1 to batchItemsMax items. */
export function batchItems(body: unknown): readonly unknown[] | Failure {
  if (!Array.isArray(body)) return fail(ApiErrors.paramError, 'body');
  if (body.length === 0) return fail(ApiErrors.paramEmpty, 'body');
  if (body.length > batchItemsMax) return fail(ApiErrors.batchTooLarge, String(batchItemsMax));
  return body as unknown[];
}

export function singleItem(body: unknown): readonly unknown[] | Failure {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(ApiErrors.paramError, 'body');
  return [body];
}

function timestamps(ctx: RequestContext): { ts: string; inTime: string; outTime: string } {
  const ts = String(ctx.nowMs);
  return { ts, inTime: `${ts}000`, outTime: `${String(ctx.port.now())}000` };
}

async function place(ctx: RequestContext, items: readonly unknown[] | Failure): Promise<Outcome> {
  if (items instanceof Failure) return items;
  if (!ctx.takeTrade(items.map(itemInstId))) return new Failure(ApiErrors.rateLimited);
  const queries = ctx.port.queries;
  const prepared = items.map((item) => prepareOrder(queries, ctx.userId, item));
  const replies = await runItems(ctx, prepared, 'place', (p, result, status) => {
    const orderId = result?.ok === true ? result.orderId : undefined;
    const t = timestamps(ctx);
    return {
      ordId: orderId === undefined ? '' : String(orderId), clOrdId: p.echo.clOrdId, tag: p.echo.tag,
      ts: t.ts, sCode: status.code, sMsg: status.code === '0' ? 'Order placed' : status.msg, subCode: '',
    };
  });
  return batchReply(replies);
}

/**
 * A cancel item without instId, completed with its order's instrument (ccxt.pro's cancelOrderWs
 * and cancelOrdersWs send only ordId); an order this user does not have is 51400 at once.
 */
function withOrderInstId(queries: ExchangeQueries, userId: number, item: unknown): unknown {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return item;
  const fields = item as Record<string, unknown>;
  if (fields['instId'] !== undefined) return item;
  const { ordId, clOrdId } = fields;
  const id = typeof ordId === 'string' ? parseId(ordId) : undefined;
  const rec = id !== undefined ? queries.order(userId, id)
    : typeof clOrdId === 'string' && ID_TEXT.test(clOrdId) && clOrdId !== '' ? queries.orderByClOrdId(userId, clOrdId) : undefined;
  if (rec === undefined) return ordId === undefined && clOrdId === undefined ? item : new Failure(ApiErrors.cancelNotFound);
  return { ...fields, instId: rec.instId };
}

async function cancel(ctx: RequestContext, items: readonly unknown[] | Failure, instIdFromOrder = false): Promise<Outcome> {
  if (items instanceof Failure) return items;
  const queries = ctx.port.queries;
  const targets = instIdFromOrder ? items.map((item) => withOrderInstId(queries, ctx.userId, item)) : items;
  if (!ctx.takeTrade(targets.map(itemInstId))) return new Failure(ApiErrors.rateLimited);
  const prepared = targets.map((item, i): Prepared<CancelOrder> =>
    (item instanceof Failure ? { error: item.error, echo: cancelEcho(items[i]) } : prepareCancel(queries, ctx.userId, item)));
  const replies = await runItems(ctx, prepared, 'cancel', (p, result, status) => {
    const ok = result?.ok === true;
    return {
      ordId: ok && result.orderId !== undefined ? String(result.orderId) : p.echo.ordId,
      clOrdId: ok && result.clOrdId !== undefined ? result.clOrdId : p.echo.clOrdId,
      ts: String(ctx.nowMs), sCode: status.code, sMsg: status.code === '0' ? '' : status.msg,
    };
  });
  return batchReply(replies);
}

function prepareAmend(queries: ExchangeQueries, userId: number, body: unknown): Prepared<AmendOrder> {
  const echoed: Echo = {
    clOrdId: echo(body, 'clOrdId', ID_TEXT), tag: '', reqId: echo(body, 'reqId', ID_TEXT), ordId: echo(body, 'ordId', /^[0-9]{1,16}$/),
  };
  const a = validate(amendBody, body);
  if (a instanceof Failure) return { error: a.error, echo: echoed };
  const inst = instrument(queries, a.instId);
  if (inst instanceof Failure) return { error: inst.error, echo: echoed };
  const ref = orderRef(a.ordId, a.clOrdId);
  if (ref instanceof Failure) return { error: ref.error, echo: echoed };
  const hasSz = a.newSz !== undefined && a.newSz !== '';
  const hasPx = a.newPx !== undefined && a.newPx !== '';
  if (!hasSz && !hasPx) return { error: ApiErrors.amendNothing, echo: echoed };
  const cmd: { -readonly [K in keyof AmendOrder]: AmendOrder[K] } = { type: 'AmendOrder', userId, instId: inst.instId, ...ref };
  if (hasSz) {
    const lots = sizeLots(inst, a.newSz!, 'newSz');
    if (lots instanceof Failure) return { error: lots.error, echo: echoed };
    cmd.newSizeLots = lots;
  }
  if (hasPx) {
    const ticks = priceTicks(inst, a.newPx!, 'newPx');
    if (ticks instanceof Failure) return { error: ticks.error, echo: echoed };
    cmd.newPriceTicks = ticks;
  }
  if (isTrue(a.cxlOnFail)) cmd.cancelOnFail = true;
  return { cmd, echo: echoed };
}

async function amend(ctx: RequestContext, body: unknown): Promise<Outcome> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return fail(ApiErrors.paramError, 'body');
  if (!ctx.takeTrade([itemInstId(body)])) return new Failure(ApiErrors.rateLimited);
  const prepared = [prepareAmend(ctx.port.queries, ctx.userId, body)];
  const replies = await runItems(ctx, prepared, 'amend', (p, result, status) => {
    const ok = result?.ok === true;
    return {
      ordId: ok && result.orderId !== undefined ? String(result.orderId) : p.echo.ordId,
      clOrdId: ok && result.clOrdId !== undefined ? result.clOrdId : p.echo.clOrdId,
      reqId: p.echo.reqId, ts: String(ctx.nowMs), sCode: status.code, sMsg: status.code === '0' ? '' : status.msg,
    };
  });
  return batchReply(replies);
}

/**
 * The order operations for WebSocket order entry (ws-trade.ts): the same preparation, rate
 * limit, submission, acknowledgement and reply rows as the REST routes above.
 */
export const orderOps = {
  place: (ctx: RequestContext, items: readonly unknown[] | Failure): Promise<Outcome> => place(ctx, items),
  cancel: (ctx: RequestContext, items: readonly unknown[] | Failure): Promise<Outcome> => cancel(ctx, items, true),
  amend,
};

// ------------------------------------------------------------------------- queries

/**
 * OKX's cancelSource codes for our cancel reasons (OKX v5 docs, order details: 13 "FOK order
 * was canceled due to incompletely filled", 31 "The post-only order will take liquidity").
 */
const cancelSource: Readonly<Record<CancelReason | '', string>> = {
  '': '', user: '1', user_all: '1', amend_failed: '1', stp: '32', unfilled: '14', market_band: '0',
  post_only_would_take: '31', fok_not_fillable: '13',
};

export function orderRow(queries: ExchangeQueries, rec: OrderRecord): Record<string, unknown> | undefined {
  const inst = queries.instrument(rec.instId);
  if (inst === undefined) return undefined;
  const market = rec.orderType === 'market';
  const byQuote = market && rec.quoteAmount > 0;
  const fill = rec.lastFill;
  return {
    instType: 'SPOT', instId: rec.instId, ccy: '', ordId: String(rec.orderId), clOrdId: rec.clOrdId, tag: '',
    px: market ? '' : pxText(inst, rec.priceTicks),
    sz: byQuote ? amountText(queries, inst.spec.quote, rec.quoteAmount) : szText(inst, rec.sizeLots),
    ordType: rec.orderType, side: rec.side, posSide: 'net', tdMode: 'cash',
    tgtCcy: market ? (byQuote ? 'quote_ccy' : 'base_ccy') : '',
    accFillSz: szText(inst, rec.filledLots), avgPx: avgPxText(inst, rec.filledLots, rec.filledQuote),
    fillPx: fill === null ? '' : pxText(inst, fill.priceTicks), fillSz: fill === null ? '' : szText(inst, fill.sizeLots),
    fillTime: fill === null ? '' : String(fill.ts), tradeId: fill === null ? '' : String(fill.tradeId),
    state: rec.state, fee: feeText(queries, rec.feeAsset, rec.fee), feeCcy: rec.feeAsset, rebate: '0', rebateCcy: rec.feeAsset,
    pnl: '0', lever: '', category: 'normal', reduceOnly: 'false', source: '', stpMode: rec.stpMode === 'none' ? '' : rec.stpMode,
    stpId: '', cancelSource: cancelSource[rec.cancelReason], cancelSourceReason: rec.cancelReason,
    attachAlgoClOrdId: '', algoClOrdId: '', algoId: '', isTpLimit: 'false', quickMgnType: '',
    tpTriggerPx: '', tpOrdPx: '', slTriggerPx: '', slOrdPx: '', tpTriggerPxType: '', slTriggerPxType: '',
    cTime: String(rec.createdTs), uTime: String(rec.updatedTs),
  };
}

function orderRows(queries: ExchangeQueries, records: readonly OrderRecord[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const rec of records) {
    const row = orderRow(queries, rec);
    if (row !== undefined) rows.push(row);
  }
  return rows;
}

function fillRow(queries: ExchangeQueries, f: FillRecord): Record<string, unknown> | undefined {
  const inst = queries.instrument(f.instId);
  if (inst === undefined) return undefined;
  const ts = String(f.ts);
  return {
    instType: 'SPOT', instId: f.instId, tradeId: String(f.tradeId), ordId: String(f.orderId), clOrdId: f.clOrdId,
    billId: String(f.billId), subType: f.side === 'buy' ? '1' : '2', tag: '', fillPx: pxText(inst, f.priceTicks),
    fillSz: szText(inst, f.sizeLots), fillIdxPx: '', fillPnl: '0', fillPxVol: '', fillPxUsd: '', fillMarkVol: '',
    fillFwdPx: '', fillMarkPx: '', side: f.side, posSide: 'net', execType: f.liquidity === 'maker' ? 'M' : 'T',
    feeCcy: f.feeAsset, fee: feeText(queries, f.feeAsset, f.fee), ts, fillTime: ts,
  };
}

function optionalInstId(queries: ExchangeQueries, instId: string | undefined): string | undefined | Failure {
  if (instId === undefined || instId === '') return undefined;
  const inst = instrument(queries, instId);
  return inst instanceof Failure ? inst : inst.instId;
}

function optionalOrderType(ordType: string | undefined): OrderType | undefined | Failure {
  if (ordType === undefined || ordType === '') return undefined;
  const found = ORDER_TYPES.find((t) => t === ordType);
  return found ?? fail(ApiErrors.paramError, 'ordType');
}

function getOrder(ctx: RequestContext): Outcome {
  const q = validate(orderQuery, ctx.query);
  if (q instanceof Failure) return q;
  const queries = ctx.port.queries;
  const inst = instrument(queries, q.instId);
  if (inst instanceof Failure) return inst;
  const ref = orderRef(q.ordId, q.clOrdId);
  if (ref instanceof Failure) return ref;
  const rec = ref.orderId !== undefined ? queries.order(ctx.userId, ref.orderId) : queries.orderByClOrdId(ctx.userId, ref.clOrdId!);
  if (rec?.instId !== inst.instId) return new Failure(ApiErrors.queryNotFound);
  if (ref.orderId !== undefined && ref.clOrdId !== undefined && rec.clOrdId !== ref.clOrdId) return new Failure(ApiErrors.queryNotFound);
  const row = orderRow(queries, rec);
  return row === undefined ? new Failure(ApiErrors.queryNotFound) : { data: [row] };
}

function pendingOrders(ctx: RequestContext): Outcome {
  const q = validate(pendingQuery, ctx.query);
  if (q instanceof Failure) return q;
  if (!isSpot(q.instType)) return { data: [] };
  const queries = ctx.port.queries;
  const instId = optionalInstId(queries, q.instId);
  if (instId instanceof Failure) return instId;
  const orderType = optionalOrderType(q.ordType);
  if (orderType instanceof Failure) return orderType;
  if (q.state !== undefined && q.state !== '' && q.state !== 'live' && q.state !== 'partially_filled') return fail(ApiErrors.paramError, 'state');
  const page = parsePage(q, historyLimitMax, historyLimitMax);
  if (page instanceof Failure) return page;
  const records = ctx.port.queries.openOrders(ctx.userId, { ...page, ...defined({ instId, orderType }) });
  const wanted = q.state === undefined || q.state === '' ? records : records.filter((r) => r.state === q.state);
  return { data: orderRows(queries, wanted) };
}

function orderHistory(ctx: RequestContext): Outcome {
  const q = validate(historyQuery, ctx.query);
  if (q instanceof Failure) return q;
  if (!isSpot(q.instType)) return { data: [] };
  const queries = ctx.port.queries;
  const instId = optionalInstId(queries, q.instId);
  if (instId instanceof Failure) return instId;
  const orderType = optionalOrderType(q.ordType);
  if (orderType instanceof Failure) return orderType;
  let state: 'filled' | 'canceled' | undefined;
  if (q.state === 'filled' || q.state === 'canceled') state = q.state;
  else if (q.state === 'mmp_canceled') return { data: [] };
  else if (q.state !== undefined && q.state !== '') return fail(ApiErrors.paramError, 'state');
  const begin = optionalId(q.begin, 'begin');
  if (begin instanceof Failure) return begin;
  const end = optionalId(q.end, 'end');
  if (end instanceof Failure) return end;
  const page = parsePage(q, historyLimitMax, historyLimitMax);
  if (page instanceof Failure) return page;
  const records = ctx.port.queries.orderHistory(ctx.userId, { ...page, ...defined({ instId, orderType, state, begin, end }) });
  return { data: orderRows(queries, records) };
}

function fills(ctx: RequestContext, schema: typeof fillsQuery | typeof fillsHistoryQuery): Outcome {
  const q = validate(schema, ctx.query);
  if (q instanceof Failure) return q;
  if (!isSpot(q.instType)) return { data: [] };
  const queries = ctx.port.queries;
  const instId = optionalInstId(queries, q.instId);
  if (instId instanceof Failure) return instId;
  const orderId = optionalId(q.ordId, 'ordId');
  if (orderId instanceof Failure) return orderId;
  const begin = optionalId(q.begin, 'begin');
  if (begin instanceof Failure) return begin;
  const end = optionalId(q.end, 'end');
  if (end instanceof Failure) return end;
  const page = parsePage(q, historyLimitMax, historyLimitMax);
  if (page instanceof Failure) return page;
  const records = ctx.port.queries.fills(ctx.userId, { ...page, ...defined({ instId, orderId, begin, end }) });
  const rows: Record<string, unknown>[] = [];
  for (const f of records) {
    const row = fillRow(queries, f);
    if (row !== undefined) rows.push(row);
  }
  return { data: rows };
}

export const tradeRoutes: readonly RouteDef[] = [
  { method: 'POST', path: '/api/v5/trade/order', auth: true, scope: 'userInst', handle: (ctx) => place(ctx, singleItem(ctx.body)) },
  { method: 'POST', path: '/api/v5/trade/batch-orders', auth: true, scope: 'userInst', handle: (ctx) => place(ctx, batchItems(ctx.body)) },
  { method: 'POST', path: '/api/v5/trade/cancel-order', auth: true, scope: 'userInst', handle: (ctx) => cancel(ctx, singleItem(ctx.body)) },
  { method: 'POST', path: '/api/v5/trade/cancel-batch-orders', auth: true, scope: 'userInst', handle: (ctx) => cancel(ctx, batchItems(ctx.body)) },
  { method: 'POST', path: '/api/v5/trade/amend-order', auth: true, scope: 'userInst', handle: (ctx) => amend(ctx, ctx.body) },
  { method: 'GET', path: '/api/v5/trade/order', auth: true, scope: 'user', handle: getOrder },
  { method: 'GET', path: '/api/v5/trade/orders-pending', auth: true, scope: 'user', handle: pendingOrders },
  { method: 'GET', path: '/api/v5/trade/orders-history', auth: true, scope: 'user', handle: orderHistory },
  { method: 'GET', path: '/api/v5/trade/fills', auth: true, scope: 'user', handle: (ctx) => fills(ctx, fillsQuery) },
  { method: 'GET', path: '/api/v5/trade/fills-history', auth: true, scope: 'user', handle: (ctx) => fills(ctx, fillsHistoryQuery) },
];

export type { Success };
