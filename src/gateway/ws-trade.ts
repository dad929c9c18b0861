// Order entry over WebSocket: `order`, `batch-orders`, `cancel-order`, `batch-cancel-orders`
// and `amend-order` on /ws/v5/private, each answered once, correlated by the client's `id`. An op
// is the REST route's twin: the same item preparation, the same per-user-and-instrument rate
// limit (one budget shared with REST, as on OKX), the same submitter and acknowledgement rule
// (answered once the record is durable in the log and applied) and the same per-item sCodes;
// only the envelope differs. The login authenticated the connection, so ops carry no
// per-message signature; the key's `trade` permission is checked on every op. Ops run
// concurrently: a client may pipeline many on one connection and they group-commit together.

import type { ExchangePort } from '../replica/index.js';
import { ApiErrors, Failure, WsErrors, wsError, type WsError } from './errors.js';
import type { Outcome, RequestContext } from './request.js';
import { batchItems, orderOps, singleItem } from './trade.js';
import { WsPaths, type OpDef, type WsLogin } from './ws-server.js';

export type OrderOp = 'order' | 'batch-orders' | 'cancel-order' | 'batch-cancel-orders' | 'amend-order';

/** Each op and the REST route whose rate-limit budget it shares. */
export const orderOpRoutes: Readonly<Record<OrderOp, string>> = {
  order: '/api/v5/trade/order',
  'batch-orders': '/api/v5/trade/batch-orders',
  'cancel-order': '/api/v5/trade/cancel-order',
  'batch-cancel-orders': '/api/v5/trade/cancel-batch-orders',
  'amend-order': '/api/v5/trade/amend-order',
};
export const orderOpNames = Object.keys(orderOpRoutes) as OrderOp[];

export function isOrderOp(op: unknown): op is OrderOp {
  return typeof op === 'string' && Object.hasOwn(orderOpRoutes, op);
}

/** OKX's message id: up to 32 letters and digits. */
const MESSAGE_ID = /^[A-Za-z0-9]{1,32}$/;

/**
 * Charges the trade budget of `path` for these instruments (REST's buckets); false when over.
 * Instruments that do not exist are not charged (their items are refused with 51001).
 */
export type TradeBudget = (path: string, userId: number, instIds: readonly string[], nowMs: number) => boolean;

export interface OrderOpConnection {
  readonly port: ExchangePort;
  /** Who the connection logged in as, or undefined before login. */
  readonly login: WsLogin | undefined;
  readonly takeTrade: TradeBudget;
}

export interface OrderOpRequest {
  readonly id: unknown;
  readonly op: OrderOp;
  readonly args: unknown;
  /** When the message arrived, ms. */
  readonly inMs: number;
}

/** The op's id as echoed: the client's when well formed, else "" (the reply then says 60013). */
function echoId(id: unknown): string {
  return typeof id === 'string' && MESSAGE_ID.test(id) ? id : '';
}

/** A reply in OKX's op envelope. A batch that failed in part or whole has msg "" (as OKX; ccxt then reads the sCodes). */
function reply(id: string, op: OrderOp, code: string, msg: string, data: readonly unknown[], inMs: number, outMs: number): string {
  return `{"id":${JSON.stringify(id)},"op":"${op}","code":"${code}","msg":${JSON.stringify(msg)},"data":${JSON.stringify(data)},"inTime":"${String(inMs)}000","outTime":"${String(outMs)}000"}`;
}

function refusal(req: OrderOpRequest, error: WsError, nowMs: number): string {
  return reply(echoId(req.id), req.op, error.code, error.msg, [], req.inMs, nowMs);
}

/** Runs one order op to its reply text: refusals of the whole op first, then the REST twin. */
export async function runOrderOp(conn: OrderOpConnection, req: OrderOpRequest): Promise<string> {
  const port = conn.port;
  const nowMs = port.now();
  if (req.id !== undefined && echoId(req.id) === '') return refusal(req, wsError(WsErrors.invalidArgs, 'id must be 1 to 32 letters or digits'), nowMs);
  if (conn.login === undefined) return refusal(req, WsErrors.pleaseLogin, nowMs);
  if (port.status().state !== 'serving') return refusal(req, ApiErrors.unavailable, nowMs);
  // Read afresh on every op, as REST reads it on every request: a revoked key trades no more.
  const key = port.keys.get(conn.login.apiKey);
  if (key === undefined) return refusal(req, ApiErrors.keyInvalid, nowMs);
  if (!key.perms.includes('trade')) return refusal(req, ApiErrors.permissionDenied, nowMs);
  if (!Array.isArray(req.args) || req.args.length === 0) return refusal(req, wsError(WsErrors.invalidArgs, 'args must be a non-empty array'), nowMs);
  const args = req.args as unknown[];
  const single = req.op === 'order' || req.op === 'cancel-order' || req.op === 'amend-order';
  if (single && args.length !== 1) return refusal(req, wsError(WsErrors.invalidArgs, `${req.op} takes one item; use the batch op`), nowMs);
  const path = orderOpRoutes[req.op];
  const ctx: RequestContext = {
    port, query: {}, body: undefined, userId: key.userId, signedBy: undefined, nowMs,
    takeTrade: (instIds) => conn.takeTrade(path, key.userId, instIds, nowMs),
  };
  const outcome = await dispatch(ctx, req.op, args);
  const outMs = port.now();
  if (outcome instanceof Failure) return reply(echoId(req.id), req.op, outcome.error.code, outcome.error.msg, [], req.inMs, outMs);
  const status = outcome.status ?? ApiErrors.ok;
  return reply(echoId(req.id), req.op, status.code, '', outcome.data, req.inMs, outMs);
}

function dispatch(ctx: RequestContext, op: OrderOp, args: readonly unknown[]): Promise<Outcome> {
  switch (op) {
    case 'order': return orderOps.place(ctx, singleItem(args[0]));
    case 'batch-orders': return orderOps.place(ctx, batchItems(args));
    case 'cancel-order': return orderOps.cancel(ctx, singleItem(args[0]));
    case 'batch-cancel-orders': return orderOps.cancel(ctx, batchItems(args));
    case 'amend-order': return orderOps.amend(ctx, args[0]);
    default: {
      const unknown: never = op;
      throw new Error(`unknown order op ${String(unknown)}`);
    }
  }
}

/** The order ops' registry entries (on /ws/v5/private; elsewhere the framework answers 60019). */
export function orderOpDefs(port: ExchangePort, takeTrade: TradeBudget): OpDef[] {
  return orderOpNames.map((op): OpDef => ({
    op, paths: [WsPaths.private], unmetered: true,
    handle: async (conn, message) => {
      const text = await runOrderOp({ port, login: conn.login, takeTrade }, { id: message['id'], op, args: message['args'], inMs: port.now() });
      conn.sendReply(text);
    },
  }));
}
