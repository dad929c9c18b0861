// Behaviour of the embedded command log on real files: what is appended comes back in order
// after a restart, group commit shares fsyncs, tails see old then new records, recovery cuts
// a torn tail but refuses any damage that could hide an acknowledged record, and a full disk
// rejects appends cleanly until there is room again.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import {
  FileJournal,
  JournalBusyError,
  JournalCorruptError,
  LogError,
  JournalLockedError,
  type FileJournalOptions,
  type LogRecord,
} from '../src/log/index.js';
import { fillDisk, mountSmallDisk, smallDiskUnavailable } from './support/small-disk.js';

const headerBytes = 16;
// A safety net so that a tail that is never woken fails the run instead of hanging it; no test
// depends on how fast anything happens.
const testTimeoutMs = 30_000;

const journalsToClose = new WeakMap<TestContext, FileJournal[]>();

/** A temporary directory that is removed when the test ends, after its journals are closed. */
async function freshDirectory(t: TestContext): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'everbook-journal-'));
  const journals: FileJournal[] = [];
  journalsToClose.set(t, journals);
  t.after(async () => {
    for (const journal of journals) await journal.close();
    await rm(directory, { recursive: true, force: true });
  });
  return directory;
}

/** Opens a journal that is closed when the test ends, if the test has not closed it. */
async function openJournal(t: TestContext, directory: string, options?: FileJournalOptions): Promise<FileJournal> {
  const journal = await FileJournal.open(directory, options);
  journalsToClose.get(t)?.push(journal);
  return journal;
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function text(record: LogRecord): string {
  return new TextDecoder().decode(record.payload);
}

async function segmentFiles(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => name.endsWith('.journal')).sort();
}

async function onlySegment(directory: string): Promise<string> {
  const files = await segmentFiles(directory);
  assert.equal(files.length, 1);
  return join(directory, files[0]!);
}

async function flipByte(file: string, offsetBytes: number): Promise<void> {
  const contents = await readFile(file);
  contents[offsetBytes] = contents[offsetBytes]! ^ 0xff;
  await writeFile(file, contents);
}

/** Appends one record per text, each as its own append, and closes the journal. */
async function writeRecords(directory: string, texts: readonly string[]): Promise<void> {
  const journal = await FileJournal.open(directory);
  for (const entry of texts) await journal.append([bytes(entry)]);
  await journal.close();
}

/** A tail handler that keeps what it sees and lets the test wait for a count of records. */
function collector(): { records: LogRecord[]; handle: (record: LogRecord) => Promise<void>; until: (count: number) => Promise<void> } {
  const records: LogRecord[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  return {
    records,
    handle: async (record) => {
      // Yielding proves that delivery waits for an async handler before the next record.
      await Promise.resolve();
      records.push(record);
      for (const waiter of waiters) if (records.length >= waiter.count) waiter.resolve();
    },
    until: (count) => new Promise<void>((resolve) => {
      if (records.length >= count) resolve();
      else waiters.push({ count, resolve });
    }),
  };
}

test('Journal: appended records come back with their positions after a reopen', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await FileJournal.open(directory);
  assert.deepEqual(journal.bounds(), { first: 1, last: 0 });
  assert.equal(await journal.append([bytes('PlaceOrder 1')]), 1);
  assert.equal(await journal.append([bytes('PlaceOrder 2'), bytes('CancelOrder 1')]), 2);
  assert.equal(await journal.append([bytes('')]), 4);
  await journal.close();

  const reopened = await openJournal(t, directory);
  assert.deepEqual(reopened.recovery, { segmentsScanned: 1, lastPosition: 4, truncatedBytes: 0, truncation: null });
  assert.deepEqual(reopened.bounds(), { first: 1, last: 4 });
  const records = await reopened.read(1, 100);
  assert.deepEqual(records.map((r) => [r.position, text(r)]), [
    [1, 'PlaceOrder 1'], [2, 'PlaceOrder 2'], [3, 'CancelOrder 1'], [4, ''],
  ]);
  assert.deepEqual((await reopened.read(2, 2)).map((r) => r.position), [2, 3]);
  assert.deepEqual(await reopened.read(5, 10), []);
  assert.equal(await reopened.append([bytes('PlaceOrder 3')]), 5);
});

test('Journal: group commit: concurrent appends get contiguous positions in call order and share fsyncs', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await openJournal(t, directory);
  const appendCount = 200;
  // Append i carries 1 + (i % 3) records, so groups of different sizes interleave.
  const appends = Array.from({ length: appendCount }, (_, i) =>
    journal.append(Array.from({ length: 1 + (i % 3) }, (_, j) => bytes(`append ${i} record ${j}`))));
  const firstPositions = await Promise.all(appends);

  const expectedTexts: string[] = [];
  for (let i = 0; i < appendCount; i++) {
    assert.equal(firstPositions[i], expectedTexts.length + 1, `append ${i} starts right after append ${i - 1}`);
    for (let j = 0; j < 1 + (i % 3); j++) expectedTexts.push(`append ${i} record ${j}`);
  }
  const stored = await journal.read(1, expectedTexts.length + 1);
  assert.deepEqual(stored.map(text), expectedTexts);
  assert.deepEqual(stored.map((r) => r.position), expectedTexts.map((_, i) => i + 1));
  // A read from the middle seeks through the sparse index rather than from the segment start.
  assert.deepEqual((await journal.read(200, 3)).map(text), expectedTexts.slice(199, 202));

  const stats = journal.stats();
  assert.equal(stats.appendsDurable, appendCount);
  assert.equal(stats.recordsDurable, expectedTexts.length);
  assert.ok(stats.fsyncs >= 1);
  assert.ok(stats.fsyncs < appendCount, `${stats.fsyncs} fsyncs for ${appendCount} appends`);
});

test('Journal: a tail delivers stored records, then new ones as they become durable, in order', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await openJournal(t, directory);
  for (const n of [1, 2, 3, 4, 5]) await journal.append([bytes(`command ${n}`)]);

  const seen = collector();
  const tail = journal.tail(3, seen.handle);
  await seen.until(3);
  assert.deepEqual(seen.records.map((r) => r.position), [3, 4, 5]);

  await journal.append([bytes('command 6'), bytes('command 7')]);
  await journal.append([bytes('command 8')]);
  await seen.until(6);
  await tail.stop();
  assert.deepEqual(seen.records.map((r) => [r.position, text(r)]), [
    [3, 'command 3'], [4, 'command 4'], [5, 'command 5'], [6, 'command 6'], [7, 'command 7'], [8, 'command 8'],
  ]);

  await journal.append([bytes('command 9')]);
  assert.equal(seen.records.length, 6, 'a stopped tail delivers nothing more');
});

test('Journal: a tail from a future position waits for it, and close ends the tail', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await FileJournal.open(directory);
  const seen = collector();
  const tail = journal.tail(2, seen.handle);
  await journal.append([bytes('first'), bytes('second')]);
  await seen.until(1);
  assert.deepEqual(seen.records.map((r) => [r.position, text(r)]), [[2, 'second']]);
  await journal.close();
  await tail.ended;
});

test('Journal: a tail whose handler throws ends with that error', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await openJournal(t, directory);
  await journal.append([bytes('poison')]);
  const tail = journal.tail(1, () => {
    throw new Error('handler failed');
  });
  await assert.rejects(tail.ended, /handler failed/);
});

test('Journal: recovery: a torn tail is cut off, earlier records survive and appends continue after them', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  await writeRecords(directory, ['one', 'two', 'three']);
  const file = await onlySegment(directory);
  const fullBytes = (await readFile(file)).length;
  await truncate(file, fullBytes - 2);

  const journal = await FileJournal.open(directory);
  const frameBytes = headerBytes + 'three'.length;
  assert.equal(journal.recovery.lastPosition, 2);
  assert.equal(journal.recovery.truncatedBytes, frameBytes - 2);
  const truncation = journal.recovery.truncation;
  assert.ok(truncation !== null);
  assert.equal(truncation.file, file);
  assert.equal(truncation.offsetBytes, fullBytes - frameBytes);
  assert.match(truncation.fault, /torn record/);
  assert.equal((await readFile(file)).length, fullBytes - frameBytes);
  assert.deepEqual((await journal.read(1, 10)).map(text), ['one', 'two']);
  assert.equal(await journal.append([bytes('three again')]), 3);
  await journal.close();

  const reopened = await openJournal(t, directory);
  assert.equal(reopened.recovery.truncatedBytes, 0);
  assert.deepEqual((await reopened.read(1, 10)).map(text), ['one', 'two', 'three again']);
});

test('Journal: recovery: a header torn inside its first bytes is cut off too', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  await writeRecords(directory, ['one', 'two']);
  const file = await onlySegment(directory);
  const fullBytes = (await readFile(file)).length;
  await truncate(file, fullBytes - ('two'.length + headerBytes) + 5);

  const journal = await openJournal(t, directory);
  assert.equal(journal.recovery.truncatedBytes, 5);
  assert.deepEqual(journal.bounds(), { first: 1, last: 1 });
});

test('Journal: recovery: a flipped byte in the last complete record refuses to open, naming file and offset', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  await writeRecords(directory, ['alpha', 'bravo', 'charlie']);
  const file = await onlySegment(directory);
  const fullBytes = (await readFile(file)).length;
  const lastRecordOffset = fullBytes - (headerBytes + 'charlie'.length);
  await flipByte(file, fullBytes - 1);
  const damaged = await readFile(file);

  // The record is whole, so its fsync completed and it may have been acknowledged: not a torn write.
  await assert.rejects(FileJournal.open(directory), (error: unknown) => {
    assert.ok(error instanceof JournalCorruptError);
    assert.equal(error.file, file);
    assert.equal(error.offsetBytes, lastRecordOffset);
    assert.match(error.message, new RegExp(`${file} at byte ${lastRecordOffset}: checksum mismatch .*in a complete record, the last one`));
    return true;
  });
  assert.deepEqual(await readFile(file), damaged, 'a refused open cuts nothing');
});

test('Journal: recovery: a last record whose length field was damaged upward refuses to open (the length sits outside the checksum)', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  await writeRecords(directory, ['alpha', 'bravo', 'charlie']);
  const file = await onlySegment(directory);
  const fullBytes = (await readFile(file)).length;
  const lastRecordOffset = fullBytes - (headerBytes + 'charlie'.length);
  // One bit in the length's second byte: the record now claims 256 bytes more than the file holds,
  // so it looks like a write cut short, yet every byte of it is there and was acknowledged.
  const contents = await readFile(file);
  contents[lastRecordOffset + 1] = contents[lastRecordOffset + 1]! ^ 0x01;
  await writeFile(file, contents);

  await assert.rejects(FileJournal.open(directory), (error: unknown) => {
    assert.ok(error instanceof JournalCorruptError);
    assert.equal(error.offsetBytes, lastRecordOffset);
    assert.match(error.message, /length \d+ is damaged: the checksum holds/);
    return true;
  });
  assert.deepEqual(await readFile(file), contents, 'a refused open cuts nothing');
});

test('Journal: recovery: a zero-filled tail (the size grew before the data landed) is a torn write and is cut', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  await writeRecords(directory, ['alpha', 'bravo']);
  const file = await onlySegment(directory);
  const durableBytes = (await readFile(file)).length;
  // Two unacknowledged records whose header landed but whose last payload bytes and the record
  // after it are still zeros, as a crash can leave them on some filesystems.
  const charlie = Buffer.from(new TextEncoder().encode('charlie'));
  const journal = await FileJournal.open(directory);
  await journal.append([charlie]);
  await journal.close();
  const withCharlie = await readFile(file);
  withCharlie.fill(0, withCharlie.length - 3);
  await writeFile(file, Buffer.concat([withCharlie, Buffer.alloc(headerBytes + 20)]));

  const reopened = await openJournal(t, directory);
  assert.equal(reopened.recovery.lastPosition, 2);
  const truncation = reopened.recovery.truncation;
  assert.ok(truncation !== null);
  assert.equal(truncation.offsetBytes, durableBytes);
  assert.match(truncation.fault, /zero-filled to the end of the file/);
  assert.equal((await readFile(file)).length, durableBytes);
  await reopened.close();

  // Only zeros after the last record: cut as well.
  await appendFile(file, Buffer.alloc(4096));
  const again = await openJournal(t, directory);
  assert.equal(again.recovery.truncatedBytes, 4096);
  assert.equal(await again.append([bytes('delta')]), 3);
});

test('Journal: recovery: a flipped byte in a middle record with valid records after it refuses to open', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  await writeRecords(directory, ['alpha', 'bravo', 'charlie']);
  const file = await onlySegment(directory);
  const secondRecordOffset = headerBytes + 'alpha'.length;
  await flipByte(file, secondRecordOffset + headerBytes + 1);
  const damaged = await readFile(file);

  await assert.rejects(FileJournal.open(directory), (error: unknown) => {
    assert.ok(error instanceof JournalCorruptError);
    assert.equal(error.file, file);
    assert.equal(error.offsetBytes, secondRecordOffset);
    assert.match(error.message, new RegExp(`${file} at byte ${secondRecordOffset}: checksum mismatch`));
    assert.match(error.message, /valid record \(position 3\) follows/);
    return true;
  });
  assert.deepEqual(await readFile(file), damaged, 'a refused open leaves the file as it was');
  // The refused open released its lock, so a repaired journal can be opened by the next try.
  await flipByte(file, secondRecordOffset + headerBytes + 1);
  const repaired = await openJournal(t, directory);
  assert.equal(repaired.bounds().last, 3);
});

test('Journal: recovery: a damaged length in a middle record is found by the valid record behind it', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  await writeRecords(directory, ['alpha', 'bravo', 'charlie']);
  const file = await onlySegment(directory);
  // The length of record 2 now claims more bytes than the file has, like a torn tail would.
  await flipByte(file, headerBytes + 'alpha'.length + 1);
  await assert.rejects(FileJournal.open(directory), JournalCorruptError);
});

test('Journal: recovery: damage in a segment that is not the last refuses to open', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  // 100-byte payloads make 116-byte records; three fit in a 350-byte segment.
  const options = { segmentBytesMax: 350, recordBytesMax: 100 };
  const journal = await FileJournal.open(directory, options);
  for (let n = 1; n <= 5; n++) await journal.append([new Uint8Array(100).fill(n)]);
  await journal.close();
  const [first] = await segmentFiles(directory);
  await flipByte(join(directory, first!), 3 * 116 - 1);

  await assert.rejects(FileJournal.open(directory, options), (error: unknown) => {
    assert.ok(error instanceof JournalCorruptError);
    assert.match(error.message, /byte 232: checksum mismatch .*, in a segment that is not the last/);
    return true;
  });
});

test('Journal: recovery: a missing segment in the middle is a gap and refuses to open', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const options = { segmentBytesMax: 350, recordBytesMax: 100 };
  const journal = await FileJournal.open(directory, options);
  for (let n = 1; n <= 9; n++) await journal.append([new Uint8Array(100).fill(n)]);
  await journal.close();
  const files = await segmentFiles(directory);
  assert.equal(files.length, 3);
  await unlink(join(directory, files[1]!));

  await assert.rejects(FileJournal.open(directory, options),
    /segment starts at position 7, but the one before it ends at 3/);
});

test('Journal: segments roll at segmentBytesMax and dropBefore deletes only whole segments behind the position', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const options = { segmentBytesMax: 350, recordBytesMax: 100 };
  const journal = await FileJournal.open(directory, options);
  const payload = (n: number): Uint8Array => new Uint8Array(100).fill(n);
  // One append spanning several segments still gets one contiguous run of positions.
  assert.equal(await journal.append([1, 2, 3, 4, 5, 6, 7].map(payload)), 1);
  assert.equal(await journal.append([payload(8), payload(9), payload(10)]), 8);
  assert.deepEqual(await segmentFiles(directory), [
    '00000000000000000001.journal', '00000000000000000004.journal',
    '00000000000000000007.journal', '00000000000000000010.journal',
  ]);

  await journal.dropBefore(6);
  assert.equal((await segmentFiles(directory)).length, 3, 'segment 4..6 still holds position 6');
  await journal.dropBefore(7);
  assert.deepEqual(await segmentFiles(directory), ['00000000000000000007.journal', '00000000000000000010.journal']);
  assert.deepEqual(journal.bounds(), { first: 7, last: 10 });
  await assert.rejects(journal.read(3, 1), { code: 'position_dropped' });
  assert.deepEqual((await journal.read(7, 10)).map((r) => [r.position, r.payload[0]]), [[7, 7], [8, 8], [9, 9], [10, 10]]);

  await journal.dropBefore(1_000);
  assert.deepEqual(await segmentFiles(directory), ['00000000000000000010.journal'], 'the last segment is always kept');
  await journal.close();

  const reopened = await openJournal(t, directory, options);
  assert.deepEqual(reopened.bounds(), { first: 10, last: 10 });
  assert.equal(await reopened.append([payload(11)]), 11);
});

test('Journal: a tail follows the end from memory and reads what memory no longer holds from the file: the same bytes, in order, either way', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  // Memory holds the newest three records of 16 + 20 bytes, no more.
  const journal = await openJournal(t, directory, { tailCacheBytesMax: 3 * (headerBytes + 20) });
  const payload = (n: number): Uint8Array => bytes(`record number ${String(n).padStart(6, '0')}`);
  for (let n = 1; n <= 10; n++) await journal.append([payload(n)]);
  const seen = collector();
  const tail = journal.tail(1, seen.handle);
  await seen.until(10);
  await journal.append([payload(11), payload(12)]);
  await seen.until(12);
  await tail.stop();
  assert.deepEqual(seen.records.map((r) => [r.position, text(r)]), Array.from({ length: 12 }, (_, i) => [i + 1, text({ position: i + 1, payload: payload(i + 1) })]));
  // The file holds what the tail was given.
  assert.deepEqual((await journal.read(1, 100)).map(text), seen.records.map(text));
});

test('Journal: a tail from a position dropped with its segment fails as position_dropped, though memory still holds the record', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await openJournal(t, directory, { segmentBytesMax: 350, recordBytesMax: 100 });
  await journal.append([1, 2, 3, 4, 5, 6, 7].map((n) => new Uint8Array(100).fill(n)));
  await journal.dropBefore(7);
  assert.deepEqual(journal.bounds(), { first: 7, last: 7 });
  const tail = journal.tail(6, () => undefined);
  await assert.rejects(tail.ended, { code: 'position_dropped' });
});

test('Journal: a record larger than recordBytesMax is rejected and takes no position', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await openJournal(t, directory, { recordBytesMax: 64 });
  await assert.rejects(journal.append([new Uint8Array(10), new Uint8Array(65)]), (error: unknown) => {
    assert.ok(error instanceof LogError);
    assert.equal(error.code, 'record_too_large');
    assert.match(error.message, /payload 1 has 65 bytes, recordBytesMax is 64/);
    return true;
  });
  await assert.rejects(journal.append([]), { code: 'append_empty' });
  assert.equal(await journal.append([new Uint8Array(64)]), 1);
});

test('Journal: appends beyond the queue bound are rejected as busy until earlier ones are durable', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await openJournal(t, directory, { queuedRecordsMax: 4 });
  const accepted = [1, 2, 3, 4].map((n) => journal.append([bytes(`order ${n}`)]));
  await assert.rejects(journal.append([bytes('order 5')]), JournalBusyError);
  await assert.rejects(journal.append(['a', 'b', 'c', 'd', 'e'].map(bytes)), { code: 'append_too_large' });
  assert.deepEqual(await Promise.all(accepted), [1, 2, 3, 4]);
  assert.equal(await journal.append([bytes('order 5')]), 5, 'a busy rejection consumes no position');
});

test('Journal: the lock keeps a second opener out until the first closes', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await FileJournal.open(directory);
  await assert.rejects(FileJournal.open(directory), (error: unknown) => {
    assert.ok(error instanceof JournalLockedError);
    assert.equal(error.holderPid, process.pid);
    return true;
  });
  await journal.close();
  const second = await openJournal(t, directory);
  assert.equal(second.bounds().last, 0);
});

test('Journal: a lock left by a process that has exited is taken over', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const exited = spawnSync(process.execPath, ['-e', '']);
  assert.equal(exited.status, 0);
  await writeFile(join(directory, 'LOCK'), `${exited.pid}\n`);
  const journal = await openJournal(t, directory);
  assert.equal(await journal.append([bytes('after a crash')]), 1);
});

test('Journal: close waits for in-flight appends, then refuses new ones', { timeout: testTimeoutMs }, async (t) => {
  const directory = await freshDirectory(t);
  const journal = await FileJournal.open(directory);
  const settled: number[] = [];
  const appends = [1, 2, 3].map((n) => journal.append([bytes(`order ${n}`)]).then((position) => { settled.push(position); }));
  await journal.close();
  assert.deepEqual(settled.sort(), [1, 2, 3]);
  await Promise.all(appends);
  await assert.rejects(journal.append([bytes('late')]), { code: 'closed' });

  const reopened = await openJournal(t, directory);
  assert.equal(reopened.bounds().last, 3);
});

test('Journal: a full disk rejects the append as no_space, leaves nothing of it on disk, and the next append after space is freed continues the positions', { timeout: testTimeoutMs }, async (t) => {
  const unavailable = smallDiskUnavailable();
  if (unavailable !== null) {
    t.diagnostic(`skipped: ${unavailable}`);
    t.skip(unavailable);
    return;
  }
  const diskMiB = 8;
  const disk = await mountSmallDisk(diskMiB);
  let journal: FileJournal | undefined;
  try {
    const directory = join(disk.dir, 'journal');
    // Records larger than a page, so an append needs new pages and a short write can happen.
    const record = (n: number): Uint8Array => new Uint8Array(20_000).fill(n);
    journal = await FileJournal.open(directory);
    assert.equal(await journal.append([record(1)]), 1);
    assert.equal(await journal.append([record(2)]), 2);
    const file = await onlySegment(directory);
    const durableBytes = (await stat(file)).size;

    const filler = join(disk.dir, 'filler');
    await fillDisk(filler, diskMiB);
    // Two appends made in one tick go out as one group of three records: all of them are refused.
    const refused = [journal.append([record(3)]), journal.append([record(4), record(5)])];
    for (const append of refused) {
      await assert.rejects(append, (error: unknown) => {
        assert.ok(error instanceof LogError);
        assert.equal(error.code, 'no_space');
        return true;
      });
    }
    assert.equal((await stat(file)).size, durableBytes, 'what the failed write put down was cut off again');
    assert.equal(journal.writeProblem()?.code, 'no_space');
    assert.equal(await journal.probeSpace(), false, 'the probe finds no room yet');
    await assert.rejects(journal.append([record(3)]), { code: 'no_space' }, 'the next append tries again, and fails again');
    assert.deepEqual(journal.bounds(), { first: 1, last: 2 });

    await unlink(filler);
    assert.equal(await journal.probeSpace(), true, 'the probe finds room');
    assert.equal(journal.writeProblem(), null);
    assert.equal(await journal.append([record(3)]), 3, 'positions continue after the durable end');
    await journal.close();
    journal = await FileJournal.open(directory);
    assert.equal(journal.recovery.truncatedBytes, 0);
    assert.deepEqual((await journal.read(1, 10)).map((r) => r.payload[0]), [1, 2, 3]);
  } finally {
    await journal?.close();
    await disk.remove();
  }
});
