// Crash test with real processes: a node under a stream of signed orders is killed with SIGKILL
// at random moments and restarted, several times. Afterwards every acknowledged order is in the
// log exactly once, the ledger balances, and the node's state hash equals a clean replay of its
// journal in a fresh engine.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { audit, type Event } from '../src/core/index.js';
import { FileJournal } from '../src/log/index.js';
import { applyBatch, decodeBatch, emptyState, replicaStateHash } from '../src/replica/index.js';
import { okx, type Credentials } from './support/okx-client.js';
import { kill, startServer } from './support/server-process.js';

const ROUNDS = 5;
const WRITERS = 6;
/** Orders sent per round at most; the kill lands somewhere before that. */
const ORDERS_PER_ROUND_MAX = 400;

function random(n: number): number {
  return Math.floor(Math.random() * n);
}

test('Node: crash: SIGKILL under load, restart, every acknowledged order exactly once, hash = clean replay', { timeout: 240_000 }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'everbook-crash-'));
  const args = ['--snapshot-every', '300', '--compact-log', 'false', '--rate-limits', 'false'];
  try {
    let traders: (Credentials & { userId: number })[] = [];
    const acknowledged = new Map<string, string>(); // clOrdId -> ordId
    let sent = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const server = await startServer(dataDir, args);
      if (round === 0) traders = server.traders;
      assert.equal(traders.length, 2, 'the dev exchange gives two traders');
      const killAfter = 20 + random(ORDERS_PER_ROUND_MAX - 40);
      let issued = 0;
      let killed = false;
      const writer = async (w: number): Promise<void> => {
        while (!killed && issued < ORDERS_PER_ROUND_MAX) {
          const n = issued++;
          if (n === killAfter) {
            killed = true;
            await kill(server);
            return;
          }
          const clOrdId = `r${round}w${w}n${n}`;
          const trader = traders[n % 2]!;
          const side = n % 2 === 0 ? 'buy' : 'sell';
          const px = String(50_000 + random(20) * 10 - (side === 'buy' ? 0 : 50));
          sent += 1;
          try {
            const r = await okx(server.url, 'POST', '/api/v5/trade/order', {
              instId: 'BTC-USDT', tdMode: 'cash', side, ordType: 'limit', px, sz: '0.001', clOrdId,
            }, trader, 5_000);
            if (r.code === '0' && r.data[0]?.sCode === '0') acknowledged.set(clOrdId, r.data[0].ordId!);
          } catch {
            // Connection refused or reset by the kill: not acknowledged, so nothing is promised.
          }
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      await kill(server);
    }
    assert.ok(acknowledged.size > ROUNDS * 10, `orders were acknowledged (${acknowledged.size} of ${sent})`);

    // A last clean start: the node recovers; then its state hash, as of what it applied.
    const server = await startServer(dataDir, args);
    const token = (await readFile(join(dataDir, 'admin.token'), 'utf8')).trim();
    const now = await fetch(`${server.url}/admin/v1/state-hash`, { headers: { authorization: `Bearer ${token}` } });
    const status = (await now.json()) as { position: number; stateHash: string };
    await kill(server, 'SIGTERM');

    // Replay the whole journal in a fresh engine.
    const journal = await FileJournal.open(join(dataDir, 'journal'));
    const state = emptyState();
    const accepted = new Map<string, number[]>(); // clOrdId -> order ids accepted
    const events: Event[] = [];
    let position = 0;
    for (;;) {
      const records = await journal.read(position + 1, 1000);
      if (records.length === 0) break;
      for (const record of records) {
        const batch = decodeBatch(record.payload);
        applyBatch(state, batch, events);
        for (const e of events) {
          if (e.type === 'OrderAccepted' && e.clOrdId !== '') accepted.set(e.clOrdId, [...(accepted.get(e.clOrdId) ?? []), e.orderId]);
        }
        events.length = 0;
        position = record.position;
      }
      if (position >= journal.bounds().last) break;
    }
    await journal.close();

    t.diagnostic(`${ROUNDS} kills; ${sent} orders sent, ${acknowledged.size} acknowledged; journal ${position} records; ${accepted.size} orders accepted`);
    assert.equal(position, status.position, 'the node applied exactly what the journal holds');
    assert.equal(replicaStateHash(state), status.stateHash, 'state hash (engine, API keys, log guard) equals a clean replay of the journal');
    assert.deepEqual(audit(state.engine), [], 'ledger conserved, holds match, books sound');
    for (const [clOrdId, ordId] of acknowledged) {
      assert.deepEqual(accepted.get(clOrdId), [Number(ordId)], `acknowledged order ${clOrdId} is in the log exactly once`);
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});
