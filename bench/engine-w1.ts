// One timed run of W1 in a fresh process, for one engine: `everbook` (ours, with ledger, holds,
// fees and events) or `peer` (nodejs-order-book from npm, a bare book). Prints one JSON line.
// bench/run-engine.mjs runs this several times per engine and summarises.
// Usage: engine-w1.js everbook|peer [COMMANDS] [buffer|array]: where Everbook's events go, an
// EventBuffer kept from batch to batch (default) or a plain array emptied with `length = 0`.

import { OrderBook, Side } from 'nodejs-order-book';
import { Engine, EventBuffer, type Command, type Event } from '../src/core/index.js';
import { generateW1, type W1 } from './w1.js';

const USERS = 1000;
const BATCH = 1000;
const FUNDING = '1000000000000'; // 10^12 minor units of each asset per user: far more than W1 spends

/**
 * CPU seconds of this process since `from` (user + system, every thread: the collector's helper
 * threads count). On a shared machine it moves less than wall time, since waiting for a core is
 * not counted.
 */
function cpuSeconds(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return Math.round((d.user + d.system) / 1e3) / 1e3;
}

type Sink = 'buffer' | 'array';

function applyBatch(engine: Engine, cmds: readonly Command[], from: number, to: number, sink: EventBuffer | Event[]): void {
  for (let i = from; i < to; i++) engine.apply(cmds[i]!, 1 + i, sink);
}

function runEverbook(w: W1, sinkKind: Sink): { seconds: number; cpu_s: number; resting: number; trades: number; events: number } {
  const engine = new Engine();
  // One kind of sink for the whole run, setup included: the engine's push stays monomorphic.
  const buffer = new EventBuffer();
  const array: Event[] = [];
  const sink = sinkKind === 'buffer' ? buffer : array;
  const setup: Command[] = [
    { type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false },
    { type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: false },
    { type: 'SetInstrument', instId: 'BTC-USDT', base: 'BTC', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.0001', maxSz: '1000', maxPx: '1000000', bandBps: 1000, state: 'live' },
  ];
  for (let u = 1; u <= USERS; u++) {
    setup.push({ type: 'CreateUser', stpMode: 'none' });
    setup.push({ type: 'CreditDeposit', depositId: `b${u}`, userId: u, asset: 'BTC', amount: FUNDING });
    setup.push({ type: 'CreditDeposit', depositId: `q${u}`, userId: u, asset: 'USDT', amount: FUNDING });
  }
  for (const c of setup) {
    const r = engine.apply(c, 0, sink);
    if (!r.ok) throw new Error(`setup failed: ${r.reject.code}`);
  }
  // Build the command objects before timing: only the engine's work is timed.
  const cmds: Command[] = new Array<Command>(w.count);
  for (let i = 0; i < w.count; i++) {
    const id = w.id[i]!;
    const userId = (id % USERS) + 1;
    cmds[i] = w.kind[i] === 1
      ? { type: 'CancelOrder', userId, instId: 'BTC-USDT', orderId: id + 1 }
      : { type: 'PlaceOrder', userId, instId: 'BTC-USDT', side: w.side[i] === 0 ? 'buy' : 'sell', orderType: 'limit', priceTicks: w.tick[i]!, sizeLots: w.size[i]! };
  }
  buffer.clear();
  array.length = 0;
  let events = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  // Commands arrive in log batches; a replica hands each batch's events to its consumers, then
  // empties the buffer and releases the events for reuse, as here with batches of BATCH commands.
  for (let from = 0; from < w.count; from += BATCH) {
    applyBatch(engine, cmds, from, Math.min(w.count, from + BATCH), sink);
    events += sink.length;
    if (sinkKind === 'buffer') buffer.clear();
    else array.length = 0;
    engine.releaseEvents();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuS = cpuSeconds(cpu0);
  const trades = engine.nextTradeId - 1;
  const inst = engine.instruments.get('BTC-USDT')!;
  return { seconds, cpu_s: cpuS, resting: inst.bids.orderCount + inst.asks.orderCount, trades, events };
}

function runPeer(w: W1): { seconds: number; cpu_s: number; resting: number } {
  const book = new OrderBook();
  type Op = { side: Side; id: string; size: number; price: number } | string;
  const ops = new Array<Op>(w.count);
  for (let i = 0; i < w.count; i++) {
    ops[i] = w.kind[i] === 1 ? String(w.id[i]) : { side: w.side[i] === 0 ? Side.BUY : Side.SELL, id: String(w.id[i]), size: w.size[i]!, price: w.tick[i]! };
  }
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < w.count; i++) {
    const op = ops[i]!;
    if (typeof op === 'string') book.cancel(op);
    else book.limit(op);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpuS = cpuSeconds(cpu0);
  const snap = book.snapshot();
  let resting = 0;
  for (const level of [...snap.bids, ...snap.asks]) resting += level.orders.length;
  return { seconds, cpu_s: cpuS, resting };
}

const which = process.argv[2] ?? 'everbook';
const count = Number(process.argv[3] ?? 1_000_000);
const sinkKind = process.argv[4] ?? 'buffer';
if (sinkKind !== 'buffer' && sinkKind !== 'array') throw new Error(`sink must be buffer or array, not ${sinkKind}`);
const w = generateW1(count);
const r = which === 'peer' ? runPeer(w) : runEverbook(w, sinkKind);
const heapMb = process.memoryUsage().heapUsed / 2 ** 20;
console.log(JSON.stringify({ engine: which, ...(which === 'peer' ? {} : { sink: sinkKind }), commands: w.count, orders: w.orders, cancels: w.cancels, cmds_per_s: Math.round(w.count / r.seconds), heap_mb: Math.round(heapMb), ...r }));
