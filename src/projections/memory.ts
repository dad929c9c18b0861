// The projections kept in memory: a small composition of one view per kind of query
// (orders.ts, fills.ts, transfers.ts, trades.ts, candles.ts), each applying the events it
// serves, plus saving and loading them all (saved.ts). apply() is O(1) amortised per event; every
// collection evicts its oldest records at a bound from Retention, so the state is a pure
// function of the event stream.
//
// Time is engine time: the largest `ts` of any event seen, passed to the views that bound or
// filter by age. Pages are newest first; orders page by orderId and fills by billId, but
// deposits and withdrawals page by timestamp, as OKX's deposit-history and withdrawal-history
// do. Queries return the views' own records, which later events update: read, never mutate.

import { InvariantError, type Engine, type Event, type Side } from '../core/index.js';
import { emptyViews, loadViews, saveViews, type ProjectionsJSON } from './saved.js';
import { broken } from './shared.js';
import type {
  Candle, DepositRecord, FillRecord, OrderRecord, Page, Projections, PublicTrade, Ticker, WithdrawalRecord,
} from './types.js';

export class MemoryProjections implements Projections {
  /** Engine time: the largest event ts seen. */
  private nowMs = 0;
  private readonly views = emptyViews();

  /** The engine that emits the events, read only for instrument definitions (fee assets). */
  constructor(private readonly engine: Engine) {}

  // ------------------------------------------------------------------ applying events

  apply(events: readonly Event[]): void {
    for (const event of events) this.applyOne(event);
  }

  private applyOne(e: Event): void {
    const views = this.views;
    switch (e.type) {
      // Balances are read from the engine itself. First, as the most frequent event: four per trade.
      case 'BalanceChanged':
        return;
      case 'OrderAccepted': {
        this.advance(e.ts);
        const inst = this.engine.instruments.get(e.instId);
        if (inst === undefined) broken(`instrument ${e.instId} of order ${e.orderId} is known to the engine`);
        // A buyer receives base and pays its fee in base; a seller receives quote.
        views.orders.accept(e, e.side === 'buy' ? inst.spec.base : inst.spec.quote);
        return;
      }
      case 'TradeExecuted': {
        this.advance(e.ts);
        const makerSide: Side = e.takerSide === 'buy' ? 'sell' : 'buy';
        views.fills.add(views.orders.fill(e.makerOrderId, e.makerUserId, e.makerFee, 'maker', e), makerSide, e.makerFee, 'maker', e, this.nowMs);
        views.fills.add(views.orders.fill(e.takerOrderId, e.takerUserId, e.takerFee, 'taker', e), e.takerSide, e.takerFee, 'taker', e, this.nowMs);
        views.trades.add(e);
        views.candles.add(e);
        return;
      }
      case 'OrderPartiallyFilled':
      case 'OrderFilled':
        this.advance(e.ts);
        views.orders.progressed(e, this.nowMs);
        return;
      case 'OrderCanceled':
        this.advance(e.ts);
        views.orders.canceled(e, this.nowMs);
        return;
      case 'OrderAmended':
        this.advance(e.ts);
        views.orders.amended(e);
        return;
      case 'OrderRejected':
        this.advance(e.ts);
        return;
      case 'DepositCredited':
        this.advance(e.ts);
        views.transfers.deposited(e);
        return;
      case 'WithdrawalRequested':
        this.advance(e.ts);
        views.transfers.withdrawalRequested(e);
        return;
      case 'WithdrawalCompleted':
        this.advance(e.ts);
        views.transfers.withdrawalCompleted(e);
        return;
      case 'WithdrawalFailed':
      case 'WithdrawalCanceled':
        this.advance(e.ts);
        views.transfers.withdrawalEnded(e);
        return;
      // Definitions are read from the engine itself.
      case 'UserCreated':
      case 'UserConfigChanged':
      case 'AssetSet':
      case 'InstrumentSet':
      case 'InstrumentStateChanged':
        return;
      case 'DepositPending':
        this.advance(e.ts);
        views.transfers.depositPending(e);
        return;
      case 'DepositReverted':
        this.advance(e.ts);
        views.transfers.depositReverted(e);
        return;
      case 'WithdrawalAwaitingApproval':
        this.advance(e.ts);
        views.transfers.withdrawalStage(e.withdrawalId, 'approval', e.ts);
        return;
      case 'ChainTxAssigned':
        this.advance(e.ts);
        if (e.tx.kind === 'withdrawal') views.transfers.withdrawalStage(e.tx.withdrawalId, 'broadcasting', e.ts);
        return;
      // Chains, transactions and controls are read from the engine itself.
      case 'ChainSet': case 'ChainAssetSet': case 'ChainTxReplaced': case 'ChainTxSettled': case 'WithdrawalsFrozen': case 'WithdrawalAllowlistSet':
        return;
      case 'LiabilitiesReportRequested':
        return;
      default: {
        const unknown: never = e;
        throw new InvariantError(`projections: unknown event ${JSON.stringify(unknown)}`);
      }
    }
  }

  private advance(ts: number): void {
    if (ts > this.nowMs) this.nowMs = ts;
  }

  // ------------------------------------------------------------------ queries

  order(userId: number, orderId: number): OrderRecord | undefined {
    return this.views.orders.order(userId, orderId, this.nowMs);
  }

  orderByClOrdId(userId: number, clOrdId: string): OrderRecord | undefined {
    return this.views.orders.orderByClOrdId(userId, clOrdId, this.nowMs);
  }

  openOrders(userId: number, filter: { instId?: string; orderType?: OrderRecord['orderType'] } & Page): OrderRecord[] {
    return this.views.orders.openOrders(userId, filter);
  }

  orderHistory(
    userId: number,
    filter: { instId?: string; state?: 'filled' | 'canceled'; orderType?: OrderRecord['orderType']; begin?: number; end?: number } & Page,
  ): OrderRecord[] {
    return this.views.orders.orderHistory(userId, filter, this.nowMs);
  }

  fills(userId: number, filter: { instId?: string; orderId?: number; begin?: number; end?: number } & Page): FillRecord[] {
    return this.views.fills.fills(userId, filter, this.nowMs);
  }

  trades(instId: string, limit: number): PublicTrade[] {
    return this.views.trades.trades(instId, limit);
  }

  candles(instId: string, barMs: number, page: Page): Candle[] {
    return this.views.candles.candles(instId, barMs, page, this.nowMs);
  }

  ticker(instId: string): Ticker {
    return this.views.candles.ticker(instId, this.views.trades.last(instId), this.nowMs);
  }

  deposits(userId: number, filter: { asset?: string; depositId?: string } & Page): DepositRecord[] {
    return this.views.transfers.deposits(userId, filter);
  }

  withdrawals(userId: number, filter: { asset?: string; withdrawalId?: number; clientId?: string } & Page): WithdrawalRecord[] {
    return this.views.transfers.withdrawals(userId, filter);
  }

  // ------------------------------------------------------------------ snapshots

  /** A fresh, JSON-serialisable copy of the whole state; nothing in it is shared with this object. */
  toJSON(): ProjectionsJSON {
    return saveViews(this.views, this.nowMs);
  }

  /** Rebuilds what toJSON() produced (parsed or not); the records are copied, never shared. */
  static fromJSON(engine: Engine, json: unknown): MemoryProjections {
    const p = new MemoryProjections(engine);
    p.nowMs = loadViews(json, p.views);
    return p;
  }
}
