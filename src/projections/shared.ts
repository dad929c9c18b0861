// What the views of the read side share: how they fail when the events break an invariant, and
// the per-user slots every per-user view keeps (an array indexed by user id, since the engine
// issues user ids densely from 1).

import { InvariantError } from '../core/index.js';

/** A broken invariant: a bug, or events that did not come from this engine in log order. */
export function broken(what: string): never {
  throw new InvariantError(`projections: invariant broken: ${what}`);
}

/**
 * The slot of `userId` in `slots`, created by `make` the first time the user is seen. `make` is a
 * module-level function, so a call for a user already seen makes no closure.
 */
export function userSlot<T>(slots: (T | undefined)[], userId: number, make: () => T): T {
  let slot = slots[userId];
  if (slot === undefined) {
    if (!Number.isSafeInteger(userId) || userId < 1) broken(`user id ${userId} is one the engine issues`);
    slot = make();
    while (slots.length < userId) slots.push(undefined);
    slots[userId] = slot;
  }
  return slot;
}

/** The users that have a slot, in user id order. */
export function usersWithSlots(slots: readonly unknown[]): number[] {
  const ids: number[] = [];
  slots.forEach((slot, userId) => {
    if (slot !== undefined) ids.push(userId);
  });
  return ids;
}

/** The one-minute width of a candle, which also aligns the ticker's window. */
export const minuteMs = 60_000;
