// Reserves for each report that names a chain block: once the liabilities tree is built, the
// node reads its custody addresses at that block and signs a message per address naming the
// report's root (src/por/reserves.ts), then stores reserves.json beside the report. One report at
// a time, a bounded queue, a bounded number of attempts (the block may not have reached this
// node's chain endpoint yet). Every node reads the same block with the same key, so every node
// writes the same section.

import type { Logger } from 'pino';
import { readReserves, type LiabilitiesReport, type ReportStore, type ReserveAsset, type ReserveChainReader, type ReserveSigner } from '../por/index.js';

/** Reports waiting for their reserves, at most. */
export const reservesPendingMax = 16;
/** Attempts to read one report's reserves, and the pause between them. */
export const reservesAttemptsMax = 5;
export const reservesRetryMs = 2_000;
/**
 * Blocks behind the head at which an operator's report reads reserves when it names no block:
 * deep enough that a reorganisation is unlikely to replace it (a verifier would see its hash change).
 */
export const reservesBlockDepth = 3;

/** What reserves need of the custody runtime: its chain, its keys, the assets on the chain. */
export interface ReserveAccess {
  readonly chain: ReserveChainReader;
  readonly signer: ReserveSigner;
  assets(): ReserveAsset[];
  headNumber(): Promise<number>;
}

export class ReservesWriter {
  private readonly queue: LiabilitiesReport[] = [];
  private running = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly store: ReportStore, private readonly access: ReserveAccess, private readonly logger: Logger) {}

  /** The block a new report reads reserves at: a little behind the head. */
  async reportBlock(): Promise<number> {
    return Math.max(1, (await this.access.headNumber()) - reservesBlockDepth);
  }

  /** Queues a built report that names a block (others are ignored). */
  request(report: LiabilitiesReport): void {
    if (report.blockNumber <= 0 || this.closed) return;
    if (this.queue.length >= reservesPendingMax) {
      this.logger.error({ reportId: report.reportId }, 'reserves not read: too many reports waiting');
      return;
    }
    this.queue.push(report);
    void this.next();
  }

  /** Queues every stored report that names a block and has no reserves yet (after a restart). */
  async catchUp(): Promise<void> {
    for (const id of await this.store.list()) {
      const report = await this.store.report(id);
      if (report !== undefined && report.blockNumber > 0 && await this.store.reserves(id) === undefined) this.request(report);
    }
  }

  close(): void {
    this.closed = true;
    this.queue.length = 0;
    clearTimeout(this.timer);
  }

  /** Read afresh after each await (close() may have run meanwhile). */
  private open(): boolean {
    return !this.closed;
  }

  private async next(): Promise<void> {
    if (this.running || this.closed) return;
    const report = this.queue.shift();
    if (report === undefined) return;
    this.running = true;
    try {
      for (let attempt = 1; attempt <= reservesAttemptsMax && this.open(); attempt++) {
        try {
          if (await this.store.reserves(report.reportId) !== undefined) break;
          const reserves = await readReserves({ report, assets: this.access.assets(), chain: this.access.chain, signer: this.access.signer });
          await this.store.writeReserves(reserves);
          this.logger.info({ reportId: report.reportId, block: report.blockNumber, addresses: reserves.addresses.length, totals: reserves.totals }, 'reserves read and signed');
          break;
        } catch (e) {
          const last = attempt === reservesAttemptsMax;
          this.logger[last ? 'error' : 'warn']({ reportId: report.reportId, attempt, err: (e as Error).message }, last ? 'RESERVES NOT READ' : 'reserves: will try again');
          if (!last) await new Promise<void>((resolve) => { this.timer = setTimeout(resolve, reservesRetryMs); });
        }
      }
    } finally {
      this.running = false;
      void this.next();
    }
  }
}
