// The copy a liabilities report is built from: every user's available + held per asset, taken on
// the apply thread right after the record that requested the report, so it is the same state on
// every replica. Two limbs per balance (the engine's own representation) in one typed array: a
// million users with two assets copy in tens of milliseconds and move to a worker without cloning.

import type { Engine } from '../core/index.js';

export interface BalanceCopy {
  readonly reportId: string;
  readonly assets: readonly { readonly asset: string; readonly scale: number }[];
  /** Every user's id, ascending. */
  readonly userIds: Uint32Array;
  /** For user i and asset a: limbs[(i * assets + a) * 2] = hi, the next = lo; the balance is hi * 10^15 + lo. */
  readonly limbs: Float64Array;
}

/** Users a copy may hold: ids are stored as 32-bit integers. */
export const copyUsersMax = 0xffff_ffff;

export function copyBalances(engine: Engine, reportId: string): BalanceCopy {
  const assets = engine.assets.map((a) => ({ asset: a.id, scale: a.spec.scale }));
  const width = assets.length;
  let count = 0;
  for (const user of engine.users) if (user !== undefined) count += 1;
  if (count > copyUsersMax) throw new RangeError(`${count} users: more than a report holds`);
  const userIds = new Uint32Array(count);
  const limbs = new Float64Array(count * width * 2);
  let i = 0;
  for (const user of engine.users) {
    if (user === undefined) continue;
    userIds[i] = user.id;
    const accounts = user.accounts;
    for (let a = 0; a < width && a < accounts.length; a++) {
      const account = accounts[a];
      if (account === undefined) continue;
      const at = (i * width + a) * 2;
      limbs[at] = account.available.hi + account.held.hi;
      limbs[at + 1] = account.available.lo + account.held.lo;
    }
    i += 1;
  }
  return { reportId, assets, userIds, limbs };
}
