// The broadcaster, run by every node: it carries out the transactions the engine assigned. For
// each open ChainTxView (by key index, ascending nonce) it signs the view's bytes, sends them
// (answers saying the bytes or their nonce are already known are expected: every cloud sends the
// same bytes), looks for whichever fee-level variant was mined, and once that has the asset's
// confirmations reports it with ObserveChainTx. A hot-wallet transaction that is the next to be
// mined and stays unmined for replaceAfterMs gets ReplaceChainTx to the next fee level. Signed
// bytes are cached per (index, nonce, level), so a round costs RPC calls, not signatures.
// Test hook: EVERBOOK_CRASH_AT=after-sign|after-broadcast makes the process SIGKILL itself
// right after signing, or right after sending, a withdrawal (crash tests only; never set it in
// production).

import type { ChainTxView, CustodyView } from '../core/index.js';
import type { AddressBook } from './addresses.js';
import type { ChainClient, ChainReceipt } from './chain.js';
import type { CustodyKeys } from './keys.js';
import { outcomeOf, type CustodyLogger, type CustodyPort } from './port.js';
import { chainTxHash, FEE_LEVEL_MAX, signChainTx } from './signer.js';
import type { Hex } from 'viem';

/** Open transactions handled per round at most. */
export const BROADCAST_TXS_PER_ROUND_MAX = 200;
/** Signed variants kept (bytes and hash per index, nonce and level). */
export const SIGNED_CACHE_MAX = 10_000;

export type CrashPoint = 'after-sign' | 'after-broadcast' | '';
export const CRASH_AT_ENV = 'EVERBOOK_CRASH_AT';

export function crashPointOf(env: NodeJS.ProcessEnv): CrashPoint {
  const v = env[CRASH_AT_ENV] ?? '';
  if (v !== '' && v !== 'after-sign' && v !== 'after-broadcast') throw new Error(`${CRASH_AT_ENV} must be after-sign or after-broadcast, not "${v}"`);
  return v;
}

interface Signed { readonly bytes: Hex; readonly hash: string }

export interface BroadcasterStatus {
  readonly open: number;
  readonly sent: number;
  readonly settled: number;
  readonly replaced: number;
  readonly lastSendError: string;
}

export class Broadcaster {
  private readonly signed = new Map<string, Signed>();
  /** When this node first sent each (index, nonce, level) unmined: the clock of ReplaceChainTx. */
  private readonly firstSentMs = new Map<string, number>();
  private open = 0;
  private sent = 0;
  private settled = 0;
  private replaced = 0;
  private lastSendError = '';

  constructor(
    private readonly chain: string,
    private readonly client: ChainClient,
    private readonly port: CustodyPort,
    private readonly keys: CustodyKeys,
    private readonly book: AddressBook,
    private readonly logger: CustodyLogger,
    private readonly options: { readonly replaceAfterMs: number; readonly now: () => number; readonly crashAt: CrashPoint },
  ) {}

  status(): BroadcasterStatus {
    return { open: this.open, sent: this.sent, settled: this.settled, replaced: this.replaced, lastSendError: this.lastSendError };
  }

  async round(view: CustodyView, head: number): Promise<void> {
    this.open = view.openTxs.length;
    const openKeys = new Set(view.openTxs.map((t) => `${t.fromIndex}:${t.nonce}`));
    for (const key of this.firstSentMs.keys()) if (!openKeys.has(key.split(':').slice(0, 2).join(':'))) this.firstSentMs.delete(key);
    const chainNonces = new Map<number, number>();
    for (const tx of view.openTxs.slice(0, BROADCAST_TXS_PER_ROUND_MAX)) {
      const mined = await this.minedVariant(tx);
      if (mined !== undefined) {
        await this.reportMined(view, tx, mined, head);
        continue;
      }
      if (this.waitsForGas(view, tx)) continue;
      await this.send(tx);
      await this.maybeReplace(tx, chainNonces);
    }
  }

  private async variant(tx: ChainTxView, level: number): Promise<Signed> {
    const key = `${tx.fromIndex}:${tx.nonce}:${level}:${tx.assignedSeq}`;
    let s = this.signed.get(key);
    if (s === undefined) {
      const recipient = tx.to === '' ? this.book.address(tx.toIndex) : tx.to;
      const bytes = await signChainTx(tx, this.keys.account(tx.fromIndex), level, recipient);
      s = { bytes, hash: chainTxHash(bytes) };
      if (this.signed.size >= SIGNED_CACHE_MAX) this.signed.delete(this.signed.keys().next().value!);
      this.signed.set(key, s);
    }
    return s;
  }

  /** The receipt of whichever fee level of the transaction was mined (at most one can be: they share the nonce). */
  private async minedVariant(tx: ChainTxView): Promise<ChainReceipt | undefined> {
    for (let level = tx.feeLevel; level >= 0; level--) {
      const receipt = await this.client.receipt((await this.variant(tx, level)).hash);
      if (receipt !== undefined) return receipt;
    }
    return undefined;
  }

  private async reportMined(view: CustodyView, tx: ChainTxView, receipt: ChainReceipt, head: number): Promise<void> {
    const required = view.assets.find((a) => a.spec.asset === tx.asset)?.spec.confirmations ?? Number.MAX_SAFE_INTEGER;
    const confirmations = head - receipt.blockNumber + 1;
    if (confirmations < required) return;
    const outcome = outcomeOf(await this.port.submit([{
      type: 'ObserveChainTx', chain: this.chain, fromIndex: tx.fromIndex, nonce: tx.nonce, txHash: receipt.txHash,
      blockNumber: receipt.blockNumber, status: receipt.status, confirmations,
    }]));
    if (outcome === 'ok') this.settled += 1;
    this.logger.info({ chain: this.chain, kind: tx.kind, fromIndex: tx.fromIndex, nonce: tx.nonce, withdrawalId: tx.withdrawalId, txHash: receipt.txHash, status: receipt.status, outcome }, 'custody broadcaster: transaction settled');
  }

  /** A token sweep spends gas its deposit address gets from the hot wallet: it waits while that top-up is open. */
  private waitsForGas(view: CustodyView, tx: ChainTxView): boolean {
    if (tx.kind !== 'sweep' || tx.token === '') return false;
    return view.openTxs.some((g) => g.kind === 'gas' && g.toIndex === tx.fromIndex);
  }

  private async send(tx: ChainTxView): Promise<void> {
    const { bytes, hash } = await this.variant(tx, tx.feeLevel);
    if (this.options.crashAt === 'after-sign' && tx.kind === 'withdrawal') crash('after-sign');
    const outcome = await this.client.sendRawTransaction(bytes);
    if (this.options.crashAt === 'after-broadcast' && tx.kind === 'withdrawal') crash('after-broadcast');
    const key = `${tx.fromIndex}:${tx.nonce}:${tx.feeLevel}`;
    if (!this.firstSentMs.has(key)) this.firstSentMs.set(key, this.options.now());
    if (outcome.ok) {
      this.sent += 1;
      this.logger.info({ chain: this.chain, kind: tx.kind, fromIndex: tx.fromIndex, nonce: tx.nonce, feeLevel: tx.feeLevel, withdrawalId: tx.withdrawalId, txHash: hash }, 'custody broadcaster: transaction sent');
    } else if (!outcome.benign) {
      this.lastSendError = outcome.message;
      this.logger.warn({ chain: this.chain, fromIndex: tx.fromIndex, nonce: tx.nonce, err: outcome.message.slice(0, 500) }, 'custody broadcaster: send refused');
    }
  }

  /**
   * Raises the fee of a hot-wallet transaction that is the next its wallet must mine and has not
   * been mined replaceAfterMs after this node first sent its current level. Transactions from
   * deposit addresses (sweeps) keep their level: their address holds exactly the gas of level 0.
   */
  private async maybeReplace(tx: ChainTxView, chainNonces: Map<number, number>): Promise<void> {
    if (tx.fromIndex !== 0 || tx.feeLevel >= FEE_LEVEL_MAX) return;
    const firstSent = this.firstSentMs.get(`${tx.fromIndex}:${tx.nonce}:${tx.feeLevel}`);
    if (firstSent === undefined || this.options.now() - firstSent < this.options.replaceAfterMs) return;
    let next = chainNonces.get(tx.fromIndex);
    if (next === undefined) {
      next = await this.client.nonce(this.book.address(tx.fromIndex));
      chainNonces.set(tx.fromIndex, next);
    }
    if (next !== tx.nonce) return;
    const feeLevel = tx.feeLevel + 1;
    const outcome = outcomeOf(await this.port.submit([{ type: 'ReplaceChainTx', chain: this.chain, fromIndex: tx.fromIndex, nonce: tx.nonce, feeLevel }]));
    if (outcome === 'ok') this.replaced += 1;
    this.logger.warn({ chain: this.chain, nonce: tx.nonce, feeLevel, outcome }, 'custody broadcaster: unmined transaction replaced at a higher fee');
  }
}

function crash(point: string): never {
  // A test hook: the process dies here as a power cut would, with nothing flushed.
  process.stderr.write(`everbook: ${CRASH_AT_ENV}=${point}: killing this process\n`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL');
}
