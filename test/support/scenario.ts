// A small language for engine scenarios that a trader can read. Given traders with funds and a
// book drawn as a table (bids | price | asks), when someone "buys 6 at 100.50" or "sells 300
// USDT worth at market", then the trades, the book and the balances are compared as canonical
// text in human units, so a failure prints a readable diff. Every command is followed by a full
// audit of the engine, so no scenario can pass on an unsound state, and every rejection code a
// scenario asserts is recorded for the coverage check.

import assert from 'node:assert/strict';
import {
  audit, Engine, formatDecimal, parseDecimal,
  type Accepted, type Command, type Event, type RejectCode, type Result, type SetAsset, type SetInstrument,
  type StpMode,
} from '../../src/core/index.js';

/** Monday 6 January 2025, 09:00 UTC: every scenario starts here unless it moves the clock. */
export const T0 = Date.UTC(2025, 0, 6, 9, 0, 0);
export const DAY_MS = 86_400_000;

/**
 * The venue every scenario trades on. BTC has 8 decimals, USDT 6 and ETH 8. BTC-USDT trades in
 * ticks of 0.01 USDT and lots of 0.0001 BTC (minimum 0.001 BTC), so one tick times one lot is
 * exactly one USDT minor unit; market orders may trade at most 5% away from the best price.
 * ETH withdrawals are disabled.
 */
export const assets: readonly SetAsset[] = [
  { type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '10000', withdrawMin: '100000', withdrawMax: '100000000', withdrawDailyMax: '200000000', withdrawEnabled: true },
  { type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '1000000', withdrawMin: '10000000', withdrawMax: '10000000000', withdrawDailyMax: '20000000000', withdrawEnabled: true },
  { type: 'SetAsset', asset: 'ETH', scale: 8, withdrawFee: '0', withdrawMin: '1', withdrawMax: '100000000000', withdrawDailyMax: '100000000000', withdrawEnabled: false },
];
export const instruments: readonly SetInstrument[] = [
  { type: 'SetInstrument', instId: 'BTC-USDT', base: 'BTC', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.001', maxSz: '1000', maxPx: '1000000', bandBps: 500, state: 'live' },
  { type: 'SetInstrument', instId: 'ETH-USDT', base: 'ETH', quote: 'USDT', tickSz: '0.01', lotSz: '0.001', minSz: '0.001', maxSz: '10000', maxPx: '100000', bandBps: 500, state: 'live' },
];

export interface Trader {
  /** Opening deposits, e.g. "5 BTC, 1000 USDT". */
  readonly funds?: string;
  /** Fees in parts per million (1 bp = 100 ppm); a scenario's traders pay none unless told. */
  readonly makerFeePpm?: number;
  readonly takerFeePpm?: number;
  readonly stpMode?: StpMode;
}

/** Every rejection code some scenario has asserted, for the coverage test. */
export const codesSeen = new Set<string>();

/** What one command did: its result and the events it appended. */
export class Outcome {
  constructor(readonly command: Command, readonly result: Result, readonly events: readonly Event[]) {}

  accepted(): Accepted {
    assert.ok(this.result.ok, `expected ${this.command.type} to be accepted, got ${JSON.stringify(this.result)}`);
    return this.result;
  }

  rejectedWith(code: RejectCode): this {
    assert.equal(this.result.ok ? 'accepted' : this.result.reject.code, code, `${this.command.type} ${JSON.stringify(this.command)}`);
    codesSeen.add(code);
    return this;
  }
}

export class Scenario {
  readonly engine = new Engine();
  /** Every event since the scenario began. */
  readonly events: Event[] = [];
  /** The outcome of the latest `when`. */
  last: Outcome | undefined;
  private nowMs = T0;
  private readonly userIds = new Map<string, number>();
  private readonly names = new Map<number, string>();
  /** Order labels (client order ids) to engine order ids, kept after the order closes. */
  private readonly orderIds = new Map<string, number>();
  private readonly withdrawalIds = new Map<string, number>();
  private depositCount = 0;

  constructor(traders: Readonly<Record<string, Trader>>) {
    for (const a of assets) this.apply(a).accepted();
    for (const i of instruments) this.apply(i).accepted();
    for (const [name, t] of Object.entries(traders)) {
      const user: Command = {
        type: 'CreateUser', makerFeePpm: t.makerFeePpm ?? 0, takerFeePpm: t.takerFeePpm ?? 0,
        ...(t.stpMode === undefined ? {} : { stpMode: t.stpMode }),
      };
      const userId = this.apply(user).accepted().userId!;
      this.userIds.set(name, userId);
      this.names.set(userId, name);
      for (const holding of list(t.funds ?? '')) {
        const [amount, asset] = words(holding, 2);
        this.deposit(name, amount, asset, `seed-${name}-${asset}`).accepted();
      }
    }
  }

  // ---------------------------------------------------------------- time

  /** Commands from now on carry this log time. */
  at(ts: number): this {
    this.nowMs = ts;
    return this;
  }

  get now(): number { return this.nowMs; }

  // ---------------------------------------------------------------- commands

  /** Applies a raw command at the scenario's time and audits the whole engine after it. */
  apply(command: Command): Outcome {
    const events: Event[] = [];
    const result = this.engine.apply(command, this.nowMs, events);
    this.events.push(...events);
    assert.deepEqual(audit(this.engine), [], `audit after ${JSON.stringify(command)}`);
    return new Outcome(command, result, events);
  }

  /** Draws the starting book: every entry must rest without trading, in the order written. */
  book(table: string, instId = 'BTC-USDT'): this {
    for (const row of tableRows(table, 'bids')) {
      const [bids, price, asks] = cells3(row);
      for (const [side, entries] of [['buy', bids], ['sell', asks]] as const) {
        for (const entry of list(entries)) {
          const m = /^(\S+) (\w+)(?: \((\w+)\))?$/.exec(entry);
          assert.ok(m, `book entry "${entry}" reads "<size> <trader> [(label)]"`);
          const label = m[3] === undefined ? '' : ` as ${m[3]}`;
          const outcome = this.when(`${m[2]!} ${side === 'buy' ? 'buys' : 'sells'} ${m[1]!} at ${price}${label} on ${instId}`);
          outcome.accepted();
          assert.equal(outcome.events.filter((e) => e.type === 'TradeExecuted').length, 0, `book entry "${entry}" at ${price} traded`);
        }
      }
    }
    return this;
  }

  /**
   * One command in words:
   *   dave buys 6 at 100.50 [ioc|fok|post-only] [stp cancel_maker] [as d1] [on ETH-USDT]
   *   dave sells 2 at market            dave buys 550 USDT worth at market
   *   alice cancels clOrdId a1          alice cancels ordId a1        alice cancels all [on ETH-USDT]
   *   alice amends a1 to [price 100.20] [size 3] [cancel-on-fail]
   *   alice deposits 5 BTC with id d1   alice withdraws 0.5 BTC to bc1q [as w1]
   *   withdrawal w1 completes with tx 0xab      withdrawal w1 fails      alice cancels withdrawal w1
   *   BTC-USDT becomes suspended
   */
  when(sentence: string): Outcome {
    const outcome = this.apply(this.parse(sentence.trim().replace(/\s+/g, ' ')));
    this.last = outcome;
    return outcome;
  }

  private parse(s: string): Command {
    let m = /^(\w+) (buys|sells) (\S+)(?: (\w+) worth)? at (market|[0-9.]+)(?: (ioc|fok|post-only))?(?: stp (\w+))?(?: as (\w+))?(?: on (\S+))?$/.exec(s);
    if (m) {
      const instId = m[9] ?? 'BTC-USDT';
      const inst = this.instrument(instId);
      const isMarket = m[5] === 'market';
      const type = isMarket ? 'market' : m[6] === undefined ? 'limit' : m[6] === 'post-only' ? 'post_only' : m[6];
      assert.ok(type !== 'ioc' || !isMarket);
      const amount = m[4] === undefined
        ? { sizeLots: this.lots(instId, m[3]!) }
        : { quoteAmount: Number(this.minor(m[4], m[3]!)) };
      assert.ok(m[4] === undefined || m[4] === inst.quote, `"worth" is in ${inst.quote}`);
      if (m[8] !== undefined) this.orderIds.delete(m[8]);
      return {
        type: 'PlaceOrder', userId: this.user(m[1]!), instId, side: m[2] === 'buys' ? 'buy' : 'sell',
        orderType: type as 'limit',
        ...(isMarket ? {} : { priceTicks: this.ticks(instId, m[5]!) }),
        ...amount,
        ...(m[7] === undefined ? {} : { stpMode: m[7] as StpMode }),
        ...(m[8] === undefined ? {} : { clOrdId: m[8] }),
      };
    }
    m = /^(\w+) cancels all(?: on (\S+))?$/.exec(s);
    if (m) return { type: 'CancelAll', userId: this.user(m[1]!), ...(m[2] === undefined ? {} : { instId: m[2] }) };
    m = /^(\w+) cancels withdrawal (\w+)$/.exec(s);
    if (m) return { type: 'CancelWithdrawal', userId: this.user(m[1]!), withdrawalId: this.withdrawal(m[2]!) };
    m = /^(\w+) cancels (clOrdId|ordId) (\w+)(?: on (\S+))?$/.exec(s);
    if (m) {
      return { type: 'CancelOrder', userId: this.user(m[1]!), instId: m[4] ?? 'BTC-USDT', ...this.ref(m[2]!, m[3]!) };
    }
    m = /^(\w+) amends (?:(clOrdId|ordId) )?(\w+) to(?: price ([0-9.]+))?(?: size ([0-9.]+))?( cancel-on-fail)?(?: on (\S+))?$/.exec(s);
    if (m) {
      const instId = m[7] ?? 'BTC-USDT';
      return {
        type: 'AmendOrder', userId: this.user(m[1]!), instId, ...this.ref(m[2] ?? 'clOrdId', m[3]!),
        ...(m[4] === undefined ? {} : { newPriceTicks: this.ticks(instId, m[4]) }),
        ...(m[5] === undefined ? {} : { newSizeLots: this.lots(instId, m[5]) }),
        ...(m[6] === undefined ? {} : { cancelOnFail: true }),
      };
    }
    m = /^(\w+) deposits (\S+) (\w+) with id (\S+)$/.exec(s);
    if (m) return { type: 'CreditDeposit', depositId: m[4]!, userId: this.user(m[1]!), asset: m[3]!, amount: this.minor(m[3]!, m[2]!).toString() };
    m = /^(\w+) withdraws (\S+) (\w+) to (\S+)(?: as (\w+))?$/.exec(s);
    if (m) {
      return {
        type: 'RequestWithdrawal', userId: this.user(m[1]!), asset: m[3]!, amount: this.minor(m[3]!, m[2]!).toString(),
        address: m[4]!, ...(m[5] === undefined ? {} : { clientId: m[5] }),
      };
    }
    m = /^withdrawal (\w+) completes with tx (\S+)$/.exec(s);
    if (m) return { type: 'CompleteWithdrawal', withdrawalId: this.withdrawal(m[1]!), txId: m[2]! };
    m = /^withdrawal (\w+) fails$/.exec(s);
    if (m) return { type: 'FailWithdrawal', withdrawalId: this.withdrawal(m[1]!), reason: 'chain rejected' };
    m = /^(\S+) becomes (live|suspended|cancel_only|post_only)$/.exec(s);
    if (m) return { type: 'SetInstrumentState', instId: m[1]!, state: m[2] as 'live' };
    throw new Error(`the scenario language has no sentence "${s}"`);
  }

  private ref(kind: string, label: string): { orderId: number } | { clOrdId: string } {
    return kind === 'ordId' ? { orderId: this.order(label) } : { clOrdId: label };
  }

  deposit(name: string, amount: string, asset: string, depositId = `d${++this.depositCount}`): Outcome {
    return this.when(`${name} deposits ${amount} ${asset} with id ${depositId}`);
  }

  // ---------------------------------------------------------------- names and units

  user(name: string): number {
    const id = this.userIds.get(name);
    assert.ok(id !== undefined, `no trader named ${name}`);
    return id;
  }

  /** The engine's order id for a label (the client order id it was placed with). */
  order(label: string): number {
    if (!this.orderIds.has(label)) {
      for (const e of this.events) if (e.type === 'OrderAccepted' && e.clOrdId === label) this.orderIds.set(label, e.orderId);
    }
    const id = this.orderIds.get(label);
    assert.ok(id !== undefined, `no order labelled ${label}`);
    return id;
  }

  /** The engine's withdrawal id for a label (the client id it was requested with). */
  withdrawal(label: string): number {
    for (const e of this.events) if (e.type === 'WithdrawalRequested' && e.clientId === label) this.withdrawalIds.set(label, e.withdrawalId);
    const id = this.withdrawalIds.get(label);
    assert.ok(id !== undefined, `no withdrawal labelled ${label}`);
    return id;
  }

  private instrument(instId: string): SetInstrument {
    const spec = instruments.find((i) => i.instId === instId);
    assert.ok(spec, `no instrument ${instId}`);
    return spec;
  }

  private scale(asset: string): number {
    const spec = assets.find((a) => a.asset === asset);
    assert.ok(spec, `no asset ${asset}`);
    return spec.scale;
  }

  /** "1.5" BTC -> 150000000 minor units; refuses anything finer than the asset's scale. */
  minor(asset: string, amount: string): bigint {
    const negative = amount.startsWith('-');
    const units = parseDecimal(negative ? amount.slice(1) : amount, this.scale(asset));
    assert.ok(units !== undefined, `${amount} is not a whole number of ${asset} minor units`);
    return negative ? -units : units;
  }

  formatMinor(asset: string, units: bigint | number): string {
    return formatDecimal(units, this.scale(asset));
  }

  /** "100.50" -> 10050 ticks on BTC-USDT; refuses a price off the tick grid. */
  ticks(instId: string, price: string): number {
    return Number(grid(price, this.instrument(instId).tickSz));
  }

  lots(instId: string, size: string): number {
    return Number(grid(size, this.instrument(instId).lotSz));
  }

  price(instId: string, ticks: number): string {
    const tick = this.instrument(instId).tickSz;
    const decimals = tick.includes('.') ? tick.length - tick.indexOf('.') - 1 : 0;
    const units = BigInt(ticks) * parseDecimal(tick, decimals)!;
    const text = formatDecimal(units, decimals);
    const [whole, frac = ''] = text.split('.');
    return decimals === 0 ? whole! : `${whole!}.${frac.padEnd(decimals, '0')}`;
  }

  size(instId: string, lots: number): string {
    const lot = this.instrument(instId).lotSz;
    const decimals = lot.includes('.') ? lot.length - lot.indexOf('.') - 1 : 0;
    return formatDecimal(BigInt(lots) * parseDecimal(lot, decimals)!, decimals);
  }

  name(userId: number): string {
    return this.names.get(userId) ?? `user${userId}`;
  }

  // ---------------------------------------------------------------- then

  /** The trades of the latest command, one per line: "100.00 × 5 alice → dave" (seller → buyer). */
  thenTrades(text: string, instId = 'BTC-USDT'): this {
    const actual = this.lastEvents().flatMap((e) => {
      if (e.type !== 'TradeExecuted') return [];
      const [seller, buyer] = e.takerSide === 'buy' ? [e.makerUserId, e.takerUserId] : [e.takerUserId, e.makerUserId];
      return [`${this.price(e.instId, e.priceTicks)} × ${this.size(e.instId, e.sizeLots)} ${this.name(seller)} → ${this.name(buyer)}`];
    });
    const expected = lines(text).map((line) => {
      const m = /^([0-9.]+) [×x] ([0-9.]+) (\w+) (?:→|->) (\w+)$/.exec(line);
      assert.ok(m, `trade "${line}" reads "<price> × <size> <seller> → <buyer>"`);
      return `${this.price(instId, this.ticks(instId, m[1]!))} × ${this.size(instId, this.lots(instId, m[2]!))} ${m[3]!} → ${m[4]!}`;
    });
    assert.deepEqual(actual, expected, 'trades');
    return this;
  }

  thenNoTrades(): this {
    return this.thenTrades('');
  }

  /** Orders the latest command cancelled: "dave canceled 1 (unfilled)", the size left unfilled. */
  thenCanceled(text: string, instId = 'BTC-USDT'): this {
    const actual = this.lastEvents().flatMap((e) => e.type === 'OrderCanceled'
      ? [`${this.name(e.userId)} canceled ${this.size(e.instId, e.remainingLots)} (${e.reason})`] : []);
    const expected = lines(text).map((line) => {
      const m = /^(\w+) canceled ([0-9.]+) \((\w+)\)$/.exec(line);
      assert.ok(m, `cancel "${line}" reads "<trader> canceled <size> (<reason>)"`);
      return `${m[1]!} canceled ${this.size(instId, this.lots(instId, m[2]!))} (${m[3]!})`;
    });
    assert.deepEqual(actual, expected, 'cancellations');
    return this;
  }

  /** The whole book as a table, best prices nearest the middle, each level's queue in time order. */
  thenBook(table: string, instId = 'BTC-USDT'): this {
    const inst = this.engine.instruments.get(instId);
    assert.ok(inst);
    const rows = new Map<number, { bids: string; asks: string }>();
    for (const [side, key] of [[inst.bids, 'bids'], [inst.asks, 'asks']] as const) {
      for (const level of side.levels) {
        const queue: string[] = [];
        for (let o = level.head; o !== null; o = o.next) queue.push(`${this.size(instId, o.sizeLots - o.filledLots)} ${this.name(o.user.id)}`);
        const row = rows.get(level.priceTicks) ?? { bids: '', asks: '' };
        row[key] = queue.join(', ');
        rows.set(level.priceTicks, row);
      }
    }
    const actual = [...rows.entries()].sort(([a], [b]) => b - a)
      .map(([ticks, r]) => `${r.bids} | ${this.price(instId, ticks)} | ${r.asks}`);
    const expected = tableRows(table, 'bids').map((row) => {
      const [bids, price, asks] = cells3(row);
      const queue = (entries: string): string => list(entries).map((entry) => {
        const m = /^(\S+) (\w+)(?: \(\w+\))?$/.exec(entry);
        assert.ok(m, `book entry "${entry}" reads "<size> <trader>"`);
        return `${this.size(instId, this.lots(instId, m[1]!))} ${m[2]!}`;
      }).join(', ');
      return { ticks: this.ticks(instId, price), text: `${queue(bids)} | ${this.price(instId, this.ticks(instId, price))} | ${queue(asks)}` };
    }).sort((a, b) => b.ticks - a.ticks).map((r) => r.text);
    assert.deepEqual(actual, expected, `${instId} book`);
    return this;
  }

  /** Exact balances: rows of "trader | asset | available | held" in human units. */
  thenBalances(table: string): this {
    const actual: string[] = [];
    const expected: string[] = [];
    for (const row of tableRows(table, 'trader')) {
      const [name, asset, available, held] = cells4(row);
      const b = this.balance(name, asset);
      actual.push(`${name} ${asset} ${this.formatMinor(asset, b.available)} | ${this.formatMinor(asset, b.held)}`);
      expected.push(`${name} ${asset} ${this.formatMinor(asset, this.minor(asset, available))} | ${this.formatMinor(asset, this.minor(asset, held))}`);
    }
    assert.deepEqual(actual, expected, 'balances (available | held)');
    return this;
  }

  /** What the exchange's fee account holds per asset, e.g. "BTC 0.001, USDT -0.01". */
  thenFeeAccount(text: string): this {
    for (const item of list(text)) {
      const [asset, amount] = words(item, 2);
      assert.equal(this.formatMinor(asset, this.feeAccount(asset)), this.formatMinor(asset, this.minor(asset, amount)), `${asset} fee account`);
    }
    return this;
  }

  balance(name: string, asset: string): { available: bigint; held: bigint } {
    const user = this.engine.users[this.user(name)];
    const a = this.engine.assetById.get(asset);
    assert.ok(user && a);
    const account = user.accounts[a.index];
    return { available: account?.available.toBigInt() ?? 0n, held: account?.held.toBigInt() ?? 0n };
  }

  feeAccount(asset: string): bigint {
    return this.engine.assetById.get(asset)!.fees.toBigInt();
  }

  /**
   * Per asset, what traders hold plus the fee account equals what came in minus what went out:
   * the exchange neither creates nor loses a minor unit.
   */
  thenConserved(): this {
    for (const a of this.engine.assets) {
      let traders = 0n;
      for (const user of this.engine.users) {
        const account = user?.accounts[a.index];
        if (account !== undefined) traders += account.available.toBigInt() + account.held.toBigInt();
      }
      const deposited = -a.deposits.toBigInt();
      const withdrawn = a.withdrawals.toBigInt();
      assert.equal(traders + a.fees.toBigInt(), deposited - withdrawn, `${a.id} is conserved`);
    }
    return this;
  }

  /** The engine's own audit finds nothing broken: books, holds and every asset's ledger. */
  thenSound(): this {
    assert.deepEqual(audit(this.engine), [], 'audit');
    return this;
  }

  private lastEvents(): readonly Event[] {
    assert.ok(this.last, 'no command yet');
    return this.last.events;
  }
}

// ---------------------------------------------------------------- table parsing

/** Non-empty, trimmed lines. */
function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim().replace(/\s+/g, ' ')).filter((l) => l !== '');
}

/** A table's data rows: lines without the header (whose first cell is `header`). */
function tableRows(text: string, header: string): string[] {
  return lines(text).filter((l) => cells(l, undefined)[0] !== header);
}

function cells(row: string, n: number | undefined): string[] {
  const c = row.split('|').map((x) => x.trim());
  if (n !== undefined) assert.equal(c.length, n, `row "${row}" has ${n} cells`);
  return c;
}

 function cells3(row: string): [string, string, string] {
  const c = cells(row, 3);
  return [c[0]!, c[1]!, c[2]!];
}

function cells4(row: string): [string, string, string, string] {
  const c = cells(row, 4);
  return [c[0]!, c[1]!, c[2]!, c[3]!];
}

/** "5 BTC, 1000 USDT" -> ["5 BTC", "1000 USDT"]. */
function list(text: string): string[] {
  return text.split(',').map((x) => x.trim().replace(/\s+/g, ' ')).filter((x) => x !== '');
}

function words(text: string, n: number): [string, string] {
  const w = text.split(' ');
  assert.equal(w.length, n, `"${text}" has ${n} words`);
  return [w[0]!, w[1]!];
}

/** How many whole steps of `step` make `value` (both decimal strings); refuses a value off the grid. */
function grid(value: string, step: string): bigint {
  const decimals = Math.max(...[value, step].map((t) => (t.includes('.') ? t.length - t.indexOf('.') - 1 : 0)));
  const v = parseDecimal(value, decimals);
  const s = parseDecimal(step, decimals);
  assert.ok(v !== undefined && s !== undefined && s > 0n && v % s === 0n, `${value} is not a multiple of ${step}`);
  return v / s;
}

export function scenario(traders: Readonly<Record<string, Trader>>): Scenario {
  return new Scenario(traders);
}
