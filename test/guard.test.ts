// The log guard: replay protection and the clock-skew bound, on the pure apply path (records in,
// outcomes and state hash out, replayed twice to show every replica computes the same) and
// against a real server (the same signed withdrawal and order sent twice).

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Event } from '../src/core/index.js';
import type { LogCommand } from '../src/replica/index.js';
import {
  applyBatch, CLOCK_AHEAD_MAX_MS, CLOCK_CLOUDS_MAX, decodeBatch, decodeSnapshotFile, encodeBatch, RecordDecodeError, emptyState, encodeSnapshotFile, LogGuard, replicaHash, replicaStateHash,
  SEEN_SIGNATURES_MAX, SIGNATURE_WINDOW_MS, type LogBatch, type ReplicatedState, type SignedBy, type SubmissionOutcome,
} from '../src/replica/index.js';
import { snapshot } from '../src/core/index.js';
import { loadConfig } from '../src/server/config.js';
import { okx, sign } from './support/okx-client.js';
import { kill, startServer, type ServerProcess } from './support/server-process.js';

const T = 1_800_000_000_000;
const TTL_MS = 1_500;
const createUser: LogCommand = { type: 'CreateUser' };

let rid = 0;
/** One record from `cloud` stamped `ts`, with one submission (deadline ts + TTL, like a gateway's). */
function record(cloud: string | undefined, ts: number, sig?: SignedBy, cmds: readonly LogCommand[] = [createUser]): LogBatch {
  rid += 1;
  const item = sig === undefined ? { rid, deadline: ts + TTL_MS, cmds } : { rid, deadline: ts + TTL_MS, cmds, sig };
  return cloud === undefined ? { ts, origin: 'gw', items: [item] } : { ts, origin: `gw-${cloud}`, cloud, items: [item] };
}

/** What a submission came to: 'ok', an engine rejection code, or the guard's refusal. */
function summary(outcome: SubmissionOutcome): string {
  if ('refused' in outcome) return outcome.refused;
  return outcome.map((r) => (r.ok ? 'ok' : r.reject.code)).join(',');
}

function run(records: readonly LogBatch[]): { state: ReplicatedState; outcomes: string[] } {
  const state = emptyState();
  const events: Event[] = [];
  const outcomes = records.flatMap((b) => applyBatch(state, b, events).map(summary));
  return { state, outcomes };
}

/** Applies the records twice, in two fresh states: both must agree (what every replica does). */
function replayTwice(records: readonly LogBatch[]): { state: ReplicatedState; outcomes: string[] } {
  const first = run(records);
  const second = run(records);
  assert.deepEqual(second.outcomes, first.outcomes, 'a replay gives the same outcomes');
  assert.equal(replicaStateHash(second.state), replicaStateHash(first.state), 'a replay gives the same state hash');
  return first;
}

const sig = (d: string, ts: number): SignedBy => ({ d: d.padEnd(22, 'A'), ts });

test('Guard: replay: the same signature in two records (two clouds) applies once; the second is refused as replayed', () => {
  const { state, outcomes } = replayTwice([
    record('aws', T, sig('one', T)),
    record('gcp', T + 10, sig('one', T)),
    record('gcp', T + 20, sig('two', T + 15)),
  ]);
  assert.deepEqual(outcomes, ['ok', 'replayed', 'ok']);
  assert.equal(state.engine.nextUserId, 3, 'two users created, not three');
  assert.equal(state.guard.seenSize, 2);
});

test('Guard: replay: a submission refused for its deadline is not remembered, so its retry applies', () => {
  const late = record('aws', T, sig('retry', T));
  const lateItem = { ...late.items[0]!, deadline: T - 1 };
  const { outcomes } = replayTwice([
    { ...late, items: [lateItem] },
    record('aws', T + 5, sig('retry', T)),
  ]);
  assert.deepEqual(outcomes, ['command_expired', 'ok']);
});

test('Guard: replay: a request timestamp more than the window behind the log time is refused as expired', () => {
  const { outcomes } = replayTwice([
    record('aws', T),
    record('aws', T + 1, sig('stale', T - SIGNATURE_WINDOW_MS - 1)),
    record('aws', T + 2, sig('fresh', T - SIGNATURE_WINDOW_MS + 10)),
  ]);
  assert.deepEqual(outcomes, ['ok', 'signature_expired', 'ok']);
});

test('Guard: replay: the seen-set forgets signatures once their window passed, and refuses new ones as full at its bound', () => {
  const guard = new LogGuard();
  guard.observe('aws', T);
  for (let i = 0; i < SEEN_SIGNATURES_MAX; i++) assert.equal(guard.admit({ d: `d${i}`, ts: T }), undefined);
  assert.equal(guard.seenSize, SEEN_SIGNATURES_MAX);
  assert.equal(guard.admit({ d: 'one-more', ts: T }), 'signatures_full', 'at the bound: refused (busy), nothing evicted early');
  assert.equal(guard.admit({ d: 'd0', ts: T }), 'replayed', 'a remembered signature is still refused at the bound');
  guard.observe('aws', T + SIGNATURE_WINDOW_MS + 1_000);
  assert.equal(guard.seenSize, 0, 'every signature fell out of the window and was dropped');
  assert.equal(guard.admit({ d: 'one-more', ts: T + SIGNATURE_WINDOW_MS }), undefined);
  assert.equal(guard.admit({ d: 'd0', ts: T }), 'signature_expired', 'a replay of a dropped signature is refused as expired');
});

test('Guard: replay: the seen-set and clocks survive snapshot and restore with the same hash, and still refuse a replay', () => {
  const { state } = replayTwice([record('aws', T, sig('kept', T)), record('gcp', T + 40, sig('also', T + 30))]);
  const guardBytes = Buffer.from(JSON.stringify(state.guard.toJSON()));
  const keysBytes = Buffer.from(JSON.stringify(state.keys.toJSON()));
  const engineBytes = snapshot(state.engine);
  const stateHash = replicaHash(engineBytes, keysBytes, guardBytes);
  assert.equal(stateHash, replicaStateHash(state));
  const parts = decodeSnapshotFile(Buffer.concat(encodeSnapshotFile({
    position: 2, seq: state.engine.seq, stateHash, checkpoint: true, engine: engineBytes, projections: Buffer.from('{}'), keys: keysBytes, guard: guardBytes,
  })));
  assert.ok(parts.guard !== undefined, 'the snapshot file holds the guard');
  const restored = LogGuard.fromJSON(JSON.parse(Buffer.from(parts.guard).toString('utf8')) as ReturnType<LogGuard['toJSON']>);
  assert.equal(replicaHash(parts.engine, parts.keys, Buffer.from(JSON.stringify(restored.toJSON()))), stateHash, 'same state hash after restore');
  assert.equal(restored.admit(sig('kept', T)), 'replayed');
  assert.deepEqual([...restored.clocks()].sort(), [...state.guard.clocks()].sort());
});

test('Guard: clock: a cloud whose clock runs 2 s fast moves the log time at most the limit past the other cloud, whose commands keep applying', () => {
  const { state, outcomes } = replayTwice([
    record('aws', T),
    record('fast', T + 2_000 + 10),
    record('aws', T + 100),
    record('fast', T + 2_000 + 200),
    record('aws', T + 300),
  ]);
  assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'ok', 'ok'], 'the correct cloud\'s commands are not expired by the fast one');
  assert.ok(state.engine.now <= T + 300 + CLOCK_AHEAD_MAX_MS, `engine time ${state.engine.now - T} ms past T, at most ${CLOCK_AHEAD_MAX_MS} ahead of the correct cloud`);
  const fast = state.guard.clocks().get('fast');
  assert.ok(fast !== undefined && fast.aheadMs >= 1_800, `the fast cloud is reported ahead (${fast?.aheadMs ?? 0} ms)`);
  assert.ok((state.guard.clocks().get('aws')?.aheadMs ?? 0) < 0, 'the correct cloud is reported behind the fast one');
});

test('Guard: clock: a cloud that is the only writer moves time freely, after a minute idle too', () => {
  const { state, outcomes } = replayTwice([
    record('aws', T),
    record('aws', T + 60_000),
    // The other cloud wrote last more than the peers window ago: it no longer holds time back.
    record('gcp', T + 60_010),
    record('aws', T + 125_000),
  ]);
  assert.deepEqual(outcomes, ['ok', 'ok', 'ok', 'ok']);
  assert.equal(state.engine.now, T + 125_000);
  assert.equal(state.guard.logTs, T + 125_000);
});

test('Guard: clock: a cloud idle for 20 s that writes heartbeat records still bounds a fast cloud, so its first command after the quiet spell applies', () => {
  const fastWrites = (from: number, to: number): LogBatch[] =>
    Array.from({ length: (to - from) / 1_000 + 1 }, (_, i) => record('fast', from + i * 1_000 + 2_000));
  const heartbeat = (ts: number): LogBatch => ({ ts, origin: 'gw-aws', cloud: 'aws', items: [] });
  const quietSpell = (withHeartbeats: boolean): LogBatch[] => [
    record('aws', T),
    ...fastWrites(T, T + 20_000).flatMap((r, i) => (withHeartbeats && i % 2 === 0 ? [heartbeat(T + i * 1_000), r] : [r])),
    record('aws', T + 20_000),
  ];
  const idle = replayTwice(quietSpell(false)).outcomes;
  assert.equal(idle.at(-1), 'command_expired', 'without heartbeats the idle cloud no longer bounds the fast one (the limit documented in OPERATIONS.md)');
  const { state, outcomes } = replayTwice(quietSpell(true));
  assert.equal(outcomes.at(-1), 'ok', 'with heartbeats it still counts, and its command applies');
  assert.ok(state.guard.logTs <= T + 20_000 + CLOCK_AHEAD_MAX_MS);
});

test('Guard: clock: a slow cloud hurts only its own commands', () => {
  const { outcomes } = replayTwice([
    record('aws', T),
    record('gcp', T + 10),
    record('slow', T + 20 - 2_000),
    record('aws', T + 30),
  ]);
  assert.deepEqual(outcomes, ['ok', 'ok', 'command_expired', 'ok']);
});

test('Guard: records from before the guard (no cloud) still apply and are not bounded', () => {
  const { state, outcomes } = replayTwice([record(undefined, T), record(undefined, T + 5_000)]);
  assert.deepEqual(outcomes, ['ok', 'ok']);
  assert.equal(state.engine.now, T + 5_000);
});

test('Guard: clock: at CLOCK_CLOUDS_MAX clouds the one that wrote longest ago is forgotten', () => {
  const guard = new LogGuard();
  for (let i = 0; i <= CLOCK_CLOUDS_MAX; i++) guard.observe(`c${i}`, T + i);
  assert.equal(guard.clocks().size, CLOCK_CLOUDS_MAX);
  assert.equal(guard.clocks().has('c0'), false, 'the stalest cloud is dropped');
  assert.equal(guard.clocks().has(`c${CLOCK_CLOUDS_MAX}`), true);
});

test('Guard: records: version 4 needs the writing cloud and well-formed signature digests; version 3 still decodes', () => {
  const bytes = (o: unknown): Uint8Array => Buffer.from(JSON.stringify(o));
  const item = { rid: 1, deadline: T, cmds: [createUser] };
  assert.throws(() => decodeBatch(bytes({ v: 4, ts: T, origin: 'gw', items: [item] })), RecordDecodeError);
  assert.throws(() => decodeBatch(bytes({ v: 4, ts: T, origin: 'gw', cloud: 'aws', items: [{ ...item, sig: { d: 'short', ts: T } }] })), RecordDecodeError);
  assert.equal(decodeBatch(bytes({ v: 3, ts: T, origin: 'gw', items: [item] })).cloud, undefined);
  const batch = decodeBatch(encodeBatch({ ts: T, origin: 'gw', cloud: 'aws', items: [{ ...item, sig: sig('x', T) }] }));
  assert.equal(batch.cloud, 'aws');
  assert.deepEqual(batch.items[0]?.sig, sig('x', T));
});

test('Guard: --clock-offset-ms may be negative and is bounded, with a clear error', () => {
  assert.equal(loadConfig(['--clock-offset-ms=-2000'], {}).clockOffsetMs, -2_000);
  assert.equal(loadConfig([], {}).clockOffsetMs, 0);
  assert.throws(() => loadConfig(['--clock-offset-ms', '700000'], {}), /--clock-offset-ms must be within 600000 ms/);
  assert.throws(() => loadConfig(['--clock-offset-ms', '2s'], {}), /--clock-offset-ms must be a whole number/);
});

const withdrawal = { ccy: 'USDT', amt: '10', dest: '4', toAddr: '0x1111111111111111111111111111111111111111', chain: 'USDT-ERC20', fee: '1' };

let server: ServerProcess;
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'everbook-guard-'));
  server = await startServer(dir, ['--rate-limits', 'false']);
});
after(async () => {
  await kill(server, 'SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

test('Guard: a real server: the same signed withdrawal sent twice applies once; the repeat is refused with 50102', async () => {
  const alice = server.traders[0]!;
  const history = async (): Promise<number> => (await okx(server.url, 'GET', '/api/v5/asset/withdrawal-history?ccy=USDT', undefined, alice)).data.length;
  const before = await history();
  const ts = new Date().toISOString();
  const first = await okx(server.url, 'POST', '/api/v5/asset/withdrawal', withdrawal, alice, 10_000, ts);
  assert.equal(first.code, '0', `first withdrawal: ${first.msg}`);
  const again = await okx(server.url, 'POST', '/api/v5/asset/withdrawal', withdrawal, alice, 10_000, ts);
  assert.equal(again.code, '50102', 'the same signed withdrawal again is refused as a replay');
  assert.equal(again.httpStatus, 401);
  assert.equal(await history(), before + 1, 'one withdrawal, not two');
  const fresh = await okx(server.url, 'POST', '/api/v5/asset/withdrawal', withdrawal, alice);
  assert.equal(fresh.code, '0', 'the same body signed afresh is a new request, and is accepted');
  assert.equal(await history(), before + 2);
});

test('Guard: a real server: one signature in its four Base64 spellings (the last character carries two ignored bits) applies once', async () => {
  const alice = server.traders[0]!;
  const history = async (): Promise<number> => (await okx(server.url, 'GET', '/api/v5/asset/withdrawal-history?ccy=USDT', undefined, alice)).data.length;
  const before = await history();
  const ts = new Date().toISOString();
  const body = JSON.stringify(withdrawal);
  const signature = sign(alice.secretKey, ts, 'POST', '/api/v5/asset/withdrawal', body);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const last = alphabet.indexOf(signature[42]!);
  const spellings = [0, 1, 2, 3].map((low) => `${signature.slice(0, 42)}${alphabet[(last & ~3) | low]!}=`);
  const codes: string[] = [];
  for (const spelling of spellings) {
    const r = await fetch(`${server.url}/api/v5/asset/withdrawal`, {
      method: 'POST', body, signal: AbortSignal.timeout(10_000),
      headers: {
        'content-type': 'application/json', 'OK-ACCESS-KEY': alice.apiKey, 'OK-ACCESS-PASSPHRASE': alice.passphrase,
        'OK-ACCESS-TIMESTAMP': ts, 'OK-ACCESS-SIGN': spelling,
      },
    });
    codes.push(((await r.json()) as { code: string }).code);
  }
  assert.deepEqual(codes.sort(), ['0', '50102', '50102', '50102'], 'every spelling verifies, and only the first applies');
  assert.equal(await history(), before + 1, 'one withdrawal, not four');
});

test('Guard: a real server: the same signed order sent twice is placed once; re-signed, its clOrdId still protects it', async () => {
  const bob = server.traders[1] ?? server.traders[0]!;
  // A price no other test uses, so the open orders at it are this test's alone.
  const order = { instId: 'ETH-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px: '51', sz: '0.01' };
  const openAt51 = async (): Promise<number> =>
    (await okx(server.url, 'GET', '/api/v5/trade/orders-pending?instId=ETH-USDT', undefined, bob)).data.filter((o) => o['px'] === '51').length;
  const before = await openAt51();
  const ts = new Date().toISOString();
  const placed = await okx(server.url, 'POST', '/api/v5/trade/order', order, bob, 10_000, ts);
  assert.equal(placed.code, '0', `order: ${placed.msg} ${JSON.stringify(placed.data)}`);
  const replayed = await okx(server.url, 'POST', '/api/v5/trade/order', order, bob, 10_000, ts);
  assert.equal(replayed.code, '50102', 'the same signed order again is refused as a replay');
  assert.equal(await openAt51(), before + 1, 'one order placed, not two');

  const withId = { ...order, clOrdId: `guard${Date.now()}` };
  assert.equal((await okx(server.url, 'POST', '/api/v5/trade/order', withId, bob)).code, '0');
  const resigned = await okx(server.url, 'POST', '/api/v5/trade/order', withId, bob);
  assert.equal(resigned.data[0]?.['sCode'], '51016', 'the same order signed afresh meets its clOrdId, as before');
  assert.equal(await openAt51(), before + 2);
});

test('Guard: a real server: status reports the log guard (clocks per cloud, this node against the log, signatures remembered)', async () => {
  const token = (await readFile(join(dir, 'admin.token'), 'utf8')).trim();
  const r = await fetch(`${server.url}/admin/v1/status`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(10_000) });
  const status = (await r.json()) as { clocks: { logTs: number; nodeAheadOfLogMs: number; seenSignatures: number; clouds: Record<string, { lastTs: number; aheadMs: number }> } };
  const local = status.clocks.clouds['local'];
  assert.ok(local !== undefined && local.lastTs > 0, 'the node\'s own cloud is listed with its last record time');
  assert.equal(local.aheadMs, 0, 'the only cloud is compared with no one');
  assert.ok(status.clocks.logTs >= local.lastTs);
  assert.equal(typeof status.clocks.nodeAheadOfLogMs, 'number');
  assert.ok(status.clocks.seenSignatures >= 4, `signed requests remembered: ${status.clocks.seenSignatures}`);
});
