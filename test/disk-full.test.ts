// A real node whose data directory is on a small tmpfs that fills up: orders get the definite
// "unavailable" answer (50001, HTTP 503), status and metrics say why, an error is logged, and once
// space is freed the node serves again by itself, without a restart. Mounting needs root (CI is
// root); elsewhere the test is skipped with the reason.

import assert from 'node:assert/strict';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { test } from 'node:test';
import { okx, type Credentials, type Envelope } from './support/okx-client.js';
import { kill, startServer, type ServerProcess } from './support/server-process.js';
import { fillDisk, mountSmallDisk, smallDiskUnavailable } from './support/small-disk.js';

const diskMiB = 16;
/** Orders sent after the disk filled, at most, until one meets the full disk (the segment's last page may still have room). */
const ordersUntilFullMax = 64;
/** How often, and how many times at most, the test reads the status while it waits for the node to recover. */
const statusPollMs = 50;
const statusPollsMax = 400;

interface Status { readonly state: string; readonly failure: string }

async function adminGet(server: ServerProcess, token: string, path: string): Promise<Response> {
  return fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

async function status(server: ServerProcess, token: string): Promise<Status> {
  return (await (await adminGet(server, token, '/admin/v1/status')).json()) as Status;
}

async function logWritable(server: ServerProcess): Promise<string | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return /^everbook_log_writable (\d+)$/m.exec(text)?.[1];
}

function order(server: ServerProcess, trader: Credentials, clOrdId: string): Promise<Envelope> {
  return okx(server.url, 'POST', '/api/v5/trade/order', {
    instId: 'BTC-USDT', tdMode: 'cash', side: 'buy', ordType: 'limit', px: '10000', sz: '0.001', clOrdId,
  }, trader);
}

test('Node: disk full: orders get 50001 (HTTP 503), status and metrics say unavailable, and the node serves again once space is freed, without a restart', { timeout: 120_000 }, async (t) => {
  const unavailable = smallDiskUnavailable();
  if (unavailable !== null) {
    t.diagnostic(`skipped: ${unavailable}`);
    t.skip(unavailable);
    return;
  }
  const disk = await mountSmallDisk(diskMiB);
  let server: ServerProcess | undefined;
  try {
    const dataDir = join(disk.dir, 'data');
    // A snapshot after every command, so snapshots also meet the full disk; they must break nothing.
    server = await startServer(dataDir, ['--rate-limits', 'false', '--snapshot-every', '1']);
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const trader = server.traders[0]!;
    assert.equal((await order(server, trader, 'before1')).code, '0');
    assert.equal((await status(server, token)).state, 'serving');

    const filler = join(disk.dir, 'filler');
    await fillDisk(filler, diskMiB);
    let refused: Envelope | undefined;
    for (let n = 0; n < ordersUntilFullMax && refused === undefined; n++) {
      const answer = await order(server, trader, `full${n}`);
      if (answer.code !== '0') refused = answer;
    }
    assert.ok(refused !== undefined, `an order met the full disk within ${ordersUntilFullMax} orders`);
    assert.equal(refused.code, '50001', `a write known not to be in the journal is a definite failure: ${JSON.stringify(refused)}`);
    assert.equal(refused.httpStatus, 503);

    const full = await status(server, token);
    assert.equal(full.state, 'unavailable');
    assert.match(full.failure, /disk is full.*ENOSPC/);
    assert.equal(await logWritable(server), '0');
    const again = await order(server, trader, 'whileFull');
    assert.deepEqual([again.code, again.httpStatus], ['50001', 503], 'every order is refused while the disk is full');
    assert.match(server.output(), /JOURNAL OUT OF SPACE/, 'an error line is logged');

    await unlink(filler);
    // No traffic: the node's own probe finds the space and it turns serving again.
    let recovered: Status | undefined;
    for (let polls = 0; polls < statusPollsMax && recovered === undefined; polls++) {
      const now = await status(server, token);
      if (now.state === 'serving') recovered = now;
      else await delay(statusPollMs);
    }
    assert.ok(recovered !== undefined, `the node serves again within ${statusPollsMax} status reads`);
    assert.equal(recovered.failure, '');
    assert.equal(await logWritable(server), '1');
    const after = await order(server, trader, 'afterFreed');
    assert.equal(after.code, '0', `the next order succeeds without a restart: ${JSON.stringify(after)}`);
    assert.equal(after.data[0]?.sCode, '0');
    t.diagnostic(`snapshot writes that met the full disk: ${(server.output().match(/snapshot failed/g) ?? []).length}`);
  } finally {
    if (server !== undefined) await kill(server, 'SIGTERM');
    await disk.remove();
  }
});
