// The balance mirror a replica keeps for proof of reserves must equal, bit for bit, the copy a
// walk over every user object gives (the copy it replaced): on generated command streams cut
// into records of any size, with the engine recycling its events after each record as the
// replica does, with balances past 2^53, with an asset and users added mid-stream, and after
// the engine is replaced by one restored from a snapshot.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import pino from 'pino';
import { Engine, restore, snapshot, type Command, type Event, type SetAsset } from '../src/core/index.js';
import { FileJournal } from '../src/log/index.js';
import { BalanceMirror, copyBalances, Replica, SnapshotStore, Submitter, type BalanceCopy } from '../src/replica/index.js';
import { commandStream, stepArbitrary, worldArbitrary } from './support/model.js';

const RUNS = Number(process.env.EVERBOOK_PROPERTY_RUNS ?? 150);

const newAsset: SetAsset = {
  type: 'SetAsset', asset: 'NEW', scale: 18, withdrawFee: '0', withdrawMin: '1', withdrawMax: (10n ** 30n).toString(), withdrawDailyMax: (10n ** 30n).toString(), withdrawEnabled: true,
};

/** The same copy, compared as the worker reads it: assets, ids and every limb's bits. */
function assertSameCopy(mirrored: BalanceCopy, walked: BalanceCopy, where: string): void {
  assert.deepEqual(mirrored.assets, walked.assets, `${where}: assets`);
  assert.deepEqual(mirrored.userIds, walked.userIds, `${where}: user ids`);
  assert.equal(mirrored.limbs.length, walked.limbs.length, `${where}: limb count`);
  for (let i = 0; i < walked.limbs.length; i++) {
    if (!Object.is(mirrored.limbs[i], walked.limbs[i])) assert.fail(`${where}: limb ${i} is ${mirrored.limbs[i]} in the mirror, ${walked.limbs[i]} walked`);
  }
}

/** Whether any balance in the copy (hi * 10^15 + lo) is past 2^53. */
const pastSafe = (copy: BalanceCopy): boolean => {
  for (let i = 0; i < copy.limbs.length; i += 2) if (copy.limbs[i]! >= 10) return true;
  return false;
};

test('Balance mirror = walked copy after every record of generated command streams (a new asset and users mid-stream, balances past 2^53, a snapshot restore)', () => {
  let sawPastSafe = 0;
  let sawRestore = 0;
  fc.assert(
    fc.property(
      worldArbitrary,
      fc.array(stepArbitrary(1), { minLength: 1, maxLength: 80, size: 'max' }),
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 40 }),
      fc.nat(1_000), fc.nat(1_000),
      // Up to 2 * 10^27 each: four stay under the engine's supply bound of an asset (10^28).
      fc.array(fc.bigInt({ min: 1n, max: 2n * 10n ** 27n }), { minLength: 1, maxLength: 4 }),
      (world, steps, recordSizes, assetAt, restoreAt, amounts) => {
        const stream = commandStream(world, steps);
        // Mid-stream: a new asset, a new user, and deposits of it (huge ones too) to old and new users.
        const extra: { cmd: Command; ts: number }[] = [{ cmd: newAsset, ts: 0 }, { cmd: { type: 'CreateUser' }, ts: 0 }];
        amounts.forEach((amount, i) => {
          extra.push({ cmd: { type: 'CreditDeposit', depositId: `new-${i}`, userId: 1 + (i % 4), asset: 'NEW', amount: amount.toString() }, ts: 0 });
          // A third of it held by a pending withdrawal, so held is past 2^53 too.
          if (amount >= 3n) extra.push({ cmd: { type: 'RequestWithdrawal', userId: 1 + (i % 4), asset: 'NEW', amount: (amount / 3n).toString(), address: 'addr1' }, ts: 0 });
        });
        const cut = 1 + (assetAt % stream.length);
        const commands = [...stream.slice(0, cut), ...extra.map((e) => ({ ...e, ts: stream[cut - 1]!.ts })), ...stream.slice(cut)];

        let engine = new Engine();
        let mirror = new BalanceMirror(engine);
        const events: Event[] = [];
        const restoreRecord = restoreAt % (recordSizes.length + 1);
        let at = 0;
        for (let r = 0; at < commands.length; r++) {
          if (r === restoreRecord) {
            engine = restore(snapshot(engine));
            mirror = new BalanceMirror(engine);
            sawRestore += 1;
          }
          const size = recordSizes[r % recordSizes.length]!;
          for (const { cmd, ts } of commands.slice(at, at + size)) engine.apply(cmd, ts, events);
          at += size;
          mirror.apply(events);
          // As the replica does: every consumer has read the record; the engine rewrites the event objects.
          events.length = 0;
          engine.releaseEvents();
          assertSameCopy(mirror.copy('r'), copyBalances(engine, 'r'), `record ${r}`);
        }
        const final = mirror.copy('r');
        if (pastSafe(final)) sawPastSafe += 1;
        // A mirror rebuilt by the walk agrees with the one kept from events.
        assertSameCopy(new BalanceMirror(engine).copy('r'), final, 'rebuilt');
      },
    ),
    { numRuns: RUNS, includeErrorInReport: true },
  );
  assert.ok(sawPastSafe > RUNS / 2, `balances past 2^53 in ${sawPastSafe} runs`);
  assert.ok(sawRestore > 0, 'some runs restored a snapshot mid-stream');
});

test('Balance mirror: balances at the limbs\' edges (10^15 - 1 to 5 * 10^27) held and available, and a copy refused when the engine moved on without it', () => {
  const engine = new Engine();
  const events: Event[] = [];
  const run = (cmd: Command): void => { assert.ok(engine.apply(cmd, 0, events).ok, JSON.stringify(cmd)); };
  const mirror = new BalanceMirror(engine);
  run(newAsset);
  const amounts = [1n, 10n ** 15n - 1n, 10n ** 15n, 10n ** 15n + 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 9n * 10n ** 15n + 7n, 10n ** 27n + 3n, 5n * 10n ** 27n - 1n];
  amounts.forEach((amount, i) => {
    run({ type: 'CreateUser' });
    run({ type: 'CreditDeposit', depositId: `d${i}`, userId: i + 1, asset: 'NEW', amount: amount.toString() });
    // Half of it held by a pending withdrawal: both limbs of available and of held are summed.
    if (amount > 1n) run({ type: 'RequestWithdrawal', userId: i + 1, asset: 'NEW', amount: (amount / 2n).toString(), address: 'addr1' });
  });
  mirror.apply(events);
  events.length = 0;
  engine.releaseEvents();
  const copy = mirror.copy('edges');
  assertSameCopy(copy, copyBalances(engine, 'edges'), 'edges');
  amounts.forEach((amount, i) => {
    assert.equal(BigInt(copy.limbs[i * 2]!) * 10n ** 15n + BigInt(copy.limbs[i * 2 + 1]!), amount, `user ${i + 1}`);
  });
  run({ type: 'CreateUser' });
  assert.throws(() => mirror.copy('stale'), /mirror at seq/);
});

test('Balance mirror in a replica: reports copied from it equal the walk, before and after the replica restarts from its snapshot', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-por-mirror-'));
  try {
    const journal = await FileJournal.open(join(dir, 'journal'));
    const checked: string[] = [];
    const start = async (): Promise<{ replica: Replica; submitter: Submitter }> => {
      const replica: Replica = new Replica({
        log: journal, snapshots: new SnapshotStore(join(dir, 'snapshots')), checkpointEveryCommands: 1_000_000, compactLog: false,
        logger: pino({ level: 'silent' }), onFatal: (e) => { throw e; },
        onLiabilitiesReport: (request, copy) => {
          assert.ok((replica as unknown as { mirror: unknown }).mirror !== undefined, 'the replica keeps a mirror');
          assertSameCopy(copy(), copyBalances(replica.engine, request.reportId), request.reportId);
          checked.push(request.reportId);
        },
      });
      await replica.start();
      const submitter = new Submitter(journal, replica, { inFlightMax: 100, applyTimeoutMs: 5_000, commandTtlMs: 60_000, now: Date.now, cloud: 'a' });
      return { replica, submitter };
    };
    const [world, steps] = fc.sample(fc.tuple(worldArbitrary, fc.array(stepArbitrary(0), { minLength: 120, maxLength: 120 })), { numRuns: 1, seed: 5 })[0]!;
    const stream = commandStream(world, steps).map((s) => s.cmd);
    const half = Math.floor(stream.length / 2);

    let { replica, submitter } = await start();
    for (let i = 0; i < half; i += 3) await submitter.submit(stream.slice(i, Math.min(i + 3, half)));
    await submitter.submit([{ type: 'RequestLiabilitiesReport', reportId: 'before' }]);
    await replica.snapshotNow();
    await replica.stop();

    // Restarted: the engine comes from the snapshot, the mirror from one walk over it.
    ({ replica, submitter } = await start());
    await submitter.submit([newAsset, { type: 'CreateUser' }, { type: 'CreditDeposit', depositId: 'big', userId: 2, asset: 'NEW', amount: (10n ** 25n + 1n).toString() }]);
    for (let i = half; i < stream.length; i += 3) await submitter.submit(stream.slice(i, i + 3));
    await submitter.submit([{ type: 'RequestLiabilitiesReport', reportId: 'after' }]);
    assert.deepEqual(checked, ['before', 'after']);
    assert.equal(replica.state, 'serving');
    await replica.stop();
    await journal.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
