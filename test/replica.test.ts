// The replica and the submitter over a real file journal: results come back to the request
// that wrote them, concurrent requests are group-committed into fewer records, a submission that
// reaches the log after its deadline is refused without touching the state, a replica whose
// snapshot is past the log's end refuses to start, and a replica that stops answers every
// request still waiting for it at once. Also: the record codec's bytes, the one log-error table,
// the submitter's record sizing, and the queries a gateway reads through.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rename, rm, stat, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import pino from 'pino';
import { SubmitError } from '../src/replica/index.js';
import { FileJournal, LogError, type CommandLog, type FileJournalOptions } from '../src/log/index.js';
import { MemoryProjections } from '../src/projections/index.js';
import type { Result } from '../src/core/index.js';
import { venue } from './support/memory-port.js';
import {
  classifyLogError, compressRecord, COMPRESS_FROM_BYTES, decodeBatch, encodeBatch, encodeRecord, encodeSubmission, RECORD_BYTES_MAX, RecordDecodeError, Replica, SnapshotStore, Submitter, type LogBatch, type SubmissionOutcome,
} from '../src/replica/index.js';

function results(outcome: SubmissionOutcome): Result[] {
  if ('refused' in outcome) throw new Error(`submission refused: ${outcome.refused}`);
  return outcome;
}

interface NodeOptions {
  readonly applyTimeoutMs?: number;
  readonly onFatal?: (e: Error) => void;
  readonly compactLog?: boolean;
  readonly checkpointEveryCommands?: number;
  readonly journal?: FileJournalOptions;
  readonly compressRecords?: boolean;
}

/**
 * A request's wait for its record to be applied, long enough that a request nobody answers
 * hangs until the test's own timeout fails it (nothing in these tests waits on a clock).
 */
const applyTimeoutForeverMs = 3_600_000;

async function node(dir: string, options: NodeOptions = {}): Promise<{ journal: FileJournal; replica: Replica; submitter: Submitter; close: () => Promise<void> }> {
  const journal = await FileJournal.open(join(dir, 'journal'), options.journal);
  const replica = new Replica({
    log: journal, snapshots: new SnapshotStore(join(dir, 'snapshots')), checkpointEveryCommands: options.checkpointEveryCommands ?? 1_000,
    compactLog: options.compactLog ?? false,
    createProjections: (engine, saved) => (saved === undefined ? new MemoryProjections(engine) : MemoryProjections.fromJSON(engine, saved)),
    logger: pino({ level: 'silent' }), onFatal: options.onFatal ?? ((e) => { throw e; }),
  });
  try {
    await replica.start();
  } catch (error: unknown) {
    await journal.close();
    throw error;
  }
  const submitter = new Submitter(journal, replica, { inFlightMax: 1_000, applyTimeoutMs: options.applyTimeoutMs ?? 5_000, commandTtlMs: 1_500, now: Date.now, cloud: 'local',
    ...(options.compressRecords !== undefined && { compressRecords: options.compressRecords }),
  });
  return { journal, replica, submitter, close: async () => { await replica.stop(); await journal.close(); } };
}

/** Three users created, then a clean stop that writes a snapshot at position 3 (the journal's end). */
async function stopCleanlyAtPosition3(dir: string): Promise<void> {
  const n = await node(dir);
  for (let i = 0; i < 3; i++) await n.submitter.submit([{ type: 'CreateUser' }]);
  await n.replica.snapshotNow();
  assert.equal(n.replica.lastSnapshot.position, 3);
  await n.close();
}

async function journalSegments(dir: string): Promise<string[]> {
  return (await readdir(join(dir, 'journal'))).filter((f) => f.endsWith('.journal')).map((f) => join(dir, 'journal', f));
}

/** Rejects a submission's answer if it is a SubmitError with this code; anything else fails the test. */
async function refusedWith(answer: Promise<unknown>, code: SubmitError['code'], message: RegExp): Promise<void> {
  await assert.rejects(answer, (error: unknown) => {
    assert.ok(error instanceof SubmitError, `a SubmitError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

test('Replica: each request gets its own results; concurrent requests share records (group commit)', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const n = await node(dir);
    const results = await Promise.all(Array.from({ length: 200 }, () => n.submitter.submit([{ type: 'CreateUser' }])));
    const ids = results.map((r) => (r[0]?.ok === true ? r[0].userId : undefined));
    assert.deepEqual([...ids].sort((a, b) => a! - b!), Array.from({ length: 200 }, (_, i) => i + 1), 'every request got a distinct user id');
    assert.equal(n.submitter.submissions, 200);
    assert.ok(n.submitter.records < 200, `200 requests went out in ${n.submitter.records} records`);
    assert.equal(n.replica.engine.nextUserId, 201);
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Replica: a submission that reaches the log after its deadline is refused, and changes nothing', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const n = await node(dir);
    await n.submitter.submit([{ type: 'CreateUser' }]);
    const seqBefore = n.replica.engine.seq;
    const now = Date.now();
    const late = n.replica.expect('late-gateway', 1);
    const onTime = n.replica.expect('late-gateway', 2);
    await n.journal.append([encodeBatch({
      ts: now, origin: 'late-gateway', cloud: 'local',
      items: [
        { rid: 1, deadline: now - 1, cmds: [{ type: 'CreateUser' }, { type: 'CreateUser' }] },
        { rid: 2, deadline: now + 60_000, cmds: [{ type: 'CreateUser' }] },
      ],
    })]);
    const lateResults = results((await late).outcome);
    assert.deepEqual(lateResults.map((r) => (r.ok ? 'ok' : r.reject.code)), ['command_expired', 'command_expired']);
    assert.deepEqual(results((await onTime).outcome).map((r) => r.ok), [true]);
    assert.equal(n.replica.engine.seq, seqBefore + 1, 'only the submission within its deadline was applied');
    assert.equal(n.replica.engine.nextUserId, 3);
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Replica: restart: a snapshot past the journal\'s end (7 bytes cut off its tail) refuses to start, naming both positions', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    await stopCleanlyAtPosition3(dir);
    const [segment] = await journalSegments(dir);
    await truncate(segment!, (await stat(segment!)).size - 7);
    // The journal cuts the torn record 3; the snapshot includes it, so serving would write a new
    // record 3 and never apply it.
    await assert.rejects(node(dir), /newest usable snapshot is at position 3, but the log ends at position 2.*Restore the log/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Replica: restart: a deleted journal with its snapshots kept refuses to start', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    await stopCleanlyAtPosition3(dir);
    await rm(join(dir, 'journal'), { recursive: true });
    await assert.rejects(node(dir), /newest usable snapshot is at position 3, but the log ends at position 0/);
    // The operator's deliberate way out: move the snapshots aside and start from the log alone.
    await rename(join(dir, 'snapshots'), join(dir, 'snapshots-moved-aside'));
    const n = await node(dir);
    assert.equal(n.replica.appliedPosition, 0);
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Replica: restart: after compaction dropped every segment behind the snapshot, the journal keeps its last position and the node starts', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    // Segments this small hold one or two records each.
    const journal = { recordBytesMax: 300, segmentBytesMax: 316 };
    const first = await node(dir, { compactLog: true, journal });
    for (let i = 0; i < 3; i++) await first.submitter.submit([{ type: 'CreateUser' }]);
    assert.ok((await journalSegments(dir)).length >= 2);
    await first.replica.snapshotNow();
    // Everything before the snapshot may go; the journal keeps its last segment, so its end stays 3.
    await first.journal.dropBefore(4);
    assert.equal((await journalSegments(dir)).length, 1);
    await first.close();
    const again = await node(dir, { compactLog: true, journal });
    assert.equal(again.replica.appliedPosition, 3);
    assert.equal(again.journal.bounds().last, 3);
    const [result] = await again.submitter.submit([{ type: 'CreateUser' }]);
    assert.deepEqual(result, { ok: true, userId: 4 });
    assert.equal(again.replica.appliedPosition, 4, 'the next record took position 4 and was applied');
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Replica: fail(): a request waiting for its record is answered at once, outcome unknown; later requests are refused', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const fatal: Error[] = [];
    const n = await node(dir, { applyTimeoutMs: applyTimeoutForeverMs, onFatal: (e) => { fatal.push(e); } });
    // An unreadable record goes into the same group just before the request's record: applying it
    // stops the replica, and the request's record is never applied here.
    const poison = n.journal.append([new TextEncoder().encode('not a batch')]);
    const waiting = n.submitter.submit([{ type: 'CreateUser' }]);
    assert.equal(await poison, 1);
    await refusedWith(waiting, 'timeout', /replica stopped: .*outcome unknown/);
    assert.equal(n.replica.state, 'failed');
    assert.equal(fatal.length, 1);
    await refusedWith(n.submitter.submit([{ type: 'CreateUser' }]), 'unavailable', /replica is failed/);
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Replica: diverge(): a request waiting for its record is answered at once, outcome unknown', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const n = await node(dir, { applyTimeoutMs: applyTimeoutForeverMs });
    const waiting = n.submitter.submit([{ type: 'CreateUser' }]);
    n.replica.diverge('state hash differs from two peers at position 0');
    await refusedWith(waiting, 'timeout', /diverged from its peers .*outcome unknown/);
    await refusedWith(n.submitter.submit([{ type: 'CreateUser' }]), 'unavailable', /replica is diverged/);
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Replica: a log that hands out a position the replica already applied stops the replica, and the request is answered', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  const otherDir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const fatal: Error[] = [];
    const n = await node(dir, { applyTimeoutMs: applyTimeoutForeverMs, onFatal: (e) => { fatal.push(e); } });
    for (let i = 0; i < 3; i++) await n.submitter.submit([{ type: 'CreateUser' }]);
    // A fresh, empty journal stands in for a log that lost its records: it hands out position 1 again.
    const lost = await FileJournal.open(otherDir);
    const submitter = new Submitter(lost, n.replica, { inFlightMax: 10, applyTimeoutMs: applyTimeoutForeverMs, commandTtlMs: 1_500, now: Date.now, cloud: 'local' });
    await refusedWith(submitter.submit([{ type: 'CreateUser' }]), 'timeout', /stored a record at position 1, but this replica had already applied up to 3/);
    assert.equal(n.replica.state, 'failed');
    assert.equal(fatal.length, 1);
    await lost.close();
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
    await rm(otherDir, { recursive: true, force: true });
  }
});

test('Codec: a record is byte for byte the JSON of its envelope and submissions (the format the log already holds)', () => {
  const batch = {
    ts: 1_700_000_000_000, origin: 'host/1/abcd', cloud: 'aws',
    items: [{ rid: 1, deadline: 5, cmds: [{ type: 'CreateUser' as const }] }, { rid: 2, deadline: 6, cmds: [], sig: { d: 'A'.repeat(22), ts: 3 } }],
  };
  const bytes = encodeBatch(batch);
  assert.equal(new TextDecoder().decode(bytes), JSON.stringify({ v: 4, ts: batch.ts, origin: batch.origin, cloud: batch.cloud, items: batch.items }));
  assert.deepEqual(decodeBatch(bytes), batch);
});

test('Codec: characters beyond ASCII (two, three and four UTF-8 bytes, and an escaped lone surrogate) encode as JSON.stringify of the whole record', () => {
  const batch = {
    ts: 1_700_000_000_000, origin: 'hôte/1/€', cloud: 'aws',
    items: [
      { rid: 1, deadline: 5, cmds: [{ type: 'PlaceOrder', clOrdId: 'é€😀', note: 'lone \ud800 surrogate' } as never] },
      { rid: 2, deadline: 6, cmds: [{ type: 'CreateUser' as const }] },
    ],
  };
  const bytes = encodeBatch(batch);
  assert.deepEqual(bytes, new TextEncoder().encode(JSON.stringify({ v: 4, ts: batch.ts, origin: batch.origin, cloud: batch.cloud, items: batch.items })));
  assert.deepEqual(decodeBatch(bytes), batch);
});

/** A record of `orders` limit orders with signatures, as a busy gateway writes one. */
function ordersBatch(orders: number): LogBatch & { readonly cloud: string } {
  return {
    ts: 1_700_000_000_000, origin: 'host/1/abcd', cloud: 'aws',
    items: Array.from({ length: orders }, (_, i) => ({
      rid: i + 1, deadline: 1_700_000_001_500 + i, sig: { d: `${'A'.repeat(21)}${i % 10}`, ts: 1_700_000_000_000 + i },
      cmds: [{ type: 'PlaceOrder' as const, userId: 1 + (i % 7), instId: 'BTC-USDT', side: i % 2 === 0 ? 'buy' as const : 'sell' as const, orderType: 'limit' as const, priceTicks: 500_000 + i, sizeLots: 10, clOrdId: `é${i}` }],
    })),
  };
}

test('Codec: a compressed record is the mark, the method and the raw deflate of the same JSON, and decodes to the same batch', () => {
  for (const orders of [1, 6, 2_000]) {
    const batch = ordersBatch(orders);
    const json = encodeBatch(batch);
    const stored = compressRecord(json);
    assert.deepEqual([stored[0], stored[1]], [0xeb, 1]);
    assert.deepEqual(inflateRawSync(stored.subarray(2)), Buffer.from(json), `${orders} orders: the deflated bytes are the JSON record`);
    assert.deepEqual(decodeBatch(stored), batch);
    if (orders > 1) assert.ok(stored.byteLength * 4 < json.byteLength, `${orders} orders: ${stored.byteLength} bytes compressed against ${json.byteLength}`);
  }
});

test('Codec: a compressed record is refused when its method is unknown, its stream is cut, damaged or followed by other bytes, or it inflates past the record bound', () => {
  const stored = compressRecord(encodeBatch(ordersBatch(50)));
  const withMethod2 = Uint8Array.from(stored);
  withMethod2[1] = 2;
  assert.throws(() => decodeBatch(withMethod2), (e: unknown) => e instanceof RecordDecodeError && /unknown method \(2\)/.test(e.message));
  assert.throws(() => decodeBatch(stored.subarray(0, stored.byteLength - 10)), RecordDecodeError, 'cut');
  const damaged = Uint8Array.from(stored);
  damaged[10] = damaged[10]! ^ 0xff;
  assert.throws(() => decodeBatch(damaged), RecordDecodeError, 'damaged');
  const trailing = Buffer.concat([stored, Buffer.from([0x20])]);
  assert.throws(() => decodeBatch(trailing), (e: unknown) => e instanceof RecordDecodeError && /1 bytes after its deflate stream/.test(e.message));
  // A small record that inflates to a mebibyte and a byte of JSON whitespace: refused before it is parsed.
  const bomb = deflateRawSync(Buffer.alloc(RECORD_BYTES_MAX + 1, 0x20));
  assert.ok(bomb.length < 2_048);
  assert.throws(() => decodeBatch(Buffer.concat([Buffer.from([0xeb, 1]), bomb])), (e: unknown) => e instanceof RecordDecodeError && /does not inflate/.test(e.message));
  assert.throws(() => compressRecord(new Uint8Array(RECORD_BYTES_MAX + 1)), RangeError);
});

test('Submitter: with compressRecords, records from COMPRESS_FROM_BYTES up are stored compressed and smaller ones as JSON; both apply', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const n = await node(dir, { compressRecords: true });
    const small = n.journal.bounds().last + 1;
    const [user] = await n.submitter.submit([{ type: 'CreateUser' }]);
    assert.equal(user?.ok, true);
    // Twenty users in one request: a record well past the bound.
    const big = n.journal.bounds().last + 1;
    const users = await n.submitter.submit(Array.from({ length: 20 }, () => ({ type: 'CreateUser' as const })));
    assert.equal(users.filter((r) => r.ok).length, 20);
    const [smallRecord] = await n.journal.read(small, 1);
    const [bigRecord] = await n.journal.read(big, 1);
    assert.ok(smallRecord!.payload.byteLength < COMPRESS_FROM_BYTES);
    assert.equal(smallRecord!.payload[0], '{'.charCodeAt(0), 'a small record stays JSON');
    assert.equal(bigRecord!.payload[0], 0xeb, 'a large record is compressed');
    assert.ok(encodeBatch({ ...decodeBatch(bigRecord!.payload), cloud: 'local' }).byteLength >= COMPRESS_FROM_BYTES);
    assert.equal(n.submitter.recordBytes, smallRecord!.payload.byteLength + bigRecord!.payload.byteLength);
    await n.close();
    // A restart replays both from the journal.
    const again = await node(dir, { compressRecords: true });
    assert.equal(again.replica.appliedPosition, big);
    await again.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Submitter: requests past their deadline are answered outcome unknown; those still queued then are never written', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const n = await node(dir);
    const journal = n.journal;
    let release!: () => void;
    const released = new Promise<void>((resolve) => { release = resolve; });
    const written: number[][] = [];
    // Holds every append until released, and keeps which request ids each record carried.
    const held: CommandLog = {
      append: async (payloads) => {
        written.push(payloads.flatMap((p) => decodeBatch(p).items.map((item) => item.rid)));
        await released;
        return journal.append(payloads);
      },
      tail: (from, onRecord) => journal.tail(from, onRecord),
      read: (from, maxRecords) => journal.read(from, maxRecords),
      bounds: () => journal.bounds(),
      dropBefore: (position) => journal.dropBefore(position),
      close: () => journal.close(),
    };
    // One record in the log's hands at a time: the first request's record is held, the next two wait in the queue.
    const submitter = new Submitter(held, n.replica, { inFlightMax: 10, applyTimeoutMs: 100, commandTtlMs: 60_000, now: Date.now, cloud: 'local', recordsInFlightMax: 1 });
    const first = submitter.submit([{ type: 'CreateUser' }]);
    await new Promise((resolve) => setImmediate(resolve));
    const queued = [submitter.submit([{ type: 'CreateUser' }]), submitter.submit([{ type: 'CreateUser' }])];
    for (const answer of [first, ...queued]) await refusedWith(answer, 'timeout', /not applied in time, outcome unknown/);
    assert.equal(submitter.inFlight, 0);
    assert.deepEqual(written, [[1]]);

    release();
    const after = await submitter.submit([{ type: 'CreateUser' }]);
    assert.equal(after.length, 1);
    assert.deepEqual(written, [[1], [4]], 'the requests that expired in the queue were never written');
    // The first request's record did land: its outcome was unknown, not failed.
    assert.equal(n.replica.engine.nextUserId, 3);
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Submitter: one error table for both logs: refusals before writing are busy or unavailable, anything else outcome unknown', () => {
  const cases: [LogError, SubmitError['code']][] = [
    [new LogError('busy'), 'busy'], [new LogError('append_too_large'), 'busy'], [new LogError('record_too_large'), 'busy'],
    [new LogError('closed'), 'unavailable'], [new LogError('failed'), 'unavailable'], [new LogError('no_space'), 'unavailable'],
    [new LogError('write_failed'), 'timeout'], [new LogError('outcome_unknown'), 'timeout'], [new LogError('unavailable'), 'timeout'],
  ];
  for (const [error, code] of cases) assert.equal(classifyLogError(error).code, code, error.code);
  assert.equal(classifyLogError(new Error('socket hang up')).code, 'timeout');
});

test('Submitter: submissions sized by their encoded bytes: three that together overflow a record by one byte go out in two', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const n = await node(dir);
    const sizes: number[] = [];
    const journal = n.journal;
    const spy: CommandLog = {
      append: (payloads) => { sizes.push(...payloads.map((p) => p.length)); return journal.append(payloads); },
      tail: (from, onRecord) => journal.tail(from, onRecord),
      read: (from, maxRecords) => journal.read(from, maxRecords),
      bounds: () => journal.bounds(),
      dropBefore: (position) => journal.dropBefore(position),
      close: () => journal.close(),
    };
    const now = Date.now();
    const submitter = new Submitter(spy, n.replica, { inFlightMax: 10, applyTimeoutMs: 5_000, commandTtlMs: 1_500, now: () => now, cloud: 'local' });
    // Pad three submissions so that one record holding all three, with its envelope and the two
    // commas between them, is exactly one byte over the bound.
    const envelope = encodeRecord({ ts: now, origin: submitter.origin, cloud: 'local' }, []).length;
    const itemBytes = (padLength: number): number => encodeSubmission({ rid: 2, deadline: now + 1_500, cmds: [{ type: 'CreateUser', pad: 'x'.repeat(padLength) } as never] }).length;
    const base = itemBytes(0);
    const padLength = Math.ceil((RECORD_BYTES_MAX + 1 - envelope - 2) / 3) - base;
    const submit = (): Promise<Result[]> => submitter.submit([{ type: 'CreateUser', pad: 'x'.repeat(padLength) } as never]);
    // Submitted together, they are queued together: the first record takes two, the next one.
    const answers = await Promise.all([submit(), submit(), submit()]);
    assert.equal(answers.length, 3);
    for (const size of sizes) assert.ok(size <= RECORD_BYTES_MAX, `a record of ${size} bytes, the bound is ${RECORD_BYTES_MAX}`);
    assert.equal(sizes.length, 2, `records of ${sizes.join(', ')} bytes`);
    // One that cannot fit in a record with its envelope is refused before anything is written.
    await refusedWith(submitter.submit([{ type: 'CreateUser', pad: 'x'.repeat(RECORD_BYTES_MAX - 40) } as never]), 'busy', /too large for one log record/);
    assert.equal(sizes.length, 2);
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Queries: the gateway\'s reads are plain records: instrument rules, a book to a depth best first, balances and fees', () => {
  const { port, alice } = venue({ makerFeePpm: 100, takerFeePpm: 200 });
  for (const [side, priceTicks] of [['sell', 2_000_100], ['sell', 2_000_000], ['sell', 2_000_000], ['buy', 1_999_900], ['buy', 1_999_800]] as const) {
    const [r] = port.applyNow([{ type: 'PlaceOrder', userId: alice.userId, instId: 'BTC-USDT', side, orderType: 'limit', priceTicks, sizeLots: 10 }]);
    assert.equal(r?.ok, true);
  }
  const q = port.queries;
  assert.deepEqual(q.instruments().map((i) => i.instId), ['BTC-USDT', 'ETH-USDT']);
  const btc = q.instrument('BTC-USDT')!;
  assert.deepEqual(
    [btc.priceDecimals, btc.tickUnits, btc.sizeDecimals, btc.lotUnitsDecimal, btc.minLots, btc.maxLots, btc.baseScale, btc.quoteScale, btc.state],
    [2, 1, 4, 1, 10, 10_000_000, 8, 6, 'live'],
  );
  assert.equal(q.instrument('DOGE-USDT'), undefined);
  const book = q.book('BTC-USDT', 1)!;
  assert.deepEqual(book.asks, [{ priceTicks: 2_000_000, sizeLots: 20, orders: 2 }]);
  assert.deepEqual(book.bids, [{ priceTicks: 1_999_900, sizeLots: 10, orders: 1 }]);
  assert.deepEqual([book.askOrders, book.bidOrders], [3, 2]);
  assert.deepEqual(q.book('BTC-USDT', 5)!.asks.map((l) => l.priceTicks), [2_000_000, 2_000_100]);
  assert.equal(q.book('DOGE-USDT', 5), undefined);
  const account = q.account(alice.userId)!;
  assert.deepEqual([account.makerFeePpm, account.takerFeePpm], [100, 200]);
  const btcBalance = account.balances.find((b) => b.asset === 'BTC')!;
  // 30 lots of 10_000 satoshi are held by the three asks.
  assert.deepEqual([btcBalance.available + btcBalance.held, btcBalance.held], [1_000_000_000n, 300_000n]);
  assert.equal(q.account(999), undefined);
  assert.equal(q.asset('USDT')?.scale, 6);
  assert.equal(q.openOrders(alice.userId, { limit: 100 }).length, 5);
});

test('Submitter: a heartbeat is an empty record naming its cloud, written only when nothing went out for the idle time', { timeout: 30_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-replica-'));
  try {
    const n = await node(dir);
    await n.submitter.submit([{ type: 'CreateUser' }]);
    assert.equal(await n.submitter.heartbeat(60_000), false, 'a record just went out: no heartbeat');
    const before = n.journal.bounds().last;
    assert.equal(await n.submitter.heartbeat(0), true);
    assert.equal(n.journal.bounds().last, before + 1, 'one record written');
    const [written] = await n.journal.read(before + 1, 1);
    const batch = decodeBatch(written!.payload);
    assert.deepEqual(batch.items, [], 'no submissions');
    assert.equal(batch.cloud, 'local');
    // Applied in order: once a later submission is applied, so is the heartbeat before it.
    await n.submitter.submit([{ type: 'CreateUser' }]);
    assert.ok(n.replica.appliedPosition >= before + 2);
    assert.ok((n.replica.guard.clocks().get('local')?.lastTs ?? 0) >= batch.ts, 'the guard counts the cloud as writing');
    await n.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
