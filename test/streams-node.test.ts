// The books stream of one real node, held to the independent checker over at least 10,000
// updates: while signed REST orders flow (crossing and resting around one price), two stream
// clients follow BTC-USDT's books and trades, and a third joins half way; every update must
// chain (prevSeqId = the last seqId) and carry the checksum the client's own book gives; every
// book seen at a seqId by one client is the book the others saw there (the late joiner's
// snapshot included); every trade is described alike; and at a quiet point every client's book
// equals the REST book.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { bookDigest, SeqIdLedger, TradeLedger } from '../src/cluster/book-checker.js';
import { waitFor } from '../src/cluster/launcher.js';
import { StreamClient, publicWsUrl } from '../src/cluster/stream-client.js';
import { okx } from './support/okx-client.js';
import { kill, startServer } from './support/server-process.js';

const INST_ID = 'BTC-USDT';
const UPDATES_MIN = 10_000;
/**
 * Bounds on the load: orders sent at most, and for how long. Each journal record gives at most
 * one update (a drain per record), so on a busy shared machine 10,000 updates can take many
 * minutes: the time bound is a safety net, far from what the test needs on a quiet machine.
 */
const ORDERS_MAX = 200_000;
const LOAD_MS_MAX = 20 * 60_000;
const WORKERS = 6;

function streamClient(name: string, url: string, ledger: SeqIdLedger, tradeLedger: TradeLedger): StreamClient {
  // One URL and no reconnects: on a single node any reconnect would be a finding.
  return new StreamClient({
    name, urls: [publicWsUrl(url)], instIds: [INST_ID], trades: true, pingMs: 5_000, silenceMs: 60_000, connectTimeoutMs: 10_000,
    reconnectsMax: 1, ledger, tradeLedger,
  });
}

test('Streams: one node: >= 10,000 books updates verified (chain, recomputed checksum), books agree by seqId, equal REST when quiet', { timeout: 25 * 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-streams-'));
  // A books push per drain (no 100 ms interval), so that 10,000 updates take no longer than the orders.
  const server = await startServer(dir, ['--rate-limits', 'false', '--ws-books-interval-ms', '0']);
  const ledger = new SeqIdLedger();
  const tradeLedger = new TradeLedger();
  const clients = [streamClient('first', server.url, ledger, tradeLedger), streamClient('second', server.url, ledger, tradeLedger)];
  try {
    for (const c of clients) c.start();
    await waitFor('both clients hold a snapshot', () => Promise.resolve(clients.every((c) => c.book(INST_ID) !== undefined)), 30_000);

    let sent = 0;
    let refused = 0;
    const refusals = new Map<string, number>();
    const deadline = Date.now() + LOAD_MS_MAX;
    const enough = (): boolean => clients[0]!.stats().updatesVerified >= UPDATES_MIN;
    await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      const trader = server.traders[w % server.traders.length]!;
      while (!enough() && sent < ORDERS_MAX && Date.now() < deadline) {
        const n = sent++;
        if (n === 2_000) {
          const late = streamClient('late', server.url, ledger, tradeLedger);
          clients.push(late);
          late.start();
        }
        // Buys and sells over the same 21 ticks: about half cross, the rest rest and move the book.
        const side = n % 2 === 0 ? 'buy' : 'sell';
        const px = (500_000 + ((n * 7 + w) % 21) - 10) / 10;
        const sz = `0.000${1 + (n % 9)}`;
        const r = await okx(server.url, 'POST', '/api/v5/trade/order', { instId: INST_ID, tdMode: 'cash', side, ordType: 'limit', px: px.toFixed(1), sz }, trader);
        if (r.code !== '0') {
          refused += 1;
          const code = r.data[0]?.['sCode'] ?? r.code;
          refusals.set(code, (refusals.get(code) ?? 0) + 1);
        }
      }
    }));
    t.diagnostic(`${sent} orders sent (${refused} refused: ${JSON.stringify(Object.fromEntries(refusals))}) for ${clients[0]!.stats().updatesVerified} updates`);
    assert.ok(enough(), `the first client verified ${UPDATES_MIN} updates within the load's bounds`);

    // The quiet point: every client's book equals the REST book, at one seqId.
    let rest = '';
    await waitFor('every client\'s book equals the REST book', async () => {
      const r = await okx<{ bids: string[][]; asks: string[][] }>(server.url, 'GET', `/api/v5/market/books?instId=${INST_ID}&sz=400`);
      const side = (rows: string[][]): { px: string; sz: string }[] => rows.map((row) => ({ px: row[0]!, sz: row[1]! }));
      rest = bookDigest(side(r.data[0]!.bids), side(r.data[0]!.asks));
      return clients.every((c) => { const b = c.book(INST_ID); return b !== undefined && bookDigest(b.bids, b.asks) === rest; });
    }, 30_000);
    assert.equal(new Set(clients.map((c) => c.book(INST_ID)!.seqId)).size, 1, 'every client at the same seqId');

    for (const c of clients) {
      const s = c.stats();
      t.diagnostic(`${s.name}: ${s.updatesVerified} updates verified, ${s.snapshots} snapshot, ${s.trades} trades, failures ${JSON.stringify(s.failures)}`);
      assert.deepEqual(s.failures, [], `${s.name}: no chain or checksum failure`);
      assert.equal(s.reconnects, 0, `${s.name}: one connection throughout`);
      assert.equal(s.snapshots, 1, `${s.name}: one snapshot`);
      assert.deepEqual(s.errorEvents, [], `${s.name}: no error events`);
      assert.equal(s.tradeOrderViolations, 0, `${s.name}: tradeIds rise`);
      assert.ok(s.trades > 0, `${s.name}: trades streamed`);
    }
    assert.ok(clients[0]!.stats().updatesVerified >= UPDATES_MIN);
    assert.equal(ledger.conflictCount, 0, `no two clients saw different books at one seqId: ${ledger.conflicts.join('; ')}`);
    // Every book the second client held was one the first held at the same seqId, the late joiner's snapshot included.
    assert.ok(ledger.matched >= clients[1]!.stats().updatesVerified, `books compared by seqId: ${ledger.matched}`);
    assert.equal(tradeLedger.conflictCount, 0, 'every trade described alike on every connection');
  } finally {
    for (const c of clients) await c.close();
    await kill(server);
    await rm(dir, { recursive: true, force: true });
  }
});
