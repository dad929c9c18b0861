// The commands bench:log and bench:apply send: a market and funded users, then limit orders
// alternating buy and sell at one price (as bench/load.ts sends), so every order rests and the
// next one takes it: each order is a trade.

import type { Command } from '../src/core/index.js';
import { devAssets, devInstruments } from '../src/server/dev.js';

const users = 64;

/** The market, funded users, then the orders the run sends. */
export function setup(): Command[] {
  const cmds: Command[] = [...devAssets, ...devInstruments];
  for (let u = 0; u < users; u++) cmds.push({ type: 'CreateUser' });
  for (let u = 1; u <= users; u++) {
    cmds.push({ type: 'CreditDeposit', depositId: `seed-${u}-usdt`, userId: u, asset: 'USDT', amount: '1000000000000000' });
    cmds.push({ type: 'CreditDeposit', depositId: `seed-${u}-btc`, userId: u, asset: 'BTC', amount: '10000000000000' });
  }
  return cmds;
}

export function orders(count: number): Command[] {
  return Array.from({ length: count }, (_, n): Command => ({
    type: 'PlaceOrder', userId: 1 + (n % users), instId: 'BTC-USDT', side: n % 2 === 0 ? 'buy' : 'sell', orderType: 'limit',
    priceTicks: 500_000, sizeLots: 10, clOrdId: `b${n}`,
  }));
}
