// One cloud's load during an outage drill: a process (inside the cloud's network namespace when
// there are namespaces) that sends signed orders, cancels, test deposits and withdrawal
// requests through a failover client that prefers its own cloud's gateway, and prints one JSON
// line per acknowledged (or finally failed) operation, for the drill to measure and check.
// With a chain (custody on), its withdrawals are real: USDT and ETH, in turn, to the drill's
// external address for this cloud, each with a client id so that a retry after a failover meets
// the first attempt's withdrawal instead of making a second, and one more worker does nothing but
// withdraw, four times a second, so that withdrawals are in flight whenever a cloud goes out;
// its test deposits are then of BTC,
// the one dev asset on no chain (the engine credits a chain's assets only from the chain).
// It stops after its operation budget or time budget, or when its standard input closes.

import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { FailoverClient, FailoverError, type Credentials } from './client.js';

export interface DrillClientConfig {
  readonly cloud: string;
  readonly endpoints: readonly string[];
  /** Admin token of each endpoint's node (test deposits go through the operator route). */
  readonly adminTokens: readonly string[];
  readonly traders: readonly (Credentials & { userId: number })[];
  readonly workers: number;
  readonly opsMax: number;
  readonly durationMs: number;
  /** Custody on: where this cloud's withdrawals go (an address nobody else pays). */
  readonly withdrawTo?: string;
}

/** What a withdrawal of the drill sends: the dev assets' minimum-sized amounts, with their fixed fees. */
const plainWithdrawal = { ccy: 'USDT', amt: '10', chain: 'USDT-ERC20', fee: '1' } as const;
const chainWithdrawals = [plainWithdrawal, { ccy: 'ETH', amt: '0.01', chain: 'ETH-ERC20', fee: '0.001' }] as const;
/** The withdrawal worker's pace (custody on): one request per this many ms, per cloud. */
const WITHDRAW_EVERY_MS = 250;

export type DrillOp = 'order' | 'cancel' | 'deposit' | 'withdraw';

/** One line of a drill client's output. */
export interface DrillAck {
  readonly cloud: string;
  readonly worker: number;
  readonly op: DrillOp;
  /** ms since the epoch when the operation was first sent, and when its final answer arrived. */
  readonly s: number;
  readonly t: number;
  /** clOrdId, depositId or withdrawal clientId; for a cancel, the ordId. */
  readonly id: string;
  readonly userId: number;
  /** True when the exchange acknowledged the operation as done. */
  readonly ok: boolean;
  readonly code: string;
  readonly ordId?: string;
  readonly endpoint: string;
  readonly attempts: number;
  readonly recovered?: boolean;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : '');

function print(line: DrillAck): void {
  process.stdout.write(JSON.stringify(line) + '\n');
}

async function adminDeposit(config: DrillClientConfig, userId: number, depositId: string, deadline: number): Promise<{ ok: boolean; code: string; endpoint: string; attempts: number }> {
  let attempts = 0;
  let i = 0;
  let last = '';
  while (Date.now() < deadline) {
    const endpoint = config.endpoints[i % config.endpoints.length]!;
    const token = config.adminTokens[i % config.endpoints.length]!;
    i += 1;
    attempts += 1;
    try {
      const r = await fetch(`${endpoint}/admin/v1/deposits`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(config.withdrawTo === undefined ? { userId, ccy: 'USDT', amount: '25', depositId } : { userId, ccy: 'BTC', amount: '0.01', depositId }),
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await r.json()) as { ok: boolean; code?: string };
      if (body.ok) return { ok: true, code: '0', endpoint, attempts };
      // Credited by an earlier attempt whose answer was lost: done, exactly once.
      if (body.code === 'deposit_duplicate') return { ok: true, code: '0', endpoint, attempts };
      if (r.status < 500) return { ok: false, code: body.code ?? String(r.status), endpoint, attempts };
      last = body.code ?? String(r.status);
    } catch (e) {
      last = (e as Error).message;
    }
  }
  return { ok: false, code: `gave up: ${last}`, endpoint: '', attempts };
}

async function worker(config: DrillClientConfig, w: number, stop: { now: boolean }, budget: { left: number }, deadline: number): Promise<void> {
  const trader = config.traders[w % config.traders.length]!;
  // Longer than the gateways' command TTL (1.5 s): a request given up on here can no longer apply there.
  const client = new FailoverClient({ endpoints: config.endpoints, credentials: trader, attemptTimeoutMs: 2_500, budgetMs: 20_000 });
  const open: string[] = [];
  let n = 0;
  while (!stop.now && budget.left > 0 && Date.now() < deadline) {
    budget.left -= 1;
    n += 1;
    const roll = n % 20;
    const base = { cloud: config.cloud, worker: w, userId: trader.userId, s: Date.now() };
    let op: DrillOp = 'order';
    try {
      if (roll < 14 || (roll < 17 && open.length === 0)) {
        const clOrdId = `${config.cloud.replaceAll('-', '').slice(0, 12)}${w}n${n}${randomUUID().replaceAll('-', '').slice(0, 10)}`.slice(0, 32);
        const side = (n + w) % 2 === 0 ? 'buy' : 'sell';
        // Around 100 so that orders from different clouds trade with each other.
        const px = String(100 + ((n * 7 + w) % 9) - 4 + (side === 'buy' ? 0 : 1));
        const r = await client.placeOrder({ instId: 'ETH-USDT', tdMode: 'cash', side, ordType: 'limit', px, sz: '0.01', clOrdId });
        const item = r.data[0];
        const ok = r.code === '0' && item?.['sCode'] === '0';
        const ordId = text(item?.['ordId']);
        if (ok) open.push(ordId);
        print({ ...base, op: 'order', t: Date.now(), id: clOrdId, ok, code: ok ? '0' : text(item?.['sCode']) || r.code, ordId, endpoint: r.endpoint, attempts: r.attempts, recovered: r.recovered });
      } else if (roll < 17) {
        op = 'cancel';
        const ordId = open.shift()!;
        const r = await client.request('POST', '/api/v5/trade/cancel-order', { instId: 'ETH-USDT', ordId });
        const item = r.data[0];
        const sCode = text(item?.['sCode']) || r.code;
        // Only a clean answer counts as acknowledged; a refusal after a retry may be the first
        // attempt's own effect, and the checker makes no claim about it.
        const ok = r.code === '0' && sCode === '0';
        print({ ...base, op: 'cancel', t: Date.now(), id: ordId, ok, code: sCode, endpoint: r.endpoint, attempts: r.attempts });
      } else if (roll < 19) {
        op = 'deposit';
        const depositId = `drill-${config.cloud}-${String(w)}-${String(n)}-${randomUUID().slice(0, 8)}`;
        const r = await adminDeposit(config, trader.userId, depositId, Date.now() + 20_000);
        print({ ...base, op: 'deposit', t: Date.now(), id: depositId, ok: r.ok, code: r.code, endpoint: r.endpoint, attempts: r.attempts });
      } else {
        op = 'withdraw';
        await withdraw(config, client, base, n, Math.floor(n / 20));
      }
    } catch (e) {
      const attempts = e instanceof FailoverError ? e.attempts : 0;
      print({ ...base, op, t: Date.now(), id: '', ok: false, code: `failed: ${(e as Error).message}`, endpoint: '', attempts });
    }
  }
}

/** One withdrawal request (the k-th of its worker picks the asset), printed with its outcome. */
async function withdraw(config: DrillClientConfig, client: FailoverClient, base: Omit<DrillAck, 'op' | 't' | 'id' | 'ok' | 'code' | 'endpoint' | 'attempts'>, n: number, k: number): Promise<void> {
  // Unique across drills: a withdrawal client id is never reusable.
  const clientId = `w${config.cloud.replaceAll('-', '').slice(0, 12)}${base.worker}n${n}${randomUUID().replaceAll('-', '').slice(0, 10)}`.slice(0, 32);
  const what = config.withdrawTo === undefined ? plainWithdrawal : chainWithdrawals[k % chainWithdrawals.length]!;
  let r;
  try {
    r = await client.request('POST', '/api/v5/asset/withdrawal', {
      ...what, dest: '4', toAddr: config.withdrawTo ?? '0x1111111111111111111111111111111111111111', clientId,
    });
  } catch (e) {
    // No gateway answered: the outcome is unknown, and the line keeps the client id.
    print({ ...base, op: 'withdraw', t: Date.now(), id: clientId, ok: false, code: `failed: ${(e as Error).message}`, endpoint: '', attempts: e instanceof FailoverError ? e.attempts : 0 });
    return;
  }
  let ok = r.code === '0';
  let recovered = false;
  if (!ok && r.attempts > 1) {
    // The client id is spent: the first attempt was applied if the history has it.
    const h = await client.request('GET', `/api/v5/asset/withdrawal-history?clientId=${clientId}`);
    ok = h.code === '0' && h.data.length > 0;
    recovered = ok;
  }
  print({ ...base, op: 'withdraw', t: Date.now(), id: clientId, ok, code: ok ? '0' : r.code, endpoint: r.endpoint, attempts: r.attempts, recovered });
}

/**
 * With a chain, one more worker per cloud that only withdraws, one request every
 * WITHDRAW_EVERY_MS: so that withdrawals are in flight at the moment a cloud goes out, and a
 * failover's retry (with the same client id) is part of every trial.
 */
async function withdrawer(config: DrillClientConfig, w: number, stop: { now: boolean }, budget: { left: number }, deadline: number): Promise<void> {
  const trader = config.traders[w % config.traders.length]!;
  const client = new FailoverClient({ endpoints: config.endpoints, credentials: trader, attemptTimeoutMs: 2_500, budgetMs: 20_000 });
  let n = 0;
  while (!stop.now && budget.left > 0 && Date.now() < deadline) {
    budget.left -= 1;
    n += 1;
    const started = Date.now();
    try {
      await withdraw(config, client, { cloud: config.cloud, worker: w, userId: trader.userId, s: started }, n, n);
    } catch (e) {
      print({ cloud: config.cloud, worker: w, userId: trader.userId, s: started, op: 'withdraw', t: Date.now(), id: '', ok: false, code: `failed: ${(e as Error).message}`, endpoint: '', attempts: 0 });
    }
    // Pacing, not waiting for a condition: the next request goes out WITHDRAW_EVERY_MS after this one began.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + WITHDRAW_EVERY_MS - Date.now())));
  }
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as DrillClientConfig;
  const stop = { now: false };
  createInterface({ input: process.stdin }).on('close', () => { stop.now = true; });
  const budget = { left: config.opsMax };
  const deadline = Date.now() + config.durationMs;
  await Promise.all([
    ...Array.from({ length: config.workers }, (_, w) => worker(config, w, stop, budget, deadline)),
    ...(config.withdrawTo === undefined ? [] : [withdrawer(config, config.workers, stop, budget, deadline)]),
  ]);
}

await main();
