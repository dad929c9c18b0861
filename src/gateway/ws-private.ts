// The private side of the OKX WebSocket dialect: `login` on /ws/v5/private, and the `orders`,
// `account` and `balance_and_position` channels. Login checks what REST checks per request,
// once per connection: Base64(HMAC-SHA256(secret, unixSeconds + 'GET' + '/users/self/verify')),
// the passphrase, a 30 s window, and the key's IP allowlist. Pushes are built from the engine's
// events: PrivateFeed.capture runs in the replica's apply loop, right after a record applied,
// and copies only what the subscribed users need (the order as it stood after each event,
// balances); a drain on the next turn of the event loop formats and sends them, so the apply
// loop never waits on a socket. Every update names one user and goes to that user's
// subscriptions only.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { BalanceView, Event, OrderRecord } from '../core/index.js';
import type { ApiKey, ExchangeQueries, KeySecrets, KeyStore } from '../replica/index.js';
import { normalizeIp } from './auth.js';
import { amountText, feeText, pxText, szText } from './convert.js';
import { ApiErrors, Failure, type ApiError } from './errors.js';
import { accountBalanceData } from './funding.js';
import { orderRow } from './trade.js';

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
export function verifyLogin(req: LoginRequest, keys: KeyStore, derivation: KeySecrets): ApiKey | Failure {
  if (typeof req.arg !== 'object' || req.arg === null || Array.isArray(req.arg)) return new Failure(ApiErrors.wsKeyMissing);
  const arg = req.arg as Record<string, unknown>;
  const apiKey = field(arg, 'apiKey');
  const passphrase = field(arg, 'passphrase');
  const timestamp = field(arg, 'timestamp');
  const signature = field(arg, 'sign');
  if (apiKey === '') return new Failure(ApiErrors.wsKeyMissing);
  if (signature === '') return new Failure(ApiErrors.wsSignMissing);
  if (passphrase === '') return new Failure(ApiErrors.wsPassphraseMissing);
  if (!UNIX_SECONDS.test(timestamp)) return new Failure(ApiErrors.wsTimestampInvalid);
  if (Math.abs(req.nowMs - Number(timestamp) * 1000) > req.windowMs) return new Failure(ApiErrors.wsTimestampExpired);
  const key = apiKey.length > loginFieldLengthMax ? undefined : keys.get(apiKey);
  if (key === undefined) return new Failure(ApiErrors.wsKeyInvalid);
  if (passphrase.length > loginFieldLengthMax || !derivation.passphraseMatches(key.apiKey, passphrase, key.passphraseHash)) {
    return new Failure(ApiErrors.wsPassphraseWrong);
  }
  if (!SIGN_BASE64.test(signature)) return new Failure(ApiErrors.wsSignInvalid);
  const expected = createHmac('sha256', derivation.secretFor(key.apiKey)).update(timestamp + LOGIN_SIGN_SUFFIX).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'base64'))) return new Failure(ApiErrors.wsSignInvalid);
  if (key.ips.length > 0 && !key.ips.includes(normalizeIp(req.ip))) {
    return new Failure({ ...ApiErrors.wsLoginFailed, msg: `Login failed: IP ${req.ip.slice(0, 64)} is not in the API key's IP whitelist.` });
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

/** A parsed private subscription: what it echoes as `arg`, and what it lets through. */
export interface PrivateArg {
  readonly channel: PrivateChannel;
  /** The subscription's identity on its connection (subscribe twice = once; unsubscribe finds it). */
  readonly key: string;
  /** The arg pushes carry: the subscription's own fields, plus the user id, as OKX. */
  readonly echo: Readonly<Record<string, string>>;
  /** orders: false for an instType with no spot data. */
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

function stringFields(arg: Record<string, unknown>, allowed: readonly string[]): Record<string, string> | Failure {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(arg)) {
    if (name === 'channel') continue;
    if (!allowed.includes(name) || typeof value !== 'string' || value.length > argFieldLengthMax) return new Failure(invalidArg(name));
    out[name] = value;
  }
  return out;
}

function invalidArg(name: string): ApiError {
  return { ...ApiErrors.wsInvalidArgs, msg: `Invalid args: ${name.slice(0, argFieldLengthMax)}` };
}

/** A private channel's subscribe arg, checked: 60013 for malformed args, 60018 for an unknown instrument. */
export function parsePrivateArg(queries: ExchangeQueries, arg: unknown, userId: number): PrivateArg | ApiError {
  if (typeof arg !== 'object' || arg === null || Array.isArray(arg)) return invalidArg('arg');
  const raw = arg as Record<string, unknown>;
  const channel = privateChannels.find((c) => c === raw['channel']);
  if (channel === undefined) return invalidArg('channel');
  const f = stringFields(raw, channelFields[channel]);
  if (f instanceof Failure) return f.error;
  const uid = String(userId);
  switch (channel) {
    case 'orders': {
      const instType = f['instType'] ?? '';
      if (!INST_TYPES.has(instType)) return instType === '' ? { ...ApiErrors.wsInvalidArgs, msg: 'Invalid args: instType is required' } : invalidArg('instType');
      const instId = f['instId'] ?? '';
      if (instId !== '' && queries.instrument(instId) === undefined) return { ...ApiErrors.wsChannelNotFound, msg: `channel:orders,instId:${instId} doesn't exist` };
      const spot = instType === 'SPOT' || instType === 'ANY';
      return {
        channel, key: `orders:${instType}:${f['instFamily'] ?? ''}:${instId}`, echo: { channel, ...f, uid }, spot, instId, ccys: new Set(),
      };
    }
    case 'account': {
      const ccy = f['ccy'] ?? '';
      return { channel, key: `account:${ccy}`, echo: { channel, ...f, uid }, spot: true, instId: '', ccys: new Set(ccy === '' ? [] : [ccy]) };
    }
    case 'balance_and_position':
      return { channel, key: channel, echo: { channel, uid }, spot: true, instId: '', ccys: new Set() };
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

/** What the feed needs of a connection: its id, a send that never blocks, and a close. */
export interface PrivatePeer {
  readonly connId: string;
  send(text: string): void;
  close(code: number, reason: string): void;
}

export const PrivateFeedDefaults = {
  /**
   * Updates captured and not yet sent, at most. Past it the feed cannot keep up (the event loop
   * is starved): it drops what it holds and closes every private subscriber with
   * PRIVATE_RESYNC_CLOSE, so clients reconnect and read state afresh, instead of growing.
   */
  updatesMax: 100_000,
  /** Order rows per `orders` push message. */
  rowsPerPushMax: 100,
} as const;

/** The close a private subscriber gets when the feed had to drop updates (4000-4999: application codes). */
export const PRIVATE_RESYNC_CLOSE = { code: 4010, reason: 'private stream overflow: reconnect and resubscribe' } as const;

interface Subscription {
  readonly userId: number;
  readonly arg: PrivateArg;
  readonly peer: PrivatePeer;
  /** The `arg` of its pushes, serialised once. */
  readonly argJson: string;
  /** Updates captured before it subscribed are older than its snapshot: skipped. */
  readonly fromUpdate: number;
}

interface Captured { readonly n: number; readonly update: PrivateUpdate }

/**
 * The private channels' fan-out: subscriptions by user, the updates captured from applied
 * records (bounded), and the drain that formats each user's updates once and sends them to that
 * user's subscriptions only.
 */
export class PrivateFeed {
  private readonly byUser = new Map<number, Set<Subscription>>();
  private pending: Captured[] = [];
  private captured = 0;
  private scheduled = false;
  private readonly updatesMax: number;
  private readonly wanted = (userId: number): boolean => this.byUser.has(userId);

  constructor(private readonly queries: ExchangeQueries, private readonly now: () => number, options: { updatesMax?: number } = {}) {
    this.updatesMax = options.updatesMax ?? PrivateFeedDefaults.updatesMax;
  }

  /** Subscriptions held, over all users. */
  get subscriptions(): number {
    let n = 0;
    for (const subs of this.byUser.values()) n += subs.size;
    return n;
  }

  /** Called by the apply loop after each record (synchronously): copies, never sends. */
  onApplied(events: readonly Event[]): void {
    if (this.byUser.size === 0 || events.length === 0) return;
    const updates = capturePrivate(events, this.queries, this.wanted, this.now());
    if (updates.length === 0) return;
    if (this.pending.length + updates.length > this.updatesMax) {
      this.overflow();
      return;
    }
    for (const update of updates) this.pending.push({ n: ++this.captured, update });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => { this.drain(); });
    }
  }

  /**
   * Subscribes a logged-in connection to one of its user's private channels; `account` and
   * `balance_and_position` send their snapshot at once (after the caller's subscribe ack).
   * Returns the unsubscribe.
   */
  subscribe(userId: number, arg: PrivateArg, peer: PrivatePeer): () => void {
    const sub: Subscription = { userId, arg, peer, argJson: JSON.stringify(arg.echo), fromUpdate: this.captured + 1 };
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
    if (sub.arg.channel === 'orders') return;
    const balances = this.queries.account(sub.userId)?.balances ?? [];
    const ts = this.now();
    if (sub.arg.channel === 'account') {
      const wanted = filterCcys(balances, sub.arg.ccys);
      sub.peer.send(`{"arg":${sub.argJson},"eventType":"snapshot","curPage":1,"lastPage":true,"data":[${JSON.stringify(accountPushRow(this.queries, wanted, ts))}]}`);
      return;
    }
    const row = balanceAndPositionRow(this.queries, { kind: 'balance', userId: sub.userId, ts, balances, eventType: '', trades: [] }, 'snapshot');
    sub.peer.send(`{"arg":${sub.argJson},"data":[${JSON.stringify(row)}]}`);
  }

  private overflow(): void {
    this.pending = [];
    const peers = new Set<PrivatePeer>();
    for (const subs of this.byUser.values()) for (const sub of subs) peers.add(sub.peer);
    this.byUser.clear();
    for (const peer of peers) peer.close(PRIVATE_RESYNC_CLOSE.code, PRIVATE_RESYNC_CLOSE.reason);
  }

  /** Sends what was captured: per user, order rows formatted once, balances merged to their newest values. */
  drain(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    const byUser = new Map<number, Captured[]>();
    for (const c of batch) {
      const list = byUser.get(c.update.userId);
      if (list === undefined) byUser.set(c.update.userId, [c]);
      else list.push(c);
    }
    for (const [userId, captured] of byUser) {
      const subs = this.byUser.get(userId);
      if (subs === undefined) continue;
      this.sendUser(subs, captured);
    }
  }

  private sendUser(subs: ReadonlySet<Subscription>, captured: readonly Captured[]): void {
    const orderRows: { n: number; instId: string; json: string }[] = [];
    for (const c of captured) {
      if (c.update.kind !== 'order') continue;
      const row = orderPushRow(this.queries, c.update);
      if (row !== undefined) orderRows.push({ n: c.n, instId: c.update.order.instId, json: JSON.stringify(row) });
    }
    for (const sub of subs) {
      switch (sub.arg.channel) {
        case 'orders': {
          if (!sub.arg.spot) break;
          const rows = orderRows.filter((r) => r.n >= sub.fromUpdate && (sub.arg.instId === '' || r.instId === sub.arg.instId));
          for (let i = 0; i < rows.length; i += PrivateFeedDefaults.rowsPerPushMax) {
            const chunk = rows.slice(i, i + PrivateFeedDefaults.rowsPerPushMax).map((r) => r.json);
            sub.peer.send(`{"arg":${sub.argJson},"data":[${chunk.join(',')}]}`);
          }
          break;
        }
        case 'account': {
          const newest = new Map<string, BalanceView>();
          let ts = 0;
          for (const c of captured) {
            if (c.update.kind !== 'balance' || c.n < sub.fromUpdate) continue;
            for (const b of c.update.balances) newest.set(b.asset, b);
            ts = c.update.ts;
          }
          const wanted = filterCcys([...newest.values()], sub.arg.ccys);
          if (wanted.length > 0) sub.peer.send(`{"arg":${sub.argJson},"eventType":"event_update","curPage":1,"lastPage":true,"data":[${JSON.stringify(accountPushRow(this.queries, wanted, ts))}]}`);
          break;
        }
        case 'balance_and_position':
          for (const c of captured) {
            if (c.update.kind !== 'balance' || c.n < sub.fromUpdate || c.update.eventType === '') continue;
            sub.peer.send(`{"arg":${sub.argJson},"data":[${JSON.stringify(balanceAndPositionRow(this.queries, c.update, c.update.eventType))}]}`);
          }
          break;
        default: {
          const unknown: never = sub.arg.channel;
          throw new Error(`unknown private channel ${String(unknown)}`);
        }
      }
    }
  }
}

function filterCcys(balances: readonly BalanceView[], ccys: ReadonlySet<string>): BalanceView[] {
  return ccys.size === 0 ? [...balances] : balances.filter((b) => ccys.has(b.asset));
}
