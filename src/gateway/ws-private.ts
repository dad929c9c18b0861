// The private side of the OKX WebSocket dialect: `login` on /ws/v5/private, and the `orders`,
// `account` and `balance_and_position` channels. Login checks what REST checks per request,
// once per connection: Base64(HMAC-SHA256(secret, unixSeconds + 'GET' + '/users/self/verify')),
// the passphrase, a 30 s window, and the key's IP allowlist (failures count against REST's
// failed-authentication budget per IP). Pushes are built from the engine's events: the private
// feed is a consumer of the stream hub, and each drain holds every event applied since the last
// one while the projections stand right after the last of them, so the feed can rebuild each
// order as it stood after each event (capturePrivate). Every update names one user and goes to
// that user's subscriptions only.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { BalanceView, Event, OrderRecord } from '../core/index.js';
import type { ApiKey, ExchangePort, ExchangeQueries, KeySecrets, KeyStore } from '../replica/index.js';
import type { Drain, HubConsumer, StreamHub } from '../streams/index.js';
import { normalizeIp } from './auth.js';
import { amountText, feeText, pxText, szText } from './convert.js';
import { ApiErrors, WsCloses, WsErrors, wsError, type WsError } from './errors.js';
import { accountBalanceData } from './funding.js';
import { orderRow } from './trade.js';
import { WsPaths, type ChannelDef, type OpDef, type ParsedArg, type WsConnection } from './ws-server.js';

/** What the client signs at login: OKX's fixed method and path after the timestamp. */
export const LOGIN_SIGN_SUFFIX = 'GET/users/self/verify';

/** Login fields longer than this are refused before any work is done on them. */
const loginFieldLengthMax = 256;
/** Unix seconds, optionally with a fraction (OKX documents seconds; some clients send ms precision). */
const UNIX_SECONDS = /^[0-9]{1,12}(\.[0-9]{1,3})?$/;
/** Standard Base64 of a 32-byte digest. */
const SIGN_BASE64 = /^[A-Za-z0-9+/]{43}=$/;

export interface LoginRequest {
  /** One element of the login op's `args`. */
  readonly arg: unknown;
  /** The peer's address, for the key's IP allowlist. */
  readonly ip: string;
  readonly nowMs: number;
  readonly windowMs: number;
}

function field(arg: Record<string, unknown>, name: string): string {
  const value = arg[name];
  return typeof value === 'string' ? value : '';
}

/**
 * The key a login names, once its passphrase, timestamp and signature verify and the peer's
 * address is on its allowlist; else the OKX WebSocket code saying why not. The checks run in
 * OKX's order: presence, timestamp, key, passphrase, signature, then the allowlist.
 */
export function verifyLogin(req: LoginRequest, keys: KeyStore, derivation: KeySecrets): ApiKey | WsError {
  if (typeof req.arg !== 'object' || req.arg === null || Array.isArray(req.arg)) return WsErrors.loginKeyMissing;
  const arg = req.arg as Record<string, unknown>;
  const apiKey = field(arg, 'apiKey');
  const passphrase = field(arg, 'passphrase');
  const timestamp = field(arg, 'timestamp');
  const signature = field(arg, 'sign');
  if (apiKey === '') return WsErrors.loginKeyMissing;
  if (signature === '') return WsErrors.loginSignMissing;
  if (passphrase === '') return WsErrors.loginPassphraseMissing;
  if (!UNIX_SECONDS.test(timestamp)) return WsErrors.loginTimestampInvalid;
  if (Math.abs(req.nowMs - Number(timestamp) * 1000) > req.windowMs) return WsErrors.loginTimestampExpired;
  const key = apiKey.length > loginFieldLengthMax ? undefined : keys.get(apiKey);
  if (key === undefined) return WsErrors.loginKeyInvalid;
  if (passphrase.length > loginFieldLengthMax || !derivation.passphraseMatches(key.apiKey, passphrase, key.passphraseHash)) {
    return WsErrors.loginPassphraseWrong;
  }
  if (!SIGN_BASE64.test(signature)) return WsErrors.loginSignInvalid;
  const expected = createHmac('sha256', derivation.secretFor(key.apiKey)).update(timestamp + LOGIN_SIGN_SUFFIX).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'base64'))) return WsErrors.loginSignInvalid;
  if (key.ips.length > 0 && !key.ips.includes(normalizeIp(req.ip))) {
    return wsError(WsErrors.loginFailed, `IP ${req.ip} is not in the API key's IP whitelist`);
  }
  return key;
}

/** The login signature a client sends (tests and benches sign with it). */
export function loginSign(secret: string, timestampSeconds: string): string {
  return createHmac('sha256', secret).update(timestampSeconds + LOGIN_SIGN_SUFFIX).digest('base64');
}

// ------------------------------------------------------------------------- channels

export type PrivateChannel = 'orders' | 'account' | 'balance_and_position';
export const privateChannels: readonly PrivateChannel[] = ['orders', 'account', 'balance_and_position'];

/** OKX's instrument types; only SPOT and ANY have data here, the others are valid and silent. */
const INST_TYPES = new Set(['SPOT', 'MARGIN', 'SWAP', 'FUTURES', 'OPTION', 'ANY']);
const argFieldLengthMax = 64;

/** A parsed private subscription: the framework's key and echoed arg, and what it lets through. */
export interface PrivateArg extends ParsedArg {
  readonly channel: PrivateChannel;
  /** orders: false for an instType with no spot data (a valid subscription that stays silent). */
  readonly spot: boolean;
  /** orders: only this instrument ("" for all). */
  readonly instId: string;
  /** account: only these currencies (empty for all). */
  readonly ccys: ReadonlySet<string>;
}

/** The fields each private channel accepts, beyond `channel`. */
const channelFields: Readonly<Record<PrivateChannel, readonly string[]>> = {
  orders: ['instType', 'instFamily', 'instId'],
  account: ['ccy', 'extraParams'],
  balance_and_position: [],
};

function invalidArg(name: string): WsError {
  return wsError(WsErrors.invalidArgs, name.slice(0, argFieldLengthMax));
}

function stringFields(arg: Readonly<Record<string, unknown>>, allowed: readonly string[]): Record<string, string> | WsError {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(arg)) {
    if (name === 'channel') continue;
    if (!allowed.includes(name) || typeof value !== 'string' || value.length > argFieldLengthMax) return invalidArg(name);
    out[name] = value;
  }
  return out;
}

/** No channel accepts a field named `code`, so a result with one is the error. */
const isWsError = (x: Record<string, string> | WsError): x is WsError => 'code' in x && 'msg' in x;

/** A private channel's subscribe arg, checked: 60013 for malformed args, 60018 for an unknown instrument. */
export function parsePrivateArg(queries: ExchangeQueries, arg: unknown): PrivateArg | WsError {
  if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) return invalidArg('arg');
  const raw = arg as Readonly<Record<string, unknown>>;
  const channel = privateChannels.find((c) => c === raw['channel']);
  if (channel === undefined) return invalidArg('channel');
  const f = stringFields(raw, channelFields[channel]);
  if (isWsError(f)) return f;
  switch (channel) {
    case 'orders': {
      const instType = f['instType'] ?? '';
      if (!INST_TYPES.has(instType)) return invalidArg(instType === '' ? 'orders needs an instType' : 'instType');
      const instId = f['instId'] ?? '';
      if (instId !== '' && queries.instrument(instId) === undefined) return wsError(WsErrors.channelNotFound, channel, instId);
      const spot = instType === 'SPOT' || instType === 'ANY';
      return { channel, key: `orders:${instType}:${f['instFamily'] ?? ''}:${instId}`, arg: { channel, ...f }, spot, instId, ccys: new Set() };
    }
    case 'account': {
      const ccy = f['ccy'] ?? '';
      return { channel, key: `account:${ccy}`, arg: { channel, ...f }, spot: true, instId: '', ccys: new Set(ccy === '' ? [] : [ccy]) };
    }
    case 'balance_and_position':
      return { channel, key: channel, arg: { channel }, spot: true, instId: '', ccys: new Set() };
    default: {
      const unknown: never = channel;
      throw new Error(`unknown private channel ${String(unknown)}`);
    }
  }
}

// ------------------------------------------------------------------------- capture

/** One fill of an order, as the orders channel reports it. */
export interface FillCopy {
  readonly tradeId: number;
  readonly priceTicks: number;
  readonly sizeLots: number;
  /** Signed, in the order's fee asset: positive charged. */
  readonly fee: number;
  readonly liquidity: 'maker' | 'taker';
  readonly ts: number;
}

/** An order as it stood right after one event, for its owner's `orders` subscriptions. */
export interface OrderUpdate {
  readonly kind: 'order';
  readonly userId: number;
  readonly order: OrderRecord;
  readonly fill: FillCopy | null;
  readonly amended: boolean;
}

/** A user's balances changed by one record, for `account` and `balance_and_position`. */
export interface BalanceUpdate {
  readonly kind: 'balance';
  readonly userId: number;
  readonly ts: number;
  /** The newest value of each asset the record changed, in event order. */
  readonly balances: readonly BalanceView[];
  /** balance_and_position: why the cash balance changed ("" when only holds moved: no push). */
  readonly eventType: 'filled' | 'transferred' | '';
  /** balance_and_position: the trades of a 'filled' change. */
  readonly trades: readonly { readonly instId: string; readonly tradeId: number }[];
}

export type PrivateUpdate = OrderUpdate | BalanceUpdate;

interface Running {
  readonly end: OrderRecord;
  filledLots: number;
  filledQuote: number;
  fee: number;
  priceTicks: number;
  sizeLots: number;
  fillsLeft: number;
}

type TradeEvent = Extract<Event, { type: 'TradeExecuted' }>;

/**
 * What one applied record means to the users `wanted` names: one order update per order event
 * (acceptance, each fill, amendment, cancellation), each with the order's totals as they stood
 * right after that event, and one balance update per user. Runs after the projections applied
 * the record: an order's totals before the record are its totals now less the record's fills,
 * and the walk adds them back one by one, so a taker sweeping three levels gives three updates
 * whose accFillSz and fees rise exactly as the fills did. Reads nothing later than the record.
 */
export function capturePrivate(events: readonly Event[], queries: ExchangeQueries, wanted: (userId: number) => boolean, nowMs: number): PrivateUpdate[] {
  const orders = new Map<number, Running>();
  const track = (userId: number, orderId: number): void => {
    if (!wanted(userId) || orders.has(orderId)) return;
    const rec = queries.order(userId, orderId);
    // A closed order the projections already dropped (past retention) has no record to show.
    if (rec === undefined) return;
    const end: OrderRecord = { ...rec, lastFill: null };
    orders.set(orderId, {
      end, filledLots: end.filledLots, filledQuote: end.filledQuote, fee: end.fee, priceTicks: end.priceTicks, sizeLots: end.sizeLots, fillsLeft: 0,
    });
  };
  const balances = new Map<number, { assets: Map<string, BalanceView>; eventType: BalanceUpdate['eventType']; trades: { instId: string; tradeId: number }[] }>();
  const balanceOf = (userId: number): ReturnType<typeof balances.get> & object => {
    let b = balances.get(userId);
    if (b === undefined) {
      b = { assets: new Map(), eventType: '', trades: [] };
      balances.set(userId, b);
    }
    return b;
  };
  // 1. The orders touched, and the record's fills taken back out of their totals.
  for (const e of events) {
    switch (e.type) {
      case 'OrderAccepted': case 'OrderCanceled': case 'OrderAmended':
        track(e.userId, e.orderId);
        break;
      case 'TradeExecuted':
        track(e.makerUserId, e.makerOrderId);
        track(e.takerUserId, e.takerOrderId);
        unfill(orders.get(e.makerOrderId), e, e.makerFee);
        unfill(orders.get(e.takerOrderId), e, e.takerFee);
        if (wanted(e.makerUserId)) balanceOf(e.makerUserId).trades.push({ instId: e.instId, tradeId: e.tradeId });
        if (wanted(e.takerUserId) && e.takerUserId !== e.makerUserId) balanceOf(e.takerUserId).trades.push({ instId: e.instId, tradeId: e.tradeId });
        break;
      case 'BalanceChanged':
        if (wanted(e.userId)) balanceOf(e.userId).assets.set(e.asset, { asset: e.asset, available: BigInt(e.available), held: BigInt(e.held) });
        break;
      case 'DepositCredited': case 'WithdrawalRequested': case 'WithdrawalCanceled': case 'WithdrawalFailed': case 'WithdrawalCompleted':
        if (wanted(e.userId)) balanceOf(e.userId).eventType = 'transferred';
        break;
      default:
        break;
    }
  }
  // 2. The walk: each event's update, with the totals as they stood right after it.
  const updates: PrivateUpdate[] = [];
  const push = (r: Running, state: OrderRecord['state'], ts: number, fill: FillCopy | null, amended: boolean, cancelReason: OrderRecord['cancelReason']): void => {
    const order: OrderRecord = {
      ...r.end, state, filledLots: r.filledLots, filledQuote: r.filledQuote, fee: r.fee, priceTicks: r.priceTicks, sizeLots: r.sizeLots,
      cancelReason, updatedTs: ts,
    };
    updates.push({ kind: 'order', userId: order.userId, order, fill, amended });
  };
  for (const e of events) {
    switch (e.type) {
      case 'OrderAccepted': {
        const r = orders.get(e.orderId);
        if (r === undefined) break;
        r.priceTicks = e.priceTicks;
        r.sizeLots = e.sizeLots;
        push(r, 'live', e.ts, null, false, '');
        break;
      }
      case 'TradeExecuted':
        refill(orders.get(e.makerOrderId), e, e.makerFee, 'maker', push);
        refill(orders.get(e.takerOrderId), e, e.takerFee, 'taker', push);
        break;
      case 'OrderAmended': {
        const r = orders.get(e.orderId);
        if (r === undefined) break;
        r.priceTicks = e.priceTicks;
        r.sizeLots = e.sizeLots;
        push(r, r.filledLots > 0 ? 'partially_filled' : 'live', e.ts, null, true, '');
        break;
      }
      case 'OrderCanceled': {
        const r = orders.get(e.orderId);
        if (r !== undefined) push(r, 'canceled', e.ts, null, false, e.reason);
        break;
      }
      default:
        break;
    }
  }
  for (const [userId, b] of balances) {
    if (b.assets.size === 0) continue;
    const eventType = b.trades.length > 0 ? 'filled' : b.eventType;
    updates.push({ kind: 'balance', userId, ts: nowMs, balances: [...b.assets.values()], eventType, trades: b.trades });
  }
  return updates;
}

function unfill(r: Running | undefined, e: TradeEvent, fee: number): void {
  if (r === undefined) return;
  r.filledLots -= e.sizeLots;
  r.filledQuote -= e.quoteAmount;
  r.fee -= fee;
  r.fillsLeft += 1;
}

function refill(
  r: Running | undefined, e: TradeEvent, fee: number, liquidity: 'maker' | 'taker',
  push: (r: Running, state: OrderRecord['state'], ts: number, fill: FillCopy, amended: boolean, cancelReason: OrderRecord['cancelReason']) => void,
): void {
  if (r === undefined) return;
  r.filledLots += e.sizeLots;
  r.filledQuote += e.quoteAmount;
  r.fee += fee;
  r.fillsLeft -= 1;
  // Filled only by its last fill, and only if it ended filled (a market order may end canceled).
  const state = r.fillsLeft === 0 && r.end.state === 'filled' ? 'filled' : 'partially_filled';
  push(r, state, e.ts, { tradeId: e.tradeId, priceTicks: e.priceTicks, sizeLots: e.sizeLots, fee, liquidity, ts: e.ts }, false, '');
}

// ------------------------------------------------------------------------- formatting

/** An `orders` push item: the REST order fields, with this event's fill (or none) and OKX's push fields. */
export function orderPushRow(queries: ExchangeQueries, u: OrderUpdate): Record<string, unknown> | undefined {
  const row = orderRow(queries, u.order);
  const inst = queries.instrument(u.order.instId);
  if (row === undefined || inst === undefined) return undefined;
  const f = u.fill;
  return {
    ...row,
    fillPx: f === null ? '' : pxText(inst, f.priceTicks),
    fillSz: f === null ? '0' : szText(inst, f.sizeLots),
    fillFee: f === null ? '0' : feeText(queries, u.order.feeAsset, f.fee),
    fillFeeCcy: f === null ? '' : u.order.feeAsset,
    fillNotionalUsd: '', fillPnl: '0',
    execType: f === null ? '' : f.liquidity === 'maker' ? 'M' : 'T',
    tradeId: f === null ? '' : String(f.tradeId),
    fillTime: f === null ? '' : String(f.ts),
    notionalUsd: '', amendResult: u.amended ? '0' : '', amendSource: '', reqId: '', code: '0', msg: '',
  };
}

/** A `balance_and_position` push item (spot: no positions). */
export function balanceAndPositionRow(queries: ExchangeQueries, u: BalanceUpdate, eventType: string): Record<string, unknown> {
  const uTime = String(u.ts);
  return {
    pTime: uTime, eventType,
    balData: u.balances.map((b) => ({ ccy: b.asset, cashBal: amountText(queries, b.asset, b.available + b.held), uTime })),
    posData: [],
    trades: u.trades.map((t) => ({ instId: t.instId, tradeId: String(t.tradeId) })),
  };
}

/** The account push item: REST account/balance's data, for the balances given. */
export function accountPushRow(queries: ExchangeQueries, balances: readonly BalanceView[], ts: number): Record<string, unknown> {
  return accountBalanceData(queries, balances, String(ts));
}

// ------------------------------------------------------------------------- the feed

/** Order rows per `orders` push message (a drain with more sends several messages). */
export const ORDER_ROWS_PER_PUSH_MAX = 100;

interface Subscription {
  readonly userId: number;
  readonly parsed: PrivateArg;
  readonly conn: WsConnection;
  /** The `arg` of its pushes (the subscription's arg and the user id, as OKX), serialised once. */
  readonly argJson: string;
}

/**
 * The private channels' fan-out, a consumer of the stream hub: subscriptions by user, and per
 * drain the updates of the users that have any, each user's formatted once and sent to that
 * user's subscriptions only. A drain the hub overflowed (events dropped) cannot be told
 * exactly: every private subscriber is closed (WsCloses.overflow) to reconnect and resubscribe.
 */
export class PrivateFeed implements HubConsumer {
  private readonly byUser = new Map<number, Set<Subscription>>();
  private readonly wanted = (userId: number): boolean => this.byUser.has(userId);

  constructor(private readonly queries: ExchangeQueries, private readonly now: () => number) {}

  /** Subscriptions held, over all users. */
  get subscriptions(): number {
    let n = 0;
    for (const subs of this.byUser.values()) n += subs.size;
    return n;
  }

  active(): boolean {
    return this.byUser.size > 0;
  }

  onDrain(drain: Drain): void {
    if (this.byUser.size === 0) return;
    if (drain.overflowed) {
      const conns = new Set<WsConnection>();
      for (const subs of this.byUser.values()) for (const sub of subs) conns.add(sub.conn);
      for (const conn of conns) conn.close(WsCloses.overflow);
      return;
    }
    if (drain.events.length === 0) return;
    const updates = capturePrivate(drain.events, this.queries, this.wanted, drain.ts);
    const byUser = new Map<number, PrivateUpdate[]>();
    for (const u of updates) {
      const list = byUser.get(u.userId);
      if (list === undefined) byUser.set(u.userId, [u]);
      else list.push(u);
    }
    for (const [userId, list] of byUser) {
      const subs = this.byUser.get(userId);
      if (subs !== undefined) this.sendUser(subs, list);
    }
  }

  /**
   * Subscribes a logged-in connection to one of its user's private channels; `account` and
   * `balance_and_position` send their snapshot at once (after the subscribe ack). Returns the
   * unsubscribe.
   */
  subscribe(userId: number, parsed: PrivateArg, conn: WsConnection): () => void {
    const sub: Subscription = { userId, parsed, conn, argJson: JSON.stringify({ ...parsed.arg, uid: String(userId) }) };
    let subs = this.byUser.get(userId);
    if (subs === undefined) {
      subs = new Set();
      this.byUser.set(userId, subs);
    }
    subs.add(sub);
    this.snapshot(sub);
    return () => {
      const held = this.byUser.get(userId);
      if (held === undefined) return;
      held.delete(sub);
      if (held.size === 0) this.byUser.delete(userId);
    };
  }

  private snapshot(sub: Subscription): void {
    if (sub.parsed.channel === 'orders') return;
    const balances = this.queries.account(sub.userId)?.balances ?? [];
    const ts = this.now();
    if (sub.parsed.channel === 'account') {
      const wanted = filterCcys(balances, sub.parsed.ccys);
      sub.conn.send(`{"arg":${sub.argJson},"eventType":"snapshot","curPage":1,"lastPage":true,"data":[${JSON.stringify(accountBalanceData(this.queries, wanted, String(ts)))}]}`);
      return;
    }
    const row = balanceAndPositionRow(this.queries, { kind: 'balance', userId: sub.userId, ts, balances, eventType: '', trades: [] }, 'snapshot');
    sub.conn.send(`{"arg":${sub.argJson},"data":[${JSON.stringify(row)}]}`);
  }

  private sendUser(subs: ReadonlySet<Subscription>, updates: readonly PrivateUpdate[]): void {
    const orderRows: { instId: string; json: string }[] = [];
    const newest = new Map<string, BalanceView>();
    let balanceTs = 0;
    for (const u of updates) {
      if (u.kind === 'order') {
        const row = orderPushRow(this.queries, u);
        if (row !== undefined) orderRows.push({ instId: u.order.instId, json: JSON.stringify(row) });
      } else {
        for (const b of u.balances) newest.set(b.asset, b);
        balanceTs = u.ts;
      }
    }
    for (const sub of subs) {
      switch (sub.parsed.channel) {
        case 'orders': {
          if (!sub.parsed.spot) break;
          const instId = sub.parsed.instId;
          const rows = instId === '' ? orderRows : orderRows.filter((r) => r.instId === instId);
          for (let i = 0; i < rows.length; i += ORDER_ROWS_PER_PUSH_MAX) {
            const chunk = rows.slice(i, i + ORDER_ROWS_PER_PUSH_MAX).map((r) => r.json);
            sub.conn.send(`{"arg":${sub.argJson},"data":[${chunk.join(',')}]}`);
          }
          break;
        }
        case 'account': {
          const wanted = filterCcys([...newest.values()], sub.parsed.ccys);
          if (wanted.length > 0) {
            sub.conn.send(`{"arg":${sub.argJson},"eventType":"event_update","curPage":1,"lastPage":true,"data":[${JSON.stringify(accountBalanceData(this.queries, wanted, String(balanceTs)))}]}`);
          }
          break;
        }
        case 'balance_and_position':
          for (const u of updates) {
            if (u.kind !== 'balance' || u.eventType === '') continue;
            sub.conn.send(`{"arg":${sub.argJson},"data":[${JSON.stringify(balanceAndPositionRow(this.queries, u, u.eventType))}]}`);
          }
          break;
        default: {
          const unknown: never = sub.parsed.channel;
          throw new Error(`unknown private channel ${String(unknown)}`);
        }
      }
    }
  }
}

function filterCcys(balances: readonly BalanceView[], ccys: ReadonlySet<string>): BalanceView[] {
  return ccys.size === 0 ? [...balances] : balances.filter((b) => ccys.has(b.asset));
}

// ------------------------------------------------------------------------- registry entries

/** Failed logins are charged to REST's failed-authentication budget of the client's IP. */
export interface FailedAuthBudget {
  /** False when the IP is over its budget: the login is refused before it is checked. */
  available(ip: string, nowMs: number): boolean;
  charge(ip: string, nowMs: number): void;
}

/** The private channels' registry entries, fed by one PrivateFeed on the hub. */
export function privateChannelDefs(port: ExchangePort, hub: StreamHub): { channels: ChannelDef[]; feed: PrivateFeed; remove: () => void } {
  const feed = new PrivateFeed(port.queries, () => port.now());
  const remove = hub.addConsumer(feed);
  const channels = privateChannels.map((name): ChannelDef => ({
    name, paths: [WsPaths.private], needsLogin: true,
    parseArg: (arg) => parsePrivateArg(port.queries, arg),
    subscribe: (conn, parsed) => {
      // The framework subscribes only logged-in connections (needsLogin) to args this channel parsed.
      const login = conn.login;
      if (login === undefined) throw new Error('private subscription without a login');
      return feed.subscribe(login.userId, parsed as PrivateArg, conn);
    },
  }));
  return { channels, feed, remove };
}

/**
 * The login op. On /ws/v5/public it is refused (60008), as OKX; on /private (and /business, where
 * OKX also logs in) it verifies the key and marks the connection logged in. A connection stays
 * with one key: a login with another one is refused (60031); the same key again is acknowledged.
 */
export function loginOp(port: ExchangePort, windowMs: number, failedAuth: FailedAuthBudget | undefined): OpDef {
  return {
    op: 'login', paths: Object.values(WsPaths),
    handle: (conn, message) => {
      if (conn.path === WsPaths.public) { conn.sendError(WsErrors.loginOnPublic); return; }
      if (port.status().state !== 'serving') { conn.sendError({ code: ApiErrors.unavailable.code, msg: ApiErrors.unavailable.msg }); return; }
      const args = message['args'];
      if (!Array.isArray(args) || args.length !== 1) { conn.sendError(wsError(WsErrors.invalidArgs, 'login takes one {apiKey, passphrase, timestamp, sign}')); return; }
      const nowMs = port.now();
      if (failedAuth?.available(conn.ip, nowMs) === false) { conn.sendError({ code: ApiErrors.rateLimited.code, msg: ApiErrors.rateLimited.msg }); return; }
      const key = verifyLogin({ arg: args[0] as unknown, ip: conn.ip, nowMs, windowMs }, port.keys, port.keyDerivation);
      if ('msg' in key) {
        failedAuth?.charge(conn.ip, nowMs);
        conn.sendError(key);
        return;
      }
      if (conn.login !== undefined && conn.login.apiKey !== key.apiKey) { conn.sendError(WsErrors.loginOtherKey); return; }
      conn.login = { userId: key.userId, apiKey: key.apiKey, perms: key.perms };
      conn.sendEvent({ event: 'login', code: '0', msg: '' });
    },
  };
}
