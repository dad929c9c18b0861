// Every code the gateway can send, in one table, and the mapping from each engine rejection to
// the OKX code a client such as ccxt expects. A code's meaning at the edge is OKX's; where one
// engine rejection means different things in different places (an unknown order on cancel,
// amend or query), the context picks the code. docs/API.md's table is checked against this file.

import { rejectCodes, type RejectCode, type Rejection } from '../core/index.js';
import type { SubmitErrorCode } from '../replica/index.js';

export interface ApiError {
  readonly code: string;
  readonly msg: string;
  /** HTTP status sent with this code when it is the top-level code of a reply. */
  readonly http: number;
}

/** Every top-level and per-item code the gateway produces. */
export const ApiErrors = {
  ok: { code: '0', msg: '', http: 200 },
  allFailed: { code: '1', msg: 'All operations failed', http: 200 },
  partial: { code: '2', msg: 'Bulk operation partially succeeded', http: 200 },
  notFound: { code: '404', msg: 'Not Found', http: 404 },
  bodyTimeout: { code: '408', msg: 'Request Timeout: the request body did not arrive in time; nothing was done.', http: 408 },
  bodyEmpty: { code: '50000', msg: 'Body for POST request cannot be empty.', http: 400 },
  unavailable: { code: '50001', msg: 'Service temporarily unavailable. Please try again later.', http: 503 },
  jsonInvalid: { code: '50002', msg: 'JSON syntax error', http: 400 },
  bodyTooLarge: { code: '50002', msg: 'Request body is too large', http: 413 },
  timeout: { code: '50004', msg: 'API endpoint request timeout (does not mean that the request was successful or failed, please check the request result).', http: 200 },
  contentType: { code: '50006', msg: 'Invalid Content-Type, please use "application/json" format.', http: 400 },
  rateLimited: { code: '50011', msg: 'Too Many Requests', http: 429 },
  busy: { code: '50013', msg: 'Systems are busy. Please try again later.', http: 200 },
  paramEmpty: { code: '50014', msg: 'Parameter {0} can not be empty.', http: 200 },
  systemError: { code: '50026', msg: 'System error. Try again later.', http: 500 },
  timestampExpired: { code: '50102', msg: 'Timestamp request expired.', http: 401 },
  // OKX has no code of its own for a replayed signature; 50102 is the nonce code (CCXT: InvalidNonce).
  requestReplayed: { code: '50102', msg: 'Timestamp request expired. This signed request was already received; sign a new request.', http: 401 },
  keyMissing: { code: '50103', msg: 'Request header "OK-ACCESS-KEY" can not be empty.', http: 401 },
  passphraseMissing: { code: '50104', msg: 'Request header "OK-ACCESS-PASSPHRASE" can not be empty.', http: 401 },
  passphraseWrong: { code: '50105', msg: 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', http: 401 },
  signMissing: { code: '50106', msg: 'Request header "OK-ACCESS-SIGN" can not be empty.', http: 401 },
  timestampMissing: { code: '50107', msg: 'Request header "OK-ACCESS-TIMESTAMP" can not be empty.', http: 401 },
  ipNotAllowed: { code: '50110', msg: 'Your IP {0} is not included in your API key\'s IP whitelist.', http: 401 },
  keyInvalid: { code: '50111', msg: 'Invalid OK-ACCESS-KEY.', http: 401 },
  timestampInvalid: { code: '50112', msg: 'Invalid OK-ACCESS-TIMESTAMP.', http: 401 },
  signInvalid: { code: '50113', msg: 'Invalid Sign.', http: 401 },
  authorizationInvalid: { code: '50114', msg: 'Invalid Authority.', http: 401 },
  permissionDenied: { code: '50120', msg: 'API key doesn\'t have permission.', http: 401 },
  paramError: { code: '51000', msg: 'Parameter {0} error', http: 200 },
  instrumentNotFound: { code: '51001', msg: 'Instrument ID does not exist.', http: 200 },
  orderIdRequired: { code: '51003', msg: 'Either client order ID or order ID is required.', http: 200 },
  priceOutOfLimit: { code: '51006', msg: 'Order price out of the limit.', http: 200 },
  insufficientBalance: { code: '51008', msg: 'Order failed. Insufficient balance.', http: 200 },
  clOrdIdDuplicate: { code: '51016', msg: 'Duplicated clOrdId.', http: 200 },
  sizeBelowMin: { code: '51020', msg: 'Your order should meet or exceed the minimum order amount.', http: 200 },
  instrumentSuspended: { code: '51022', msg: 'Instrument suspended.', http: 200 },
  openOrdersLimit: { code: '51025', msg: 'Order count exceeds the limit.', http: 200 },
  noLiquidity: { code: '51109', msg: 'No available offer.', http: 200 },
  batchTooLarge: { code: '51111', msg: 'Maximum {0} orders can be placed in bulk.', http: 200 },
  lotMultiple: { code: '51121', msg: 'Order quantity must be a multiple of the lot size.', http: 200 },
  postOnlyMode: { code: '51124', msg: 'The instrument accepts only orders that add liquidity.', http: 200 },
  sizeAboveMax: { code: '51203', msg: 'Order amount exceeds the limit.', http: 200 },
  reduceOnly: { code: '51205', msg: 'Reduce-Only is not available.', http: 200 },
  cancelNotFound: { code: '51400', msg: 'Order cancellation failed as the order has been filled, canceled or does not exist.', http: 200 },
  amendNothing: { code: '51500', msg: 'Either order price or amount is required.', http: 200 },
  amendInsufficient: { code: '51502', msg: 'Order modification failed for insufficient balance.', http: 200 },
  amendNotFound: { code: '51503', msg: 'Order modification failed as the order has been filled, canceled or does not exist.', http: 200 },
  amendPostOnly: { code: '51511', msg: 'Operation failed as the order price did not meet the requirement for Post Only.', http: 200 },
  queryNotFound: { code: '51603', msg: 'Order does not exist.', http: 200 },
  withdrawalDisabled: { code: '58200', msg: 'Withdrawal of this currency is unavailable.', http: 200 },
  withdrawalDailyLimit: { code: '58201', msg: 'Withdrawal amount exceeds the daily limit.', http: 200 },
  withdrawalAboveMax: { code: '58205', msg: 'Withdrawal amount exceeds the upper limit.', http: 200 },
  withdrawalBelowMin: { code: '58206', msg: 'Withdrawal amount is lower than the lower limit.', http: 200 },
  withdrawalAddress: { code: '58207', msg: 'Withdrawal address is not whitelisted or is invalid.', http: 200 },
  withdrawalNotFound: { code: '58215', msg: 'Withdrawal ID does not exist.', http: 200 },
  withdrawalInsufficient: { code: '58350', msg: 'Insufficient balance.', http: 200 },
} as const satisfies Record<string, ApiError>;

export type ApiErrorName = keyof typeof ApiErrors;

/** A request that cannot proceed, as a value: handlers return it and the server sends it. */
export class Failure {
  constructor(readonly error: ApiError) {}
}

/** Where a rejection happened: the same engine code maps to different OKX codes by endpoint. */
export type RejectContext = 'place' | 'cancel' | 'amend' | 'withdraw' | 'cancelWithdrawal';

/**
 * The default OKX code for every engine rejection. Codes only an operator command can produce
 * (asset and instrument definitions, deposits, completing withdrawals) map to 51000: a
 * parameter error, with the engine's message saying which.
 */
export const rejectMap: Readonly<Record<RejectCode, ApiErrorName>> = {
  user_not_found: 'authorizationInvalid',
  // Not applied, and safe to retry with the same ids: clients treat it as they treat a timeout.
  command_expired: 'timeout',
  asset_not_found: 'paramError',
  asset_invalid: 'paramError',
  asset_immutable: 'paramError',
  fee_invalid: 'paramError',
  stp_mode_invalid: 'paramError',
  instrument_not_found: 'instrumentNotFound',
  instrument_invalid: 'paramError',
  instrument_immutable: 'paramError',
  instrument_suspended: 'instrumentSuspended',
  instrument_cancel_only: 'instrumentSuspended',
  instrument_post_only: 'postOnlyMode',
  client_order_id_invalid: 'paramError',
  client_order_id_duplicate: 'clOrdIdDuplicate',
  order_type_invalid: 'paramError',
  price_invalid: 'priceOutOfLimit',
  size_invalid: 'lotMultiple',
  size_below_min: 'sizeBelowMin',
  size_above_max: 'sizeAboveMax',
  amount_invalid: 'paramError',
  post_only_would_take: 'amendPostOnly',
  no_liquidity: 'noLiquidity',
  open_orders_limit: 'openOrdersLimit',
  insufficient_balance: 'insufficientBalance',
  order_not_found: 'queryNotFound',
  amend_nothing: 'amendNothing',
  amend_size_not_above_filled: 'paramError',
  deposit_id_invalid: 'paramError',
  deposit_duplicate: 'paramError',
  deposit_conflict: 'paramError',
  withdrawal_below_min: 'withdrawalBelowMin',
  withdrawal_above_max: 'withdrawalAboveMax',
  withdrawal_daily_limit: 'withdrawalDailyLimit',
  withdrawal_disabled: 'withdrawalDisabled',
  withdrawal_not_found: 'withdrawalNotFound',
  withdrawal_not_pending: 'withdrawalNotFound',
  withdrawal_client_id_duplicate: 'paramError',
  tx_id_invalid: 'paramError',
  withdrawal_address_invalid: 'withdrawalAddress',
  api_key_exists: 'paramError',
  balance_overflow: 'paramError',
  // Custody: what a user can meet when withdrawing; the rest only operators' and watchers' commands produce.
  withdrawals_frozen: 'withdrawalDisabled',
  withdrawal_address_not_allowed: 'withdrawalAddress',
  withdrawal_to_own_address: 'withdrawalAddress',
  withdrawal_global_daily_limit: 'withdrawalDailyLimit',
  withdrawal_not_awaiting_approval: 'paramError',
  withdrawal_on_chain: 'paramError',
  deposit_on_chain: 'paramError',
  chain_invalid: 'paramError',
  chain_not_found: 'paramError',
  chain_immutable: 'paramError',
  chain_asset_invalid: 'paramError',
  chain_asset_not_found: 'paramError',
  chain_asset_immutable: 'paramError',
  deposit_invalid: 'paramError',
  deposit_too_small: 'paramError',
  deposit_not_pending: 'paramError',
  deposit_unchanged: 'paramError',
  pending_deposits_limit: 'paramError',
  chain_tx_invalid: 'paramError',
  chain_tx_not_open: 'paramError',
  chain_tx_unconfirmed: 'paramError',
  chain_tx_replace_invalid: 'paramError',
  sweep_in_flight: 'paramError',
  sweep_too_small: 'paramError',
  sweep_needs_native: 'paramError',
  allowlist_invalid: 'paramError',
  freeze_unchanged: 'paramError',
  report_id_invalid: 'paramError',
};

/** Where a context gives a rejection a more specific code than the default. */
export const rejectOverrides: Readonly<Record<RejectContext, Partial<Record<RejectCode, ApiErrorName>>>> = {
  place: {},
  cancel: { order_not_found: 'cancelNotFound' },
  amend: { order_not_found: 'amendNotFound', insufficient_balance: 'amendInsufficient' },
  withdraw: { insufficient_balance: 'withdrawalInsufficient' },
  cancelWithdrawal: {},
};

export interface CodeAndMsg { readonly code: string; readonly msg: string }

/** The OKX code and message for an engine rejection in a context; the message is the engine's. */
export function rejectToApi(reject: Rejection, context: RejectContext): CodeAndMsg {
  const name = rejectOverrides[context][reject.code] ?? rejectMap[reject.code];
  return { code: ApiErrors[name].code, msg: reject.message };
}

/** Why a submission was not accepted at all. */
export function submitErrorToApi(code: SubmitErrorCode): ApiError {
  switch (code) {
    case 'busy': return ApiErrors.busy;
    case 'unavailable': return ApiErrors.unavailable;
    case 'timeout': return ApiErrors.timeout;
    case 'replayed': return ApiErrors.requestReplayed;
    default: {
      const unknown: never = code;
      throw new Error(`unknown submit error ${String(unknown)}`);
    }
  }
}

const paramNameEchoMax = 64;

/** `Parameter {0} error` and friends, with the parameter's name put in. */
export function withParam(error: ApiError, name: string): ApiError {
  // Names can come from the request (unknown fields): echo a bounded prefix only.
  return { code: error.code, msg: error.msg.replace('{0}', name.slice(0, paramNameEchoMax)), http: error.http };
}

/** Every code the gateway can send, for tests that check replies against the documented table. */
export const documentedCodes: ReadonlySet<string> = new Set(Object.values(ApiErrors).map((e) => e.code));

/** The error table as Markdown (docs/API.md embeds it, and a test keeps the two equal). */
export function errorTableMarkdown(): string {
  const rows = Object.entries(ApiErrors).map(([name, e]) => `| ${e.code} | ${String(e.http)} | \`${name}\` | ${e.msg} |`);
  return ['| code | HTTP | name | message |', '|---|---|---|---|', ...rows].join('\n');
}

/** The engine rejection mapping as Markdown, one row per engine code. */
export function rejectTableMarkdown(): string {
  const contexts = Object.keys(rejectOverrides) as RejectContext[];
  const rows = rejectCodes.map((r) => {
    const overrides = contexts
      .filter((c) => rejectOverrides[c][r.code] !== undefined)
      .map((c) => `${c}: ${ApiErrors[rejectOverrides[c][r.code]!].code}`);
    return `| \`${r.code}\` | ${ApiErrors[rejectMap[r.code]].code} | ${overrides.join(', ')} | ${r.message} |`;
  });
  return ['| engine code | OKX code | by endpoint | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

// ------------------------------------------------------------------------------- WebSocket

/** An OKX WebSocket error event's code and message (`{"event":"error","code","msg","connId"}`). */
export interface WsError {
  readonly code: string;
  readonly msg: string;
}

/**
 * Every error event the WebSocket endpoints send, with OKX's codes and messages ({0}, {1}: the
 * part of the request that is wrong, echoed to a bounded length).
 */
export const WsErrors = {
  // Login (ws-private.ts), checked in this order.
  loginKeyMissing: { code: '60001', msg: '"apiKey" can not be empty' },
  loginSignMissing: { code: '60002', msg: '"sign" can not be empty' },
  loginPassphraseMissing: { code: '60003', msg: '"passphrase" can not be empty' },
  loginTimestampInvalid: { code: '60004', msg: 'Invalid timestamp: unix seconds expected' },
  loginKeyInvalid: { code: '60005', msg: 'Invalid apiKey' },
  loginTimestampExpired: { code: '60006', msg: 'Timestamp request expired' },
  loginSignInvalid: { code: '60007', msg: 'Invalid sign' },
  loginOnPublic: { code: '60008', msg: 'Login is not supported for public channels: use /ws/v5/private.' },
  loginFailed: { code: '60009', msg: 'Login failed: {0}' },
  pleaseLogin: { code: '60011', msg: 'Please log in.' },
  illegalRequest: { code: '60012', msg: 'Illegal request: {0}' },
  invalidArgs: { code: '60013', msg: 'Invalid args: {0}' },
  tooFrequent: { code: '60014', msg: 'Requests too frequent.' },
  channelNotFound: { code: '60018', msg: 'Wrong URL or channel:{0},instId:{1} doesn\'t exist.' },
  invalidOp: { code: '60019', msg: 'Invalid op: {0}' },
  subscriptionsLimit: { code: '60020', msg: 'Subscriptions on this connection exceed the limit of {0}.' },
  loginPassphraseWrong: { code: '60024', msg: 'Wrong passphrase' },
  loginOtherKey: { code: '60031', msg: 'The WebSocket endpoint does not allow multiple or repeated logins: this connection is logged in with another key.' },
  internal: { code: '63999', msg: 'Internal error' },
  channelOnBusiness: { code: '64001', msg: 'This channel has been migrated to the \'/business\' URL. Please subscribe using the new URL.' },
  channelNotOnBusiness: { code: '64002', msg: 'This channel is not supported by "/business" URL. Please use "/private" URL(for private channels), or "/public" URL(for public channels).' },
} as const satisfies Readonly<Record<string, WsError>>;

/** How much of a client's request an error message echoes. */
const wsEchoMax = 200;

/** An error with its {0}, {1}... filled in from the request (each bounded). */
export function wsError(error: WsError, ...params: readonly string[]): WsError {
  let msg = error.msg;
  params.forEach((p, i) => { msg = msg.replace(`{${String(i)}}`, p.slice(0, wsEchoMax)); });
  return { code: error.code, msg };
}

/** A WebSocket close: its code (4000-4999 are ours) and the reason the client reads. */
export interface WsClose {
  readonly code: number;
  /** At most 123 bytes (RFC 6455). */
  readonly reason: string;
}

/**
 * Every close the server initiates. OKX's idle close is 4004; the others are ours, each with a
 * reason that says what to do. Overlong frames are closed by the ws library itself (1009).
 */
export const WsCloses = {
  shutdown: { code: 1001, reason: 'Server shutting down; reconnect.' },
  idle: { code: 4004, reason: '60015 No data received or sent in 30s: send "ping" at least every 30s.' },
  slowConsumer: { code: 4010, reason: '60016 Buffer is full: the client read too slowly; reconnect and resubscribe.' },
  overflow: { code: 4011, reason: 'Stream events were dropped on an overload; reconnect and resubscribe (fresh snapshot).' },
  notServing: { code: 4012, reason: '50001 This node is not serving; reconnect, to another cloud if need be.' },
  keyRevoked: { code: 4013, reason: '60005 The API key this connection logged in with was revoked, or no longer admits this address.' },
} as const satisfies Readonly<Record<string, WsClose>>;

/** The WebSocket error events as Markdown (docs/API.md embeds it; a test keeps the two equal). */
export function wsErrorTableMarkdown(): string {
  const rows = Object.entries(WsErrors).map(([name, e]) => `| ${e.code} | \`${name}\` | ${e.msg} |`);
  return ['| WS code | name | message |', '|---|---|---|', ...rows].join('\n');
}

/** The server's WebSocket closes as Markdown (docs/API.md embeds it). */
export function wsCloseTableMarkdown(): string {
  const rows = Object.entries(WsCloses).map(([name, c]) => `| ${String(c.code)} | \`${name}\` | ${c.reason} |`);
  return ['| close code | name | reason sent |', '|---|---|---|', ...rows].join('\n');
}
