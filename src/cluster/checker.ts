// The drill's checker: replays the whole shared log (from position 1: drills run without log
// compaction) in a fresh engine and holds the cluster to what it acknowledged. No submission is
// in the log twice (each gateway's (origin, request id) is unique); every acknowledged order,
// cancel, deposit and withdrawal request took effect exactly once, with the identity the client
// was told; no definite refusal a client saw took effect later; the ledger balances. The drill
// compares the replay's state hash with every replica's, each at the position that replica
// reported (idle cluster nodes keep writing heartbeat records, so the log's end moves on).

import { audit, type Event } from '../core/index.js';
import type { CommandLog } from '../log/index.js';
import { applyBatch, decodeBatch, emptyState, replicaStateHash, type LogBatch } from '../replica/index.js';
import type { DrillAck } from './drill-client.js';

export interface CheckReport {
  readonly records: number;
  readonly commands: number;
  readonly replayHash: string;
  readonly replayPosition: number;
  /** The replay's state hash at each position asked for (that the log reached). */
  readonly replayHashesAt: ReadonlyMap<number, string>;
  /** Acknowledged operations not found (exactly once) in the log: the RPO, in operations. */
  readonly lost: string[];
  /** Acknowledged results the log contradicts (a different order id, an applied rejection). */
  readonly contradicted: string[];
  readonly auditFailures: string[];
  readonly ok: boolean;
}

/** A replay of the whole log: the final state, where it ended, and its state hash at each position asked for. */
export interface Replay {
  readonly state: ReturnType<typeof emptyState>;
  readonly records: number;
  readonly position: number;
  readonly hashesAt: ReadonlyMap<number, string>;
}

/**
 * Replays the shared log from position 1 in a fresh engine, handing every record's batch and the
 * events it produced to `visit` (the events array is reused: copy what you keep).
 */
export async function replayLog(log: CommandLog, visit: (batch: LogBatch, events: readonly Event[]) => void, hashAt: readonly number[] = []): Promise<Replay> {
  const hashesAt = new Map<number, string>();
  const state = emptyState();
  const events: Event[] = [];
  let records = 0;
  let position = 0;
  const last = log.bounds().last;
  while (position < last) {
    const page = await log.read(position + 1, 500);
    if (page.length === 0) break;
    for (const record of page) {
      const batch = decodeBatch(record.payload);
      applyBatch(state, batch, events);
      visit(batch, events);
      events.length = 0;
      records += 1;
      position = record.position;
      if (hashAt.includes(position)) hashesAt.set(position, replicaStateHash(state));
    }
  }
  return { state, records, position, hashesAt };
}

export async function checkLog(log: CommandLog, acks: readonly DrillAck[], hashAt: readonly number[] = []): Promise<CheckReport> {
  const accepted = new Map<string, number[]>();   // `${userId}:${clOrdId}` -> order ids
  const canceledByUser = new Map<number, number>(); // order id -> user cancels
  const deposits = new Map<string, number>();
  const withdrawals = new Map<string, number>();   // `${userId}:${clientId}`
  const submissions = new Set<string>();
  const duplicated: string[] = [];
  let commands = 0;
  const replay = await replayLog(log, (batch, events) => {
    for (const item of batch.items) {
      const key = `${batch.origin}/${item.rid}`;
      if (submissions.has(key)) duplicated.push(`submission ${key} is in the log twice`);
      submissions.add(key);
      commands += item.cmds.length;
    }
    for (const e of events) {
      if (e.type === 'OrderAccepted' && e.clOrdId !== '') {
        const k = `${e.userId}:${e.clOrdId}`;
        accepted.set(k, [...(accepted.get(k) ?? []), e.orderId]);
      } else if (e.type === 'OrderCanceled' && e.reason === 'user') {
        canceledByUser.set(e.orderId, (canceledByUser.get(e.orderId) ?? 0) + 1);
      } else if (e.type === 'DepositCredited') {
        deposits.set(e.depositId, (deposits.get(e.depositId) ?? 0) + 1);
      } else if (e.type === 'WithdrawalRequested' && e.clientId !== '') {
        const k = `${e.userId}:${e.clientId}`;
        withdrawals.set(k, (withdrawals.get(k) ?? 0) + 1);
      }
    }
  }, hashAt);
  const { state, records, position } = replay;

  const lost: string[] = [];
  const contradicted: string[] = [...duplicated];
  /** A refusal the exchange stands by: not "gave up", not "unknown", not a retry meeting its own first attempt. */
  const definite = (a: DrillAck): boolean => !a.ok && a.attempts === 1 && !/^(failed|gave up)/.test(a.code) && !['50001', '50004', '50013'].includes(a.code);
  for (const a of acks) {
    if (a.op === 'order' && a.id !== '') {
      const ids = accepted.get(`${a.userId}:${a.id}`) ?? [];
      if (a.ok) {
        if (ids.length !== 1) lost.push(`order ${a.id} acknowledged, accepted ${ids.length} times`);
        else if (String(ids[0]) !== a.ordId) contradicted.push(`order ${a.id} acknowledged as ${a.ordId ?? ''}, log says ${ids[0]!}`);
      } else if (definite(a) && ids.length > 0) {
        contradicted.push(`order ${a.id} was refused with ${a.code} yet the log accepted it`);
      }
    } else if (a.op === 'cancel') {
      const n = canceledByUser.get(Number(a.id)) ?? 0;
      if (a.ok && n !== 1) lost.push(`cancel of ${a.id} acknowledged, applied ${n} times`);
      if (definite(a) && n > 0) contradicted.push(`cancel of ${a.id} was refused with ${a.code} yet the order was cancelled`);
    } else if (a.op === 'deposit') {
      const n = deposits.get(a.id) ?? 0;
      if (a.ok && n !== 1) lost.push(`deposit ${a.id} acknowledged, credited ${n} times`);
      if (definite(a) && n > 0) contradicted.push(`deposit ${a.id} was refused with ${a.code} yet credited`);
    } else if (a.op === 'withdraw') {
      const n = withdrawals.get(`${a.userId}:${a.id}`) ?? 0;
      if (a.ok && n !== 1) lost.push(`withdrawal ${a.id} acknowledged, requested ${n} times`);
      if (definite(a) && n > 0) contradicted.push(`withdrawal ${a.id} was refused with ${a.code} yet requested`);
    }
  }
  const auditFailures = audit(state.engine);
  return {
    records, commands, replayHash: replicaStateHash(state), replayPosition: position, replayHashesAt: replay.hashesAt, lost, contradicted, auditFailures,
    ok: lost.length === 0 && contradicted.length === 0 && auditFailures.length === 0,
  };
}
