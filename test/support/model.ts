// A reference model of the engine, written to be obviously right rather than fast. It keeps
// each instrument's resting orders in one plain array and finds the best maker by scanning it
// (best price first, then earliest arrival); it keeps each account's total in a BigInt and
// computes what is held from the resting orders and pending withdrawals that hold it. Property
// tests apply the same commands to this model and to the engine and compare everything; the
// generators of those command streams are at the end of this file.

import fc from 'fast-check';
import { Limits, Reject, type Command, type Rejection, type Result } from '../../src/core/index.js';
import type {
  AmendOrder, CancelAll, CancelOrder, CancelReason, CancelWithdrawal, CompleteWithdrawal, CreateUser,
  CreditDeposit, FailWithdrawal, InstrumentState, OrderRef, OrderType, PlaceOrder, RequestWithdrawal,
  SetAsset, SetInstrument, SetInstrumentState, SetUserConfig, Side, StpMode,
} from '../../src/core/index.js';

const DAY_MS = 86_400_000;
const CL_ORD_ID = /^[A-Za-z0-9]{1,32}$/;
const ASSET_ID = /^[A-Z0-9]{1,12}$/;
const CANONICAL_INTEGER = /^(0|[1-9][0-9]*)$/;
const DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;
const STP_MODES: readonly string[] = ['none', 'cancel_maker', 'cancel_taker', 'cancel_both'];
const ORDER_TYPES: readonly string[] = ['limit', 'post_only', 'ioc', 'fok', 'market'];
const INSTRUMENT_STATES: readonly string[] = ['live', 'suspended', 'cancel_only', 'post_only'];

/**
 * The reference fee: charges (rate > 0) round up, rebates (rate < 0) round toward zero, so the
 * fee account never loses to rounding. BigInt division truncates toward zero.
 */
export function referenceFee(amount: bigint, ratePpm: number): bigint {
  const product = amount * BigInt(ratePpm);
  return ratePpm > 0 ? (product + 999_999n) / 1_000_000n : product / 1_000_000n;
}

export interface ModelOrder {
  readonly id: number;
  readonly userId: number;
  readonly instId: string;
  readonly side: Side;
  readonly type: OrderType;
  /** Limit price in ticks; for a market order, the protection band's price. */
  price: number;
  /** Size in lots; 0 for a market order by quote amount. */
  size: number;
  /** Market orders by quote: quote to spend (buy) or to receive (sell); else 0. */
  readonly quoteAmount: number;
  /** Market sells by quote: the most lots the order may sell (what it could hold). */
  readonly sellLotsMax: number;
  readonly clOrdId: string;
  readonly stp: StpMode;
  filled: number;
  filledQuote: number;
  /** Time priority: a fresh number each time the order joins the back of a queue. */
  restSeq: number;
}

export interface ModelInstrument {
  spec: SetInstrument;
  readonly base: string;
  readonly quote: string;
  readonly tickSz: string;
  readonly lotSz: string;
  /** Base minor units per lot, and quote minor units per tick per lot. */
  readonly lotBase: number;
  readonly quotePerTickLot: number;
  minLots: number;
  maxLots: number;
  maxPriceTicks: number;
  bandBps: number;
  state: InstrumentState;
  /** Every resting order of both sides, in no particular order. */
  resting: ModelOrder[];
}

export interface ModelAsset {
  spec: SetAsset;
  fees: bigint;
  deposits: bigint;
  withdrawals: bigint;
}

export interface ModelUser {
  readonly id: number;
  makerFeePpm: number;
  takerFeePpm: number;
  stpMode: StpMode;
  /** available + held per asset. */
  readonly total: Map<string, bigint>;
  readonly withdrawnToday: Map<string, { day: number; amount: bigint }>;
}

export interface ModelWithdrawal {
  readonly id: number;
  readonly userId: number;
  readonly asset: string;
  readonly amount: bigint;
  readonly fee: bigint;
  readonly clientId: string;
  readonly day: number;
}

export interface ModelTrade {
  readonly tradeId: number;
  readonly instId: string;
  readonly priceTicks: number;
  readonly sizeLots: number;
  readonly quoteAmount: number;
  readonly takerSide: Side;
  readonly makerOrderId: number;
  readonly makerUserId: number;
  readonly makerFee: number;
  readonly takerOrderId: number;
  readonly takerUserId: number;
  readonly takerFee: number;
}

export interface ModelCancel {
  readonly orderId: number;
  readonly reason: CancelReason;
  readonly filledLots: number;
  readonly remainingLots: number;
}

export interface ModelOutput {
  result: Result;
  readonly trades: ModelTrade[];
  readonly cancels: ModelCancel[];
}

type Stop = 'complete' | 'no_liquidity' | 'self_trade';

export class Model {
  now = 0;
  nextUserId = 1;
  nextOrderId = 1;
  nextTradeId = 1;
  nextWithdrawalId = 1;
  private nextRestSeq = 1;
  readonly users = new Map<number, ModelUser>();
  readonly assets = new Map<string, ModelAsset>();
  readonly instruments = new Map<string, ModelInstrument>();
  readonly deposits = new Map<string, { userId: number; asset: string; amount: string }>();
  /** Pending withdrawals only: completed, failed and cancelled ones are forgotten. */
  readonly withdrawals = new Map<number, ModelWithdrawal>();
  /** Client order ids of each user's most recent orders, oldest first. */
  readonly recentClOrdIds = new Map<number, string[]>();
  /** Withdrawal client ids ever used, per user (`user:clientId`). */
  readonly usedClientIds = new Set<string>();
  private out: ModelOutput = { result: { ok: true }, trades: [], cancels: [] };

  apply(cmd: Command, ts: number): ModelOutput {
    this.now = Math.max(this.now, ts);
    this.out = { result: { ok: true }, trades: [], cancels: [] };
    this.out.result = this.dispatch(cmd);
    return this.out;
  }

  private dispatch(cmd: Command): Result {
    switch (cmd.type) {
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
      case 'PlaceOrder': return this.placeOrder(cmd);
      case 'CancelOrder': return this.cancelOrder(cmd);
      case 'CancelAll': return this.cancelAll(cmd);
      case 'AmendOrder': return this.amendOrder(cmd);
      // Custody is tested against a real chain (test/custody*.test.ts), not modelled here.
      case 'SetChain': case 'SetChainAsset': case 'ObserveDeposit': case 'RevertDeposit': case 'ApproveWithdrawal':
      case 'ObserveChainTx': case 'ReplaceChainTx': case 'RequestSweep': case 'SetWithdrawalsFrozen': case 'SetWithdrawalAllowlist':
        throw new Error(`the reference model does not cover ${cmd.type}`);
      // Records a position only; test/por.test.ts covers it.
      case 'RequestLiabilitiesReport': return { ok: true };
      default: {
        const unknown: never = cmd;
        throw new Error(`model does not know ${JSON.stringify(unknown)}`);
      }
    }
  }

  // ---------------------------------------------------------------- balances, derived

  total(userId: number, asset: string): bigint {
    return this.users.get(userId)?.total.get(asset) ?? 0n;
  }

  private addTotal(userId: number, asset: string, delta: bigint): void {
    const user = this.users.get(userId)!;
    user.total.set(asset, (user.total.get(asset) ?? 0n) + delta);
  }

  /** What a resting order holds: its remaining notional at its own price (buy) or its remaining base (sell). */
  reserveOf(order: ModelOrder): bigint {
    const inst = this.instruments.get(order.instId)!;
    const remaining = BigInt(order.size - order.filled);
    return order.side === 'buy'
      ? BigInt(order.price) * remaining * BigInt(inst.quotePerTickLot)
      : remaining * BigInt(inst.lotBase);
  }

  held(userId: number, asset: string): bigint {
    let held = 0n;
    for (const inst of this.instruments.values()) {
      for (const o of inst.resting) {
        if (o.userId !== userId) continue;
        if ((o.side === 'buy' ? inst.quote : inst.base) === asset) held += this.reserveOf(o);
      }
    }
    for (const w of this.withdrawals.values()) {
      if (w.userId === userId && w.asset === asset) held += w.amount + w.fee;
    }
    return held;
  }

  available(userId: number, asset: string): bigint {
    return this.total(userId, asset) - this.held(userId, asset);
  }

  // ---------------------------------------------------------------- the book, derived

  allResting(): ModelOrder[] {
    return [...this.instruments.values()].flatMap((i) => i.resting);
  }

  /** The maker a taker on `takerSide` meets first: best price, then earliest arrival. */
  bestMaker(inst: ModelInstrument, takerSide: Side): ModelOrder | undefined {
    let best: ModelOrder | undefined;
    for (const o of inst.resting) {
      if (o.side === takerSide) continue;
      if (best === undefined) { best = o; continue; }
      const better = o.side === 'sell' ? o.price < best.price : o.price > best.price;
      if (better || (o.price === best.price && o.restSeq < best.restSeq)) best = o;
    }
    return best;
  }

  /** One side in priority order, as levels of order ids. */
  bookSide(instId: string, side: Side): { priceTicks: number; orders: ModelOrder[] }[] {
    const inst = this.instruments.get(instId);
    if (inst === undefined) return [];
    const orders = inst.resting.filter((o) => o.side === side)
      .sort((a, b) => (a.price !== b.price ? (side === 'buy' ? b.price - a.price : a.price - b.price) : a.restSeq - b.restSeq));
    const levels: { priceTicks: number; orders: ModelOrder[] }[] = [];
    for (const o of orders) {
      const last = levels[levels.length - 1];
      if (last?.priceTicks === o.price) last.orders.push(o);
      else levels.push({ priceTicks: o.price, orders: [o] });
    }
    return levels;
  }

  private rest(order: ModelOrder): void {
    order.restSeq = this.nextRestSeq++;
    this.instruments.get(order.instId)!.resting.push(order);
  }

  private unrest(order: ModelOrder): void {
    const inst = this.instruments.get(order.instId)!;
    inst.resting = inst.resting.filter((o) => o !== order);
  }

  private cancelResting(order: ModelOrder, reason: CancelReason): void {
    this.unrest(order);
    this.out.cancels.push({ orderId: order.id, reason, filledLots: order.filled, remainingLots: order.size - order.filled });
  }

  // ---------------------------------------------------------------- placing and matching

  private placeOrder(c: PlaceOrder): Result {
    const orderId = this.nextOrderId++;
    const user = this.users.get(c.userId);
    if (user === undefined) return no(Reject.userNotFound);
    const inst = this.instruments.get(c.instId);
    if (inst === undefined) return no(Reject.instrumentNotFound);
    if (inst.state === 'suspended') return no(Reject.instrumentSuspended);
    if (inst.state === 'cancel_only') return no(Reject.instrumentCancelOnly);
    const side: string = c.side;
    if (!ORDER_TYPES.includes(c.orderType) || (side !== 'buy' && side !== 'sell')) return no(Reject.orderTypeInvalid);
    if (inst.state === 'post_only' && c.orderType !== 'limit' && c.orderType !== 'post_only') return no(Reject.instrumentPostOnly);
    const clOrdId = c.clOrdId ?? '';
    if (clOrdId !== '') {
      if (!CL_ORD_ID.test(clOrdId)) return no(Reject.clientOrderIdInvalid);
      if (this.allResting().some((o) => o.userId === user.id && o.clOrdId === clOrdId)) return no(Reject.clientOrderIdDuplicate);
      if ((this.recentClOrdIds.get(user.id) ?? []).includes(clOrdId)) return no(Reject.clientOrderIdDuplicate);
    }
    const stp = c.stpMode ?? user.stpMode;
    if (!STP_MODES.includes(stp)) return no(Reject.stpModeInvalid);
    if (this.allResting().filter((o) => o.userId === user.id).length >= Limits.openOrdersPerUserMax) return no(Reject.openOrdersLimit);

    const isBuy = c.side === 'buy';
    const best = this.bestMaker(inst, c.side);
    let price: number;
    let size = 0;
    let quoteAmount = 0;
    let sellLotsMax = 0;
    let reserve: bigint;
    let killed: CancelReason | undefined;
    if (c.orderType === 'market') {
      if ((c.sizeLots !== undefined) === (c.quoteAmount !== undefined)) return no(Reject.orderTypeInvalid);
      if (c.sizeLots !== undefined) {
        const bad = sizeRejection(inst, c.sizeLots);
        if (bad !== undefined) return no(bad);
        size = c.sizeLots;
      } else {
        if (!Number.isSafeInteger(c.quoteAmount) || c.quoteAmount! <= 0) return no(Reject.amountInvalid);
        quoteAmount = c.quoteAmount!;
      }
      if (best === undefined) return no(Reject.noLiquidity);
      if (size === 0 && Math.floor(quoteAmount / (best.price * inst.quotePerTickLot)) < inst.minLots) return no(Reject.sizeBelowMin);
      // The band: at most bandBps away from the best price found, within 1..maxPx.
      const b = BigInt(best.price);
      const band = BigInt(inst.bandBps);
      price = isBuy
        ? Math.min(inst.maxPriceTicks, Number((b * (10_000n + band)) / 10_000n))
        : Math.max(1, Number((b * (10_000n - band) + 9_999n) / 10_000n));
      const worstLot = BigInt(price) * BigInt(inst.quotePerTickLot);
      if (isBuy) {
        reserve = size > 0 ? BigInt(size) * worstLot : BigInt(quoteAmount);
      } else {
        const lots = size > 0 ? size : Math.min(inst.maxLots, Number(BigInt(quoteAmount) / worstLot));
        if (lots === 0) return no(Reject.sizeBelowMin);
        sellLotsMax = lots;
        reserve = BigInt(lots) * BigInt(inst.lotBase);
      }
    } else {
      const p = c.priceTicks;
      if (p === undefined || !Number.isSafeInteger(p) || p < 1 || p > inst.maxPriceTicks) return no(Reject.priceInvalid);
      price = p;
      const bad = sizeRejection(inst, c.sizeLots);
      if (bad !== undefined) return no(bad);
      size = c.sizeLots!;
      const crosses = best !== undefined && (isBuy ? price >= best.price : price <= best.price);
      // As OKX: such orders are accepted and canceled at once, after the balance check.
      if (crosses && c.orderType === 'post_only') killed = 'post_only_would_take';
      else if (crosses && inst.state === 'post_only') return no(Reject.instrumentPostOnly);
      else if (c.orderType === 'fok' && !this.fillable(inst, user.id, c.side, stp, price, size)) killed = 'fok_not_fillable';
      reserve = isBuy ? BigInt(price) * BigInt(size) * BigInt(inst.quotePerTickLot) : BigInt(size) * BigInt(inst.lotBase);
    }
    if (this.available(user.id, isBuy ? inst.quote : inst.base) < reserve) return no(Reject.insufficientBalance);

    if (clOrdId !== '') {
      const recent = this.recentClOrdIds.get(user.id) ?? [];
      recent.push(clOrdId);
      if (recent.length > Limits.recentClientOrderIdsPerUser) recent.shift();
      this.recentClOrdIds.set(user.id, recent);
    }
    if (killed !== undefined) {
      this.out.cancels.push({ orderId, reason: killed, filledLots: 0, remainingLots: size });
      return { ok: true, orderId, clOrdId, state: 'canceled', filledLots: 0 };
    }
    const order: ModelOrder = {
      id: orderId, userId: user.id, instId: inst.spec.instId, side: c.side, type: c.orderType, price, size,
      quoteAmount, sellLotsMax, clOrdId, stp, filled: 0, filledQuote: 0, restSeq: 0,
    };
    const stop = this.match(order, inst);
    let state: 'live' | 'partially_filled' | 'filled' | 'canceled';
    if (stop === 'complete' && (quoteAmount === 0 || order.filled > 0)) {
      state = 'filled';
    } else if (stop === 'no_liquidity' && (c.orderType === 'limit' || c.orderType === 'post_only')) {
      this.rest(order);
      state = order.filled > 0 ? 'partially_filled' : 'live';
    } else {
      const reason: CancelReason = stop === 'self_trade' ? 'stp'
        : c.orderType === 'market' && stop === 'no_liquidity' && this.bestMaker(inst, c.side) !== undefined ? 'market_band'
          : 'unfilled';
      this.out.cancels.push({ orderId, reason, filledLots: order.filled, remainingLots: quoteAmount > 0 ? 0 : size - order.filled });
      state = 'canceled';
    }
    return { ok: true, orderId, clOrdId, state, filledLots: order.filled };
  }

  /** Whether a fill-or-kill order would fill in full: walk the makers as matching would. */
  private fillable(inst: ModelInstrument, userId: number, side: Side, stp: StpMode, limit: number, size: number): boolean {
    const makers = this.bookSide(inst.spec.instId, side === 'buy' ? 'sell' : 'buy').flatMap((l) => l.orders);
    let need = size;
    for (const m of makers) {
      if (side === 'buy' ? m.price > limit : m.price < limit) return false;
      if (m.userId === userId && stp !== 'none') {
        if (stp === 'cancel_maker') continue; // it would be cancelled, not traded with
        return false;
      }
      need -= m.size - m.filled;
      if (need <= 0) return true;
    }
    return false;
  }

  private match(taker: ModelOrder, inst: ModelInstrument): Stop {
    for (;;) {
      if (taker.quoteAmount === 0 && taker.filled === taker.size) return 'complete';
      const maker = this.bestMaker(inst, taker.side);
      if (maker === undefined) return 'no_liquidity';
      if (taker.side === 'buy' ? maker.price > taker.price : maker.price < taker.price) return 'no_liquidity';
      // How many lots the taker still wants at this price: for a quote target, as many whole
      // lots as the quote left pays for (buy) or asks for (sell). One that wants none is done,
      // and never reaches self-trade prevention with this maker.
      const wanted = taker.quoteAmount > 0
        ? Math.min(
          Math.floor((taker.quoteAmount - taker.filledQuote) / (maker.price * inst.quotePerTickLot)),
          taker.side === 'sell' ? taker.sellLotsMax - taker.filled : inst.maxLots - taker.filled,
        )
        : taker.size - taker.filled;
      if (wanted === 0) return 'complete';
      if (maker.userId === taker.userId && taker.stp !== 'none') {
        if (taker.stp === 'cancel_taker') return 'self_trade';
        this.cancelResting(maker, 'stp');
        if (taker.stp === 'cancel_both') return 'self_trade';
        continue;
      }
      const lots = Math.min(wanted, maker.size - maker.filled);
      this.trade(inst, maker, taker, lots);
    }
  }

  private trade(inst: ModelInstrument, maker: ModelOrder, taker: ModelOrder, lots: number): void {
    const base = BigInt(lots) * BigInt(inst.lotBase);
    const quote = BigInt(maker.price) * BigInt(lots) * BigInt(inst.quotePerTickLot);
    const makerUser = this.users.get(maker.userId)!;
    const takerUser = this.users.get(taker.userId)!;
    const buyer = taker.side === 'buy' ? taker : maker;
    const seller = taker.side === 'buy' ? maker : taker;
    // Each side pays its fee in the asset it receives: the buyer in base, the seller in quote.
    const makerFee = referenceFee(maker === buyer ? base : quote, makerUser.makerFeePpm);
    const takerFee = referenceFee(taker === buyer ? base : quote, takerUser.takerFeePpm);
    const buyerFee = buyer === taker ? takerFee : makerFee;
    const sellerFee = seller === taker ? takerFee : makerFee;
    this.addTotal(buyer.userId, inst.quote, -quote);
    this.addTotal(buyer.userId, inst.base, base - buyerFee);
    this.addTotal(seller.userId, inst.base, -base);
    this.addTotal(seller.userId, inst.quote, quote - sellerFee);
    this.assets.get(inst.base)!.fees += buyerFee;
    this.assets.get(inst.quote)!.fees += sellerFee;
    for (const o of [maker, taker]) {
      o.filled += lots;
      o.filledQuote += Number(quote);
    }
    if (maker.filled === maker.size) this.unrest(maker);
    this.out.trades.push({
      tradeId: this.nextTradeId++, instId: inst.spec.instId, priceTicks: maker.price, sizeLots: lots,
      quoteAmount: Number(quote), takerSide: taker.side, makerOrderId: maker.id, makerUserId: maker.userId,
      makerFee: Number(makerFee), takerOrderId: taker.id, takerUserId: taker.userId, takerFee: Number(takerFee),
    });
  }

  // ---------------------------------------------------------------- cancel and amend

  private findOrder(ref: OrderRef): ModelOrder | undefined {
    if (!this.users.has(ref.userId)) return undefined;
    const resting = this.allResting();
    const order = ref.orderId !== undefined ? resting.find((o) => o.id === ref.orderId)
      : ref.clOrdId !== undefined ? resting.find((o) => o.userId === ref.userId && o.clOrdId !== '' && o.clOrdId === ref.clOrdId)
        : undefined;
    if (order === undefined || order.userId !== ref.userId || order.instId !== ref.instId) return undefined;
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
    return { ok: true, orderId: order.id, clOrdId: order.clOrdId, state: 'canceled', filledLots: order.filled };
  }

  private cancelAll(c: CancelAll): Result {
    if (!this.users.has(c.userId)) return no(Reject.userNotFound);
    if (c.instId !== undefined && !this.instruments.has(c.instId)) return no(Reject.instrumentNotFound);
    const mine = this.allResting()
      .filter((o) => o.userId === c.userId && (c.instId === undefined || o.instId === c.instId))
      .filter((o) => this.instruments.get(o.instId)!.state !== 'suspended')
      .sort((a, b) => a.restSeq - b.restSeq);
    for (const o of mine) this.cancelResting(o, 'user_all');
    return { ok: true, canceledOrders: mine.length };
  }

  private amendOrder(c: AmendOrder): Result {
    const inst = this.instruments.get(c.instId);
    if (inst === undefined) return no(Reject.instrumentNotFound);
    const order = this.findOrder(c);
    if (order === undefined) return no(Reject.orderNotFound);
    const failed = (r: Rejection): Result => {
      if (c.cancelOnFail === true && inst.state !== 'suspended') this.cancelResting(order, 'amend_failed');
      return no(r);
    };
    if (inst.state === 'suspended') return failed(Reject.instrumentSuspended);
    if (inst.state === 'cancel_only') return failed(Reject.instrumentCancelOnly);
    const newPrice = c.newPriceTicks ?? order.price;
    const newSize = c.newSizeLots ?? order.size;
    if (newPrice === order.price && newSize === order.size) return failed(Reject.amendNothing);
    if (!Number.isSafeInteger(newPrice) || newPrice < 1 || newPrice > inst.maxPriceTicks) return failed(Reject.priceInvalid);
    const bad = sizeRejection(inst, newSize);
    if (bad !== undefined) return failed(bad);
    if (newSize <= order.filled) return failed(Reject.amendSizeNotAboveFilled);
    const best = this.bestMaker(inst, order.side);
    const crosses = best !== undefined && (order.side === 'buy' ? newPrice >= best.price : newPrice <= best.price);
    if (crosses && order.type === 'post_only') return failed(Reject.postOnlyWouldTake);
    if (crosses && inst.state === 'post_only') return failed(Reject.instrumentPostOnly);
    const asset = order.side === 'buy' ? inst.quote : inst.base;
    const before = this.reserveOf(order);
    const after = this.reserveOf({ ...order, price: newPrice, size: newSize });
    if (after - before > this.available(order.userId, asset)) return failed(Reject.insufficientBalance);

    // Only making the order smaller at the same price keeps its place in the queue; anything
    // else is a new arrival that may trade before it rests again at the back.
    const priorityKept = newPrice === order.price && newSize < order.size;
    order.price = newPrice;
    order.size = newSize;
    let state: 'live' | 'partially_filled' | 'filled' | 'canceled';
    if (priorityKept) {
      state = order.filled > 0 ? 'partially_filled' : 'live';
    } else {
      this.unrest(order);
      const stop = this.match(order, inst);
      if (stop === 'complete') {
        state = 'filled';
      } else if (stop === 'self_trade') {
        this.out.cancels.push({ orderId: order.id, reason: 'stp', filledLots: order.filled, remainingLots: order.size - order.filled });
        state = 'canceled';
      } else {
        this.rest(order);
        state = order.filled > 0 ? 'partially_filled' : 'live';
      }
    }
    return { ok: true, orderId: order.id, clOrdId: order.clOrdId, state, filledLots: order.filled };
  }

  // ---------------------------------------------------------------- users, assets, instruments

  private createUser(c: CreateUser): Result {
    const maker = c.makerFeePpm ?? Limits.defaultMakerFeePpm;
    const taker = c.takerFeePpm ?? Limits.defaultTakerFeePpm;
    const stp = c.stpMode ?? 'none';
    if (!validFees(maker, taker)) return no(Reject.feeInvalid);
    if (!STP_MODES.includes(stp)) return no(Reject.stpModeInvalid);
    const id = this.nextUserId++;
    this.users.set(id, { id, makerFeePpm: maker, takerFeePpm: taker, stpMode: stp, total: new Map(), withdrawnToday: new Map() });
    return { ok: true, userId: id };
  }

  private setUserConfig(c: SetUserConfig): Result {
    const user = this.users.get(c.userId);
    if (user === undefined) return no(Reject.userNotFound);
    const maker = c.makerFeePpm ?? user.makerFeePpm;
    const taker = c.takerFeePpm ?? user.takerFeePpm;
    const stp = c.stpMode ?? user.stpMode;
    if (!validFees(maker, taker)) return no(Reject.feeInvalid);
    if (!STP_MODES.includes(stp)) return no(Reject.stpModeInvalid);
    user.makerFeePpm = maker;
    user.takerFeePpm = taker;
    user.stpMode = stp;
    return { ok: true, userId: user.id };
  }

  private setAsset(c: SetAsset): Result {
    if (!ASSET_ID.test(c.asset) || !Number.isInteger(c.scale) || c.scale < 0 || c.scale > Limits.assetScaleMax) return no(Reject.assetInvalid);
    const amounts = [c.withdrawFee, c.withdrawMin, c.withdrawMax, c.withdrawDailyMax];
    if (!amounts.every((a) => CANONICAL_INTEGER.test(a) && a.length <= 40)) return no(Reject.assetInvalid);
    if (BigInt(c.withdrawMin) > BigInt(c.withdrawMax) || BigInt(c.withdrawMax) > BigInt(c.withdrawDailyMax)) return no(Reject.assetInvalid);
    const existing = this.assets.get(c.asset);
    if (existing !== undefined) {
      if (existing.spec.scale !== c.scale) return no(Reject.assetImmutable);
      existing.spec = c;
    } else {
      this.assets.set(c.asset, { spec: c, fees: 0n, deposits: 0n, withdrawals: 0n });
    }
    return { ok: true };
  }

  private setInstrument(c: SetInstrument): Result {
    const base = this.assets.get(c.base);
    const quote = this.assets.get(c.quote);
    if (base === undefined || quote === undefined) return no(Reject.assetNotFound);
    const built = deriveInstrument(c, base.spec.scale, quote.spec.scale);
    if (built === undefined) return no(Reject.instrumentInvalid);
    const existing = this.instruments.get(c.instId);
    if (existing === undefined) {
      this.instruments.set(c.instId, built);
      return { ok: true };
    }
    const sameNumber = (a: string, b: string): boolean => decimal(a).decimals === decimal(b).decimals && decimal(a).units === decimal(b).units;
    if (existing.base !== c.base || existing.quote !== c.quote || !sameNumber(existing.tickSz, c.tickSz) || !sameNumber(existing.lotSz, c.lotSz)) {
      return no(Reject.instrumentImmutable);
    }
    existing.spec = built.spec;
    existing.minLots = built.minLots;
    existing.maxLots = built.maxLots;
    existing.maxPriceTicks = built.maxPriceTicks;
    existing.bandBps = built.bandBps;
    existing.state = c.state;
    return { ok: true };
  }

  private setInstrumentState(c: SetInstrumentState): Result {
    const inst = this.instruments.get(c.instId);
    if (inst === undefined) return no(Reject.instrumentNotFound);
    if (!INSTRUMENT_STATES.includes(c.state)) return no(Reject.instrumentInvalid);
    inst.state = c.state;
    return { ok: true };
  }

  // ---------------------------------------------------------------- deposits and withdrawals

  private creditDeposit(c: CreditDeposit): Result {
    if (c.depositId === '' || c.depositId.length > Limits.externalIdLengthMax) return no(Reject.depositIdInvalid);
    const prior = this.deposits.get(c.depositId);
    if (prior !== undefined) {
      const same = prior.userId === c.userId && prior.asset === c.asset && prior.amount === c.amount;
      return no(same ? Reject.depositDuplicate : Reject.depositConflict);
    }
    if (!this.users.has(c.userId)) return no(Reject.userNotFound);
    const asset = this.assets.get(c.asset);
    if (asset === undefined) return no(Reject.assetNotFound);
    const amount = positiveAmount(c.amount);
    if (amount === undefined) return no(Reject.amountInvalid);
    // The cap is on the asset's whole supply (deposits outstanding).
    if (-asset.deposits - asset.withdrawals + amount > Limits.assetSupplyMax) return no(Reject.balanceOverflow);
    this.addTotal(c.userId, c.asset, amount);
    asset.deposits -= amount;
    this.deposits.set(c.depositId, { userId: c.userId, asset: c.asset, amount: c.amount });
    return { ok: true };
  }

  private requestWithdrawal(c: RequestWithdrawal): Result {
    const user = this.users.get(c.userId);
    if (user === undefined) return no(Reject.userNotFound);
    const asset = this.assets.get(c.asset);
    if (asset === undefined) return no(Reject.assetNotFound);
    if (!asset.spec.withdrawEnabled) return no(Reject.withdrawalDisabled);
    if (c.address === '' || c.address.length > Limits.externalIdLengthMax) return no(Reject.withdrawalAddressInvalid);
    const clientId = c.clientId ?? '';
    if (clientId !== '') {
      if (!CL_ORD_ID.test(clientId)) return no(Reject.clientOrderIdInvalid);
      if (this.usedClientIds.has(`${user.id}:${clientId}`)) return no(Reject.withdrawalClientIdDuplicate);
    }
    const amount = positiveAmount(c.amount);
    if (amount === undefined) return no(Reject.amountInvalid);
    if (amount < BigInt(asset.spec.withdrawMin)) return no(Reject.withdrawalBelowMin);
    if (amount > BigInt(asset.spec.withdrawMax)) return no(Reject.withdrawalAboveMax);
    const day = Math.floor(this.now / DAY_MS);
    const today = user.withdrawnToday.get(c.asset);
    const used = today?.day === day ? today.amount : 0n;
    if (used + amount > BigInt(asset.spec.withdrawDailyMax)) return no(Reject.withdrawalDailyLimit);
    const fee = BigInt(asset.spec.withdrawFee);
    if (this.available(user.id, c.asset) < amount + fee) return no(Reject.insufficientBalance);
    user.withdrawnToday.set(c.asset, { day, amount: used + amount });
    const id = this.nextWithdrawalId++;
    this.withdrawals.set(id, { id, userId: user.id, asset: c.asset, amount, fee, clientId, day });
    if (clientId !== '') this.usedClientIds.add(`${user.id}:${clientId}`);
    return { ok: true, withdrawalId: id };
  }

  private completeWithdrawal(c: CompleteWithdrawal): Result {
    if (c.txId === '' || c.txId.length > Limits.externalIdLengthMax) return no(Reject.txIdInvalid);
    const w = this.withdrawals.get(c.withdrawalId);
    if (w === undefined) return no(Reject.withdrawalNotPending);
    this.withdrawals.delete(w.id);
    this.addTotal(w.userId, w.asset, -(w.amount + w.fee));
    const asset = this.assets.get(w.asset)!;
    asset.withdrawals += w.amount;
    asset.fees += w.fee;
    return { ok: true, withdrawalId: w.id };
  }

  private failWithdrawal(c: FailWithdrawal): Result {
    const w = this.withdrawals.get(c.withdrawalId);
    if (w === undefined) return no(Reject.withdrawalNotPending);
    this.unwind(w);
    return { ok: true, withdrawalId: w.id };
  }

  private cancelWithdrawal(c: CancelWithdrawal): Result {
    const w = this.withdrawals.get(c.withdrawalId);
    if (w === undefined || w.userId !== c.userId) return no(Reject.withdrawalNotFound);
    this.unwind(w);
    return { ok: true, withdrawalId: w.id };
  }

  /** A withdrawal that will not happen holds nothing and no longer counts against today's limit. */
  private unwind(w: ModelWithdrawal): void {
    this.withdrawals.delete(w.id);
    const today = this.users.get(w.userId)!.withdrawnToday.get(w.asset);
    if (today?.day === w.day) today.amount -= w.amount;
  }
}

// -------------------------------------------------------------------- pure helpers

function no(reject: Rejection): Result {
  return { ok: false, reject };
}

function sizeRejection(inst: ModelInstrument, sizeLots: number | undefined): Rejection | undefined {
  if (sizeLots === undefined || !Number.isSafeInteger(sizeLots) || sizeLots < 1) return Reject.sizeInvalid;
  if (sizeLots < inst.minLots) return Reject.sizeBelowMin;
  if (sizeLots > inst.maxLots) return Reject.sizeAboveMax;
  return undefined;
}

function validFees(makerPpm: number, takerPpm: number): boolean {
  return Number.isInteger(makerPpm) && Number.isInteger(takerPpm)
    && makerPpm >= Limits.makerFeePpmMin && makerPpm <= Limits.feePpmMax
    && takerPpm >= 0 && takerPpm <= Limits.feePpmMax && makerPpm + takerPpm >= 0;
}

function positiveAmount(text: string): bigint | undefined {
  if (!CANONICAL_INTEGER.test(text) || text.length > 40) return undefined;
  const amount = BigInt(text);
  return amount > 0n && amount <= Limits.assetSupplyMax ? amount : undefined;
}

function decimal(text: string): { units: bigint; decimals: number } {
  const [whole = '', frac = ''] = text.split('.');
  return { units: BigInt(whole + frac), decimals: frac.length };
}

/** value(a) / value(b) for two decimals, when it is a whole number. */
function ratio(a: string, b: string): bigint | undefined {
  const x = decimal(a);
  const y = decimal(b);
  const num = x.units * 10n ** BigInt(y.decimals);
  const den = y.units * 10n ** BigInt(x.decimals);
  return num % den === 0n ? num / den : undefined;
}

function deriveInstrument(c: SetInstrument, baseScale: number, quoteScale: number): ModelInstrument | undefined {
  if (c.instId !== `${c.base}-${c.quote}` || c.base === c.quote || !INSTRUMENT_STATES.includes(c.state)) return undefined;
  if (!Number.isInteger(c.bandBps) || c.bandBps < 1 || c.bandBps > Limits.bandBpsMax) return undefined;
  const texts = [c.tickSz, c.lotSz, c.minSz, c.maxSz, c.maxPx];
  if (!texts.every((t) => t.length <= 64 && DECIMAL.test(t))) return undefined;
  if (decimal(c.tickSz).units === 0n || decimal(c.lotSz).units === 0n) return undefined;
  const minLots = ratio(c.minSz, c.lotSz);
  const maxLots = ratio(c.maxSz, c.lotSz);
  const maxPriceTicks = ratio(c.maxPx, c.tickSz);
  if (minLots === undefined || maxLots === undefined || maxPriceTicks === undefined) return undefined;
  if (minLots < 1n || maxLots < minLots || maxPriceTicks < 1n) return undefined;
  // One lot in base minor units, and one tick times one lot in quote minor units, must be whole.
  const tick = decimal(c.tickSz);
  const lot = decimal(c.lotSz);
  const qNum = tick.units * lot.units * 10n ** BigInt(quoteScale);
  const qDen = 10n ** BigInt(tick.decimals + lot.decimals);
  const bNum = lot.units * 10n ** BigInt(baseScale);
  const bDen = 10n ** BigInt(lot.decimals);
  if (qNum % qDen !== 0n || bNum % bDen !== 0n) return undefined;
  const lotBaseUnits = bNum / bDen;
  const quotePerTickLot = qNum / qDen;
  const safe = BigInt(Number.MAX_SAFE_INTEGER);
  if (maxPriceTicks * maxLots * quotePerTickLot > safe || maxLots * lotBaseUnits > safe) return undefined;
  if (maxPriceTicks * BigInt(10_000 + Limits.bandBpsMax) > safe) return undefined;
  return {
    spec: { ...c }, base: c.base, quote: c.quote, tickSz: c.tickSz, lotSz: c.lotSz, lotBase: Number(lotBaseUnits),
    quotePerTickLot: Number(quotePerTickLot), minLots: Number(minLots), maxLots: Number(maxLots),
    maxPriceTicks: Number(maxPriceTicks), bandBps: c.bandBps, state: c.state, resting: [],
  };
}

// -------------------------------------------------------------------- generated command streams
//
// A small world where trades happen often: two instruments over three assets with prices in a
// narrow band of ticks, a handful of users with few funds, and a mix of every command, valid
// and not. `noise` weighs how often a field is drawn from its invalid variants (0 = never).

/**
 * One generated command. `pick`, when set on a cancel, an amend or a withdrawal settlement,
 * points it at an order still resting (or a withdrawal still pending) when the step runs, so
 * that most of them find their target; resolve() fills in the ids.
 */
export interface Step { readonly cmd: Command; readonly dtMs: number; readonly pick?: number }

export interface World {
  readonly users: readonly { makerFeePpm: number; takerFeePpm: number; stpMode: StpMode }[];
  readonly bandBps: number;
  readonly btcMinSz: string;
  readonly funding: readonly { usd: number; btc: number; eth: number }[];
}

const PRICE_LOW = 95;
const PRICE_HIGH = 105;
const HUGE = (10n ** 30n).toString();

export const worldArbitrary: fc.Arbitrary<World> = fc.record({
  users: fc.array(fc.record({
    makerFeePpm: fc.constantFrom(0, 800, -250, 2_000, 100_000),
    takerFeePpm: fc.constantFrom(250, 1_000, 2_500, 100_000),
    stpMode: fc.constantFrom<StpMode>('none', 'none', 'cancel_maker', 'cancel_taker', 'cancel_both'),
  }), { minLength: 3, maxLength: 3 }),
  bandBps: fc.constantFrom(1, 50, 300, 1_000, 5_000),
  btcMinSz: fc.constantFrom('0.01', '0.02'),
  funding: fc.array(fc.record({
    usd: fc.integer({ min: 0, max: 40_000 }),
    btc: fc.integer({ min: 0, max: 1_000 }),
    eth: fc.integer({ min: 0, max: 4_000 }),
  }), { minLength: 3, maxLength: 3 }),
});

export function btcInstrument(world: { bandBps: number; btcMinSz: string }, state: InstrumentState = 'live', maxSz = '0.3'): SetInstrument {
  return {
    type: 'SetInstrument', instId: 'BTC-USD', base: 'BTC', quote: 'USD', tickSz: '1', lotSz: '0.01',
    minSz: world.btcMinSz, maxSz, maxPx: '200', bandBps: world.bandBps, state,
  };
}

/** The commands that build a world: assets, instruments, users and their first deposits. */
export function worldCommands(world: World): Command[] {
  const asset = (a: string, scale: number, fee: string, min: string, max: string, daily: string, enabled: boolean): SetAsset => ({
    type: 'SetAsset', asset: a, scale, withdrawFee: fee, withdrawMin: min, withdrawMax: max, withdrawDailyMax: daily, withdrawEnabled: enabled,
  });
  const cmds: Command[] = [
    asset('BTC', 3, '5', '10', '500', '800', true),
    asset('USD', 2, '0', '1', '100000', '150000', true),
    asset('ETH', 2, '0', '1', '1', '1', false),
    asset('ZZZ', 18, '1000', '1', HUGE, HUGE, true),
    btcInstrument(world),
    // One lot is 1 ETH (100 minor units); one tick of 0.03 USD times one lot is 3 USD minor units.
    { type: 'SetInstrument', instId: 'ETH-USD', base: 'ETH', quote: 'USD', tickSz: '0.03', lotSz: '1', minSz: '1', maxSz: '40', maxPx: '6', bandBps: world.bandBps, state: 'live' },
  ];
  world.users.forEach((u, i) => {
    cmds.push({ type: 'CreateUser', makerFeePpm: u.makerFeePpm, takerFeePpm: u.takerFeePpm, stpMode: u.stpMode });
    const f = world.funding[i]!;
    const userId = i + 1;
    if (f.usd > 0) cmds.push({ type: 'CreditDeposit', depositId: `setup-usd-${userId}`, userId, asset: 'USD', amount: String(f.usd) });
    if (f.btc > 0) cmds.push({ type: 'CreditDeposit', depositId: `setup-btc-${userId}`, userId, asset: 'BTC', amount: String(f.btc) });
    if (f.eth > 0) cmds.push({ type: 'CreditDeposit', depositId: `setup-eth-${userId}`, userId, asset: 'ETH', amount: String(f.eth) });
  });
  return cmds;
}

/** Usually a valid value, sometimes (weighted by noise) one of the invalid ones. */
function mostly<T>(noise: number, valid: fc.Arbitrary<T>, invalid: fc.Arbitrary<T>): fc.Arbitrary<T> {
  return noise === 0 ? valid : fc.oneof({ weight: 20, arbitrary: valid }, { weight: noise, arbitrary: invalid });
}

/** Copies an object without its undefined fields (optional fields are absent, not undefined). */
function defined<T extends object>(o: { [K in keyof T]: T[K] | undefined }): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function stepArbitrary(noise: number): fc.Arbitrary<Step> {
  // Three users exist from the start; a fourth only if the stream creates one.
  const userId = mostly(noise, fc.integer({ min: 1, max: 3 }), fc.constantFrom(0, 4, 9));
  const instId = mostly(noise, fc.constantFrom('BTC-USD', 'ETH-USD'), fc.constant('XRP-USD'));
  // Buyers mostly bid in the lower part of the band and sellers ask in the upper part, so the
  // book builds depth and only the overlap (and the odd aggressive order) trades.
  const priceOffset = mostly(noise, fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: 6 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: PRICE_HIGH - PRICE_LOW }) },
  ), fc.constantFrom(-PRICE_LOW, -PRICE_LOW - 1, 0.5, -PRICE_LOW + 201, -PRICE_LOW + 200, -PRICE_LOW + 1));
  const size = mostly(noise, fc.integer({ min: 1, max: 8 }), fc.constantFrom(0, -2, 2.5, 31, 41, 30));
  // Now and then a whale's budget, to exercise holds above 10^15 minor units.
  const quoteAmount = mostly(noise, fc.oneof(
    { weight: 12, arbitrary: fc.integer({ min: 50, max: 2_500 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1e15, max: Number.MAX_SAFE_INTEGER }) },
  ), fc.constantFrom(0, -5, 1.5, 1));
  const clOrdId = fc.oneof(
    { weight: 7, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'c') },
    { weight: noise, arbitrary: fc.constantFrom('', 'bad-id', 'x'.repeat(33)) },
  );
  const stpMode = fc.oneof(
    { weight: 6, arbitrary: fc.constant(undefined) },
    { weight: 3, arbitrary: fc.constantFrom<StpMode>('none', 'cancel_maker', 'cancel_taker', 'cancel_both') },
    { weight: noise, arbitrary: fc.constant('sometimes' as StpMode) },
  );
  const orderType = mostly(noise, fc.constantFrom<OrderType>('limit', 'limit', 'post_only', 'ioc', 'fok', 'market'), fc.constant('stop' as OrderType));
  const side = mostly(noise, fc.constantFrom<Side>('buy', 'sell'), fc.constant('hold' as Side));
  const orderId = fc.integer({ min: 1, max: 50 });
  const optional = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined });

  const place: fc.Arbitrary<Command> = fc.record({
    userId, instId, side, orderType, priceOffset, size, quoteAmount, clOrdId, stpMode,
    target: fc.constantFrom('size', 'size', 'quote', 'quote', ...(noise > 0 ? ['both', 'neither'] : [])),
  }).map((r) => defined<PlaceOrder>({
    type: 'PlaceOrder', userId: r.userId, instId: r.instId, side: r.side, orderType: r.orderType, clOrdId: r.clOrdId, stpMode: r.stpMode,
    priceTicks: r.orderType === 'market' ? undefined : r.side === 'sell' ? PRICE_HIGH - r.priceOffset : PRICE_LOW + r.priceOffset,
    sizeLots: r.orderType !== 'market' || r.target === 'size' || r.target === 'both' ? r.size : undefined,
    quoteAmount: r.orderType === 'market' && (r.target === 'quote' || r.target === 'both') ? r.quoteAmount : undefined,
  }));
  const ref = fc.record({
    userId, instId,
    by: fc.constantFrom('id', 'id', 'clOrdId', 'both'),
    orderId, clOrdId: fc.constantFrom('a', 'b', 'c', ...(noise > 0 ? [''] : [])),
  }).map((r) => ({
    userId: r.userId, instId: r.instId,
    ...(r.by === 'clOrdId' ? {} : { orderId: r.orderId }),
    ...(r.by === 'id' ? {} : { clOrdId: r.clOrdId }),
  }));
  const cancel: fc.Arbitrary<Command> = ref.map((r) => ({ type: 'CancelOrder', ...r }));
  const amend: fc.Arbitrary<Command> = fc.record({
    ref,
    newPriceTicks: optional(mostly(noise, fc.integer({ min: PRICE_LOW - 1, max: PRICE_HIGH + 1 }), fc.constantFrom(0, 201, 2.5))),
    newSizeLots: optional(mostly(noise, fc.integer({ min: 1, max: 10 }), fc.constantFrom(0, 31, 1.5))),
    cancelOnFail: optional(fc.boolean()),
  }).map((r) => defined<AmendOrder>({ type: 'AmendOrder', ...r.ref, newPriceTicks: r.newPriceTicks, newSizeLots: r.newSizeLots, cancelOnFail: r.cancelOnFail }));
  const cancelAll: fc.Arbitrary<Command> = fc.record({ userId, instId: optional(instId) })
    .map((r) => defined<CancelAll>({ type: 'CancelAll', userId: r.userId, instId: r.instId }));

  const smallAmount = mostly(noise, fc.integer({ min: 1, max: 5_000 }).map(String), fc.constantFrom('0', '-5', '01', '1.5', '1e3', ''));
  // Huge amounts go to ZZZ only, an asset no instrument trades.
  const hugeAmount = fc.constantFrom(HUGE, (10n ** 30n + 1n).toString(), (10n ** 30n - 1n).toString(), (5n * 10n ** 29n).toString(), (2n ** 53n + 1n).toString());
  const depositId = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom('d1', 'd2', 'd3') },
    { weight: 5, arbitrary: fc.integer({ min: 1, max: 1_000_000_000 }).map((n) => `dep-${n}`) },
    { weight: noise, arbitrary: fc.constantFrom('', 'y'.repeat(129)) },
  );
  const deposit: fc.Arbitrary<Command> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ depositId, userId, asset: mostly(noise, fc.constantFrom('USD', 'BTC', 'ETH'), fc.constant('NOPE')), amount: smallAmount }) },
    { weight: 1, arbitrary: fc.record({ depositId, userId, asset: fc.constant('ZZZ'), amount: hugeAmount }) },
    { weight: 1, arbitrary: fc.record({ depositId, userId, asset: fc.constant('USD'), amount: fc.integer({ min: 1e15, max: 9e15 }).map(String) }) },
  ).map((r) => ({ type: 'CreditDeposit', ...r }));
  const address = mostly(noise, fc.constant('addr1'), fc.constantFrom('', 'a'.repeat(129)));
  const withdrawal: fc.Arbitrary<Command> = fc.oneof(
    { weight: 5, arbitrary: fc.record({ userId, asset: mostly(noise, fc.constantFrom('USD', 'BTC'), fc.constantFrom('ETH', 'NOPE')), amount: mostly(noise, fc.integer({ min: 1, max: 700 }).map(String), fc.constantFrom('0', '-1', '2.5')) }) },
    { weight: 1, arbitrary: fc.record({ userId, asset: fc.constant('ZZZ'), amount: hugeAmount }) },
  ).chain((r) => fc.record({
    address,
    clientId: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: fc.constantFrom('w1', 'w2') }, { weight: noise, arbitrary: fc.constant('no way') }),
  }).map((x) => defined<RequestWithdrawal>({ type: 'RequestWithdrawal', ...r, ...x })));
  const withdrawalId = fc.integer({ min: 1, max: 6 });
  const settle: fc.Arbitrary<Command> = fc.oneof(
    fc.record({ withdrawalId, txId: mostly(noise, fc.constant('0xabc'), fc.constant('')) }).map((r): Command => ({ type: 'CompleteWithdrawal', ...r })),
    withdrawalId.map((id): Command => ({ type: 'FailWithdrawal', withdrawalId: id, reason: 'chain said no' })),
    fc.record({ userId, withdrawalId }).map((r): Command => ({ type: 'CancelWithdrawal', ...r })),
  );
  const fees = {
    makerFeePpm: optional(fc.constantFrom(-10_000, -250, 0, 800, 100_001, 1.5)),
    takerFeePpm: optional(fc.constantFrom(0, 1_000, 100_000, -1)),
    stpMode: optional(fc.constantFrom<StpMode>('none', 'cancel_maker', 'cancel_taker', 'cancel_both', 'often' as StpMode)),
  };
  const setUserConfig: fc.Arbitrary<Command> = fc.record({ userId, ...fees }).map((r) => defined<SetUserConfig>({ type: 'SetUserConfig', ...r }));
  const createUser: fc.Arbitrary<Command> = fc.record(fees).map((r) => defined<CreateUser>({ type: 'CreateUser', ...r }));
  const states = fc.constantFrom<InstrumentState>('live', 'live', 'live', 'live', 'suspended', 'cancel_only', 'post_only');
  const setState: fc.Arbitrary<Command> = fc.record({ instId, state: mostly(noise, states, fc.constant('halted' as InstrumentState)) })
    .map((r) => ({ type: 'SetInstrumentState', ...r }));
  const redefine: fc.Arbitrary<Command> = fc.record({
    bandBps: fc.constantFrom(1, 300, 5_000), btcMinSz: fc.constantFrom('0.01', '0.03'), state: states, maxSz: fc.constantFrom('0.3', '0.05'),
    tickSz: mostly(noise, fc.constant('1'), fc.constant('2')),
  }).map((r) => ({ ...btcInstrument(r, r.state, r.maxSz), tickSz: r.tickSz }));

  const cmd = fc.oneof(
    { weight: 45, arbitrary: place },
    { weight: 6, arbitrary: cancel },
    { weight: 10, arbitrary: amend },
    { weight: 1, arbitrary: cancelAll },
    { weight: 6, arbitrary: deposit },
    { weight: 4, arbitrary: withdrawal },
    { weight: 4, arbitrary: settle },
    { weight: 2, arbitrary: setUserConfig },
    { weight: 1, arbitrary: setState },
    { weight: 1, arbitrary: createUser },
    { weight: 1, arbitrary: redefine },
  );
  // Time mostly moves forward, sometimes by a day (a new withdrawal limit), sometimes backwards.
  const dtMs = fc.constantFrom(0, 1, 1_000, 1_000, DAY_MS / 2, DAY_MS, -5_000);
  const pick = fc.oneof({ weight: 3, arbitrary: fc.nat(1_000) }, { weight: 1, arbitrary: fc.constant(undefined) });
  return fc.record({ cmd, dtMs, pick }).map((s) => defined<Step>(s));
}

/** The step's command with its target filled in from what rests and what is pending now. */
export function resolve(step: Step, model: Model): Command {
  const cmd = step.cmd;
  if (step.pick === undefined) return cmd;
  if (cmd.type === 'CancelOrder' || cmd.type === 'AmendOrder') {
    const resting = model.allResting().sort((a, b) => a.id - b.id);
    const o = resting[step.pick % Math.max(1, resting.length)];
    if (o === undefined) return cmd;
    const { orderId, clOrdId, ...rest } = cmd;
    const byClOrdId = clOrdId !== undefined && o.clOrdId !== '';
    return {
      ...rest, userId: o.userId, instId: o.instId,
      ...(orderId !== undefined || !byClOrdId ? { orderId: o.id } : {}),
      ...(byClOrdId ? { clOrdId: o.clOrdId } : {}),
    };
  }
  if (cmd.type === 'CompleteWithdrawal' || cmd.type === 'FailWithdrawal' || cmd.type === 'CancelWithdrawal') {
    const pending = [...model.withdrawals.values()].sort((a, b) => a.id - b.id);
    const w = pending[step.pick % Math.max(1, pending.length)];
    if (w === undefined) return cmd;
    return cmd.type === 'CancelWithdrawal' ? { ...cmd, withdrawalId: w.id, userId: w.userId } : { ...cmd, withdrawalId: w.id };
  }
  return cmd;
}

/** The clock for a list of steps: the previous time plus each step's move, never below 0. */
export function clock(steps: readonly Step[], start = 1): number[] {
  let ts = start;
  return steps.map((s) => (ts = Math.max(0, ts + s.dtMs)));
}

/**
 * Runs steps through a model to turn them into plain timed commands (targets resolved), for
 * tests that feed the same stream to engines only.
 */
export function commandStream(world: World, steps: readonly Step[]): { cmd: Command; ts: number }[] {
  const model = new Model();
  const out = worldCommands(world).map((cmd) => ({ cmd, ts: 0 }));
  for (const { cmd } of out) model.apply(cmd, 0);
  const times = clock(steps);
  steps.forEach((s, i) => {
    const cmd = resolve(s, model);
    model.apply(cmd, times[i]!);
    out.push({ cmd, ts: times[i]! });
  });
  return out;
}
