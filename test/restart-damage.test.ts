// Restarts of a real node after its journal was damaged behind its back: a node stopped cleanly
// (it wrote a snapshot at the journal's end) must refuse to start when the journal lost records
// that snapshot includes, naming both positions, and must refuse a corrupt last record, naming
// the file and offset; serving would silently lose or skip acknowledged commands.

import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { okx } from './support/okx-client.js';
import { kill, startServer } from './support/server-process.js';

/** Starts a dev node, places two orders, stops it cleanly; returns the journal's only segment. */
async function stoppedCleanlyWithOrders(dataDir: string): Promise<string> {
  const server = await startServer(dataDir, ['--rate-limits', 'false']);
  try {
    for (const clOrdId of ['first', 'second']) {
      const answer = await okx(server.url, 'POST', '/api/v5/trade/order', {
        instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px: '10000', sz: '0.001', clOrdId,
      }, server.traders[0]);
      assert.equal(answer.data[0]?.sCode, '0');
    }
  } finally {
    assert.equal(await kill(server, 'SIGTERM'), 0, 'a clean stop');
  }
  const journalDir = join(dataDir, 'journal');
  const segments = (await readdir(journalDir)).filter((f) => f.endsWith('.journal'));
  assert.equal(segments.length, 1);
  return join(journalDir, segments[0]!);
}

async function refusedStart(dataDir: string): Promise<string> {
  const error = await startServer(dataDir, ['--rate-limits', 'false']).then(
    async (server) => { await kill(server); return undefined; },
    (e: unknown) => e as Error,
  );
  assert.ok(error !== undefined, 'the node refused to start');
  return error.message;
}

test('Node: restart: 7 bytes cut off the journal after a clean stop: refused, naming the snapshot position and the journal end', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'everbook-damage-'));
  try {
    const segment = await stoppedCleanlyWithOrders(dataDir);
    await truncate(segment, (await stat(segment)).size - 7);
    const message = await refusedStart(dataDir);
    const positions = /newest usable snapshot is at position (\d+), but the log ends at position (\d+)/.exec(message);
    assert.ok(positions !== null, message);
    assert.equal(Number(positions[2]), Number(positions[1]) - 1, 'the torn last record is the one the snapshot is ahead by');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('Node: restart: journal deleted, snapshots kept: refused', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'everbook-damage-'));
  try {
    await stoppedCleanlyWithOrders(dataDir);
    await rm(join(dataDir, 'journal'), { recursive: true });
    assert.match(await refusedStart(dataDir), /newest usable snapshot is at position \d+, but the log ends at position 0/);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

test('Node: restart: a flipped byte inside the last complete record: refused, naming the file and offset', { timeout: 120_000 }, async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'everbook-damage-'));
  try {
    const segment = await stoppedCleanlyWithOrders(dataDir);
    const contents = await readFile(segment);
    contents[contents.length - 2] = contents[contents.length - 2]! ^ 0x01;
    await writeFile(segment, contents);
    const message = await refusedStart(dataDir);
    assert.match(message, new RegExp(`${segment} at byte \\d+: checksum mismatch .*in a complete record, the last one`));
    assert.equal((await readFile(segment)).length, contents.length, 'nothing was cut');
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
