// bench:ws's subscriber process: N WebSocket connections to a node's public stream, each
// subscribed to `books` and `trades` of one instrument, spread over loopback source addresses
// (127.0.0.2, .3, ...; SUBSCRIBERS_PER_ADDRESS each) so the gateway's per-IP connection bound
// is not what is measured. Every connection counts what it receives; the first one also checks
// every books push with the independent BookChecker. It prints "ready" once every connection
// holds a snapshot; on each stdin line it prints the cumulative counts as one JSON line; it exits
// when stdin closes. Usage: node dist/bench/ws-subscribers.js WS_URL COUNT INST_ID

import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { BookChecker, type BooksData } from '../src/cluster/book-checker.js';

const SUBSCRIBERS_PER_ADDRESS = 20;
/** How long every connection may take to open and get its snapshot. */
const READY_TIMEOUT_MS = 60_000;

const [url = '', countText = '1', instId = 'BTC-USDT'] = process.argv.slice(2);
const count = Number(countText);
if (!Number.isSafeInteger(count) || count < 1 || count > 10_000) throw new Error('COUNT must be 1..10000');

const counts = { messages: 0, updates: 0, snapshots: 0, trades: 0, bytes: 0, errors: 0, closed: 0 };
const errorSamples: string[] = [];
const checker = new BookChecker(instId);
const sockets: WebSocket[] = [];

function open(i: number): void {
  const localAddress = `127.0.0.${String(2 + Math.floor(i / SUBSCRIBERS_PER_ADDRESS))}`;
  const ws = new WebSocket(url, { localAddress, perMessageDeflate: false, handshakeTimeout: READY_TIMEOUT_MS });
  sockets.push(ws);
  ws.on('open', () => { ws.send(JSON.stringify({ op: 'subscribe', args: [{ channel: 'books', instId }, { channel: 'trades', instId }] })); });
  ws.on('message', (data: Buffer) => {
    counts.messages += 1;
    counts.bytes += data.length;
    const text = data.toString('utf8');
    // Cheap classification for all; full parsing and checking for the first connection only.
    if (text.includes('"action":"update"')) counts.updates += 1;
    else if (text.includes('"action":"snapshot"')) counts.snapshots += 1;
    else if (text.includes('"channel":"trades"') && text.includes('"data"')) counts.trades += 1;
    else if (text.includes('"event":"error"')) { counts.errors += 1; if (errorSamples.length < 5) errorSamples.push(text.slice(0, 200)); }
    if (i === 0 && text.includes('"channel":"books"') && text.includes('"action"')) {
      const push = JSON.parse(text) as { action: string; data: BooksData[] };
      checker.apply(push.action, push.data[0]!);
    }
  });
  ws.on('error', (e) => { counts.errors += 1; if (errorSamples.length < 5) errorSamples.push(e.message); });
  ws.on('close', () => { counts.closed += 1; });
}

for (let i = 0; i < count; i++) open(i);
const deadline = Date.now() + READY_TIMEOUT_MS;
while (counts.snapshots < count) {
  if (Date.now() > deadline || counts.closed > 0) {
    console.log(JSON.stringify({ failed: `only ${counts.snapshots} of ${count} subscribers got a snapshot; ${counts.closed} closed`, errorSamples }));
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 20));
}
console.log('ready');

const report = (): string => JSON.stringify({
  ...counts, errorSamples,
  checker: { updates: checker.updates, snapshots: checker.snapshots, checksumsVerified: checker.checksumsVerified, failures: checker.failureTotal, failureSamples: checker.failures.slice(0, 3) },
});
const lines = createInterface({ input: process.stdin });
lines.on('line', () => { console.log(report()); });
lines.on('close', () => {
  for (const ws of sockets) ws.terminate();
  process.exit(0);
});
