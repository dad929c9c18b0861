// The OKX v5 WebSocket endpoints on the gateway's HTTP server: /ws/v5/public, /ws/v5/private
// and /ws/v5/business, upgraded by the `ws` library (noServer mode; any other path gets 404).
// Each connection gets a connId and speaks OKX's dialect: the text `ping` is answered `pong`;
// every other message is a JSON `{"op":...}` dispatched through the OP REGISTRY (subscribe and
// unsubscribe here; login and the order ops plug in the same way); subscriptions go through the
// CHANNEL REGISTRY (each channel parses its arg and starts a subscription that it ends itself).
// Everything is bounded: connections (in all and per IP, refused at the upgrade), subscriptions
// per connection, request size and rate, and each connection's unsent bytes: a client that does
// not read its data is closed (4010) as soon as its send buffer would pass sendBufferMaxBytes,
// so a slow reader costs a bounded amount of memory and never holds up anybody else. A
// connection with no traffic either way for 30 s is closed as OKX closes it (4004); all are
// closed when the node stops serving (4012), so clients fail over to another cloud.
// With a fan-out process (ws-fanout.ts), the public and business sockets are handed to it after
// the bounds are checked: it writes the frames (a topic's push once for all its members) and
// enforces the unsent-bytes bound and the idle close, while this server still runs every op.

import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { authorize, normalizeIp } from './auth.js';
import { WsCloses, WsErrors, wsError, type WsClose, type WsError } from './errors.js';
import type { ExchangePort, Permission } from '../replica/index.js';
import { frameText, type FanoutHandler, type FanoutProcess } from './ws-fanout.js';

export const WsPaths = { public: '/ws/v5/public', private: '/ws/v5/private', business: '/ws/v5/business' } as const;
export type WsPath = (typeof WsPaths)[keyof typeof WsPaths];
const wsPaths: ReadonlySet<string> = new Set(Object.values(WsPaths));

/** The WebSocket bounds; docs/API.md lists them. */
export const WsDefaults = {
  /**
   * Open WebSocket connections at most (below the HTTP server's maxConnections, which counts the
   * ones this process holds; those held by the fan-out process leave its count once handed over).
   */
  connectionsMax: 5_000,
  /** Open WebSocket connections per client IP. */
  connectionsPerIpMax: 100,
  /** Subscriptions one connection may hold (distinct channel and instrument pairs). */
  subscriptionsPerConnectionMax: 256,
  /** Largest message a client may send; a bigger one closes the connection (1009), as OKX's 64 KiB. */
  messageBytesMax: 64 * 1024,
  /** Messages a client may send per second (pings included); beyond it each gets 60014 and is dropped. */
  messagesPerSecondMax: 50,
  /** A connection with no message either way for this long is closed (4004), as OKX does after 30 s. */
  idleTimeoutMs: 30_000,
  /** How often idle and not-serving connections are looked for. */
  sweepIntervalMs: 1_000,
  /**
   * Unsent bytes one connection may hold in the server (beyond what the kernel took): a send
   * that would pass it closes the connection (4010). A books snapshot is about 25 KiB.
   */
  sendBufferMaxBytes: 4 * 1024 * 1024,
  /** A closing connection that does not finish the close handshake in this time is cut. */
  closeGraceMs: 5_000,
} as const;

export type WsOptions = { readonly [K in keyof typeof WsDefaults]?: number };

/** Who a private connection logged in as (set by the login op). */
export interface WsLogin {
  readonly userId: number;
  readonly apiKey: string;
  readonly perms: readonly Permission[];
}

/** A fan-out process as a channel sees it: one frame for every member of a topic. */
export interface TopicFanout {
  publish(key: string, text: string): void;
}

/** A connection as channels and ops see it. */
export interface WsConnection {
  readonly connId: string;
  readonly path: WsPath;
  readonly ip: string;
  /** Set by a successful login (private URL only). */
  login: WsLogin | undefined;
  readonly closed: boolean;
  /**
   * Queues a text frame: a string, or its UTF-8 bytes when the same message goes to many
   * connections (encoded once, not once per connection). False when the connection is closed,
   * or has just been closed because the frame would take its unsent bytes past sendBufferMaxBytes.
   * (For a connection the fan-out process holds, that process applies the bound and reports the
   * close: send is false only once the connection is known closed.)
   */
  send(text: string | Buffer): boolean;
  /**
   * send() for an op's reply: the replies a connection gets in one turn of the event loop (a
   * group commit resolves many pipelined orders at once) leave in one socket write, not one
   * system call each. The socket is corked at the first and uncorked once that turn's
   * callbacks and promise reactions have run (process.nextTick), so no reply waits for I/O.
   */
  sendReply(text: string): boolean;
  /** Sends `{...event, connId}` (acks and login replies). */
  sendEvent(event: Readonly<Record<string, unknown>>): boolean;
  /** Sends `{"event":"error","code","msg","connId"}`. */
  sendError(error: WsError): boolean;
  close(close: WsClose): void;
  /**
   * The fan-out process that holds this connection's socket, or undefined when this process
   * holds it. A channel that pushes the same frame to a topic's members tells the connection
   * which topics it joins and leaves, and publishes each frame once to every fan-out its members
   * are on (send() would cost one message per member).
   */
  readonly fanout: TopicFanout | undefined;
  /** The connection is a member of the topic `key` (no-op when this process holds it). */
  joinTopic(key: string): void;
  leaveTopic(key: string): void;
}

/** A subscription arg once a channel has checked it. */
export interface ParsedArg {
  /** Identifies the subscription within a connection (a second subscribe to it is only acknowledged). */
  readonly key: string;
  /** The arg echoed in acknowledgements and pushes (`{"channel":..,"instId":..}`). */
  readonly arg: Readonly<Record<string, string>>;
}

/** The channel registry's entry: a channel that connections may subscribe to. */
export interface ChannelDef {
  readonly name: string;
  /** The URLs it is served on. */
  readonly paths: readonly WsPath[];
  readonly needsLogin: boolean;
  /** Checks an arg (already known to name this channel): the subscription's key, or an error to send. */
  parseArg(arg: Readonly<Record<string, unknown>>, conn: WsConnection): ParsedArg | WsError;
  /**
   * Starts the subscription, after its acknowledgement was sent (a channel with a snapshot sends
   * it here); returns the function that ends it (called on unsubscribe and on close).
   */
  subscribe(conn: WsConnection, parsed: ParsedArg): () => void;
}

/** What an op handler may use besides its connection. */
export interface OpContext {
  readonly port: ExchangePort;
  readonly channels: ReadonlyMap<string, ChannelDef>;
  readonly limits: Readonly<Record<keyof typeof WsDefaults, number>>;
  /** Subscriptions a connection holds (key -> end), kept by the server. */
  subscriptions(conn: WsConnection): Map<string, () => void>;
}

/** The op registry's entry: a request `{"op": name, ...}` allowed on some URLs. */
export interface OpDef {
  readonly op: string;
  readonly paths: readonly WsPath[];
  /**
   * Not counted against messagesPerSecondMax: the order ops, which are bounded by the trade rate
   * limits they share with REST (per user and instrument) and by the submitter's in-flight bound,
   * as OKX bounds them, so a market maker may pipeline them on one connection.
   */
  readonly unmetered?: boolean;
  handle(conn: WsConnection, message: Readonly<Record<string, unknown>>, ctx: OpContext): void | Promise<void>;
}

export interface WsServerConfig {
  readonly port: ExchangePort;
  readonly channels: readonly ChannelDef[];
  readonly ops: readonly OpDef[];
  readonly options?: WsOptions;
  readonly registry?: Registry;
  readonly logger?: Logger | false;
  /** Bounds the server counts against (the HTTP server's open connection limit). */
  readonly httpConnectionsMax?: number;
  /**
   * Take the client IP from X-Forwarded-For (its first address), as the REST side does with the
   * gateway's trustProxy: behind a proxy, the per-IP bound and the keys' IP allowlists then see
   * the client, not the proxy.
   */
  readonly trustProxy?: boolean;
  /** Hands the public and business sockets to this fan-out process (none: this process holds them all). */
  readonly fanout?: FanoutProcess;
}

/** What the server has done, for tests and metrics. */
export interface WsStats {
  readonly connections: number;
  readonly subscriptions: number;
  /** Closes the server initiated, by WsCloses name. */
  readonly closes: Readonly<Record<string, number>>;
  /** Upgrades refused, by HTTP status. */
  readonly refused: Readonly<Record<string, number>>;
  /** The most unsent bytes any connection held right after a send. */
  readonly peakBufferedBytes: number;
  /** Open connections whose sockets the fan-out process holds. */
  readonly inFanout: number;
}

export interface WsServer {
  stats(): WsStats;
  /** Closes every connection (1001) and stops accepting; resolves when all are gone (bounded by closeGraceMs). */
  close(): Promise<void>;
}

const closeNames = new Map<number, string>(Object.entries(WsCloses).map(([name, c]) => [c.code, name]));

/** A request's subscribe/unsubscribe args: a non-empty array of objects. */
function argList(message: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>>[] | undefined {
  const args = message['args'];
  if (!Array.isArray(args) || args.length === 0) return undefined;
  for (const a of args as unknown[]) if (typeof a !== 'object' || a === null || Array.isArray(a)) return undefined;
  return args as Readonly<Record<string, unknown>>[];
}

const isError = (x: object): x is WsError => 'code' in x && 'msg' in x;

/** Which error a channel gets on a URL that does not serve it. */
function wrongUrl(def: ChannelDef, path: WsPath): WsError {
  if (def.paths.includes(WsPaths.business) && path !== WsPaths.business) return WsErrors.channelOnBusiness;
  if (path === WsPaths.business) return WsErrors.channelNotOnBusiness;
  return wsError(WsErrors.channelNotFound, def.name, '');
}

/** Resolves a subscribe/unsubscribe arg to its channel and parsed form, or the error to send. */
function resolveArg(arg: Readonly<Record<string, unknown>>, conn: WsConnection, ctx: OpContext): { def: ChannelDef; parsed: ParsedArg } | WsError {
  const name = arg['channel'];
  const instId = typeof arg['instId'] === 'string' ? arg['instId'] : '';
  if (typeof name !== 'string') return wsError(WsErrors.invalidArgs, JSON.stringify(arg));
  const def = ctx.channels.get(name);
  if (def === undefined) return wsError(WsErrors.channelNotFound, name, instId);
  if (!def.paths.includes(conn.path)) return wrongUrl(def, conn.path);
  if (def.needsLogin && conn.login === undefined) return WsErrors.pleaseLogin;
  const parsed = def.parseArg(arg, conn);
  return isError(parsed) ? parsed : { def, parsed };
}

/** A connection's subscriptions: key -> the function that ends it. */
type Subscriptions = Map<string, () => void>;

/**
 * subscribe and unsubscribe share this: the args list checked, then each arg resolved in order
 * (an error event for one that does not resolve) and handed to `each`, until the connection closes.
 */
function forEachArg(
  conn: WsConnection, message: Readonly<Record<string, unknown>>, ctx: OpContext,
  each: (resolved: { def: ChannelDef; parsed: ParsedArg }, subs: Subscriptions) => void,
): void {
  const args = argList(message);
  if (args === undefined) { conn.sendError(wsError(WsErrors.invalidArgs, 'args must be a non-empty array of objects')); return; }
  const subs = ctx.subscriptions(conn);
  for (const arg of args) {
    if (conn.closed) return;
    const resolved = resolveArg(arg, conn, ctx);
    if (isError(resolved)) conn.sendError(resolved);
    else each(resolved, subs);
  }
}

/** subscribe and unsubscribe: on every URL, one acknowledgement or error per arg, in order. */
export const subscriptionOps: readonly OpDef[] = [
  {
    op: 'subscribe', paths: Object.values(WsPaths),
    handle: (conn, message, ctx) => {
      forEachArg(conn, message, ctx, ({ def, parsed }, subs) => {
        if (!subs.has(parsed.key) && subs.size >= ctx.limits.subscriptionsPerConnectionMax) {
          conn.sendError(wsError(WsErrors.subscriptionsLimit, String(ctx.limits.subscriptionsPerConnectionMax)));
          return;
        }
        conn.sendEvent({ event: 'subscribe', arg: parsed.arg });
        if (!subs.has(parsed.key)) subs.set(parsed.key, def.subscribe(conn, parsed));
      });
    },
  },
  {
    op: 'unsubscribe', paths: Object.values(WsPaths),
    handle: (conn, message, ctx) => {
      forEachArg(conn, message, ctx, ({ parsed }, subs) => {
        const end = subs.get(parsed.key);
        subs.delete(parsed.key);
        end?.();
        conn.sendEvent({ event: 'unsubscribe', arg: parsed.arg });
      });
    },
  },
];

/** Answers an upgrade it will not take with a small HTTP reply, and drops the socket. */
function refuse(socket: Duplex, status: number, text: string, code: string): void {
  const body = JSON.stringify({ code, msg: text, data: [] });
  socket.end(`HTTP/1.1 ${String(status)} ${text}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${String(Buffer.byteLength(body))}\r\n\r\n${body}`, () => { socket.destroy(); });
}

/**
 * Who holds a connection's socket: this process (`ws`, and the upgraded socket it runs on,
 * corked by sendReply), or the fan-out process (the server's number for it there).
 */
type Holder =
  | { readonly in: 'node'; readonly ws: WebSocket; readonly socket: Duplex }
  | { readonly in: 'fanout'; readonly fanout: FanoutProcess; readonly id: string };

class Connection implements WsConnection {
  login: WsLogin | undefined = undefined;
  closed = false;
  lastActivityMs: number;
  /** Messages received in the current one-second window, for messagesPerSecondMax. */
  windowStartMs = 0;
  windowMessages = 0;
  readonly subscriptions = new Map<string, () => void>();
  /** Resolves once the socket has closed. */
  readonly gone: Promise<void>;
  markGone!: () => void;
  /** The socket is corked by sendReply until the end of the current turn. */
  private corked = false;

  constructor(
    readonly connId: string,
    readonly path: WsPath,
    readonly ip: string,
    private readonly server: Server,
    readonly holder: Holder,
  ) {
    this.lastActivityMs = Date.now();
    this.gone = new Promise((resolve) => { this.markGone = resolve; });
  }

  get fanout(): TopicFanout | undefined {
    return this.holder.in === 'fanout' ? this.holder.fanout : undefined;
  }

  joinTopic(key: string): void {
    if (this.holder.in === 'fanout' && !this.closed) this.holder.fanout.join(this.holder.id, key);
  }

  leaveTopic(key: string): void {
    if (this.holder.in === 'fanout' && !this.closed) this.holder.fanout.leave(this.holder.id, key);
  }

  send(text: string | Buffer): boolean {
    if (this.closed) return false;
    this.lastActivityMs = Date.now();
    if (this.holder.in === 'fanout') {
      // The fan-out process checks the unsent-bytes bound where the socket is.
      this.holder.fanout.send(this.holder.id, typeof text === 'string' ? text : text.toString('utf8'));
      return true;
    }
    const ws = this.holder.ws;
    const limit = this.server.limits.sendBufferMaxBytes;
    const bytes = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
    if (ws.bufferedAmount + bytes > limit) {
      this.close(WsCloses.slowConsumer);
      return false;
    }
    ws.send(text, { binary: false });
    this.server.notePeak(ws.bufferedAmount);
    return true;
  }

  sendReply(text: string): boolean {
    if (!this.corked && !this.closed && this.holder.in === 'node') {
      const socket = this.holder.socket;
      this.corked = true;
      socket.cork();
      process.nextTick(() => { this.corked = false; socket.uncork(); });
    }
    return this.send(text);
  }

  sendEvent(event: Readonly<Record<string, unknown>>): boolean {
    return this.send(JSON.stringify({ ...event, connId: this.connId }));
  }

  sendError(error: WsError): boolean {
    return this.sendEvent({ event: 'error', code: error.code, msg: error.msg });
  }

  close(close: WsClose): void {
    if (this.closed) return;
    this.closed = true;
    this.server.countClose(close.code);
    // (A member of topics in the fan-out process leaves them there as its close arrives.)
    this.endSubscriptions();
    if (this.holder.in === 'fanout') {
      this.holder.fanout.close(this.holder.id, close.code, close.reason);
      return;
    }
    const ws = this.holder.ws;
    ws.close(close.code, close.reason);
    // A peer that does not answer the close (it is not reading) is cut after the grace period.
    setTimeout(() => { ws.terminate(); }, this.server.limits.closeGraceMs).unref();
  }

  /** Ends every subscription (once: the map is emptied). */
  endSubscriptions(): void {
    const ends = [...this.subscriptions.values()];
    this.subscriptions.clear();
    for (const end of ends) end();
  }
}

class Server implements WsServer {
  readonly limits: Readonly<Record<keyof typeof WsDefaults, number>>;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly perIp = new Map<string, number>();
  private readonly ops: ReadonlyMap<string, OpDef>;
  private readonly ctx: OpContext;
  private readonly closes: Record<string, number> = {};
  private readonly refused: Record<string, number> = {};
  private peak = 0;
  private readonly sweep: NodeJS.Timeout;
  private stopping = false;
  private readonly closeCounter: Counter;
  /** Connections the fan-out process holds, by the server's number for them there. */
  private readonly remote = new Map<string, Connection>();
  /**
   * Sockets handed to the fan-out process whose handshake has not finished: their path, IP, this
   * process's copy of the socket (destroyed once the child answers or is lost: the child's copy,
   * and so the connection, stay open) and when they were handed off.
   */
  private readonly handedOff = new Map<string, { readonly path: WsPath; readonly ip: string; readonly socket: Socket; readonly atMs: number }>();
  private readonly fanoutReplaced: Counter | undefined;
  private nextRemoteId = 0;

  constructor(app: FastifyInstance, private readonly config: WsServerConfig) {
    this.limits = { ...WsDefaults, ...config.options };
    for (const [name, value] of Object.entries(this.limits)) {
      if (!(Number.isSafeInteger(value) && value > 0)) throw new RangeError(`WebSocket limit ${name} must be a positive integer, not ${String(value)}`);
    }
    if (config.httpConnectionsMax !== undefined && this.limits.connectionsMax >= config.httpConnectionsMax) {
      throw new RangeError(`WebSocket connectionsMax (${String(this.limits.connectionsMax)}) must be below the HTTP server's maxConnections (${String(config.httpConnectionsMax)}), which counts them too`);
    }
    if (this.limits.connectionsPerIpMax > this.limits.connectionsMax) throw new RangeError('connectionsPerIpMax must not exceed connectionsMax');
    const channels = new Map<string, ChannelDef>();
    for (const def of config.channels) {
      if (channels.has(def.name)) throw new Error(`channel ${def.name} registered twice`);
      channels.set(def.name, def);
    }
    const ops = new Map<string, OpDef>();
    for (const def of config.ops) {
      if (ops.has(def.op)) throw new Error(`op ${def.op} registered twice`);
      ops.set(def.op, def);
    }
    this.ops = ops;
    this.ctx = {
      port: config.port, channels, limits: this.limits,
      subscriptions: (conn) => {
        if (!(conn instanceof Connection)) throw new TypeError('not a connection of this server');
        return conn.subscriptions;
      },
    };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.messageBytesMax, perMessageDeflate: false, clientTracking: false });
    app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => { this.upgrade(request, socket, head); });
    this.sweep = setInterval(() => { this.sweepConnections(); }, this.limits.sweepIntervalMs);
    this.sweep.unref();
    config.fanout?.attach({
      sendBufferMaxBytes: this.limits.sendBufferMaxBytes, idleTimeoutMs: this.limits.idleTimeoutMs, messageBytesMax: this.limits.messageBytesMax,
      messagesPerSecondMax: this.limits.messagesPerSecondMax + 1, closeGraceMs: this.limits.closeGraceMs, sweepIntervalMs: this.limits.sweepIntervalMs,
    }, this.fanoutHandler(config.fanout));
    const registry = config.registry;
    this.closeCounter = new Counter({
      name: 'everbook_ws_closes_total', help: 'WebSocket connections the server closed, by reason (WsCloses).',
      labelNames: ['reason'], registers: registry === undefined ? [] : [registry],
    });
    if (registry !== undefined) {
      const connections = this.connections;
      new Gauge({ name: 'everbook_ws_connections', help: 'Open WebSocket connections (bounded by connectionsMax).', registers: [registry], collect() { this.set(connections.size); } });
      new Gauge({
        name: 'everbook_ws_subscriptions', help: 'Subscriptions held by open WebSocket connections.', registers: [registry],
        collect() { let n = 0; for (const c of connections) n += c.subscriptions.size; this.set(n); },
      });
      const fanout = config.fanout;
      if (fanout !== undefined) {
        const remote = this.remote;
        new Gauge({ name: 'everbook_ws_fanout_connections', help: 'Open WebSocket connections whose sockets the fan-out process holds.', registers: [registry], collect() { this.set(remote.size); } });
        new Gauge({
          name: 'everbook_ws_fanout_backlog_bytes', help: 'Bytes queued for the fan-out process and not yet written to it (bounded by FanoutDefaults.backlogBytesMax).',
          registers: [registry], collect() { this.set(fanout.backlogBytes); },
        });
        this.fanoutReplaced = new Counter({
          name: 'everbook_ws_fanout_replaced_total', help: 'Times the fan-out process died, fell behind or stopped answering and was replaced (its clients were disconnected).',
          registers: [registry],
        });
      }
    }
  }

  private get log(): Logger | undefined {
    return this.config.logger === false ? undefined : this.config.logger;
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => { socket.destroy(); });
    const path = (request.url ?? '').split('?')[0] ?? '';
    const refuseWith = (status: number, text: string, code: string): void => {
      this.refused[String(status)] = (this.refused[String(status)] ?? 0) + 1;
      refuse(socket, status, text, code);
    };
    if (!wsPaths.has(path)) { refuseWith(404, 'Not Found', '404'); return; }
    if (this.stopping || this.config.port.status().state !== 'serving') { refuseWith(503, 'Service Unavailable', '50001'); return; }
    const xff = this.config.trustProxy === true ? request.headers['x-forwarded-for'] : undefined;
    const forwarded = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    const ip = normalizeIp(forwarded !== undefined && forwarded !== '' ? forwarded : request.socket.remoteAddress ?? '');
    // (Sockets being handed to the fan-out process count: their handshake is under way.)
    if (this.connections.size + this.handedOff.size >= this.limits.connectionsMax) { refuseWith(503, 'Service Unavailable', '50001'); return; }
    if ((this.perIp.get(ip) ?? 0) >= this.limits.connectionsPerIpMax) { refuseWith(429, 'Too Many Requests', '50011'); return; }
    // Counted before the handshake completes, so a burst of upgrades cannot pass the bounds.
    this.perIp.set(ip, (this.perIp.get(ip) ?? 0) + 1);
    const fanout = this.config.fanout;
    // (Only a real socket can be passed to another process: an upgrade always comes on one.)
    if (fanout?.available() === true && path !== WsPaths.private && socket instanceof Socket) {
      // The fan-out process completes the handshake (onOpen) or reports the socket gone (onGone).
      const id = String(this.nextRemoteId++);
      if (fanout.handOff(id, request.method ?? 'GET', request.url ?? path, request.headers, head, socket)) {
        this.handedOff.set(id, { path: path as WsPath, ip, socket, atMs: Date.now() });
      } else {
        this.releaseIp(ip);
      }
      return;
    }
    let accepted = false;
    socket.once('close', () => { if (!accepted) this.releaseIp(ip); });
    this.wss.handleUpgrade(request, socket, head, (ws) => {
      accepted = true;
      this.accept(ws, socket, path as WsPath, ip);
    });
  }

  /** How the server follows the connections the fan-out process holds. */
  private fanoutHandler(fanout: FanoutProcess): FanoutHandler {
    const gone = (id: string): void => {
      const pending = this.handedOff.get(id);
      if (pending !== undefined) {
        this.handedOff.delete(id);
        pending.socket.destroy();
        this.releaseIp(pending.ip);
        return;
      }
      const conn = this.remote.get(id);
      if (conn === undefined) return;
      this.remote.delete(id);
      this.forget(conn);
    };
    return {
      onOpen: (id) => {
        const pending = this.handedOff.get(id);
        if (pending === undefined) return;
        this.handedOff.delete(id);
        pending.socket.destroy();
        const conn = new Connection(randomBytes(4).toString('hex'), pending.path, pending.ip, this, { in: 'fanout', fanout, id });
        this.remote.set(id, conn);
        this.connections.add(conn);
        if (this.stopping) conn.close(WsCloses.shutdown);
      },
      onMessage: (id, text) => {
        const conn = this.remote.get(id);
        if (conn !== undefined) this.onText(conn, text);
      },
      onClosing: (id, code) => {
        const conn = this.remote.get(id);
        if (conn === undefined || conn.closed) return;
        conn.closed = true;
        this.countClose(code);
        conn.endSubscriptions();
      },
      onGone: gone,
      onPeak: (bytes) => { this.notePeak(bytes); },
      onLost: () => {
        if (!this.stopping) this.fanoutReplaced?.inc();
        // Their clients saw the sockets drop (1006): counted as closed by the server.
        if (this.remote.size > 0) this.countCloseName('fanoutLost', this.remote.size);
        for (const id of [...this.handedOff.keys(), ...this.remote.keys()]) gone(id);
      },
    };
  }

  /** A connection's socket has closed: it leaves every count. */
  private forget(conn: Connection): void {
    conn.closed = true;
    conn.endSubscriptions();
    this.connections.delete(conn);
    this.releaseIp(conn.ip);
    conn.markGone();
  }

  private releaseIp(ip: string): void {
    const n = (this.perIp.get(ip) ?? 1) - 1;
    if (n <= 0) this.perIp.delete(ip);
    else this.perIp.set(ip, n);
  }

  private accept(ws: WebSocket, socket: Duplex, path: WsPath, ip: string): void {
    const conn = new Connection(randomBytes(4).toString('hex'), path, ip, this, { in: 'node', ws, socket });
    this.connections.add(conn);
    ws.on('message', (data: RawData, isBinary: boolean) => { if (!conn.closed) this.onText(conn, frameText(data, isBinary)); });
    ws.on('error', (e: Error) => { this.log?.debug({ err: e.message, connId: conn.connId }, 'websocket error'); });
    ws.once('close', () => { this.forget(conn); });
    if (this.stopping) conn.close(WsCloses.shutdown);
  }

  /** Counts a message against messagesPerSecondMax; false (told once per window) when over it. */
  private metered(conn: Connection, now: number): boolean {
    if (now - conn.windowStartMs >= 1_000) {
      conn.windowStartMs = now;
      conn.windowMessages = 0;
    }
    conn.windowMessages += 1;
    if (conn.windowMessages > this.limits.messagesPerSecondMax) {
      // Told once per window; the rest of the window's metered messages are dropped silently.
      if (conn.windowMessages === this.limits.messagesPerSecondMax + 1) conn.sendError(WsErrors.tooFrequent);
      return false;
    }
    return true;
  }

  private onText(conn: Connection, text: string): void {
    if (conn.closed) return;
    const now = Date.now();
    conn.lastActivityMs = now;
    let message: unknown;
    if (text !== 'ping') {
      try {
        message = JSON.parse(text);
      } catch {
        message = undefined;
      }
    }
    const op = typeof message === 'object' && message !== null && !Array.isArray(message) ? (message as Record<string, unknown>)['op'] : undefined;
    const def = typeof op === 'string' ? this.ops.get(op) : undefined;
    // Order ops are bounded by the trade budget they share with REST, which needs a login:
    // before it, they count against the message rate like anything else.
    if (!(def?.unmetered === true && conn.login !== undefined) && !this.metered(conn, now)) return;
    if (text === 'ping') { conn.send('pong'); return; }
    if (typeof op !== 'string') {
      conn.sendError(wsError(WsErrors.illegalRequest, text));
      return;
    }
    const request = message as Readonly<Record<string, unknown>>;
    if (def === undefined || !def.paths.includes(conn.path)) { conn.sendError(wsError(WsErrors.invalidOp, op)); return; }
    try {
      const done = def.handle(conn, request, this.ctx);
      if (done instanceof Promise) done.catch((e: unknown) => { this.opFailed(conn, op, e); });
    } catch (e) {
      this.opFailed(conn, op, e);
    }
  }

  private opFailed(conn: Connection, op: string, e: unknown): void {
    this.log?.error({ err: (e as Error).message, op, connId: conn.connId }, 'websocket op failed');
    conn.sendError(WsErrors.internal);
  }

  /**
   * Idle connections, every connection once the node stops serving, and logged-in connections
   * whose key was revoked or whose address its allowlist no longer admits (their private
   * subscriptions must stop, not only their order ops).
   */
  private sweepConnections(): void {
    const now = Date.now();
    // A fan-out process that has not answered a hand-off in handOffTimeoutMs is stuck.
    const fanout = this.config.fanout;
    if (fanout !== undefined) {
      for (const pending of this.handedOff.values()) {
        if (now - pending.atMs > fanout.handOffTimeoutMs) {
          fanout.replace(`did not answer a hand-off within ${String(fanout.handOffTimeoutMs)} ms`);
          break;
        }
      }
    }
    const port = this.config.port;
    const serving = port.status().state === 'serving';
    for (const conn of [...this.connections]) {
      if (conn.closed) continue;
      if (!serving) conn.close(WsCloses.notServing);
      // The fan-out process sees the pushes it writes, so it closes its idle connections itself.
      else if (conn.holder.in === 'node' && now - conn.lastActivityMs > this.limits.idleTimeoutMs) conn.close(WsCloses.idle);
      else if (conn.login !== undefined) {
        const key = port.keys.get(conn.login.apiKey);
        if (key === undefined || authorize(key, conn.ip, 'read_only') !== undefined) conn.close(WsCloses.keyRevoked);
      }
    }
  }

  countClose(code: number): void {
    this.countCloseName(closeNames.get(code) ?? String(code));
  }

  private countCloseName(name: string, count = 1): void {
    this.closes[name] = (this.closes[name] ?? 0) + count;
    this.closeCounter.inc({ reason: name }, count);
  }

  notePeak(buffered: number): void {
    if (buffered > this.peak) this.peak = buffered;
  }

  stats(): WsStats {
    let subscriptions = 0;
    for (const c of this.connections) subscriptions += c.subscriptions.size;
    return {
      connections: this.connections.size, subscriptions, closes: { ...this.closes }, refused: { ...this.refused }, peakBufferedBytes: this.peak,
      inFanout: this.remote.size,
    };
  }

  async close(): Promise<void> {
    this.stopping = true;
    clearInterval(this.sweep);
    const open = [...this.connections];
    for (const conn of open) conn.close(WsCloses.shutdown);
    // Each is gone within closeGraceMs: a peer that does not answer the close is cut then. The
    // fan-out process cuts its own; one that does not report within a second more (it hangs)
    // has its connections forgotten here, and whoever stops it takes their sockets with it.
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.limits.closeGraceMs + 1_000); });
    await Promise.race([Promise.all(open.map((conn) => conn.gone)), late]);
    clearTimeout(timer);
    for (const [id, conn] of [...this.remote]) {
      this.remote.delete(id);
      this.forget(conn);
    }
    this.wss.close();
    // Its connections are closed or forgotten by now: stop the fan-out process, so that a stuck
    // one does not keep its clients' sockets open after the node has gone.
    await this.config.fanout?.stop();
  }
}

/**
 * Serves the WebSocket endpoints on the gateway's HTTP server, with the given channels and ops.
 * The connections are closed before the HTTP server closes (fastify's preClose).
 */
export function attachWebSockets(app: FastifyInstance, config: WsServerConfig): WsServer {
  const server = new Server(app, config);
  app.addHook('preClose', async () => { await server.close(); });
  return server;
}
