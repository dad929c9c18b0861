// Checks every invariant the engine promises, from scratch, and lists what is broken. Slow
// (it walks all state) and pure: tests call it after every command; a replica can call it at
// checkpoints. An empty list means the state is sound.

import type { Engine } from './engine.js';
import type { Account } from './model.js';

export function audit(engine: Engine): string[] {
  const broken: string[] = [];
  const held = new Map<Account, bigint>();
  const addHeld = (account: Account, amount: bigint): void => {
    held.set(account, (held.get(account) ?? 0n) + amount);
  };

  // Books: ordered levels, honest totals, never crossed; orders within their size and holding
  // exactly what their remaining size needs.
  let resting = 0;
  for (const inst of engine.instruments.values()) {
    for (const side of [inst.bids, inst.asks]) {
      let count = 0;
      let previous: number | undefined;
      for (const level of side.levels) {
        if (previous !== undefined && !side.better(level.priceTicks, previous)) broken.push(`${inst.instId}: levels out of order at ${level.priceTicks}`);
        previous = level.priceTicks;
        let lots = 0;
        let n = 0;
        for (let o = level.head; o !== null; o = o.next) {
          n += 1;
          const remaining = o.sizeLots - o.filledLots;
          lots += remaining;
          if (o.filledLots < 0 || remaining <= 0) broken.push(`order ${o.id}: filled ${o.filledLots} of ${o.sizeLots} yet resting`);
          if (o.priceTicks !== level.priceTicks) broken.push(`order ${o.id}: price ${o.priceTicks} on level ${level.priceTicks}`);
          if (engine.orders.get(o.id) !== o) broken.push(`order ${o.id}: resting but not indexed`);
          const expected = o.side === 'buy' ? o.priceTicks * remaining * inst.quotePerTickLot : remaining * inst.lotBase;
          if (o.reserved !== expected) broken.push(`order ${o.id}: reserves ${o.reserved}, needs ${expected}`);
          const account = o.user.accounts[(o.side === 'buy' ? inst.quote : inst.base).index];
          if (account === undefined) broken.push(`order ${o.id}: no account for its hold`);
          else addHeld(account, BigInt(o.reserved));
        }
        if (n === 0) broken.push(`${inst.instId}: empty level ${level.priceTicks}`);
        if (n !== level.count || lots !== level.totalLots) broken.push(`${inst.instId}: level ${level.priceTicks} totals ${level.count}/${level.totalLots}, actual ${n}/${lots}`);
        count += n;
      }
      if (count !== side.orderCount) broken.push(`${inst.instId}: side counts ${side.orderCount}, actual ${count}`);
      resting += count;
    }
    const bid = inst.bids.best();
    const ask = inst.asks.best();
    if (bid !== undefined && ask !== undefined && bid.priceTicks >= ask.priceTicks) {
      broken.push(`${inst.instId}: book crossed, bid ${bid.priceTicks} >= ask ${ask.priceTicks}`);
    }
  }
  if (engine.orders.size !== resting) broken.push(`order index holds ${engine.orders.size}, books hold ${resting}`);

  for (const w of engine.withdrawals.values()) {
    const account = w.user.accounts[w.asset.index];
    if (account === undefined) broken.push(`withdrawal ${w.id}: no account`);
    else addHeld(account, w.amount + w.fee);
  }

  // Ledger: no negative user balance, holds match what reserves them, every asset sums to zero.
  const sums = engine.assets.map((a) => a.fees.toBigInt() + a.deposits.toBigInt() + a.withdrawals.toBigInt());
  let listed = 0;
  for (const user of engine.users) {
    if (user === undefined) continue;
    listed += user.openCount;
    for (const account of user.accounts) {
      if (account === undefined) continue;
      const available = account.available.toBigInt();
      const h = account.held.toBigInt();
      if (available < 0n || h < 0n) broken.push(`user ${user.id} ${account.asset.id}: negative balance ${available}/${h}`);
      const reserved = held.get(account) ?? 0n;
      if (h !== reserved) broken.push(`user ${user.id} ${account.asset.id}: held ${h}, reserved by orders and withdrawals ${reserved}`);
      sums[account.asset.index] = sums[account.asset.index]! + available + h;
    }
  }
  if (listed !== resting) broken.push(`open lists hold ${listed}, books hold ${resting}`);
  engine.assets.forEach((asset, i) => {
    if (sums[i] !== 0n) broken.push(`${asset.id}: ledger sums to ${sums[i]!}, not 0`);
  });
  return broken;
}
