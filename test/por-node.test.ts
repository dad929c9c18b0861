// Proof of reserves end to end on a real node process, as an operator and a user meet it: the
// operator asks for a report with the CLI and waits for it; a user fetches the public report and
// their own proof through the API (signed, as any OKX request) and checks it with the offline
// verifier command, which also refuses the same proof once tampered with.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ccxt from 'ccxt';
import { parseDecimal } from '../src/core/index.js';
import type { InclusionProof, LiabilitiesReport } from '../src/por/index.js';
import { okx } from './support/okx-client.js';
import { kill, startServer } from './support/server-process.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'cli', 'main.js');

function everbook(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
    });
  });
}

test('Proof of reserves on a node: the operator requests a report; a user fetches it and their proof over the API and verifies them offline', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'everbook-por-node-'));
  // Liabilities only: no chain (the reserves are tested in test/por-reserves.test.ts).
  const server = await startServer(dataDir, ['--local-chain', 'false']);
  try {
    const [alice, bob] = server.traders;
    assert.ok(alice !== undefined && bob !== undefined, 'the dev exchange prints funded traders');

    const requested = await everbook(['por-request', '--report', 'day-1', '--data-dir', dataDir]);
    assert.equal(requested.code, 0, requested.stderr);
    const status = await everbook(['por-status', '--report', 'day-1', '--wait-ms', '30000', '--data-dir', dataDir]);
    assert.equal(status.code, 0, status.stderr);
    const settled = JSON.parse(status.stdout) as { state: string; report: LiabilitiesReport };
    assert.equal(settled.state, 'ready', status.stdout);

    // The public report, listed and in full, without a key.
    const listed = await okx<{ reportId: string; rootHash: string }>(server.url, 'GET', '/api/v5/public/proof-of-reserves');
    assert.deepEqual(listed.data.map((r) => [r.reportId, r.rootHash]), [['day-1', settled.report.root.hash]]);
    const published = await okx<{ report: LiabilitiesReport; reserves: unknown }>(server.url, 'GET', '/api/v5/public/proof-of-reserves?reportId=day-1');
    assert.equal(published.code, '0');
    assert.deepEqual(published.data[0]!.report, settled.report);

    // Each user gets their own proof, whose balances are what the exchange shows them.
    const proofReply = await okx<InclusionProof>(server.url, 'GET', '/api/v5/asset/proof-of-reserves?reportId=day-1', undefined, alice);
    assert.equal(proofReply.code, '0', proofReply.msg);
    const proof = proofReply.data[0]!;
    assert.equal(proof.userId, alice.userId);
    const balances = await okx<{ ccy: string; bal: string }>(server.url, 'GET', '/api/v5/asset/balances', undefined, alice);
    for (const { asset, scale } of settled.report.assets) {
      const shown = balances.data.find((b) => b.ccy === asset)?.bal ?? '0';
      assert.equal(proof.balances[asset], parseDecimal(shown, scale)!.toString(), `${asset}: the proof holds what the balance API shows`);
    }
    const bobs = await okx<InclusionProof>(server.url, 'GET', '/api/v5/asset/proof-of-reserves?reportId=day-1', undefined, bob);
    assert.equal(bobs.data[0]!.userId, bob.userId);
    assert.notEqual(bobs.data[0]!.salt, proof.salt);
    // Refusals: no key, an unknown report.
    assert.equal((await okx(server.url, 'GET', '/api/v5/asset/proof-of-reserves?reportId=day-1')).code, '50103');
    const unknown = await okx(server.url, 'GET', '/api/v5/asset/proof-of-reserves?reportId=day-9', undefined, alice);
    assert.deepEqual([unknown.code, unknown.msg], ['51000', 'Parameter reportId error']);

    // The user's check, offline: the API's replies as saved, and their own expectations.
    const reportFile = join(dataDir, 'report-reply.json');
    const proofFile = join(dataDir, 'proof-reply.json');
    await writeFile(reportFile, JSON.stringify(published));
    await writeFile(proofFile, JSON.stringify(proofReply));
    const usdt = proof.balances.USDT!;
    const ok = await everbook(['por-verify', '--report', reportFile, '--proof', proofFile, '--user', String(alice.userId), '--expect', `USDT=${usdt}`]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true);
    const wrongUser = await everbook(['por-verify', '--report', reportFile, '--proof', proofFile, '--user', String(bob.userId)]);
    assert.equal(wrongUser.code, 1);
    assert.match(wrongUser.stdout, /"problem": "user_mismatch"/);
    await writeFile(proofFile, JSON.stringify({ ...proof, salt: bobs.data[0]!.salt }));
    const tampered = await everbook(['por-verify', '--report', reportFile, '--proof', proofFile]);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stdout, /"problem": "salt_mismatch"/);

    // ccxt's okx class fetches it unchanged, through its generic signed request.
    const exchange = new ccxt.okx({
      apiKey: alice.apiKey, secret: alice.secretKey, password: alice.passphrase, urls: { api: { rest: server.url } }, enableRateLimit: false,
    });
    const viaCcxt = await exchange.request('asset/proof-of-reserves', 'private', 'GET', { reportId: 'day-1' }) as { data: InclusionProof[] };
    assert.deepEqual(viaCcxt.data[0], proof);

    // The operator can hand a user their proof too.
    const operatorProof = await everbook(['por-proof', '--report', 'day-1', '--user', String(alice.userId), '--data-dir', dataDir]);
    assert.equal(operatorProof.code, 0, operatorProof.stderr);
    assert.deepEqual((JSON.parse(operatorProof.stdout) as { proof: InclusionProof }).proof, proof);
  } finally {
    await kill(server, 'SIGTERM');
    await rm(dataDir, { recursive: true, force: true });
  }
});
