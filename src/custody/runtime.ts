// One node's custody runtime for one chain: the watcher, the broadcaster and the sweeper run one
// after another in a round every pollMs, the reconciler every reconcileEveryMs, never two rounds
// at once. Each round reads the engine's custody view of the chain fresh and the chain's head
// once; a failed round (the chain unreachable, the log refusing) is logged and the next one
// starts over, since every step can be repeated without effect.

import { AddressBook } from './addresses.js';
import { Broadcaster, type BroadcasterStatus, type CrashPoint } from './broadcaster.js';
import type { ChainClient } from './chain.js';
import type { CustodyKeys } from './keys.js';
import type { CustodyLogger, CustodyPort } from './port.js';
import { Reconciler, type Reconciliation } from './reconciler.js';
import { Sweeper } from './sweeper.js';
import { Watcher, type WatcherStatus } from './watcher.js';

export interface CustodyRuntimeOptions {
  readonly chain: string;
  readonly client: ChainClient;
  readonly keys: CustodyKeys;
  readonly port: CustodyPort;
  readonly logger: CustodyLogger;
  readonly pollMs: number;
  readonly reconcileEveryMs: number;
  readonly replaceAfterMs: number;
  /** The first block the watcher scans after a start (a chain's first block for a dev chain). */
  readonly scanFromBlock: number;
  readonly crashAt: CrashPoint;
  readonly now: () => number;
}

export interface CustodyStatus {
  readonly chain: string;
  readonly running: boolean;
  readonly rounds: number;
  readonly head: number;
  readonly lastError: string;
  readonly watcher: WatcherStatus;
  readonly broadcaster: BroadcasterStatus;
  readonly sweepsRequested: number;
  readonly reconciliation: Reconciliation | null;
}

export class CustodyRuntime {
  private readonly watcher: Watcher;
  private readonly broadcaster: Broadcaster;
  private readonly sweeper: Sweeper;
  private readonly reconciler: Reconciler;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private rounds = 0;
  private head = -1;
  private lastError = '';
  private lastReconcileMs = -Infinity;

  constructor(private readonly options: CustodyRuntimeOptions) {
    const { chain, client, port, keys, logger } = options;
    const book = new AddressBook(keys);
    this.watcher = new Watcher(chain, client, port, book, logger, options.scanFromBlock);
    this.broadcaster = new Broadcaster(chain, client, port, keys, book, logger, { replaceAfterMs: options.replaceAfterMs, now: options.now, crashAt: options.crashAt });
    this.sweeper = new Sweeper(chain, port, logger);
    this.reconciler = new Reconciler(chain, client, port, book, logger, options.now);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  status(): CustodyStatus {
    return {
      chain: this.options.chain, running: !this.stopped, rounds: this.rounds, head: this.head, lastError: this.lastError,
      watcher: this.watcher.status(), broadcaster: this.broadcaster.status(), sweepsRequested: this.sweeper.status().requested,
      reconciliation: this.reconciler.lastResult() ?? null,
    };
  }

  lastReconciliation(): Reconciliation | undefined {
    return this.reconciler.lastResult();
  }

  /** One round of every loop (the reconciler when due, or when `reconcile` is true). */
  async round(reconcile = false): Promise<void> {
    const view = this.options.port.custody(this.options.chain);
    if (view === undefined) return;
    const head = await this.options.client.headNumber();
    this.head = head;
    await this.watcher.round(view, head);
    // Each loop reads the view again: the watcher's submissions have applied by now.
    const afterWatch = this.options.port.custody(this.options.chain) ?? view;
    await this.broadcaster.round(afterWatch, head);
    await this.sweeper.round(this.options.port.custody(this.options.chain) ?? afterWatch);
    const now = this.options.now();
    if (reconcile || now - this.lastReconcileMs >= this.options.reconcileEveryMs) {
      this.lastReconcileMs = now;
      await this.reconciler.round();
    }
    this.rounds += 1;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.running = this.round().then(
        () => { this.lastError = ''; },
        (e: unknown) => {
          const message = (e as Error).message.split('\n')[0] ?? '';
          if (message !== this.lastError) this.options.logger.warn({ chain: this.options.chain, err: message }, 'custody round failed; retrying');
          this.lastError = message;
        },
      ).finally(() => {
        if (!this.stopped) this.schedule(this.options.pollMs);
      });
    }, delayMs);
    this.timer.unref();
  }
}
