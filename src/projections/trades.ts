// The public trades view: per instrument, the latest trades in tradeId order, bounded by count.
// Instruments appear in the order of their first trade, which is the order they are saved in.

import { Deque } from './deque.js';
import type { TradeExecuted } from './orders.js';
import { Retention, type PublicTrade } from './types.js';

export class TradesView {
  private readonly instruments = new Map<string, Deque<PublicTrade>>();

  add(e: TradeExecuted): void {
    const trades = this.instrument(e.instId);
    trades.push({ tradeId: e.tradeId, instId: e.instId, priceTicks: e.priceTicks, sizeLots: e.sizeLots, takerSide: e.takerSide, ts: e.ts });
    if (trades.length > Retention.tradesPerInstrumentMax) trades.shift();
  }

  private instrument(instId: string): Deque<PublicTrade> {
    let trades = this.instruments.get(instId);
    if (trades === undefined) {
      trades = new Deque<PublicTrade>((t) => t.tradeId);
      this.instruments.set(instId, trades);
    }
    return trades;
  }

  trades(instId: string, limit: number): PublicTrade[] {
    return this.instruments.get(instId)?.page(undefined, undefined, limit, () => 'take') ?? [];
  }

  /** The latest trade: the ticker's last price and size. */
  last(instId: string): PublicTrade | undefined {
    return this.instruments.get(instId)?.newest();
  }

  /** Instruments with trades, in the order of their first trade. */
  instIds(): string[] {
    return [...this.instruments.keys()];
  }

  save(instId: string): PublicTrade[] {
    return this.instruments.get(instId)?.toArray().map((t) => ({ ...t })) ?? [];
  }

  /** Loads one instrument's saved trades (copied); the instrument is kept even if it has none. */
  load(instId: string, saved: readonly PublicTrade[]): void {
    const trades = this.instrument(instId);
    for (const t of saved) trades.push({ ...t });
  }
}
