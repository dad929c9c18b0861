// The replica and the submitter over a real file journal: results come back to the request
// that wrote them, concurrent requests are group-committed into fewer records, and a
// submission that reaches the log after its deadline is refused without touching the state.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { FileJournal } from '../src/log/index.js';
import { MemoryProjections } from '../src/projections/index.js';
import type { Result } from '../src/core/index.js';
import { encodeBatch, Replica, SnapshotStore, Submitter, type SubmissionOutcome } from '../src/replica/index.js';

function results(outcome: SubmissionOutcome): Result[] {
  if ('refused' in outcome) throw new Error(`submission refused: ${outcome.refused}`);
  return outcome;
}

async function node(dir: string): Promise<{ journal: FileJournal; replica: Replica; submitter: Submitter; close: () => Promise<void> }> {
  const journal = await FileJournal.open(join(dir, 'journal'));
  const replica = new Replica({
    log: journal, snapshots: new SnapshotStore(join(dir, 'snapshots')), checkpointEveryCommands: 1_000, compactLog: false,
    createProjections: (engine, saved) => (saved === undefined ? new MemoryProjections(engine) : MemoryProjections.fromJSON(engine, saved)),
    logger: pino({ level: 'silent' }), onFatal: (e) => { throw e; },
  });
  await replica.start();
  const submitter = new Submitter(journal, replica, { inFlightMax: 1_000, applyTimeoutMs: 5_000, commandTtlMs: 1_500, now: Date.now, cloud: 'local' });
  return { journal, replica, submitter, close: async () => { await replica.stop(); await journal.close(); } };
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
