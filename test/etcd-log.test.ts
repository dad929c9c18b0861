// The etcd command log against a real three-member etcd cluster on loopback (no mocks): order and
// positions, concurrent writers, idempotent retries, a leader SIGKILL in the middle of a stream of
// appends, compaction and KV helpers. Each test uses its own key prefix; the compaction test runs
// last because etcd compacts the history of the whole cluster, not of one prefix.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { LogEtcdClient, LogKeys, writeOnce } from '../src/log/etcd-client.js';
import {
  EtcdLog,
  LogError,
  LogCompactedError,
  needsSnapshot,
  type EtcdLogOptions,
  type LogRecord,
  type TailHandle,
} from '../src/log/index.js';
import { startEtcdCluster, type EtcdCluster } from './support/etcd-cluster.js';

let cluster: EtcdCluster;
before(async () => { cluster = await startEtcdCluster(3); });
after(async () => { await cluster.stop(); });

let prefixes = 0;
const freshPrefix = (): string => `test/t${++prefixes}-${Date.now()}`;

function openLog(prefix: string, writerId: string, extra: Partial<EtcdLogOptions> = {}): Promise<EtcdLog> {
  return EtcdLog.open({ hosts: cluster.endpoints, prefix, writerId, ...extra });
}

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (record: LogRecord): string => new TextDecoder().decode(record.payload);

interface Collector {
  readonly records: LogRecord[];
  readonly handle: TailHandle;
  /** Resolves once `count` records arrived; rejects if the tail ends first or time runs out. */
  waitFor(count: number, timeoutMs: number): Promise<void>;
}

/** Tails `log` from `from`; with handlerDelayMs, an async handler that checks it never overlaps itself. */
function collect(log: EtcdLog, from: number, handlerDelayMs = 0): Collector {
  const records: LogRecord[] = [];
  let wake: (() => void) | null = null;
  let running = false;
  const handle = log.tail(from, async (record) => {
    assert.ok(!running, 'the tail awaits its handler before delivering the next record');
    running = true;
    if (handlerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, handlerDelayMs));
    records.push(record);
    running = false;
    wake?.();
  });
  return {
    records,
    handle,
    async waitFor(count: number, timeoutMs: number): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      while (records.length < count) {
        const leftMs = deadline - Date.now();
        if (leftMs <= 0) throw new Error(`tail delivered ${records.length} of ${count} records in ${timeoutMs} ms`);
        await Promise.race([
          new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, Math.min(leftMs, 100)); }),
          handle.ended.then(() => { throw new Error('the tail ended early'); }),
        ]);
      }
    },
  };
}

/** Reads every record from `from` on, page by page (bounded by `pagesMax`). */
async function readAll(log: EtcdLog, from: number, pagesMax = 1_000): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  let next = from;
  for (let page = 0; page < pagesMax; page++) {
    const got = await log.read(next, 64);
    if (got.length === 0) return records;
    records.push(...got);
    next = got.at(-1)!.position + 1;
  }
  throw new Error(`more than ${pagesMax} pages`);
}

function assertStrictlyIncreasing(positions: readonly number[]): void {
  for (let index = 1; index < positions.length; index++) {
    assert.ok(positions[index]! > positions[index - 1]!, `position ${positions[index]!} follows ${positions[index - 1]!}`);
  }
}

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<unknown> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return error instanceof LogError && error.code === code;
  });
  return caught;
}

test('EtcdLog: append, read and tail agree on order, and positions strictly increase', async () => {
  const prefix = freshPrefix();
  const log = await openLog(prefix, 'w1');
  try {
    assert.deepEqual(log.bounds(), { first: 1, last: 0 });
    const early = collect(log, 1);
    const positions: number[] = [];
    for (let index = 0; index < 20; index++) positions.push(await log.append([encode(`record ${index}`)]));
    assertStrictlyIncreasing(positions);

    const read = await log.read(1, 100);
    assert.deepEqual(read.map((record) => record.position), positions);
    assert.deepEqual(read.map(decode), positions.map((_, index) => `record ${index}`));
    assert.deepEqual((await log.read(positions[10]!, 3)).map((record) => record.position), positions.slice(10, 13));
    assert.deepEqual(await log.read(positions.at(-1)! + 1, 10), []);

    for (let index = 20; index < 25; index++) positions.push(await log.append([encode(`record ${index}`)]));
    await early.waitFor(25, 10_000);
    assert.deepEqual(early.records.map((record) => record.position), positions);
    assert.deepEqual(early.records.map(decode), positions.map((_, index) => `record ${index}`));
    const late = collect(log, positions[7]!);
    await late.waitFor(18, 10_000);
    assert.deepEqual(late.records.map((record) => record.position), positions.slice(7));
    await Promise.all([early.handle.stop(), late.handle.stop()]);

    assert.deepEqual(log.bounds(), { first: 1, last: positions.at(-1) });

    const failing = log.tail(1, () => { throw new Error('handler broke'); });
    await assert.rejects(failing.ended, /handler broke/);
  } finally {
    await log.close();
  }
});

test('EtcdLog: appends are refused with stable codes: empty, multiple, too large, closed', async () => {
  const log = await openLog(freshPrefix(), 'refusals', { recordBytesMax: 1_000 });
  await rejectsWithCode(log.append([]), 'append_empty');
  await rejectsWithCode(log.append([encode('a'), encode('b')]), 'append_multiple');
  await rejectsWithCode(log.append([new Uint8Array(1_001)]), 'record_too_large');
  assert.ok(await log.append([new Uint8Array(1_000)]) > 0);
  await log.close();
  await rejectsWithCode(log.append([encode('late')]), 'closed');
  await log.close();
});

test('EtcdLog: two writers interleave and every tail sees the same order', async () => {
  const prefix = freshPrefix();
  const a = await openLog(prefix, 'writer-a');
  const b = await openLog(prefix, 'writer-b', { readPageRecordsMax: 7 });
  const c = await openLog(prefix, 'reader-c', { readPageRecordsMax: 7 });
  try {
    const tailA = collect(a, 1);
    const tailB = collect(b, 1);
    const acknowledged = new Map<string, number>();
    const writeMany = async (log: EtcdLog, writer: string): Promise<void> => {
      // Four appends in flight per writer, 30 per writer.
      await Promise.all([0, 1, 2, 3].map(async (lane) => {
        for (let index = lane; index < 30; index += 4) {
          const payload = `${writer}-${index}`;
          acknowledged.set(payload, await log.append([encode(payload)]));
        }
      }));
    };
    await Promise.all([writeMany(a, 'a'), writeMany(b, 'b')]);
    assert.equal(acknowledged.size, 60);

    await tailA.waitFor(60, 10_000);
    await tailB.waitFor(60, 10_000);
    // A tail that starts after the fact catches up through pages of 7, then watches; its
    // handler is slow and async, and delivery waits for it.
    const tailC = collect(c, 1, 2);
    await tailC.waitFor(60, 10_000);

    const order = tailA.records.map((record) => `${record.position}:${decode(record)}`);
    assert.deepEqual(tailB.records.map((record) => `${record.position}:${decode(record)}`), order);
    assert.deepEqual(tailC.records.map((record) => `${record.position}:${decode(record)}`), order);
    assertStrictlyIncreasing(tailA.records.map((record) => record.position));
    for (const record of tailA.records) assert.equal(acknowledged.get(decode(record)), record.position);
    const switches = tailA.records.filter((record, index) => index > 0 && decode(record)[0] !== decode(tailA.records[index - 1]!)[0]).length;
    assert.ok(switches > 1, `the writers' records interleave (${switches} switches)`);
    await Promise.all([tailA.handle.stop(), tailB.handle.stop(), tailC.handle.stop()]);
  } finally {
    await Promise.all([a.close(), b.close(), c.close()]);
  }
});

test('EtcdLog: repeating a create-only write stores one record; a different value is a writer conflict', async () => {
  const prefix = freshPrefix();
  const client = new LogEtcdClient({ hosts: cluster.endpoints, callDeadlineMs: 1_500, retryBackoffMsMin: 25, receiveBytesMax: 4 * 1024 * 1024 });
  const keys = new LogKeys(prefix, 'retrier');
  try {
    // The path an append takes after an unknown outcome: the same key, the same value, again.
    const value = Buffer.from('batch 1');
    const { revision: first, existed } = await writeOnce(client, keys.record(1), value);
    assert.equal(existed, false);
    assert.deepEqual(await writeOnce(client, keys.record(1), value), { revision: first, existed: true });
    await rejectsWithCode(writeOnce(client, keys.record(1), Buffer.from('something else')), 'writer_conflict');

    const reader = await openLog(prefix, 'reader');
    try {
      assert.deepEqual((await reader.read(1, 10)).map((record) => [record.position, decode(record)]), [[first, 'batch 1']]);
      // A process reopening with the same writer id continues after its highest sequence number.
      const reopened = await openLog(prefix, 'retrier');
      const second = await reopened.append([encode('batch 2')]);
      await reopened.close();
      assert.deepEqual((await reader.read(1, 10)).map((record) => [record.position, decode(record)]), [[first, 'batch 1'], [second, 'batch 2']]);
    } finally {
      await reader.close();
    }
  } finally {
    client.close();
  }
});

test('EtcdLog: JSON status records beside the log', async () => {
  const log = await openLog(freshPrefix(), 'kv', { kvPrefixKeysMax: 2 });
  try {
    await log.putJson('replicas/cloud-b', { position: 7, stateHash: 'bb' });
    const revision = await log.putJson('replicas/cloud-a', { position: 9, stateHash: 'aa' });
    await log.putJson('replicasX/other', { ignored: true });
    assert.deepEqual(await log.getJsonPrefix('replicas'), [
      { key: 'replicas/cloud-a', value: { position: 9, stateHash: 'aa' }, modRevision: revision },
      { key: 'replicas/cloud-b', value: { position: 7, stateHash: 'bb' }, modRevision: revision - 1 },
    ]);
    await log.putJson('replicas/cloud-c', {});
    await rejectsWithCode(log.getJsonPrefix('replicas'), 'kv_too_many');
    await assert.rejects(log.putJson('log/evil', {}), /belong to the log/);
    await rejectsWithCode(log.putJson('big', 'x'.repeat(70 * 1024)), 'record_too_large');
  } finally {
    await log.close();
  }
});

test('Cluster: leader SIGKILL during a stream of appends (R=3): every acknowledged append stored once', async (t) => {
  const prefix = freshPrefix();
  const leader = await cluster.leaderIndex();
  const writer = await openLog(prefix, 'burst');
  const watcher = await openLog(prefix, 'watch-all');
  // Pinned to the member that will die: its tail must wait out the outage and resume exactly.
  const pinned = await EtcdLog.open({ hosts: [cluster.endpoints[leader]!], prefix, writerId: 'watch-pinned' });
  const tailAll = collect(watcher, 1);
  const tailPinned = collect(pinned, 1);

  const lanes = 8;
  const runMs = 6_000;
  const killAtMs = 1_500;
  const startedAt = Date.now();
  const acknowledged: { payload: string; position: number; atMs: number }[] = [];
  const unknown: string[] = [];
  const otherFailures: string[] = [];
  let killedAtMs = 0;
  const killer = (async () => {
    await new Promise((resolve) => setTimeout(resolve, killAtMs));
    killedAtMs = Date.now() - startedAt;
    await cluster.kill(leader);
  })();
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let index = 0; index < 100_000 && Date.now() - startedAt < runMs; index++) {
      const payload = `lane ${lane} append ${index}`;
      try {
        const position = await writer.append([encode(payload)]);
        acknowledged.push({ payload, position, atMs: Date.now() - startedAt });
      } catch (error: unknown) {
        if (error instanceof LogError && error.code === 'outcome_unknown') unknown.push(payload);
        else otherFailures.push(error instanceof Error ? error.message : String(error));
      }
    }
  }));
  await killer;
  const restartedAt = Date.now();
  await cluster.restart(leader);
  t.diagnostic(`member ${leader} restarted and healthy in ${Date.now() - restartedAt} ms`);

  const ackTimes = acknowledged.map((ack) => ack.atMs).sort((x, y) => x - y);
  let longestGapMs = 0;
  let gapEndsAtMs = 0;
  for (let index = 1; index < ackTimes.length; index++) {
    const gapMs = ackTimes[index]! - ackTimes[index - 1]!;
    if (gapMs > longestGapMs) { longestGapMs = gapMs; gapEndsAtMs = ackTimes[index]!; }
  }
  const firstAfterKill = ackTimes.find((atMs) => atMs > killedAtMs);
  t.diagnostic(`${acknowledged.length} appends acknowledged by ${lanes} lanes in ${runMs} ms; leader killed at ${killedAtMs} ms`);
  t.diagnostic(`longest gap between successive acknowledgements: ${longestGapMs} ms (ending at ${gapEndsAtMs} ms); first acknowledgement after the kill at +${firstAfterKill === undefined ? 'none' : firstAfterKill - killedAtMs} ms`);
  t.diagnostic(`outcome unknown: ${unknown.length}; other failures: ${otherFailures.length} ${otherFailures.slice(0, 3).join('; ')}`);
  t.diagnostic(`writer ${JSON.stringify(writer.stats())}; pinned tail ${JSON.stringify(pinned.stats())}; any-member tail ${JSON.stringify(watcher.stats())}`);
  assert.deepEqual(otherFailures, []);
  assert.ok(acknowledged.some((ack) => ack.atMs > killedAtMs + 100), 'appends resume after the leader is killed');

  const reader = await openLog(prefix, 'final-reader');
  try {
    const stored = await readAll(reader, 1);
    assertStrictlyIncreasing(stored.map((record) => record.position));
    const storedAt = new Map<string, number>();
    for (const record of stored) {
      assert.ok(!storedAt.has(decode(record)), `${decode(record)} is stored once`);
      storedAt.set(decode(record), record.position);
    }
    for (const ack of acknowledged) assert.equal(storedAt.get(ack.payload), ack.position, `${ack.payload} is stored where its append said`);
    assert.equal(stored.length - acknowledged.length <= unknown.length, true, 'only appends of unknown outcome are stored unacknowledged');

    const expected = stored.map((record) => `${record.position}:${decode(record)}`);
    await tailAll.waitFor(stored.length, 15_000);
    await tailPinned.waitFor(stored.length, 15_000);
    assert.deepEqual(tailAll.records.map((record) => `${record.position}:${decode(record)}`), expected);
    assert.deepEqual(tailPinned.records.map((record) => `${record.position}:${decode(record)}`), expected);
    await Promise.all([tailAll.handle.stop(), tailPinned.handle.stop()]);
  } finally {
    await Promise.all([reader.close(), writer.close(), watcher.close(), pinned.close()]);
  }
});

// Last: compaction is cluster-wide, so earlier tests' tails from position 1 would end with it.
test('EtcdLog: dropBefore compacts and deletes; reads and tails from before it end with compacted', async () => {
  const prefix = freshPrefix();
  const log = await openLog(prefix, 'dropper');
  const client = new LogEtcdClient({ hosts: cluster.endpoints, callDeadlineMs: 1_500, retryBackoffMsMin: 25, receiveBytesMax: 4 * 1024 * 1024 });
  try {
    const positions: number[] = [];
    for (let index = 0; index < 10; index++) positions.push(await log.append([encode(`r${index}`)]));
    const keep = positions[5]!;
    await log.dropBefore(keep);
    await log.dropBefore(keep);

    assert.deepEqual(log.bounds(), { first: keep, last: positions[9] });
    assert.deepEqual((await log.read(keep, 100)).map((record) => record.position), positions.slice(5));
    const keys = new LogKeys(prefix, 'dropper');
    const stored = await client.kv.range({ key: keys.logPrefix, range_end: keys.logRangeEnd, keys_only: true });
    assert.equal(stored.kvs.length, 5, 'the dropped records are deleted');

    const readError = await rejectsWithCode(log.read(positions[0]!, 10), 'compacted');
    assert.ok(readError instanceof LogCompactedError && needsSnapshot(readError));
    assert.equal(readError.compactedRevision, keep - 1);

    const early = log.tail(positions[2]!, () => { assert.fail('nothing before the compaction point is delivered'); });
    const tailError = await rejectsWithCode(early.ended, 'compacted');
    assert.ok(tailError instanceof LogCompactedError);
    assert.equal(tailError.position, positions[2]);
    assert.equal(tailError.compactedRevision, keep - 1);

    const fromKeep = collect(log, keep);
    await fromKeep.waitFor(5, 10_000);
    assert.deepEqual(fromKeep.records.map(decode), ['r5', 'r6', 'r7', 'r8', 'r9']);
    await fromKeep.handle.stop();

    const reopened = await openLog(prefix, 'other');
    assert.deepEqual(reopened.bounds(), { first: keep, last: positions[9] });
    await reopened.close();
  } finally {
    client.close();
    await log.close();
  }
});
