// The golden log: 296 records recorded with the real record codec (test/fixtures/golden/log.b64,
// one base64 payload a line) and, beside them, what replaying them gave when they were recorded
// (expected.json): the replica's state hash and the projections' saved state every 50 records
// and at the end, and a digest of every record's results and events. A refactor that changes
// what any record does, or the bytes of the state, fails here and names the first record that
// differs. Regenerate (`npm run golden:record`) only when the state format or the engine's
// behaviour changes on purpose, and say so in the commit: a fixture recorded again agrees with
// any engine, right or wrong.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeBatch, encodeBatch } from '../src/replica/index.js';
import { replayGolden, type GoldenExpectation } from './support/golden-replay.js';

/** The fixture lives in the source tree; this file runs from dist/test. */
const fixtureDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'golden');
const payloads = readFileSync(join(fixtureDir, 'log.b64'), 'utf8').split('\n').filter((l) => l !== '').map((l) => new Uint8Array(Buffer.from(l, 'base64')));
const expected = JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')) as GoldenExpectation;

/** The first index at which two lists differ, or -1. */
function firstDifference(a: readonly string[], b: readonly string[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

test('Golden log: replaying the recorded log gives the recorded results and events, record by record', () => {
  assert.equal(payloads.length, expected.records, 'the fixture holds the records it was recorded with');
  const replayed = replayGolden(payloads);
  for (const what of ['results', 'events'] as const) {
    const i = firstDifference(replayed[what], expected[what]);
    if (i !== -1) assert.fail(`record ${i} (0-based) gives other ${what} than when recorded: ${JSON.stringify(decodeBatch(payloads[i]!))}`);
  }
  assert.deepEqual(replayed.outcomeCounts, expected.outcomeCounts);
  assert.deepEqual(replayed.eventCounts, expected.eventCounts);
});

test('Golden log: replaying the recorded log gives the recorded state hashes at every checkpoint and at the end', () => {
  const replayed = replayGolden(payloads);
  assert.ok(expected.checkpoints.length >= 6, 'several checkpoints, the last after the last record');
  assert.equal(expected.checkpoints.at(-1)?.records, expected.records);
  for (const [i, want] of expected.checkpoints.entries()) {
    const got = replayed.checkpoints[i];
    assert.deepEqual(got, want, `after ${want.records} records (seq ${want.seq}): replica state hash and projections`);
  }
  assert.equal(replayed.checkpoints.length, expected.checkpoints.length);
});

test('Golden log: every record decodes and encodes back to the same bytes (the codec reads and writes the recorded format)', () => {
  for (const [i, payload] of payloads.entries()) {
    const batch = decodeBatch(payload);
    assert.ok(batch.cloud !== undefined, `record ${i} names its cloud`);
    assert.deepEqual(encodeBatch({ ...batch, cloud: batch.cloud }), payload, `record ${i}`);
  }
});

test('Golden log: the recorded log covers every command, every order type, signatures, an expiry and two clouds', () => {
  const commandTypes = new Set<string>();
  const orderTypes = new Set<string>();
  const clouds = new Set<string>();
  let signed = 0;
  for (const payload of payloads) {
    const batch = decodeBatch(payload);
    if (batch.cloud !== undefined) clouds.add(batch.cloud);
    for (const item of batch.items) {
      if (item.sig !== undefined) signed += 1;
      for (const cmd of item.cmds) {
        commandTypes.add(cmd.type);
        if (cmd.type === 'PlaceOrder') orderTypes.add(cmd.orderType);
      }
    }
  }
  assert.deepEqual([...commandTypes].sort(), [
    'AmendOrder', 'ApproveWithdrawal', 'CancelAll', 'CancelOrder', 'CancelWithdrawal', 'CompleteWithdrawal', 'CreateApiKey', 'CreateUser',
    'CreditDeposit', 'FailWithdrawal', 'ObserveChainTx', 'ObserveDeposit', 'PlaceOrder', 'ReplaceChainTx', 'RequestLiabilitiesReport',
    'RequestSweep', 'RequestWithdrawal', 'RevertDeposit', 'RevokeApiKey', 'SetAsset', 'SetChain', 'SetChainAsset', 'SetInstrument', 'SetInstrumentState',
    'SetUserConfig', 'SetWithdrawalAllowlist', 'SetWithdrawalsFrozen',
  ]);
  assert.deepEqual([...orderTypes].sort(), ['fok', 'ioc', 'limit', 'market', 'post_only']);
  assert.deepEqual([...clouds].sort(), ['aws', 'gcp']);
  assert.ok(signed >= 3, 'signed submissions');
  for (const outcome of ['command_expired', 'replayed', 'signature_expired']) assert.ok((expected.outcomeCounts[outcome] ?? 0) > 0, outcome);
  for (const event of ['OrderCanceled:post_only_would_take', 'OrderCanceled:fok_not_fillable', 'OrderCanceled:stp', 'OrderAmended', 'WithdrawalCompleted', 'WithdrawalFailed', 'WithdrawalCanceled',
    'DepositPending', 'DepositReverted', 'WithdrawalAwaitingApproval', 'ChainTxAssigned', 'ChainTxReplaced', 'ChainTxSettled', 'WithdrawalsFrozen',
    'WithdrawalAllowlistSet']) {
    assert.ok((expected.eventCounts[event] ?? 0) > 0, event);
  }
});
