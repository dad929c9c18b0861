// What a gateway may read from a node: the engine's state as plain records (instruments and
// their rules, assets, a book to a depth, a user's balances and fees) and the projections'
// history (orders, fills, trades, candles, tickers, transfers). LiveQueries builds those records
// from the live engine and projections on each call, so no engine class or level walk leaves
// the replica, and a change of the engine's layout changes this file, not the API.

import {
  custodyView, depositStatus,
  type AccountView, type AssetView, type BalanceView, type BookLevelView, type BookView, type ChainView, type CustodyView, type DepositStatus, type Engine,
  type InstrumentView, type SetChainAsset,
} from '../core/index.js';
import type { Projections } from '../projections/index.js';

/** The projections' reads (not apply or persistence: those belong to the replica). */
export type HistoryQueries = Pick<Projections,
  'order' | 'orderByClOrdId' | 'openOrders' | 'orderHistory' | 'fills' | 'trades' | 'candles' | 'ticker' | 'deposits' | 'withdrawals'>;

export interface ExchangeQueries extends HistoryQueries {
  /** Every asset, in the order the operator created them. */
  assets(): readonly AssetView[];
  asset(asset: string): AssetView | undefined;
  /** Every instrument, in the order the operator created them. */
  instruments(): readonly InstrumentView[];
  instrument(instId: string): InstrumentView | undefined;
  /** Both sides of a book to `depth` levels each, best first; undefined for an unknown instrument. */
  book(instId: string, depth: number): BookView | undefined;
  /** A user's fee rates and balances; undefined for an unknown user. */
  account(userId: number): AccountView | undefined;
  /** The declared chains' names. */
  chains(): readonly string[];
  /** What the custody runtime reads of one chain; undefined for an undeclared chain. */
  custody(chain: string): CustodyView | undefined;
  depositStatus(chain: string, txId: string, logIndex: number): DepositStatus;
  /** The asset's chain rules and its chain's state (cheap: no liabilities); undefined without a chain adapter. */
  chainAsset(asset: string): { readonly spec: SetChainAsset; readonly chain: ChainView } | undefined;
  /** Withdrawals held and not settled (every user), oldest first: what operators approve or reject. */
  openWithdrawals(): readonly OpenWithdrawalView[];
}

export interface OpenWithdrawalView {
  readonly withdrawalId: number;
  readonly userId: number;
  readonly asset: string;
  readonly amount: bigint;
  readonly address: string;
  /** pending: waits for an operator's completion (no chain adapter); approval: waits for approval; assigned: on chain. */
  readonly stage: 'pending' | 'approval' | 'assigned';
  readonly ts: number;
}

/** The engine's instrument and book side as Engine's fields type them (src/core exports no model class). */
type EngineInstrument = Engine['instruments'] extends Map<string, infer I> ? I : never;
type EngineSide = EngineInstrument['bids'];

function instrumentView(inst: EngineInstrument): InstrumentView {
  return {
    instId: inst.instId, spec: inst.spec, state: inst.state,
    priceDecimals: inst.priceDecimals, tickUnits: inst.tickUnits, sizeDecimals: inst.sizeDecimals,
    lotUnitsDecimal: inst.lotUnitsDecimal, lotBase: inst.lotBase, minLots: inst.minLots, maxLots: inst.maxLots,
    maxPriceTicks: inst.maxPriceTicks, baseScale: inst.base.spec.scale, quoteScale: inst.quote.spec.scale,
  };
}

/** Levels are stored best-last, so walking from the end gives asks ascending, bids descending. */
function levels(side: EngineSide, depth: number): BookLevelView[] {
  const rows: BookLevelView[] = [];
  const stored = side.levels;
  for (let i = stored.length - 1; i >= 0 && rows.length < depth; i--) {
    const level = stored[i]!;
    rows.push({ priceTicks: level.priceTicks, sizeLots: level.totalLots, orders: level.count });
  }
  return rows;
}

/**
 * The queries over a live engine and its projections. Both are read through functions because
 * the replica replaces them when it restores a snapshot (its own or a peer's).
 */
export class LiveQueries implements ExchangeQueries {
  constructor(private readonly engine: () => Engine, private readonly projections: () => Projections) {}

  assets(): readonly AssetView[] {
    return this.engine().assets.map((a) => a.spec);
  }

  asset(asset: string): AssetView | undefined {
    return this.engine().assetById.get(asset)?.spec;
  }

  instruments(): readonly InstrumentView[] {
    return [...this.engine().instruments.values()].map(instrumentView);
  }

  instrument(instId: string): InstrumentView | undefined {
    const inst = this.engine().instruments.get(instId);
    return inst === undefined ? undefined : instrumentView(inst);
  }

  book(instId: string, depth: number): BookView | undefined {
    const inst = this.engine().instruments.get(instId);
    if (inst === undefined) return undefined;
    return { asks: levels(inst.asks, depth), bids: levels(inst.bids, depth), askOrders: inst.asks.orderCount, bidOrders: inst.bids.orderCount };
  }

  account(userId: number): AccountView | undefined {
    const engine = this.engine();
    const user = engine.users[userId];
    if (user === undefined) return undefined;
    const balances: BalanceView[] = [];
    for (const asset of engine.assets) {
      const account = user.accounts[asset.index];
      if (account !== undefined) balances.push({ asset: asset.id, available: account.available.toBigInt(), held: account.held.toBigInt() });
    }
    return { userId, makerFeePpm: user.makerFeePpm, takerFeePpm: user.takerFeePpm, balances };
  }

  chains(): readonly string[] {
    return [...this.engine().custody.chains.keys()].sort();
  }

  custody(chain: string): CustodyView | undefined {
    return custodyView(this.engine(), chain);
  }

  depositStatus(chain: string, txId: string, logIndex: number): DepositStatus {
    return depositStatus(this.engine(), chain, txId, logIndex);
  }

  chainAsset(asset: string): { readonly spec: SetChainAsset; readonly chain: ChainView } | undefined {
    const ca = this.engine().assetById.get(asset)?.chain;
    if (ca === undefined || ca === null) return undefined;
    const c = ca.chain;
    return { spec: ca.spec, chain: { spec: c.spec, nextNonce: c.nextNonce, frozen: c.frozen, frozenReason: c.frozenReason } };
  }

  openWithdrawals(): readonly OpenWithdrawalView[] {
    return [...this.engine().withdrawals.values()].sort((a, b) => a.id - b.id).map((w) => ({
      withdrawalId: w.id, userId: w.user.id, asset: w.asset.id, amount: w.amount, address: w.address, stage: w.stage, ts: w.ts,
    }));
  }

  order(...args: Parameters<Projections['order']>): ReturnType<Projections['order']> { return this.projections().order(...args); }
  orderByClOrdId(...args: Parameters<Projections['orderByClOrdId']>): ReturnType<Projections['orderByClOrdId']> { return this.projections().orderByClOrdId(...args); }
  openOrders(...args: Parameters<Projections['openOrders']>): ReturnType<Projections['openOrders']> { return this.projections().openOrders(...args); }
  orderHistory(...args: Parameters<Projections['orderHistory']>): ReturnType<Projections['orderHistory']> { return this.projections().orderHistory(...args); }
  fills(...args: Parameters<Projections['fills']>): ReturnType<Projections['fills']> { return this.projections().fills(...args); }
  trades(...args: Parameters<Projections['trades']>): ReturnType<Projections['trades']> { return this.projections().trades(...args); }
  candles(...args: Parameters<Projections['candles']>): ReturnType<Projections['candles']> { return this.projections().candles(...args); }
  ticker(...args: Parameters<Projections['ticker']>): ReturnType<Projections['ticker']> { return this.projections().ticker(...args); }
  deposits(...args: Parameters<Projections['deposits']>): ReturnType<Projections['deposits']> { return this.projections().deposits(...args); }
  withdrawals(...args: Parameters<Projections['withdrawals']>): ReturnType<Projections['withdrawals']> { return this.projections().withdrawals(...args); }
}
