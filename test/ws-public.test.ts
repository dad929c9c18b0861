// The public WebSocket channels against a real `everbook start` process: a `books` subscriber
// gets an acknowledgement, a snapshot equal to the REST book, then updates whose seqIds chain
// exactly and whose checksums its own book reproduces, until it equals the REST book again once
// the market is quiet. Orders go in over REST, as a trader's would.

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { okx, type Credentials } from './support/okx-client.js';
import { kill, startServer, type ServerProcess } from './support/server-process.js';
import { event, push, WsClient } from './support/ws-client.js';
import { CheckedBook } from './support/ws-book.js';

type Row = Record<string, unknown>;

function wsUrl(server: ServerProcess, path: string): string {
  return server.url.replace(/^http/, 'ws') + path;
}

async function restBook(server: ServerProcess, instId: string): Promise<{ asks: string[][]; bids: string[][] }> {
  const reply = await okx<{ asks: string[][]; bids: string[][] }>(server.url, 'GET', `/api/v5/market/books?instId=${instId}&sz=400`);
  assert.equal(reply.code, '0');
  const { asks, bids } = reply.data[0]!;
  return { asks, bids };
}

async function place(server: ServerProcess, who: Credentials, instId: string, side: 'buy' | 'sell', px: string, sz: string): Promise<string> {
  const reply = await okx(server.url, 'POST', '/api/v5/trade/order', { instId, tdMode: 'cash', side, ordType: 'limit', px, sz }, who);
  assert.equal(reply.code, '0', JSON.stringify(reply));
  return reply.data[0]!['ordId']!;
}

async function cancel(server: ServerProcess, who: Credentials, instId: string, ordId: string): Promise<void> {
  const reply = await okx(server.url, 'POST', '/api/v5/trade/cancel-order', { instId, ordId }, who);
  assert.equal(reply.code, '0', JSON.stringify(reply));
}

/** Feeds every books push for instId in the inbox to the checked book (in arrival order). */
function feed(client: WsClient, book: CheckedBook): void {
  const isBooks = push('books', book.instId);
  for (let i = 0; i < client.inbox.length;) {
    const m = client.inbox[i]!;
    if (isBooks(m)) {
      client.inbox.splice(i, 1);
      book.apply(m as Row);
    } else {
      i++;
    }
  }
}

/** A counter of the node's metrics (loopback clients read them without a token). */
async function metric(server: ServerProcess, line: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found === undefined ? 0 : Number(found.slice(line.length + 1));
}

/** The send bound the slow-consumer test runs the node with. */
const SEND_BUFFER_MAX = 64 * 1024;

describe('WebSocket public channels against a real everbook process', { timeout: 300_000 }, () => {
  let server: ServerProcess;
  let dir = '';
  let a: Credentials;
  let b: Credentials;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'everbook-ws-'));
    // Books pushed on every drain (0), not at OKX's 100 ms: the slow-consumer test needs many pushes
    // to fill the unread socket (loopback's kernel buffers take megabytes before the bound counts).
    server = await startServer(dir, ['--rate-limits', 'false', '--ws-send-buffer-max', String(SEND_BUFFER_MAX), '--ws-books-interval-ms', '0']);
    a = server.traders[0]!;
    b = server.traders[1]!;
  });

  after(async () => {
    await kill(server);
    await rm(dir, { recursive: true, force: true });
  });

  test('slow consumer: a client that stops reading is closed at --ws-send-buffer-max while the other subscriber keeps receiving and every order is acknowledged', async () => {
    const instId = 'ETH-USDT';
    // A deep book (400 levels, all a books snapshot carries), so that each snapshot is over ten
    // KiB: the stalled reader's socket and the kernel's buffers fill in a few thousand rounds.
    for (let batch = 0; batch < 20; batch++) {
      const items = Array.from({ length: 20 }, (_, i) => ({
        instId, tdMode: 'cash', side: 'buy', ordType: 'limit', px: (1_990 + (batch * 20 + i) * 0.01).toFixed(2), sz: '0.01',
      }));
      const reply = await okx(server.url, 'POST', '/api/v5/trade/batch-orders', items, a);
      assert.equal(reply.code, '0', JSON.stringify(reply));
    }
    const slow = await WsClient.open(wsUrl(server, '/ws/v5/public'));
    slow.send({ op: 'subscribe', args: [{ channel: 'books', instId }] });
    await slow.take(push('books', instId), 'slow snapshot');
    const healthy = await WsClient.open(wsUrl(server, '/ws/v5/public'));
    healthy.send({ op: 'subscribe', args: [{ channel: 'books', instId }] });
    const book = new CheckedBook(instId);
    book.apply(await healthy.take(push('books', instId), 'healthy snapshot'));
    const slowSocket = (slow.ws as unknown as { _socket: Socket })._socket;
    slowSocket.pause();

    // The slow client stops reading but keeps asking for snapshots; orders keep coming meanwhile.
    // Bounded; about 4 ms a round. It takes 2,400 to 2,800 rounds here; with 200 levels it took
    // 4,500 to 4,900, too near the old bound of 5,000 (and failed once).
    const roundsMax = 10_000;
    let rounds = 0;
    let acked = 0;
    while (await metric(server, 'everbook_ws_closes_total{reason="slowConsumer"}') === 0 && rounds < roundsMax) {
      for (let i = 0; i < 10; i++) slow.send({ op: i % 2 === 0 ? 'unsubscribe' : 'subscribe', args: [{ channel: 'books', instId }] });
      await place(server, b, instId, 'sell', (2_100 + (rounds % 50)).toFixed(2), '0.001');
      acked++;
      rounds++;
      feed(healthy, book);
    }
    assert.equal(await metric(server, 'everbook_ws_closes_total{reason="slowConsumer"}'), 1, `the slow reader was closed within ${String(roundsMax)} rounds`);
    assert.equal(acked, rounds, 'every order placed while the slow reader stalled was acknowledged');
    // The other subscriber still follows: the marker, the last change, reaches it.
    await place(server, a, instId, 'sell', '2500', '0.001');
    await healthy.until(() => { feed(healthy, book); return book.asks.has('2500'); }, 'the marker on the healthy subscriber');
    assert.deepEqual({ asks: book.side('asks'), bids: book.side('bids') }, await restBook(server, instId));
    assert.equal(healthy.isClosed, undefined);
    slowSocket.resume();
    const closed = await slow.closed;
    // The close frame waits behind what the reader left unread; if it took longer than the
    // grace period to read it, the server had cut the connection instead (1006).
    assert.ok(closed.code === 4010 || closed.code === 1006, `slow reader closed: ${String(closed.code)} ${closed.reason}`);
    await healthy.close();
  });

  test('books: ack, snapshot equal to REST, updates that chain and checksum, equal to REST at a quiet point', async () => {
    const instId = 'BTC-USDT';
    const resting = [await place(server, a, instId, 'buy', '30000', '0.5'), await place(server, a, instId, 'sell', '30100', '0.25')];
    const client = await WsClient.open(wsUrl(server, '/ws/v5/public'));
    client.send({ op: 'subscribe', args: [{ channel: 'books', instId }] });
    const ack = await client.take(event('subscribe'), 'subscribe ack');
    assert.deepEqual(ack['arg'], { channel: 'books', instId });
    assert.match(String(ack['connId']), /^[0-9a-f]{8}$/);
    const book = new CheckedBook(instId);
    const snapshot = await client.take(push('books', instId), 'books snapshot');
    assert.equal(snapshot['action'], 'snapshot');
    book.apply(snapshot);
    assert.deepEqual({ asks: book.side('asks'), bids: book.side('bids') }, await restBook(server, instId));

    // A new level, a second order on a level, a partial fill by a crossing order, a cancel.
    await place(server, a, instId, 'buy', '29990', '0.1');
    await place(server, b, instId, 'buy', '30000', '0.2');
    await place(server, b, instId, 'buy', '30100', '0.1');
    await cancel(server, a, instId, resting[0]!);
    // The marker: the last change; once the stream shows it, the stream has seen every change.
    await place(server, a, instId, 'sell', '30500', '0.01');
    await client.until(() => { feed(client, book); return book.asks.has('30500'); }, 'the marker level on the stream');
    assert.ok(book.updates >= 1, 'updates followed the snapshot');
    assert.deepEqual({ asks: book.side('asks'), bids: book.side('bids') }, await restBook(server, instId));
    // The crossing buy took 0.1 of the 0.25 ask; the canceled order's 0.5 left the 30000 bid with b's 0.2 alone.
    assert.deepEqual(book.asks.get('30100'), ['30100', '0.15', '0', '1']);
    assert.deepEqual(book.bids.get('30000'), ['30000', '0.2', '0', '1']);
    await client.close();
  });
});
