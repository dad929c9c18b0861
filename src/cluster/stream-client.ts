// A streaming failover client: it knows every cloud's OKX public WebSocket URL (its own cloud's
// first), subscribes to `books` (and `trades`) there, and checks every push with its own
// BookChecker. When the connection closes, errs, or goes silent (it sends the text `ping` when
// quiet and expects data or `pong` back within a bound), it connects to the next cloud and
// resynchronises from that cloud's fresh snapshot. Every book it holds is recorded in a shared
// SeqIdLedger by seqId, so books seen on different clouds at one seqId are compared; trades go to
// a TradeLedger the same way. A check failure also resynchronises, at the same cloud.

import WebSocket from 'ws';
import { BookChecker, SeqIdLedger, TradeLedger, type BooksData, type Failure, type FailureKind, type Level } from './book-checker.js';

/** The OKX public stream path on a gateway. */
export const PUBLIC_WS_PATH = '/ws/v5/public';
/** How many connections' summaries a client keeps (the totals count them all). */
const CONNECTIONS_KEPT_MAX = 100;

/** ws://host:port/ws/v5/public for a gateway's http(s)://host:port base URL. */
export function publicWsUrl(apiUrl: string): string {
  return apiUrl.replace(/^http/, 'ws').replace(/\/+$/, '') + PUBLIC_WS_PATH;
}

export interface StreamClientOptions {
  /** Names the client in reports and ledger entries. */
  readonly name: string;
  /** Public WebSocket URLs, preferred first. */
  readonly urls: readonly string[];
  readonly instIds: readonly string[];
  /** Also subscribe to `trades` (checked against the trade ledger, tradeIds rising per connection). */
  readonly trades: boolean;
  /** Send `ping` after this long without a message. */
  readonly pingMs: number;
  /** No message at all (`pong` included) for this long: the connection is dead, move on. */
  readonly silenceMs: number;
  readonly connectTimeoutMs: number;
  /** Connections after the first, at most: then the client stops and says so. */
  readonly reconnectsMax: number;
  readonly ledger?: SeqIdLedger;
  readonly tradeLedger?: TradeLedger;
  /** Local address to connect from (the benchmark spreads clients over 127.0.0.x). */
  readonly localAddress?: string;
  readonly log?: (line: string) => void;
}

export interface ConnectionSummary {
  readonly url: string;
  readonly openedAt: number;
  closedAt: number;
  snapshots: number;
  updates: number;
  closeReason: string;
}

export interface StreamStats {
  readonly name: string;
  /** The URL of the open connection, or '' between connections. */
  readonly url: string;
  readonly connections: number;
  /** Connections opened after the first (failovers and resyncs). */
  readonly reconnects: number;
  /** Reconnects at the same cloud after a check failure. */
  readonly resyncs: number;
  readonly snapshots: number;
  /** Updates applied with the chain and the recomputed checksum holding. */
  readonly updatesVerified: number;
  readonly checksumsVerified: number;
  readonly failureCounts: Record<FailureKind, number>;
  readonly failures: readonly Failure[];
  readonly trades: number;
  /** Trades whose tradeId did not rise within one connection and instrument. */
  readonly tradeOrderViolations: number;
  /** OKX error events the server sent. */
  readonly errorEvents: readonly string[];
  /** Set when the client gave up (reconnect budget spent). */
  readonly stopped: string;
}

const emptyCounts = (): Record<FailureKind, number> => ({
  chain: 0, seq_regress: 0, checksum: 0, update_before_snapshot: 0, unknown_level_deleted: 0, malformed: 0,
});

interface Push {
  event?: string;
  code?: string;
  msg?: string;
  action?: string;
  arg?: { channel?: string; instId?: string };
  data?: unknown[];
}

export class StreamClient {
  private ws: WebSocket | undefined;
  private index = 0;
  private closing = false;
  private timer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private lastMessageAt = 0;
  private pingSentAt = 0;
  private consecutiveFailures = 0;
  private resyncPending = false;
  private books = new Map<string, BookChecker>();
  private lastTradeId = new Map<string, number>();
  private readonly retired = { snapshots: 0, updates: 0, checksums: 0, counts: emptyCounts(), failures: [] as Failure[] };
  private connectionsOpened = 0;
  private resyncs = 0;
  private tradesSeen = 0;
  private tradeOrderViolations = 0;
  private readonly errorEvents: string[] = [];
  private stoppedReason = '';
  readonly connections: ConnectionSummary[] = [];
  private current: ConnectionSummary | undefined;

  constructor(readonly options: StreamClientOptions) {
    if (options.urls.length === 0) throw new Error('a stream client needs at least one URL');
    if (options.instIds.length === 0) throw new Error('a stream client needs at least one instrument');
  }

  start(): void {
    this.connect();
  }

  /** Stops for good: closes the connection and cancels any reconnect. */
  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.timer);
    const ws = this.ws;
    if (ws === undefined || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => { ws.terminate(); resolve(); }, 2_000);
      ws.once('close', () => { clearTimeout(force); resolve(); });
      ws.close(1000, 'client done');
    });
  }

  /** This connection's book of instId, if it is synchronised. */
  book(instId: string): { readonly seqId: number; readonly bids: readonly Level[]; readonly asks: readonly Level[]; readonly url: string } | undefined {
    const checker = this.books.get(instId);
    if (checker === undefined || !checker.isSynced || this.current === undefined) return undefined;
    return { ...checker.book(), url: this.current.url };
  }

  get url(): string {
    return this.ws?.readyState === WebSocket.OPEN ? this.options.urls[this.index]! : '';
  }

  stats(): StreamStats {
    const live = [...this.books.values()];
    const counts = { ...this.retired.counts };
    for (const b of live) for (const k of Object.keys(counts) as FailureKind[]) counts[k] += b.failureCounts[k];
    return {
      name: this.options.name, url: this.url, connections: this.connectionsOpened, reconnects: Math.max(0, this.connectionsOpened - 1),
      resyncs: this.resyncs,
      snapshots: this.retired.snapshots + live.reduce((a, b) => a + b.snapshots, 0),
      updatesVerified: this.retired.updates + live.reduce((a, b) => a + b.updates, 0),
      checksumsVerified: this.retired.checksums + live.reduce((a, b) => a + b.checksumsVerified, 0),
      failureCounts: counts,
      failures: [...this.retired.failures, ...live.flatMap((b) => b.failures)].slice(0, 50),
      trades: this.tradesSeen, tradeOrderViolations: this.tradeOrderViolations, errorEvents: this.errorEvents.slice(),
      stopped: this.stoppedReason,
    };
  }

  private say(line: string): void {
    this.options.log?.(`${this.options.name}: ${line}`);
  }

  private connect(): void {
    if (this.closing) return;
    const url = this.options.urls[this.index]!;
    const ws = new WebSocket(url, {
      handshakeTimeout: this.options.connectTimeoutMs, perMessageDeflate: false,
      ...(this.options.localAddress !== undefined && { localAddress: this.options.localAddress }),
    });
    this.ws = ws;
    this.books = new Map(this.options.instIds.map((i) => [i, new BookChecker(i)]));
    this.lastTradeId = new Map();
    let opened = false;
    ws.on('open', () => {
      opened = true;
      this.connectionsOpened += 1;
      this.current = { url, openedAt: Date.now(), closedAt: 0, snapshots: 0, updates: 0, closeReason: '' };
      if (this.connections.length < CONNECTIONS_KEPT_MAX) this.connections.push(this.current);
      this.lastMessageAt = Date.now();
      const args = this.options.instIds.flatMap((instId) => [
        { channel: 'books', instId }, ...(this.options.trades ? [{ channel: 'trades', instId }] : []),
      ]);
      ws.send(JSON.stringify({ op: 'subscribe', args }));
      this.timer = setInterval(() => { this.keepAlive(ws); }, Math.max(50, Math.min(this.options.pingMs, this.options.silenceMs) / 2));
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.lastMessageAt = Date.now();
      if (isBinary) return;
      this.onMessage(ws, data.toString('utf8'));
    });
    ws.on('error', (e) => {
      this.say(`${url}: ${e.message}`);
    });
    ws.on('close', (code, reason) => {
      clearInterval(this.timer);
      if (this.current !== undefined && opened) {
        this.current.closedAt = Date.now();
        this.current.closeReason = `${code} ${reason.toString()}`;
      }
      this.retire();
      if (this.ws !== ws || this.closing) return;
      this.ws = undefined;
      this.current = undefined;
      if (this.resyncPending) {
        // A check failed: a fresh snapshot from the same cloud.
        this.resyncPending = false;
        this.resyncs += 1;
        this.consecutiveFailures = 0;
      } else {
        this.consecutiveFailures = opened ? 0 : this.consecutiveFailures + 1;
        this.index = (this.index + 1) % this.options.urls.length;
        this.say(`${url} closed (${code}${opened ? '' : ', never opened'}); next ${this.options.urls[this.index]!}`);
      }
      if (this.connectionsOpened > this.options.reconnectsMax || this.consecutiveFailures > this.options.reconnectsMax) {
        this.stoppedReason = `gave up after ${this.connectionsOpened} connections and ${this.consecutiveFailures} failed attempts in a row`;
        this.say(this.stoppedReason);
        return;
      }
      // A short pause once every cloud refused in turn; immediate otherwise.
      const pauseMs = this.consecutiveFailures >= this.options.urls.length ? Math.min(1_000, 50 * this.consecutiveFailures) : 0;
      this.reconnectTimer = setTimeout(() => { this.connect(); }, pauseMs);
    });
  }

  private keepAlive(ws: WebSocket): void {
    const now = Date.now();
    if (now - this.lastMessageAt > this.options.silenceMs) {
      this.say(`${this.options.urls[this.index]!} silent for ${now - this.lastMessageAt} ms: dropping it`);
      ws.terminate();
      return;
    }
    if (now - this.lastMessageAt > this.options.pingMs && now - this.pingSentAt > this.options.pingMs && ws.readyState === WebSocket.OPEN) {
      this.pingSentAt = now;
      ws.send('ping');
    }
  }

  /** Adds the closing connection's counts to the totals. */
  private retire(): void {
    for (const b of this.books.values()) {
      this.retired.snapshots += b.snapshots;
      this.retired.updates += b.updates;
      this.retired.checksums += b.checksumsVerified;
      for (const k of Object.keys(this.retired.counts) as FailureKind[]) this.retired.counts[k] += b.failureCounts[k];
      for (const f of b.failures) if (this.retired.failures.length < 50) this.retired.failures.push(f);
    }
    this.books = new Map();
  }

  private onMessage(ws: WebSocket, text: string): void {
    if (text === 'pong') return;
    let push: Push;
    try {
      push = JSON.parse(text) as Push;
    } catch {
      this.errorEvents.push(`not JSON: ${text.slice(0, 80)}`);
      return;
    }
    if (push.event !== undefined) {
      if (push.event === 'error' && this.errorEvents.length < 50) this.errorEvents.push(`${push.code ?? ''} ${push.msg ?? ''}`);
      return;
    }
    const channel = push.arg?.channel;
    const instId = push.arg?.instId ?? '';
    if (channel === 'books') {
      const checker = this.books.get(instId);
      const data = push.data?.[0] as BooksData | undefined;
      if (checker === undefined || data === undefined) return;
      const verdict = checker.apply(push.action ?? '', data);
      if (verdict.ok) {
        if (this.current !== undefined) {
          if (verdict.action === 'snapshot') this.current.snapshots += 1;
          else this.current.updates += 1;
        }
        const url = this.options.urls[this.index]!;
        this.options.ledger?.record(instId, checker.seqId, checker.digest(), `${this.options.name}@${url}`, url);
      } else if (!this.resyncPending) {
        this.say(`${verdict.failure.kind} on ${instId} at seqId ${verdict.failure.seqId}: ${verdict.failure.detail}; resynchronising`);
        this.resyncPending = true;
        ws.close(1000, 'resync');
      }
    } else if (channel === 'trades') {
      for (const row of push.data ?? []) {
        const trade = row as { instId?: string; tradeId?: string; px?: string; sz?: string; side?: string };
        this.tradesSeen += 1;
        const id = Number(trade.tradeId);
        const last = this.lastTradeId.get(instId);
        if (last !== undefined && !(id > last)) this.tradeOrderViolations += 1;
        this.lastTradeId.set(instId, id);
        this.options.tradeLedger?.record(trade, `${this.options.name}@${this.options.urls[this.index]!}`);
      }
    }
  }
}
