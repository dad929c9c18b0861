// The engine's trading rules as scenarios a trader can read: given traders and a book, when
// someone trades, then these trades, this book and these exact balances. Prices and sizes are
// in human units on BTC-USDT (tick 0.01 USDT, lot 0.0001 BTC, minimum 0.001 BTC, market orders
// banded at 5%); traders pay no fees unless a scenario says so. The scenario language audits the
// whole engine after every command, and the last test checks that the scenarios together
// produce every rejection code the engine publishes.

import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { Limits, rejectCodes, type Event } from '../src/core/index.js';
import { codesSeen, DAY_MS, scenario, T0, type Outcome, type Scenario, type Trader } from './support/scenario.js';

const made: Scenario[] = [];
/** A scenario that is audited once more, and checked for conservation, when its test ends. */
function given(traders: Readonly<Record<string, Trader>>): Scenario {
  const s = scenario(traders);
  made.push(s);
  return s;
}
afterEach(() => {
  for (const s of made.splice(0)) s.thenSound().thenConserved();
});

function eventsOf<T extends Event['type']>(outcome: Outcome, type: T): Extract<Event, { type: T }>[] {
  return outcome.events.filter((e): e is Extract<Event, { type: T }> => e.type === type);
}

/** The standard book: two ask levels above one bid. */
const twoAsksOneBid = `
  bids    | price  | asks
          | 100.50 | 3 bob
          | 100.00 | 5 alice
  2 carol |  99.50 |
`;
const standardTraders = {
  alice: { funds: '5 BTC' },
  bob: { funds: '3 BTC' },
  carol: { funds: '199 USDT' },
  dave: { funds: '1000 USDT' },
} as const;

describe('Limit (GTC)', () => {
  test('Limit: a buy sweeps two ask levels, best price first, paying each maker\'s price', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    const r = s.when('dave buys 6 at 100.50').accepted();
    assert.equal(r.state, 'filled');
    s.thenTrades(`
      100.00 × 5 alice → dave
      100.50 × 1 bob   → dave
    `).thenBook(`
      bids    | price  | asks
              | 100.50 | 2 bob
      2 carol |  99.50 |
    `).thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 0         | 0
      alice  | USDT  | 500       | 0
      bob    | BTC   | 0         | 2
      bob    | USDT  | 100.5     | 0
      carol  | USDT  | 0         | 199
      dave   | BTC   | 6         | 0
      dave   | USDT  | 399.5     | 0
    `);
  });

  test('Limit: what a buy cannot fill rests at its limit, holding only the rest\'s notional', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    assert.equal(s.when('dave buys 9 at 100.50').accepted().state, 'partially_filled');
    s.thenTrades(`
      100.00 × 5 alice → dave
      100.50 × 3 bob   → dave
    `).thenBook(`
      bids    | price  | asks
      1 dave  | 100.50 |
      2 carol |  99.50 |
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 8         | 0
      dave   | USDT  | 98        | 100.5
    `);
  });

  test('Limit: a sell sweeps the bids down to its limit and rests the rest', () => {
    const s = given({ carol: { funds: '199 USDT' }, erin: { funds: '297 USDT' }, dave: { funds: '6 BTC' } }).book(`
      bids    | price | asks
      2 carol | 99.50 |
      3 erin  | 99.00 |
    `);
    s.when('dave sells 6 at 99.00').accepted();
    s.thenTrades(`
      99.50 × 2 dave → carol
      99.00 × 3 dave → erin
    `).thenBook(`
      bids | price | asks
           | 99.00 | 1 dave
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 0         | 1
      dave   | USDT  | 496       | 0
      erin   | BTC   | 3         | 0
      erin   | USDT  | 0         | 0
    `);
  });

  test('Limit: orders at one price fill first come, first served; a later order joins the back', () => {
    const s = given({ alice: { funds: '2 BTC' }, bob: { funds: '3 BTC' }, erin: { funds: '1 BTC' }, dave: { funds: '1000 USDT' } }).book(`
      bids | price  | asks
           | 100.00 | 2 alice, 3 bob
    `);
    s.when('erin sells 1 at 100.00').accepted();
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 2 alice, 3 bob, 1 erin
    `);
    s.when('dave buys 3 at 100.00').accepted();
    s.thenTrades(`
      100.00 × 2 alice → dave
      100.00 × 1 bob   → dave
    `).thenBook(`
      bids | price  | asks
           | 100.00 | 2 bob, 1 erin
    `);
  });

  test('Limit: a buy below the best ask rests without trading and holds price × size', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    assert.equal(s.when('dave buys 2 at 99.90').accepted().state, 'live');
    s.thenNoTrades().thenBook(`
      bids    | price  | asks
              | 100.50 | 3 bob
              | 100.00 | 5 alice
      2 dave  |  99.90 |
      2 carol |  99.50 |
    `).thenBalances(`
      trader | asset | available | held
      dave   | USDT  | 800.2     | 199.8
    `);
  });

  test('Limit: a buy the trader cannot pay for is rejected and changes nothing', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    const before = s.events.length;
    s.when('dave buys 10 at 100.01').rejectedWith('insufficient_balance');
    const rejected = s.events.slice(before).filter((e) => e.type === 'OrderRejected');
    assert.equal(rejected.length, 1, 'a rejected order is reported as OrderRejected');
    s.thenNoTrades().thenBook(twoAsksOneBid).thenBalances(`
      trader | asset | available | held
      dave   | USDT  | 1000      | 0
    `);
  });
});

describe('IOC and FOK', () => {
  test('IOC: fills what it can at its limit and cancels the rest; nothing rests', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    const r = s.when('dave buys 6 at 100.00 ioc').accepted();
    assert.deepEqual([r.state, r.filledLots], ['canceled', 50_000]);
    s.thenTrades('100.00 × 5 alice → dave').thenCanceled('dave canceled 1 (unfilled)').thenBook(`
      bids    | price  | asks
              | 100.50 | 3 bob
      2 carol |  99.50 |
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 5         | 0
      dave   | USDT  | 500       | 0
    `);
  });

  test('IOC: with nothing at its limit it is cancelled whole', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    s.when('dave buys 1 at 99.90 ioc').accepted();
    s.thenNoTrades().thenCanceled('dave canceled 1 (unfilled)').thenBook(twoAsksOneBid);
  });

  test('FOK: fills in full across levels when the book holds enough', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    assert.equal(s.when('dave buys 6 at 100.50 fok').accepted().state, 'filled');
    s.thenTrades(`
      100.00 × 5 alice → dave
      100.50 × 1 bob   → dave
    `).thenCanceled('');
  });

  test('FOK: accepted and canceled at once, with no trade and no hold, when the book cannot fill it in full at its limit (as OKX)', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    assert.equal(s.when('dave buys 9 at 100.50 fok').accepted().state, 'canceled');
    s.thenNoTrades().thenCanceled('dave canceled 9 (fok_not_fillable)');
    assert.equal(s.when('dave buys 6 at 100.00 fok').accepted().state, 'canceled');
    s.thenNoTrades().thenCanceled('dave canceled 6 (fok_not_fillable)').thenBook(twoAsksOneBid).thenBalances(`
      trader | asset | available | held
      dave   | USDT  | 1000      | 0
    `);
  });

  const selfAhead = `
    bids | price  | asks
         | 100.00 | 1 dave, 5 alice
  `;
  const fokTraders = { dave: { funds: '1 BTC, 1000 USDT' }, alice: { funds: '5 BTC' } } as const;

  test('FOK + STP cancel_maker: the trader\'s own order is not liquidity; it is cancelled and the rest fills', () => {
    const s = given(fokTraders).book(selfAhead);
    s.when('dave buys 5 at 100.00 fok stp cancel_maker').accepted();
    s.thenCanceled('dave canceled 1 (stp)').thenTrades('100.00 × 5 alice → dave').thenBook(`
      bids | price | asks
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 6         | 0
      dave   | USDT  | 500       | 0
    `);
  });

  test('FOK + STP cancel_maker: not fillable without the own order, so canceled at once and the own order stays', () => {
    const s = given(fokTraders).book(selfAhead);
    s.when('dave buys 6 at 100.00 fok stp cancel_maker').accepted();
    s.thenNoTrades().thenCanceled('dave canceled 6 (fok_not_fillable)').thenBook(selfAhead);
  });

  test('FOK + STP cancel_taker or cancel_both: an own order in the way makes it unfillable', () => {
    const s = given(fokTraders).book(selfAhead);
    s.when('dave buys 5 at 100.00 fok stp cancel_taker').accepted();
    s.thenCanceled('dave canceled 5 (fok_not_fillable)');
    s.when('dave buys 5 at 100.00 fok stp cancel_both').accepted();
    s.thenCanceled('dave canceled 5 (fok_not_fillable)').thenBook(selfAhead);
  });

  test('FOK + STP cancel_taker: an own order behind enough liquidity is never reached', () => {
    const s = given(fokTraders).book(`
      bids | price  | asks
           | 100.00 | 5 alice, 1 dave
    `);
    s.when('dave buys 5 at 100.00 fok stp cancel_taker').accepted();
    s.thenTrades('100.00 × 5 alice → dave').thenBook(`
      bids | price  | asks
           | 100.00 | 1 dave
    `);
  });

  test('FOK + STP none: the trader\'s own order counts as liquidity and trades', () => {
    const s = given(fokTraders).book(selfAhead);
    s.when('dave buys 6 at 100.00 fok stp none').accepted();
    s.thenTrades(`
      100.00 × 1 dave  → dave
      100.00 × 5 alice → dave
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 6         | 0
      dave   | USDT  | 500       | 0
    `);
  });
});

describe('Post-only', () => {
  test('Post-only: rests like a limit when it would not trade', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    s.when('dave buys 2 at 99.90 post-only').accepted();
    s.thenNoTrades().thenBook(`
      bids    | price  | asks
              | 100.50 | 3 bob
              | 100.00 | 5 alice
      2 dave  |  99.90 |
      2 carol |  99.50 |
    `);
  });

  test('Post-only: accepted and canceled at once when it would take, on either side, holding nothing (as OKX)', () => {
    const s = given({ ...standardTraders, dave: { funds: '1000 USDT, 1 BTC' } }).book(twoAsksOneBid);
    assert.equal(s.when('dave buys 2 at 100.00 post-only').accepted().state, 'canceled');
    s.thenNoTrades().thenCanceled('dave canceled 2 (post_only_would_take)');
    assert.equal(s.when('dave sells 1 at 99.50 post-only').accepted().state, 'canceled');
    s.thenNoTrades().thenCanceled('dave canceled 1 (post_only_would_take)').thenBook(twoAsksOneBid).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 1         | 0
      dave   | USDT  | 1000      | 0
    `);
  });

  test('Post-only and FOK: the balance is checked first, so an order the trader cannot pay for is rejected, not canceled', () => {
    const s = given({ ...standardTraders, dave: { funds: '100 USDT' } }).book(twoAsksOneBid);
    s.when('dave buys 2 at 100.00 post-only').rejectedWith('insufficient_balance');
    s.when('dave buys 9 at 100.50 fok').rejectedWith('insufficient_balance');
    s.thenCanceled('').thenBook(twoAsksOneBid);
  });

  test('Post-only and FOK: a canceled order\'s client order id is used, as any recent order\'s', () => {
    const s = given({ ...standardTraders, dave: { funds: '1000 USDT' } }).book(twoAsksOneBid);
    s.when('dave buys 2 at 100.00 post-only as p1').accepted();
    s.when('dave buys 2 at 99.00 post-only as p1').rejectedWith('client_order_id_duplicate');
    s.when('dave buys 9 at 100.50 fok as f1').accepted();
    s.when('dave buys 1 at 99.00 as f1').rejectedWith('client_order_id_duplicate');
    s.thenBook(twoAsksOneBid);
  });
});

describe('Market', () => {
  const bids = `
    bids    | price | asks
    2 carol | 99.50 |
    3 erin  | 99.00 |
  `;
  const bidders = { carol: { funds: '199 USDT' }, erin: { funds: '297 USDT' } } as const;

  test('Market buy by size: takes the asks best first and releases the unused band hold', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    assert.equal(s.when('dave buys 6 at market').accepted().state, 'filled');
    s.thenTrades(`
      100.00 × 5 alice → dave
      100.50 × 1 bob   → dave
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 6         | 0
      dave   | USDT  | 399.5     | 0
    `);
  });

  test('Market buy by size: must be covered at the band price (5% above the best ask)', () => {
    // 6 BTC at 105.00 is 630 USDT, though the fills would cost only 600.50.
    const s = given({ ...standardTraders, dave: { funds: '629.99 USDT' } }).book(twoAsksOneBid);
    s.when('dave buys 6 at market').rejectedWith('insufficient_balance');
    s.thenNoTrades().thenBook(twoAsksOneBid);
  });

  test('Market sell by size: takes the bids best first', () => {
    const s = given({ ...bidders, dave: { funds: '4 BTC' } }).book(bids);
    assert.equal(s.when('dave sells 4 at market').accepted().state, 'filled');
    s.thenTrades(`
      99.50 × 2 dave → carol
      99.00 × 2 dave → erin
    `).thenBook(`
      bids   | price | asks
      1 erin | 99.00 |
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 0         | 0
      dave   | USDT  | 397       | 0
    `);
  });

  test('Market buy by quote: spends at most the amount, in whole lots, and returns the dust', () => {
    const s = given(standardTraders).book(twoAsksOneBid);
    const r = s.when('dave buys 550 USDT worth at market').accepted();
    assert.deepEqual([r.state, r.filledLots], ['filled', 54_975]);
    // 500 USDT buys 5 BTC at 100.00; the last 50 USDT buy 0.4975 BTC at 100.50 for 49.99875.
    s.thenTrades(`
      100.00 × 5      alice → dave
      100.50 × 0.4975 bob   → dave
    `).thenBook(`
      bids    | price  | asks
              | 100.50 | 2.5025 bob
      2 carol |  99.50 |
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 5.4975    | 0
      dave   | USDT  | 450.00125 | 0
      bob    | USDT  | 49.99875  | 0
    `);
  });

  test('Market sell by quote: sells until it has received at most the amount', () => {
    const s = given({ ...bidders, dave: { funds: '4 BTC' } }).book(bids);
    assert.equal(s.when('dave sells 300 USDT worth at market').accepted().state, 'filled');
    // 2 BTC at 99.50 bring 199 USDT; the last 101 USDT sell 1.0202 BTC at 99.00 for 100.9998.
    s.thenTrades(`
      99.50 × 2      dave → carol
      99.00 × 1.0202 dave → erin
    `).thenBook(`
      bids        | price | asks
      1.9798 erin | 99.00 |
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 0.9798    | 0
      dave   | USDT  | 299.9998  | 0
      erin   | BTC   | 1.0202    | 0
      erin   | USDT  | 0         | 196.0002
    `);
  });

  test('Market sell by quote: must hold enough base to reach the amount at the band price', () => {
    // At the band floor of 94.53, 300 USDT takes 3.1735 BTC.
    const s = given({ ...bidders, dave: { funds: '3.1734 BTC' } }).book(bids);
    s.when('dave sells 300 USDT worth at market').rejectedWith('insufficient_balance');
    s.thenNoTrades().thenBook(bids);
  });

  test('Market: stops at the 5% band and cancels the rest although liquidity remains beyond it', () => {
    const s = given({ alice: { funds: '1 BTC' }, bob: { funds: '2 BTC' }, frank: { funds: '5 BTC' }, dave: { funds: '1000 USDT' } }).book(`
      bids | price  | asks
           | 106.00 | 5 frank
           | 104.00 | 2 bob
           | 100.00 | 1 alice
    `);
    assert.equal(s.when('dave buys 5 at market').accepted().state, 'canceled');
    s.thenTrades(`
      100.00 × 1 alice → dave
      104.00 × 2 bob   → dave
    `).thenCanceled('dave canceled 2 (market_band)').thenBook(`
      bids | price  | asks
           | 106.00 | 5 frank
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 3         | 0
      dave   | USDT  | 692       | 0
    `);
  });

  test('Market: a sell by quote is banded too (5% below the best bid)', () => {
    const s = given({ carol: { funds: '100 USDT' }, erin: { funds: '188 USDT' }, dave: { funds: '5 BTC' } }).book(`
      bids    | price  | asks
      1 carol | 100.00 |
      2 erin  |  94.00 |
    `);
    s.when('dave sells 300 USDT worth at market').accepted();
    s.thenTrades('100.00 × 1 dave → carol').thenCanceled('dave canceled 0 (market_band)').thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 4         | 0
      dave   | USDT  | 100       | 0
    `);
  });

  test('Market: the rest is cancelled as unfilled when the book simply runs out', () => {
    const s = given({ alice: { funds: '1 BTC' }, dave: { funds: '1000 USDT' } }).book(`
      bids | price  | asks
           | 100.00 | 1 alice
    `);
    s.when('dave buys 3 at market').accepted();
    s.thenTrades('100.00 × 1 alice → dave').thenCanceled('dave canceled 2 (unfilled)').thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 1         | 0
      dave   | USDT  | 900       | 0
    `);
  });

  test('Market: rejected when the other side is empty, by size or by quote', () => {
    const s = given({ carol: { funds: '199 USDT' }, dave: { funds: '1000 USDT' } }).book(`
      bids    | price | asks
      2 carol | 99.50 |
    `);
    s.when('dave buys 1 at market').rejectedWith('no_liquidity');
    s.when('dave buys 100 USDT worth at market').rejectedWith('no_liquidity');
    s.thenNoTrades().thenBalances(`
      trader | asset | available | held
      dave   | USDT  | 1000      | 0
    `);
  });

  test('Market by quote: an amount worth less than the minimum size at the best price is refused', () => {
    const s = given({ alice: { funds: '1 BTC' }, dave: { funds: '1000 USDT' } }).book(`
      bids | price  | asks
           | 100.00 | 1 alice
    `);
    // The minimum size is 0.001 BTC: 0.10 USDT at 100.00.
    s.when('dave buys 0.09 USDT worth at market').rejectedWith('size_below_min');
    s.when('dave buys 0.1 USDT worth at market').accepted();
    s.thenTrades(`
      100.00 × 0.001 alice → dave
    `);
  });
});

describe('Amend', () => {
  const queue = `
    bids | price  | asks
         | 100.00 | 3 alice (a1), 2 bob
  `;
  const queued = { alice: { funds: '4 BTC' }, bob: { funds: '2 BTC' }, dave: { funds: '1000 USDT' } } as const;

  test('Amend: reducing the size keeps the order\'s place in the queue and releases the hold', () => {
    const s = given(queued).book(queue);
    s.when('alice amends a1 to size 2').accepted();
    assert.equal(eventsOf(s.last!, 'OrderAmended')[0]?.priorityKept, true);
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 2 alice, 2 bob
    `).thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 2         | 2
    `);
    s.when('dave buys 2 at 100.00').accepted();
    s.thenTrades('100.00 × 2 alice → dave');
  });

  test('Amend: increasing the size sends the order to the back of its level', () => {
    const s = given(queued).book(queue);
    s.when('alice amends a1 to size 4').accepted();
    assert.equal(eventsOf(s.last!, 'OrderAmended')[0]?.priorityKept, false);
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 2 bob, 4 alice
    `).thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 0         | 4
    `);
    s.when('dave buys 2 at 100.00').accepted();
    s.thenTrades('100.00 × 2 bob → dave');
  });

  test('Amend: a new price loses priority, even when the order later returns to its old price', () => {
    const s = given(queued).book(queue);
    s.when('alice amends a1 to price 100.50').accepted();
    s.thenNoTrades().thenBook(`
      bids | price  | asks
           | 100.50 | 3 alice
           | 100.00 | 2 bob
    `);
    s.when('alice amends a1 to price 100.00').accepted();
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 2 bob, 3 alice
    `);
  });

  test('Amend: a price that crosses trades at once, as a taker paying the taker fee', () => {
    const s = given({ alice: { funds: '4 BTC', takerFeePpm: 1_000 }, carol: { funds: '199 USDT' } }).book(`
      bids    | price  | asks
              | 100.00 | 3 alice (a1)
      2 carol |  99.50 |
    `);
    s.when('alice amends a1 to price 99.50').accepted();
    const trade = eventsOf(s.last!, 'TradeExecuted')[0];
    assert.deepEqual([trade?.takerUserId, trade?.takerFee], [s.user('alice'), 199_000]);
    s.thenTrades('99.50 × 2 alice → carol').thenBook(`
      bids | price | asks
           | 99.50 | 1 alice
    `).thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 1         | 1
      alice  | USDT  | 198.801   | 0
      carol  | BTC   | 2         | 0
    `).thenFeeAccount('USDT 0.199');
  });

  test('Amend: a bid moved to a lower price gives back the difference in its hold', () => {
    const s = given({ carol: { funds: '199 USDT' } }).book(`
      bids         | price | asks
      2 carol (c1) | 99.50 |
    `);
    s.when('carol amends c1 to price 99.00').accepted();
    s.thenBalances(`
      trader | asset | available | held
      carol  | USDT  | 1         | 198
    `);
  });

  test('Amend: the new size must exceed what has already filled; a size in between is a reduction', () => {
    const s = given(queued).book(queue);
    s.when('dave buys 2 at 100.00').accepted();
    s.when('alice amends a1 to size 2').rejectedWith('amend_size_not_above_filled');
    s.when('alice amends a1 to size 1').rejectedWith('amend_size_not_above_filled');
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 1 alice, 2 bob
    `);
    s.when('alice amends a1 to size 2.5').accepted();
    assert.equal(eventsOf(s.last!, 'OrderAmended')[0]?.priorityKept, true);
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 0.5 alice, 2 bob
    `).thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 1.5       | 0.5
      alice  | USDT  | 200       | 0
    `);
  });

  test('Amend: an amend that changes nothing is rejected', () => {
    const s = given(queued).book(queue);
    s.when('alice amends a1 to size 3').rejectedWith('amend_nothing');
    s.when('alice amends a1 to price 100.00 size 3').rejectedWith('amend_nothing');
    s.when('alice amends a1 to').rejectedWith('amend_nothing');
    s.thenBook(queue);
  });

  test('Amend: cancel-on-fail cancels the order when the amend is rejected, and releases its hold', () => {
    const s = given(queued).book(queue);
    s.when('dave buys 2 at 100.00').accepted();
    s.when('alice amends a1 to size 2 cancel-on-fail').rejectedWith('amend_size_not_above_filled');
    s.thenCanceled('alice canceled 1 (amend_failed)').thenBook(`
      bids | price  | asks
           | 100.00 | 2 bob
    `).thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 2         | 0
      alice  | USDT  | 200       | 0
    `);
  });

  test('Amend: without cancel-on-fail a rejected amend leaves the order as it was', () => {
    const s = given(queued).book(queue);
    s.when('alice amends a1 to price 0.00').rejectedWith('price_invalid');
    s.when('alice amends a1 to size 0.0005').rejectedWith('size_below_min');
    s.when('alice amends a1 to size 1000.0001').rejectedWith('size_above_max');
    s.thenCanceled('').thenBook(queue);
  });

  test('Amend: a bigger hold than the trader has available is rejected', () => {
    const s = given({ carol: { funds: '199 USDT' } }).book(`
      bids         | price | asks
      2 carol (c1) | 99.50 |
    `);
    s.when('carol amends c1 to size 3').rejectedWith('insufficient_balance');
    s.when('carol amends c1 to price 99.51').rejectedWith('insufficient_balance');
    s.thenBook(`
      bids    | price | asks
      2 carol | 99.50 |
    `).thenBalances(`
      trader | asset | available | held
      carol  | USDT  | 0         | 199
    `);
  });

  test('Amend: a post-only order may not be amended to a price that would take', () => {
    const s = given({ ...queued, carol: { funds: '199 USDT' } }).book(queue);
    s.when('carol buys 2 at 99.50 post-only as c1').accepted();
    // OKX refuses such an amend (51511) rather than cancel the order, unlike a new post-only order.
    s.when('carol amends c1 to price 100.00').rejectedWith('post_only_would_take');
    s.thenNoTrades();
  });

  test('Amend: by order id works; nobody can amend someone else\'s order', () => {
    const s = given(queued).book(queue);
    s.when('bob amends ordId a1 to size 1').rejectedWith('order_not_found');
    s.when('alice amends ordId a1 to size 1').accepted();
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 1 alice, 2 bob
    `);
  });
});

describe('Self-trade prevention (the taker\'s mode decides)', () => {
  const selfFirst = `
    bids | price  | asks
         | 100.00 | 2 dave, 5 alice
  `;
  const traders = { dave: { funds: '2 BTC, 1000 USDT' }, alice: { funds: '5 BTC' } } as const;

  test('STP none: the trader trades with himself', () => {
    const s = given(traders).book(selfFirst);
    s.when('dave buys 4 at 100.00 stp none').accepted();
    s.thenTrades(`
      100.00 × 2 dave  → dave
      100.00 × 2 alice → dave
    `).thenBook(`
      bids | price  | asks
           | 100.00 | 3 alice
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 4         | 0
      dave   | USDT  | 800       | 0
    `);
  });

  test('STP cancel_maker: the resting own order is cancelled and the taker trades on', () => {
    const s = given(traders).book(selfFirst);
    s.when('dave buys 4 at 100.00 stp cancel_maker').accepted();
    s.thenCanceled('dave canceled 2 (stp)').thenTrades('100.00 × 4 alice → dave').thenBook(`
      bids | price  | asks
           | 100.00 | 1 alice
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 6         | 0
      dave   | USDT  | 600       | 0
    `);
  });

  test('STP cancel_taker: the incoming order is cancelled where it would meet its own', () => {
    const s = given(traders).book(selfFirst);
    s.when('dave buys 4 at 100.00 stp cancel_taker').accepted();
    s.thenNoTrades().thenCanceled('dave canceled 4 (stp)').thenBook(selfFirst).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 0         | 2
      dave   | USDT  | 1000      | 0
    `);
  });

  test('STP cancel_taker: what filled before meeting its own order stays filled', () => {
    const s = given(traders).book(`
      bids | price  | asks
           | 100.00 | 3 alice, 2 dave
    `);
    s.when('dave buys 4 at 100.00 stp cancel_taker').accepted();
    s.thenTrades('100.00 × 3 alice → dave').thenCanceled('dave canceled 1 (stp)').thenBook(`
      bids | price  | asks
           | 100.00 | 2 dave
    `);
  });

  test('STP cancel_both: both the resting and the incoming order are cancelled', () => {
    const s = given(traders).book(selfFirst);
    s.when('dave buys 4 at 100.00 stp cancel_both').accepted();
    s.thenNoTrades().thenCanceled(`
      dave canceled 2 (stp)
      dave canceled 4 (stp)
    `).thenBook(`
      bids | price  | asks
           | 100.00 | 5 alice
    `).thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 2         | 0
      dave   | USDT  | 1000      | 0
    `);
  });

  test('STP: an order without a mode takes the account\'s; an order\'s own mode overrides it', () => {
    const s = given({ ...traders, dave: { funds: '2 BTC, 1000 USDT', stpMode: 'cancel_maker' } }).book(`
      bids | price  | asks
           | 100.00 | 1 dave, 1 dave, 5 alice
    `);
    s.when('dave buys 1 at 100.00').accepted();
    s.thenCanceled(`
      dave canceled 1 (stp)
      dave canceled 1 (stp)
    `).thenTrades('100.00 × 1 alice → dave');
    s.when('dave sells 1 at 99.00').accepted();
    s.when('dave buys 1 at 99.00 stp none').accepted();
    s.thenTrades('99.00 × 1 dave → dave');
  });

  test('STP: a market buy by quote that has spent its budget leaves the trader\'s next order alone', () => {
    const s = given({ ...traders, dave: { funds: '1 BTC, 1000 USDT' } }).book(`
      bids | price  | asks
           | 100.50 | 1 dave
           | 100.00 | 5 alice
    `);
    s.when('dave buys 500 USDT worth at market stp cancel_maker').accepted();
    s.thenTrades('100.00 × 5 alice → dave').thenCanceled('').thenBook(`
      bids | price  | asks
           | 100.50 | 1 dave
    `);
  });

  test('STP: the maker\'s mode does not matter, only the taker\'s', () => {
    const s = given(traders);
    s.when('dave sells 1 at 100.00 stp cancel_both').accepted();
    s.when('dave buys 1 at 100.00 stp none').accepted();
    s.thenTrades('100.00 × 1 dave → dave');
  });
});

describe('Fees', () => {
  test('Fees: each side pays in the asset it receives, the maker at the maker rate', () => {
    // Maker 8 bp, taker 10 bp.
    const s = given({ alice: { funds: '5 BTC', makerFeePpm: 800 }, dave: { funds: '1000 USDT', takerFeePpm: 1_000 } }).book(`
      bids | price  | asks
           | 100.00 | 5 alice
    `);
    s.when('dave buys 1 at 100.00').accepted();
    const trade = eventsOf(s.last!, 'TradeExecuted')[0];
    assert.deepEqual([trade?.makerFee, trade?.takerFee], [80_000, 100_000]);
    s.thenBalances(`
      trader | asset | available | held
      dave   | BTC   | 0.999     | 0
      dave   | USDT  | 900       | 0
      alice  | BTC   | 0         | 4
      alice  | USDT  | 99.92     | 0
    `).thenFeeAccount('BTC 0.001, USDT 0.08');
  });

  test('Fees: a selling taker pays in quote, the buying maker in base', () => {
    const s = given({ carol: { funds: '199 USDT', makerFeePpm: 800 }, dave: { funds: '2 BTC', takerFeePpm: 1_000 } }).book(`
      bids    | price | asks
      2 carol | 99.50 |
    `);
    s.when('dave sells 2 at market').accepted();
    s.thenBalances(`
      trader | asset | available | held
      dave   | USDT  | 198.801   | 0
      carol  | BTC   | 1.9984    | 0
    `).thenFeeAccount('BTC 0.0016, USDT 0.199');
  });

  test('Fees: a negative maker fee is a rebate paid by the fee account', () => {
    // Maker -1 bp.
    const s = given({ alice: { funds: '5 BTC', makerFeePpm: -100, takerFeePpm: 1_000 }, dave: { funds: '1000 USDT', takerFeePpm: 1_000 } }).book(`
      bids | price  | asks
           | 100.00 | 5 alice
    `);
    s.when('dave buys 1 at 100.00').accepted();
    s.thenBalances(`
      trader | asset | available | held
      alice  | USDT  | 100.01    | 0
      dave   | BTC   | 0.999     | 0
    `).thenFeeAccount('BTC 0.001, USDT -0.01');
  });

  test('Fees: charges round up and rebates round toward zero, to the minor unit', () => {
    // 0.001 BTC at 100.01 is 0.10001 USDT. Taker 12.34 bp of 100000 sat = 123.4 -> 124 sat;
    // maker 8 bp of 100010 = 80.008 -> 81; a -1.5 bp rebate of 100010 = 15.0015 -> 15.
    const s = given({
      alice: { funds: '0.001 BTC', makerFeePpm: 800 },
      bob: { funds: '0.001 BTC', makerFeePpm: -150, takerFeePpm: 1_000 },
      dave: { funds: '1 USDT', takerFeePpm: 1_234 },
    }).book(`
      bids | price  | asks
           | 100.01 | 0.001 alice, 0.001 bob
    `);
    s.when('dave buys 0.002 at 100.01').accepted();
    const fees = eventsOf(s.last!, 'TradeExecuted').map((t) => [t.makerFee, t.takerFee]);
    assert.deepEqual(fees, [[81, 124], [-15, 124]]);
    s.thenBalances(`
      trader | asset | available  | held
      dave   | BTC   | 0.00199752 | 0
      dave   | USDT  | 0.79998    | 0
      alice  | USDT  | 0.099929   | 0
      bob    | USDT  | 0.100025   | 0
    `).thenFeeAccount('BTC 0.00000248, USDT 0.000066').thenConserved();
  });
});

describe('Cancel', () => {
  const book = `
    bids | price  | asks
         | 100.50 | 1 bob (b1)
         | 100.00 | 3 alice (a1), 1 alice (a2)
  `;
  const traders = { alice: { funds: '4 BTC, 1 ETH' }, bob: { funds: '1 BTC' }, dave: { funds: '1000 USDT' } } as const;

  test('Cancel: by order id and by client order id, releasing the hold', () => {
    const s = given(traders).book(book);
    assert.equal(s.when('alice cancels ordId a1').accepted().state, 'canceled');
    s.thenCanceled('alice canceled 3 (user)');
    s.when('alice cancels clOrdId a2').accepted();
    s.thenCanceled('alice canceled 1 (user)').thenBook(`
      bids | price  | asks
           | 100.50 | 1 bob
    `).thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 4         | 0
    `);
  });

  test('Cancel: someone else\'s order, an order on another instrument or a closed order is not found', () => {
    const s = given(traders).book(book);
    s.when('bob cancels ordId a1').rejectedWith('order_not_found');
    s.when('bob cancels clOrdId a1').rejectedWith('order_not_found');
    s.when('alice cancels ordId a1 on ETH-USDT').rejectedWith('order_not_found');
    s.when('alice cancels ordId b1').rejectedWith('order_not_found');
    s.thenBook(book);
    s.when('dave buys 5 at 100.50').accepted();
    s.when('bob cancels clOrdId b1').rejectedWith('order_not_found');
    s.when('dave cancels all on DOGE-USDT').rejectedWith('instrument_not_found');
    s.when('alice cancels ordId a1 on DOGE-USDT').rejectedWith('instrument_not_found');
  });

  test('Cancel all: every open order of the trader, on every instrument, and nobody else\'s', () => {
    const s = given(traders).book(book);
    s.book(`
      bids | price   | asks
           | 2000.00 | 1 alice
    `, 'ETH-USDT');
    assert.equal(s.when('alice cancels all').accepted().canceledOrders, 3);
    s.thenCanceled(`
      alice canceled 3 (user_all)
      alice canceled 1 (user_all)
      alice canceled 1 (user_all)
    `).thenBook(`
      bids | price  | asks
           | 100.50 | 1 bob
    `).thenBook('bids | price | asks', 'ETH-USDT').thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 4         | 0
      alice  | ETH   | 1         | 0
    `);
  });

  test('Cancel all on one instrument leaves the trader\'s other instruments alone', () => {
    const s = given(traders).book(book);
    s.book(`
      bids | price   | asks
           | 2000.00 | 1 alice
    `, 'ETH-USDT');
    assert.equal(s.when('alice cancels all on ETH-USDT').accepted().canceledOrders, 1);
    s.thenBook('bids | price | asks', 'ETH-USDT').thenBook(book);
  });
});

describe('Client order ids', () => {
  const traders = { alice: { funds: '5 BTC' }, bob: { funds: '1 BTC' }, dave: { funds: '1000 USDT' } } as const;

  test('clOrdId: unique per trader among open and recent orders, so a retry after a lost answer never places twice', () => {
    const s = given(traders);
    s.when('alice sells 1 at 101.00 as a1').accepted();
    s.when('alice sells 1 at 102.00 as a1').rejectedWith('client_order_id_duplicate');
    s.when('bob sells 1 at 102.00 as a1').accepted();
    s.when('alice cancels clOrdId a1').accepted();
    // Cancelled, yet still among alice's recent orders: a retry of it is recognised.
    s.when('alice sells 1 at 103.00 as a1').rejectedWith('client_order_id_duplicate');
    s.when('dave buys 1 at 102.00 as d1').accepted();
    s.thenTrades(`
      102.00 × 1 bob → dave
    `);
    // Filled at once, and still a retry would not buy twice.
    s.when('dave buys 1 at 102.00 as d1').rejectedWith('client_order_id_duplicate');
  });

  test('clOrdId: free again once 1,024 newer orders of the trader have used other ids', () => {
    const s = given({ dave: { funds: '1000000 USDT' } });
    s.when('dave buys 0.001 at 1.00 ioc as x0').accepted();
    for (let i = 1; i <= 1_023; i++) s.when(`dave buys 0.001 at 1.00 ioc as x${i}`).accepted();
    s.when('dave buys 0.001 at 1.00 ioc as x0').rejectedWith('client_order_id_duplicate');
    s.when('dave buys 0.001 at 1.00 ioc as x1024').accepted();
    s.when('dave buys 0.001 at 1.00 ioc as x0').accepted();
  });

  test('clOrdId: 1 to 32 letters and digits', () => {
    const s = given(traders);
    const place = (clOrdId: string): Outcome => s.apply({
      type: 'PlaceOrder', userId: s.user('alice'), instId: 'BTC-USDT', side: 'sell', orderType: 'limit', priceTicks: 10_000, sizeLots: 10, clOrdId,
    });
    place('a-1').rejectedWith('client_order_id_invalid');
    place('a'.repeat(33)).rejectedWith('client_order_id_invalid');
    place('A'.repeat(32)).accepted();
  });
});

describe('Instrument states', () => {
  const book = `
    bids    | price  | asks
            | 100.00 | 1 alice (a1)
    1 carol |  99.00 |
  `;
  const traders = { alice: { funds: '2 BTC' }, carol: { funds: '99 USDT' }, dave: { funds: '1000 USDT, 1 BTC' } } as const;

  test('Suspended: nothing is accepted, not even a cancel; cancel-all skips it; live again trades', () => {
    const s = given(traders).book(book);
    s.when('BTC-USDT becomes suspended').accepted();
    s.when('dave buys 1 at 100.00').rejectedWith('instrument_suspended');
    s.when('alice cancels clOrdId a1').rejectedWith('instrument_suspended');
    s.when('alice amends a1 to size 2 cancel-on-fail').rejectedWith('instrument_suspended');
    assert.equal(s.when('alice cancels all').accepted().canceledOrders, 0);
    s.thenBook(book);
    s.when('BTC-USDT becomes live').accepted();
    s.when('dave buys 1 at 100.00').accepted();
    s.thenTrades('100.00 × 1 alice → dave');
  });

  test('Cancel-only: new orders and amends are rejected, cancels work', () => {
    const s = given(traders).book(book);
    s.when('BTC-USDT becomes cancel_only').accepted();
    s.when('dave buys 1 at 98.00').rejectedWith('instrument_cancel_only');
    s.when('alice amends a1 to size 0.5').rejectedWith('instrument_cancel_only');
    s.when('alice cancels clOrdId a1').accepted();
    s.thenBook(`
      bids    | price | asks
      1 carol | 99.00 |
    `);
  });

  test('Post-only state: limits that add liquidity rest; anything else that would take is rejected, a post-only order canceled', () => {
    const s = given(traders).book(book);
    s.when('BTC-USDT becomes post_only').accepted();
    s.when('dave buys 1 at 99.50 as d1').accepted();
    s.when('dave buys 1 at 100.00').rejectedWith('instrument_post_only');
    s.when('dave buys 1 at 100.00 post-only').accepted();
    s.thenCanceled('dave canceled 1 (post_only_would_take)');
    s.when('dave buys 1 at 100.00 ioc').rejectedWith('instrument_post_only');
    s.when('dave buys 1 at 100.00 fok').rejectedWith('instrument_post_only');
    s.when('dave buys 1 at market').rejectedWith('instrument_post_only');
    s.when('dave sells 0.5 at 99.00').rejectedWith('instrument_post_only');
    s.when('dave amends d1 to price 100.00').rejectedWith('instrument_post_only');
    s.when('dave amends d1 to price 99.60').accepted();
    s.thenNoTrades().thenBook(`
      bids    | price  | asks
              | 100.00 | 1 alice
      1 dave  |  99.60 |
      1 carol |  99.00 |
    `);
  });
});

describe('Deposits', () => {
  test('Deposit: credited once; the same deposit again is a harmless duplicate', () => {
    const s = given({ alice: {}, bob: {} });
    s.when('alice deposits 1.5 BTC with id tx1').accepted();
    s.when('alice deposits 1.5 BTC with id tx1').rejectedWith('deposit_duplicate');
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 1.5       | 0
    `);
  });

  test('Deposit: the same id with a different amount, asset or trader is a conflict and credits nothing', () => {
    const s = given({ alice: {}, bob: {} });
    s.when('alice deposits 1.5 BTC with id tx1').accepted();
    s.when('alice deposits 2 BTC with id tx1').rejectedWith('deposit_conflict');
    s.when('alice deposits 1.5 ETH with id tx1').rejectedWith('deposit_conflict');
    s.when('bob deposits 1.5 BTC with id tx1').rejectedWith('deposit_conflict');
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 1.5       | 0
      alice  | ETH   | 0         | 0
      bob    | BTC   | 0         | 0
    `);
  });

  test('Deposit: refused for a bad id, amount, asset or trader', () => {
    const s = given({ alice: {} });
    const deposit = (depositId: string, userId: number, asset: string, amount: string): Outcome =>
      s.apply({ type: 'CreditDeposit', depositId, userId, asset, amount });
    deposit('', s.user('alice'), 'BTC', '1').rejectedWith('deposit_id_invalid');
    deposit('x'.repeat(129), s.user('alice'), 'BTC', '1').rejectedWith('deposit_id_invalid');
    deposit('tx2', s.user('alice'), 'BTC', '0').rejectedWith('amount_invalid');
    deposit('tx3', s.user('alice'), 'BTC', '1.5').rejectedWith('amount_invalid');
    deposit('tx4', s.user('alice'), 'DOGE', '1').rejectedWith('asset_not_found');
    deposit('tx5', 999, 'BTC', '1').rejectedWith('user_not_found');
    // None of the refused ids was recorded: each can still be credited.
    deposit('tx2', s.user('alice'), 'BTC', '7').accepted();
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 0.00000007 | 0
    `);
  });
});

describe('Withdrawals', () => {
  // BTC: fee 0.0001, minimum 0.001, maximum 1 per request, 2 per UTC day.
  test('Withdrawal: requesting holds amount + fee; completing sends the amount out and keeps the fee', () => {
    const s = given({ alice: { funds: '3 BTC' } });
    s.when('alice withdraws 0.5 BTC to bc1qalice as w1').accepted();
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 2.4999    | 0.5001
    `);
    s.when('withdrawal w1 completes with tx 0xfeed').accepted();
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 2.4999    | 0
    `).thenFeeAccount('BTC 0.0001');
    assert.equal(s.engine.assetById.get('BTC')!.withdrawals.toBigInt(), 50_000_000n);
    s.when('withdrawal w1 completes with tx 0xfeed').rejectedWith('withdrawal_not_pending');
    s.when('withdrawal w1 fails').rejectedWith('withdrawal_not_pending');
  });

  test('Withdrawal: a failed or cancelled withdrawal returns everything it held', () => {
    const s = given({ alice: { funds: '3 BTC' }, bob: {} });
    s.when('alice withdraws 0.5 BTC to bc1qalice as w1').accepted();
    s.when('withdrawal w1 fails').accepted();
    s.when('alice withdraws 0.7 BTC to bc1qalice as w2').accepted();
    s.when('bob cancels withdrawal w2').rejectedWith('withdrawal_not_found');
    s.when('alice cancels withdrawal w2').accepted();
    s.when('alice cancels withdrawal w2').rejectedWith('withdrawal_not_found');
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 3         | 0
    `).thenFeeAccount('BTC 0');
  });

  test('Withdrawal: minimum and maximum per request', () => {
    const s = given({ alice: { funds: '3 BTC' } });
    s.when('alice withdraws 0.0009 BTC to bc1qalice').rejectedWith('withdrawal_below_min');
    s.when('alice withdraws 1.0001 BTC to bc1qalice').rejectedWith('withdrawal_above_max');
    s.when('alice withdraws 0.001 BTC to bc1qalice').accepted();
    s.when('alice withdraws 1 BTC to bc1qalice').accepted();
  });

  test('Withdrawal: the daily limit counts pending and completed withdrawals, frees cancelled ones, and resets at midnight UTC', () => {
    const s = given({ alice: { funds: '5 BTC' } });
    s.when('alice withdraws 1 BTC to bc1qalice as w1').accepted();
    s.when('alice withdraws 1 BTC to bc1qalice as w2').accepted();
    s.when('withdrawal w1 completes with tx 0x01').accepted();
    s.when('alice withdraws 0.001 BTC to bc1qalice').rejectedWith('withdrawal_daily_limit');
    s.when('alice cancels withdrawal w2').accepted();
    s.when('alice withdraws 1 BTC to bc1qalice').accepted();
    s.when('alice withdraws 0.001 BTC to bc1qalice').rejectedWith('withdrawal_daily_limit');
    s.at(Date.UTC(2025, 0, 7, 0, 0, 0));
    s.when('alice withdraws 1 BTC to bc1qalice').accepted();
  });

  test('Withdrawal: refused when disabled for the asset, short of amount + fee, or with a bad address or tx id', () => {
    const s = given({ alice: { funds: '0.5 BTC, 1 ETH' } });
    s.when('alice withdraws 0.5 ETH to 0xalice').rejectedWith('withdrawal_disabled');
    s.when('alice withdraws 0.5 BTC to bc1qalice').rejectedWith('insufficient_balance');
    s.apply({ type: 'RequestWithdrawal', userId: s.user('alice'), asset: 'BTC', amount: '100000', address: '' })
      .rejectedWith('withdrawal_address_invalid');
    s.when('alice withdraws 0.4999 BTC to bc1qalice as w1').accepted();
    s.apply({ type: 'CompleteWithdrawal', withdrawalId: s.withdrawal('w1'), txId: '' }).rejectedWith('tx_id_invalid');
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 0         | 0.5
      alice  | ETH   | 1         | 0
    `);
  });

  test('Withdrawal: a client id names one withdrawal per trader, for good, so a retry never withdraws twice', () => {
    const s = given({ alice: { funds: '3 BTC' }, bob: { funds: '1 BTC' } });
    s.when('alice withdraws 0.5 BTC to bc1qalice as w1').accepted();
    s.when('alice withdraws 0.5 BTC to bc1qalice as w1').rejectedWith('withdrawal_client_id_duplicate');
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 2.4999    | 0.5001
    `);
    s.when('withdrawal w1 completes with tx 0xfeed').accepted();
    s.when('alice withdraws 0.5 BTC to bc1qalice as w1').rejectedWith('withdrawal_client_id_duplicate');
    s.when('bob withdraws 0.5 BTC to bc1qbob as w1').accepted();
    s.thenBalances(`
      trader | asset | available | held
      alice  | BTC   | 2.4999    | 0
      bob    | BTC   | 0.4999    | 0.5001
    `);
  });
});

describe('Large balances', () => {
  test('Balances past 2^53 stay exact through trades and holds', () => {
    // 10^20 minor units each: 10^14 USDT and 10^12 BTC.
    const s = given({ alice: { funds: '1000000000000 BTC' }, dave: { funds: '100000000000000 USDT', takerFeePpm: 1_000 } });
    s.when('alice sells 999.9999 at 999999.99').accepted();
    s.when('dave buys 999.9999 at 999999.99').accepted();
    s.thenTrades('999999.99 × 999.9999 alice → dave').thenBalances(`
      trader | asset | available             | held
      alice  | BTC   | 999999999000.0001     | 0
      alice  | USDT  | 999999890.000001      | 0
      dave   | BTC   | 998.9999001           | 0
      dave   | USDT  | 99999000000109.999999 | 0
    `).thenFeeAccount('BTC 0.9999999');
    // Ten resting bids hold 9,999,998,900.00001 USDT: more minor units than 2^53.
    for (let i = 0; i < 10; i++) s.when('dave buys 999.9999 at 999999.99').accepted();
    s.thenBalances(`
      trader | asset | available             | held
      dave   | USDT  | 99989000001209.999989 | 9999998900.00001
    `);
    const last = s.last!.events.filter((e) => e.type === 'BalanceChanged').at(-1);
    assert.deepEqual(last?.type === 'BalanceChanged' ? [last.available, last.held] : [], [99_989_000_001_209_999_989n, 9_999_998_900_000_010n]);
    s.when('dave cancels all').accepted();
    s.thenBalances(`
      trader | asset | available             | held
      dave   | USDT  | 99999000000109.999999 | 0
    `);
  });

  test('Deposit: an asset\'s whole supply may not pass 10^28 minor units, so no account can ever overflow', () => {
    // USDT has scale 6: 10^28 minor units are 10^22 USDT, and dave's 1,000 are already out.
    const s = given({ alice: { funds: '1 BTC' }, dave: { funds: '1000 USDT' } });
    s.when('dave deposits 9999999999999999999000 USDT with id big').accepted();
    s.when('dave deposits 0.000001 USDT with id over').rejectedWith('balance_overflow');
    s.when('alice sells 1 at 100.00').accepted();
    s.when('dave buys 1 at 100.00').accepted();
    s.thenBalances(`
      trader | asset | available                      | held
      dave   | USDT  | 9999999999999999999900         | 0
    `);
    s.thenConserved();
  });
});

describe('Time', () => {
  test('Time: a command stamped earlier than the engine\'s time does not move it back', () => {
    const s = given({ alice: { funds: '1 BTC' }, dave: { funds: '1000 USDT' } });
    s.at(T0 + 60_000).when('alice sells 1 at 100.00').accepted();
    s.at(T0).when('dave buys 1 at 100.00').accepted();
    const stamps = s.last!.events.flatMap((e) => ('ts' in e ? [e.ts] : []));
    assert.ok(stamps.length >= 3);
    assert.deepEqual(new Set(stamps), new Set([T0 + 60_000]));
    assert.equal(s.engine.now, T0 + 60_000);
    s.at(T0 + 60_001).when('dave deposits 1 USDT with id late').accepted();
    assert.deepEqual(eventsOf(s.last!, 'DepositCredited').map((e) => e.ts), [T0 + 60_001]);
  });

  test('Time: a stale timestamp cannot reopen yesterday\'s withdrawal limit', () => {
    const s = given({ alice: { funds: '5 BTC' } });
    s.at(T0 + DAY_MS).when('alice withdraws 1 BTC to bc1qalice').accepted();
    s.when('alice withdraws 1 BTC to bc1qalice').accepted();
    s.at(T0).when('alice withdraws 1 BTC to bc1qalice').rejectedWith('withdrawal_daily_limit');
  });
});

describe('Validation', () => {
  const traders = { alice: { funds: '20 BTC' }, dave: { funds: '1000 USDT' } } as const;
  const order = (s: Scenario, fields: Partial<Record<string, unknown>>): Outcome => s.apply({
    type: 'PlaceOrder', userId: s.user('dave'), instId: 'BTC-USDT', side: 'buy', orderType: 'limit', priceTicks: 10_000, sizeLots: 10, ...fields,
  });

  test('Orders: price, size and type are checked against the instrument', () => {
    const s = given(traders).book(`
      bids | price  | asks
           | 100.00 | 1 alice
    `);
    order(s, { userId: 999 }).rejectedWith('user_not_found');
    order(s, { instId: 'DOGE-USDT' }).rejectedWith('instrument_not_found');
    order(s, { priceTicks: 0 }).rejectedWith('price_invalid');
    s.when('dave buys 1 at 1000000.01').rejectedWith('price_invalid');
    order(s, { sizeLots: 0 }).rejectedWith('size_invalid');
    order(s, { sizeLots: 10.5 }).rejectedWith('size_invalid');
    s.when('dave buys 0.0009 at 100.00').rejectedWith('size_below_min');
    s.when('dave buys 1000.0001 at 100.00').rejectedWith('size_above_max');
    order(s, { orderType: 'market', priceTicks: undefined, sizeLots: 10, quoteAmount: 1_000_000 }).rejectedWith('order_type_invalid');
    order(s, { orderType: 'stop' }).rejectedWith('order_type_invalid');
    order(s, { orderType: 'market', priceTicks: undefined, sizeLots: undefined, quoteAmount: 0 }).rejectedWith('amount_invalid');
    order(s, { stpMode: 'cancel_everything' }).rejectedWith('stp_mode_invalid');
    s.thenBook(`
      bids | price  | asks
           | 100.00 | 1 alice
    `);
  });

  test('Orders: a trader may have at most 10,000 open orders', () => {
    const s = given(traders);
    const events: Event[] = [];
    for (let i = 0; i < 10_000; i++) {
      const r = s.engine.apply({ type: 'PlaceOrder', userId: s.user('alice'), instId: 'BTC-USDT', side: 'sell', orderType: 'limit', priceTicks: 10_000 + i, sizeLots: 10 }, s.now, events);
      assert.ok(r.ok);
    }
    s.when('alice sells 0.001 at 50.00').rejectedWith('open_orders_limit');
    s.when('alice cancels all').accepted();
    s.when('alice sells 0.001 at 50.00').accepted();
  });

  test('Setup: users, assets and instruments are validated, and the fixed parts cannot change', () => {
    const s = given({ alice: {} });
    s.apply({ type: 'CreateUser', makerFeePpm: -10_001 }).rejectedWith('fee_invalid');
    s.apply({ type: 'SetUserConfig', userId: s.user('alice'), takerFeePpm: 100_001 }).rejectedWith('fee_invalid');
    s.apply({ type: 'SetUserConfig', userId: 999, takerFeePpm: 0 }).rejectedWith('user_not_found');
    s.apply({ type: 'CreateUser', stpMode: 'sometimes' as 'none' }).rejectedWith('stp_mode_invalid');
    const btc = { type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '0', withdrawMin: '1', withdrawMax: '1', withdrawDailyMax: '1', withdrawEnabled: true } as const;
    s.apply({ ...btc, scale: 19 }).rejectedWith('asset_invalid');
    s.apply({ ...btc, withdrawMin: '2' }).rejectedWith('asset_invalid');
    s.apply({ ...btc, scale: 6 }).rejectedWith('asset_immutable');
    const inst = { type: 'SetInstrument', instId: 'BTC-USDT', base: 'BTC', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.001', maxSz: '1000', maxPx: '1000000', bandBps: 500, state: 'live' } as const;
    s.apply({ ...inst, tickSz: '0' }).rejectedWith('instrument_invalid');
    s.apply({ ...inst, maxPx: '100000000' }).rejectedWith('instrument_invalid');
    s.apply({ ...inst, lotSz: '0.001' }).rejectedWith('instrument_immutable');
    s.apply({ ...inst, base: 'DOGE', instId: 'DOGE-USDT' }).rejectedWith('asset_not_found');
    s.apply({ type: 'SetInstrumentState', instId: 'DOGE-USDT', state: 'live' }).rejectedWith('instrument_not_found');
    s.apply({ type: 'SetInstrumentState', instId: 'BTC-USDT', state: 'halted' as 'live' }).rejectedWith('instrument_invalid');
    // A change to what may change is accepted: here, the minimum size.
    s.apply({ ...inst, minSz: '0.01' }).accepted();
  });

  test('Custody: every refusal of the chain commands (definitions, observations, withdrawals, transactions, sweeps, controls)', () => {
    const s = given({ alice: {}, bob: {} });
    const alice = s.user('alice');
    const hex = (n: number): string => '0x' + n.toString(16).padStart(64, '0');
    const addr = (b: string): string => '0x' + b.repeat(20);
    const HOT = addr('a1');
    const gas = { gasLimit: 21000, maxFeePerGas: '2000000000', maxPriorityFeePerGas: '1000000000' };
    s.apply({ type: 'SetAsset', asset: 'CETH', scale: 9, withdrawFee: '100', withdrawMin: '1', withdrawMax: '100000000000', withdrawDailyMax: '100000000000', withdrawEnabled: true }).accepted();
    s.apply({ type: 'SetAsset', asset: 'CUSD', scale: 6, withdrawFee: '100', withdrawMin: '1', withdrawMax: '100000000000', withdrawDailyMax: '100000000000', withdrawEnabled: true }).accepted();
    const chain = { type: 'SetChain', chain: 'dev', chainId: 31337, hotWallet: HOT, nonceStart: 0 } as const;
    s.apply({ ...chain, chainId: 0 }).rejectedWith('chain_invalid');
    s.apply(chain).accepted();
    const ceth = { type: 'SetChainAsset', asset: 'CETH', chain: 'dev', token: '', chainDecimals: 18, confirmations: 2, approvalThreshold: '5000000000', globalDailyMax: '8000000000', ...gas } as const;
    const cusd = { ...ceth, asset: 'CUSD', token: addr('cd'), chainDecimals: 6 } as const;
    s.apply({ ...cusd, chain: 'nowhere' }).rejectedWith('chain_not_found');
    s.apply({ ...cusd, confirmations: 0 }).rejectedWith('chain_asset_invalid');
    s.apply(cusd).accepted();
    s.apply({ type: 'RequestSweep', chain: 'dev', asset: 'CUSD', userId: alice }).rejectedWith('sweep_needs_native');
    s.apply(ceth).accepted();
    s.apply({ ...cusd, chainDecimals: 8 }).rejectedWith('chain_asset_immutable');
    const seen = (n: number, amount: string, confirmations: number, asset = 'CETH', logIndex = -1) => ({
      type: 'ObserveDeposit', chain: 'dev', txId: hex(n), logIndex, asset, userId: alice, address: addr('c3'), chainAmount: amount,
      blockNumber: 10, blockHash: hex(0x100 + n), confirmations,
    } as const);
    s.apply(seen(1, '20000000000000000000', 0, 'BTC')).rejectedWith('chain_asset_not_found');
    s.apply({ ...seen(1, '20000000000000000000', 0), txId: '0x12' }).rejectedWith('deposit_invalid');
    s.apply(seen(1, '999', 0)).rejectedWith('deposit_too_small');
    s.apply(seen(1, '20000000000000000000', 1)).accepted();
    s.apply(seen(1, '20000000000000000000', 1)).rejectedWith('deposit_unchanged');
    s.apply({ type: 'RevertDeposit', chain: 'dev', txId: hex(1), asset: 'CETH', logIndex: -1, blockHash: hex(0xbad) }).rejectedWith('deposit_not_pending');
    s.apply(seen(1, '20000000000000000000', 2)).accepted();
    s.apply({ type: 'CreditDeposit', depositId: 'operator-1', userId: alice, asset: 'CETH', amount: '1' }).rejectedWith('deposit_on_chain');
    s.apply(seen(2, '1000000000000000000', 2, 'CUSD', 0)).accepted();
    const withdraw = (amount: string, address = addr('e1')) => ({ type: 'RequestWithdrawal', userId: alice, asset: 'CETH', amount, address } as const);
    s.apply(withdraw('1000000000', HOT)).rejectedWith('withdrawal_to_own_address');
    s.apply({ type: 'SetWithdrawalAllowlist', userId: alice, addresses: ['0x1'] }).rejectedWith('allowlist_invalid');
    s.apply({ type: 'SetWithdrawalAllowlist', userId: alice, addresses: [addr('e1')] }).accepted();
    s.apply(withdraw('1000000000', addr('e2'))).rejectedWith('withdrawal_address_not_allowed');
    s.apply(withdraw('1000000000')).accepted();
    s.apply(withdraw('6000000000')).accepted();
    s.apply(withdraw('2000000000')).rejectedWith('withdrawal_global_daily_limit');
    s.apply({ type: 'ApproveWithdrawal', withdrawalId: 1 }).rejectedWith('withdrawal_not_awaiting_approval');
    s.apply({ type: 'CompleteWithdrawal', withdrawalId: 1, txId: 'tx' }).rejectedWith('withdrawal_on_chain');
    const observed = { type: 'ObserveChainTx', chain: 'dev', fromIndex: 0, nonce: 0, txHash: hex(0xf0), blockNumber: 20, status: 'success', confirmations: 2 } as const;
    s.apply({ ...observed, txHash: 'nope' }).rejectedWith('chain_tx_invalid');
    s.apply({ ...observed, confirmations: 1 }).rejectedWith('chain_tx_unconfirmed');
    s.apply({ type: 'ReplaceChainTx', chain: 'dev', fromIndex: 0, nonce: 0, feeLevel: 3 }).rejectedWith('chain_tx_replace_invalid');
    s.apply(observed).accepted();
    s.apply(observed).rejectedWith('chain_tx_not_open');
    s.apply({ ...chain, nonceStart: 4 }).rejectedWith('chain_immutable');
    s.apply({ type: 'RequestSweep', chain: 'dev', asset: 'CETH', userId: alice }).accepted();
    s.apply({ type: 'RequestSweep', chain: 'dev', asset: 'CETH', userId: alice }).rejectedWith('sweep_in_flight');
    s.apply({ type: 'RequestSweep', chain: 'dev', asset: 'CETH', userId: s.user('bob') }).rejectedWith('sweep_too_small');
    const freeze = { type: 'SetWithdrawalsFrozen', chain: 'dev', frozen: true, reason: 'drill' } as const;
    s.apply(freeze).accepted();
    s.apply(freeze).rejectedWith('freeze_unchanged');
    s.apply(withdraw('1')).rejectedWith('withdrawals_frozen');
    // Deposits waiting for confirmations are bounded in all.
    const events: Event[] = [];
    for (let n = 0; s.engine.custody.pending.size < Limits.pendingDepositsMax; n++) {
      const r = s.engine.apply(seen(1_000 + n, '1000000000', 0), s.now, events);
      assert.ok(r.ok);
    }
    s.apply(seen(999_999, '1000000000', 0)).rejectedWith('pending_deposits_limit');
  });

  test('Proof of reserves: a report is requested at a log position by a valid id', () => {
    const s = given({ alice: {} });
    s.apply({ type: 'RequestLiabilitiesReport', reportId: 'not an id!' }).rejectedWith('report_id_invalid');
    s.apply({ type: 'RequestLiabilitiesReport', reportId: 'por-2026-12-02' }).accepted();
  });
});

/**
 * Codes the engine cannot produce, each with the reason. Anything else in rejectCodes must be
 * produced by a scenario above.
 */
const notFromEngine = new Map<string, string>([
  ['api_key_exists', 'API keys are applied by the replica\'s key store beside the engine, not by Engine.apply.'],
  ['command_expired', 'The replica refuses a submission that reached the log after its deadline, before the engine sees it (test/replica.test.ts).'],
]);

test('Coverage: every rejection code the engine can produce is produced by some scenario', () => {
  const published = rejectCodes.map((r) => r.code as string);
  for (const code of notFromEngine.keys()) {
    assert.ok(published.includes(code), `${code} is no longer published; drop its exemption`);
    assert.ok(!codesSeen.has(code), `${code} was produced, so it is not unreachable`);
  }
  assert.deepEqual(published.filter((code) => !codesSeen.has(code) && !notFromEngine.has(code)), []);
});
