// The node's side of liabilities reports: the apply loop hands over a copied balance table, and
// this queue builds one report at a time in a worker thread, so matching never waits for a tree.
// The queue is bounded; a report id already built, queued or building is not built again (the
// first request of an id is the one every node keeps, since every node sees the same log).

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { REPORT_ID } from './format.js';
import { ReportStore } from './store.js';
import type { BalanceTable } from './tree.js';
import type { LiabilitiesReport } from './types.js';

/** Reports waiting for the worker, at most; a request beyond it fails at once (logged, retryable with a new id). */
export const reportsPendingMax = 4;

/** Where a request sits in the log, as the replica saw it. */
export interface ReportMeta {
  readonly reportId: string;
  readonly position: number;
  readonly requestSeq: number;
  readonly seq: number;
  readonly ts: number;
  readonly blockNumber: number;
}

export interface BuildJob {
  readonly table: BalanceTable;
  readonly saltKey: Uint8Array;
  readonly meta: ReportMeta;
  readonly dir: string;
}

export type BuildOutcome =
  | {
    readonly ok: true; readonly report: LiabilitiesReport; readonly written: boolean; readonly buildMs: number; readonly writeMs: number;
    /** The worker's heap and buffer bytes with the whole tree built (0 when the report was on disk already). */
    readonly heapBytes: number; readonly externalBytes: number;
  }
  | { readonly ok: false; readonly error: string };

export type ReportState =
  | { readonly state: 'queued' | 'building' }
  | { readonly state: 'ready'; readonly report: LiabilitiesReport }
  | { readonly state: 'failed'; readonly error: string };

export interface ReportsOptions {
  /** <data-dir>/por */
  readonly dir: string;
  /** The salt sub-key (format.ts saltKeyFrom): the same on every node of the deployment. */
  readonly saltKey: Uint8Array;
  readonly pendingMax?: number;
  /** Told of every finished build, for logs and metrics (and, with custody, reading reserves). */
  readonly onSettled?: (meta: ReportMeta, outcome: BuildOutcome) => void;
}

export class LiabilitiesReports {
  readonly store: ReportStore;
  private readonly queue: { readonly table: BalanceTable; readonly meta: ReportMeta }[] = [];
  private readonly states = new Map<string, ReportState>();
  private readonly waiters = new Map<string, ((state: ReportState) => void)[]>();
  private running: Worker | undefined;
  private idleWaiters: (() => void)[] = [];
  private closed = false;

  constructor(private readonly options: ReportsOptions) {
    this.store = new ReportStore(options.dir);
  }

  /**
   * Takes a copied table from the apply loop; returns at once. 'duplicate': this id is known
   * here already; 'queue_full': too many builds waiting, nothing will be built for it.
   */
  request(table: BalanceTable, meta: ReportMeta): 'queued' | 'duplicate' | 'queue_full' {
    const known = this.states.get(meta.reportId);
    if (known !== undefined && known.state !== 'failed') return 'duplicate';
    if (this.queue.length >= (this.options.pendingMax ?? reportsPendingMax)) {
      this.settle(meta, { ok: false, error: `more than ${this.options.pendingMax ?? reportsPendingMax} reports waiting to be built` });
      return 'queue_full';
    }
    this.states.set(meta.reportId, { state: 'queued' });
    this.queue.push({ table, meta });
    this.next();
    return 'queued';
  }

  /**
   * Whether this node has the report or is building it: then the apply loop need not copy the
   * balances again (a replay past a report built before, or a repeated id). One stat at most.
   */
  known(reportId: string): boolean {
    const state = this.states.get(reportId);
    if (state !== undefined) return state.state !== 'failed';
    return REPORT_ID.test(reportId) && existsSync(join(this.options.dir, reportId, 'report.json'));
  }

  /** Where a report stands on this node: in memory while this process built it, else from disk. */
  async state(reportId: string): Promise<ReportState | undefined> {
    const known = this.states.get(reportId);
    if (known !== undefined) return known;
    const report = await this.store.report(reportId);
    return report === undefined ? undefined : { state: 'ready', report };
  }

  /** Resolves once the report is built or has failed (for tests and the operator CLI). */
  async settled(reportId: string): Promise<ReportState> {
    const now = await this.state(reportId);
    if (now !== undefined && (now.state === 'ready' || now.state === 'failed')) return now;
    return new Promise((resolve) => {
      const list = this.waiters.get(reportId) ?? [];
      list.push(resolve);
      this.waiters.set(reportId, list);
    });
  }

  /**
   * Waits until nothing is queued or building, or `timeoutMs` has passed; true when idle. A node
   * that stops calls it first: once its final snapshot is past a report's position, it could not
   * build that report again.
   */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.idle()) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(() => { resolve(false); }, timeoutMs); });
    const idle = new Promise<boolean>((resolve) => { this.idleWaiters.push(() => { resolve(true); }); });
    const result = await Promise.race([idle, timeout]);
    clearTimeout(timer);
    return result;
  }

  private idle(): boolean {
    return this.running === undefined && this.queue.length === 0;
  }

  /** Stops the worker (a build under way is lost; the log still holds the request). */
  async close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    await this.running?.terminate();
  }

  private next(): void {
    if (this.running !== undefined || this.closed) return;
    const job = this.queue.shift();
    if (job === undefined) return;
    this.states.set(job.meta.reportId, { state: 'building' });
    const data: BuildJob = { table: job.table, saltKey: this.options.saltKey, meta: job.meta, dir: this.options.dir };
    const worker = new Worker(new URL('./worker.js', import.meta.url), {
      workerData: data, transferList: [job.table.userIds.buffer as ArrayBuffer, job.table.limbs.buffer as ArrayBuffer],
    });
    this.running = worker;
    let outcome: BuildOutcome | undefined;
    worker.once('message', (m: BuildOutcome) => { outcome = m; });
    worker.once('error', (e) => { outcome ??= { ok: false, error: e.message }; });
    worker.once('exit', (code) => {
      this.running = undefined;
      if (!this.closed) this.settle(job.meta, outcome ?? { ok: false, error: `the build worker exited with code ${code}` });
      this.next();
      if (this.idle()) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const resolve of waiters) resolve();
      }
    });
  }

  private settle(meta: ReportMeta, outcome: BuildOutcome): void {
    const state: ReportState = outcome.ok ? { state: 'ready', report: outcome.report } : { state: 'failed', error: outcome.error };
    this.states.set(meta.reportId, state);
    this.options.onSettled?.(meta, outcome);
    for (const resolve of this.waiters.get(meta.reportId) ?? []) resolve(state);
    this.waiters.delete(meta.reportId);
  }
}
