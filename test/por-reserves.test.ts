// Proof of reserves, reserves side, on a real local chain (anvil): the exchange's addresses read
// at the block the report names, each proven by its key's EIP-191 signature over a message that
// names the report's root. The verifier, reading the chain itself, accepts the honest section and
// refuses each tampering: an inflated balance, a signature that is another address's or over
// another root, a block that is not the chain's. Then end to end on a node with custody: the
// operator's report reads its reserves by itself, and the user verifies both halves from the API.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ANVIL_DEV_MNEMONIC, CustodyKeys, startAnvil, ViemChainClient } from '../src/custody/index.js';
import {
  buildTree, readReserves, reportOf, rpcReserveReader, saltKeyFrom, verifyReserves,
  type InclusionProof, type LiabilitiesReport, type ReserveChainReader, type ReserveSigner, type ReservesSection, type ReservesVerdict,
} from '../src/por/index.js';
import { mine, waitFor, writeKeyFile } from './support/chain.js';
import { okx } from './support/okx-client.js';
import { kill, startServer } from './support/server-process.js';

const saltKey = saltKeyFrom(Buffer.alloc(32, 9));
const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

/** A report over `users` users owing `eachMinor` ETH minor units (scale 8) each, at `blockNumber`. */
function ethReport(users: number, eachMinor: bigint, blockNumber: number, reportId = 'res-1'): LiabilitiesReport {
  const limbs = new Float64Array(users * 2);
  for (let i = 0; i < users; i++) {
    limbs[i * 2] = Number(eachMinor / 10n ** 15n);
    limbs[i * 2 + 1] = Number(eachMinor % 10n ** 15n);
  }
  const table = { reportId, assets: [{ asset: 'ETH', scale: 8 }], userIds: Uint32Array.from({ length: users }, (_, i) => i + 1), limbs };
  return reportOf(buildTree(table, saltKey), { reportId, position: 5, requestSeq: 5, seq: 5, ts: 0, blockNumber }, table.assets);
}

const problemOf = (v: ReservesVerdict): string => (v.ok ? 'ok' : v.problem);
const clone = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

test('Reserves on anvil: signed addresses at the report\'s block verify; each tampering is refused; two nodes write the same section', { timeout: 120_000 }, async () => {
  const anvil = await startAnvil();
  try {
    const client = new ViemChainClient(anvil.url);
    // anvil's own mnemonic: keys 0..9 start with 10,000 ETH each (the hot wallet and users 1..3 here).
    const keys = new CustodyKeys(ANVIL_DEV_MNEMONIC);
    await mine(anvil.url, 5);
    const block = await client.headNumber();
    const chain: ReserveChainReader = {
      chainId: () => client.chainId(),
      blockHash: async (n) => (await client.block(n))?.hash,
      balance: (a, n) => client.balance(a, n),
      tokenBalance: (t, a, n) => client.tokenBalance(t, a, n),
    };
    const signer: ReserveSigner = { address: (i) => keys.address(i), sign: (i, message) => keys.account(i).signMessage({ message }) };
    const assets = [{ asset: 'ETH', token: '', chainDecimals: 18, scale: 8 }];
    // Users are owed 1,000 ETH each (10^11 minor units at scale 8).
    const report = ethReport(3, 100_000_000_000n, block);
    const reserves = await readReserves({ report, assets, chain, signer });
    assert.equal(reserves.addresses.length, 4);
    assert.equal(reserves.addressesOmitted, 0);
    assert.equal(reserves.totals.ETH, (40_000n * 10n ** 18n).toString());
    // A second node reads the same block with the same key: the same bytes (RFC 6979 signatures).
    assert.deepEqual(await readReserves({ report, assets, chain, signer }), reserves);

    // Balances move after the report's block: the verifier reads the chain at that block.
    await mine(anvil.url, 2);
    const reader = rpcReserveReader(anvil.url);
    const honest = await verifyReserves(report, reserves, reader);
    assert.deepEqual(honest, {
      ok: true, fullyReserved: true, addresses: 4, addressesOmitted: 0,
      coverage: [{ asset: 'ETH', onChain: true, liabilities: (3_000n * 10n ** 18n).toString(), reserves: (40_000n * 10n ** 18n).toString(), covered: true }],
    });

    // An inflated balance (and totals made to agree with it).
    const inflated = clone(reserves) as { -readonly [K in keyof ReservesSection]: ReservesSection[K] } & { addresses: { balances: Record<string, string>; signature: string; address: string }[]; totals: Record<string, string> };
    inflated.addresses[1]!.balances.ETH = (BigInt(inflated.addresses[1]!.balances.ETH!) + 1n).toString();
    inflated.totals.ETH = (BigInt(inflated.totals.ETH!) + 1n).toString();
    assert.equal(problemOf(await verifyReserves(report, inflated, reader)), 'balance_mismatch');
    // An address the exchange does not control, shown with another address's signature.
    const borrowed = clone(reserves) as typeof inflated;
    borrowed.addresses[2]!.signature = borrowed.addresses[1]!.signature;
    assert.equal(problemOf(await verifyReserves(report, borrowed, reader)), 'signature_invalid');
    // Signatures made for another report's root, relabelled as this one's.
    const otherReport = ethReport(3, 100_000_000_000n, block, 'res-2');
    const stale = clone(await readReserves({ report: otherReport, assets, chain, signer })) as typeof inflated & { reportId: string; rootHash: string };
    assert.equal(problemOf(await verifyReserves(report, stale, reader)), 'report_mismatch');
    stale.reportId = report.reportId;
    stale.rootHash = report.root.hash;
    assert.equal(problemOf(await verifyReserves(report, stale, reader)), 'signature_invalid');
    // A block hash that is not the chain's at that height.
    assert.equal(problemOf(await verifyReserves(report, { ...reserves, blockHash: `0x${'ab'.repeat(32)}` }, reader)), 'block_mismatch');

    // Past the bound on addresses read, the rest are counted as omitted: fewer reserves, still valid.
    const bounded = await readReserves({ report, assets, chain, signer, addressesMax: 2 });
    assert.deepEqual([bounded.addresses.length, bounded.addressesOmitted], [3, 1]);
    const boundedVerdict = await verifyReserves(report, bounded, reader);
    assert.ok(boundedVerdict.ok);
    assert.deepEqual([boundedVerdict.addresses, boundedVerdict.addressesOmitted, boundedVerdict.coverage[0]!.reserves], [3, 1, (30_000n * 10n ** 18n).toString()]);

    // Liabilities larger than the reserves: the figures verify, and the verdict says not covered.
    const short = ethReport(3, 10n ** 15n * 10n ** 8n, block, 'res-3');
    const shortVerdict = await verifyReserves(short, await readReserves({ report: short, assets, chain, signer }), reader);
    assert.ok(shortVerdict.ok);
    assert.equal(shortVerdict.fullyReserved, false);
    assert.equal(shortVerdict.coverage[0]!.covered, false);
  } finally {
    await anvil.stop();
  }
});

function everbook(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

test('Reserves on a node with custody: the operator\'s report names a block, the node reads and signs its reserves, the user verifies proof and reserves from the API\'s replies', { timeout: 180_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'everbook-por-reserves-'));
  const anvil = await startAnvil();
  try {
    const keyFile = await writeKeyFile(dataDir);
    const server = await startServer(dataDir, ['--chain-rpc', anvil.url, '--custody-key-file', keyFile, '--custody-poll-ms', '50', '--rate-limits', 'false']);
    try {
      await mine(anvil.url, 5);
      const requested = await everbook(['por-request', '--report', 'res-node', '--data-dir', dataDir]);
      assert.equal(requested.code, 0, requested.stderr);
      const block = (JSON.parse(requested.stdout) as { blockNumber: number }).blockNumber;
      assert.ok(block >= 1);
      const status = await everbook(['por-status', '--report', 'res-node', '--wait-ms', '30000', '--data-dir', dataDir]);
      assert.equal((JSON.parse(status.stdout) as { state: string }).state, 'ready', status.stdout);
      const published = await waitFor('the reserves section', async () => {
        const r = await okx<{ report: LiabilitiesReport; reserves: ReservesSection | null }>(server.url, 'GET', '/api/v5/public/proof-of-reserves?reportId=res-node');
        return r.data[0]?.reserves === null ? undefined : r;
      }, 60_000, 200);
      const { report, reserves } = published.data[0]!;
      assert.equal(reserves!.blockNumber, block);
      assert.deepEqual(reserves!.assets.map((a) => a.asset).sort(), ['ETH', 'USDT']);
      assert.equal(reserves!.addresses[0]!.index, 0);
      assert.equal(reserves!.addresses.length, report.leafCount + 1);
      const stored = JSON.parse(await readFile(join(dataDir, 'por', 'res-node', 'reserves.json'), 'utf8')) as ReservesSection;
      assert.deepEqual(stored, reserves);

      const trader = server.traders[0]!;
      const proof = await okx<InclusionProof>(server.url, 'GET', '/api/v5/asset/proof-of-reserves?reportId=res-node', undefined, trader);
      const reportFile = join(dataDir, 'report-reply.json');
      const proofFile = join(dataDir, 'proof-reply.json');
      await writeFile(reportFile, JSON.stringify(published));
      await writeFile(proofFile, JSON.stringify(proof));
      const verified = await everbook(['por-verify', '--report', reportFile, '--proof', proofFile, '--user', String(trader.userId), '--rpc', anvil.url]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      const out = JSON.parse(verified.stdout) as { ok: boolean; proof: { ok: boolean }; reserves: ReservesVerdict };
      assert.equal(out.proof.ok, true);
      assert.ok(out.reserves.ok, verified.stdout);
      // ETH and USDT are on the chain and covered; the dev exchange's BTC is credited by the
      // operator, on no chain: owed, with no reserves to show, so the exchange is not fully reserved.
      const byAsset = Object.fromEntries(out.reserves.coverage.map((c) => [c.asset, c]));
      assert.equal(byAsset.ETH!.covered && byAsset.USDT!.covered, true, verified.stdout);
      assert.deepEqual([byAsset.BTC!.onChain, byAsset.BTC!.reserves, byAsset.BTC!.covered], [false, '0', false]);
      assert.equal(out.reserves.fullyReserved, false);
    } finally {
      await kill(server, 'SIGTERM');
    }
  } finally {
    await anvil.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
});
