// Turns a request's commands into a durable, applied log record: stamps it with the time and a
// request id, appends it, and resolves with the replica's results for exactly that record. The
// number of submissions in flight is bounded: past the bound a request is refused as busy at
// once rather than queued. A log failure after the append began is "outcome unknown", never
// "failed": the record may still be applied.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Result } from '../core/index.js';
import { SubmitError, type LogCommand } from '../gateway/port.js';
import { JournalError, type CommandLog } from '../log/index.js';
import { encodeBatch } from './codec.js';
import type { Replica } from './replica.js';

export interface SubmitterOptions {
  /** Submissions appended or waiting to be applied, at most. */
  readonly inFlightMax: number;
  /** How long a request waits for its record to be applied before answering "unknown". */
  readonly applyTimeoutMs: number;
  readonly now: () => number;
}

export class Submitter {
  readonly origin = `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  private rid = 0;
  inFlight = 0;

  constructor(private readonly log: CommandLog, private readonly replica: Replica, private readonly options: SubmitterOptions) {}

  async submit(cmds: readonly LogCommand[]): Promise<Result[]> {
    if (this.replica.state !== 'serving') throw new SubmitError('unavailable', `replica is ${this.replica.state}`);
    if (this.inFlight >= this.options.inFlightMax) throw new SubmitError('busy', 'too many requests in flight');
    const rid = ++this.rid;
    const applied = this.replica.expect(this.origin, rid);
    this.inFlight += 1;
    let timer: NodeJS.Timeout | undefined;
    try {
      try {
        await this.log.append([encodeBatch({ ts: this.options.now(), origin: this.origin, rid, cmds })]);
      } catch (e) {
        if (e instanceof JournalError && (e.code === 'busy' || e.code === 'append_too_large')) throw new SubmitError('busy', e.message);
        if (e instanceof JournalError && e.code === 'closed') throw new SubmitError('unavailable', e.message);
        throw new SubmitError('timeout', `log append failed, outcome unknown: ${(e as Error).message}`);
      }
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => { reject(new SubmitError('timeout', 'not applied in time, outcome unknown')); }, this.options.applyTimeoutMs);
      });
      const batch = await Promise.race([applied, timeout]);
      return batch.results;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      this.replica.forget(this.origin, rid);
      this.inFlight -= 1;
    }
  }
}
