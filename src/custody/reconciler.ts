// The reconciler, run by every node every reconcileEveryMs (docs/CUSTODY.md, Reconciliation):
// read the ledger (S1), then the chain at one block B (the hot wallet and every deposit address,
// per asset), then the ledger again (S2). Per asset, what the chain holds plus what mined
// hot-wallet withdrawals took out before the ledger settled them must cover what the ledger owes
// its users: onChain(B) + minedUnsettled >= liabilities(S1) x unitsPerMinor. If the ledger
// assigned a hot-wallet transaction between S1 and S2 the round proves nothing (that transaction
// may be mined at B without being counted) and is reported inconclusive. A deficit freezes the
// chain's withdrawals with the figures as the reason; an operator unfreezes. The last result is
// kept for the status route and metrics.

import type { ChainAssetView, CustodyView } from '../core/index.js';
import type { AddressBook } from './addresses.js';
import type { ChainClient } from './chain.js';
import { outcomeOf, type CustodyLogger, type CustodyPort } from './port.js';

/** Deposit addresses read per round at most; past it the round is skipped (an operator must raise the bound). */
export const RECONCILE_ADDRESSES_MAX = 5_000;

export interface AssetReconciliation {
  readonly asset: string;
  /** Chain units (decimal strings): what the exchange's addresses hold at B. */
  readonly onChain: string;
  /** Mined hot-wallet withdrawals the ledger had not settled at S1. */
  readonly minedUnsettled: string;
  /** What the ledger owed its users at S1, in chain units. */
  readonly liabilities: string;
  /** onChain + minedUnsettled - liabilities: negative is a deficit. */
  readonly surplus: string;
}

export interface Reconciliation {
  readonly chain: string;
  readonly outcome: 'balanced' | 'deficit' | 'inconclusive' | 'skipped';
  readonly detail: string;
  readonly block: number;
  readonly ledgerSeq: number;
  readonly assets: readonly AssetReconciliation[];
  readonly ts: number;
  /** The chain was frozen by this round (false when it was frozen already or nothing was wrong). */
  readonly froze: boolean;
}

export class Reconciler {
  private last: Reconciliation | undefined;

  constructor(
    private readonly chain: string,
    private readonly client: ChainClient,
    private readonly port: CustodyPort,
    private readonly book: AddressBook,
    private readonly logger: CustodyLogger,
    private readonly now: () => number,
  ) {}

  lastResult(): Reconciliation | undefined {
    return this.last;
  }

  async round(): Promise<Reconciliation | undefined> {
    const s1 = this.port.custody(this.chain);
    if (s1 === undefined) return undefined;
    const result = await this.reconcile(s1);
    this.last = result;
    if (result.outcome === 'deficit') this.logger.error({ chain: this.chain, reconciliation: result }, 'custody reconciliation: DEFICIT');
    else this.logger.debug({ chain: this.chain, outcome: result.outcome }, 'custody reconciliation');
    return result;
  }

  private async reconcile(s1: CustodyView): Promise<Reconciliation> {
    const base = { chain: this.chain, ledgerSeq: s1.seq, ts: this.now(), froze: false };
    if (s1.userCount > RECONCILE_ADDRESSES_MAX) {
      return { ...base, outcome: 'skipped', detail: `${s1.userCount} deposit addresses, over RECONCILE_ADDRESSES_MAX`, block: -1, assets: [] };
    }
    // The chain at one block B.
    const block = await this.client.headNumber();
    this.book.extend(s1.userCount);
    if (this.book.known < s1.userCount) return { ...base, outcome: 'skipped', detail: 'deposit addresses still being derived', block, assets: [] };
    const hot = s1.chain.spec.hotWallet.toLowerCase();
    const hotNonce = await this.client.nonce(hot, block);
    const assets: AssetReconciliation[] = [];
    for (const asset of s1.assets) assets.push(await this.reconcileAsset(s1, asset, hot, hotNonce, block));
    // The ledger again: a hot-wallet transaction assigned meanwhile may be mined at B uncounted.
    const s2 = this.port.custody(this.chain);
    if (s2 === undefined || s2.chain.nextNonce !== s1.chain.nextNonce) {
      return { ...base, outcome: 'inconclusive', detail: 'the ledger assigned a hot-wallet transaction during the round', block, assets };
    }
    const short = assets.filter((a) => BigInt(a.surplus) < 0n);
    if (short.length === 0) return { ...base, outcome: 'balanced', detail: '', block, assets };
    const detail = short.map((a) => `${a.asset}: on chain ${a.onChain} + mined unsettled ${a.minedUnsettled} < owed ${a.liabilities} (short ${(-BigInt(a.surplus)).toString()}) at block ${block}`).join('; ');
    let froze = false;
    if (!s2.chain.frozen) {
      const outcome = outcomeOf(await this.port.submit([{ type: 'SetWithdrawalsFrozen', chain: this.chain, frozen: true, reason: `reconciliation deficit: ${detail}` }]));
      froze = outcome === 'ok';
      this.logger.error({ chain: this.chain, outcome }, 'custody reconciliation: withdrawals frozen');
    }
    return { ...base, outcome: 'deficit', detail, block, assets, froze };
  }

  private async reconcileAsset(s1: CustodyView, asset: ChainAssetView, hot: string, hotNonce: number, block: number): Promise<AssetReconciliation> {
    const token = asset.spec.token;
    const balanceOf = (address: string): Promise<bigint> => (token === '' ? this.client.balance(address, block) : this.client.tokenBalance(token, address, block));
    let onChain = await balanceOf(hot);
    for (let u = 1; u <= s1.userCount; u++) onChain += await balanceOf(this.book.address(u));
    let minedUnsettled = 0n;
    for (const tx of s1.openTxs) {
      if (tx.fromIndex === 0 && tx.kind === 'withdrawal' && tx.asset === asset.spec.asset && tx.nonce < hotNonce) minedUnsettled += BigInt(tx.chainAmount);
    }
    const liabilities = asset.liabilities * asset.unitsPerMinor;
    return {
      asset: asset.spec.asset, onChain: onChain.toString(), minedUnsettled: minedUnsettled.toString(), liabilities: liabilities.toString(),
      surplus: (onChain + minedUnsettled - liabilities).toString(),
    };
  }
}
