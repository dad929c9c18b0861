// The independent `books` checker, message by message: OKX's checksum reference vector, a
// snapshot and updates applied to a client-side book (size "0" deletes), the seqId chain, and
// each failure kind the checker can report; then the ledgers that compare books and trades seen
// on different connections (different clouds) at the same seqId or tradeId.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  BookChecker, SeqIdLedger, TradeLedger, compareDecimal, crc32Signed, okxChecksum, type BooksData, type FailureKind, type Level,
} from '../src/cluster/book-checker.js';

const lv = (px: string, sz: string): [string, string, string, string] => [px, sz, '0', '1'];
const levels = (rows: [string, string][]): Level[] => rows.map(([px, sz]) => ({ px, sz }));

/** A push whose checksum is right for the book it leads to (computed by hand from that book). */
function push(seqId: number, prevSeqId: number, bids: [string, string][], asks: [string, string][], after: { bids: [string, string][]; asks: [string, string][] }): BooksData {
  return { bids: bids.map(([p, s]) => lv(p, s)), asks: asks.map(([p, s]) => lv(p, s)), seqId, prevSeqId, checksum: okxChecksum(levels(after.bids), levels(after.asks)), ts: '1' };
}

test('checksum: the OKX reference vector "3366.1:7:3366.8:9:3366:6:3368:8" is -1881014294', () => {
  assert.equal(crc32Signed('3366.1:7:3366.8:9:3366:6:3368:8'), -1881014294);
  // The same string built from a book: bids 3366.1 x 7, 3366 x 6; asks 3366.8 x 9, 3368 x 8, interleaved.
  assert.equal(okxChecksum(levels([['3366.1', '7'], ['3366', '6']]), levels([['3366.8', '9'], ['3368', '8']])), -1881014294);
});

test('checksum: top 25 levels only, and a short side simply skips its missing entries', () => {
  const bids = Array.from({ length: 30 }, (_, i) => ({ px: String(100 - i), sz: '1' }));
  const asks = [{ px: '101', sz: '2' }];
  const expected = ['100', '1', '101', '2', ...bids.slice(1, 25).flatMap((b) => [b.px, b.sz])].join(':');
  assert.equal(okxChecksum(bids, asks), crc32Signed(expected));
});

test('decimals compare exactly, without floats', () => {
  assert.equal(compareDecimal('3366.1', '3366.10'), 0);
  assert.ok(compareDecimal('99.9', '100') < 0);
  assert.ok(compareDecimal('0.00001', '0.0001') < 0);
  assert.ok(compareDecimal('1000000', '999999.99999') > 0);
  assert.ok(compareDecimal('007', '7.1') < 0);
});

test('book: a snapshot then updates; size "0" deletes; bids best-first high to low, asks low to high', () => {
  const b = new BookChecker('BTC-USDT');
  const snapshot = push(10, -1, [['3366', '6'], ['3366.1', '7']], [['3368', '8'], ['3366.8', '9']], { bids: [['3366.1', '7'], ['3366', '6']], asks: [['3366.8', '9'], ['3368', '8']] });
  assert.equal(snapshot.checksum, -1881014294);
  assert.deepEqual(b.apply('snapshot', snapshot), { ok: true, action: 'snapshot' });
  // Update: a new best bid, the 3366 bid deleted, the 3368 ask resized.
  const update = push(14, 10, [['3366.5', '1'], ['3366', '0']], [['3368', '2.5']], { bids: [['3366.5', '1'], ['3366.1', '7']], asks: [['3366.8', '9'], ['3368', '2.5']] });
  assert.deepEqual(b.apply('update', update), { ok: true, action: 'update' });
  // A no-change heartbeat carries prevSeqId == seqId.
  const heartbeat = push(14, 14, [], [], { bids: [['3366.5', '1'], ['3366.1', '7']], asks: [['3366.8', '9'], ['3368', '2.5']] });
  assert.deepEqual(b.apply('update', heartbeat), { ok: true, action: 'update' });
  const book = b.book();
  assert.equal(book.seqId, 14);
  assert.deepEqual(book.bids, levels([['3366.5', '1'], ['3366.1', '7']]));
  assert.deepEqual(book.asks, levels([['3366.8', '9'], ['3368', '2.5']]));
  assert.equal(b.snapshots, 1);
  assert.equal(b.updates, 2);
  assert.equal(b.checksumsVerified, 3);
  assert.equal(b.failureTotal, 0);
});

test('book: a second snapshot replaces the book and restarts the chain at its seqId', () => {
  const b = new BookChecker('ETH-USDT');
  b.apply('snapshot', push(5, -1, [['10', '1']], [['11', '1']], { bids: [['10', '1']], asks: [['11', '1']] }));
  assert.equal(b.apply('snapshot', push(90, -1, [['9', '2']], [], { bids: [['9', '2']], asks: [] })).ok, true);
  assert.deepEqual(b.book(), { seqId: 90, bids: levels([['9', '2']]), asks: [] });
  assert.equal(b.apply('update', push(91, 90, [['9', '0']], [], { bids: [], asks: [] })).ok, true);
});

/** A checker holding the reference book at seqId 10. */
function synced(): BookChecker {
  const b = new BookChecker('BTC-USDT');
  b.apply('snapshot', push(10, -1, [['3366.1', '7'], ['3366', '6']], [['3366.8', '9'], ['3368', '8']], { bids: [['3366.1', '7'], ['3366', '6']], asks: [['3366.8', '9'], ['3368', '8']] }));
  return b;
}
const after = { bids: [['3366.1', '7'], ['3366', '6']] as [string, string][], asks: [['3366.8', '9'], ['3368', '1']] as [string, string][] };

const failures: { name: string; kind: FailureKind; run: (b: BookChecker) => ReturnType<BookChecker['apply']> }[] = [
  { name: 'prevSeqId is not the last seqId (a gap)', kind: 'chain', run: (b) => b.apply('update', push(12, 11, [], [['3368', '1']], after)) },
  { name: 'seqId below prevSeqId', kind: 'seq_regress', run: (b) => b.apply('update', push(9, 10, [], [['3368', '1']], after)) },
  { name: 'the checksum does not match the book the update leads to', kind: 'checksum', run: (b) => b.apply('update', { ...push(11, 10, [], [['3368', '1']], after), checksum: -1881014294 }) },
  { name: 'an update deletes a level the book does not have', kind: 'unknown_level_deleted', run: (b) => b.apply('update', push(11, 10, [['3000', '0']], [], { bids: after.bids, asks: [['3366.8', '9'], ['3368', '8']] })) },
  { name: 'a level that is not [px, sz, ...] decimals', kind: 'malformed', run: (b) => b.apply('update', { ...push(11, 10, [], [], after), asks: [['3368', '1e3', '0', '1']] }) },
  { name: 'no seqId', kind: 'malformed', run: (b) => b.apply('update', { asks: [], bids: [], prevSeqId: 10, checksum: 0 }) },
  { name: 'an action that is neither snapshot nor update', kind: 'malformed', run: (b) => b.apply('partial', push(11, 10, [], [], after)) },
];

for (const f of failures) {
  test(`failure: ${f.name} -> ${f.kind}; the book is dropped until the next snapshot`, () => {
    const b = synced();
    const verdict = f.run(b);
    assert.equal(verdict.ok ? 'ok' : verdict.failure.kind, f.kind);
    assert.equal(b.failureCounts[f.kind], 1);
    assert.equal(b.failureTotal, 1);
    assert.equal(b.failures[0]?.kind, f.kind);
    assert.equal(b.isSynced, false);
    assert.equal(b.seqId, 10, 'a refused message does not move the chain');
    // What follows is ignored, not counted again, until a snapshot resynchronises.
    assert.equal(b.apply('update', push(11, 10, [], [['3368', '1']], after)).ok, false);
    assert.equal(b.failureTotal, 1);
    assert.equal(b.ignoredAfterFailure, 1);
    assert.equal(b.apply('snapshot', push(20, -1, [['1', '1']], [], { bids: [['1', '1']], asks: [] })).ok, true);
    assert.equal(b.apply('update', push(21, 20, [['1', '2']], [], { bids: [['1', '2']], asks: [] })).ok, true);
  });
}

test('failure: an update before any snapshot on the connection -> update_before_snapshot', () => {
  const b = new BookChecker('BTC-USDT');
  const verdict = b.apply('update', push(11, 10, [], [], { bids: [], asks: [] }));
  assert.equal(verdict.ok ? 'ok' : verdict.failure.kind, 'update_before_snapshot');
  assert.equal(b.failureCounts.update_before_snapshot, 1);
});

test('ledger: two connections (two clouds) at one seqId must hold the same book', () => {
  const ledger = new SeqIdLedger();
  const a = synced();
  const b = synced();
  assert.equal(ledger.record('BTC-USDT', a.seqId, a.digest(), 'client-1@cloud-a', 'cloud-a'), true);
  assert.equal(ledger.record('BTC-USDT', a.seqId, a.digest(), 'client-3@cloud-a', 'cloud-a'), true);
  assert.equal(ledger.record('BTC-USDT', b.seqId, b.digest(), 'client-2@cloud-b', 'cloud-b'), true);
  assert.equal(ledger.matched, 2);
  assert.equal(ledger.matchedAcrossOrigins, 1, 'one of them across clouds');
  b.apply('update', push(11, 10, [], [['3368', '1']], after));
  assert.equal(ledger.record('BTC-USDT', 10, b.digest(), 'client-2@cloud-b'), false, 'another book at seqId 10 is a conflict');
  assert.equal(ledger.conflictCount, 1);
  assert.match(ledger.conflicts[0]!, /^BTC-USDT@10: client-1@cloud-a saw .* client-2@cloud-b saw /);
  assert.equal(ledger.record('ETH-USDT', 10, b.digest(), 'x'), true, 'seqIds are per instrument');
});

test('ledger: one tradeId is one trade on every connection', () => {
  const trades = new TradeLedger();
  const t = { instId: 'BTC-USDT', tradeId: '7', px: '100', sz: '1', side: 'buy' };
  assert.equal(trades.record(t, 'a'), true);
  assert.equal(trades.record({ ...t }, 'b'), true);
  assert.equal(trades.record({ ...t, sz: '2' }, 'c'), false);
  assert.deepEqual([trades.seen, trades.matched, trades.conflictCount], [3, 2, 1]);
});
