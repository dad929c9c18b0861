// The gateway's HTTP server: one fastify instance serving the OKX v5 REST dialect. Requests go
// through, in order: 1. routing (unknown route -> 404 with a code), 2. body capture (the raw
// JSON text is kept for the signature; a body that does not arrive within bodyTimeoutMs is
// answered 408 and its socket closed), 3. authentication for private routes (failures are
// rate-limited per IP), the key's IP allowlist and permissions, 4. the rate limit for the
// route's scope, 5. body parsing, 6. the route's handler, 7. the {code,msg,data} envelope.
// Every reply, errors included, is JSON with an OKX code, and is counted in metrics.

import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { authenticate, authorize, signedBy } from './auth.js';
import { parseBody, RawBody } from './body.js';
import { ApiErrors, Failure, type ApiError } from './errors.js';
import { fundingRoutes } from './funding.js';
import { marketRoutes } from './market.js';
import { porRoutes, type ProofSource } from './por.js';
import type { ExchangePort, Permission, SignedBy } from '../replica/index.js';
import { defaultRateLimits, failedAuthLimitDefault, TokenBuckets, type RateLimit, type Take } from './rate-limit.js';
import type { Outcome, RequestContext, RouteDef } from './request.js';
import { tradeRoutes } from './trade.js';
import type { StreamHub } from '../streams/index.js';
import { publicChannels, type PushIntervals } from './ws-public.js';
import type { FanoutProcess } from './ws-fanout.js';
import { attachWebSockets, subscriptionOps, type WsOptions, type WsServer } from './ws-server.js';
import { loginOp, privateChannelDefs, type FailedAuthBudget } from './ws-private.js';
import { orderOpDefs, type TradeBudget } from './ws-trade.js';

export interface GatewayOptions {
  /** Largest request body accepted, in bytes (batch-orders of 20 items is about 4 KiB). */
  readonly bodyLimitBytes?: number;
  /**
   * Rate limits: true (the default) for OKX's table, false for none, or per-route limits keyed
   * `METHOD /api/v5/path` (routes not named keep the defaults).
   */
  readonly rateLimits?: boolean | Readonly<Record<string, RateLimit>>;
  /** Rate-limit buckets kept in memory at most (the least recently used is dropped first). */
  readonly rateLimitBucketsMax?: number;
  /**
   * Failed authentications allowed per client IP; over it, private routes answer 429/50011.
   * Default: failedAuthLimitDefault, or none when rateLimits is false.
   */
  readonly failedAuthLimit?: RateLimit | false;
  /** Metrics are registered here (a private registry when absent). */
  readonly registry?: Registry;
  /** A pino logger, or false for none. */
  readonly logger?: Logger | false;
  /** How far a request's OK-ACCESS-TIMESTAMP may be from our clock, either way. */
  readonly timestampWindowMs?: number;
  /** Whether to take the client IP from X-Forwarded-For (behind a trusted proxy). */
  readonly trustProxy?: boolean;
  /** Socket and handler timeouts, in ms. */
  readonly connectionTimeoutMs?: number;
  readonly keepAliveTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly handlerTimeoutMs?: number;
  /**
   * A request body must have fully arrived this long after its headers, else 408 and the socket
   * is closed, with nothing submitted. Below handlerTimeoutMs, so a trickled body is never
   * mistaken for a command whose outcome is unknown (50004).
   */
  readonly bodyTimeoutMs?: number;
  /** Open client connections at most; the listener drops connections beyond it at once. */
  readonly maxConnections?: number;
  /** Adds routes (operator endpoints) to the instance before it is ready. */
  readonly extraRoutes?: (app: FastifyInstance) => void;
  /** Proof-of-reserves reports and proofs (Everbook's own routes; none when absent). */
  readonly por?: ProofSource;
  /** The OKX v5 WebSocket endpoints, fed by this stream hub (none when absent). */
  /**
   * The WebSocket endpoints, fed by the hub; with `fanout`, the public and business sockets are
   * held by that child process (ws-fanout.ts), which the caller starts and stops.
   */
  readonly streams?: { readonly hub: StreamHub; readonly options?: WsOptions; readonly intervals?: PushIntervals; readonly fanout?: FanoutProcess };
  /**
   * A user's deposit address of an asset when custody runs (its HD address; undefined for an
   * asset on no chain). Without it, asset/deposit-address answers a deterministic dev address.
   */
  readonly depositAddress?: (userId: number, asset: string) => string | undefined;
  /**
   * Whether an address is the exchange's own on its chain: a withdrawal there is refused (58207),
   * since the watchers take transfers from the hot wallet for the exchange's own, not deposits.
   */
  readonly isOwnAddress?: (address: string) => boolean | undefined;
}

export const GatewayDefaults = {
  bodyLimitBytes: 64 * 1024,
  rateLimitBucketsMax: 100_000,
  timestampWindowMs: 30_000,
  connectionTimeoutMs: 10_000,
  keepAliveTimeoutMs: 5_000,
  requestTimeoutMs: 10_000,
  handlerTimeoutMs: 8_000,
  bodyTimeoutMs: 5_000,
  maxConnections: 10_000,
} as const;

/**
 * What a private route needs of a key beyond reading, as OKX groups them: trading for every
 * order POST, withdrawal for the withdrawal POSTs. GETs need only a valid key.
 */
export function routePermission(def: Pick<RouteDef, 'method' | 'path'>): Permission {
  if (def.method === 'GET') return 'read_only';
  if (def.path.startsWith('/api/v5/asset/')) return 'withdraw';
  return 'trade';
}

/**
 * The trade budget of the order routes, per route, user and instrument: REST and WebSocket order
 * entry charge the same buckets, as OKX's limits are shared between them.
 */
export function tradeBudget(port: ExchangePort, buckets: TokenBuckets, limits: Readonly<Record<string, RateLimit>>): TradeBudget {
  return (path, userId, instIds, nowMs) => {
    const limit = limits[`POST ${path}`];
    if (limit === undefined) return true;
    const costs = new Map<string, number>();
    // Only instruments that exist get a bucket: made-up instIds would otherwise fill the
    // map and push out real clients' buckets. Their items are refused (51001) by the handler.
    for (const instId of instIds) {
      if (port.queries.instrument(instId) !== undefined) costs.set(instId, (costs.get(instId) ?? 0) + 1);
    }
    const takes: Take[] = [...costs].map(([instId, cost]) => ({ key: `${path}:user:${String(userId)}:${instId}`, cost }));
    return buckets.take(takes, limit, nowMs);
  };
}

const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * What the gateway's hooks share about one request, kept as request decorations (fields of
 * fastify's Request, declared once in createGateway) rather than in WeakMaps: no weak entry
 * per request for the collector to trace.
 */
interface RequestState {
  /** The OKX code the reply carried, for the metrics hook ('' until a reply is sent). */
  everbookReplyCode: string;
  /** Runs from the headers until the body has arrived (null when there is none). */
  everbookBodyTimer: NodeJS.Timeout | null;
  /** Answered 408 "nothing was done": should the body still complete, the handler must not run. */
  everbookTimedOut: boolean;
}

function tracked(request: FastifyRequest): RequestState {
  return request as unknown as RequestState;
}

interface Envelope { readonly code: string; readonly msg: string; readonly data: readonly unknown[] }

/** The WebSocket server of each gateway that has one. */
const webSockets = new WeakMap<FastifyInstance, WsServer>();

/** The WebSocket endpoints a gateway serves (undefined when it was made without streams). */
export function webSocketsOf(app: FastifyInstance): WsServer | undefined {
  return webSockets.get(app);
}

/** What the private WebSocket side shares with REST: the trade budget, the failed-login budget, the timestamp window. */
interface SharedAuth {
  readonly takeTrade: TradeBudget;
  readonly failedAuth: FailedAuthBudget | undefined;
  readonly windowMs: number;
  /** Whether the client IP comes from X-Forwarded-For (GatewayOptions.trustProxy). */
  readonly trustProxy: boolean;
}

/**
 * The WebSocket endpoints: the channel registry (public and business channels, and the private
 * ones) and the op registry (subscribe, unsubscribe, login and the order ops).
 */
function attachStreams(
  app: FastifyInstance, port: ExchangePort, streams: NonNullable<GatewayOptions['streams']>, registry: Registry, logger: Logger | false, auth: SharedAuth,
): WsServer {
  const market = publicChannels(port, streams.hub, streams.intervals);
  const personal = privateChannelDefs(port, streams.hub);
  app.addHook('onClose', (_instance, done) => { market.remove(); personal.remove(); done(); });
  return attachWebSockets(app, {
    port, channels: [...market.channels, ...personal.channels],
    ops: [...subscriptionOps, loginOp(port, auth.windowMs, auth.failedAuth), ...orderOpDefs(port, auth.takeTrade)], registry, logger,
    httpConnectionsMax: app.server.maxConnections,
    ...(streams.options !== undefined && { options: streams.options }),
    ...(streams.fanout !== undefined && { fanout: streams.fanout }),
    trustProxy: auth.trustProxy,
  });
}

export function createGateway(port: ExchangePort, options: GatewayOptions = {}): FastifyInstance {
  const bodyLimit = options.bodyLimitBytes ?? GatewayDefaults.bodyLimitBytes;
  const windowMs = options.timestampWindowMs ?? GatewayDefaults.timestampWindowMs;
  const rateLimits = options.rateLimits ?? true;
  const limits: Readonly<Record<string, RateLimit>> = rateLimits === false ? {}
    : rateLimits === true ? defaultRateLimits : { ...defaultRateLimits, ...rateLimits };
  const buckets = new TokenBuckets(options.rateLimitBucketsMax ?? GatewayDefaults.rateLimitBucketsMax);
  const failedAuthLimit = options.failedAuthLimit ?? (rateLimits === false ? false : failedAuthLimitDefault);
  const bodyTimeoutMs = options.bodyTimeoutMs ?? GatewayDefaults.bodyTimeoutMs;
  const handlerTimeoutMs = options.handlerTimeoutMs ?? GatewayDefaults.handlerTimeoutMs;
  if (!(bodyTimeoutMs > 0 && bodyTimeoutMs < handlerTimeoutMs)) {
    throw new RangeError(`bodyTimeoutMs (${bodyTimeoutMs}) must be positive and below handlerTimeoutMs (${handlerTimeoutMs}): a late body would be answered 50004`);
  }
  const registry = options.registry ?? new Registry();
  new Gauge({
    name: 'everbook_gateway_rate_limit_buckets', help: 'Rate-limit buckets held in memory (bounded by rateLimitBucketsMax).',
    registers: [registry], collect() { this.set(buckets.size); },
  });
  // Replies are counted here and folded into the counter when it is read (prom-client calls
  // collect() first): a reply then costs one map look-up instead of the counter's label
  // validation and hashing (about 1% of an order's CPU in the profile, docs/PERFORMANCE.md).
  // One entry per method, route and code seen, as many as the counter itself holds.
  const unscraped = new Map<string, { readonly labels: { method: string; route: string; code: string }; count: number }>();
  const countReply = (method: string, route: string, code: string): void => {
    const key = `${method} ${route} ${code}`;
    const entry = unscraped.get(key);
    if (entry !== undefined) entry.count += 1;
    else unscraped.set(key, { labels: { method, route, code }, count: 1 });
  };
  new Counter({
    name: 'everbook_gateway_requests_total', help: 'REST requests by route and OKX reply code.',
    labelNames: ['method', 'route', 'code'], registers: [registry],
    collect() {
      for (const entry of unscraped.values()) {
        if (entry.count > 0) { this.inc(entry.labels, entry.count); entry.count = 0; }
      }
    },
  });
  /** The latency histogram's labels, one object per method and route. */
  const latencyLabels = new Map<string, { readonly method: string; readonly route: string }>();
  const latency = new Histogram({
    name: 'everbook_gateway_request_duration_seconds', help: 'REST request latency by route.',
    labelNames: ['method', 'route'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const send = (request: FastifyRequest, reply: FastifyReply, envelope: Envelope, http: number): FastifyReply => {
    tracked(request).everbookReplyCode = envelope.code;
    return reply.code(http).type(JSON_TYPE).send(JSON.stringify(envelope));
  };
  const sendError = (request: FastifyRequest, reply: FastifyReply, error: ApiError): FastifyReply =>
    send(request, reply, { code: error.code, msg: error.msg, data: [] }, error.http);

  const app = Fastify({
    ...(options.logger === undefined || options.logger === false ? { logger: false } : { loggerInstance: options.logger }),
    bodyLimit,
    connectionTimeout: options.connectionTimeoutMs ?? GatewayDefaults.connectionTimeoutMs,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? GatewayDefaults.keepAliveTimeoutMs,
    requestTimeout: options.requestTimeoutMs ?? GatewayDefaults.requestTimeoutMs,
    // No `handlerTimeout` here: fastify's builds an AbortController per request and aborts it
    // when the request closes, constructing a DOMException every time (7% of an order's CPU in
    // the profile, docs/PERFORMANCE.md). serve() bounds the handler itself (withinDeadline).
    trustProxy: options.trustProxy ?? false,
    return503OnClosing: true,
    frameworkErrors: (error, request, reply) => {
      const api = error.code === 'FST_ERR_BAD_URL' ? { ...ApiErrors.paramError, msg: 'Parameter url error', http: 400 } : ApiErrors.systemError;
      sendError(request, reply, api);
    },
  }) as unknown as FastifyInstance;
  app.server.maxConnections = options.maxConnections ?? GatewayDefaults.maxConnections;
  app.decorateRequest('everbookReplyCode', '');
  app.decorateRequest('everbookBodyTimer', null);
  app.decorateRequest('everbookTimedOut', false);

  // A body that never completes (trickled, or cut short) must not hold a socket until the
  // handler timeout and then be told 50004: nothing was submitted, so it gets 408 and its socket
  // is closed. The timer runs from the headers until the body has been read.
  const clearBodyTimer = (request: FastifyRequest): void => {
    const state = tracked(request);
    if (state.everbookBodyTimer !== null) {
      clearTimeout(state.everbookBodyTimer);
      state.everbookBodyTimer = null;
    }
  };
  app.addHook('onRequest', (request, reply, done) => {
    const headers = request.headers;
    const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
    if (hasBody && !request.raw.complete) {
      tracked(request).everbookBodyTimer = setTimeout(() => {
        tracked(request).everbookBodyTimer = null;
        if (reply.sent || reply.raw.headersSent) return;
        // Answered on the raw response: fastify is still waiting for the body and must not answer again.
        reply.hijack();
        tracked(request).everbookTimedOut = true;
        const error = ApiErrors.bodyTimeout;
        countReply(request.method, request.routeOptions.url ?? 'unmatched', error.code);
        const socket = request.raw.socket;
        reply.raw.on('finish', () => { socket.destroy(); });
        const text = JSON.stringify({ code: error.code, msg: error.msg, data: [] });
        reply.raw.writeHead(error.http, { 'content-type': JSON_TYPE, 'content-length': Buffer.byteLength(text), connection: 'close' });
        reply.raw.end(text);
      }, bodyTimeoutMs);
    }
    done();
  });
  app.addHook('preValidation', (request, _reply, done) => {
    clearBodyTimer(request);
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    clearBodyTimer(request);
    done();
  });

  // The raw text is what the client signed; it is parsed only after authentication.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    done(null, new RawBody(typeof body === 'string' ? body : body.toString('utf8')));
  });

  app.setNotFoundHandler((request, reply) => {
    sendError(request, reply, ApiErrors.notFound);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    switch (error.code) {
      case 'FST_ERR_CTP_BODY_TOO_LARGE': return sendError(request, reply, ApiErrors.bodyTooLarge);
      case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return sendError(request, reply, ApiErrors.contentType);
      case 'FST_ERR_CTP_EMPTY_JSON_BODY': return sendError(request, reply, ApiErrors.bodyEmpty);
      case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return sendError(request, reply, ApiErrors.jsonInvalid);
      default:
        if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
          return sendError(request, reply, { ...ApiErrors.jsonInvalid, http: error.statusCode });
        }
        request.log.error({ err: error }, 'gateway handler failed');
        return sendError(request, reply, ApiErrors.systemError);
    }
  });

  app.addHook('onResponse', (request, reply, done) => {
    clearBodyTimer(request);
    const method = request.method;
    const route = request.routeOptions.url ?? 'unmatched';
    const code = tracked(request).everbookReplyCode;
    countReply(method, route, typeof code === 'string' && code !== '' ? code : String(reply.statusCode));
    const key = `${method} ${route}`;
    let labels = latencyLabels.get(key);
    if (labels === undefined) { labels = { method, route }; latencyLabels.set(key, labels); }
    latency.observe(labels, reply.elapsedTime / 1000);
    done();
  });

  /**
   * The handler's outcome, or 50004 ("does not mean that the request was successful or failed")
   * once handlerTimeoutMs has passed; a handler that finishes later is not answered again.
   */
  const withinDeadline = (handling: Outcome | Promise<Outcome>): Outcome | Promise<Outcome> => {
    if (!(handling instanceof Promise)) return handling;
    return new Promise<Outcome>((resolve, reject) => {
      const timer = setTimeout(() => { resolve(new Failure(ApiErrors.timeout)); }, handlerTimeoutMs);
      handling.then(
        (outcome) => { clearTimeout(timer); resolve(outcome); },
        (e: unknown) => { clearTimeout(timer); reject(e instanceof Error ? e : new Error(String(e))); },
      );
    });
  };

  const takeTrade = tradeBudget(port, buckets, limits);
  const stateless = new Set(['/api/v5/system/status', '/api/v5/public/time']);
  /** What serve() needs of a route that does not change per request, worked out once. */
  interface Served { readonly def: RouteDef; readonly isStateless: boolean; readonly limit: RateLimit | undefined; readonly permission: Permission }
  const serve = async (route: Served, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const def = route.def;
    // A replica that is not serving (still starting, stopped, or diverged from its peers)
    // answers nothing from its state: clients fail over to another cloud.
    // Time and system status still answer, so clients and operators can see why.
    if (!route.isStateless && port.status().state !== 'serving') return sendError(request, reply, ApiErrors.unavailable);
    // Told 408 "nothing was done": keep it true even if the body completed a moment later.
    if (tracked(request).everbookTimedOut) return reply;
    const nowMs = port.now();
    const raw = request.body instanceof RawBody ? request.body.text : '';
    const limit = route.limit;
    let userId = 0;
    let signature: SignedBy | undefined;
    if (def.auth) {
      // An IP over its failed-authentication budget is refused before its guess is checked.
      const failedKey = `authfail:ip:${request.ip}`;
      if (failedAuthLimit !== false && !buckets.available(failedKey, 1, failedAuthLimit, nowMs)) return sendError(request, reply, ApiErrors.rateLimited);
      const key = authenticate({ headers: request.headers, method: request.method, url: request.url, body: raw }, port.keys, port.keyDerivation, nowMs, windowMs);
      if (key instanceof Failure) {
        if (failedAuthLimit !== false) buckets.take([{ key: failedKey, cost: 1 }], failedAuthLimit, nowMs);
        return sendError(request, reply, key.error);
      }
      const refused = authorize(key, request.ip, route.permission);
      if (refused !== undefined) return sendError(request, reply, refused.error);
      userId = key.userId;
      signature = signedBy(request.headers);
    }
    if (limit !== undefined && def.scope !== 'userInst') {
      const key = def.scope === 'ip' ? `ip:${request.ip}` : `user:${String(userId)}`;
      if (!buckets.take([{ key: `${def.path}:${key}`, cost: 1 }], limit, nowMs)) return sendError(request, reply, ApiErrors.rateLimited);
    }
    let body: unknown;
    if (def.method === 'POST') {
      body = parseBody(raw);
      if (body instanceof Failure) return sendError(request, reply, body.error);
    }
    const ctx: RequestContext = {
      port, query: request.query, body, userId, signedBy: signature, nowMs,
      takeTrade: (instIds) => takeTrade(def.path, userId, instIds, nowMs),
      ...(options.depositAddress !== undefined && { depositAddress: options.depositAddress }),
      ...(options.isOwnAddress !== undefined && { isOwnAddress: options.isOwnAddress }),
    };
    const outcome = await withinDeadline(def.handle(ctx));
    if (outcome instanceof Failure) return sendError(request, reply, outcome.error);
    const status = outcome.status ?? ApiErrors.ok;
    return send(request, reply, { code: status.code, msg: status.msg, data: outcome.data }, status.http);
  };

  for (const def of [...marketRoutes, ...tradeRoutes, ...fundingRoutes, ...(options.por === undefined ? [] : porRoutes(options.por))]) {
    const route: Served = { def, isStateless: stateless.has(def.path), limit: limits[`${def.method} ${def.path}`], permission: routePermission(def) };
    app.route({ method: def.method, url: def.path, handler: (request, reply) => serve(route, request, reply) });
  }
  options.extraRoutes?.(app);
  if (options.streams !== undefined) {
    const failedAuth: FailedAuthBudget | undefined = failedAuthLimit === false ? undefined : {
      available: (ip, nowMs) => buckets.available(`authfail:ip:${ip}`, 1, failedAuthLimit, nowMs),
      charge: (ip, nowMs) => { buckets.take([{ key: `authfail:ip:${ip}`, cost: 1 }], failedAuthLimit, nowMs); },
    };
    webSockets.set(app, attachStreams(app, port, options.streams, registry, options.logger ?? false, { takeTrade, failedAuth, windowMs, trustProxy: options.trustProxy ?? false }));
  }
  return app;
}
