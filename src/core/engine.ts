// The deterministic exchange engine: apply(command, time) -> result + events. Every state change
// in Everbook happens here, in log order, identically in every cloud. No clock, no randomness,
// no I/O, no floats: time arrives with the command and is made monotonic; money moves only
// through the double-entry helpers at the bottom, so per-asset conservation holds by
// construction and is audited in tests after every command.
//
// Reading order: apply() dispatches; placeOrder() and match() are the heart; then cancel and
// amend; then accounts, deposits and withdrawals; then the ledger primitives.

import { BookSide, type Level } from './book.js';
import { invariant, Reject, type Rejection } from './codes.js';
import { EventPool, type EventSink, type Writable } from './event-pool.js';
import { Limits } from './limits.js';
import { Custody } from './custody.js';
import { Account, Asset, DailyWithdrawn, Instrument, Order, User, Withdrawal } from './model.js';
import { OrderIndex } from './order-index.js';
import { feeFor, isPositiveSafeInteger, parseDecimal } from './money.js';
import type {
  AmendOrder, CancelAll, CancelOrder, CancelReason, Command, CompleteWithdrawal, CreateUser,
  CreditDeposit, Event, FailWithdrawal, CancelWithdrawal, OrderRef, PlaceOrder, RequestWithdrawal,
  Result, SetAsset, SetInstrument, SetInstrumentState, SetUserConfig, StpMode, RequestLiabilitiesReport,
} from './types.js';

const CL_ORD_ID = /^[A-Za-z0-9]{1,32}$/;
const ASSET_ID = /^[A-Z0-9]{1,12}$/;
const INTEGER = /^(0|[1-9][0-9]{0,39})$/;
const STP_MODES: readonly string[] = ['none', 'cancel_maker', 'cancel_taker', 'cancel_both'];
const ORDER_TYPES: readonly string[] = ['limit', 'post_only', 'ioc', 'fok', 'market'];
const INSTRUMENT_STATES: readonly string[] = ['live', 'suspended', 'cancel_only', 'post_only'];
const DAY_MS = 86_400_000;
const CHAIN_DEPOSIT_ID = /^[a-z0-9-]{1,32}:0x/;
const REPORT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Finished order objects kept for reuse, at most. Orders rest and end at about the same rate, so
 * the free list stays short; the bound only caps what a mass cancel leaves behind.
 */
const recycledOrdersMax = 65_536;

/** Why matching stopped. */
const enum Stop { Complete, NoLiquidity, SelfTrade }

type TradeExecuted = Writable<Extract<Event, { type: 'TradeExecuted' }>>;
type OrderProgress = Writable<Extract<Event, { type: 'OrderFilled' | 'OrderPartiallyFilled' }>>;
type OrderAccepted = Writable<Extract<Event, { type: 'OrderAccepted' }>>;
type OrderCanceled = Writable<Extract<Event, { type: 'OrderCanceled' }>>;
type BalanceChanged = Writable<Extract<Event, { type: 'BalanceChanged' }>>;

// The shapes of the recycled events. Fields are in the order the events have always had, so an
// event serialises to the same JSON whether it is fresh or recycled.
const blankTrade = (): TradeExecuted => ({
  type: 'TradeExecuted', seq: 0, tradeId: 0, instId: '', priceTicks: 0, sizeLots: 0, quoteAmount: 0, takerSide: 'buy',
  makerOrderId: 0, makerUserId: 0, makerFee: 0, takerOrderId: 0, takerUserId: 0, takerFee: 0, ts: 0,
});
const blankProgress = (): OrderProgress => ({ type: 'OrderFilled', seq: 0, orderId: 0, userId: 0, filledLots: 0, remainingLots: 0, ts: 0 });
const blankAccepted = (): OrderAccepted => ({
  type: 'OrderAccepted', seq: 0, orderId: 0, userId: 0, instId: '', side: 'buy', orderType: 'limit', priceTicks: 0, sizeLots: 0,
  quoteAmount: 0, clOrdId: '', stpMode: 'none', ts: 0,
});
const blankCanceled = (): OrderCanceled => ({
  type: 'OrderCanceled', seq: 0, orderId: 0, userId: 0, instId: '', reason: 'user', filledLots: 0, remainingLots: 0, ts: 0,
});
const blankBalance = (): BalanceChanged => ({ type: 'BalanceChanged', seq: 0, userId: 0, asset: '', available: 0, held: 0 });

const rejected = new Map<Rejection, Result>(
  Object.values(Reject).map((reject) => [reject, Object.freeze({ ok: false, reject })]),
);
function no(reject: Rejection): Result {
  return rejected.get(reject)!;
}

export class Engine {
  /** Sequence number of the last applied command (1-based); events carry it. */
  seq = 0;
  /** Engine time in ms: the largest command time seen so far. */
  now = 0;
  nextUserId = 1;
  nextOrderId = 1;
  nextTradeId = 1;
  nextWithdrawalId = 1;

  readonly users: (User | undefined)[] = [undefined];
  readonly assets: Asset[] = [];
  readonly assetById = new Map<string, Asset>();
  readonly instruments = new Map<string, Instrument>();
  readonly orders = new OrderIndex();
  readonly withdrawals = new Map<number, Withdrawal>();
  /** Every withdrawal client id ever used, per user (`user:clientId` -> withdrawal id): a retry never withdraws twice. */
  readonly withdrawalClientIds = new Map<string, number>();
  /** Every credited deposit id, forever: the idempotency record of the ledger's inflows. */
  readonly deposits = new Map<string, { readonly userId: number; readonly asset: string; readonly amount: string }>();
  /** Chains, on-chain deposits waiting for confirmations, assigned transactions (custody.ts). */
  readonly custody = new Custody(this);

  private out: EventSink = [];
  /** Accounts the current command changed, in the order it first changed them: touched[0, touchedCount). */
  private readonly touched: Account[] = [];
  private touchedCount = 0;
  // The matching path's events, recycled once the caller has released them (event-pool.ts).
  private readonly tradeEvents = new EventPool(blankTrade);
  private readonly progressEvents = new EventPool(blankProgress);
  private readonly acceptedEvents = new EventPool(blankAccepted);
  private readonly canceledEvents = new EventPool(blankCanceled);
  private readonly balanceEvents = new EventPool(blankBalance);
  /**
   * Objects of orders that have left the engine for good (filled, canceled, or never rested).
   * Only placeOrder takes from it, before anything else happens in the command, so an order that
   * ended earlier in the same command is never rewritten while its caller still reads it.
   */
  private readonly freeOrders: Order[] = [];

  /**
   * Applies one command at log time `ts` (ms). Appends the events it causes to `events` (an
   * array, or an EventBuffer that keeps its storage from record to record) and returns the
   * result. Rejections are results; an exception means a broken invariant.
   */
  apply(cmd: Command, ts: number, events: EventSink): Result {
    this.seq += 1;
    if (ts > this.now) this.now = ts;
    this.out = events;
    const result = this.dispatch(cmd);
    if (this.touchedCount > 0) this.emitBalances();
    return result;
  }

  /**
   * Tells the engine that nothing reads the events it has appended so far any more (the replica
   * calls it once a record's events have reached every consumer), so their objects may be
   * rewritten by later commands. A caller that keeps events never calls it.
   */
  releaseEvents(): void {
    this.tradeEvents.release();
    this.progressEvents.release();
    this.acceptedEvents.release();
    this.canceledEvents.release();
    this.balanceEvents.release();
  }

  private dispatch(cmd: Command): Result {
    switch (cmd.type) {
      case 'PlaceOrder': return this.placeOrder(cmd);
      case 'CancelOrder': return this.cancelOrder(cmd);
      case 'AmendOrder': return this.amendOrder(cmd);
      case 'CancelAll': return this.cancelAll(cmd);
      case 'CreateUser': return this.createUser(cmd);
      case 'SetUserConfig': return this.setUserConfig(cmd);
      case 'SetAsset': return this.setAsset(cmd);
      case 'SetInstrument': return this.setInstrument(cmd);
      case 'SetInstrumentState': return this.setInstrumentState(cmd);
      case 'CreditDeposit': return this.creditDeposit(cmd);
      case 'RequestWithdrawal': return this.requestWithdrawal(cmd);
      case 'CompleteWithdrawal': return this.completeWithdrawal(cmd);
      case 'FailWithdrawal': return this.failWithdrawal(cmd);
      case 'CancelWithdrawal': return this.cancelWithdrawal(cmd);
      case 'SetChain': return this.custody.setChain(cmd);
      case 'SetChainAsset': return this.custody.setChainAsset(cmd);
      case 'ObserveDeposit': return this.custody.observeDeposit(cmd);
      case 'RevertDeposit': return this.custody.revertDeposit(cmd);
      case 'ApproveWithdrawal': {
        const w = this.withdrawals.get(cmd.withdrawalId);
        return w === undefined ? no(Reject.withdrawalNotPending) : this.custody.approve(w);
      }
      case 'ObserveChainTx': return this.custody.observeChainTx(cmd);
      case 'ReplaceChainTx': return this.custody.replace(cmd);
      case 'RequestSweep': return this.custody.requestSweep(cmd);
      case 'SetWithdrawalsFrozen': return this.custody.setFrozen(cmd);
      case 'SetWithdrawalAllowlist': return this.custody.setAllowlist(cmd);
      case 'RequestLiabilitiesReport': return this.requestLiabilitiesReport(cmd);
      default: {
        const unknown: never = cmd;
        throw new Error(`unknown command ${JSON.stringify(unknown)}`);
      }
    }
  }

  // ------------------------------------------------------------------ placing orders

  private placeOrder(c: PlaceOrder): Result {
    const orderId = this.nextOrderId++;

    // Checked in a fixed order, so the same bad command always gets the same code.
    const user = this.users[c.userId];
    if (user === undefined) return this.rejectOrder(c, orderId, Reject.userNotFound);
    const inst = this.instruments.get(c.instId);
    if (inst === undefined) return this.rejectOrder(c, orderId, Reject.instrumentNotFound);
    if (inst.state === 'suspended') return this.rejectOrder(c, orderId, Reject.instrumentSuspended);
    if (inst.state === 'cancel_only') return this.rejectOrder(c, orderId, Reject.instrumentCancelOnly);
    const type = c.orderType;
    // Commands are decoded from the log: check even what the types promise.
    const sideText: string = c.side;
    if (!ORDER_TYPES.includes(type) || (sideText !== 'buy' && sideText !== 'sell')) return this.rejectOrder(c, orderId, Reject.orderTypeInvalid);
    if (inst.state === 'post_only' && type !== 'post_only' && type !== 'limit') return this.rejectOrder(c, orderId, Reject.instrumentPostOnly);
    const clOrdId = c.clOrdId ?? '';
    if (clOrdId !== '') {
      if (!CL_ORD_ID.test(clOrdId)) return this.rejectOrder(c, orderId, Reject.clientOrderIdInvalid);
      if (user.byClOrdId.has(clOrdId) || user.recentClOrdIds.has(clOrdId)) return this.rejectOrder(c, orderId, Reject.clientOrderIdDuplicate);
    }
    const stp = c.stpMode ?? user.stpMode;
    if (!STP_MODES.includes(stp)) return this.rejectOrder(c, orderId, Reject.stpModeInvalid);
    if (user.openCount >= Limits.openOrdersPerUserMax) return this.rejectOrder(c, orderId, Reject.openOrdersLimit);

    const isBuy = c.side === 'buy';
    const opposite = isBuy ? inst.asks : inst.bids;
    let priceTicks: number;
    let sizeLots = 0;
    let quoteAmount = 0;
    let reserve: number;
    /** Set when OKX would accept the order and cancel it at once, before it can trade. */
    let killed: CancelReason | undefined;

    if (type === 'market') {
      const bySize = c.sizeLots !== undefined;
      if (bySize === (c.quoteAmount !== undefined)) return this.rejectOrder(c, orderId, Reject.orderTypeInvalid);
      if (bySize) {
        const r = this.checkSize(inst, c.sizeLots);
        if (r !== undefined) return this.rejectOrder(c, orderId, r);
        sizeLots = c.sizeLots!;
      } else {
        if (!isPositiveSafeInteger(c.quoteAmount)) return this.rejectOrder(c, orderId, Reject.amountInvalid);
        quoteAmount = c.quoteAmount;
      }
      const best = opposite.best();
      if (best === undefined) return this.rejectOrder(c, orderId, Reject.noLiquidity);
      // A quote target must be worth at least the minimum size at the best price.
      if (!bySize && Math.floor(quoteAmount / (best.priceTicks * inst.quotePerTickLot)) < inst.minLots) {
        return this.rejectOrder(c, orderId, Reject.sizeBelowMin);
      }
      priceTicks = bandLimit(inst, isBuy, best.priceTicks);
      const tickLot = priceTicks * inst.quotePerTickLot;
      if (isBuy) reserve = bySize ? sizeLots * tickLot : quoteAmount;
      else {
        const lots = bySize ? sizeLots : Math.min(inst.maxLots, Math.floor(quoteAmount / tickLot));
        if (lots === 0) return this.rejectOrder(c, orderId, Reject.sizeBelowMin);
        reserve = lots * inst.lotBase;
      }
    } else {
      if (!Number.isSafeInteger(c.priceTicks) || c.priceTicks! < 1 || c.priceTicks! > inst.maxPriceTicks) {
        return this.rejectOrder(c, orderId, Reject.priceInvalid);
      }
      priceTicks = c.priceTicks!;
      const r = this.checkSize(inst, c.sizeLots);
      if (r !== undefined) return this.rejectOrder(c, orderId, r);
      sizeLots = c.sizeLots!;
      const best = opposite.best();
      const crosses = best !== undefined && (isBuy ? priceTicks >= best.priceTicks : priceTicks <= best.priceTicks);
      if (crosses && type === 'post_only') killed = 'post_only_would_take';
      else if (crosses && inst.state === 'post_only') return this.rejectOrder(c, orderId, Reject.instrumentPostOnly);
      else if (type === 'fok' && !fillable(opposite, user, stp, priceTicks, sizeLots)) killed = 'fok_not_fillable';
      reserve = isBuy ? priceTicks * sizeLots * inst.quotePerTickLot : sizeLots * inst.lotBase;
    }

    const account = this.account(user, isBuy ? inst.quote : inst.base);
    if (!account.available.covers(reserve)) return this.rejectOrder(c, orderId, Reject.insufficientBalance);

    const free = this.freeOrders.pop();
    const order = free === undefined
      ? new Order(orderId, user, inst, c.side, type, priceTicks, sizeLots, quoteAmount, clOrdId, stp, this.now, account)
      : free.reuse(orderId, user, inst, c.side, type, priceTicks, sizeLots, quoteAmount, clOrdId, stp, this.now, account);
    // Its client order id is used even if the order is killed below: OKX counts a canceled order's.
    if (clOrdId !== '') rememberClOrdId(user, clOrdId);
    const accepted = this.acceptedEvents.take();
    accepted.seq = this.seq;
    accepted.orderId = orderId;
    accepted.userId = user.id;
    accepted.instId = inst.instId;
    accepted.side = c.side;
    accepted.orderType = type;
    accepted.priceTicks = priceTicks;
    accepted.sizeLots = sizeLots;
    accepted.quoteAmount = quoteAmount;
    accepted.clOrdId = clOrdId;
    accepted.stpMode = stp;
    accepted.ts = this.now;
    this.out.push(accepted);
    // OKX accepts a post-only order that would take, and an FOK that cannot fill in full, then
    // cancels it at once (cancelSource 31 and 13): the balance is checked as for any order, but
    // nothing is held, traded or charged.
    if (killed !== undefined) {
      this.cancelUnrested(order, killed);
      this.recycle(order);
      return { ok: true, orderId, clOrdId, state: order.state, filledLots: 0 };
    }
    this.hold(account, reserve);
    order.reserved = reserve;

    // A quote-target market order is complete when what is left cannot buy one more lot.
    const stop = this.take(order, opposite);
    let rested = false;
    if (stop === Stop.Complete && (quoteAmount === 0 || order.filledLots > 0)) {
      this.finish(order, 'filled');
    } else if (stop === Stop.NoLiquidity && (type === 'limit' || type === 'post_only')) {
      this.rest(order);
      rested = true;
    } else {
      const band = type === 'market' && stop === Stop.NoLiquidity && opposite.best() !== undefined;
      this.cancelUnrested(order, stop === Stop.SelfTrade ? 'stp' : band ? 'market_band' : 'unfilled');
    }
    if (!rested) this.recycle(order);
    return { ok: true, orderId, clOrdId, state: order.state, filledLots: order.filledLots };
  }

  private rejectOrder(c: PlaceOrder, orderId: number, r: Rejection): Result {
    this.out.push({
      type: 'OrderRejected', seq: this.seq, userId: c.userId, instId: c.instId,
      clOrdId: c.clOrdId ?? '', orderId, reject: r, ts: this.now,
    });
    return no(r);
  }

  private checkSize(inst: Instrument, sizeLots: number | undefined): Rejection | undefined {
    if (!Number.isSafeInteger(sizeLots) || sizeLots! < 1) return Reject.sizeInvalid;
    if (sizeLots! < inst.minLots) return Reject.sizeBelowMin;
    if (sizeLots! > inst.maxLots) return Reject.sizeAboveMax;
    return undefined;
  }

  /**
   * Matches the taker against the opposite side in price-time priority, up to its limit price
   * (for market orders, the protection band's price). Applies self-trade prevention with the
   * taker's mode.
   */
  private match(taker: Order, opposite: BookSide): Stop {
    const inst = taker.inst;
    const limit = taker.priceTicks;
    const byQuote = taker.quoteAmount > 0;
    const stp = taker.stpMode;
    for (;;) {
      const level = opposite.best();
      if (level === undefined) return Stop.NoLiquidity;
      const price = level.priceTicks;
      if (opposite.isBid ? price < limit : price > limit) return Stop.NoLiquidity;
      let maker = level.head;
      while (maker !== null) {
        const next = maker.next;
        // A quote-target taker that cannot take one more lot at this price is complete; it
        // stops before self-trade prevention can cancel a maker it would never trade with.
        let lots = 0;
        if (byQuote) {
          lots = Math.floor((taker.quoteAmount - taker.filledQuote) / (price * inst.quotePerTickLot));
          // Never more than the instrument's maximum size in all, and a sell never more than it holds.
          lots = Math.min(lots, taker.side === 'sell' ? taker.reserved / inst.lotBase : inst.maxLots - taker.filledLots);
          if (lots === 0) return Stop.Complete;
        }
        if (maker.user === taker.user && stp !== 'none') {
          if (stp === 'cancel_taker') return Stop.SelfTrade;
          this.cancelResting(maker, 'stp');
          if (stp === 'cancel_both') return Stop.SelfTrade;
          maker = next;
          continue;
        }
        if (byQuote) {
          if (lots > maker.sizeLots - maker.filledLots) lots = maker.sizeLots - maker.filledLots;
        } else {
          lots = Math.min(maker.sizeLots - maker.filledLots, taker.sizeLots - taker.filledLots);
        }
        this.trade(maker, taker, level, price, lots);
        if (!byQuote && taker.filledLots === taker.sizeLots) return Stop.Complete;
        maker = next;
      }
    }
  }

  /** Matches, then reports the taker's fills once (a maker's are reported per trade). */
  private take(taker: Order, opposite: BookSide): Stop {
    const filledBefore = taker.filledLots;
    const stop = this.match(taker, opposite);
    if (taker.filledLots !== filledBefore) {
      const complete = stop === Stop.Complete;
      this.emitProgress(taker, taker.quoteAmount > 0 || complete ? 0 : taker.sizeLots - taker.filledLots, complete);
    }
    return stop;
  }

  private emitProgress(order: Order, remainingLots: number, filled: boolean): void {
    const e = this.progressEvents.take();
    e.type = filled ? 'OrderFilled' : 'OrderPartiallyFilled';
    e.seq = this.seq;
    e.orderId = order.id;
    e.userId = order.user.id;
    e.filledLots = order.filledLots;
    e.remainingLots = remainingLots;
    e.ts = this.now;
    this.out.push(e);
  }

  /** Executes one fill between a resting maker and the taker, moving every unit through the ledger. */
  private trade(maker: Order, taker: Order, level: Level, price: number, lots: number): void {
    const inst = taker.inst;
    const baseAmount = lots * inst.lotBase;
    const quoteAmount = price * lots * inst.quotePerTickLot;
    const takerBuys = taker.side === 'buy';
    const buyer = takerBuys ? taker : maker;
    const seller = takerBuys ? maker : taker;
    const buyerFee = feeFor(baseAmount, takerBuys ? taker.user.takerFeePpm : maker.user.makerFeePpm);
    const sellerFee = feeFor(quoteAmount, takerBuys ? maker.user.makerFeePpm : taker.user.takerFeePpm);

    // The buyer's hold was taken at its limit price (or is its quote budget); release the rest.
    const buyerHoldCut = buyer.quoteAmount > 0 ? quoteAmount : buyer.priceTicks * lots * inst.quotePerTickLot;
    const buyerQuote = buyer.heldAccount;
    this.spendHeld(buyerQuote, buyerHoldCut, quoteAmount);
    buyer.reserved -= buyerHoldCut;
    this.credit(this.account(buyer.user, inst.base), baseAmount - buyerFee);
    inst.base.fees.add(buyerFee);

    this.spendHeld(seller.heldAccount, baseAmount, baseAmount);
    seller.reserved -= baseAmount;
    this.credit(this.account(seller.user, inst.quote), quoteAmount - sellerFee);
    inst.quote.fees.add(sellerFee);

    maker.filledLots += lots;
    maker.filledQuote += quoteAmount;
    maker.updatedTs = this.now;
    taker.filledLots += lots;
    taker.filledQuote += quoteAmount;
    level.totalLots -= lots;

    const e = this.tradeEvents.take();
    e.seq = this.seq;
    e.tradeId = this.nextTradeId++;
    e.instId = inst.instId;
    e.priceTicks = price;
    e.sizeLots = lots;
    e.quoteAmount = quoteAmount;
    e.takerSide = taker.side;
    e.makerOrderId = maker.id;
    e.makerUserId = maker.user.id;
    e.makerFee = takerBuys ? sellerFee : buyerFee;
    e.takerOrderId = taker.id;
    e.takerUserId = taker.user.id;
    e.takerFee = takerBuys ? buyerFee : sellerFee;
    e.ts = this.now;
    this.out.push(e);
    const makerLeft = maker.sizeLots - maker.filledLots;
    this.emitProgress(maker, makerLeft, makerLeft === 0);
    if (makerLeft === 0) {
      maker.state = 'filled';
      invariant(maker.reserved === 0, 'a filled maker holds nothing');
      (maker.side === 'buy' ? inst.bids : inst.asks).remove(maker);
      this.unlist(maker);
      this.recycle(maker);
    } else {
      maker.state = 'partially_filled';
    }
    taker.state = 'partially_filled';
  }

  /** Puts the unfilled rest of a limit order on the book. */
  private rest(order: Order): void {
    const inst = order.inst;
    (order.side === 'buy' ? inst.bids : inst.asks).add(order);
    const user = order.user;
    order.userPrev = user.openTail;
    order.userNext = null;
    if (user.openTail === null) user.openHead = order;
    else user.openTail.userNext = order;
    user.openTail = order;
    user.openCount += 1;
    this.orders.set(order);
    if (order.clOrdId !== '') user.byClOrdId.set(order.clOrdId, order);
  }

  /** Ends an order that never rested (or was just taken off the book), releasing what it still holds. */
  private finish(order: Order, state: 'filled' | 'canceled'): void {
    order.state = state;
    order.updatedTs = this.now;
    if (order.reserved !== 0) {
      this.release(order.heldAccount, order.reserved);
      order.reserved = 0;
    }
  }

  private cancelUnrested(order: Order, reason: CancelReason): void {
    this.finish(order, 'canceled');
    this.emitCanceled(order, reason, order.quoteAmount > 0 ? 0 : order.sizeLots - order.filledLots);
  }

  private cancelResting(order: Order, reason: CancelReason): void {
    const remainingLots = order.sizeLots - order.filledLots;
    (order.side === 'buy' ? order.inst.bids : order.inst.asks).remove(order);
    this.unlist(order);
    this.finish(order, 'canceled');
    this.emitCanceled(order, reason, remainingLots);
    this.recycle(order);
  }

  /** Keeps the object of an order that has left the book, the indexes and its user's list, for reuse. */
  private recycle(order: Order): void {
    if (this.freeOrders.length < recycledOrdersMax) this.freeOrders.push(order);
  }

  private emitCanceled(order: Order, reason: CancelReason, remainingLots: number): void {
    const e = this.canceledEvents.take();
    e.seq = this.seq;
    e.orderId = order.id;
    e.userId = order.user.id;
    e.instId = order.inst.instId;
    e.reason = reason;
    e.filledLots = order.filledLots;
    e.remainingLots = remainingLots;
    e.ts = this.now;
    this.out.push(e);
  }

  /** Removes a resting order from the user's open list and the id indexes (not from the book). */
  private unlist(order: Order): void {
    const user = order.user;
    if (order.userPrev === null) user.openHead = order.userNext;
    else order.userPrev.userNext = order.userNext;
    if (order.userNext === null) user.openTail = order.userPrev;
    else order.userNext.userPrev = order.userPrev;
    order.userPrev = order.userNext = null;
    user.openCount -= 1;
    this.orders.delete(order.id);
    if (order.clOrdId !== '') user.byClOrdId.delete(order.clOrdId);
  }

  // ------------------------------------------------------------------ cancel and amend

  private findOrder(ref: OrderRef): Order | undefined {
    const user = this.users[ref.userId];
    if (user === undefined) return undefined;
    const order = ref.orderId !== undefined ? this.orders.get(ref.orderId)
      : ref.clOrdId !== undefined ? user.byClOrdId.get(ref.clOrdId) : undefined;
    if (order === undefined || order.user !== user || order.inst.instId !== ref.instId) return undefined;
    // With both ids given, they must name the same order.
    if (ref.clOrdId !== undefined && ref.clOrdId !== '' && ref.clOrdId !== order.clOrdId) return undefined;
    return order;
  }

  private cancelOrder(c: CancelOrder): Result {
    const inst = this.instruments.get(c.instId);
    if (inst === undefined) return no(Reject.instrumentNotFound);
    if (inst.state === 'suspended') return no(Reject.instrumentSuspended);
    const order = this.findOrder(c);
    if (order === undefined) return no(Reject.orderNotFound);
    this.cancelResting(order, 'user');
    return { ok: true, orderId: order.id, clOrdId: order.clOrdId, state: 'canceled', filledLots: order.filledLots };
  }

  private cancelAll(c: CancelAll): Result {
    const user = this.users[c.userId];
    if (user === undefined) return no(Reject.userNotFound);
    let inst: Instrument | undefined;
    if (c.instId !== undefined) {
      inst = this.instruments.get(c.instId);
      if (inst === undefined) return no(Reject.instrumentNotFound);
    }
    let canceled = 0;
    let order = user.openHead;
    while (order !== null) {
      const next = order.userNext;
      if ((inst === undefined || order.inst === inst) && order.inst.state !== 'suspended') {
        this.cancelResting(order, 'user_all');
        canceled += 1;
      }
      order = next;
    }
    return { ok: true, canceledOrders: canceled };
  }

  private amendOrder(c: AmendOrder): Result {
    const inst = this.instruments.get(c.instId);
    if (inst === undefined) return no(Reject.instrumentNotFound);
    const order = this.findOrder(c);
    if (order === undefined) return no(Reject.orderNotFound);
    if (inst.state === 'suspended') return this.amendFailed(c, order, Reject.instrumentSuspended);
    if (inst.state === 'cancel_only') return this.amendFailed(c, order, Reject.instrumentCancelOnly);
    const newPrice = c.newPriceTicks ?? order.priceTicks;
    const newSize = c.newSizeLots ?? order.sizeLots;
    if (newPrice === order.priceTicks && newSize === order.sizeLots) return this.amendFailed(c, order, Reject.amendNothing);
    if (!Number.isSafeInteger(newPrice) || newPrice < 1 || newPrice > inst.maxPriceTicks) return this.amendFailed(c, order, Reject.priceInvalid);
    const sizeReject = this.checkSize(inst, newSize);
    if (sizeReject !== undefined) return this.amendFailed(c, order, sizeReject);
    if (newSize <= order.filledLots) return this.amendFailed(c, order, Reject.amendSizeNotAboveFilled);

    const isBuy = order.side === 'buy';
    const side = isBuy ? inst.bids : inst.asks;
    const opposite = isBuy ? inst.asks : inst.bids;
    const best = opposite.best();
    const crosses = best !== undefined && (isBuy ? newPrice >= best.priceTicks : newPrice <= best.priceTicks);
    if (crosses && order.orderType === 'post_only') return this.amendFailed(c, order, Reject.postOnlyWouldTake);
    if (crosses && inst.state === 'post_only') return this.amendFailed(c, order, Reject.instrumentPostOnly);

    const remaining = newSize - order.filledLots;
    const reserve = isBuy ? newPrice * remaining * inst.quotePerTickLot : remaining * inst.lotBase;
    const account = order.heldAccount;
    const extra = reserve - order.reserved;
    if (extra > 0 && !account.available.covers(extra)) return this.amendFailed(c, order, Reject.insufficientBalance);

    // Only a pure size reduction keeps the order's place in the queue.
    const priorityKept = newPrice === order.priceTicks && newSize < order.sizeLots;
    if (priorityKept) {
      order.level!.totalLots -= order.sizeLots - newSize;
      order.sizeLots = newSize;
    } else {
      side.remove(order);
      order.priceTicks = newPrice;
      order.sizeLots = newSize;
    }
    if (extra > 0) this.hold(account, extra);
    else if (extra < 0) this.release(account, -extra);
    order.reserved = reserve;
    order.updatedTs = this.now;
    this.out.push({
      type: 'OrderAmended', seq: this.seq, orderId: order.id, userId: order.user.id, priceTicks: newPrice,
      sizeLots: newSize, priorityKept, ts: this.now,
    });
    if (!priorityKept) {
      // A repriced order is a new arrival: it may trade as a taker before it rests again.
      this.unlist(order);
      const stop = this.take(order, opposite);
      if (stop === Stop.Complete) {
        this.finish(order, 'filled');
        this.recycle(order);
      } else if (stop === Stop.SelfTrade) {
        this.cancelUnrested(order, 'stp');
        this.recycle(order);
      } else {
        this.rest(order);
      }
    }
    return { ok: true, orderId: order.id, clOrdId: order.clOrdId, state: order.state, filledLots: order.filledLots };
  }

  /** An amendment refused: the order stays as it was, or is canceled when the amendment asked for that. */
  private amendFailed(c: AmendOrder, order: Order, r: Rejection): Result {
    if (c.cancelOnFail === true && order.inst.state !== 'suspended') this.cancelResting(order, 'amend_failed');
    return no(r);
  }

  // ------------------------------------------------------------------ users, assets, instruments

  private createUser(c: CreateUser): Result {
    const maker = c.makerFeePpm ?? Limits.defaultMakerFeePpm;
    const taker = c.takerFeePpm ?? Limits.defaultTakerFeePpm;
    const stp = c.stpMode ?? 'none';
    if (!validFees(maker, taker)) return no(Reject.feeInvalid);
    if (!STP_MODES.includes(stp)) return no(Reject.stpModeInvalid);
    const user = new User(this.nextUserId++, maker, taker, stp);
    this.users.push(user);
    this.out.push({ type: 'UserCreated', seq: this.seq, userId: user.id, makerFeePpm: maker, takerFeePpm: taker, stpMode: stp });
    return { ok: true, userId: user.id };
  }

  private setUserConfig(c: SetUserConfig): Result {
    const user = this.users[c.userId];
    if (user === undefined) return no(Reject.userNotFound);
    const maker = c.makerFeePpm ?? user.makerFeePpm;
    const taker = c.takerFeePpm ?? user.takerFeePpm;
    const stp: StpMode = c.stpMode ?? user.stpMode;
    if (!validFees(maker, taker)) return no(Reject.feeInvalid);
    if (!STP_MODES.includes(stp)) return no(Reject.stpModeInvalid);
    user.makerFeePpm = maker;
    user.takerFeePpm = taker;
    user.stpMode = stp;
    this.out.push({ type: 'UserConfigChanged', seq: this.seq, userId: user.id, makerFeePpm: maker, takerFeePpm: taker, stpMode: stp });
    return { ok: true, userId: user.id };
  }

  private setAsset(c: SetAsset): Result {
    if (!ASSET_ID.test(c.asset) || !Number.isInteger(c.scale) || c.scale < 0 || c.scale > Limits.assetScaleMax) {
      return no(Reject.assetInvalid);
    }
    const amounts = [c.withdrawFee, c.withdrawMin, c.withdrawMax, c.withdrawDailyMax];
    if (!amounts.every((a) => INTEGER.test(a)) || typeof c.withdrawEnabled !== 'boolean') return no(Reject.assetInvalid);
    if (BigInt(c.withdrawMin) > BigInt(c.withdrawMax) || BigInt(c.withdrawMax) > BigInt(c.withdrawDailyMax)) {
      return no(Reject.assetInvalid);
    }
    const spec: SetAsset = {
      type: 'SetAsset', asset: c.asset, scale: c.scale, withdrawFee: c.withdrawFee, withdrawMin: c.withdrawMin,
      withdrawMax: c.withdrawMax, withdrawDailyMax: c.withdrawDailyMax, withdrawEnabled: c.withdrawEnabled,
    };
    const existing = this.assetById.get(c.asset);
    if (existing !== undefined) {
      if (existing.spec.scale !== c.scale) return no(Reject.assetImmutable);
      existing.spec = spec;
    } else {
      const asset = new Asset(this.assets.length, spec);
      this.assets.push(asset);
      this.assetById.set(c.asset, asset);
    }
    this.out.push({ type: 'AssetSet', seq: this.seq, asset: c.asset, spec });
    return { ok: true };
  }

  private setInstrument(c: SetInstrument): Result {
    const base = this.assetById.get(c.base);
    const quote = this.assetById.get(c.quote);
    if (base === undefined || quote === undefined) return no(Reject.assetNotFound);
    const built = buildInstrument(c, base, quote);
    if (built === undefined) return no(Reject.instrumentInvalid);
    const existing = this.instruments.get(c.instId);
    if (existing !== undefined) {
      const s = existing.spec;
      if (s.base !== c.base || s.quote !== c.quote || s.tickSz !== c.tickSz || s.lotSz !== c.lotSz) {
        return no(Reject.instrumentImmutable);
      }
      existing.spec = built.spec;
      existing.minLots = built.minLots;
      existing.maxLots = built.maxLots;
      existing.maxPriceTicks = built.maxPriceTicks;
      existing.bandBps = built.bandBps;
      existing.state = c.state;
    } else {
      this.instruments.set(c.instId, built);
    }
    this.out.push({ type: 'InstrumentSet', seq: this.seq, instId: c.instId, spec: built.spec });
    return { ok: true };
  }

  private setInstrumentState(c: SetInstrumentState): Result {
    const inst = this.instruments.get(c.instId);
    if (inst === undefined) return no(Reject.instrumentNotFound);
    if (!INSTRUMENT_STATES.includes(c.state)) return no(Reject.instrumentInvalid);
    inst.state = c.state;
    this.out.push({ type: 'InstrumentStateChanged', seq: this.seq, instId: c.instId, state: c.state });
    return { ok: true };
  }

  // ------------------------------------------------------------------ deposits and withdrawals

  private creditDeposit(c: CreditDeposit): Result {
    if (typeof c.depositId !== 'string' || c.depositId === '' || c.depositId.length > Limits.externalIdLengthMax) {
      return no(Reject.depositIdInvalid);
    }
    // Ids shaped like a chain deposit's (chain:0x<txid>:...) are the watchers' alone.
    if (CHAIN_DEPOSIT_ID.test(c.depositId)) return no(Reject.depositIdInvalid);
    const prior = this.deposits.get(c.depositId);
    if (prior !== undefined) {
      const same = prior.userId === c.userId && prior.asset === c.asset && prior.amount === c.amount;
      return no(same ? Reject.depositDuplicate : Reject.depositConflict);
    }
    const user = this.users[c.userId];
    if (user === undefined) return no(Reject.userNotFound);
    const asset = this.assetById.get(c.asset);
    if (asset === undefined) return no(Reject.assetNotFound);
    // On a chain, only the chain's deposits are credited: the ledger must match what it holds.
    if (asset.chain !== null) return no(Reject.depositOnChain);
    const amount = positiveAmount(c.amount);
    if (amount === undefined) return no(Reject.amountInvalid);
    const refused = this.creditAvailable(user, asset, amount);
    if (refused !== undefined) return no(refused);
    this.deposits.set(c.depositId, { userId: c.userId, asset: c.asset, amount: c.amount });
    this.out.push({ type: 'DepositCredited', seq: this.seq, depositId: c.depositId, userId: user.id, asset: c.asset, amount: c.amount, ts: this.now });
    return { ok: true };
  }

  /** Credits a deposit to the user's available balance, unless it would pass the asset's supply cap. */
  creditAvailable(user: User, asset: Asset, amount: bigint): Rejection | undefined {
    // Held funds return to available on a cancel, so the bound is on the account's total.
    // The cap is on the asset's whole supply, far below what a balance can represent, so no
    // account can overflow later through trades or rebates, where there is no way to refuse.
    const outstanding = -asset.deposits.toBigInt() - asset.withdrawals.toBigInt();
    if (outstanding + amount > Limits.assetSupplyMax) return Reject.balanceOverflow;
    asset.deposits.addBigInt(-amount);
    this.account(user, asset).available.addBigInt(amount);
    this.touch(this.account(user, asset));
    return undefined;
  }

  private requestWithdrawal(c: RequestWithdrawal): Result {
    const user = this.users[c.userId];
    if (user === undefined) return no(Reject.userNotFound);
    const asset = this.assetById.get(c.asset);
    if (asset === undefined) return no(Reject.assetNotFound);
    const spec = asset.spec;
    if (!spec.withdrawEnabled) return no(Reject.withdrawalDisabled);
    if (c.address === '' || c.address.length > Limits.externalIdLengthMax) return no(Reject.withdrawalAddressInvalid);
    const clientId = c.clientId ?? '';
    if (clientId !== '') {
      if (!CL_ORD_ID.test(clientId)) return no(Reject.clientOrderIdInvalid);
      if (this.withdrawalClientIds.has(`${user.id}:${clientId}`)) return no(Reject.withdrawalClientIdDuplicate);
    }
    const amount = positiveAmount(c.amount);
    if (amount === undefined) return no(Reject.amountInvalid);
    if (amount < BigInt(spec.withdrawMin)) return no(Reject.withdrawalBelowMin);
    if (amount > BigInt(spec.withdrawMax)) return no(Reject.withdrawalAboveMax);
    const day = Math.floor(this.now / DAY_MS);
    const today = user.withdrawnToday.get(asset.index);
    const used = today !== undefined && today.day === day ? today.amount : 0n;
    if (used + amount > BigInt(spec.withdrawDailyMax)) return no(Reject.withdrawalDailyLimit);
    const fee = BigInt(spec.withdrawFee);
    const account = this.account(user, asset);
    if (account.available.toBigInt() < amount + fee) return no(Reject.insufficientBalance);
    const onChain = asset.chain;
    if (onChain !== null) {
      const refused = this.custody.checkWithdrawal(user, onChain, c.address, amount);
      if (refused !== undefined) return no(refused);
    }

    account.available.addBigInt(-(amount + fee));
    account.held.addBigInt(amount + fee);
    this.touch(account);
    if (today !== undefined && today.day === day) today.amount += amount;
    else user.withdrawnToday.set(asset.index, new DailyWithdrawn(day, amount));
    const address = onChain === null ? c.address : c.address.toLowerCase();
    const w = new Withdrawal(this.nextWithdrawalId++, user, asset, amount, fee, address, clientId, day, this.now);
    this.withdrawals.set(w.id, w);
    if (clientId !== '') this.withdrawalClientIds.set(`${user.id}:${clientId}`, w.id);
    this.out.push({
      type: 'WithdrawalRequested', seq: this.seq, withdrawalId: w.id, userId: user.id, asset: asset.id,
      amount: amount.toString(), fee: fee.toString(), address: w.address, clientId, ts: this.now,
    });
    if (onChain !== null) this.custody.withdrawalRequested(w, onChain);
    return { ok: true, withdrawalId: w.id };
  }

  private completeWithdrawal(c: CompleteWithdrawal): Result {
    if (typeof c.txId !== 'string' || c.txId === '' || c.txId.length > Limits.externalIdLengthMax) return no(Reject.txIdInvalid);
    const w = this.withdrawals.get(c.withdrawalId);
    if (w === undefined) return no(Reject.withdrawalNotPending);
    if (w.asset.chain !== null) return no(Reject.withdrawalOnChain);
    this.settleWithdrawal(w, c.txId);
    return { ok: true, withdrawalId: w.id };
  }

  /** Pays a withdrawal out of the ledger: the hold leaves, the fee goes to the fee account. */
  settleWithdrawal(w: Withdrawal, txId: string): void {
    this.withdrawals.delete(w.id);
    const account = this.account(w.user, w.asset);
    account.held.addBigInt(-(w.amount + w.fee));
    w.asset.withdrawals.addBigInt(w.amount);
    w.asset.fees.addBigInt(w.fee);
    this.touch(account);
    this.out.push({ type: 'WithdrawalCompleted', seq: this.seq, withdrawalId: w.id, userId: w.user.id, txId, ts: this.now });
  }

  private failWithdrawal(c: FailWithdrawal): Result {
    const w = this.withdrawals.get(c.withdrawalId);
    if (w === undefined) return no(Reject.withdrawalNotPending);
    // On a chain an operator may only reject a withdrawal that waits for approval: once it has a
    // nonce its transaction may be mined, and only the chain can say it failed.
    if (w.asset.chain !== null && w.stage !== 'approval') return no(Reject.withdrawalOnChain);
    this.failWithdrawalAfterChain(w, c.reason);
    return { ok: true, withdrawalId: w.id };
  }

  /** Ends a withdrawal that paid nothing out: the hold is released. */
  failWithdrawalAfterChain(w: Withdrawal, reason: string): void {
    this.unwindWithdrawal(w);
    this.out.push({ type: 'WithdrawalFailed', seq: this.seq, withdrawalId: w.id, userId: w.user.id, reason, ts: this.now });
  }

  private cancelWithdrawal(c: CancelWithdrawal): Result {
    const w = this.withdrawals.get(c.withdrawalId);
    if (w?.user.id !== c.userId) return no(Reject.withdrawalNotFound);
    if (w.stage === 'assigned') return no(Reject.withdrawalNotPending);
    this.unwindWithdrawal(w);
    this.out.push({ type: 'WithdrawalCanceled', seq: this.seq, withdrawalId: w.id, userId: w.user.id, reason: 'user', ts: this.now });
    return { ok: true, withdrawalId: w.id };
  }

  /** Releases a pending withdrawal's hold and gives back its share of the day's limit. */
  private unwindWithdrawal(w: Withdrawal): void {
    this.withdrawals.delete(w.id);
    const account = this.account(w.user, w.asset);
    account.held.addBigInt(-(w.amount + w.fee));
    account.available.addBigInt(w.amount + w.fee);
    this.touch(account);
    const today = w.user.withdrawnToday.get(w.asset.index);
    if (today?.day === w.day) today.amount -= w.amount;
    this.custody.withdrawalUnwound(w);
  }

  /** Appends an event of the current command (custody.ts emits through this). */
  emit(e: Event): void {
    this.out.push(e);
  }

  // ------------------------------------------------------------------ ledger primitives

  account(user: User, asset: Asset): Account {
    let account = user.accounts[asset.index];
    if (account === undefined) {
      account = new Account(user, asset);
      while (user.accounts.length < asset.index) user.accounts.push(undefined);
      user.accounts[asset.index] = account;
    }
    return account;
  }

  private touch(account: Account): void {
    if (account.touchedSeq !== this.seq) {
      account.touchedSeq = this.seq;
      // Slots are overwritten, never emptied: clearing the array would free its storage each command.
      this.touched[this.touchedCount++] = account;
    }
  }

  /** available -> held */
  private hold(account: Account, amount: number): void {
    account.available.add(-amount);
    account.held.add(amount);
    this.touch(account);
  }

  /** held -> available */
  private release(account: Account, amount: number): void {
    account.held.add(-amount);
    account.available.add(amount);
    this.touch(account);
  }

  /** Takes `cut` from held: `spent` leaves the account (to the counterparty), the rest returns to available. */
  private spendHeld(account: Account, cut: number, spent: number): void {
    account.held.add(-cut);
    if (cut !== spent) account.available.add(cut - spent);
    this.touch(account);
  }

  private credit(account: Account, amount: number): void {
    account.available.add(amount);
    this.touch(account);
  }

  private emitBalances(): void {
    const seq = this.seq;
    for (let i = 0; i < this.touchedCount; i++) {
      const account = this.touched[i]!;
      const e = this.balanceEvents.take();
      e.seq = seq;
      e.userId = account.user.id;
      e.asset = account.asset.id;
      e.available = account.available.value();
      e.held = account.held.value();
      this.out.push(e);
    }
    this.touchedCount = 0;
  }

  // ------------------------------------------------------------------ proof of reserves

  /**
   * Only fixes a position in the log: the event names the report, and every node builds the
   * same liabilities tree over the balances after this record. The engine keeps no state for it,
   * so a repeated id is not refused here; the nodes keep the first report of an id.
   */
  private requestLiabilitiesReport(c: RequestLiabilitiesReport): Result {
    const blockNumber = c.blockNumber ?? 0;
    if (typeof c.reportId !== 'string' || !REPORT_ID.test(c.reportId) || !Number.isSafeInteger(blockNumber) || blockNumber < 0) {
      return no(Reject.reportIdInvalid);
    }
    this.out.push({ type: 'LiabilitiesReportRequested', seq: this.seq, reportId: c.reportId, blockNumber, ts: this.now });
    return { ok: true };
  }
}

// -------------------------------------------------------------------- pure helpers

/** The worst price a market order may reach: the band around the best price it found. */
function bandLimit(inst: Instrument, isBuy: boolean, bestTicks: number): number {
  if (isBuy) return Math.min(inst.maxPriceTicks, Math.floor((bestTicks * (10_000 + inst.bandBps)) / 10_000));
  return Math.max(1, Math.ceil((bestTicks * (10_000 - inst.bandBps)) / 10_000));
}

/**
 * Whether a fill-or-kill order can fill in full at its limit, walking the book as matching
 * would: the taker's own orders count as liquidity only with STP off, are skipped under
 * cancel-maker (they would be cancelled), and end the walk under cancel-taker or cancel-both.
 */
function fillable(opposite: BookSide, user: User, stp: StpMode, limit: number, sizeLots: number): boolean {
  let need = sizeLots;
  for (let i = opposite.levels.length - 1; i >= 0; i--) {
    const level = opposite.levels[i]!;
    if (opposite.isBid ? level.priceTicks < limit : level.priceTicks > limit) return false;
    if (stp === 'none') {
      need -= level.totalLots;
      if (need <= 0) return true;
      continue;
    }
    for (let o = level.head; o !== null; o = o.next) {
      if (o.user === user) {
        if (stp === 'cancel_maker') continue;
        return false;
      }
      need -= o.sizeLots - o.filledLots;
      if (need <= 0) return true;
    }
  }
  return false;
}

/** Adds a client order id to the user's ring of recent ones, forgetting the oldest when full. */
export function rememberClOrdId(user: User, clOrdId: string): void {
  if (user.recentRing.length < Limits.recentClientOrderIdsPerUser) {
    user.recentRing.push(clOrdId);
  } else {
    user.recentClOrdIds.delete(user.recentRing[user.recentNext]!);
    user.recentRing[user.recentNext] = clOrdId;
    user.recentNext = (user.recentNext + 1) % Limits.recentClientOrderIdsPerUser;
  }
  user.recentClOrdIds.add(clOrdId);
}

function validFees(makerPpm: number, takerPpm: number): boolean {
  return Number.isInteger(makerPpm) && Number.isInteger(takerPpm)
    && makerPpm >= Limits.makerFeePpmMin && makerPpm <= Limits.feePpmMax
    && takerPpm >= 0 && takerPpm <= Limits.feePpmMax
    && makerPpm + takerPpm >= 0;
}

function positiveAmount(text: string): bigint | undefined {
  if (typeof text !== 'string' || !INTEGER.test(text)) return undefined;
  const amount = BigInt(text);
  return amount > 0n && amount <= Limits.assetSupplyMax ? amount : undefined;
}

/** Splits a decimal like "0.001" into (digits after the point, integer units at that scale). */
function decimalUnits(text: string): { decimals: number; units: bigint } | undefined {
  if (typeof text !== 'string') return undefined;
  const dot = text.indexOf('.');
  const decimals = dot === -1 ? 0 : text.length - dot - 1;
  const units = parseDecimal(text, decimals);
  return units === undefined ? undefined : { decimals, units };
}

/**
 * Validates an instrument definition and derives its integer units. Refuses any definition
 * under which an order's notional could leave the safe-integer range, so matching never needs
 * an overflow check.
 */
export function buildInstrument(c: SetInstrument, base: Asset, quote: Asset): Instrument | undefined {
  if (c.instId !== `${c.base}-${c.quote}` || c.base === c.quote) return undefined;
  if (!INSTRUMENT_STATES.includes(c.state)) return undefined;
  if (!Number.isInteger(c.bandBps) || c.bandBps < 1 || c.bandBps > Limits.bandBpsMax) return undefined;
  const tick = decimalUnits(c.tickSz);
  const lot = decimalUnits(c.lotSz);
  if (tick === undefined || lot === undefined || tick.units === 0n || lot.units === 0n) return undefined;
  const minSz = parseDecimal(c.minSz, lot.decimals);
  const maxSz = parseDecimal(c.maxSz, lot.decimals);
  const maxPx = parseDecimal(c.maxPx, tick.decimals);
  if (minSz === undefined || maxSz === undefined || maxPx === undefined) return undefined;
  if (minSz % lot.units !== 0n || maxSz % lot.units !== 0n || maxPx % tick.units !== 0n) return undefined;
  const minLots = minSz / lot.units;
  const maxLots = maxSz / lot.units;
  const maxPriceTicks = maxPx / tick.units;
  if (minLots < 1n || maxLots < minLots || maxPriceTicks < 1n) return undefined;
  // One lot in base minor units, and one tick x one lot in quote minor units, must be whole.
  const lotBaseNum = lot.units * 10n ** BigInt(base.spec.scale);
  const lotBaseDen = 10n ** BigInt(lot.decimals);
  const qptlNum = tick.units * lot.units * 10n ** BigInt(quote.spec.scale);
  const qptlDen = 10n ** BigInt(tick.decimals + lot.decimals);
  if (lotBaseNum % lotBaseDen !== 0n || qptlNum % qptlDen !== 0n) return undefined;
  const lotBase = lotBaseNum / lotBaseDen;
  const qptl = qptlNum / qptlDen;
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  if (maxPriceTicks * maxLots * qptl > safe || maxLots * lotBase > safe) return undefined;
  if (maxPriceTicks * BigInt(10_000 + Limits.bandBpsMax) > safe) return undefined;
  const spec: SetInstrument = {
    type: 'SetInstrument', instId: c.instId, base: c.base, quote: c.quote, tickSz: c.tickSz, lotSz: c.lotSz,
    minSz: c.minSz, maxSz: c.maxSz, maxPx: c.maxPx, bandBps: c.bandBps, state: c.state,
  };
  return new Instrument(
    spec, base, quote, tick.decimals, Number(tick.units), lot.decimals, Number(lot.units), Number(lotBase),
    Number(qptl), Number(minLots), Number(maxLots), Number(maxPriceTicks), c.bandBps,
  );
}
