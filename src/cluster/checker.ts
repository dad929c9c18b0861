// The drill's checker: replays the whole shared log in a fresh engine and holds the cluster to
// what it acknowledged. Every acknowledged order, cancel, deposit and withdrawal request is in
// the log exactly once, with the identity the client was told; no definite rejection a client
// saw was later applied; the ledger balances; and every replica's state hash equals the replay's.

import { audit, Engine, stateHash, type Event } from '../core/index.js';
import type { CommandLog } from '../log/index.js';
import { decodeBatch, MemoryKeyStore } from '../replica/index.js';
import type { DrillAck } from './drill-client.js';

export interface CheckReport {
  readonly records: number;
  readonly commands: number;
  readonly replayHash: string;
  readonly replayPosition: number;
  /** Acknowledged operations not found (exactly once) in the log: the RPO, in operations. */
  readonly lost: string[];
  /** Acknowledged results the log contradicts (a different order id, an applied rejection). */
  readonly contradicted: string[];
  readonly auditFailures: string[];
  readonly ok: boolean;
}

export async function checkLog(log: CommandLog, acks: readonly DrillAck[]): Promise<CheckReport> {
  const engine = new Engine();
  const keys = new MemoryKeyStore();
  const events: Event[] = [];
  const accepted = new Map<string, number[]>();   // `${userId}:${clOrdId}` -> order ids
  const canceledByUser = new Map<number, number>(); // order id -> user cancels
  const deposits = new Map<string, number>();
  const withdrawals = new Map<string, number>();   // `${userId}:${clientId}`
  let records = 0;
  let commands = 0;
  let position = 0;
  const last = log.bounds().last;
  while (position < last) {
    const page = await log.read(position + 1, 500);
    if (page.length === 0) break;
    for (const record of page) {
      const batch = decodeBatch(record.payload);
      for (const item of batch.items) {
        for (const cmd of item.cmds) {
          commands += 1;
          if (cmd.type === 'CreateApiKey' || cmd.type === 'RevokeApiKey') keys.apply(engine, cmd);
          else engine.apply(cmd, batch.ts, events);
        }
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
      events.length = 0;
      records += 1;
      position = record.position;
    }
  }

  const lost: string[] = [];
  const contradicted: string[] = [];
  for (const a of acks) {
    if (a.op === 'order' && a.id !== '') {
      const ids = accepted.get(`${a.userId}:${a.id}`) ?? [];
      if (a.ok) {
        if (ids.length !== 1) lost.push(`order ${a.id} acknowledged, accepted ${ids.length} times`);
        else if (String(ids[0]) !== a.ordId) contradicted.push(`order ${a.id} acknowledged as ${a.ordId ?? ''}, log says ${ids[0]!}`);
      } else if (!a.code.startsWith('failed') && !a.code.startsWith('gave up') && a.code !== '51016' && ids.length > 0) {
        contradicted.push(`order ${a.id} was refused with ${a.code} yet the log accepted it`);
      }
    } else if (a.op === 'cancel' && a.ok) {
      const n = canceledByUser.get(Number(a.id)) ?? 0;
      if (n !== 1) lost.push(`cancel of ${a.id} acknowledged, applied ${n} times`);
    } else if (a.op === 'deposit' && a.ok) {
      const n = deposits.get(a.id) ?? 0;
      if (n !== 1) lost.push(`deposit ${a.id} acknowledged, credited ${n} times`);
    } else if (a.op === 'withdraw' && a.ok) {
      const n = withdrawals.get(`${a.userId}:${a.id}`) ?? 0;
      if (n !== 1) lost.push(`withdrawal ${a.id} acknowledged, requested ${n} times`);
    }
  }
  const auditFailures = audit(engine);
  return {
    records, commands, replayHash: stateHash(engine), replayPosition: position, lost, contradicted, auditFailures,
    ok: lost.length === 0 && contradicted.length === 0 && auditFailures.length === 0,
  };
}
