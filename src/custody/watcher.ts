// The deposit watcher, run by every node: it follows the chain block by block, finds native
// transfers and token Transfer logs into users' deposit addresses, and reports each to the
// engine with ObserveDeposit: once when first seen (pending), again once its block has the
// asset's confirmations. It keeps the hashes of the blocks it scanned (a bounded window); when
// the chain no longer has them (a reorganisation) it rewinds, submits RevertDeposit for every
// pending deposit in the dropped blocks, and scans again from there. It never submits a credit
// for a block that is not the one it scanned at that height. After a restart it scans again from
// scanFromBlock: deposits the engine has credited are skipped, and a repeated observation is
// refused by the engine without effect. Every round does bounded work.

import type { ChainAssetView, CustodyView } from '../core/index.js';
import type { AddressBook } from './addresses.js';
import type { ChainClient } from './chain.js';
import { outcomeOf, type CustodyLogger, type CustodyPort } from './port.js';

/** Blocks scanned per round at most. */
export const WATCH_BLOCKS_PER_ROUND_MAX = 500;
/** Block hashes kept to detect a reorganisation: the deepest reorg the watcher can undo. */
export const REORG_WINDOW_BLOCKS = 256;
/** Observations submitted per round at most. */
export const WATCH_SUBMITS_PER_ROUND_MAX = 200;
/** Deposits followed at once (seen and not yet credited); scanning waits while it is full. */
export const WATCH_DEPOSITS_MAX = 10_000;
/** Observations the engine refused at the confirmation count, remembered so that a rescan does not repeat them. */
export const WATCH_REFUSED_MAX = 10_000;

interface Seen {
  readonly asset: string;
  readonly txId: string;
  readonly logIndex: number;
  readonly userId: number;
  readonly address: string;
  readonly chainAmount: string;
  readonly blockNumber: number;
  readonly blockHash: string;
  pendingSubmitted: boolean;
}

export interface WatcherStatus {
  readonly nextBlock: number;
  readonly following: number;
  readonly reverted: number;
  readonly observed: number;
}

export class Watcher {
  private nextBlock: number;
  /** Hashes of the scanned blocks still in the window, by height (contiguous up to nextBlock - 1). */
  private readonly hashes = new Map<number, string>();
  private readonly seen = new Map<string, Seen>();
  private readonly refused = new Set<string>();
  private reverted = 0;
  private observed = 0;

  constructor(
    private readonly chain: string,
    private readonly client: ChainClient,
    private readonly port: CustodyPort,
    private readonly book: AddressBook,
    private readonly logger: CustodyLogger,
    scanFromBlock: number,
  ) {
    this.nextBlock = scanFromBlock;
  }

  status(): WatcherStatus {
    return { nextBlock: this.nextBlock, following: this.seen.size, reverted: this.reverted, observed: this.observed };
  }

  async round(view: CustodyView, head: number): Promise<void> {
    this.book.extend(view.userCount);
    await this.checkCanonical(head);
    if (this.seen.size < WATCH_DEPOSITS_MAX) await this.scan(view, head);
    await this.report(view, head);
  }

  /** Walks down from the last scanned block until its hash is still the chain's; rewinds over the rest. */
  private async checkCanonical(head: number): Promise<void> {
    let lowestGone: number | undefined;
    for (let n = this.nextBlock - 1; this.hashes.has(n); n--) {
      const block = n > head ? undefined : await this.client.block(n);
      if (block !== undefined && block.hash === this.hashes.get(n)) break;
      lowestGone = n;
    }
    if (lowestGone === undefined) return;
    if (!this.hashes.has(lowestGone - 1) && lowestGone > 0) {
      this.logger.error({ chain: this.chain, from: lowestGone }, 'custody watcher: reorganisation reaches below the kept window; rescanning from its bottom');
    }
    await this.rewind(lowestGone);
  }

  /** Forgets blocks from `height` up, reverts the pending deposits they held, and scans again from there. */
  private async rewind(height: number): Promise<void> {
    this.logger.warn({ chain: this.chain, from: height, to: this.nextBlock - 1 }, 'custody watcher: blocks left the chain; rescanning');
    for (let n = height; n < this.nextBlock; n++) this.hashes.delete(n);
    this.nextBlock = Math.min(this.nextBlock, height);
    for (const [key, s] of this.seen) {
      if (s.blockNumber < height) continue;
      this.seen.delete(key);
      const status = this.port.depositStatus(this.chain, s.txId, s.logIndex);
      if (status === 'credited') {
        this.logger.error({ chain: this.chain, txId: s.txId, logIndex: s.logIndex }, 'custody watcher: a credited deposit\'s block left the chain (deeper than its confirmations); reconciliation will show it');
        continue;
      }
      if (status !== 'pending') continue;
      const outcome = outcomeOf(await this.port.submit([{ type: 'RevertDeposit', chain: this.chain, txId: s.txId, logIndex: s.logIndex, blockHash: s.blockHash }]));
      if (outcome === 'ok') this.reverted += 1;
      this.logger.info({ chain: this.chain, txId: s.txId, logIndex: s.logIndex, outcome }, 'custody watcher: pending deposit reverted');
    }
  }

  private async scan(view: CustodyView, head: number): Promise<void> {
    const from = this.nextBlock;
    const until = Math.min(head, from + WATCH_BLOCKS_PER_ROUND_MAX - 1);
    if (until < from) return;
    const hot = view.chain.spec.hotWallet.toLowerCase();
    const native = view.assets.find((a) => a.spec.token === '');
    let scanned = from - 1;
    for (let n = from; n <= until; n++) {
      const block = await this.client.block(n);
      if (block === undefined) break;
      const parent = this.hashes.get(n - 1);
      // The chain changed under the scan: stop here; the next round's check rewinds.
      if (parent !== undefined && parent !== block.parentHash) break;
      this.hashes.set(n, block.hash);
      scanned = n;
      if (native === undefined) continue;
      for (const t of block.nativeTransfers) {
        // A transfer from the hot wallet into a deposit address is the exchange's own (a sweep's gas), not a deposit.
        if (t.from === hot) continue;
        const userId = this.book.userOf(t.to);
        if (userId !== undefined) this.found(native, t.hash, -1, userId, t.to, t.value, n, block.hash);
      }
    }
    if (scanned < from) return;
    let rewindTo: number | undefined;
    for (const asset of view.assets) {
      if (asset.spec.token === '') continue;
      for (const log of await this.client.tokenTransfers(asset.spec.token, from, scanned)) {
        if (log.from === hot) continue;
        const userId = this.book.userOf(log.to);
        if (userId === undefined) continue;
        if (this.hashes.get(log.blockNumber) !== log.blockHash) {
          rewindTo = Math.min(rewindTo ?? log.blockNumber, log.blockNumber);
          continue;
        }
        this.found(asset, log.txHash, log.logIndex, userId, log.to, log.value, log.blockNumber, log.blockHash);
      }
    }
    this.nextBlock = scanned + 1;
    for (const n of this.hashes.keys()) if (n < head - REORG_WINDOW_BLOCKS) this.hashes.delete(n);
    if (rewindTo !== undefined) await this.rewind(rewindTo);
  }

  private found(asset: ChainAssetView, txId: string, logIndex: number, userId: number, address: string, value: bigint, blockNumber: number, blockHash: string): void {
    const key = `${txId}:${logIndex}`;
    if (this.refused.has(key) || this.seen.get(key)?.blockHash === blockHash) return;
    if (this.port.depositStatus(this.chain, txId, logIndex) === 'credited') return;
    this.seen.set(key, { asset: asset.spec.asset, txId, logIndex, userId, address, chainAmount: value.toString(), blockNumber, blockHash, pendingSubmitted: false });
  }

  /** Submits what is due: a first (pending) observation, and the one at the confirmation count. */
  private async report(view: CustodyView, head: number): Promise<void> {
    let submits = 0;
    for (const [key, s] of this.seen) {
      const status = this.port.depositStatus(this.chain, s.txId, s.logIndex);
      if (status === 'credited') { this.seen.delete(key); continue; }
      // Only a block this watcher scanned at that height (pruned heights are deep enough to be final).
      const known = this.hashes.get(s.blockNumber);
      if (known !== undefined && known !== s.blockHash) continue;
      const required = view.assets.find((a) => a.spec.asset === s.asset)?.spec.confirmations ?? Number.MAX_SAFE_INTEGER;
      const confirmations = head - s.blockNumber + 1;
      const confirmed = confirmations >= required;
      const due = confirmed || (status === 'unknown' && !s.pendingSubmitted);
      if (!due) continue;
      if (submits >= WATCH_SUBMITS_PER_ROUND_MAX) break;
      submits += 1;
      const results = await this.port.submit([{
        type: 'ObserveDeposit', chain: this.chain, txId: s.txId, logIndex: s.logIndex, asset: s.asset, userId: s.userId,
        address: s.address, chainAmount: s.chainAmount, blockNumber: s.blockNumber, blockHash: s.blockHash, confirmations,
      }]);
      const outcome = outcomeOf(results);
      if (!Array.isArray(results)) continue;
      s.pendingSubmitted = true;
      if (outcome === 'ok') this.observed += 1;
      this.logger.info({ chain: this.chain, asset: s.asset, userId: s.userId, txId: s.txId, logIndex: s.logIndex, confirmations, outcome }, 'custody watcher: deposit observed');
      const after = this.port.depositStatus(this.chain, s.txId, s.logIndex);
      if (after === 'credited') {
        this.seen.delete(key);
      } else if (confirmed && outcome !== 'ok') {
        // Refused at the count (an amount below one minor unit, an unknown asset): not retried.
        this.seen.delete(key);
        if (this.refused.size >= WATCH_REFUSED_MAX) this.refused.delete(this.refused.values().next().value!);
        this.refused.add(key);
      }
    }
  }
}
