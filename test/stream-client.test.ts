// The streaming failover client against stand-in clouds (test/support/fake-books-server.ts): it
// follows one cloud's books with the chain and checksum holding; when that cloud dies it moves to
// the next and resynchronises from a fresh snapshot, whose seqId the ledger matches against what
// the first cloud sent; a wrong checksum is caught and answered with a resync at the same cloud.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SeqIdLedger } from '../src/cluster/book-checker.js';
import { waitFor } from '../src/cluster/launcher.js';
import { StreamClient, publicWsUrl } from '../src/cluster/stream-client.js';
import { FAKE_INST_ID, FakeBooksServer, Market } from './support/fake-books-server.js';

const WAIT_MS = 10_000;

function client(urls: string[], ledger: SeqIdLedger, silenceMs = 5_000): StreamClient {
  return new StreamClient({
    name: 'c', urls, instIds: [FAKE_INST_ID], trades: false, pingMs: 200, silenceMs, connectTimeoutMs: 2_000, reconnectsMax: 10, ledger,
  });
}

/** Moves the market on n steps, each broadcast by every live server. */
function steps(market: Market, servers: FakeBooksServer[], n: number): void {
  for (let i = 0; i < n; i++) {
    market.step();
    for (const s of servers) s.broadcast();
  }
}

test('stream client: the public WebSocket URL of a gateway', () => {
  assert.equal(publicWsUrl('http://10.0.0.1:18081'), 'ws://10.0.0.1:18081/ws/v5/public');
  assert.equal(publicWsUrl('https://a.example/'), 'wss://a.example/ws/v5/public');
});

test('stream client: a cloud dies; the client resynchronises at the next from a fresh snapshot, and the books agree by seqId', async () => {
  const market = new Market();
  steps(market, [], 20);
  const a = await FakeBooksServer.start(market);
  const b = await FakeBooksServer.start(market);
  const ledger = new SeqIdLedger();
  const c = client([a.url, b.url], ledger);
  try {
    c.start();
    await waitFor('synchronised at cloud a', () => Promise.resolve(c.book(FAKE_INST_ID)?.url === a.url));
    steps(market, [a, b], 300);
    await waitFor('following cloud a to the end', () => Promise.resolve(c.book(FAKE_INST_ID)?.seqId === market.seq), WAIT_MS);

    await a.kill();
    await waitFor('synchronised at cloud b from its snapshot', () => Promise.resolve(c.book(FAKE_INST_ID)?.url === b.url));
    assert.equal(c.book(FAKE_INST_ID)?.seqId, 320, 'cloud b\'s snapshot is at the seqId where cloud a left off');
    steps(market, [b], 200);
    await waitFor('resynchronised at cloud b, at the market\'s seq', () => Promise.resolve(c.book(FAKE_INST_ID)?.url === b.url && c.book(FAKE_INST_ID)?.seqId === market.seq), WAIT_MS);

    const s = c.stats();
    assert.equal(s.reconnects, 1, 'one failover');
    assert.equal(s.snapshots, 2, 'one snapshot per cloud');
    assert.equal(s.updatesVerified, 500, 'every update checked: 300 at cloud a, 200 at cloud b');
    assert.equal(s.checksumsVerified, 502);
    assert.deepEqual(Object.values(s.failureCounts), [0, 0, 0, 0, 0, 0]);
    // Cloud b's snapshot was at seqId 320, where cloud a's stream had left the client's book.
    assert.ok(ledger.matched >= 1, 'the snapshot at the second cloud met a seqId seen at the first');
    assert.equal(ledger.conflictCount, 0);
    const book = c.book(FAKE_INST_ID)!;
    assert.deepEqual(book.bids.map((l) => [l.px, l.sz]), [...market.bids.entries()].sort((x, y) => Number(y[0]) - Number(x[0])), 'the client\'s bids are the market\'s');
    assert.deepEqual(book.asks.map((l) => [l.px, l.sz]), [...market.asks.entries()].sort((x, y) => Number(x[0]) - Number(y[0])), 'and so are its asks');
  } finally {
    await c.close();
    await b.kill();
  }
});

test('stream client: a wrong checksum is counted and answered with a fresh snapshot from the same cloud', async () => {
  const market = new Market();
  const a = await FakeBooksServer.start(market);
  const c = client([a.url], new SeqIdLedger());
  try {
    c.start();
    await waitFor('synchronised', () => Promise.resolve(c.book(FAKE_INST_ID) !== undefined));
    steps(market, [a], 10);
    a.corruptNextChecksum();
    steps(market, [a], 10);
    await waitFor('resynchronised at the market\'s seq', () => Promise.resolve(c.stats().resyncs === 1 && c.book(FAKE_INST_ID)?.seqId === market.seq), WAIT_MS);
    const s = c.stats();
    assert.equal(s.failureCounts.checksum, 1);
    assert.equal(s.failures[0]?.seqId, 11);
    assert.equal(s.reconnects, 1);
    assert.equal(s.snapshots, 2);
  } finally {
    await c.close();
    await a.kill();
  }
});

test('stream client: a cloud falls silent (partitioned, sockets open); the unanswered pings move the client to the next cloud', async () => {
  const market = new Market();
  const a = await FakeBooksServer.start(market);
  const b = await FakeBooksServer.start(market);
  const ledger = new SeqIdLedger();
  const c = client([a.url, b.url], ledger, 1_000);
  try {
    c.start();
    await waitFor('synchronised at cloud a', () => Promise.resolve(c.book(FAKE_INST_ID)?.url === a.url));
    steps(market, [a, b], 50);
    a.freeze();
    steps(market, [a, b], 50);
    await waitFor('resynchronised at cloud b', () => Promise.resolve(c.book(FAKE_INST_ID)?.url === b.url && c.book(FAKE_INST_ID)?.seqId === market.seq), WAIT_MS);
    const s = c.stats();
    assert.equal(s.reconnects, 1);
    assert.equal(s.updatesVerified, 50, 'the updates before the partition; the rest came in cloud b\'s snapshot');
    assert.equal(Object.values(s.failureCounts).reduce((x, y) => x + y, 0), 0);
    assert.equal(ledger.conflictCount, 0);
  } finally {
    await c.close();
    await a.kill();
    await b.kill();
  }
});
