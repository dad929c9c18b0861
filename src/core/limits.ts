// Every bound the engine enforces, named in one place. A request that reaches a bound gets a
// rejection with a stable code; nothing in the engine grows without one of these limits.

export const Limits = {
  /**
   * Client order ids a user may not reuse: every open order's, and those of the user's most
   * recent orders up to this many, so a retry after a lost answer is recognised even when the
   * first attempt already filled.
   */
  recentClientOrderIdsPerUser: 1_024,
  /** Open (resting) orders one user may have across all instruments. */
  openOrdersPerUserMax: 10_000,
  /** Fees are integer parts per million (1 bp = 100 ppm). Makers may be paid a rebate down to -1%. */
  feePpmMax: 100_000,
  makerFeePpmMin: -10_000,
  defaultMakerFeePpm: 800,
  defaultTakerFeePpm: 1_000,
  /** Digits after the point in an asset's minor unit. */
  assetScaleMax: 18,
  /** A market order may trade at most this far (basis points) from the best price it found. */
  bandBpsMax: 5_000,
  /** Deposit ids, addresses and transaction ids. */
  externalIdLengthMax: 128,
  /**
   * The most of one asset the ledger accepts in all (deposits outstanding): 10^28 minor units.
   * A balance can represent 10^30, so rebates and rounding can never push an account past it.
   */
  assetSupplyMax: 10n ** 28n,
  /** Deposits waiting for confirmations, in all; more are refused until some are credited. */
  pendingDepositsMax: 100_000,
  /** Addresses on one user's withdrawal allowlist. */
  allowlistAddressesMax: 100,
  /** Fee levels of a replaced transaction: level n pays (100 + 25n)% of the asset's gas fees. */
  feeLevelMax: 8,
  /** Confirmations an asset may require, and its chain decimals. */
  confirmationsMax: 1_000,
  chainDecimalsMax: 36,
} as const;
