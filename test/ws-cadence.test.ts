// The public channels' cadences, as OKX pushes them: `books` at most every 100 ms, whatever the
// command rate. A burst of commands inside one interval reaches a subscriber as ONE update, whose
// seqId chains onto the previous push, whose checksum matches the client's own book and whose
// book equals REST; consecutive updates are never closer than the interval. The gateway serves
// an in-memory exchange whose applied records feed a real stream hub; the burst test drives the
// hub's monotonic clock by hand, so that "inside one interval" does not depend on the machine.

import assert from 'node:assert/strict';
import test from 'node:test';
import type { Command } from '../src/core/index.js';
import { waitFor } from '../src/cluster/launcher.js';
import { PushIntervalsMs } from '../src/gateway/index.js';
import type { WsConnection } from '../src/gateway/ws-server.js';
import { publicChannels } from '../src/gateway/ws-public.js';
import { loadConfig } from '../src/server/config.js';
import { StreamHub, StreamLimits, type StreamHubOptions } from '../src/streams/index.js';
import { venue, type Trader } from './support/memory-port.js';
import { event, push, WsClient } from './support/ws-client.js';
import { CheckedBook } from './support/ws-book.js';
import { venueGateway } from './support/ws-gateway.js';

type Row = Record<string, unknown>;

const instId = 'BTC-USDT';
const afterDrain = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve); });

function limit(who: Trader, side: 'buy' | 'sell', priceTicks: number, sizeLots: number): Command {
  return { type: 'PlaceOrder', userId: who.userId, instId, side, orderType: 'limit', priceTicks, sizeLots };
}

/** A gateway over an in-memory venue with a hub of these options, and one `books` subscriber. */
async function booksSubscriber(hubOptions: Partial<StreamHubOptions>) {
  const { port, alice, bob, hub, app, wsBase } = await venueGateway(hubOptions);
  const client = await WsClient.open(`${wsBase}/ws/v5/public`);
  client.send({ op: 'subscribe', args: [{ channel: 'books', instId }] });
  await client.take(event('subscribe'), 'ack');
  const book = new CheckedBook(instId);
  book.apply(await client.take(push('books', instId), 'snapshot'));
  const restBook = async (): Promise<unknown> => {
    const reply = await app.inject({ method: 'GET', url: `/api/v5/market/books?instId=${instId}&sz=400` });
    const { asks, bids } = (JSON.parse(reply.body) as { data: Row[] }).data[0]!;
    return { asks, bids };
  };
  const close = async (): Promise<void> => {
    client.ws.terminate();
    await app.close();
    hub.close();
  };
  return { port, alice, bob, hub, client, book, restBook, close };
}

test('Cadences: the defaults are OKX\'s (books, books5 and tickers at most every 100 ms, bbo-tbt every 10 ms), and the node flag defaults to the books one', () => {
  assert.equal(StreamLimits.booksIntervalMs, 100);
  assert.equal(PushIntervalsMs.books5, 100);
  assert.equal(PushIntervalsMs.tickers, 100);
  assert.equal(PushIntervalsMs['bbo-tbt'], 10);
  const config = loadConfig([], {});
  assert.equal(config.wsBooksIntervalMs, 100);
  assert.equal(config.wsTradesIntervalMs, PushIntervalsMs.trades);
  assert.equal(loadConfig(['--ws-books-interval-ms', '0'], {}).wsBooksIntervalMs, 0);
  assert.throws(() => new StreamHub({ queries: venue().port.queries, appliedSeq: () => 0, booksIntervalMs: -1 }), /booksIntervalMs/);
});

test('Books: 200 commands inside one 100 ms interval reach the subscriber as one update that chains, checks and equals REST', async () => {
  let clockMs = 0;
  const s = await booksSubscriber({ clockMs: () => clockMs });
  try {
    // The first change after a quiet spell is pushed at once, and starts an interval.
    s.port.applyNow([limit(s.alice, 'buy', 2_990_000, 10)]);
    s.book.apply(await s.client.take(push('books', instId), 'the first update'));
    const passesBefore = s.hub.stats().booksPasses;
    const seqIdBefore = s.book.seqId;

    // 200 commands, each drained on its own, all at 50 ms into the interval: levels come, grow,
    // are taken by crossing sells and go.
    const bids: number[] = [];
    for (let i = 0; i < 120; i++) {
      const sell = i % 3 === 2;
      const [r] = s.port.applyNow([sell ? limit(s.bob, 'sell', 2_990_000 - 50, 10) : limit(s.alice, 'buy', 2_990_000 - (i % 40), 20 + i)]);
      assert.ok(r?.ok === true && r.orderId !== undefined, JSON.stringify(r));
      if (!sell) bids.push(r.orderId);
      clockMs = 50;
      await afterDrain();
    }
    // Then every bid is cancelled (those the sells filled are refused: a command all the same).
    for (const orderId of bids) {
      s.port.applyNow([{ type: 'CancelOrder', userId: s.alice.userId, instId, orderId }]);
      await afterDrain();
    }
    assert.equal(s.hub.stats().booksPasses, passesBefore, 'no books pass inside the interval');
    assert.equal(s.client.inbox.filter(push('books', instId)).length, 0, 'nothing pushed inside the interval');

    // The interval ends: one pass, one update from the previous push's seqId to the engine's now.
    clockMs = 100;
    const update = await s.client.take(push('books', instId), 'the burst\'s update');
    s.book.apply(update);
    const data = (update['data'] as Row[])[0]!;
    assert.equal(data['prevSeqId'], seqIdBefore);
    assert.equal(data['seqId'], s.port.engine.seq);
    assert.equal(s.hub.stats().booksPasses, passesBefore + 1);
    assert.deepEqual({ asks: s.book.side('asks'), bids: s.book.side('bids') }, await s.restBook());
    assert.equal(s.client.inbox.filter(push('books', instId)).length, 0, 'one update for the whole burst');
  } finally {
    await s.close();
  }
});

test('Books: with an interval of 50 ms, consecutive updates of an instrument are never closer than 50 ms while commands flow', { timeout: 60_000 }, async () => {
  const intervalMs = 50;
  // The interval is kept on the hub's monotonic clock; an update's `ts` is the wall clock, which
  // this machine's host may adjust by a few ms mid-test. So the passes are timed on the hub's own
  // clock: it is read only by the books pass, once a drain, and a pass counts itself right after
  // reading it, so a read followed by a higher pass count is the time of a pass.
  const hubOf: { hub?: StreamHub } = {};
  let passesSeen = 0;
  let lastReadMs = 0;
  const passTimesMs: number[] = [];
  const notePass = (): void => {
    const passes = hubOf.hub?.stats().booksPasses ?? 0;
    if (passes > passesSeen) {
      assert.equal(passes, passesSeen + 1, 'one pass per reading of the clock');
      passTimesMs.push(lastReadMs);
      passesSeen = passes;
    }
  };
  const clockMs = (): number => {
    notePass();
    lastReadMs = performance.now();
    return lastReadMs;
  };
  const s = await booksSubscriber({ booksIntervalMs: intervalMs, clockMs });
  hubOf.hub = s.hub;
  passesSeen = s.hub.stats().booksPasses;
  try {
    const updates: Row[] = [];
    const feed = (): void => {
      for (let m = s.client.inbox.findIndex(push('books', instId)); m !== -1; m = s.client.inbox.findIndex(push('books', instId))) {
        const message = s.client.inbox.splice(m, 1)[0] as Row;
        s.book.apply(message);
        updates.push((message['data'] as Row[])[0]!);
      }
    };
    // A level comes and goes in every drain until ten updates have arrived (a pass that falls
    // between a level's coming and going pushes it; one after both finds nothing changed).
    const updatesWanted = 10;
    const commandsMax = 400_000;
    let commands = 0;
    while (updates.length < updatesWanted && commands < commandsMax) {
      const [r] = s.port.applyNow([limit(s.alice, 'buy', 2_990_000 - (commands % 50), 10)]);
      assert.ok(r?.ok === true && r.orderId !== undefined);
      await afterDrain();
      s.port.applyNow([{ type: 'CancelOrder', userId: s.alice.userId, instId, orderId: r.orderId }]);
      await afterDrain();
      commands += 2;
      feed();
    }
    assert.ok(updates.length >= updatesWanted, `${String(updates.length)} updates over ${String(commands)} commands`);
    assert.ok(commands > updates.length * 2, 'far more commands than updates');
    notePass();
    // Every update came from a pass, and no two passes were closer than the interval.
    assert.ok(passTimesMs.length >= updates.length, `${String(passTimesMs.length)} passes timed for ${String(updates.length)} updates`);
    for (let i = 1; i < passTimesMs.length; i++) {
      const gapMs = passTimesMs[i]! - passTimesMs[i - 1]!;
      assert.ok(gapMs >= intervalMs, `passes ${String(i - 1)} and ${String(i)} ${gapMs.toFixed(3)} ms apart`);
    }
    // Quiet: the last pending change is pushed once its interval has passed (or found to have
    // changed nothing: no push), and the client's book equals REST.
    await waitFor('the last change pushed', () => { feed(); return Promise.resolve(s.hub.stats().booksPending === 0 && s.hub.mirror(instId)?.seqId === s.book.seqId); }, 10_000);
    assert.deepEqual({ asks: s.book.side('asks'), bids: s.book.side('bids') }, await s.restBook());
  } finally {
    await s.close();
  }
});

test('Trades: with an interval of 200 ms, 60 trades reach a subscriber complete and in order, in no more pushes than intervals elapsed', { timeout: 60_000 }, async () => {
  const intervalMs = 200;
  const { port, alice, bob, hub, app, wsBase } = await venueGateway({}, { intervals: { trades: intervalMs } });
  const client = await WsClient.open(`${wsBase}/ws/v5/public`);
  try {
    client.send({ op: 'subscribe', args: [{ channel: 'trades', instId }] });
    await client.take(event('subscribe'), 'ack');
    const started = performance.now();
    const trades = 60;
    for (let i = 0; i < trades; i++) {
      port.applyNow([limit(alice, 'buy', 2_990_000, 10), limit(bob, 'sell', 2_990_000, 10)]);
      await afterDrain();
    }
    const pushes: Row[][] = [];
    await client.until(() => {
      for (let m = client.inbox.findIndex(push('trades', instId)); m !== -1; m = client.inbox.findIndex(push('trades', instId))) {
        pushes.push((client.inbox.splice(m, 1)[0] as Row)['data'] as Row[]);
      }
      return pushes.flat().length >= trades;
    }, 'every trade pushed');
    const elapsedMs = performance.now() - started;
    const ids = pushes.flat().map((t) => Number(t['tradeId']));
    assert.equal(ids.length, trades);
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'tradeIds rise');
    // The first trade goes at once; after it, at most one push per interval elapsed.
    assert.ok(pushes.length <= 2 + Math.floor(elapsedMs / intervalMs), `${String(pushes.length)} pushes in ${elapsedMs.toFixed(0)} ms`);
    assert.ok(pushes.length < trades, 'trades gathered into fewer pushes');
  } finally {
    client.ws.terminate();
    await app.close();
    hub.close();
  }
});

test('books5: a subscriber that joins while a push is held back ends on the live book, even when the book returns to what the others last saw', () => {
  let clockMs = 1_000;
  const clock = (): number => clockMs;
  const { port, alice } = venue();
  const hub = new StreamHub({ queries: port.queries, appliedSeq: () => port.engine.seq, clockMs: clock });
  port.onApplied = (events) => { hub.onApplied(events, port.engine.seq); };
  const { channels, remove } = publicChannels(port, hub, {}, clock);
  const books5 = channels.find((c) => c.name === 'books5')!;
  /** A connection that keeps what it was sent. */
  const subscriber = () => {
    const got: { data: { bids: string[][] }[] }[] = [];
    const conn = { send: (text: string) => { got.push(JSON.parse(text) as (typeof got)[number]); return true; }, close: () => undefined, fanout: undefined, joinTopic: () => undefined, leaveTopic: () => undefined };
    const parsed = books5.parseArg({ channel: 'books5', instId }, conn as unknown as WsConnection);
    assert.ok('key' in parsed);
    books5.subscribe(conn as unknown as WsConnection, parsed);
    return { bids: () => got.at(-1)!.data[0]!.bids.map((row) => row[0]) };
  };
  const liveBids = (): string[] => port.queries.book(instId, 5)!.bids.map((level) => String(level.priceTicks));
  try {
    const a = subscriber();
    port.applyNow([limit(alice, 'buy', 2_000_000, 10)]);
    hub.drain();
    assert.deepEqual(a.bids().length, 1, 'the first change is pushed at once');
    clockMs += 10;
    const [placed] = port.applyNow([limit(alice, 'buy', 2_100_000, 10)]);
    hub.drain();
    const b = subscriber(); // sent the live book (two bids) while the others' push waits
    assert.equal(b.bids().length, 2);
    assert.ok(placed !== undefined && placed.ok);
    port.applyNow([{ type: 'CancelOrder', userId: alice.userId, instId, orderId: (placed as { orderId: number }).orderId }]);
    hub.drain();
    clockMs += 200;
    hub.drain();
    assert.equal(b.bids().length, 1, 'the newcomer got the book as it is now');
    assert.deepEqual(a.bids().length, 1);
    assert.equal(liveBids().length, 1);
  } finally {
    remove();
    hub.close();
  }
});
