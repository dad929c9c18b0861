// An independent client-side book for the `books` channel, as a careful OKX client keeps one: it
// applies the snapshot and each update to its own price -> [size, orders] maps (size "0" deletes),
// checks that every update's prevSeqId is the seqId it holds, and recomputes OKX's checksum
// (CRC-32 over the top 25 bids and asks interleaved, signed) from its own book with Node's zlib,
// comparing it with the one sent. Prices are compared as exact decimals (BigInt, scaled), never
// floats. It counts what it verified, so a test can require a number of updates.

import { crc32 } from 'node:zlib';

type Level = readonly [string, string, string, string];

/** An exact decimal string as a scaled BigInt, for ordering prices without floats. */
function decimal(text: string): bigint {
  const [whole, fraction = ''] = text.split('.');
  return BigInt((whole ?? '0') + fraction.padEnd(30, '0'));
}

export class CheckedBook {
  /** price -> [price, size, "0", orders], as last sent. */
  readonly asks = new Map<string, Level>();
  readonly bids = new Map<string, Level>();
  /** price -> the price as a scaled integer, for ordering. */
  private readonly keys = new Map<string, bigint>();
  seqId: number | undefined;
  snapshots = 0;
  updates = 0;
  checksums = 0;

  constructor(readonly instId: string) {}

  /** Applies one books push (snapshot or update), throwing on a broken chain or a wrong checksum. */
  apply(message: Readonly<Record<string, unknown>>): void {
    const action = message['action'];
    const data = (message['data'] as Record<string, unknown>[])[0]!;
    const seqId = data['seqId'] as number;
    const prevSeqId = data['prevSeqId'] as number;
    if (action === 'snapshot') {
      if (prevSeqId !== -1) throw new Error(`snapshot with prevSeqId ${String(prevSeqId)}`);
      this.asks.clear();
      this.bids.clear();
      this.snapshots += 1;
    } else if (action === 'update') {
      if (this.seqId === undefined) throw new Error('update before any snapshot');
      if (prevSeqId !== this.seqId) throw new Error(`seqId chain broken: update prevSeqId ${String(prevSeqId)} after seqId ${String(this.seqId)}`);
      if (!(seqId > prevSeqId)) throw new Error(`seqId ${String(seqId)} not after ${String(prevSeqId)}`);
      this.updates += 1;
    } else {
      throw new Error(`unknown action ${String(action)}`);
    }
    for (const [side, levels] of [[this.asks, data['asks']], [this.bids, data['bids']]] as const) {
      for (const level of levels as Level[]) {
        if (level[1] === '0') {
          if (!side.delete(level[0])) throw new Error(`deleted level ${level[0]} was not in the book`);
        } else {
          side.set(level[0], level);
          if (!this.keys.has(level[0])) this.keys.set(level[0], decimal(level[0]));
        }
      }
    }
    this.seqId = seqId;
    const expected = this.checksum();
    if (expected !== data['checksum']) throw new Error(`checksum ${String(data['checksum'])} at seqId ${String(seqId)}, the client's own book gives ${String(expected)}`);
    this.checksums += 1;
  }

  /** Each side best first, as [px, sz, "0", orders] rows. */
  side(which: 'asks' | 'bids'): Level[] {
    const levels = [...(which === 'asks' ? this.asks : this.bids).values()];
    const key = (l: Level): bigint => this.keys.get(l[0])!;
    levels.sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      const asc = ka < kb ? -1 : ka > kb ? 1 : 0;
      return which === 'asks' ? asc : -asc;
    });
    return levels;
  }

  /** OKX's checksum of this book, recomputed here. */
  checksum(): number {
    const asks = this.side('asks');
    const bids = this.side('bids');
    const parts: string[] = [];
    for (let i = 0; i < 25; i++) {
      if (bids[i] !== undefined) parts.push(bids[i]![0], bids[i]![1]);
      if (asks[i] !== undefined) parts.push(asks[i]![0], asks[i]![1]);
    }
    return crc32(parts.join(':')) | 0;
  }
}
