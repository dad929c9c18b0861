// Every bound the engine enforces, named in one place. A request that reaches a bound gets a
// rejection with a stable code; nothing in the engine grows without one of these limits.

export const Limits = {
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
  /** The largest balance any one account may hold: 10^30 minor units. */
  balanceMax: 10n ** 30n,
} as const;
