// The exchange's addresses on a chain, by key index: 0 the hot wallet, u user u's deposit
// address. Derivation costs milliseconds per address, so the book grows by a bounded number of
// addresses per call as users are created, and maps an address back to its user.

import type { CustodyKeys } from './keys.js';

/** Addresses derived per call at most (a burst of new users is covered over a few rounds). */
export const ADDRESSES_DERIVED_PER_CALL_MAX = 5_000;
/**
 * Addresses derived between two yields to the event loop: a derivation is about a millisecond of
 * pure-JS elliptic-curve work, so a chunk holds the loop (and the replica, and the quorum probe)
 * for a few tens of milliseconds at most.
 */
export const ADDRESSES_PER_CHUNK = 20;

export class AddressBook {
  private readonly users = new Map<string, number>();
  private derived = 0;

  constructor(private readonly keys: CustodyKeys) {}

  /**
   * Derives deposit addresses up to userCount (bounded per call), yielding to the event loop
   * between chunks; returns how many users are known.
   */
  async extend(userCount: number): Promise<number> {
    const until = Math.min(userCount, this.derived + ADDRESSES_DERIVED_PER_CALL_MAX);
    while (this.derived < until) {
      const chunkEnd = Math.min(until, this.derived + ADDRESSES_PER_CHUNK);
      for (let u = this.derived + 1; u <= chunkEnd; u++) this.users.set(this.keys.address(u), u);
      this.derived = chunkEnd;
      if (this.derived < until) await new Promise<void>((resolve) => { setImmediate(resolve); });
    }
    return this.derived;
  }

  /** The user whose deposit address this is (lower-case), if derived. */
  userOf(address: string): number | undefined {
    return this.users.get(address);
  }

  address(index: number): string {
    return this.keys.address(index);
  }

  get known(): number {
    return this.derived;
  }
}
