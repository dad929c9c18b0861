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
  const users = engine.users;
  // Ids are dense from 1 (slot 0 is empty), so this is the count unless an id was never filled.
  const slots = users.length - 1;
  if (slots > copyUsersMax) throw new RangeError(`${slots} users: more than a report holds`);
  const userIds = new Uint32Array(slots);
  const limbs = new Float64Array(slots * width * 2);
  let i = 0;
  for (let id = 1; id < users.length; id++) {
    const user = users[id];
    if (user === undefined) continue;
    userIds[i] = id;
    const accounts = user.accounts;
    const count = Math.min(width, accounts.length);
    for (let a = 0; a < count; a++) {
      const account = accounts[a];
      if (account === undefined) continue;
      const at = (i * width + a) * 2;
      limbs[at] = account.available.hi + account.held.hi;
      limbs[at + 1] = account.available.lo + account.held.lo;
    }
    i += 1;
  }
  return i === slots ? { reportId, assets, userIds, limbs } : { reportId, assets, userIds: userIds.slice(0, i), limbs: limbs.slice(0, i * width * 2) };
}
