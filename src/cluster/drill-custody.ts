// The drill's custody part, for a deployment with a chain: before the trials, the dev traders are
// funded by real chain deposits (anvil's prefunded account pays USDT and ETH to their deposit
// addresses) and the drill waits until the watchers had them credited; during the trials every
// cloud's clients withdraw to an external address of their own (drill-client.ts); after them, it
// waits until every assigned withdrawal settled and runs the custody checker over the log, the
// chain and the users' withdrawal history.

import { randomBytes } from 'node:crypto';
import { faucetSend, ViemChainClient } from '../custody/index.js';
import { EtcdLog } from '../log/index.js';
import { FailoverClient, type Credentials } from './client.js';
import { checkCustody, type CustodyReport } from './custody-checker.js';
import type { DrillAck } from './drill-client.js';
import { adminGet, adminTokens, quiesce } from './drill.js';
import { waitFor, type ClusterState } from './launcher.js';
import type { CloudAddress } from './topology.js';

/** Each trader's funding deposits: 10,000 USDT (6 decimals) and 10 ETH (18 decimals), in chain units. */
const FUND_TOKEN = 10_000n * 10n ** 6n;
const FUND_NATIVE = 10n * 10n ** 18n;
/** A failover client's bounds for the drill's own reads. */
const READ_ATTEMPT_MS = 2_500;
const READ_BUDGET_MS = 20_000;

type Trader = Credentials & { userId: number };

interface CustodyStatusReply { chains?: { chain: string; openTxs: number; nextNonce: number; frozen: boolean; frozenReason: string }[] }

export class CustodyDrill {
  /** Every drill client's output line over all trials: the checker holds the ledger to the acknowledged withdrawals. */
  readonly acks: DrillAck[] = [];

  private constructor(
    private readonly state: ClusterState & { chain: NonNullable<ClusterState['chain']> },
    /** One external address per cloud, fresh for this drill (so they start empty). */
    readonly externalAddresses: readonly string[],
  ) {}

  /** The custody part of a drill, or undefined when the deployment has no chain. */
  static for(state: ClusterState, clouds: number): CustodyDrill | undefined {
    if (state.chain === undefined) return undefined;
    const addresses = Array.from({ length: clouds }, () => `0x${randomBytes(20).toString('hex')}`);
    return new CustodyDrill({ ...state, chain: state.chain }, addresses);
  }

  withdrawTo(cloudIndex: number): string {
    return this.externalAddresses[cloudIndex % this.externalAddresses.length]!;
  }

  /** Pays each trader's deposit address USDT and ETH from the faucet, and waits until both are credited. */
  async fund(all: readonly CloudAddress[], traders: readonly Trader[], timeoutMs: number, say: (line: string) => void): Promise<number> {
    const chain = new ViemChainClient(this.state.chain.rpcUrl);
    const t0 = Date.now();
    let credited = 0;
    const tokens = await this.tokens(all);
    for (const trader of traders) {
      const client = new FailoverClient({ endpoints: all.map((c) => c.apiUrl), credentials: trader, attemptTimeoutMs: READ_ATTEMPT_MS, budgetMs: READ_BUDGET_MS });
      for (const [ccy, token, amount] of [['USDT', tokens.USDT ?? '', FUND_TOKEN], ['ETH', '', FUND_NATIVE]] as const) {
        const r = await client.request('GET', `/api/v5/asset/deposit-address?ccy=${ccy}`);
        const to = r.data[0]?.['addr'];
        if (r.code !== '0' || typeof to !== 'string') throw new Error(`drill: no deposit address for user ${trader.userId} ${ccy}: ${r.code} ${r.msg}`);
        if (ccy === 'USDT' && token === '') throw new Error('drill: USDT is not on the chain (no token declared)');
        const txId = await faucetSend(chain, token, to, amount);
        await waitFor(`drill: user ${trader.userId}'s ${ccy} deposit ${txId} credited`, async () => {
          const h = await client.request('GET', `/api/v5/asset/deposit-history?ccy=${ccy}&txId=${txId}`).catch(() => undefined);
          return h?.code === '0' && h.data.some((d) => d['state'] === '2');
        }, timeoutMs);
        credited += 1;
      }
    }
    say(`custody: ${credited} chain deposits to ${traders.length} traders credited in ${Date.now() - t0} ms`);
    return credited;
  }

  /** The ledger's token of each asset on the chain (from the first answering node's custody route). */
  private async tokens(all: readonly CloudAddress[]): Promise<Record<string, string>> {
    const admin = await adminTokens(this.state);
    for (const [i, c] of all.entries()) {
      const r = await adminGet<{ chains?: { chain: string; assets?: { asset: string; token: string }[] }[] }>(c, admin[i]!, '/custody');
      const chain = r?.chains?.find((x) => x.chain === this.state.chain.chainName);
      if (chain?.assets !== undefined) return Object.fromEntries(chain.assets.map((a) => [a.asset, a.token]));
    }
    return {};
  }

  /**
   * After the trials: waits until every node's custody shows no open transaction and every
   * replica stands at one position, then checks chain, ledger and history against each other
   * and the replicas' state hashes against the log's replay.
   */
  async check(all: CloudAddress[], tokens: string[], traders: readonly Trader[], timeoutMs: number): Promise<CustodyReport & { hashesAgree: boolean; settleMs: number }> {
    const t0 = Date.now();
    await waitFor('drill: every assigned chain transaction settled, in every cloud', async () => {
      const replies = await Promise.all(all.map((c, i) => adminGet<CustodyStatusReply>(c, tokens[i]!, '/custody')));
      return replies.every((r) => r?.chains?.find((x) => x.chain === this.state.chain.chainName)?.openTxs === 0);
    }, timeoutMs);
    const settleMs = Date.now() - t0;
    const { hashes } = await quiesce(all, tokens, timeoutMs);
    const byUser = new Map(traders.map((t) => [t.userId, new FailoverClient({ endpoints: all.map((c) => c.apiUrl), credentials: t, attemptTimeoutMs: READ_ATTEMPT_MS, budgetMs: READ_BUDGET_MS })]));
    const log = await EtcdLog.open({ hosts: all.map((c) => c.etcdClientUrl), prefix: 'everbook', writerId: `custody-checker-${String(process.pid)}-${String(Date.now())}` });
    try {
      const report = await checkCustody({
        log, rpcUrl: this.state.chain.rpcUrl, chain: this.state.chain.chainName, acks: this.acks, externalAddresses: this.externalAddresses,
        hashAt: hashes.map((h) => h.position),
        history: async (userId, withdrawalId) => {
          const client = byUser.get(userId);
          if (client === undefined) return undefined;
          const r = await client.request('GET', `/api/v5/asset/withdrawal-history?wdId=${String(withdrawalId)}`);
          const row = r.data[0];
          return r.code === '0' && row !== undefined ? { state: String(row['state']), txId: String(row['txId']) } : undefined;
        },
      });
      const hashesAgree = hashes.every((h) => h.stateHash === report.replayHashesAt.get(h.position));
      if (!hashesAgree) report.problems.push(`replicas' state hashes differ from the replay's: ${hashes.map((h) => `${h.position}:${h.stateHash.slice(0, 12)}`).join(' ')}`);
      return { ...report, ok: report.ok && hashesAgree, hashesAgree, settleMs };
    } finally {
      await log.close();
    }
  }
}
