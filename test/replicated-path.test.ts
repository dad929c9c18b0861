// The replicated write path's newer behaviour, on a real file journal and a real three-member
// etcd cluster on loopback: the submitter keeps several records in the log's hands at once (never
// more than its window), the log's order is the order every replica applies, and a request is
// answered only once its record is applied; hedged etcd appends never store a record twice, even
// across a leader SIGKILL; a node whose member loses its quorum calls itself isolated (and not
// while it is healthy and busy), and a request in flight then is answered "outcome unknown" by its
// deadline while every acknowledged record stays in the log.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { Result } from '../src/core/index.js';
import { Coordinator } from '../src/cluster/coordinator.js';
import { waitFor } from '../src/cluster/launcher.js';
import { EtcdLog, FileJournal, type CommandLog, type LogRecord } from '../src/log/index.js';
import { MemoryProjections } from '../src/projections/index.js';
import { decodeBatch, Replica, SnapshotStore, SubmitError, Submitter, type SubmitterOptions } from '../src/replica/index.js';
import { startEtcdCluster, type EtcdCluster } from './support/etcd-cluster.js';

let cluster: EtcdCluster;
let dir: string;
before(async () => {
  cluster = await startEtcdCluster(3);
  dir = await mkdtemp(join(tmpdir(), 'everbook-replicated-path-'));
});
after(async () => {
  await cluster.stop();
  await rm(dir, { recursive: true, force: true });
});

let prefixes = 0;
const freshPrefix = (): string => `path-test/t${++prefixes}-${Date.now()}`;
const stepMs = 20_000;

async function openReplica(log: CommandLog, name: string): Promise<Replica> {
  const replica = new Replica({
    log, snapshots: new SnapshotStore(join(dir, name, 'snapshots')), checkpointEveryCommands: 1_000_000, compactLog: false,
    createProjections: (engine, saved) => (saved === undefined ? new MemoryProjections(engine) : MemoryProjections.fromJSON(engine, saved)),
    logger: pino({ level: 'silent' }), onFatal: (e) => { throw e; },
  });
  await replica.start();
  return replica;
}

function submitterOn(log: CommandLog, replica: Replica, extra: Partial<SubmitterOptions> = {}): Submitter {
  return new Submitter(log, replica, { inFlightMax: 10_000, applyTimeoutMs: 30_000, commandTtlMs: 30_000, now: Date.now, cloud: 'local', ...extra });
}

/**
 * A log in front of another that holds every append until `hold` are waiting (or `release()` is
 * called), then passes them on in the order they came: it shows how many records the submitter
 * hands over at once, and which submissions (by request id) each record held and where it landed.
 */
function gatedLog(inner: CommandLog, hold: number): CommandLog & { inProgressMax: number; release: () => void; landed: { position: number; rids: number[] }[] } {
  let waiting: (() => void)[] = [];
  let open = false;
  let inProgress = 0;
  const gate = {
    /** The most appends called and not yet answered at one time. */
    inProgressMax: 0,
    landed: [] as { position: number; rids: number[] }[],
    release: (): void => {
      open = true;
      const go = waiting;
      waiting = [];
      for (const pass of go) pass();
    },
    append: async (payloads: readonly Uint8Array[]): Promise<number> => {
      inProgress += 1;
      gate.inProgressMax = Math.max(gate.inProgressMax, inProgress);
      try {
        if (!open) {
          const passed = new Promise<void>((resolve) => { waiting.push(resolve); });
          if (waiting.length >= hold) gate.release();
          await passed;
        }
        const position = await inner.append(payloads);
        gate.landed.push({ position, rids: decodeBatch(payloads[0]!).items.map((item) => item.rid) });
        return position;
      } finally {
        inProgress -= 1;
      }
    },
    tail: (from: number, onRecord: (record: LogRecord) => void | Promise<void>) => inner.tail(from, onRecord),
    read: (from: number, maxRecords: number) => inner.read(from, maxRecords),
    bounds: () => inner.bounds(),
    dropBefore: (position: number) => inner.dropBefore(position),
    close: () => inner.close(),
  };
  return gate;
}

/** The next turn of the event loop, after the submitter's flush of this one. */
const nextTurn = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve); });

/**
 * Submits `waves` waves of `perWave` CreateUser requests, a turn of the event loop apart, so that
 * each wave is a record of its own while earlier ones are still held. Checks, at each answer,
 * that the replica has already applied the record holding that request. Returns each request's
 * new user id, in the order the requests were made.
 */
async function submitWaves(submitter: Submitter, replica: Replica, log: ReturnType<typeof gatedLog>, waves: number, perWave: number): Promise<number[]> {
  const answers: Promise<number>[] = [];
  let rid = 0;
  for (let wave = 0; wave < waves; wave++) {
    for (let i = 0; i < perWave; i++) {
      const myRid = ++rid;
      answers.push(submitter.submit([{ type: 'CreateUser' }]).then((results: Result[]) => {
        const record = log.landed.find((r) => r.rids.includes(myRid));
        assert.ok(record !== undefined, `request ${myRid} is answered only after its record is stored`);
        assert.ok(replica.appliedPosition >= record.position, `request ${myRid} is answered only after position ${record.position} is applied`);
        const [created] = results;
        assert.ok(created?.ok === true && created.userId !== undefined);
        return created.userId;
      }));
    }
    await nextTurn();
  }
  log.release();
  return Promise.all(answers);
}

test('Submitter: pipelining on the file journal: four records in the log\'s hands at once, never more, and what arrives meanwhile fills the next; records land in the order they were made, each request answered after its record is applied', async () => {
  const journal = await FileJournal.open(join(dir, 'journal-pipeline', 'journal'));
  const replica = await openReplica(journal, 'journal-pipeline');
  const gate = gatedLog(journal, 4);
  const submitter = submitterOn(gate, replica, { recordsInFlightMax: 4 });
  const userIds = await submitWaves(submitter, replica, gate, 10, 25);
  assert.equal(gate.inProgressMax, 4, 'the window was full and never overfull');
  // Four waves held in four records; the six waves queued behind them filled the next records.
  assert.ok(gate.landed.length >= 5 && gate.landed.length < 10, `${gate.landed.length} records for 10 waves`);
  // The journal keeps the order of the calls: users were created in the order they were asked for.
  assert.deepEqual(userIds, [...userIds].sort((a, b) => a - b));
  assert.deepEqual(gate.landed.flatMap((r) => r.rids), userIds.map((_, i) => i + 1));
  await replica.stop();
  await journal.close();
});

test('Submitter: pipelining on etcd (R=3): records in flight together, one log order, applied identically by a replica on another member; each request answered after its record is applied', async () => {
  const prefix = freshPrefix();
  const log = await EtcdLog.open({ hosts: [cluster.endpoints[0]!], prefix, writerId: 'pipeline-writer' });
  const other = await EtcdLog.open({ hosts: [cluster.endpoints[1]!], prefix, writerId: 'pipeline-reader' });
  const replica = await openReplica(log, 'etcd-pipeline-0');
  const peer = await openReplica(other, 'etcd-pipeline-1');
  const gate = gatedLog(log, 4);
  const submitter = submitterOn(gate, replica, { recordsInFlightMax: 4 });
  const userIds = await submitWaves(submitter, replica, gate, 12, 20);
  assert.equal(gate.inProgressMax, 4, 'the window was full and never overfull');
  // Every request got its own user, once.
  assert.equal(new Set(userIds).size, userIds.length);
  // The log's order is the one order: the peer replica, on another member, reaches the same
  // position with the same state, and the records' positions increase along the log.
  const last = replica.appliedPosition;
  await waitFor('the peer replica applied the last record', () => Promise.resolve(peer.appliedPosition >= last), stepMs);
  assert.equal(peer.appliedPosition, last);
  assert.equal(peer.stateHashNow(), replica.stateHashNow());
  const positions = gate.landed.map((r) => r.position).sort((a, b) => a - b);
  assert.equal(new Set(positions).size, positions.length, 'each record at a position of its own');
  await Promise.all([replica.stop(), peer.stop()]);
  await Promise.all([log.close(), other.close()]);
});

test('EtcdLog: hedged appends (hedged after 1 ms, four attempts at once) across a leader SIGKILL: every acknowledged record stored exactly once, where its append said', async (t) => {
  const prefix = freshPrefix();
  const leader = await cluster.leaderIndex();
  const follower = (leader + 1) % 3;
  // Pinned to a follower that survives: its writes are forwarded to the leader that dies.
  const writer = await EtcdLog.open({ hosts: [cluster.endpoints[follower]!], prefix, writerId: 'hedger', hedgeAfterMsMin: 1, hedgeAfterMsMax: 1, hedgeAttemptsMax: 4 });
  const acknowledged: { payload: string; position: number }[] = [];
  const unknown: string[] = [];
  const appendSome = async (lane: string, count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const payload = `${lane} ${i}`;
      try {
        acknowledged.push({ payload, position: await writer.append([new TextEncoder().encode(payload)]) });
      } catch {
        unknown.push(payload);
      }
    }
  };
  await Promise.all(Array.from({ length: 4 }, (_, lane) => appendSome(`before-${lane}`, 25)));
  await cluster.kill(leader);
  await Promise.all(Array.from({ length: 4 }, (_, lane) => appendSome(`after-${lane}`, 25)));
  await cluster.restart(leader);
  const stats = writer.stats();
  t.diagnostic(`writer ${JSON.stringify(stats)}; ${acknowledged.length} acknowledged, ${unknown.length} outcome unknown`);
  assert.ok(stats.appendRetries > 0, 'appends were hedged');
  assert.ok(acknowledged.some((a) => a.payload.startsWith('after-')), 'appends resumed after the kill');

  const reader = await EtcdLog.open({ hosts: cluster.endpoints, prefix, writerId: 'hedge-reader' });
  const stored: LogRecord[] = [];
  for (let page = 0, next = 1; page < 1_000; page++) {
    const got = await reader.read(next, 64);
    if (got.length === 0) break;
    stored.push(...got);
    next = got.at(-1)!.position + 1;
  }
  const storedAt = new Map<string, number>();
  for (const record of stored) {
    const payload = new TextDecoder().decode(record.payload);
    assert.ok(!storedAt.has(payload), `${payload} is stored once`);
    storedAt.set(payload, record.position);
  }
  for (const ack of acknowledged) assert.equal(storedAt.get(ack.payload), ack.position, `${ack.payload} is stored where its append said`);
  assert.ok(stored.length - acknowledged.length <= unknown.length, 'only appends of unknown outcome are stored unacknowledged');
  await Promise.all([reader.close(), writer.close()]);
});

test('Coordinator: a busy healthy node never calls itself isolated; once its member loses the quorum it does, a request in flight is answered outcome unknown by its deadline, and acknowledged records stay', async () => {
  const prefix = freshPrefix();
  const log = await EtcdLog.open({ hosts: [cluster.endpoints[0]!], prefix, writerId: 'isolation-writer', retryMsMax: 4_000 });
  const replica = await openReplica(log, 'isolation-0');
  const coordinator = new Coordinator({
    endpoints: [cluster.endpoints[0]!], prefix: `${prefix}/cluster`, cloud: 'a', apiUrl: 'http://127.0.0.1:1', clusterToken: 'x'.repeat(16),
    logger: pino({ level: 'silent' }), heartbeatMs: 1_000, liveMs: 10_000, callTimeoutMs: 2_000, compact: false,
    isolatedAfterMs: 700, probeMs: 100,
  });
  coordinator.attach(replica, log);
  const submitter = submitterOn(log, replica, { commandTtlMs: 1_000, onAppended: (sentAtMs) => { coordinator.noteContact(sentAtMs); } });
  try {
    // Busy and healthy: 20 rounds of 200 requests at once; the node is never isolated at an answer.
    let answered = 0;
    for (let round = 0; round < 20; round++) {
      await Promise.all(Array.from({ length: 200 }, async () => {
        await submitter.submit([{ type: 'CreateUser' }]);
        answered += 1;
        assert.equal(coordinator.isolated(), false, 'a healthy node under load is not isolated');
      }));
    }
    assert.equal(answered, 4_000);
    const acknowledgedThrough = replica.appliedPosition;

    // Member 0 loses both peers: no quorum.
    await cluster.kill(1);
    await cluster.kill(2);
    const inFlight = submitter.submit([{ type: 'CreateUser' }]);
    await assert.rejects(inFlight, (e: unknown) => e instanceof SubmitError && e.code === 'timeout');
    await waitFor('the node calls itself isolated', () => Promise.resolve(coordinator.isolated()), stepMs);

    // Healed: not isolated any more, and every record acknowledged before the cut is in the log.
    await cluster.restart(1);
    await cluster.restart(2);
    await waitFor('the node is in contact again', () => Promise.resolve(!coordinator.isolated()), stepMs);
    const reader = await EtcdLog.open({ hosts: cluster.endpoints, prefix, writerId: 'isolation-reader' });
    let users = 0;
    for (let page = 0, next = 1; page < 10_000; page++) {
      const got = await reader.read(next, 64);
      if (got.length === 0 || got[0]!.position > acknowledgedThrough) break;
      for (const record of got) if (record.position <= acknowledgedThrough) for (const item of decodeBatch(record.payload).items) users += item.cmds.length;
      next = got.at(-1)!.position + 1;
    }
    assert.equal(users, 4_000, 'every acknowledged request is in the log');
    await reader.close();
  } finally {
    coordinator.close();
    await replica.stop();
    await log.close();
  }
});
