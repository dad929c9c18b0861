// The exchange's addresses on a chain, by key index: 0 the hot wallet, u user u's deposit
// address. Derivation costs milliseconds per address, so the book grows by a bounded number of
// addresses per call as users are created, and maps an address back to its user.

import type { CustodyKeys } from './keys.js';

/** Addresses derived per call at most (a burst of new users is covered over a few rounds). */
export const ADDRESSES_DERIVED_PER_CALL_MAX = 500;

export class AddressBook {
  private readonly users = new Map<string, number>();
  private derived = 0;

  constructor(private readonly keys: CustodyKeys) {}

  /** Derives deposit addresses up to userCount (bounded per call); returns how many users are known. */
  extend(userCount: number): number {
    const until = Math.min(userCount, this.derived + ADDRESSES_DERIVED_PER_CALL_MAX);
    for (let u = this.derived + 1; u <= until; u++) this.users.set(this.keys.address(u), u);
    this.derived = Math.max(this.derived, until);
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
