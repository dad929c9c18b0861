// Proof of reserves, liabilities side: a Merkle sum tree over every user's balances at one
// position of the log. Every user's proof verifies against the published root; each way an
// exchange could cheat (drop a user, move a sum between children, hide a negative leaf, hand out
// a wrong salt) is refused by the verifier; any change of any balance changes the root; and two
// replicas applying the same log build byte-identical reports, off the apply thread.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { Engine, type Command, type Event, type Result } from '../src/core/index.js';
import { FileJournal } from '../src/log/index.js';
import {
  AMOUNT_MAX, buildTree, encodeNode, leafHash, LiabilitiesReports, parentHash, ReportStore, reportOf, saltKeyFrom, toHex, userHash, userSalt,
  verifyProof, writeAmount, type BalanceTable, type InclusionProof, type LiabilitiesReport, type ReportState,
} from '../src/por/index.js';
import { copyBalances, Replica, SnapshotStore, Submitter } from '../src/replica/index.js';
import { mulberry32 } from '../bench/w1.js';
import { assets, instruments, T0 } from './support/scenario.js';

const saltKey = saltKeyFrom(Buffer.from('5e'.repeat(32), 'hex'));

/**
 * An exchange of `users` traders: random deposits of BTC and USDT (some users get nothing), then
 * resting orders that hold funds and crossing orders that trade, so balances are split between
 * available and held.
 */
function exchange(users: number, seed: number): Engine {
  const engine = new Engine();
  const events: Event[] = [];
  const run = (cmd: Command): Result => {
    const r = engine.apply(cmd, T0, events);
    events.length = 0;
    engine.releaseEvents();
    return r;
  };
  for (const a of assets) assert.ok(run(a).ok);
  assert.ok(run(instruments[0]!).ok);
  const draw = mulberry32(seed);
  for (let u = 1; u <= users; u++) {
    assert.ok(run({ type: 'CreateUser' }).ok);
    if (u % 7 === 0) continue;
    run({ type: 'CreditDeposit', depositId: `btc-${u}`, userId: u, asset: 'BTC', amount: String(1 + Math.floor(draw() * 1e9)) });
    run({ type: 'CreditDeposit', depositId: `usdt-${u}`, userId: u, asset: 'USDT', amount: String(1 + Math.floor(draw() * 1e12)) });
  }
  for (let u = 1; u <= users; u++) {
    if (u % 7 === 0) continue;
    const buy = draw() < 0.5;
    run({ type: 'PlaceOrder', userId: u, instId: 'BTC-USDT', side: buy ? 'buy' : 'sell', orderType: 'limit', priceTicks: 2_990_000 + Math.floor(draw() * 20_000), sizeLots: 10 + Math.floor(draw() * 30) });
  }
  return engine;
}

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'everbook-por-'));
}

/** Builds and stores the report of a table, and every user's proof. */
async function built(table: BalanceTable, dir: string): Promise<{ report: LiabilitiesReport; store: ReportStore; proofs: Map<number, InclusionProof> }> {
  const store = new ReportStore(dir);
  const tree = buildTree(table, saltKey);
  const report = await store.write(reportOf(tree, { reportId: table.reportId, position: 10, requestSeq: 9, seq: 9, ts: T0, blockNumber: 0 }, table.assets), tree, table.userIds);
  const proofs = new Map<number, InclusionProof>();
  for (const userId of table.userIds) proofs.set(userId, (await store.proof(table.reportId, userId, saltKey))!);
  return { report, store, proofs };
}

const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** The verifier's verdict as one word: 'ok' or the problem it names. */
const problemOf = (v: ReturnType<typeof verifyProof>): string => (v.ok ? 'ok' : v.problem);

function readyReport(state: ReportState): LiabilitiesReport {
  assert.equal(state.state, 'ready', JSON.stringify(state));
  return state.report;
}

test('Proof of reserves: every user of 50 finds their exact balances (available + held) in the tree, and their proof verifies', async () => {
  const engine = exchange(50, 1);
  const dir = await tempDir();
  try {
    const { report, proofs } = await built(copyBalances(engine, 'r1'), dir);
    assert.equal(report.leafCount, 50);
    assert.equal(report.depth, 6);
    assert.deepEqual(report.assets.map((a) => a.asset), ['BTC', 'USDT', 'ETH']);
    const totals = new Map<string, bigint>();
    for (let u = 1; u <= 50; u++) {
      const proof = proofs.get(u)!;
      const expected: Record<string, string> = {};
      for (const asset of ['BTC', 'USDT', 'ETH']) {
        const a = engine.assetById.get(asset)!;
        const account = engine.users[u]!.accounts[a.index];
        const total = account === undefined ? 0n : account.available.toBigInt() + account.held.toBigInt();
        expected[asset] = total.toString();
        totals.set(asset, (totals.get(asset) ?? 0n) + total);
      }
      const verdict = verifyProof(report, proof, { userId: u, balances: expected });
      assert.deepEqual(verdict, { ok: true, userId: u, balances: expected, reportId: 'r1', position: 10 });
    }
    // Some balances are partly held by resting orders: the leaf counts both halves.
    assert.ok([...engine.users].some((user) => user?.accounts.some((a) => a !== undefined && !a.held.isZero())));
    assert.deepEqual(report.totals, Object.fromEntries([...totals].map(([k, v]) => [k, v.toString()])));
    // The proofs are also valid as JSON read back from files, the way a user holds them.
    assert.equal(verifyProof(JSON.parse(JSON.stringify(report)), JSON.parse(JSON.stringify(proofs.get(7)!))).ok, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Proof of reserves: a report of 1 user and of 0 users', async () => {
  const dir = await tempDir();
  try {
    const one = await built(copyBalances(exchange(1, 2), 'one'), dir);
    assert.equal(one.report.depth, 0);
    assert.equal(verifyProof(one.report, one.proofs.get(1)!, { userId: 1 }).ok, true);
    const none = await built(copyBalances(new Engine(), 'none'), dir);
    assert.deepEqual([none.report.leafCount, none.report.depth, none.report.root.hash], [0, 0, '0'.repeat(64)]);
    assert.equal(await none.store.proof('none', 1, saltKey), undefined);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Proof of reserves: tampering: a dropped user cannot be shown a proof that verifies against the published root', async () => {
  const engine = exchange(40, 3);
  const dir = await tempDir();
  try {
    const full = copyBalances(engine, 'drop');
    const honest = await built(full, join(dir, 'honest'));
    // The exchange publishes a tree without user 13 (a large holder it would rather not count).
    const keep = [...full.userIds].map((_, i) => i).filter((i) => full.userIds[i] !== 13);
    const width = full.assets.length * 2;
    const dropped: BalanceTable = {
      ...full,
      userIds: Uint32Array.from(keep.map((i) => full.userIds[i]!)),
      limbs: Float64Array.from(keep.flatMap((i) => [...full.limbs.subarray(i * width, (i + 1) * width)])),
    };
    const cheat = await built(dropped, join(dir, 'cheat'));
    assert.equal(cheat.report.depth, honest.report.depth);
    assert.notEqual(cheat.report.totals.USDT, honest.report.totals.USDT);
    assert.equal(await cheat.store.proof('drop', 13, saltKey), undefined);
    // The proof from the honest tree, handed out with the smaller tree's report, fails.
    const verdict = verifyProof(cheat.report, { ...honest.proofs.get(13)!, rootHash: cheat.report.root.hash });
    assert.equal(problemOf(verdict), 'root_mismatch');
    // Every other user's proof from the smaller tree still verifies: only user 13 can tell.
    for (const [userId, proof] of cheat.proofs) assert.equal(verifyProof(cheat.report, proof, { userId }).ok, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Proof of reserves: tampering: a sum moved between children (the flaw of OKX\'s first tree) changes the root', async () => {
  const dir = await tempDir();
  try {
    const { report, proofs } = await built(copyBalances(exchange(30, 4), 'moved'), dir);
    const proof = clone(proofs.get(5)!);
    // Take 1 USDT minor unit off the first sibling and put it on the next: every total the user
    // could add up stays the same, only the split between children differs.
    const usdt = report.assets.findIndex((a) => a.asset === 'USDT');
    const first = proof.path[0]!.sums as string[];
    const second = proof.path[1]!.sums as string[];
    assert.ok(BigInt(first[usdt]!) > 0n);
    first[usdt] = (BigInt(first[usdt]!) - 1n).toString();
    second[usdt] = (BigInt(second[usdt]!) + 1n).toString();
    const verdict = verifyProof(report, proof);
    assert.equal(problemOf(verdict), 'root_mismatch');

    // The same move inside the tree: two parents whose children split the same total differently hash apart.
    const assetsCount = report.assets.length;
    const node = (sums: bigint[]): Uint8Array => encodeNode({ hash: new Uint8Array(32).fill(7), sums: [...sums, ...new Array<bigint>(assetsCount - sums.length).fill(0n)] });
    const pair = (a: Uint8Array, b: Uint8Array): Uint8Array => Buffer.concat([a, b]);
    assert.notEqual(toHex(parentHash(pair(node([10n]), node([5n])))), toHex(parentHash(pair(node([11n]), node([4n])))));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

/**
 * A cheating exchange's tree of two leaves: the user's (100) and a fake account of -60, so the
 * published total is 40. The hashes are computed consistently for the cheat, either writing -60
 * as text or as the 128-bit number that wraps around to it.
 */
function negativeLeafCheat(asWrapped: boolean): { report: LiabilitiesReport; proof: InclusionProof } {
  const salt = userSalt(saltKey, 'neg', 1);
  const uh = userHash(salt, 1);
  const bytes = (value: bigint): Uint8Array => {
    const out = new Uint8Array(16);
    writeAmount(out, 0, value < 0n ? value + AMOUNT_MAX + 1n : value);
    return out;
  };
  const mine = { hash: leafHash(uh, bytes(100n)), sums: [100n] };
  const fake = { hash: leafHash(userHash(userSalt(saltKey, 'neg', 2), 2), bytes(-60n)), sums: [AMOUNT_MAX + 1n - 60n] };
  const root = parentHash(Buffer.concat([encodeNode(mine), encodeNode(fake)]));
  const report: LiabilitiesReport = {
    version: 1, reportId: 'neg', position: 1, requestSeq: 1, seq: 1, ts: T0, assets: [{ asset: 'USDT', scale: 6 }], leafCount: 2, depth: 1,
    root: { hash: toHex(root), sums: ['40'] }, totals: { USDT: '40' }, blockNumber: 0,
  };
  const proof: InclusionProof = {
    version: 1, reportId: 'neg', rootHash: toHex(root), userId: 1, leafIndex: 0, salt: toHex(salt), userHash: toHex(uh), balances: { USDT: '100' },
    path: [{ hash: toHex(fake.hash), sums: [asWrapped ? fake.sums[0]!.toString() : '-60'] }],
  };
  return { report, proof };
}

test('Proof of reserves: tampering: a negative leaf is refused, whether written as -60 or as a 128-bit number that wraps to it', () => {
  const plain = negativeLeafCheat(false);
  const verdict = verifyProof(plain.report, plain.proof, { userId: 1, balances: { USDT: '100' } });
  assert.equal(problemOf(verdict), 'negative_amount');
  const wrapped = negativeLeafCheat(true);
  const wrappedVerdict = verifyProof(wrapped.report, wrapped.proof, { userId: 1, balances: { USDT: '100' } });
  assert.equal(problemOf(wrappedVerdict), 'sum_overflow');
  // A user's own balance cannot be negative either, and the builder refuses a negative balance outright.
  const own = clone(plain.proof);
  (own.balances as Record<string, string>).USDT = '-1';
  const ownVerdict = verifyProof(plain.report, own);
  assert.equal(problemOf(ownVerdict), 'negative_amount');
  assert.throws(() => buildTree({ reportId: 'x', assets: [{ asset: 'USDT', scale: 6 }], userIds: Uint32Array.of(1), limbs: Float64Array.of(-1, 0) }, saltKey), /negative/);
});

test('Proof of reserves: tampering: a wrong salt, another user\'s proof, a changed balance, a short path, another report: each refused by name', async () => {
  const dir = await tempDir();
  try {
    const { report, proofs } = await built(copyBalances(exchange(20, 5), 'salt'), dir);
    const problem = (p: unknown, expected?: Parameters<typeof verifyProof>[2]): string => {
      const v = verifyProof(report, p, expected);
      return v.ok ? 'ok' : v.problem;
    };
    const mine = proofs.get(3)!;
    assert.equal(problem({ ...mine, salt: proofs.get(4)!.salt }), 'salt_mismatch');
    assert.equal(problem({ ...mine, salt: 'ab'.repeat(32) }), 'salt_mismatch');
    // Another user's (valid) proof is not mine.
    assert.equal(problem(proofs.get(4)!, { userId: 3 }), 'user_mismatch');
    assert.equal(problem({ ...proofs.get(4)!, userId: 3 }), 'salt_mismatch');
    // My balance shown smaller than it is: the leaf no longer hashes to the path's root.
    const usdt = BigInt(mine.balances.USDT!);
    assert.equal(problem({ ...mine, balances: { ...mine.balances, USDT: (usdt - 1n).toString() } }), 'root_mismatch');
    assert.equal(problem(mine, { balances: { USDT: (usdt + 5n).toString() } }), 'balances_mismatch');
    assert.equal(problem({ ...mine, path: mine.path.slice(1) }), 'path_length');
    assert.equal(problem({ ...mine, leafIndex: mine.leafIndex ^ 1 }), 'root_mismatch');
    assert.equal(problem({ ...mine, reportId: 'other' }), 'report_mismatch');
    assert.equal(problem({ ...mine, balances: { BTC: '1' } }), 'proof_malformed');
    assert.equal(problem(mine, { userId: 3, balances: { USDT: usdt.toString() } }), 'ok');
    // A report whose totals are not its root's sums is refused before any proof is looked at.
    const v = verifyProof({ ...report, totals: { ...report.totals, USDT: '1' } }, mine);
    assert.equal(problemOf(v), 'totals_mismatch');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Proof of reserves: the root changes when any one balance of any user changes by one minor unit', () => {
  const table = copyBalances(exchange(24, 6), 'any');
  const root = toHex(buildTree(table, saltKey).root.hash);
  const roots = new Set([root]);
  const width = table.assets.length;
  for (let i = 0; i < table.userIds.length; i++) {
    for (let a = 0; a < width; a++) {
      const limbs = Float64Array.from(table.limbs);
      limbs[(i * width + a) * 2 + 1]! += 1;
      roots.add(toHex(buildTree({ ...table, limbs }, saltKey).root.hash));
    }
  }
  assert.equal(roots.size, 1 + table.userIds.length * width);
  // The salts are per report: the same balances under another report id give another tree.
  assert.notEqual(toHex(buildTree({ ...table, reportId: 'other' }, saltKey).root.hash), root);
});

/** A replica over a journal with a report queue beside it, as a node wires them. */
function replicaWithReports(journal: FileJournal, dir: string): { replica: Replica; reports: LiabilitiesReports; copyMs: number[] } {
  const reports = new LiabilitiesReports({ dir: join(dir, 'por'), saltKey });
  const copyMs: number[] = [];
  const replica = new Replica({
    log: journal, snapshots: new SnapshotStore(join(dir, 'snapshots')), checkpointEveryCommands: 1_000_000, compactLog: false,
    logger: pino({ level: 'silent' }), onFatal: (e) => { throw e; },
    onLiabilitiesReport: (request, copy) => {
      if (reports.known(request.reportId)) return;
      const t0 = performance.now();
      const table = copy();
      copyMs.push(performance.now() - t0);
      reports.request(table, request);
    },
  });
  return { replica, reports, copyMs };
}

test('Proof of reserves: two replicas applying the same log build byte-identical reports at the requested position; trading after it changes nothing in them', async () => {
  const dir = await tempDir();
  try {
    const journal = await FileJournal.open(join(dir, 'journal'));
    const a = replicaWithReports(journal, join(dir, 'cloud-a'));
    await a.replica.start();
    const submitter = new Submitter(journal, a.replica, { inFlightMax: 1_000, applyTimeoutMs: 5_000, commandTtlMs: 60_000, now: Date.now, cloud: 'a' });
    for (const cmd of [...assets, instruments[0]!]) assert.ok((await submitter.submit([cmd]))[0]!.ok);
    const draw = mulberry32(7);
    for (let u = 1; u <= 30; u++) {
      await submitter.submit([{ type: 'CreateUser' }, { type: 'CreditDeposit', depositId: `d${u}`, userId: u, asset: 'USDT', amount: String(1 + Math.floor(draw() * 1e12)) }]);
    }
    await submitter.submit([{ type: 'RequestLiabilitiesReport', reportId: 'r-1' }]);
    assert.deepEqual((await submitter.submit([{ type: 'RequestLiabilitiesReport', reportId: 'bad id' }]))[0], { ok: false, reject: { code: 'report_id_invalid', message: 'Report ids are 1 to 64 letters, digits, \'-\' or \'_\'; the block number a whole number.' } });
    // Trading and deposits after the request are not in the report.
    await submitter.submit([{ type: 'CreditDeposit', depositId: 'late', userId: 1, asset: 'USDT', amount: '5' }]);
    await submitter.submit([{ type: 'RequestLiabilitiesReport', reportId: 'r-2' }]);
    // A second request of a known id is not built again: the first one's position stands.
    await submitter.submit([{ type: 'RequestLiabilitiesReport', reportId: 'r-1' }]);
    const a1 = readyReport(await a.reports.settled('r-1'));
    const a2 = readyReport(await a.reports.settled('r-2'));

    // Cloud B: a second replica applies the same log from the start.
    const b = replicaWithReports(journal, join(dir, 'cloud-b'));
    await b.replica.start();
    const b1 = readyReport(await b.reports.settled('r-1'));
    readyReport(await b.reports.settled('r-2'));
    for (const file of ['report.json', 'tree.bin', 'index.bin']) {
      for (const id of ['r-1', 'r-2']) {
        assert.deepEqual(await readFile(join(dir, 'cloud-b', 'por', id, file)), await readFile(join(dir, 'cloud-a', 'por', id, file)), `${id}/${file} identical`);
      }
    }
    assert.equal(b1.root.hash, a1.root.hash);
    assert.notEqual(a2.root.hash, a1.root.hash);
    assert.equal(BigInt(a2.totals.USDT!) - BigInt(a1.totals.USDT!), 5n);
    assert.equal(a1.leafCount, 30);
    assert.ok(a1.position < a2.position);
    // User 1's proof from cloud B verifies against cloud A's report.
    const proof = await b.reports.store.proof('r-1', 1, saltKey);
    assert.equal(verifyProof(a1, proof).ok, true);
    assert.equal(a.copyMs.length, 2);
    assert.equal(b.copyMs.length, 2);
    await a.replica.stop();
    await b.replica.stop();
    await a.reports.close();
    await b.reports.close();
    await journal.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Proof of reserves: a report that cannot start (the copy throws) is logged; the replica keeps applying', async () => {
  const dir = await tempDir();
  try {
    const journal = await FileJournal.open(join(dir, 'journal'));
    const seen: string[] = [];
    const replica = new Replica({
      log: journal, snapshots: new SnapshotStore(join(dir, 'snapshots')), checkpointEveryCommands: 1_000_000, compactLog: false,
      logger: pino({ level: 'silent' }), onFatal: (e) => { throw e; },
      onLiabilitiesReport: (request) => {
        seen.push(request.reportId);
        throw new RangeError('more users than a report holds');
      },
    });
    await replica.start();
    const submitter = new Submitter(journal, replica, { inFlightMax: 10, applyTimeoutMs: 5_000, commandTtlMs: 60_000, now: Date.now, cloud: 'a' });
    assert.deepEqual(await submitter.submit([{ type: 'RequestLiabilitiesReport', reportId: 'too-big' }]), [{ ok: true }]);
    assert.deepEqual(await submitter.submit([{ type: 'CreateUser' }]), [{ ok: true, userId: 1 }]);
    assert.deepEqual(seen, ['too-big']);
    assert.equal(replica.state, 'serving');
    await replica.stop();
    await journal.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Proof of reserves: the build queue is bounded: past pendingMax a request fails at once and says why; a known id is not queued twice; a stopping node drains it', async () => {
  const dir = await tempDir();
  try {
    const reports = new LiabilitiesReports({ dir, saltKey, pendingMax: 1 });
    const table = (id: string): BalanceTable => copyBalances(exchange(20, 8), id);
    const meta = (reportId: string): Parameters<LiabilitiesReports['request']>[1] => ({ reportId, position: 1, requestSeq: 1, seq: 1, ts: T0, blockNumber: 0 });
    // The first goes to the worker at once; the second waits; the third finds the queue full.
    assert.equal(reports.request(table('q-1'), meta('q-1')), 'queued');
    assert.equal(reports.request(table('q-2'), meta('q-2')), 'queued');
    assert.equal(reports.request(table('q-3'), meta('q-3')), 'queue_full');
    assert.equal(reports.request(table('q-1'), meta('q-1')), 'duplicate');
    assert.deepEqual(await reports.state('q-3'), { state: 'failed', error: 'more than 1 reports waiting to be built' });
    assert.equal(reports.known('q-3'), false);
    // A stopping node waits for the builds (bounded): not done at once, done in time.
    assert.equal(await reports.drain(0), false);
    assert.equal(await reports.drain(60_000), true);
    readyReport((await reports.state('q-1'))!);
    readyReport((await reports.state('q-2'))!);
    assert.equal(reports.known('q-2'), true);
    await reports.close();
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('Proof of reserves: balances past 2^48 and 2^96 carry exactly between the builder\'s limbs: every proof verifies and the totals are exact', async () => {
  const values: bigint[][] = [
    [2n ** 48n - 1n, 10n ** 30n], [1n, 10n ** 30n], [2n ** 96n - 1n, 0n], [1n, 5n], [2n ** 48n, 2n ** 53n + 1n],
  ];
  const limbs = new Float64Array(values.length * 2 * 2);
  values.forEach((row, i) => {
    row.forEach((v, a) => {
      limbs[(i * 2 + a) * 2] = Number(v / 10n ** 15n);
      limbs[(i * 2 + a) * 2 + 1] = Number(v % 10n ** 15n);
    });
  });
  const table: BalanceTable = { reportId: 'wide', assets: [{ asset: 'WEI', scale: 18 }, { asset: 'BIG', scale: 0 }], userIds: Uint32Array.of(1, 2, 3, 4, 5), limbs };
  const dir = await tempDir();
  try {
    const { report, proofs } = await built(table, dir);
    assert.deepEqual(report.totals, {
      WEI: values.reduce((s, r) => s + r[0]!, 0n).toString(),
      BIG: values.reduce((s, r) => s + r[1]!, 0n).toString(),
    });
    for (const [i, row] of values.entries()) {
      const verdict = verifyProof(report, proofs.get(i + 1)!, { userId: i + 1, balances: { WEI: row[0]!.toString(), BIG: row[1]!.toString() } });
      assert.equal(problemOf(verdict), 'ok', `user ${i + 1}`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
