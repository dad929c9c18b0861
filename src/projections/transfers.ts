// The transfers view: per user, deposits and withdrawals (deques in request-time order, bounded
// by count), and every retained withdrawal by id for the events that change its state. They page
// by timestamp, as OKX's deposit-history and withdrawal-history do.

import type { Event } from '../core/index.js';
import { Deque, type Verdict } from './deque.js';
import { userSlot, usersWithSlots } from './shared.js';
import { Retention, type DepositRecord, type Page, type WithdrawalRecord } from './types.js';

type DepositCredited = Extract<Event, { type: 'DepositCredited' }>;
type DepositPending = Extract<Event, { type: 'DepositPending' }>;
type DepositReverted = Extract<Event, { type: 'DepositReverted' }>;
type WithdrawalRequested = Extract<Event, { type: 'WithdrawalRequested' }>;
type WithdrawalCompleted = Extract<Event, { type: 'WithdrawalCompleted' }>;
type WithdrawalEnded = Extract<Event, { type: 'WithdrawalFailed' | 'WithdrawalCanceled' }>;

/** What the saved projections hold of one user's transfers. */
export interface UserTransfersJSON {
  readonly deposits: readonly DepositRecord[];
  readonly withdrawals: readonly WithdrawalRecord[];
}

class UserTransfers {
  readonly deposits = new Deque<DepositRecord>((d) => d.ts);
  readonly withdrawals = new Deque<WithdrawalRecord>((w) => w.ts);
}

const newUserTransfers = (): UserTransfers => new UserTransfers();

export class TransfersView {
  private readonly users: (UserTransfers | undefined)[] = [];
  /** Every retained withdrawal, for the events that change its state. */
  private readonly withdrawalsById = new Map<number, WithdrawalRecord>();
  /** Retained on-chain deposits not yet credited, for the events that change their state. */
  private readonly pendingById = new Map<string, DepositRecord>();

  deposited(e: DepositCredited): void {
    const pending = this.pendingById.get(e.depositId);
    if (pending !== undefined) {
      this.pendingById.delete(e.depositId);
      pending.state = 'credited';
      if (e.confirmations !== undefined) pending.confirmations = e.confirmations;
      return;
    }
    const chain = e.txId === undefined ? {} : { txId: e.txId, address: e.address ?? '', confirmations: e.confirmations ?? 0 };
    this.pushDeposit({ depositId: e.depositId, userId: e.userId, asset: e.asset, amount: e.amount, state: 'credited', ts: e.ts, ...chain });
  }

  depositPending(e: DepositPending): void {
    const known = this.pendingById.get(e.depositId);
    if (known !== undefined) {
      known.confirmations = e.confirmations;
      return;
    }
    const record: DepositRecord = {
      depositId: e.depositId, userId: e.userId, asset: e.asset, amount: e.amount, state: 'pending', ts: e.ts,
      txId: e.txId, address: e.address, confirmations: e.confirmations,
    };
    this.pendingById.set(e.depositId, record);
    this.pushDeposit(record);
  }

  depositReverted(e: DepositReverted): void {
    const record = this.pendingById.get(e.depositId);
    if (record === undefined) return;
    this.pendingById.delete(e.depositId);
    record.state = 'reverted';
  }

  private pushDeposit(record: DepositRecord): void {
    const deposits = this.user(record.userId).deposits;
    deposits.push(record);
    // The oldest goes even if still pending: its later events then find nothing to update.
    if (deposits.length > Retention.transfersPerUserMax) this.pendingById.delete(deposits.shift()!.depositId);
  }

  /** A withdrawal's stage on a chain: waiting for approval, or its transaction assigned. */
  withdrawalStage(withdrawalId: number, state: 'approval' | 'broadcasting', ts: number): void {
    const record = this.withdrawalsById.get(withdrawalId);
    if (record === undefined) return;
    record.state = state;
    record.updatedTs = ts;
  }

  withdrawalRequested(e: WithdrawalRequested): void {
    const record: WithdrawalRecord = {
      withdrawalId: e.withdrawalId, userId: e.userId, asset: e.asset, amount: e.amount, fee: e.fee,
      address: e.address, clientId: e.clientId, state: 'pending', txId: '', reason: '', ts: e.ts, updatedTs: e.ts,
    };
    const withdrawals = this.user(e.userId).withdrawals;
    withdrawals.push(record);
    this.withdrawalsById.set(record.withdrawalId, record);
    // The oldest goes even if still pending: its later events then find nothing to update.
    if (withdrawals.length > Retention.transfersPerUserMax) this.withdrawalsById.delete(withdrawals.shift()!.withdrawalId);
  }

  withdrawalCompleted(e: WithdrawalCompleted): void {
    const record = this.withdrawalsById.get(e.withdrawalId);
    if (record === undefined) return;
    record.state = 'completed';
    record.txId = e.txId;
    record.updatedTs = e.ts;
  }

  withdrawalEnded(e: WithdrawalEnded): void {
    const record = this.withdrawalsById.get(e.withdrawalId);
    if (record === undefined) return;
    record.state = e.type === 'WithdrawalFailed' ? 'failed' : 'canceled';
    record.reason = e.reason;
    record.updatedTs = e.ts;
  }

  private user(userId: number): UserTransfers {
    return userSlot(this.users, userId, newUserTransfers);
  }

  deposits(userId: number, filter: { asset?: string; depositId?: string } & Page): DepositRecord[] {
    const user = this.users[userId];
    if (user === undefined) return [];
    return user.deposits.page(filter.after, filter.before, filter.limit, (d): Verdict =>
      (filter.asset !== undefined && d.asset !== filter.asset) || (filter.depositId !== undefined && d.depositId !== filter.depositId)
        ? 'skip' : 'take');
  }

  withdrawals(userId: number, filter: { asset?: string; withdrawalId?: number; clientId?: string } & Page): WithdrawalRecord[] {
    const user = this.users[userId];
    if (user === undefined) return [];
    return user.withdrawals.page(filter.after, filter.before, filter.limit, (w): Verdict =>
      (filter.asset !== undefined && w.asset !== filter.asset)
      || (filter.withdrawalId !== undefined && w.withdrawalId !== filter.withdrawalId)
      || (filter.clientId !== undefined && w.clientId !== filter.clientId)
        ? 'skip' : 'take');
  }

  userIds(): number[] {
    return usersWithSlots(this.users);
  }

  save(userId: number): UserTransfersJSON {
    const user = this.users[userId];
    if (user === undefined) return { deposits: [], withdrawals: [] };
    return { deposits: user.deposits.toArray().map((d) => ({ ...d })), withdrawals: user.withdrawals.toArray().map((w) => ({ ...w })) };
  }

  /** Loads one user's saved transfers (copied, never shared). */
  load(userId: number, saved: UserTransfersJSON): void {
    const user = this.user(userId);
    for (const d of saved.deposits) {
      const record = { ...d };
      user.deposits.push(record);
      if (record.state === 'pending') this.pendingById.set(record.depositId, record);
    }
    for (const w of saved.withdrawals) {
      const record = { ...w };
      user.withdrawals.push(record);
      this.withdrawalsById.set(record.withdrawalId, record);
    }
  }
}
