// A stand-in for a cloud's OKX `books` stream, to test the streaming failover client alone: a
// shared Market (one book changed step by step, its seq counting the steps, as the engine's seq
// would) and any number of FakeBooksServers over it, each keeping its own mirror of what it last
// broadcast and its own seqId chain, as every cloud's hub does from its own replica. A server can
// be told to corrupt its next checksum, fall silent (a partition), or be killed (every socket destroyed, nothing closed cleanly).

import { once } from 'node:events';
import { WebSocketServer, type WebSocket } from 'ws';
import { compareDecimal, okxChecksum, type Level } from '../../src/cluster/book-checker.js';

export const FAKE_INST_ID = 'ETH-USDT';

export class Market {
  seq = 0;
  readonly bids = new Map<string, string>();
  readonly asks = new Map<string, string>();

  /** One deterministic change of one level (size "0" removes it). */
  step(): void {
    this.seq += 1;
    const n = this.seq;
    const side = n % 2 === 0 ? this.bids : this.asks;
    const px = n % 2 === 0 ? String(90 + (n * 7) % 10) : `${101 + (n * 3) % 10}.5`;
    const sz = (n * 11) % 6 === 0 ? '0' : `${(n * 11) % 6}.25`;
    if (sz === '0') side.delete(px);
    else side.set(px, sz);
  }
}

const sorted = (m: ReadonlyMap<string, string>, descending: boolean): Level[] =>
  [...m.entries()].map(([px, sz]) => ({ px, sz })).sort((a, b) => compareDecimal(a.px, b.px) * (descending ? -1 : 1));

export class FakeBooksServer {
  private mirror = { bids: new Map<string, string>(), asks: new Map<string, string>() };
  private seqId = 0;
  private corruptNext = false;
  /** A partitioned cloud: sockets stay open, nothing is sent or answered. */
  private frozen = false;
  private readonly subscribers = new Set<WebSocket>();

  private constructor(private readonly market: Market, private readonly wss: WebSocketServer, readonly url: string) {
    this.copy();
    wss.on('connection', (ws) => {
      ws.on('message', (data: Buffer) => {
        const text = data.toString();
        if (this.frozen) return;
        if (text === 'ping') { ws.send('pong'); return; }
        const msg = JSON.parse(text) as { op: string; args: { channel: string; instId: string }[] };
        if (msg.op !== 'subscribe') return;
        for (const arg of msg.args) {
          ws.send(JSON.stringify({ event: 'subscribe', arg, connId: 'fake' }));
          if (arg.channel === 'books' && arg.instId === FAKE_INST_ID) {
            this.subscribers.add(ws);
            ws.send(this.message('snapshot', sorted(this.mirror.bids, true), sorted(this.mirror.asks, false), -1));
          }
        }
      });
      ws.on('close', () => { this.subscribers.delete(ws); });
    });
  }

  static async start(market: Market): Promise<FakeBooksServer> {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    const address = wss.address();
    if (typeof address !== 'object' || address === null) throw new Error('no address');
    return new FakeBooksServer(market, wss, `ws://127.0.0.1:${address.port}/ws/v5/public`);
  }

  private copy(): void {
    this.mirror = { bids: new Map(this.market.bids), asks: new Map(this.market.asks) };
    this.seqId = this.market.seq;
  }

  private message(action: 'snapshot' | 'update', bids: Level[], asks: Level[], prevSeqId: number): string {
    let checksum = okxChecksum(sorted(this.mirror.bids, true), sorted(this.mirror.asks, false));
    if (this.corruptNext && action === 'update') { checksum += 1; this.corruptNext = false; }
    const rows = (levels: Level[]): string[][] => levels.map((l) => [l.px, l.sz, '0', '1']);
    return JSON.stringify({
      arg: { channel: 'books', instId: FAKE_INST_ID }, action,
      data: [{ bids: rows(bids), asks: rows(asks), ts: String(Date.now()), checksum, seqId: this.seqId, prevSeqId }],
    });
  }

  /** Diffs the market against the mirror and sends the update to every subscriber. */
  broadcast(): void {
    const diff = (now: ReadonlyMap<string, string>, before: ReadonlyMap<string, string>): Level[] => [
      ...[...now.entries()].filter(([px, sz]) => before.get(px) !== sz).map(([px, sz]) => ({ px, sz })),
      ...[...before.keys()].filter((px) => !now.has(px)).map((px) => ({ px, sz: '0' })),
    ];
    const bids = diff(this.market.bids, this.mirror.bids);
    const asks = diff(this.market.asks, this.mirror.asks);
    const prevSeqId = this.seqId;
    this.copy();
    const text = this.message('update', bids, asks, prevSeqId);
    if (this.frozen) return;
    for (const ws of this.subscribers) ws.send(text);
  }

  corruptNextChecksum(): void { this.corruptNext = true; }

  /** From now on silent, as a cloud behind a network partition (its sockets do not close). */
  freeze(): void { this.frozen = true; }

  /** Destroys every socket and stops listening, as a killed process would. */
  async kill(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => { this.wss.close(() => { resolve(); }); });
  }
}
