// An independent check of the `books` channel over more than 10,000 updates: a real `ws` client
// keeps its own book per instrument (test/support/ws-book.ts), verifies that every update's
// prevSeqId is the seqId it holds and recomputes every checksum from its own levels; at quiet
// points, and at the end, its book must equal the REST book exactly. The node is in process (a
// gateway over an in-memory exchange whose applied events feed a real stream hub) so that a
// seeded stream of 12,000+ commands (resting orders, crossing orders, cancels, amends, sometimes
// several in one drain) runs in seconds; the real-process tests cover the same channel through
// the replica (test/ws-public.test.ts, test/ccxt-pro.test.ts).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from '../src/core/index.js';
import { event, push, WsClient } from './support/ws-client.js';
import { CheckedBook } from './support/ws-book.js';
import { venueGateway } from './support/ws-gateway.js';
import { mulberry32 } from '../bench/w1.js';

type Row = Record<string, unknown>;

const afterDrain = (): Promise<void> => new Promise((resolve) => { setImmediate(resolve); });

test('books checker: over 10,000 updates on two instruments, every seqId chains and every checksum matches the client\'s own book, which equals REST at quiet points', { timeout: 600_000 }, async (t) => {
  // A books pass per drain (no 100 ms interval): 10,000 updates in the time the commands take.
  const { port, alice, bob, hub, app, wsBase } = await venueGateway({ booksIntervalMs: 0 });
  const client = await WsClient.open(`${wsBase}/ws/v5/public`);
  try {
    const instIds = ['BTC-USDT', 'ETH-USDT'] as const;
    client.send({ op: 'subscribe', args: instIds.map((instId) => ({ channel: 'books', instId })) });
    const books = new Map(instIds.map((instId) => [instId, new CheckedBook(instId)]));
    for (const instId of instIds) {
      await client.take(event('subscribe'), `ack ${instId}`);
      books.get(instId)!.apply(await client.take(push('books', instId), `snapshot ${instId}`));
    }
    const feed = (): void => {
      for (const m of client.inbox.splice(0)) {
        assert.ok(typeof m !== 'string' && push('books')(m), `only books pushes: ${JSON.stringify(m)}`);
        const instId = (m['arg'] as Row)['instId'] as 'BTC-USDT' | 'ETH-USDT';
        books.get(instId)!.apply(m);
      }
    };
    const restBook = async (instId: string): Promise<unknown> => {
      const reply = await app.inject({ method: 'GET', url: `/api/v5/market/books?instId=${instId}&sz=400` });
      const { asks, bids } = (JSON.parse(reply.body) as { data: Row[] }).data[0]!;
      return { asks, bids };
    };
    const quiet = async (): Promise<void> => {
      // Quiet: nothing applies until every book has reached the hub's mirror, then REST is read.
      await client.until(() => { feed(); return instIds.every((i) => books.get(i)!.seqId === hub.mirror(i)!.seqId); }, 'the client at the hub\'s seqIds');
      for (const instId of instIds) {
        const book = books.get(instId)!;
        assert.deepEqual({ asks: book.side('asks'), bids: book.side('bids') }, await restBook(instId), `${instId} at seqId ${String(book.seqId)}`);
      }
    };

    const random = mulberry32(2026);
    const open: { userId: number; instId: string; orderId: number }[] = [];
    const traders = [alice, bob];
    // Prices within 60 ticks of 30,000.00 / 2,000.00; sizes 1-20 lots above the minimum.
    const mid = { 'BTC-USDT': 3_000_000, 'ETH-USDT': 200_000 } as const;
    const updatesWanted = 10_000;
    const commandsMax = 40_000;
    let commands = 0;
    const updates = (): number => [...books.values()].reduce((n, b) => n + b.updates, 0);
    while (updates() < updatesWanted && commands < commandsMax) {
      // Mostly one command per drain; now and then a burst of up to five in one drain.
      const burst = random() < 0.1 ? 1 + Math.floor(random() * 5) : 1;
      for (let i = 0; i < burst; i++) {
        const trader = traders[Math.floor(random() * 2)]!;
        const instId = instIds[Math.floor(random() * 2)]!;
        const roll = random();
        let command: Command;
        if (roll < 0.25 && open.length > 0) {
          const [o] = open.splice(Math.floor(random() * open.length), 1);
          command = { type: 'CancelOrder', userId: o!.userId, instId: o!.instId, orderId: o!.orderId };
        } else if (roll < 0.35 && open.length > 0) {
          const o = open[Math.floor(random() * open.length)]!;
          command = { type: 'AmendOrder', userId: o.userId, instId: o.instId, orderId: o.orderId, newSizeLots: 10 + Math.floor(random() * 20) };
        } else {
          const side = roll < 0.675 ? 'buy' : 'sell';
          command = {
            type: 'PlaceOrder', userId: trader.userId, instId, side, orderType: 'limit',
            priceTicks: mid[instId] - 60 + Math.floor(random() * 121), sizeLots: 10 + Math.floor(random() * 20),
          };
        }
        const [result] = port.applyNow([command]);
        commands++;
        if (command.type === 'PlaceOrder' && result?.ok === true && result.orderId !== undefined) open.push({ userId: command.userId, instId: command.instId, orderId: result.orderId });
      }
      await afterDrain();
      feed();
      if (commands % 2_000 < burst) await quiet();
    }
    await quiet();
    const total = updates();
    assert.ok(total >= updatesWanted, `${String(total)} updates checked (${String(commands)} commands)`);
    for (const book of books.values()) assert.equal(book.checksums, book.updates + book.snapshots, `${book.instId}: a checksum per push`);
    assert.equal(hub.stats().overflows, 0);
    t.diagnostic(`${String(total)} updates checked over ${String(commands)} commands, ${String(hub.stats().drains)} drains`);
  } finally {
    client.ws.terminate();
    await app.close();
    hub.close();
  }
});
