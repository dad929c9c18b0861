// The log the golden test replays, as a program: a few hundred records that exercise every kind
// of command the replica applies (users, API keys, deposits, each withdrawal ending, every order
// type, amends, cancels, self-trade prevention, instrument states), signed submissions, a replay
// and an expired submission, written by two clouds whose clocks differ. Only
// scripts/record-golden.mjs runs it: the test replays the recorded bytes, never this program, so
// a change here changes nothing until the fixture is recorded again.

import type { OrderType, PlaceOrder, Side, StpMode } from '../../src/core/index.js';
import type { LogBatch, SignedBy, Submission } from '../../src/replica/index.js';

/** A command as a record carries it (engine commands and the API key commands). */
type LogCommand = Submission['cmds'][number];
/** One submission to write: its commands, or its commands with a signature or a deadline of its own. */
type Sub = readonly LogCommand[] | { readonly cmds: readonly LogCommand[]; readonly sig?: SignedBy; readonly deadline?: number };

/** 2027-01-15 07:59:00 UTC: the first record's time (a minute before a UTC+8 day starts). */
export const GOLDEN_T0 = Date.UTC(2027, 0, 15, 7, 59, 0);
/** How long a submission may wait before it applies, as a gateway's deadline gives it. */
const DEADLINE_MS = 5_000;
/** Random trading records after the scripted ones. */
const RANDOM_RECORDS = 260;

/**
 * A small, fixed pseudo-random sequence (a 32-bit LCG): the log must be the same every time it
 * is generated, and needs no library.
 */
class Lcg {
  constructor(private state: number) {}
  next(): number {
    this.state = (Math.imul(this.state, 1_664_525) + 1_013_904_223) >>> 0;
    return this.state;
  }
  below(n: number): number {
    return this.next() % n;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)]!;
  }
}

class LogWriter {
  readonly records: LogBatch[] = [];
  private rid = 0;
  /** Each cloud's clock: gcp runs 300 ms ahead of aws, and sometimes jumps further. */
  private nowMs = GOLDEN_T0;

  /** Moves both clocks on. */
  tick(ms: number): void {
    this.nowMs += ms;
  }

  /** One record from `cloud` holding one submission per entry of `subs`. */
  record(cloud: 'aws' | 'gcp', subs: readonly Sub[], aheadMs = 0): void {
    const ts = this.nowMs + (cloud === 'gcp' ? 300 : 0) + aheadMs;
    const items: Submission[] = subs.map((s) => {
      this.rid += 1;
      const sub = 'cmds' in s ? s : { cmds: s, deadline: undefined, sig: undefined };
      const deadline = sub.deadline ?? ts + DEADLINE_MS;
      return sub.sig === undefined ? { rid: this.rid, deadline, cmds: sub.cmds } : { rid: this.rid, deadline, cmds: sub.cmds, sig: sub.sig };
    });
    this.records.push({ ts, origin: `gw-${cloud}-1`, cloud, items });
  }

  /** Time as the next aws record will carry it. */
  get now(): number {
    return this.nowMs;
  }
}

const sig = (name: string, ts: number): SignedBy => ({ d: name.padEnd(22, 'A').slice(0, 22), ts });

const BTC = 'BTC-USDT';
const ETH = 'ETH-USDT';

/** PlaceOrder commands generated so far: the engine numbers orders in the same order, rejected ones included. */
let placed = 0;
/** Who placed each generated order, and on which instrument (index orderId - 1), so cancels and amends can find it. */
const owners: { userId: number; instId: string }[] = [];

function order(
  userId: number, instId: string, side: Side, orderType: OrderType, priceTicks: number | undefined, sizeLots: number | undefined,
  extra: { clOrdId?: string; stpMode?: StpMode; quoteAmount?: number } = {},
): PlaceOrder {
  placed += 1;
  owners.push({ userId, instId });
  // Optional fields are absent, not undefined, as a gateway writes them.
  return {
    type: 'PlaceOrder', userId, instId, side, orderType,
    ...(priceTicks === undefined ? {} : { priceTicks }),
    ...(sizeLots === undefined ? {} : { sizeLots }),
    ...(extra.quoteAmount === undefined ? {} : { quoteAmount: extra.quoteAmount }),
    ...(extra.clOrdId === undefined ? {} : { clOrdId: extra.clOrdId }),
    ...(extra.stpMode === undefined ? {} : { stpMode: extra.stpMode }),
  };
}

/** An order in a submission the guard refuses whole: it never reaches the engine, so it takes no order id. */
function refused(o: PlaceOrder): PlaceOrder {
  placed -= 1;
  owners.pop();
  return o;
}

/** The golden log's records, in log order. */
export function goldenLog(): LogBatch[] {
  placed = 0;
  owners.length = 0;
  const w = new LogWriter();

  // Venue: assets and instruments, as an operator sets them (one record each, from aws).
  w.record('aws', [[
    { type: 'SetAsset', asset: 'BTC', scale: 8, withdrawFee: '10000', withdrawMin: '100000', withdrawMax: '100000000', withdrawDailyMax: '200000000', withdrawEnabled: true },
    { type: 'SetAsset', asset: 'USDT', scale: 6, withdrawFee: '1000000', withdrawMin: '10000000', withdrawMax: '10000000000', withdrawDailyMax: '20000000000', withdrawEnabled: true },
    { type: 'SetAsset', asset: 'ETH', scale: 8, withdrawFee: '0', withdrawMin: '1', withdrawMax: '100000000000', withdrawDailyMax: '100000000000', withdrawEnabled: false },
  ]]);
  w.tick(10);
  w.record('gcp', [[
    { type: 'SetInstrument', instId: BTC, base: 'BTC', quote: 'USDT', tickSz: '0.01', lotSz: '0.0001', minSz: '0.001', maxSz: '1000', maxPx: '1000000', bandBps: 500, state: 'live' },
    { type: 'SetInstrument', instId: ETH, base: 'ETH', quote: 'USDT', tickSz: '0.01', lotSz: '0.001', minSz: '0.001', maxSz: '10000', maxPx: '100000', bandBps: 500, state: 'live' },
  ]]);

  // Users 1..5 with different fees (one with a maker rebate) and self-trade modes.
  w.tick(10);
  w.record('aws', [
    [{ type: 'CreateUser', makerFeePpm: 800, takerFeePpm: 1_000 }],
    [{ type: 'CreateUser', makerFeePpm: -250, takerFeePpm: 2_500, stpMode: 'cancel_maker' }],
    [{ type: 'CreateUser', makerFeePpm: 0, takerFeePpm: 1_000, stpMode: 'cancel_taker' }],
  ]);
  w.tick(10);
  w.record('gcp', [[{ type: 'CreateUser', stpMode: 'cancel_both' }, { type: 'CreateUser', makerFeePpm: 2_000, takerFeePpm: 3_333 }]]);
  w.tick(10);
  w.record('aws', [[{ type: 'SetUserConfig', userId: 5, makerFeePpm: 1_500, takerFeePpm: 3_333, stpMode: 'none' }]]);

  // API keys: created for two users, one revoked, one duplicate refused, one for an unknown user.
  const key = (userId: number, apiKey: string): LogCommand => ({
    type: 'CreateApiKey', userId, apiKey, passphraseHash: `ph-${apiKey}`, label: `key ${apiKey}`, perms: ['read_only', 'trade'], ips: userId === 1 ? ['127.0.0.1'] : [],
  });
  w.tick(10);
  w.record('gcp', [[key(1, 'k-0001'), key(2, 'k-0002'), key(3, 'k-0003')], [key(2, 'k-0002')], [key(99, 'k-0099')]]);
  w.tick(10);
  w.record('aws', [[{ type: 'RevokeApiKey', apiKey: 'k-0003' }]]);

  // Deposits: every user funded in BTC, USDT and ETH; one deposit id used twice.
  w.tick(10);
  for (let userId = 1; userId <= 5; userId++) {
    w.record(userId % 2 === 0 ? 'gcp' : 'aws', [[
      { type: 'CreditDeposit', depositId: `dep-btc-${userId}`, userId, asset: 'BTC', amount: String(500_000_000 * userId) },
      { type: 'CreditDeposit', depositId: `dep-usdt-${userId}`, userId, asset: 'USDT', amount: String(250_000_000_000 + 1_234_567 * userId) },
      { type: 'CreditDeposit', depositId: `dep-eth-${userId}`, userId, asset: 'ETH', amount: String(3_000_000_000 * userId) },
    ]]);
    w.tick(5);
  }
  w.record('aws', [[{ type: 'CreditDeposit', depositId: 'dep-btc-1', userId: 1, asset: 'BTC', amount: '1' }]]);

  // Withdrawals: requested then completed, failed, cancelled; one over the limit; ETH disabled.
  w.tick(10);
  w.record('aws', [[
    { type: 'RequestWithdrawal', userId: 1, asset: 'BTC', amount: '1000000', address: 'bc1qgoldenone', clientId: 'wda' },
    { type: 'RequestWithdrawal', userId: 2, asset: 'USDT', amount: '50000000', address: 'TGoldenTwo' },
    { type: 'RequestWithdrawal', userId: 3, asset: 'BTC', amount: '200000', address: 'bc1qgoldenthree', clientId: 'wdc' },
    { type: 'RequestWithdrawal', userId: 3, asset: 'BTC', amount: '900000000', address: 'bc1qtoomuch' },
    { type: 'RequestWithdrawal', userId: 4, asset: 'ETH', amount: '100', address: '0xdisabled' },
  ]]);
  w.tick(10);
  w.record('gcp', [[
    { type: 'CompleteWithdrawal', withdrawalId: 1, txId: 'tx-golden-1' },
    { type: 'FailWithdrawal', withdrawalId: 2, reason: 'address screening' },
    { type: 'CancelWithdrawal', userId: 3, withdrawalId: 3 },
    { type: 'CancelWithdrawal', userId: 3, withdrawalId: 1 },
    { type: 'CompleteWithdrawal', withdrawalId: 2, txId: 'tx-too-late' },
  ]]);

  // A book, then every order type against it (prices in ticks of 0.01 USDT, sizes in lots of 0.0001 BTC).
  w.tick(1_000);
  w.record('aws', [
    [order(1, BTC, 'sell', 'limit', 3_000_000, 50, { clOrdId: 'ask1' }), order(1, BTC, 'sell', 'limit', 3_001_000, 80, { clOrdId: 'ask2' })],
    [order(2, BTC, 'buy', 'limit', 2_999_000, 60, { clOrdId: 'bid1' }), order(2, BTC, 'buy', 'limit', 2_998_000, 100, { clOrdId: 'bid2' })],
  ]);
  w.tick(200);
  w.record('gcp', [
    [order(3, BTC, 'buy', 'ioc', 3_000_500, 70, { clOrdId: 'ioc1' })],
    [order(4, BTC, 'buy', 'fok', 3_001_000, 500, { clOrdId: 'fokno' })],
    [order(4, BTC, 'buy', 'fok', 3_001_000, 20, { clOrdId: 'fokyes' })],
  ]);
  w.tick(200);
  w.record('aws', [
    [order(5, BTC, 'sell', 'post_only', 2_999_000, 10, { clOrdId: 'potakes' })],
    [order(5, BTC, 'sell', 'post_only', 3_005_000, 10, { clOrdId: 'porests' })],
    [order(3, BTC, 'buy', 'market', undefined, undefined, { quoteAmount: 90_000_000, clOrdId: 'mktquote' })],
    [order(4, BTC, 'sell', 'market', undefined, 30, { clOrdId: 'mktbase' })],
  ]);

  // Amends: price moves (priority lost), size down (priority kept), a failing amend that cancels.
  w.tick(200);
  w.record('gcp', [[
    order(1, BTC, 'sell', 'limit', 3_010_000, 40, { clOrdId: 'amendme' }),
    { type: 'AmendOrder', userId: 1, instId: BTC, clOrdId: 'amendme', newPriceTicks: 3_009_000 },
    { type: 'AmendOrder', userId: 1, instId: BTC, clOrdId: 'amendme', newSizeLots: 30 },
    { type: 'AmendOrder', userId: 1, instId: BTC, clOrdId: 'amendme', newSizeLots: 0, cancelOnFail: true },
    { type: 'AmendOrder', userId: 1, instId: BTC, orderId: 999_999, newSizeLots: 5 },
  ]]);

  // Cancels: by id, by client id, one unknown, and CancelAll.
  w.tick(200);
  w.record('aws', [[
    order(2, ETH, 'buy', 'limit', 150_000, 1_000, { clOrdId: 'ethb1' }),
    order(2, ETH, 'buy', 'limit', 149_900, 1_000, { clOrdId: 'ethb2' }),
    order(2, ETH, 'buy', 'limit', 149_800, 1_000),
    { type: 'CancelOrder', userId: 2, instId: ETH, clOrdId: 'ethb1' },
    { type: 'CancelOrder', userId: 2, instId: ETH, clOrdId: 'no-such' },
    { type: 'CancelAll', userId: 2, instId: ETH },
  ]]);

  // Self-trade prevention: a user's resting order and its own incoming one; users 2, 3 and 4 carry
  // their mode from CreateUser (cancel_maker, cancel_taker, cancel_both), user 5 gives it on the order.
  w.tick(200);
  for (const [userId, mode] of [[2, 'cancel_maker'], [3, 'cancel_taker'], [4, 'cancel_both'], [5, 'cancel_maker']] as const) {
    w.record(userId % 2 === 0 ? 'aws' : 'gcp', [[
      order(userId, ETH, 'sell', 'limit', 160_000 + userId, 500, { clOrdId: `stprest${userId}` }),
      order(userId, ETH, 'buy', 'limit', 160_000 + userId, 300, userId === 5 ? { stpMode: mode, clOrdId: 'stp5' } : { clOrdId: `stpin${userId}` }),
    ]]);
    w.tick(50);
  }

  // Instrument states: suspended (orders refused), cancel_only, post_only, then live again.
  w.tick(200);
  w.record('aws', [[{ type: 'SetInstrumentState', instId: ETH, state: 'suspended' }]]);
  w.record('gcp', [[order(1, ETH, 'buy', 'limit', 150_000, 10), { type: 'CancelAll', userId: 5 }]]);
  w.tick(50);
  w.record('aws', [[{ type: 'SetInstrumentState', instId: ETH, state: 'cancel_only' }, order(1, ETH, 'buy', 'limit', 150_000, 10), { type: 'CancelAll', userId: 3, instId: ETH }]]);
  w.tick(50);
  w.record('gcp', [[{ type: 'SetInstrumentState', instId: ETH, state: 'post_only' }, order(1, ETH, 'buy', 'limit', 150_000, 10), order(1, ETH, 'buy', 'post_only', 150_000, 10, { clOrdId: 'poinpo' }), order(1, ETH, 'buy', 'ioc', 150_000, 10), order(1, ETH, 'buy', 'limit', 999_999, 10)]]);
  w.tick(50);
  w.record('aws', [[{ type: 'SetInstrumentState', instId: ETH, state: 'live' }, { type: 'SetInstrumentState', instId: 'NOPE-USDT', state: 'live' }]]);

  // Signed submissions: applied, replayed through the other cloud (refused), and one whose
  // request time is far behind the log's time (refused as expired).
  w.tick(100);
  w.record('aws', [{ cmds: [order(1, BTC, 'buy', 'limit', 2_990_000, 10, { clOrdId: 'signed1' })], sig: sig('golden-signed-one', w.now) }]);
  w.tick(10);
  w.record('gcp', [
    { cmds: [refused(order(1, BTC, 'buy', 'limit', 2_990_000, 10, { clOrdId: 'signed1' }))], sig: sig('golden-signed-one', w.now - 10) },
    { cmds: [order(2, BTC, 'sell', 'limit', 3_020_000, 10)], sig: sig('golden-signed-two', w.now) },
    { cmds: [refused(order(2, BTC, 'sell', 'limit', 3_020_000, 10))], sig: sig('golden-signed-old', w.now - 60_000) },
  ]);

  // An expired submission: its deadline passed before its record applied.
  w.tick(100);
  w.record('aws', [{ cmds: [refused(order(3, BTC, 'buy', 'limit', 2_980_000, 10))], deadline: w.now - 1 }, [order(3, BTC, 'buy', 'limit', 2_980_000, 11)]]);

  // gcp's clock jumps 2 s ahead: its record applies at no more than aws's time plus the bound.
  w.tick(100);
  w.record('gcp', [[order(4, BTC, 'sell', 'limit', 3_003_000, 10)]], 2_000);
  w.tick(10);
  w.record('aws', [[order(5, BTC, 'buy', 'ioc', 3_003_000, 10)]]);

  // Random trading around the mid, crossing minute and UTC+8 day boundaries, with amends and cancels.
  const rng = new Lcg(20_270_115);
  const types = ['limit', 'limit', 'limit', 'ioc', 'fok', 'post_only', 'market'] as const;
  for (let i = 0; i < RANDOM_RECORDS; i++) {
    w.tick(500 + rng.below(1_500));
    const cmds: LogCommand[] = [];
    const n = 1 + rng.below(3);
    for (let k = 0; k < n; k++) {
      const userId = 1 + rng.below(5);
      const instId = rng.below(4) === 0 ? ETH : BTC;
      const mid = instId === BTC ? 3_000_000 : 155_000;
      const roll = rng.below(10);
      if (roll < 7) {
        const side = rng.below(2) === 0 ? 'buy' : 'sell';
        const orderType = rng.pick(types);
        const price = mid + (rng.below(41) - 20) * (instId === BTC ? 500 : 100);
        const size = 10 + rng.below(90);
        if (orderType === 'market') {
          cmds.push(side === 'buy' && rng.below(2) === 0
            ? order(userId, instId, side, 'market', undefined, undefined, { quoteAmount: 1_000_000 + rng.below(50_000_000) })
            : order(userId, instId, side, 'market', undefined, size));
        } else {
          cmds.push(order(userId, instId, side, orderType, price, size, rng.below(3) === 0 ? { clOrdId: `r${i}k${k}` } : {}));
        }
      } else if (roll < 9) {
        // Mostly one of the latest orders, by its owner; now and then someone else's, which is not found.
        const orderId = Math.max(1, placed - rng.below(25));
        const owner = rng.below(8) === 0 ? { userId, instId } : owners[orderId - 1]!;
        cmds.push(roll < 8
          ? { type: 'AmendOrder', ...owner, orderId, ...(rng.below(3) === 0 ? { newPriceTicks: mid + (rng.below(21) - 10) * 100 } : { newSizeLots: 5 + rng.below(50) }) }
          : { type: 'CancelOrder', ...owner, orderId });
      } else {
        cmds.push({ type: 'CreditDeposit', depositId: `rdep-${i}-${k}`, userId, asset: rng.pick(['BTC', 'USDT', 'ETH']), amount: String(1 + rng.below(10_000_000)) });
      }
    }
    w.record(rng.below(2) === 0 ? 'aws' : 'gcp', [cmds]);
  }

  // Custody on a chain: a native coin and a token, deposits pending, reverted, credited (twice
  // observed), withdrawals assigned nonces or held for approval, a replacement, settlements that
  // succeed and revert, sweeps, a freeze and an allowlist.
  const hex = (n: number): string => '0x' + n.toString(16).padStart(64, '0');
  const addr = (b: string): string => '0x' + b.repeat(20);
  const gas = { gasLimit: 21000, maxFeePerGas: '2000000000', maxPriorityFeePerGas: '1000000000' };
  const seen = (n: number, asset: string, logIndex: number, chainAmount: string, confirmations: number, block = n): LogCommand => ({
    type: 'ObserveDeposit', chain: 'golden', txId: hex(n), logIndex, asset, userId: 1 + (n % 5), address: addr('1' + String(n % 5)),
    chainAmount, blockNumber: 100 + block, blockHash: hex(0x1000 + block), confirmations,
  });
  w.tick(1_000);
  w.record('aws', [[
    { type: 'SetAsset', asset: 'CETH', scale: 9, withdrawFee: '100000', withdrawMin: '1000000', withdrawMax: '50000000000', withdrawDailyMax: '100000000000', withdrawEnabled: true },
    { type: 'SetAsset', asset: 'CUSD', scale: 6, withdrawFee: '1000000', withdrawMin: '1000000', withdrawMax: '50000000000', withdrawDailyMax: '100000000000', withdrawEnabled: true },
    { type: 'SetChain', chain: 'golden', chainId: 31337, hotWallet: addr('ab'), nonceStart: 2 },
    { type: 'SetChainAsset', asset: 'CETH', chain: 'golden', token: '', chainDecimals: 18, confirmations: 2, approvalThreshold: '5000000000', globalDailyMax: '90000000000', ...gas },
    { type: 'SetChainAsset', asset: 'CUSD', chain: 'golden', token: addr('cd'), chainDecimals: 6, confirmations: 3, approvalThreshold: '5000000000', globalDailyMax: '90000000000', ...gas, gasLimit: 65000 },
    { type: 'CreditDeposit', depositId: 'dep-ceth-refused', userId: 1, asset: 'CETH', amount: '5' },
  ]]);
  w.tick(10);
  w.record('gcp', [[
    seen(1, 'CETH', -1, '20000000000000000000', 1), seen(2, 'CUSD', 4, '300000000', 1), seen(3, 'CETH', -1, '1000000000000000000', 1),
  ]]);
  w.tick(10);
  w.record('aws', [[
    seen(1, 'CETH', -1, '20000000000000000000', 2), seen(1, 'CETH', -1, '20000000000000000000', 2), seen(2, 'CUSD', 4, '300000000', 3),
    { type: 'RevertDeposit', chain: 'golden', txId: hex(3), asset: 'CETH', logIndex: -1, blockHash: hex(0x1003) },
    seen(3, 'CETH', -1, '1000000000000000000', 5, 9),
  ]]);
  w.tick(10);
  w.record('gcp', [[
    { type: 'RequestWithdrawal', userId: 2, asset: 'CETH', amount: '1000000000', address: addr('ef') },
    { type: 'RequestWithdrawal', userId: 2, asset: 'CETH', amount: '6000000000', address: addr('ef') },
    { type: 'RequestWithdrawal', userId: 3, asset: 'CUSD', amount: '100000000', address: addr('ef') },
    { type: 'SetWithdrawalAllowlist', userId: 3, addresses: [addr('ee')] },
    { type: 'RequestWithdrawal', userId: 3, asset: 'CUSD', amount: '1000000', address: addr('ef') },
  ]]);
  w.tick(10);
  w.record('aws', [[
    { type: 'ApproveWithdrawal', withdrawalId: 999 },
    { type: 'ReplaceChainTx', chain: 'golden', fromIndex: 0, nonce: 2, feeLevel: 1 },
    { type: 'ObserveChainTx', chain: 'golden', fromIndex: 0, nonce: 2, txHash: hex(0x2002), blockNumber: 130, status: 'success', confirmations: 1 },
    { type: 'ObserveChainTx', chain: 'golden', fromIndex: 0, nonce: 2, txHash: hex(0x2002), blockNumber: 130, status: 'success', confirmations: 2 },
    { type: 'ObserveChainTx', chain: 'golden', fromIndex: 0, nonce: 3, txHash: hex(0x2003), blockNumber: 131, status: 'reverted', confirmations: 3 },
    { type: 'RequestSweep', chain: 'golden', asset: 'CETH', userId: 2 },
    { type: 'RequestSweep', chain: 'golden', asset: 'CUSD', userId: 3 },
    { type: 'RequestSweep', chain: 'golden', asset: 'CUSD', userId: 3 },
    { type: 'SetWithdrawalsFrozen', chain: 'golden', frozen: true, reason: 'golden: CETH short' },
    { type: 'RequestLiabilitiesReport', reportId: 'golden-por-1' },
    { type: 'RequestLiabilitiesReport', reportId: 'bad id' },
    { type: 'RequestWithdrawal', userId: 2, asset: 'CETH', amount: '1000000000', address: addr('ef') },
  ]]);

  // Closing: a withdrawal after trading, everyone's orders cancelled.
  w.tick(1_000);
  w.record('aws', [[{ type: 'RequestWithdrawal', userId: 5, asset: 'USDT', amount: '20000000', address: 'TGoldenFive', clientId: 'wdlast' }]]);
  w.tick(10);
  w.record('gcp', [[1, 2, 3, 4, 5].map((userId): LogCommand => ({ type: 'CancelAll', userId }))]);
  return w.records;
}
