// Custody on a chain, the engine's side (docs/CUSTODY.md): which deposit is credited, which
// withdrawal gets which nonce, what a sweep moves. Everything a failover must not do twice is
// decided here, once, in log order; the custody runtime in every cloud only observes the chain
// and carries out the transactions assigned here. Money moves through the engine's ledger
// primitives, so conservation holds as for every other command.

import { Reject, type Rejection } from './codes.js';
import type { Engine } from './engine.js';
import { Limits } from './limits.js';
import { Chain, ChainAsset, ChainTx, chainTxKey, PendingDeposit, type Asset, type User, type Withdrawal } from './model.js';
import type { ChainAssetView, CustodyView, DepositStatus, UnsweptView } from './views.js';
import type {
  ChainTxKind, ChainTxView, ObserveChainTx, ObserveDeposit, ReplaceChainTx, RequestSweep, Result, RevertDeposit, SetChain,
  SetChainAsset, SetWithdrawalAllowlist, SetWithdrawalsFrozen,
} from './types.js';

const CHAIN_NAME = /^[a-z0-9-]{1,32}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HASH = /^0x[0-9a-fA-F]{64}$/;
const INTEGER = /^(0|[1-9][0-9]{0,39})$/;
const DAY_MS = 86_400_000;
/** Gas fees and amounts on chain are bounded far above any real value, below what a balance holds. */
const chainAmountMax = 10n ** 40n;
const gasLimitMax = 30_000_000;
const reasonLengthMax = 256;
const TX_STATUSES: readonly string[] = ['success', 'reverted'];

const isIndex = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

function chainAmount(text: unknown): bigint | undefined {
  if (typeof text !== 'string' || !INTEGER.test(text)) return undefined;
  const v = BigInt(text);
  return v <= chainAmountMax ? v : undefined;
}

/** Fees at a fee level: (100 + 25 * level) / 100 of level 0's, integer division. */
export function feeAtLevel(fee: bigint, level: number): bigint {
  return (fee * BigInt(100 + 25 * level)) / 100n;
}

export class Custody {
  readonly chains = new Map<string, Chain>();
  /** Deposits seen with too few confirmations, by `chain:txId:logIndex`. */
  readonly pending = new Map<string, PendingDeposit>();
  /** Credited to a deposit address and not swept, in chain units, by `userId:asset`. */
  readonly unswept = new Map<string, bigint>();
  /** Sweeps assigned and not settled, by `userId:asset` -> the sweep's transfer key. */
  readonly sweeping = new Map<string, string>();
  /** Assigned, unsettled transactions by `chain:fromIndex:nonce`. */
  readonly txs = new Map<string, ChainTx>();
  /** Users' withdrawal allowlists (lower-case addresses). */
  readonly allowlists = new Map<number, readonly string[]>();

  constructor(private readonly engine: Engine) {}

  // ---------------------------------------------------------------- definitions

  setChain(c: SetChain): Result {
    if (typeof c.chain !== 'string' || !CHAIN_NAME.test(c.chain) || !isIndex(c.chainId) || c.chainId === 0
      || typeof c.hotWallet !== 'string' || !ADDRESS.test(c.hotWallet) || !isIndex(c.nonceStart)) {
      return this.no(Reject.chainInvalid);
    }
    const spec: SetChain = { type: 'SetChain', chain: c.chain, chainId: c.chainId, hotWallet: c.hotWallet.toLowerCase(), nonceStart: c.nonceStart };
    const existing = this.chains.get(c.chain);
    if (existing === undefined) {
      this.chains.set(c.chain, new Chain(spec));
    } else {
      const same = existing.spec.chainId === spec.chainId && existing.spec.hotWallet === spec.hotWallet && existing.spec.nonceStart === spec.nonceStart;
      if (!same && existing.assigned) return this.no(Reject.chainImmutable);
      existing.spec = spec;
      if (!existing.assigned) existing.nextNonce = spec.nonceStart;
    }
    this.engine.emit({ type: 'ChainSet', seq: this.engine.seq, spec });
    return { ok: true };
  }

  setChainAsset(c: SetChainAsset): Result {
    const asset = this.engine.assetById.get(c.asset);
    if (asset === undefined) return this.no(Reject.assetNotFound);
    const chain = this.chains.get(c.chain);
    if (chain === undefined) return this.no(Reject.chainNotFound);
    const threshold = chainAmount(c.approvalThreshold);
    const globalMax = chainAmount(c.globalDailyMax);
    const maxFee = chainAmount(c.maxFeePerGas);
    const tip = chainAmount(c.maxPriorityFeePerGas);
    const valid = typeof c.token === 'string' && (c.token === '' || ADDRESS.test(c.token))
      && Number.isInteger(c.chainDecimals) && c.chainDecimals >= asset.spec.scale && c.chainDecimals <= Limits.chainDecimalsMax
      && Number.isInteger(c.confirmations) && c.confirmations >= 1 && c.confirmations <= Limits.confirmationsMax
      && threshold !== undefined && globalMax !== undefined && maxFee !== undefined && tip !== undefined && tip <= maxFee
      && Number.isInteger(c.gasLimit) && c.gasLimit >= 21_000 && c.gasLimit <= gasLimitMax;
    if (!valid) return this.no(Reject.chainAssetInvalid);
    const spec: SetChainAsset = {
      type: 'SetChainAsset', asset: c.asset, chain: c.chain, token: c.token.toLowerCase(), chainDecimals: c.chainDecimals,
      confirmations: c.confirmations, approvalThreshold: c.approvalThreshold, globalDailyMax: c.globalDailyMax,
      gasLimit: c.gasLimit, maxFeePerGas: c.maxFeePerGas, maxPriorityFeePerGas: c.maxPriorityFeePerGas,
    };
    const existing = asset.chain;
    if (existing === null) {
      // One native coin per chain: the gas of token sweeps is paid in it.
      if (spec.token === '' && this.nativeOf(chain) !== undefined) return this.no(Reject.chainAssetInvalid);
      asset.chain = new ChainAsset(spec, asset, chain, 10n ** BigInt(spec.chainDecimals - asset.spec.scale));
    } else {
      const e = existing.spec;
      if (e.chain !== spec.chain || e.token !== spec.token || e.chainDecimals !== spec.chainDecimals) return this.no(Reject.chainAssetImmutable);
      existing.spec = spec;
    }
    this.engine.emit({ type: 'ChainAssetSet', seq: this.engine.seq, spec });
    return { ok: true };
  }

  // ---------------------------------------------------------------- deposits

  observeDeposit(c: ObserveDeposit): Result {
    const chain = this.chains.get(c.chain);
    if (chain === undefined) return this.no(Reject.chainNotFound);
    const asset = this.engine.assetById.get(c.asset);
    const ca = asset?.chain;
    if (asset === undefined || ca?.chain !== chain) return this.no(Reject.chainAssetNotFound);
    const amount = chainAmount(c.chainAmount);
    const nativeOk = ca.spec.token === '' ? c.logIndex === -1 : isIndex(c.logIndex);
    if (typeof c.txId !== 'string' || !HASH.test(c.txId) || !nativeOk || typeof c.address !== 'string' || !ADDRESS.test(c.address)
      || amount === undefined || amount === 0n || !isIndex(c.blockNumber) || typeof c.blockHash !== 'string' || !HASH.test(c.blockHash)
      || !isIndex(c.confirmations)) {
      return this.no(Reject.depositInvalid);
    }
    const user = this.engine.users[c.userId];
    if (user === undefined) return this.no(Reject.userNotFound);
    const txId = c.txId.toLowerCase();
    const key = `${c.chain}:${txId}:${String(c.logIndex)}`;
    const minor = amount / ca.unitsPerMinor;
    const credited = this.engine.deposits.get(key);
    if (credited !== undefined) {
      const same = credited.userId === user.id && credited.asset === asset.id && credited.amount === minor.toString();
      return this.no(same ? Reject.depositDuplicate : Reject.depositConflict);
    }
    const prior = this.pending.get(key);
    if (prior !== undefined && (prior.userId !== user.id || prior.asset !== asset || prior.chainAmount !== amount)) {
      return this.no(Reject.depositConflict);
    }
    if (minor === 0n) return this.no(Reject.depositTooSmall);
    const blockHash = c.blockHash.toLowerCase();
    const address = c.address.toLowerCase();
    if (c.confirmations < ca.spec.confirmations) {
      if (prior === undefined) {
        if (this.pending.size >= Limits.pendingDepositsMax) return this.no(Reject.pendingDepositsLimit);
        this.pending.set(key, new PendingDeposit(key, user.id, asset, amount, txId, address, c.blockNumber, blockHash, c.confirmations, this.engine.now));
      } else {
        if (prior.blockHash === blockHash && prior.confirmations === c.confirmations) return this.no(Reject.depositUnchanged);
        prior.blockHash = blockHash;
        prior.blockNumber = c.blockNumber;
        prior.confirmations = c.confirmations;
      }
      this.engine.emit({
        type: 'DepositPending', seq: this.engine.seq, depositId: key, userId: user.id, asset: asset.id, amount: minor.toString(),
        chain: c.chain, txId, address, confirmations: c.confirmations, ts: this.engine.now,
      });
      return { ok: true };
    }
    const refused = this.engine.creditAvailable(user, asset, minor);
    if (refused !== undefined) return this.no(refused);
    this.pending.delete(key);
    this.engine.deposits.set(key, { userId: user.id, asset: asset.id, amount: minor.toString() });
    const sweepKey = `${String(user.id)}:${asset.id}`;
    this.unswept.set(sweepKey, (this.unswept.get(sweepKey) ?? 0n) + amount);
    this.engine.emit({
      type: 'DepositCredited', seq: this.engine.seq, depositId: key, userId: user.id, asset: asset.id, amount: minor.toString(),
      ts: this.engine.now, chain: c.chain, txId, address, confirmations: c.confirmations,
    });
    return { ok: true };
  }

  revertDeposit(c: RevertDeposit): Result {
    if (typeof c.txId !== 'string' || typeof c.blockHash !== 'string' || !Number.isSafeInteger(c.logIndex)) return this.no(Reject.depositInvalid);
    const key = `${c.chain}:${c.txId.toLowerCase()}:${String(c.logIndex)}`;
    const p = this.pending.get(key);
    if (p === undefined) return this.no(this.engine.deposits.has(key) ? Reject.depositDuplicate : Reject.depositNotPending);
    if (p.blockHash !== c.blockHash.toLowerCase()) return this.no(Reject.depositNotPending);
    this.pending.delete(key);
    this.engine.emit({ type: 'DepositReverted', seq: this.engine.seq, depositId: key, userId: p.userId, ts: this.engine.now });
    return { ok: true };
  }

  // ---------------------------------------------------------------- withdrawals

  /** The chain rules a withdrawal of a chain asset must pass, before anything is held. */
  checkWithdrawal(user: User, ca: ChainAsset, address: string, amount: bigint): Rejection | undefined {
    if (!ADDRESS.test(address)) return Reject.withdrawalAddressInvalid;
    if (ca.chain.frozen) return Reject.withdrawalsFrozen;
    const allowed = this.allowlists.get(user.id);
    if (allowed !== undefined && !allowed.includes(address.toLowerCase())) return Reject.withdrawalAddressNotAllowed;
    const day = Math.floor(this.engine.now / DAY_MS);
    const used = ca.globalDay === day ? ca.globalAmount : 0n;
    if (used + amount > BigInt(ca.spec.globalDailyMax)) return Reject.withdrawalGlobalDailyLimit;
    return undefined;
  }

  /** A chain withdrawal was held: count it against the global limit; assign it or let it wait. */
  withdrawalRequested(w: Withdrawal, ca: ChainAsset): void {
    if (ca.globalDay === w.day) ca.globalAmount += w.amount;
    else {
      ca.globalDay = w.day;
      ca.globalAmount = w.amount;
    }
    if (w.amount > BigInt(ca.spec.approvalThreshold)) {
      w.stage = 'approval';
      this.engine.emit({ type: 'WithdrawalAwaitingApproval', seq: this.engine.seq, withdrawalId: w.id, userId: w.user.id, ts: this.engine.now });
    } else {
      this.assignWithdrawal(w, ca);
    }
  }

  approve(w: Withdrawal): Result {
    const ca = w.asset.chain;
    if (ca === null || w.stage !== 'approval') return this.no(Reject.withdrawalNotAwaitingApproval);
    if (ca.chain.frozen) return this.no(Reject.withdrawalsFrozen);
    this.assignWithdrawal(w, ca);
    return { ok: true, withdrawalId: w.id };
  }

  /** A withdrawal that ends without paying out gives back its share of the global limit. */
  withdrawalUnwound(w: Withdrawal): void {
    const ca = w.asset.chain;
    if (ca?.globalDay === w.day) ca.globalAmount -= w.amount;
  }

  private assignWithdrawal(w: Withdrawal, ca: ChainAsset): void {
    w.stage = 'assigned';
    const chain = ca.chain;
    this.assign(chain, 0, chain.nextNonce++, 'withdrawal', w.id, ca, w.address.toLowerCase(), -1, w.amount * ca.unitsPerMinor, 0n, ca);
  }

  // ---------------------------------------------------------------- transactions

  observeChainTx(c: ObserveChainTx): Result {
    if (!Number.isSafeInteger(c.fromIndex) || !Number.isSafeInteger(c.nonce)) return this.no(Reject.chainTxInvalid);
    const tx = this.txs.get(chainTxKey(c.chain, c.fromIndex, c.nonce));
    if (tx === undefined) return this.no(this.chains.has(c.chain) ? Reject.chainTxNotOpen : Reject.chainNotFound);
    if (typeof c.txHash !== 'string' || !HASH.test(c.txHash) || !isIndex(c.blockNumber) || !isIndex(c.confirmations)
      || !TX_STATUSES.includes(c.status)) {
      return this.no(Reject.chainTxInvalid);
    }
    if (c.confirmations < tx.gasAsset.spec.confirmations) return this.no(Reject.chainTxUnconfirmed);
    const txHash = c.txHash.toLowerCase();
    this.txs.delete(tx.key);
    this.engine.emit({
      type: 'ChainTxSettled', seq: this.engine.seq, chain: c.chain, fromIndex: tx.fromIndex, nonce: tx.nonce, kind: tx.kind,
      withdrawalId: tx.withdrawalId, txHash, status: c.status, ts: this.engine.now,
    });
    if (tx.kind === 'withdrawal') {
      const w = this.engine.withdrawals.get(tx.withdrawalId)!;
      if (c.status === 'success') this.engine.settleWithdrawal(w, txHash);
      else this.engine.failWithdrawalAfterChain(w, `transaction ${txHash} reverted on chain`);
    } else if (tx.kind === 'sweep') {
      const sweepKey = `${String(tx.fromIndex)}:${tx.asset.asset.id}`;
      this.sweeping.delete(sweepKey);
      if (c.status === 'success') {
        const left = (this.unswept.get(sweepKey) ?? 0n) - tx.sweptAmount;
        if (left > 0n) this.unswept.set(sweepKey, left);
        else this.unswept.delete(sweepKey);
      }
    }
    return { ok: true };
  }

  replace(c: ReplaceChainTx): Result {
    const tx = Number.isSafeInteger(c.fromIndex) && Number.isSafeInteger(c.nonce) ? this.txs.get(chainTxKey(c.chain, c.fromIndex, c.nonce)) : undefined;
    if (tx === undefined) return this.no(Reject.chainTxNotOpen);
    if (c.feeLevel !== tx.feeLevel + 1 || c.feeLevel > Limits.feeLevelMax) return this.no(Reject.chainTxReplaceInvalid);
    tx.feeLevel = c.feeLevel;
    this.engine.emit({ type: 'ChainTxReplaced', seq: this.engine.seq, chain: c.chain, fromIndex: tx.fromIndex, nonce: tx.nonce, feeLevel: tx.feeLevel, ts: this.engine.now });
    return { ok: true };
  }

  requestSweep(c: RequestSweep): Result {
    const chain = this.chains.get(c.chain);
    if (chain === undefined) return this.no(Reject.chainNotFound);
    const ca = this.engine.assetById.get(c.asset)?.chain;
    if (ca?.chain !== chain) return this.no(Reject.chainAssetNotFound);
    const user = this.engine.users[c.userId];
    if (user === undefined) return this.no(Reject.userNotFound);
    const sweepKey = `${String(user.id)}:${ca.asset.id}`;
    if (this.sweeping.has(sweepKey)) return this.no(Reject.sweepInFlight);
    const unswept = this.unswept.get(sweepKey) ?? 0n;
    const hot = chain.spec.hotWallet;
    let transfer: ChainTx;
    if (ca.spec.token === '') {
      const budget = BigInt(ca.spec.gasLimit) * BigInt(ca.spec.maxFeePerGas);
      if (unswept <= budget) return this.no(Reject.sweepTooSmall);
      transfer = this.assign(chain, user.id, this.depositNonce(chain, user.id), 'sweep', 0, ca, hot, -1, unswept - budget, unswept, ca);
    } else {
      const native = this.nativeOf(chain);
      if (native === undefined) return this.no(Reject.sweepNeedsNative);
      if (unswept === 0n) return this.no(Reject.sweepTooSmall);
      // The deposit address pays the token transfer's gas with native coin the hot wallet sends first.
      const gas = BigInt(ca.spec.gasLimit) * BigInt(ca.spec.maxFeePerGas);
      this.assign(chain, 0, chain.nextNonce++, 'gas', 0, native, '', user.id, gas, 0n, native);
      transfer = this.assign(chain, user.id, this.depositNonce(chain, user.id), 'sweep', 0, ca, hot, -1, unswept, unswept, ca);
    }
    this.sweeping.set(sweepKey, transfer.key);
    return { ok: true };
  }

  private depositNonce(chain: Chain, userId: number): number {
    const nonce = chain.depositNonces.get(userId) ?? 0;
    chain.depositNonces.set(userId, nonce + 1);
    return nonce;
  }

  private assign(
    chain: Chain, fromIndex: number, nonce: number, kind: ChainTxKind, withdrawalId: number, asset: ChainAsset, to: string, toIndex: number,
    amount: bigint, sweptAmount: bigint, gasAsset: ChainAsset,
  ): ChainTx {
    chain.assigned = true;
    const tx = new ChainTx(chain, fromIndex, nonce, kind, withdrawalId, asset, to, toIndex, amount, sweptAmount, gasAsset, 0, this.engine.seq);
    this.txs.set(tx.key, tx);
    this.engine.emit({ type: 'ChainTxAssigned', seq: this.engine.seq, tx: txView(tx), ts: this.engine.now });
    return tx;
  }

  // ---------------------------------------------------------------- controls

  setFrozen(c: SetWithdrawalsFrozen): Result {
    const chain = this.chains.get(c.chain);
    if (chain === undefined) return this.no(Reject.chainNotFound);
    if (typeof c.frozen !== 'boolean' || typeof c.reason !== 'string' || c.reason.length > reasonLengthMax) return this.no(Reject.chainInvalid);
    const reason = c.frozen ? c.reason : '';
    if (chain.frozen === c.frozen && chain.frozenReason === reason) return this.no(Reject.freezeUnchanged);
    // A second reconciler's freeze keeps the first reason: operators see what froze it first.
    if (chain.frozen && c.frozen) return this.no(Reject.freezeUnchanged);
    chain.frozen = c.frozen;
    chain.frozenReason = reason;
    this.engine.emit({ type: 'WithdrawalsFrozen', seq: this.engine.seq, chain: c.chain, frozen: c.frozen, reason, ts: this.engine.now });
    return { ok: true };
  }

  setAllowlist(c: SetWithdrawalAllowlist): Result {
    const user = this.engine.users[c.userId];
    if (user === undefined) return this.no(Reject.userNotFound);
    const given: readonly unknown[] = Array.isArray(c.addresses) ? c.addresses : [];
    const valid = given.filter((a): a is string => typeof a === 'string' && ADDRESS.test(a));
    if (!Array.isArray(c.addresses) || given.length > Limits.allowlistAddressesMax || valid.length !== given.length) {
      return this.no(Reject.allowlistInvalid);
    }
    const addresses = [...new Set(valid.map((a) => a.toLowerCase()))].sort();
    if (addresses.length === 0) this.allowlists.delete(user.id);
    else this.allowlists.set(user.id, addresses);
    this.engine.emit({ type: 'WithdrawalAllowlistSet', seq: this.engine.seq, userId: user.id, addresses });
    return { ok: true };
  }

  // ---------------------------------------------------------------- reading

  nativeOf(chain: Chain): ChainAsset | undefined {
    for (const a of this.engine.assets) if (a.chain?.chain === chain && a.chain.spec.token === '') return a.chain;
    return undefined;
  }

  /**
   * Sum over users of available + held of the asset, in minor units, in O(1): the ledger is
   * double-entry, so the users' total is minus the system accounts' (deposits in, withdrawals
   * out, fees); audit() checks that identity after every command in the tests.
   */
  liabilities(asset: Asset): bigint {
    return -(asset.deposits.toBigInt() + asset.withdrawals.toBigInt() + asset.fees.toBigInt());
  }

  private no(reject: Rejection): Result {
    return { ok: false, reject };
  }
}

export function txView(tx: ChainTx): ChainTxView {
  const gas = tx.gasAsset.spec;
  return {
    chain: tx.chain.spec.chain, chainId: tx.chain.spec.chainId, fromIndex: tx.fromIndex, nonce: tx.nonce, kind: tx.kind,
    withdrawalId: tx.withdrawalId, asset: tx.asset.asset.id, token: tx.asset.spec.token, to: tx.to, toIndex: tx.toIndex,
    chainAmount: tx.chainAmount.toString(), gasLimit: gas.gasLimit, maxFeePerGas: gas.maxFeePerGas,
    maxPriorityFeePerGas: gas.maxPriorityFeePerGas, feeLevel: tx.feeLevel, assignedSeq: tx.assignedSeq,
  };
}

/** What the custody runtime reads of one chain (views.ts); undefined for an undeclared chain. */
export function custodyView(engine: Engine, chainName: string): CustodyView | undefined {
  const c = engine.custody;
  const chain = c.chains.get(chainName);
  if (chain === undefined) return undefined;
  const assets: ChainAssetView[] = [];
  for (const a of engine.assets) {
    if (a.chain?.chain !== chain) continue;
    assets.push({ spec: a.chain.spec, scale: a.spec.scale, unitsPerMinor: a.chain.unitsPerMinor, liabilities: c.liabilities(a) });
  }
  const openTxs = [...c.txs.values()].filter((t) => t.chain === chain)
    .sort((a, b) => a.fromIndex - b.fromIndex || a.nonce - b.nonce).map(txView);
  const unswept: UnsweptView[] = [];
  const keys = new Set([...c.unswept.keys(), ...c.sweeping.keys()]);
  for (const key of keys) {
    const split = key.indexOf(':');
    const asset = engine.assetById.get(key.slice(split + 1));
    if (asset?.chain?.chain !== chain) continue;
    unswept.push({ userId: Number(key.slice(0, split)), asset: asset.id, chainAmount: c.unswept.get(key) ?? 0n, sweeping: c.sweeping.has(key) });
  }
  unswept.sort((a, b) => a.userId - b.userId || (a.asset < b.asset ? -1 : a.asset > b.asset ? 1 : 0));
  return {
    chain: { spec: chain.spec, nextNonce: chain.nextNonce, frozen: chain.frozen, frozenReason: chain.frozenReason },
    assets, openTxs, unswept, userCount: engine.nextUserId - 1, seq: engine.seq,
  };
}

/** Where the engine stands with the on-chain deposit (chain, txId, logIndex). */
export function depositStatus(engine: Engine, chain: string, txId: string, logIndex: number): DepositStatus {
  const key = `${chain}:${txId.toLowerCase()}:${String(logIndex)}`;
  if (engine.deposits.has(key)) return 'credited';
  return engine.custody.pending.has(key) ? 'pending' : 'unknown';
}
