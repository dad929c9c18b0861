// The sweeper, run by every node: for each deposit address holding credited, unswept funds with
// no sweep in flight, it asks the engine to sweep them to the hot wallet (RequestSweep). The
// engine assigns the transactions (for a token, a gas top-up from the hot wallet first) and
// refuses a second request while one is in flight, so every cloud may ask; the broadcaster
// sends what was assigned. A native amount that does not exceed the sweep's own gas is left.

import type { CustodyView } from '../core/index.js';
import { outcomeOf, type CustodyLogger, type CustodyPort } from './port.js';

/** Sweep requests per round at most. */
export const SWEEPS_PER_ROUND_MAX = 50;

export class Sweeper {
  private requested = 0;

  constructor(private readonly chain: string, private readonly port: CustodyPort, private readonly logger: CustodyLogger) {}

  status(): { readonly requested: number } {
    return { requested: this.requested };
  }

  async round(view: CustodyView): Promise<void> {
    let submits = 0;
    for (const u of view.unswept) {
      if (u.sweeping || u.chainAmount <= 0n) continue;
      const asset = view.assets.find((a) => a.spec.asset === u.asset);
      if (asset === undefined) continue;
      const gasCost = BigInt(asset.spec.gasLimit) * BigInt(asset.spec.maxFeePerGas);
      if (asset.spec.token === '' && u.chainAmount <= gasCost) continue;
      if (submits >= SWEEPS_PER_ROUND_MAX) break;
      submits += 1;
      const outcome = outcomeOf(await this.port.submit([{ type: 'RequestSweep', chain: this.chain, asset: u.asset, userId: u.userId }]));
      if (outcome === 'ok') this.requested += 1;
      this.logger.info({ chain: this.chain, asset: u.asset, userId: u.userId, chainAmount: u.chainAmount.toString(), outcome }, 'custody sweeper: sweep requested');
    }
  }
}
