// Exact money. A balance is an integer number of minor units held in two limbs of safe
// integers, value = hi * 10^15 + lo with 0 <= lo < 10^15, so it reaches far past 10^20 without
// BigInt allocations on the matching hot path. Single movements (an order's notional, a fee,
// a fill) are safe integers (< 2^53), which the instrument bounds guarantee up front.

import { invariant } from './codes.js';

export const LIMB = 1e15;
const LIMB_BIG = 10n ** 15n;
/** The largest balance magnitude the ledger accepts: 10^30 minor units. */
export const BALANCE_MAX = 10n ** 30n;
const HI_MAX = 1e15;

/** An exact integer: a number when it is a safe integer, else a bigint. */
export type Units = number | bigint;

/** A mutable exact balance. Only the ledger mutates it. */
export class Balance {
  hi = 0;
  lo = 0;

  /** Adds a safe-integer delta (may be negative). */
  add(delta: number): void {
    // A delta of 10^15 or more is split first: this.lo + delta could pass 2^53 and round.
    const deltaHi = delta >= LIMB || delta <= -LIMB ? Math.trunc(delta / LIMB) : 0;
    let lo = this.lo + (delta - deltaHi * LIMB);
    if (deltaHi !== 0 || lo >= LIMB || lo < 0) {
      let carry = Math.floor(lo / LIMB);
      lo -= carry * LIMB;
      // Division can round across an integer boundary; fix the last step exactly.
      if (lo < 0) { lo += LIMB; carry -= 1; } else if (lo >= LIMB) { lo -= LIMB; carry += 1; }
      this.hi += carry + deltaHi;
      invariant(this.hi <= HI_MAX && this.hi >= -HI_MAX, 'balance within 10^30');
    }
    this.lo = lo;
  }

  /** True when the balance is at least `amount` (a non-negative safe integer). */
  covers(amount: number): boolean {
    // An amount reaches 2^53 (about 9 * 10^15), so the high limb counts until it passes 9.
    if (this.hi < 0) return false;
    return this.hi > 9 || this.hi * LIMB + this.lo >= amount;
  }

  isZero(): boolean { return this.hi === 0 && this.lo === 0; }
  isNegative(): boolean { return this.hi < 0; }

  /** The exact value: a plain number while it is a safe integer (no allocation), else a bigint. */
  value(): Units {
    if (this.hi === 0) return this.lo;
    const v = this.hi * LIMB + this.lo;
    return Number.isSafeInteger(v) ? v : this.toBigInt();
  }

  toBigInt(): bigint { return BigInt(this.hi) * LIMB_BIG + BigInt(this.lo); }

  setBigInt(value: bigint): void {
    let hi = value / LIMB_BIG;
    let lo = value % LIMB_BIG;
    if (lo < 0n) { lo += LIMB_BIG; hi -= 1n; }
    this.hi = Number(hi);
    this.lo = Number(lo);
  }

  /** Adds an arbitrary-size amount (deposits and withdrawals are not on the hot path). */
  addBigInt(delta: bigint): void { this.setBigInt(this.toBigInt() + delta); }

  toString(): string { return this.toBigInt().toString(); }
}

/**
 * A fee on `amount` at `ratePpm` parts per million, as a signed integer: positive is charged to
 * the user, negative (a rebate) is paid to the user. Charges round up and rebates round toward
 * zero, so rounding never costs the fee account; the amount moved is exact either way.
 * Computed without overflow: amount = q * 10^6 + r.
 */
export function feeFor(amount: number, ratePpm: number): number {
  if (ratePpm === 0) return 0;
  const q = Math.floor(amount / 1e6);
  const r = amount - q * 1e6;
  if (ratePpm > 0) return q * ratePpm + Math.ceil((r * ratePpm) / 1e6);
  // 0 - x rather than -x: a rebate that rounds to nothing is 0, not -0.
  return 0 - (q * -ratePpm + Math.floor((r * -ratePpm) / 1e6));
}

const DECIMAL = /^(0|[1-9][0-9]*)(\.[0-9]+)?$/;

/**
 * Parses a non-negative decimal string into an integer count of units of size 10^-scale.
 * Returns undefined when the text is not a plain decimal or has more digits than the scale
 * allows (no rounding, ever).
 */
export function parseDecimal(text: string, scale: number): bigint | undefined {
  if (text.length > 64 || !DECIMAL.test(text)) return undefined;
  const dot = text.indexOf('.');
  const whole = dot === -1 ? text : text.slice(0, dot);
  let frac = dot === -1 ? '' : text.slice(dot + 1).replace(/0+$/, '');
  if (frac.length > scale) return undefined;
  frac = frac.padEnd(scale, '0');
  return BigInt(whole + frac);
}

/** Formats an integer count of 10^-scale units as a canonical decimal (no trailing zeros). */
export function formatDecimal(units: bigint | number, scale: number): string {
  const value = typeof units === 'bigint' ? units : BigInt(units);
  const negative = value < 0n;
  const digits = (negative ? -value : value).toString().padStart(scale + 1, '0');
  const whole = digits.slice(0, digits.length - scale);
  const frac = digits.slice(digits.length - scale).replace(/0+$/, '');
  return (negative ? '-' : '') + whole + (frac === '' ? '' : '.' + frac);
}

export function isPositiveSafeInteger(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
}
