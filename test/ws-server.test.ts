// The WebSocket server's rules, in process: a gateway over an in-memory exchange whose applied
// events feed a real stream hub, listening on loopback, with real `ws` clients. Keepalive and
// OKX's error events; acknowledgements and unsubscribe; every named bound (subscriptions per
// connection, connections per IP and in all, messages per second, idle close, a slow reader's
// unsent bytes) and what happens at it; the hub's buffer bound; a node that stops serving.
// Each of these runs twice: with the sockets held by the gateway's own process, and held by a
// fan-out process (ws-fanout.ts, as `everbook start` runs by default), which must behave the same.
// Waits end on a message, a close or a condition, each with a deadline; nothing sleeps.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import type { Command } from '../src/core/index.js';
import {
  bookChecksum, FanoutProcess, webSocketsOf, WsCloses, wsCloseTableMarkdown, wsErrorTableMarkdown, type WsOptions, type WsServer,
} from '../src/gateway/index.js';
import { diffSide, StreamHub, type BookLevel, type Drain, type StreamHubOptions } from '../src/streams/index.js';
import { venue, type MemoryPort, type Trader } from './support/memory-port.js';
import { event, push, WsClient } from './support/ws-client.js';
import { CheckedBook } from './support/ws-book.js';
import { venueGateway } from './support/ws-gateway.js';
import { waitFor } from '../src/cluster/launcher.js';

type Row = Record<string, unknown>;

interface Harness {
  readonly port: MemoryPort;
  readonly alice: Trader;
  readonly bob: Trader;
  readonly hub: StreamHub;
  readonly ws: WsServer;
  readonly fanout: FanoutProcess | undefined;
  readonly base: string;
  open(path?: string): Promise<WsClient>;
  close(): Promise<void>;
}

type MakeHarness = (options?: WsOptions, hubOptions?: Partial<StreamHubOptions>) => Promise<Harness>;

async function harness(
  withFanout: boolean | FanoutProcess, options: WsOptions = {}, hubOptions: Partial<StreamHubOptions> = {},
): Promise<Harness> {
  const fanout = withFanout === true ? new FanoutProcess({ logger: false }) : withFanout === false ? undefined : withFanout;
  const { port, alice, bob, hub, app, wsBase: base } = await venueGateway(hubOptions, { options, ...(fanout !== undefined && { fanout }) });
  const clients: WsClient[] = [];
  return {
    port, alice, bob, hub, ws: webSocketsOf(app)!, fanout, base,
    open: async (path = '/ws/v5/public') => {
      const client = await WsClient.open(base + path);
      clients.push(client);
      return client;
    },
    close: async () => {
      for (const c of clients) c.ws.terminate();
      await app.close();
      await fanout?.stop();
      hub.close();
    },
  };
}

/** A limit order in the scenario venue's units (BTC-USDT: tick 0.01, lot 0.0001). */
function limit(who: Trader, side: 'buy' | 'sell', priceTicks: number, sizeLots: number, instId = 'BTC-USDT'): Command {
  return { type: 'PlaceOrder', userId: who.userId, instId, side, orderType: 'limit', priceTicks, sizeLots };
}

function apply(port: MemoryPort, commands: Command[]): number[] {
  const ids: number[] = [];
  for (const r of port.applyNow(commands)) {
    assert.ok(r.ok, JSON.stringify(r));
    if (r.orderId !== undefined) ids.push(r.orderId);
  }
  return ids;
}

/** Lets the hub's scheduled drain (setImmediate) run. */
function afterDrain(): Promise<void> {
  return new Promise((resolve) => { setImmediate(resolve); });
}

/** Each test of the server's rules, once with each way of holding the sockets. */
function bothWays(name: string, body: (make: MakeHarness) => Promise<void>): void {
  test(`${name} (sockets in process)`, () => body((o, h) => harness(false, o, h)));
  test(`${name} (sockets in the fan-out process)`, () => body((o, h) => harness(true, o, h)));
}

/** Waits for what the server learns from the fan-out process (a message on another channel than the client's). */
async function eventually(condition: () => boolean, what: string): Promise<void> {
  await waitFor(what, () => Promise.resolve(condition()), 10_000);
}

async function subscribed(client: WsClient, args: Row[]): Promise<void> {
  client.send({ op: 'subscribe', args });
  for (let i = 0; i < args.length; i++) await client.take(event('subscribe'), `subscribe ack ${String(i)}`);
}

bothWays('WebSocket: text ping is answered pong; malformed requests get OKX error events with the connId', async (make) => {
  const h = await make();
  try {
    const client = await h.open();
    // (The fan-out process tells the server the handshake is done beside telling the client.)
    await eventually(() => h.ws.stats().connections === 1, 'the connection counted');
    assert.equal(h.ws.stats().inFanout, h.fanout === undefined ? 0 : 1, 'who holds the socket');
    client.send('ping');
    assert.equal(await client.take((m) => m === 'pong', 'pong'), 'pong');
    const error = async (send: string | Row, code: string, msg?: RegExp): Promise<void> => {
      client.send(send);
      const e = await client.take(event('error'), `error ${code}`);
      assert.equal(e['code'], code, JSON.stringify(e));
      assert.match(String(e['connId']), /^[0-9a-f]{8}$/);
      if (msg !== undefined) assert.match(String(e['msg']), msg);
    };
    await error('hello', '60012', /^Illegal request: hello$/);
    await error('[1,2]', '60012');
    await error({ op: 'fly' }, '60019', /^Invalid op: fly$/);
    await error({ op: 'subscribe', args: 'books' }, '60013');
    await error({ op: 'subscribe', args: [{ channel: 'books' }] }, '60013');
    await error({ op: 'subscribe', args: [{ channel: 'bookz', instId: 'BTC-USDT' }] }, '60018', /channel:bookz,instId:BTC-USDT/);
    await error({ op: 'subscribe', args: [{ channel: 'books', instId: 'DOGE-USDT' }] }, '60018', /channel:books,instId:DOGE-USDT doesn't exist/);
    await error({ op: 'subscribe', args: [{ channel: 'candle1m', instId: 'BTC-USDT' }] }, '64001');
    const business = await h.open('/ws/v5/business');
    business.send({ op: 'subscribe', args: [{ channel: 'books', instId: 'BTC-USDT' }] });
    assert.equal((await business.take(event('error'), 'books on /business'))['code'], '64002');
    await assert.rejects(WsClient.open(`${h.base}/ws/v5/elsewhere`), /HTTP 404/);
  } finally {
    await h.close();
  }
});

bothWays('WebSocket: subscribe and unsubscribe are acknowledged with the arg; after unsubscribe nothing more is pushed and the hub stops mirroring', async (make) => {
  const h = await make();
  try {
    const client = await h.open();
    client.send({ op: 'subscribe', args: [{ channel: 'books', instId: 'BTC-USDT' }, { channel: 'trades', instId: 'BTC-USDT' }] });
    assert.deepEqual((await client.take(event('subscribe'), 'books ack'))['arg'], { channel: 'books', instId: 'BTC-USDT' });
    assert.deepEqual((await client.take(event('subscribe'), 'trades ack'))['arg'], { channel: 'trades', instId: 'BTC-USDT' });
    await client.take(push('books', 'BTC-USDT'), 'snapshot');
    assert.equal(h.hub.stats().watchedBooks, 1);
    // A second subscribe to the same channel is acknowledged again, without a second subscription.
    client.send({ op: 'subscribe', args: [{ channel: 'books', instId: 'BTC-USDT' }] });
    await client.take(event('subscribe'), 'repeated ack');
    assert.equal(h.ws.stats().subscriptions, 2);

    client.send({ op: 'unsubscribe', args: [{ channel: 'books', instId: 'BTC-USDT' }] });
    assert.deepEqual((await client.take(event('unsubscribe'), 'unsubscribe ack'))['arg'], { channel: 'books', instId: 'BTC-USDT' });
    assert.equal(h.hub.stats().watchedBooks, 0);
    // A trade moves the book too; the books push, had there been one, would precede the trades push.
    apply(h.port, [limit(h.alice, 'sell', 3_000_000, 10), limit(h.bob, 'buy', 3_000_000, 10)]);
    const trades = await client.take(push('trades', 'BTC-USDT'), 'the trade');
    assert.deepEqual((trades['data'] as Row[]).map((t) => [t['px'], t['sz'], t['side']]), [['30000', '0.001', 'buy']]);
    assert.equal(client.inbox.filter(push('books')).length, 0, 'no books push after unsubscribe');
  } finally {
    await h.close();
  }
});

bothWays('WebSocket limits: subscriptions per connection (60020), connections per IP (429) and in all (503) are bounded', async (make) => {
  const h = await make({ subscriptionsPerConnectionMax: 2, connectionsPerIpMax: 2, connectionsMax: 3 });
  try {
    const client = await h.open();
    await subscribed(client, [{ channel: 'books', instId: 'BTC-USDT' }, { channel: 'trades', instId: 'BTC-USDT' }]);
    client.send({ op: 'subscribe', args: [{ channel: 'tickers', instId: 'BTC-USDT' }] });
    const refused = await client.take(event('error'), 'third subscription refused');
    assert.equal(refused['code'], '60020');
    assert.match(String(refused['msg']), /limit of 2/);
    assert.equal(h.ws.stats().subscriptions, 2);

    await h.open();
    await assert.rejects(h.open(), /HTTP 429/, 'a third connection from one IP');
    // With the fan-out process, the server counts a connection when the child reports its
    // handshake done, which may come after the client saw it.
    await eventually(() => h.ws.stats().connections === 2, 'both connections counted');
    assert.deepEqual(h.ws.stats().refused, { 429: 1 });
  } finally {
    await h.close();
  }
  // connectionsMax counts every IP: with a per-IP bound above it, the total refuses first.
  const all = await make({ connectionsPerIpMax: 2, connectionsMax: 2 });
  try {
    await all.open();
    await all.open();
    await assert.rejects(all.open(), /HTTP 503/);
  } finally {
    await all.close();
  }
});

bothWays('WebSocket limits: messages beyond messagesPerSecondMax are answered 60014 and dropped', async (make) => {
  const h = await make({ messagesPerSecondMax: 5 });
  try {
    const client = await h.open();
    // Three times the bound in one burst: however the one-second windows fall, one overflows.
    for (let i = 0; i < 15; i++) client.send('ping');
    const e = await client.take(event('error'), '60014');
    assert.equal(e['code'], '60014');
    assert.equal(h.ws.stats().connections, 1, 'the connection stays open');
  } finally {
    await h.close();
  }
});

bothWays('WebSocket limits: a message over messageBytesMax closes the connection (1009), as the ws library does', async (make) => {
  const h = await make({ messageBytesMax: 1024 });
  try {
    const client = await h.open();
    client.send(JSON.stringify({ op: 'subscribe', args: [{ channel: 'books', instId: 'x'.repeat(2048) }] }));
    assert.equal((await client.closed).code, 1009);
  } finally {
    await h.close();
  }
});

bothWays('WebSocket idle close: a connection silent both ways is closed with 4004; one that pings stays open', async (make) => {
  const h = await make({ idleTimeoutMs: 2_000, sweepIntervalMs: 50 });
  try {
    const silent = await h.open();
    const pinger = await h.open();
    const pinging = setInterval(() => { pinger.send('ping'); }, 50);
    try {
      const closed = await silent.closed;
      assert.equal(closed.code, WsCloses.idle.code);
      assert.match(closed.reason, /^60015 /);
      assert.equal(pinger.isClosed, undefined, 'the pinging connection is open');
      // (The fan-out process tells the server of its close beside telling the client.)
      await eventually(() => h.ws.stats().closes['idle'] === 1, 'the idle close counted');
    } finally {
      clearInterval(pinging);
    }
  } finally {
    await h.close();
  }
});

bothWays('WebSocket: when the node stops serving, connections are closed 4012 and new upgrades refused 503', async (make) => {
  const h = await make({ sweepIntervalMs: 50 });
  try {
    const client = await h.open();
    h.port.state = 'diverged';
    const closed = await client.closed;
    assert.equal(closed.code, WsCloses.notServing.code);
    await assert.rejects(h.open(), /HTTP 503/);
  } finally {
    await h.close();
  }
});

bothWays('Slow consumer: a client that stops reading is closed (4010) at sendBufferMaxBytes, while another subscriber gets every update and every command applies', async (make) => {
  const bound = 64 * 1024;
  // A books pass per drain (no interval), so that every round is an update the slow reader leaves unread.
  const h = await make({ sendBufferMaxBytes: bound, closeGraceMs: 60_000 }, { booksIntervalMs: 0 });
  try {
    const instId = 'BTC-USDT';
    const slow = await h.open();
    await subscribed(slow, [{ channel: 'books', instId }]);
    await slow.take(push('books', instId), 'slow snapshot');
    const healthy = await h.open();
    await subscribed(healthy, [{ channel: 'books', instId }]);
    const book = new CheckedBook(instId);
    book.apply(await healthy.take(push('books', instId), 'healthy snapshot'));
    const slowSocket = (slow.ws as unknown as { _socket: Socket })._socket;
    slowSocket.pause();

    // Twenty price levels appear, then go, over and over: one update of twenty levels per drain.
    const roundsMax = 20_000;
    let rounds = 0;
    let applied = 0;
    while (h.ws.stats().closes['slowConsumer'] === undefined && rounds < roundsMax) {
      const ids = apply(h.port, Array.from({ length: 20 }, (_, i) => limit(h.alice, 'buy', 2_900_000 + i, 10 + (rounds % 7))));
      await afterDrain();
      apply(h.port, ids.map((orderId): Command => ({ type: 'CancelOrder', userId: h.alice.userId, instId, orderId })));
      await afterDrain();
      applied += 40;
      rounds++;
      // The healthy reader keeps up: its book follows each drain.
      for (let m = healthy.inbox.findIndex(push('books', instId)); m !== -1; m = healthy.inbox.findIndex(push('books', instId))) {
        book.apply(healthy.inbox.splice(m, 1)[0] as Row);
      }
    }
    assert.equal(h.ws.stats().closes['slowConsumer'], 1, `the slow reader was closed within ${String(roundsMax)} rounds`);
    assert.ok(h.ws.stats().peakBufferedBytes <= bound, `no connection held more than ${String(bound)} unsent bytes (peak ${String(h.ws.stats().peakBufferedBytes)})`);
    assert.equal(h.hub.stats().overflows, 0, 'the hub never dropped events');
    assert.equal(h.port.engine.seq >= applied, true);

    // The healthy subscriber is still subscribed and catches up to the hub's latest seqId.
    apply(h.port, [limit(h.alice, 'sell', 3_100_000, 10)]);
    await healthy.until(() => {
      for (let m = healthy.inbox.findIndex(push('books', instId)); m !== -1; m = healthy.inbox.findIndex(push('books', instId))) {
        book.apply(healthy.inbox.splice(m, 1)[0] as Row);
      }
      return book.seqId === h.hub.mirror(instId)?.seqId;
    }, 'the healthy subscriber at the latest seqId');
    assert.ok(book.updates >= rounds * 2, `every update reached the healthy subscriber (${String(book.updates)})`);
    assert.equal(healthy.isClosed, undefined);

    // Reading again, the slow client finds the close frame behind what it had been sent.
    slowSocket.resume();
    const closed = await slow.closed;
    assert.equal(closed.code, WsCloses.slowConsumer.code);
    assert.match(closed.reason, /^60016 /);
  } finally {
    await h.close();
  }
});

bothWays('Hub overflow: events beyond hubBufferEventsMax are dropped, trades subscribers are closed (4011), books subscribers carry on by diff', async (make) => {
  const h = await make({}, { bufferEventsMax: 10 });
  try {
    const instId = 'BTC-USDT';
    const trader = await h.open();
    await subscribed(trader, [{ channel: 'trades', instId }]);
    const reader = await h.open();
    await subscribed(reader, [{ channel: 'books', instId }]);
    const book = new CheckedBook(instId);
    book.apply(await reader.take(push('books', instId), 'snapshot'));
    // One record of 30 orders: far more events than the buffer takes, before any drain.
    apply(h.port, Array.from({ length: 30 }, (_, i) => limit(h.alice, 'buy', 2_900_000 + i, 10)));
    const closed = await trader.closed;
    assert.equal(closed.code, WsCloses.overflow.code);
    assert.equal(h.hub.stats().overflows, 1);
    const update = await reader.take(push('books', instId), 'the update after the overflow');
    book.apply(update);
    assert.equal(book.bids.size, 30, 'the book diff carries all 30 levels');
    assert.equal(reader.isClosed, undefined);
  } finally {
    await h.close();
  }
});

test('Hub diff: levels that changed or appeared are sent as they are, levels that went are sent with size 0', () => {
  const L = (priceTicks: number, sizeLots: number, orders = 1): BookLevel => ({ priceTicks, sizeLots, orders });
  const asksBetter = (a: number, b: number): boolean => a < b;
  //            before                         after                            diff
  assert.deepEqual(diffSide([L(10, 1), L(11, 2)], [L(10, 1), L(11, 2)], asksBetter), []);
  assert.deepEqual(diffSide([L(10, 1), L(11, 2)], [L(10, 3), L(11, 2)], asksBetter), [L(10, 3)]);
  assert.deepEqual(diffSide([L(10, 1), L(11, 2)], [L(10, 1), L(11, 2, 2)], asksBetter), [L(11, 2, 2)]);
  assert.deepEqual(diffSide([L(10, 1), L(12, 2)], [L(10, 1), L(11, 5), L(12, 2)], asksBetter), [L(11, 5)]);
  assert.deepEqual(diffSide([L(10, 1), L(11, 2)], [L(11, 2)], asksBetter), [L(10, 0, 0)]);
  assert.deepEqual(diffSide([L(10, 1)], [L(9, 4), L(12, 1)], asksBetter), [L(9, 4), L(10, 0, 0), L(12, 1)]);
  assert.deepEqual(diffSide([], [L(10, 1)], asksBetter), [L(10, 1)]);
  assert.deepEqual(diffSide([L(10, 1)], [], asksBetter), [L(10, 0, 0)]);
  const bidsBetter = (a: number, b: number): boolean => a > b;
  assert.deepEqual(diffSide([L(12, 1), L(10, 1)], [L(11, 1), L(10, 2)], bidsBetter), [L(12, 0, 0), L(11, 1), L(10, 2)]);
});

test('Hub: events of several records drained at once arrive as applied, although the engine recycles its event objects after each record', () => {
  const { port, alice, bob } = venue();
  const hub = new StreamHub({ queries: port.queries, appliedSeq: () => port.engine.seq });
  port.onApplied = (events) => { hub.onApplied(events, port.engine.seq); };
  const drained: Drain[] = [];
  hub.addConsumer({ onDrain: (d) => { drained.push(d); } });
  apply(port, [limit(alice, 'sell', 10_000, 100)]);
  apply(port, [limit(bob, 'buy', 10_000, 40)]);
  apply(port, [limit(bob, 'buy', 10_000, 60)]);
  hub.drain();
  const events = drained.flatMap((d) => d.events);
  const trades = events.flatMap((e) => (e.type === 'TradeExecuted' ? [[e.sizeLots, e.takerUserId, e.makerUserId]] : []));
  assert.deepEqual(trades, [[40, bob.userId, alice.userId], [60, bob.userId, alice.userId]]);
  const accepted = events.flatMap((e) => (e.type === 'OrderAccepted' ? [[e.userId, e.side, e.sizeLots]] : []));
  assert.deepEqual(accepted, [[alice.userId, 'sell', 100], [bob.userId, 'buy', 40], [bob.userId, 'buy', 60]]);
  hub.close();
});

test('Checksum: OKX\'s test vector (bids and asks interleaved, CRC-32 as a signed integer)', () => {
  // "3366.1:7:3366.8:9:3366:6:3368:8" -> 2413953002 unsigned -> -1881014294 (docs/API.md, ccxt.crc32).
  assert.equal(bookChecksum([['3366.1', '7', '0', '1'], ['3366', '6', '0', '1']], [['3366.8', '9', '0', '1'], ['3368', '8', '0', '1']]), -1_881_014_294);
});

test('docs: docs/API.md carries the WebSocket error and close tables as errors.ts defines them', async () => {
  const doc = await readFile(new URL('../../docs/API.md', import.meta.url), 'utf8');
  assert.ok(doc.includes(wsErrorTableMarkdown()), 'docs/API.md WebSocket error table is stale: npm run docs');
  assert.ok(doc.includes(wsCloseTableMarkdown()), 'docs/API.md WebSocket close table is stale: npm run docs');
});

test('Hub: while no consumer has subscribers, applied records cost the apply loop nothing (no copy, no drain); once one has, they flow', () => {
  const { port, alice, bob } = venue();
  const hub = new StreamHub({ queries: port.queries, appliedSeq: () => port.engine.seq });
  port.onApplied = (events) => { hub.onApplied(events, port.engine.seq); };
  let subscribers = 0;
  const drained: Drain[] = [];
  hub.addConsumer({ active: () => subscribers > 0, onDrain: (d) => { drained.push(d); } });
  apply(port, [limit(alice, 'sell', 10_000, 100), limit(bob, 'buy', 10_000, 40)]);
  assert.equal(hub.stats().bufferedEvents, 0);
  hub.drain();
  assert.deepEqual(drained.flatMap((d) => d.events), []);
  subscribers = 1;
  apply(port, [limit(bob, 'buy', 10_000, 60)]);
  assert.ok(hub.stats().bufferedEvents > 0);
  hub.drain();
  assert.deepEqual(drained.flatMap((d) => d.events).flatMap((e) => (e.type === 'TradeExecuted' ? [e.sizeLots] : [])), [60]);
  hub.close();
});

test('Fan-out process: when it dies its clients are disconnected and forgotten, a new one serves new connections, and /ws/v5/private connections (held in process) carry on', async () => {
  const h = await harness(new FanoutProcess({ logger: false, restartDelayMs: 10 }), { connectionsPerIpMax: 2 });
  try {
    const instId = 'BTC-USDT';
    const pub = await h.open();
    await subscribed(pub, [{ channel: 'books', instId }]);
    await pub.take(push('books', instId), 'snapshot');
    const priv = await h.open('/ws/v5/private');
    await eventually(() => h.ws.stats().connections === 2, 'both connections counted');
    assert.deepEqual([h.ws.stats().connections, h.ws.stats().inFanout], [2, 1]);
    const fanout = h.fanout!;
    process.kill(fanout.pid!, 'SIGKILL');
    assert.equal((await pub.closed).code, 1006, 'the public client lost its socket with the process');
    await eventually(() => h.ws.stats().connections === 1 && h.ws.stats().subscriptions === 0, 'the server forgot the connection');
    assert.equal(h.hub.stats().watchedBooks, 0, 'and its books subscription');
    priv.send('ping');
    await priv.take((m) => m === 'pong', 'the private connection still answers');
    // A new public connection: the per-IP count (2) admits it only if the dead one was released.
    await eventually(() => fanout.available() && fanout.starts === 2, 'a new fan-out process');
    const again = await h.open();
    await subscribed(again, [{ channel: 'books', instId }]);
    await again.take(push('books', instId), 'snapshot from the new process');
    assert.deepEqual([h.ws.stats().inFanout, fanout.replaced], [1, 1]);
  } finally {
    await h.close();
  }
});

test('Fan-out process: one that stops reading is replaced once the messages waiting for it pass backlogBytesMax, and its clients are disconnected', async () => {
  const bound = 256 * 1024;
  const h = await harness(new FanoutProcess({ logger: false, backlogBytesMax: bound, restartDelayMs: 10 }), {}, { booksIntervalMs: 0 });
  try {
    const instId = 'BTC-USDT';
    const client = await h.open();
    await subscribed(client, [{ channel: 'books', instId }]);
    await client.take(push('books', instId), 'snapshot');
    const fanout = h.fanout!;
    process.kill(fanout.pid!, 'SIGSTOP');
    // Twenty levels appear and go, over and over: an update per drain, which the stopped process never reads.
    const roundsMax = 20_000;
    let rounds = 0;
    while (fanout.replaced === 0 && rounds < roundsMax) {
      const ids = apply(h.port, Array.from({ length: 20 }, (_, i) => limit(h.alice, 'buy', 2_900_000 + i, 10 + (rounds % 7))));
      await afterDrain();
      apply(h.port, ids.map((orderId): Command => ({ type: 'CancelOrder', userId: h.alice.userId, instId, orderId })));
      await afterDrain();
      rounds++;
      assert.ok(fanout.backlogBytes <= bound, `the backlog stays within its bound (${String(fanout.backlogBytes)})`);
    }
    assert.equal(fanout.replaced, 1, `replaced within ${String(roundsMax)} rounds`);
    assert.equal((await client.closed).code, 1006);
    await eventually(() => h.ws.stats().connections === 0, 'the server forgot the connection');
    await eventually(() => fanout.available() && fanout.starts === 2, 'a new fan-out process');
    const again = await h.open();
    await subscribed(again, [{ channel: 'books', instId }]);
    await again.take(push('books', instId), 'snapshot from the new process');
  } finally {
    await h.close();
  }
});

test('WebSocket behind a trusted proxy: the client IP comes from X-Forwarded-For, as on REST (per-IP bound)', async () => {
  const { hub, app, wsBase } = await venueGateway({}, { options: { connectionsPerIpMax: 1 } }, { trustProxy: true });
  const url = `${wsBase}/ws/v5/public`;
  const clients: WsClient[] = [];
  try {
    clients.push(await WsClient.open(url, 10_000, { 'x-forwarded-for': '203.0.113.7, 10.0.0.1' }));
    clients.push(await WsClient.open(url, 10_000, { 'x-forwarded-for': '198.51.100.9' }));
    await assert.rejects(WsClient.open(url, 10_000, { 'x-forwarded-for': '203.0.113.7' }), /HTTP 429/, 'the first client again, through another hop');
  } finally {
    for (const c of clients) c.ws.terminate();
    await app.close();
    hub.close();
  }
});

// The two tests of the gateway's close end by the test's timeout if the close hangs.
test('Fan-out process: the gateway still closes after the child was replaced and took no connection since (Node does not wait on the dead child for sockets it held)', { timeout: 60_000 }, async () => {
  const h = await harness(new FanoutProcess({ logger: false, restartDelayMs: 10 }));
  let closed = false;
  try {
    const pub = await h.open();
    await subscribed(pub, [{ channel: 'trades', instId: 'BTC-USDT' }]);
    const fanout = h.fanout!;
    process.kill(fanout.pid!, 'SIGKILL');
    await pub.closed;
    await eventually(() => fanout.available() && fanout.starts === 2, 'a new fan-out process');
    assert.equal(h.ws.stats().closes['fanoutLost'], 1, 'the dropped client counted');
    await h.close();
    closed = true;
  } finally {
    if (!closed) await h.close();
  }
});

test('Fan-out process: a child that answers no hand-off within handOffTimeoutMs is replaced; the client\'s upgrade fails and the next one is served', async () => {
  const h = await harness(new FanoutProcess({ logger: false, restartDelayMs: 10, handOffTimeoutMs: 300 }), { sweepIntervalMs: 50, closeGraceMs: 500 });
  try {
    const fanout = h.fanout!;
    process.kill(fanout.pid!, 'SIGSTOP');
    await assert.rejects(WsClient.open(`${h.base}/ws/v5/public`, 10_000), 'no handshake from a stopped child');
    await eventually(() => fanout.replaced === 1 && fanout.available(), 'the stuck child replaced');
    assert.deepEqual([h.ws.stats().connections], [0]);
    const again = await h.open();
    await subscribed(again, [{ channel: 'books', instId: 'BTC-USDT' }]);
    await again.take(push('books', 'BTC-USDT'), 'snapshot from the new process');
  } finally {
    await h.close();
  }
});

test('Fan-out process: the gateway closes even when the child is stuck with connections', { timeout: 60_000 }, async () => {
  const h = await harness(new FanoutProcess({ logger: false }), { closeGraceMs: 500 });
  let closed = false;
  try {
    const pub = await h.open();
    await subscribed(pub, [{ channel: 'trades', instId: 'BTC-USDT' }]);
    process.kill(h.fanout!.pid!, 'SIGSTOP');
    await h.close();
    closed = true;
    assert.equal(h.fanout!.pid, undefined, 'the stuck child was stopped');
  } finally {
    if (!closed) await h.close();
  }
});
