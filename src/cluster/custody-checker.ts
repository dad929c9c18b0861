// The drill's custody checker, run once the trials are over: it holds the chain, the ledger and
// the users' withdrawal history to one another. The ledger side is a replay of the whole shared
// log (every withdrawal request, every hot-wallet nonce the engine assigned, every settlement);
// the chain side is a scan of every block for transactions sent from the hot wallet, read
// without the custody key. A double withdrawal would show as two mined transactions paying one
// withdrawal id, or as a mined hot-wallet transaction the ledger never assigned; the checker
// looks for both, and counts what it saw so a drill can report it.

import { createPublicClient, decodeFunctionData, http, parseAbiItem, type Hex } from 'viem';
import type { ChainTxView, Event, SetChain, SetChainAsset } from '../core/index.js';
import type { CommandLog } from '../log/index.js';
import { Retention, replicaStateHash } from '../replica/index.js';
import { replayLog } from './checker.js';
import type { DrillAck } from './drill-client.js';

/** Blocks the chain scan reads at most (a drill's chain, at a block a second, stays far below). */
export const CHAIN_SCAN_BLOCKS_MAX = 100_000;
/** Each RPC call's deadline. */
const RPC_TIMEOUT_MS = 10_000;

const transferAbi = [parseAbiItem('function transfer(address to, uint256 value) returns (bool)')] as const;

/** What the ledger (the log's replay) says about one withdrawal on the chain. */
interface LedgerWithdrawal {
  readonly withdrawalId: number;
  readonly userId: number;
  readonly clientId: string;
  readonly asset: string;
  readonly address: string;
  /** Hot-wallet nonces assigned to it (must be at most one). */
  readonly nonces: number[];
  state: 'requested' | 'completed' | 'failed' | 'canceled';
  txId: string;
  reason: string;
}

/** A transaction the hot wallet sent, as mined. */
interface MinedTx {
  readonly hash: string;
  readonly nonce: number;
  readonly blockNumber: number;
  readonly status: 'success' | 'reverted';
  /** The value's recipient and amount: for a token, the transfer call's, else the native value's. */
  readonly token: string;
  readonly recipient: string;
  readonly amount: bigint;
}

export interface CustodyCounts {
  /** Withdrawal requests the drill clients sent, and those the exchange acknowledged. */
  readonly requested: number;
  readonly acknowledged: number;
  /** Acknowledged after more than one attempt (a failover), and of those, answered from the history by clientId. */
  readonly retried: number;
  readonly recovered: number;
  /** Withdrawals on the chain in the ledger, and those given a hot-wallet nonce. */
  readonly inLedger: number;
  readonly assigned: number;
  /** Mined hot-wallet transactions that pay a withdrawal. */
  readonly mined: number;
  readonly completed: number;
  readonly failed: number;
  /** Assigned withdrawals neither completed nor failed when checked. */
  readonly open: number;
  /**
   * Withdrawals paid more than once (must be 0): by two mined transactions the ledger assigned to
   * it, or by a mined transaction the ledger never assigned that repeats its payment.
   */
  readonly duplicates: number;
  /** Mined hot-wallet transactions at nonces the ledger never assigned (must be 0). */
  readonly unassigned: number;
  /** The hot wallet's nonce on the chain, and the hot-wallet transactions the ledger assigned and settled. */
  readonly hotNonce: number;
  readonly hotAssigned: number;
  readonly hotSettled: number;
}

export interface CustodyReport {
  readonly counts: CustodyCounts;
  /** Every disagreement found, as a sentence; empty when chain, ledger and history agree. */
  readonly problems: string[];
  readonly replayHash: string;
  readonly replayPosition: number;
  readonly replayHashesAt: ReadonlyMap<number, string>;
  readonly ok: boolean;
}

export interface CustodyCheckInput {
  readonly log: CommandLog;
  readonly rpcUrl: string;
  readonly chain: string;
  /** Every drill client's output line, over all trials (the withdrawal lines are used). */
  readonly acks: readonly DrillAck[];
  /** The external addresses the drill withdrew to: what they hold must be what the ledger completed. */
  readonly externalAddresses: readonly string[];
  /** A user's view of a withdrawal (OKX withdrawal-history by wdId): state and txId; undefined if not found. */
  readonly history: (userId: number, withdrawalId: number) => Promise<{ state: string; txId: string } | undefined>;
  /** Positions at which to note the replay's state hash (the replicas' positions). */
  readonly hashAt?: readonly number[];
}

interface Ledger {
  chain: SetChain | undefined;
  readonly assets: Map<string, SetChainAsset>;
  readonly withdrawals: Map<number, LedgerWithdrawal>;
  /** Hot-wallet transactions by nonce: the view as assigned, and its settlement. */
  readonly hotTxs: Map<number, { view: ChainTxView; settledHash: string; settledStatus: string }>;
  /** `${userId}:${clientId}` -> WithdrawalRequested count. */
  readonly requestsByClientId: Map<string, number>;
  replayHash: string;
  position: number;
  readonly hashesAt: Map<number, string>;
}

async function replayLedger(log: CommandLog, chain: string, hashAt: readonly number[]): Promise<Ledger> {
  const ledger: Ledger = {
    chain: undefined, assets: new Map(), withdrawals: new Map(), hotTxs: new Map(), requestsByClientId: new Map(), replayHash: '', position: 0, hashesAt: new Map(),
  };
  const replay = await replayLog(log, (_batch, events) => { for (const e of events) visit(ledger, chain, e); }, hashAt);
  ledger.replayHash = replicaStateHash(replay.state);
  ledger.position = replay.position;
  for (const [position, hash] of replay.hashesAt) ledger.hashesAt.set(position, hash);
  return ledger;
}

function visit(ledger: Ledger, chain: string, e: Event): void {
  switch (e.type) {
    case 'ChainSet':
      if (e.spec.chain === chain) ledger.chain = e.spec;
      return;
    case 'ChainAssetSet':
      if (e.spec.chain === chain) ledger.assets.set(e.spec.asset, e.spec);
      return;
    case 'WithdrawalRequested': {
      if (!ledger.assets.has(e.asset)) return;
      ledger.withdrawals.set(e.withdrawalId, {
        withdrawalId: e.withdrawalId, userId: e.userId, clientId: e.clientId, asset: e.asset, address: e.address, nonces: [], state: 'requested', txId: '', reason: '',
      });
      if (e.clientId !== '') {
        const k = `${e.userId}:${e.clientId}`;
        ledger.requestsByClientId.set(k, (ledger.requestsByClientId.get(k) ?? 0) + 1);
      }
      return;
    }
    case 'ChainTxAssigned':
      if (e.tx.chain !== chain || e.tx.fromIndex !== 0) return;
      ledger.hotTxs.set(e.tx.nonce, { view: e.tx, settledHash: '', settledStatus: '' });
      if (e.tx.kind === 'withdrawal') ledger.withdrawals.get(e.tx.withdrawalId)?.nonces.push(e.tx.nonce);
      return;
    case 'ChainTxSettled': {
      if (e.chain !== chain || e.fromIndex !== 0) return;
      const tx = ledger.hotTxs.get(e.nonce);
      if (tx !== undefined) { tx.settledHash = e.txHash.toLowerCase(); tx.settledStatus = e.status; }
      return;
    }
    case 'WithdrawalCompleted': {
      const w = ledger.withdrawals.get(e.withdrawalId);
      if (w !== undefined) { w.state = 'completed'; w.txId = e.txId.toLowerCase(); }
      return;
    }
    case 'WithdrawalFailed':
    case 'WithdrawalCanceled': {
      const w = ledger.withdrawals.get(e.withdrawalId);
      if (w !== undefined) { w.state = e.type === 'WithdrawalFailed' ? 'failed' : 'canceled'; w.reason = e.reason; }
      return;
    }
    default:
      return;
  }
}

/** Every transaction the hot wallet sent, from a scan of every block up to the head. */
async function scanHotWallet(rpcUrl: string, hotWallet: string): Promise<{ mined: MinedTx[]; hotNonce: number; head: number }> {
  const client = createPublicClient({ transport: http(rpcUrl, { timeout: RPC_TIMEOUT_MS, retryCount: 2 }) });
  const hot = hotWallet.toLowerCase();
  const head = Number(await client.getBlockNumber({ cacheTime: 0 }));
  if (head > CHAIN_SCAN_BLOCKS_MAX) throw new Error(`custody check: the chain has ${head} blocks, more than the scan reads (${CHAIN_SCAN_BLOCKS_MAX})`);
  const mined: MinedTx[] = [];
  for (let n = 0; n <= head; n++) {
    const block = await client.getBlock({ blockNumber: BigInt(n), includeTransactions: true });
    for (const tx of block.transactions) {
      if (tx.from.toLowerCase() !== hot) continue;
      const receipt = await client.getTransactionReceipt({ hash: tx.hash });
      let token = '';
      let recipient = tx.to?.toLowerCase() ?? '';
      let amount = tx.value;
      if (tx.input !== '0x') {
        token = recipient;
        try {
          const call = decodeFunctionData({ abi: transferAbi, data: tx.input });
          recipient = call.args[0].toLowerCase();
          amount = call.args[1];
        } catch {
          recipient = '';
          amount = 0n;
        }
      }
      mined.push({ hash: tx.hash.toLowerCase(), nonce: tx.nonce, blockNumber: n, status: receipt.status, token, recipient, amount });
    }
  }
  const hotNonce = await client.getTransactionCount({ address: hot as Hex, blockNumber: BigInt(head) });
  return { mined, hotNonce, head };
}

async function balances(rpcUrl: string, addresses: readonly string[], tokens: readonly string[]): Promise<Map<string, bigint>> {
  const client = createPublicClient({ transport: http(rpcUrl, { timeout: RPC_TIMEOUT_MS, retryCount: 2 }) });
  const balanceOf = [parseAbiItem('function balanceOf(address owner) view returns (uint256)')] as const;
  const out = new Map<string, bigint>();
  for (const a of addresses) {
    out.set(`${a}:`, await client.getBalance({ address: a as Hex }));
    for (const t of tokens) out.set(`${a}:${t}`, await client.readContract({ address: t as Hex, abi: balanceOf, functionName: 'balanceOf', args: [a as Hex] }));
  }
  return out;
}

export async function checkCustody(input: CustodyCheckInput): Promise<CustodyReport> {
  const problems: string[] = [];
  const ledger = await replayLedger(input.log, input.chain, input.hashAt ?? []);
  if (ledger.chain === undefined) throw new Error(`custody check: the log never declared chain ${input.chain}`);
  const { mined, hotNonce } = await scanHotWallet(input.rpcUrl, ledger.chain.hotWallet);

  // 1. Every acknowledged withdrawal request is in the ledger exactly once (by its client id).
  const withdrawAcks = input.acks.filter((a) => a.op === 'withdraw');
  const acknowledged = withdrawAcks.filter((a) => a.ok);
  for (const a of acknowledged) {
    const n = ledger.requestsByClientId.get(`${a.userId}:${a.id}`) ?? 0;
    if (n !== 1) problems.push(`withdrawal ${a.id} of user ${a.userId} was acknowledged and is in the ledger ${n} times`);
  }

  // 2. One nonce per withdrawal, and at most one mined transaction per withdrawal id.
  const minedByNonce = new Map<number, MinedTx[]>();
  for (const m of mined) minedByNonce.set(m.nonce, [...(minedByNonce.get(m.nonce) ?? []), m]);
  for (const [nonce, list] of minedByNonce) if (list.length > 1) problems.push(`hot-wallet nonce ${nonce} was mined ${list.length} times (the chain broke its own rule)`);
  const paidBy = new Map<number, MinedTx[]>();
  /** Mined hot-wallet transactions at nonces the ledger never assigned: each one is money that left without the ledger. */
  const unassigned: MinedTx[] = [];
  for (const m of mined) {
    const tx = ledger.hotTxs.get(m.nonce);
    if (tx === undefined) {
      unassigned.push(m);
      continue;
    }
    const v = tx.view;
    const recipient = v.to === '' ? '' : v.to.toLowerCase();
    if (m.token !== v.token.toLowerCase() || (recipient !== '' && m.recipient !== recipient) || m.amount !== BigInt(v.chainAmount)) {
      problems.push(`hot-wallet transaction ${m.hash} (nonce ${m.nonce}) does not carry what the ledger assigned (to ${m.recipient}, ${m.amount} of "${m.token}")`);
    }
    if (v.kind === 'withdrawal') paidBy.set(v.withdrawalId, [...(paidBy.get(v.withdrawalId) ?? []), m]);
  }
  let duplicates = 0;
  for (const [id, list] of paidBy) {
    if (list.length > 1) {
      duplicates += 1;
      problems.push(`DOUBLE WITHDRAWAL: withdrawal ${id} paid by ${list.length} mined transactions: ${list.map((m) => m.hash).join(', ')}`);
    }
  }
  // A transaction outside the ledger that pays exactly what a withdrawal paid (same asset,
  // recipient and amount) is that withdrawal sent a second time with another nonce.
  for (const m of unassigned) {
    const same = [...paidBy.entries()].filter(([, list]) => list.some((p) => p.token === m.token && p.recipient === m.recipient && p.amount === m.amount));
    if (same.length > 0) {
      duplicates += 1;
      problems.push(`DOUBLE WITHDRAWAL: ${m.hash} (nonce ${m.nonce}, never assigned by the ledger) pays again what withdrawal ${same.map(([id]) => id).join(' or ')} paid`);
    } else {
      problems.push(`hot-wallet transaction ${m.hash} (nonce ${m.nonce}) was mined but the ledger never assigned that nonce`);
    }
  }
  for (const w of ledger.withdrawals.values()) if (w.nonces.length > 1) problems.push(`withdrawal ${w.withdrawalId} was assigned ${w.nonces.length} nonces: ${w.nonces.join(', ')}`);

  // 3. Every assigned withdrawal ended: completed with the mined hash, or failed with a reason.
  let completed = 0;
  let failed = 0;
  let open = 0;
  const paidTo = new Map<string, bigint>();
  for (const w of ledger.withdrawals.values()) {
    if (w.nonces.length === 0) continue;
    const m = paidBy.get(w.withdrawalId)?.[0];
    if (w.state === 'completed') {
      completed += 1;
      if (m === undefined) problems.push(`withdrawal ${w.withdrawalId} is completed in the ledger but nothing paying it was mined`);
      else if (m.hash !== w.txId) problems.push(`withdrawal ${w.withdrawalId} completed with txid ${w.txId}, the chain mined ${m.hash}`);
      else if (m.status !== 'success') problems.push(`withdrawal ${w.withdrawalId} completed but its transaction ${m.hash} reverted`);
      else {
        const key = `${m.recipient}:${m.token}`;
        paidTo.set(key, (paidTo.get(key) ?? 0n) + m.amount);
      }
    } else if (w.state === 'failed') {
      failed += 1;
      if (w.reason === '') problems.push(`withdrawal ${w.withdrawalId} failed without a reason`);
      if (m !== undefined && m.status === 'success') problems.push(`withdrawal ${w.withdrawalId} failed in the ledger, yet ${m.hash} paid it on the chain`);
    } else {
      open += 1;
      problems.push(`withdrawal ${w.withdrawalId} has nonce ${w.nonces[0]!} and is still ${w.state}${m === undefined ? ' (not mined)' : ` (mined as ${m.hash}, not settled)`}`);
    }
  }

  // 4. What the external addresses hold is what the ledger completed (they start empty).
  const tokens = [...new Set([...ledger.assets.values()].map((a) => a.token.toLowerCase()).filter((t) => t !== ''))];
  const held = await balances(input.rpcUrl, input.externalAddresses.map((a) => a.toLowerCase()), tokens);
  for (const [key, amount] of held) {
    const paid = paidTo.get(key) ?? 0n;
    if (amount !== paid) problems.push(`external address ${key.split(':')[0]!} holds ${amount} of "${key.split(':')[1]!}", the ledger completed ${paid}`);
  }

  // 5. The hot wallet's nonce on the chain is what the ledger assigned, all of it settled.
  const hotAssigned = ledger.hotTxs.size;
  const hotSettled = [...ledger.hotTxs.values()].filter((t) => t.settledHash !== '').length;
  const expected = ledger.chain.nonceStart + hotAssigned;
  if (hotNonce !== expected) problems.push(`the hot wallet's nonce on the chain is ${hotNonce}; the ledger assigned nonces up to ${expected - 1} (from ${ledger.chain.nonceStart})`);
  if (hotSettled !== hotAssigned) problems.push(`${hotAssigned - hotSettled} of ${hotAssigned} hot-wallet transactions are not settled in the ledger`);
  for (const [nonce, t] of ledger.hotTxs) {
    const m = minedByNonce.get(nonce)?.[0];
    if (t.settledHash !== '' && m !== undefined && m.hash !== t.settledHash) problems.push(`hot-wallet nonce ${nonce} settled as ${t.settledHash}, the chain mined ${m.hash}`);
  }

  // 6. The users' history (OKX withdrawal-history) says what the ledger says. A node keeps each
  // user's newest Retention.transfersPerUserMax withdrawals, so an older one may have left it.
  const newerOfUser = new Map<number, number>();
  const newer = new Map<number, number>();
  for (const w of [...ledger.withdrawals.values()].sort((a, b) => b.withdrawalId - a.withdrawalId)) {
    const seen = newerOfUser.get(w.userId) ?? 0;
    newer.set(w.withdrawalId, seen);
    newerOfUser.set(w.userId, seen + 1);
  }
  for (const w of ledger.withdrawals.values()) {
    if (w.nonces.length === 0) continue;
    const h = await input.history(w.userId, w.withdrawalId);
    const want = w.state === 'completed' ? '2' : w.state === 'failed' ? '-1' : undefined;
    if (h === undefined) {
      if (newer.get(w.withdrawalId)! < Retention.transfersPerUserMax) problems.push(`withdrawal ${w.withdrawalId} is not in user ${w.userId}'s withdrawal history`);
    } else if (want !== undefined && h.state !== want) problems.push(`withdrawal ${w.withdrawalId}: history state ${h.state}, ledger ${w.state}`);
    else if (w.state === 'completed' && h.txId.toLowerCase() !== w.txId) problems.push(`withdrawal ${w.withdrawalId}: history txId ${h.txId}, ledger ${w.txId}`);
  }

  const counts: CustodyCounts = {
    requested: withdrawAcks.length, acknowledged: acknowledged.length,
    retried: acknowledged.filter((a) => a.attempts > 1).length, recovered: acknowledged.filter((a) => a.recovered === true).length, inLedger: ledger.withdrawals.size,
    assigned: [...ledger.withdrawals.values()].filter((w) => w.nonces.length > 0).length,
    mined: [...paidBy.values()].reduce((n, l) => n + l.length, 0), completed, failed, open, duplicates, unassigned: unassigned.length, hotNonce, hotAssigned, hotSettled,
  };
  return { counts, problems, replayHash: ledger.replayHash, replayPosition: ledger.position, replayHashesAt: ledger.hashesAt, ok: problems.length === 0 };
}

/** The custody table a drill prints. */
export function custodyTable(r: CustodyReport): string {
  const c = r.counts;
  return [
    '| requested | acknowledged (after failover / from history) | in ledger | assigned | mined | completed | failed | open | duplicates | unassigned mined | hot nonce | hot assigned / settled | check |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| ${c.requested} | ${c.acknowledged} (${c.retried} / ${c.recovered}) | ${c.inLedger} | ${c.assigned} | ${c.mined} | ${c.completed} | ${c.failed} | ${c.open} | ${c.duplicates} | ${c.unassigned} | ${c.hotNonce} | ${c.hotAssigned} / ${c.hotSettled} | ${r.ok ? 'ok' : 'FAILED'} |`,
  ].join('\n');
}

/** The custody figures as one JSON line. */
export function custodySummary(r: CustodyReport): string {
  return JSON.stringify({ drill: 'custody', ...r.counts, problems: r.problems.length, ok: r.ok });
}
