// The public WebSocket channels, as OKX serves them: `books` (a snapshot, then incremental
// updates chained by seqId/prevSeqId, size "0" deleting a level, with OKX's CRC32 checksum over
// the top 25 levels), `books5` and `bbo-tbt` (the top 5 and the top level, whole each time),
// `trades` and `tickers` on /ws/v5/public, and the candle channels (`candle1m` ... `candle1D`)
// on /ws/v5/business. One consumer of the stream hub feeds them all: each push is formatted
// once per instrument and channel (with REST's formatting, market.ts) and the same bytes are sent
// to every subscriber, so the cost of a push grows with the changes, not with the audience: the
// subscribers whose sockets a fan-out process holds (ws-fanout.ts) get it in one message to that
// process, which writes it to each of them.
// Pushes follow OKX's cadences, not the command rate: `books` at most every 100 ms (the hub's
// books pass), `books5` and `tickers` at most every 100 ms, `bbo-tbt` every 10 ms, each when
// changed; `trades` as they happen, gathered per drain (PushIntervalsMs, docs/API.md). A drain
// marks the topics its instruments touched; a topic pushes once its interval has passed since
// its last push, reading the state then, and a timer pushes the ones still waiting when theirs has.

import { crc32 } from 'node:zlib';
import { CandleBarsMs, type CandleBar } from '../projections/index.js';
import type { ExchangePort } from '../replica/index.js';
import type { BookLevel, BookMirror, BookUpdate, Drain, HubConsumer, StreamHub } from '../streams/index.js';
import type { Instrument } from './convert.js';
import { WsCloses, WsErrors, wsError, type WsError } from './errors.js';
import { bookLevelRow, candleRow, tickerRow, tradeRow } from './market.js';
import { WsPaths, type ChannelDef, type ParsedArg, type TopicFanout, type WsConnection } from './ws-server.js';

/** Levels per side the books checksum covers (OKX). */
export const CHECKSUM_LEVELS = 25;
/** Levels per side of `books5` and of `bbo-tbt`. */
const BOOKS5_LEVELS = 5;
const BBO_LEVELS = 1;
/** Candles a candle channel re-reads per drain: the current bar, and the one it may just have closed. */
const CANDLES_PER_PUSH = 2;

/**
 * Least ms between two pushes of one topic (channel and instrument), as OKX pushes them: `books5`
 * and `tickers` at most every 100 ms and `bbo-tbt` every 10 ms when changed; `trades` as they
 * happen (0: every drain, one push carrying the trades applied since the last). `books` follows
 * the hub's books pass (StreamLimits.booksIntervalMs, `--ws-books-interval-ms`).
 */
export const PushIntervalsMs = {
  books5: 100,
  'bbo-tbt': 10,
  tickers: 100,
  trades: 10,
} as const;
export type PushIntervals = { readonly [K in keyof typeof PushIntervalsMs]?: number };
type Paced = keyof typeof PushIntervalsMs;
/** Trade rows one topic may hold between its pushes; past it its subscribers resynchronise (4011 overflow). */
const PENDING_TRADES_MAX = 100_000;

/**
 * OKX's book checksum: the top 25 bids and asks interleaved (bid1 px, bid1 sz, ask1 px, ask1 sz,
 * ...; a side with fewer levels is skipped where it ends), joined with ':', CRC-32 as a signed
 * 32-bit integer. Over the exact strings sent.
 */
export function bookChecksum(bids: readonly (readonly string[])[], asks: readonly (readonly string[])[]): number {
  const parts: string[] = [];
  for (let i = 0; i < CHECKSUM_LEVELS; i++) {
    const bid = bids[i];
    const ask = asks[i];
    if (bid !== undefined) parts.push(bid[0]!, bid[1]!);
    if (ask !== undefined) parts.push(ask[0]!, ask[1]!);
  }
  return crc32(parts.join(':')) | 0;
}

/** A topic's subscribers: all of them, and how many each fan-out process holds (it writes to those). */
class Topic {
  readonly members = new Set<WsConnection>();
  readonly fanouts = new Map<TopicFanout, number>();
  /** Members whose socket this process holds. */
  readonly local = new Set<WsConnection>();

  add(conn: WsConnection): void {
    this.members.add(conn);
    const fanout = conn.fanout;
    if (fanout === undefined) this.local.add(conn);
    else this.fanouts.set(fanout, (this.fanouts.get(fanout) ?? 0) + 1);
  }

  delete(conn: WsConnection): void {
    if (!this.members.delete(conn)) return;
    const fanout = conn.fanout;
    if (fanout === undefined) {
      this.local.delete(conn);
      return;
    }
    const n = (this.fanouts.get(fanout) ?? 1) - 1;
    if (n === 0) this.fanouts.delete(fanout);
    else this.fanouts.set(fanout, n);
  }

  get size(): number {
    return this.members.size;
  }
}

/** The `{"channel","instId"}` arg of an instrument channel, checked against the instruments. */
function instrumentArg(port: ExchangePort, channel: string, arg: Readonly<Record<string, unknown>>): ParsedArg | WsError {
  const instId = arg['instId'];
  if (typeof instId !== 'string' || instId === '') return wsError(WsErrors.invalidArgs, `${channel} needs an instId`);
  if (port.queries.instrument(instId) === undefined) return wsError(WsErrors.channelNotFound, channel, instId);
  return { key: `${channel}:${instId}`, arg: { channel, instId } };
}

class PublicStreams implements HubConsumer {
  /** Subscribers by `${channel}:${instId}`. */
  private readonly topics = new Map<string, Topic>();
  /** The books snapshot text of each mirror, made once for all the subscribers that join at its seqId. */
  private readonly snapshots = new Map<string, { seqId: number; text: string }>();
  /** What was last pushed on channels that push only on change: key without the time. */
  private readonly lastPushed = new Map<string, string>();
  /** Candle rows last pushed per candle topic, by bar start. */
  private readonly lastCandles = new Map<string, Map<number, string>>();
  /** Paced topics with something to push (a touched instrument, or trades waiting). */
  private readonly dirty = new Set<string>();
  /** When each paced topic last pushed (monotonic ms). */
  private readonly lastPushMs = new Map<string, number>();
  /** Trade rows waiting for their topic's next push, by topic. */
  private readonly pendingTrades = new Map<string, Record<string, string>[]>();
  /** Subscribed topics that read the drain's events (trades and candles). */
  private eventTopics = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAtMs = Infinity;
  private readonly intervals: Readonly<Record<Paced, number>>;

  constructor(private readonly port: ExchangePort, private readonly hub: StreamHub, intervals: PushIntervals, private readonly clockMs: () => number) {
    this.intervals = { ...PushIntervalsMs, ...intervals };
    for (const [channel, ms] of Object.entries(this.intervals)) {
      if (!(Number.isSafeInteger(ms) && ms >= 0)) throw new RangeError(`the ${channel} push interval must be a whole number of ms, 0 or more`);
    }
  }

  private inst(instId: string): Instrument {
    const inst = this.port.queries.instrument(instId);
    if (inst === undefined) throw new Error(`instrument ${instId} vanished`);
    return inst;
  }

  private join(key: string, conn: WsConnection): () => void {
    let topic = this.topics.get(key);
    if (topic === undefined) {
      topic = new Topic();
      this.topics.set(key, topic);
    }
    topic.add(conn);
    conn.joinTopic(key);
    const readsEvents = key.startsWith('trades:') || key.startsWith('candle');
    if (topic.size === 1 && readsEvents) this.eventTopics += 1;
    return () => {
      conn.leaveTopic(key);
      const t = this.topics.get(key);
      if (t === undefined) return;
      t.delete(conn);
      if (t.size === 0) {
        this.topics.delete(key);
        this.lastPushed.delete(key);
        this.lastCandles.delete(key);
        this.dirty.delete(key);
        this.lastPushMs.delete(key);
        this.pendingTrades.delete(key);
        if (readsEvents) this.eventTopics -= 1;
        if (key.startsWith('books:')) this.snapshots.delete(key.slice('books:'.length));
      }
    };
  }

  private broadcast(key: string, text: string): void {
    const topic = this.topics.get(key);
    if (topic === undefined) return;
    for (const fanout of topic.fanouts.keys()) fanout.publish(key, text);
    if (topic.local.size === 0) return;
    // Encoded once for every subscriber. A send can close a slow connection, which leaves the
    // set: walk a copy.
    const frame = topic.local.size > 1 ? Buffer.from(text) : text;
    for (const conn of [...topic.local]) conn.send(frame);
  }

  private rows(inst: Instrument, levels: readonly BookLevel[], depth: number): string[][] {
    const out: string[][] = [];
    for (let i = 0; i < levels.length && i < depth; i++) out.push(bookLevelRow(inst, levels[i]!));
    return out;
  }

  private checksum(inst: Instrument, mirror: BookMirror): number {
    return bookChecksum(this.rows(inst, mirror.bids, CHECKSUM_LEVELS), this.rows(inst, mirror.asks, CHECKSUM_LEVELS));
  }

  private booksSnapshot(mirror: BookMirror): string {
    const cached = this.snapshots.get(mirror.instId);
    if (cached?.seqId === mirror.seqId) return cached.text;
    const inst = this.inst(mirror.instId);
    const asks = this.rows(inst, mirror.asks, mirror.asks.length);
    const bids = this.rows(inst, mirror.bids, mirror.bids.length);
    const text = JSON.stringify({
      arg: { channel: 'books', instId: mirror.instId }, action: 'snapshot',
      data: [{ asks, bids, ts: String(mirror.ts), checksum: bookChecksum(bids, asks), prevSeqId: -1, seqId: mirror.seqId }],
    });
    this.snapshots.set(mirror.instId, { seqId: mirror.seqId, text });
    return text;
  }

  private booksUpdate(update: BookUpdate): string {
    const inst = this.inst(update.instId);
    return JSON.stringify({
      arg: { channel: 'books', instId: update.instId }, action: 'update',
      data: [{
        asks: update.asks.map((l) => bookLevelRow(inst, l)), bids: update.bids.map((l) => bookLevelRow(inst, l)),
        ts: String(update.mirror.ts), checksum: this.checksum(inst, update.mirror), prevSeqId: update.prevSeqId, seqId: update.seqId,
      }],
    });
  }

  /**
   * books5 / bbo-tbt: the top levels whole, read now (seqId: the engine's sequence number now),
   * pushed when they differ from the last push; `force` sends them to a new subscriber only.
   */
  private pushTop(channel: 'books5' | 'bbo-tbt', instId: string, force: WsConnection | undefined): void {
    const key = `${channel}:${instId}`;
    if (!this.topics.has(key)) return;
    const inst = this.inst(instId);
    const depth = channel === 'books5' ? BOOKS5_LEVELS : BBO_LEVELS;
    const seqId = this.hub.seq();
    const book = this.port.queries.book(instId, depth);
    if (book === undefined) return;
    const asks = this.rows(inst, book.asks, depth);
    const bids = this.rows(inst, book.bids, depth);
    const same = JSON.stringify([asks, bids]);
    const text = JSON.stringify({
      arg: { channel, instId },
      data: [{ asks, bids, instId, ts: String(this.port.now()), seqId }],
    });
    if (force !== undefined) {
      this.sentToNewcomer(key, same);
      force.send(text);
      return;
    }
    if (this.lastPushed.get(key) === same) return;
    this.lastPushed.set(key, same);
    this.broadcast(key, text);
  }

  /**
   * A new subscriber was sent the live state `same`. The topic's first: that is what the next push
   * compares with. A later one, while a push is held back by the cadence, may have been sent a
   * state the others were not; the comparison is then dropped, so the next due push goes to every
   * subscriber even if the book has returned to what the others last saw (otherwise the newcomer
   * would keep a state that is no longer the book's).
   */
  private sentToNewcomer(key: string, same: string): void {
    const last = this.lastPushed.get(key);
    if (last === undefined) {
      if (this.topics.get(key)?.size === 1) this.lastPushed.set(key, same);
    } else if (last !== same) {
      this.lastPushed.delete(key);
    }
  }

  private tickerText(instId: string, nowMs: number): { text: string; same: string } {
    const queries = this.port.queries;
    const row = tickerRow(queries, this.inst(instId), queries.ticker(instId), nowMs);
    // Pushed on change: what changed is everything but the time of the reading.
    const same = JSON.stringify({ ...row, ts: '' });
    return { text: JSON.stringify({ arg: { channel: 'tickers', instId }, data: [row] }), same };
  }

  private pushTicker(instId: string, nowMs: number): void {
    const key = `tickers:${instId}`;
    if (!this.topics.has(key)) return;
    const { text, same } = this.tickerText(instId, nowMs);
    if (this.lastPushed.get(key) === same) return;
    this.lastPushed.set(key, same);
    this.broadcast(key, text);
  }

  /** The current candle, and the one before it if it was pushed open and is now closed. */
  private pushCandles(bar: CandleBar, instId: string, force: WsConnection | undefined): void {
    const channel = `candle${bar}`;
    const key = `${channel}:${instId}`;
    if (!this.topics.has(key)) return;
    const queries = this.port.queries;
    const inst = this.inst(instId);
    const candles = queries.candles(instId, CandleBarsMs[bar], { limit: CANDLES_PER_PUSH }).reverse();
    if (force !== undefined) {
      if (!this.lastCandles.has(key)) this.lastCandles.set(key, new Map(candles.map((c) => [c.startTs, JSON.stringify(candleRow(queries, inst, c))])));
      const newest = candles[candles.length - 1];
      if (newest !== undefined) force.send(JSON.stringify({ arg: { channel, instId }, data: [candleRow(queries, inst, newest)] }));
      return;
    }
    let pushed = this.lastCandles.get(key);
    if (pushed === undefined) {
      pushed = new Map();
      this.lastCandles.set(key, pushed);
    }
    const kept = new Map<number, string>();
    for (const c of candles) {
      const row = candleRow(queries, inst, c);
      const text = JSON.stringify(row);
      kept.set(c.startTs, text);
      if (pushed.get(c.startTs) === text) continue;
      this.broadcast(key, JSON.stringify({ arg: { channel, instId }, data: [row] }));
    }
    this.lastCandles.set(key, kept);
  }

  active(): boolean {
    return this.topics.size > 0;
  }

  wantsEvents(): boolean {
    return this.eventTopics > 0;
  }

  onDrain(drain: Drain): void {
    for (const update of drain.books) {
      const key = `books:${update.instId}`;
      if (this.topics.has(key)) this.broadcast(key, this.booksUpdate(update));
    }
    if (drain.overflowed) {
      // Trades were dropped: a trades subscriber would silently miss some. It must resubscribe.
      for (const [key, topic] of this.topics) {
        if (key.startsWith('trades:')) for (const conn of [...topic.members]) conn.close(WsCloses.overflow);
      }
    }
    const traded = new Set<string>();
    for (const e of drain.events) {
      if (e.type !== 'TradeExecuted') continue;
      traded.add(e.instId);
      const key = `trades:${e.instId}`;
      if (!this.topics.has(key)) continue;
      let list = this.pendingTrades.get(key);
      if (list === undefined) {
        list = [];
        this.pendingTrades.set(key, list);
      }
      if (list.length >= PENDING_TRADES_MAX) {
        // The timer that pushes them has been starved this long: resynchronise, never hold more.
        for (const conn of [...this.topics.get(key)!.members]) conn.close(WsCloses.overflow);
        continue;
      }
      list.push(tradeRow(this.inst(e.instId), e));
      this.dirty.add(key);
    }
    // Books5, bbo-tbt and tickers are read when pushed, so a lost event costs nothing: every
    // instrument an event named (or, after an amend or an overflow, every one) is looked at again.
    const everything = drain.allTouched || drain.overflowed;
    for (const key of this.topics.keys()) {
      const colon = key.indexOf(':');
      const channel = key.slice(0, colon);
      const instId = key.slice(colon + 1);
      if (channel === 'books5' || channel === 'bbo-tbt' || channel === 'tickers') {
        if (everything || drain.touched.has(instId)) this.dirty.add(key);
      } else if (channel.startsWith('candle') && (drain.overflowed || traded.has(instId))) {
        this.pushCandles(channel.slice('candle'.length) as CandleBar, instId, undefined);
      }
    }
    this.flush();
  }

  /** Pushes the dirty topics whose interval has passed; a timer comes back for the others. */
  private flush(): void {
    if (this.dirty.size === 0) return;
    const now = this.clockMs();
    let nextMs = Infinity;
    for (const key of [...this.dirty]) {
      const channel = key.slice(0, key.indexOf(':')) as Paced;
      const dueMs = (this.lastPushMs.get(key) ?? -Infinity) + this.intervals[channel];
      if (dueMs > now) {
        nextMs = Math.min(nextMs, dueMs);
        continue;
      }
      this.dirty.delete(key);
      this.lastPushMs.set(key, now);
      this.push(channel, key);
    }
    if (nextMs < this.timerAtMs) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timerAtMs = nextMs;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.timerAtMs = Infinity;
        this.flush();
      }, Math.max(1, Math.ceil(nextMs - now)));
      this.timer.unref();
    }
  }

  private push(channel: Paced, key: string): void {
    const instId = key.slice(channel.length + 1);
    if (channel === 'trades') {
      const rows = this.pendingTrades.get(key);
      this.pendingTrades.delete(key);
      if (rows !== undefined && rows.length > 0) this.broadcast(key, JSON.stringify({ arg: { channel: 'trades', instId }, data: rows }));
    } else if (channel === 'tickers') {
      this.pushTicker(instId, this.port.now());
    } else {
      this.pushTop(channel, instId, undefined);
    }
  }

  /** Stops the push timer (the consumer is removed from the hub). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAtMs = Infinity;
  }

  /** The channel registry entries. */
  channels(): ChannelDef[] {
    const port = this.port;
    const hub = this.hub;
    const onPublic = [WsPaths.public];
    const bookChannel = (name: 'books' | 'books5' | 'bbo-tbt'): ChannelDef => ({
      name, paths: onPublic, needsLogin: false,
      parseArg: (arg) => instrumentArg(port, name, arg),
      subscribe: (conn, parsed) => {
        const instId = parsed.arg['instId']!;
        const mirror = hub.watchBook(instId);
        if (mirror === undefined) return () => undefined;
        const leave = this.join(parsed.key, conn);
        if (name === 'books') conn.send(this.booksSnapshot(mirror));
        else this.pushTop(name, instId, conn);
        return () => { leave(); hub.unwatchBook(instId); };
      },
    });
    const trades: ChannelDef = {
      name: 'trades', paths: onPublic, needsLogin: false,
      parseArg: (arg) => instrumentArg(port, 'trades', arg),
      subscribe: (conn, parsed) => this.join(parsed.key, conn),
    };
    const tickers: ChannelDef = {
      name: 'tickers', paths: onPublic, needsLogin: false,
      parseArg: (arg) => instrumentArg(port, 'tickers', arg),
      subscribe: (conn, parsed) => {
        const leave = this.join(parsed.key, conn);
        const { text, same } = this.tickerText(parsed.arg['instId']!, Date.now());
        this.sentToNewcomer(parsed.key, same);
        conn.send(text);
        return leave;
      },
    };
    const candles = (Object.keys(CandleBarsMs) as CandleBar[]).map((bar): ChannelDef => ({
      name: `candle${bar}`, paths: [WsPaths.business], needsLogin: false,
      parseArg: (arg) => instrumentArg(port, `candle${bar}`, arg),
      subscribe: (conn, parsed) => {
        const leave = this.join(parsed.key, conn);
        this.pushCandles(bar, parsed.arg['instId']!, conn);
        return leave;
      },
    }));
    return [bookChannel('books'), bookChannel('books5'), bookChannel('bbo-tbt'), trades, tickers, ...candles];
  }
}

/**
 * The public and business channels over a hub: register `channels`; the hub feeds them, each
 * paced topic at most every `intervals` ms (PushIntervalsMs by default) on a monotonic clock.
 */
export function publicChannels(
  port: ExchangePort, hub: StreamHub, intervals: PushIntervals = {}, clockMs: () => number = () => performance.now(),
): { channels: ChannelDef[]; remove: () => void } {
  const streams = new PublicStreams(port, hub, intervals, clockMs);
  const removeConsumer = hub.addConsumer(streams);
  return { channels: streams.channels(), remove: () => { removeConsumer(); streams.stop(); } };
}
