// Exact money, checked against BigInt: the two-limb Balance on random sequences that cross 2^53
// and reach 10^30, fees against a BigInt reference (charges round up, rebates toward zero),
// decimal parsing and formatting (round trips, and every malformed input refused), and the
// core's own SHA-256 against node:crypto on the lengths where padding changes.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { Balance, BALANCE_MAX, feeFor, formatDecimal, InvariantError, Limits, parseDecimal, sha256Hex } from '../src/core/index.js';
import { referenceFee } from './support/model.js';

const SAFE = Number.MAX_SAFE_INTEGER;
const LIMB = 10n ** 15n;

/** Safe integers biased to where limb arithmetic can go wrong: near 0, 10^15 and 2^53. */
const safeDelta = fc.oneof(
  fc.integer({ min: -1_000, max: 1_000 }),
  fc.integer({ min: -SAFE, max: SAFE }),
  fc.integer({ min: 0, max: 2_000 }).map((d) => SAFE - d),
  fc.integer({ min: 0, max: 2_000 }).map((d) => -SAFE + d),
  fc.integer({ min: -2_000, max: 2_000 }).map((d) => 1e15 + d),
  fc.integer({ min: -2_000, max: 2_000 }).map((d) => -1e15 + d),
  fc.integer({ min: 1, max: 9 }).map((k) => k * 1e15 - 1),
);

/** Arbitrary-size amounts up to 10^30, biased to limb and 2^53 boundaries. */
const bigDelta = fc.oneof(
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }),
  fc.bigInt({ min: -(2n ** 60n), max: 2n ** 60n }),
  fc.tuple(fc.bigInt({ min: -(10n ** 15n), max: 10n ** 15n }), fc.bigInt({ min: -3n, max: 3n })).map(([hi, d]) => hi * LIMB + d),
  fc.bigInt({ min: -3n, max: 3n }).map((d) => 2n ** 53n + d),
);

type Op = { kind: 'add'; delta: number } | { kind: 'addBigInt'; delta: bigint } | { kind: 'set'; value: bigint };

const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: safeDelta.map((delta): Op => ({ kind: 'add', delta })) },
  { weight: 2, arbitrary: bigDelta.map((delta): Op => ({ kind: 'addBigInt', delta })) },
  { weight: 1, arbitrary: bigDelta.map((value): Op => ({ kind: 'set', value })) },
);

function checkBalance(b: Balance, expected: bigint, amount: number): void {
  assert.equal(b.toBigInt(), expected);
  assert.equal(b.toString(), expected.toString());
  assert.ok(b.lo >= 0 && b.lo < 1e15 && Number.isInteger(b.lo) && Number.isInteger(b.hi), `limbs ${b.hi}/${b.lo}`);
  const value = b.value();
  if (expected >= BigInt(-SAFE) && expected <= BigInt(SAFE)) assert.equal(value, Number(expected));
  else assert.equal(value, expected);
  assert.equal(b.isZero(), expected === 0n);
  assert.equal(b.isNegative(), expected < 0n);
  assert.equal(b.covers(amount), expected >= BigInt(amount), `covers(${amount}) at ${expected}`);
}

test('Balance: add, addBigInt and setBigInt are exact against BigInt on random sequences up to 10^30', () => {
  fc.assert(fc.property(fc.array(fc.tuple(op, fc.oneof(safeDelta.map(Math.abs), fc.nat())), { maxLength: 60 }), (ops) => {
    const b = new Balance();
    let expected = 0n;
    for (const [o, amount] of ops) {
      const next = o.kind === 'set' ? o.value : expected + BigInt(o.delta);
      // Stay inside the ledger's range; leaving it is checked separately below.
      if (next > BALANCE_MAX || next < -BALANCE_MAX) continue;
      if (o.kind === 'add') b.add(o.delta);
      else if (o.kind === 'addBigInt') b.addBigInt(o.delta);
      else b.setBigInt(o.value);
      expected = next;
      checkBalance(b, expected, amount);
    }
  }), { numRuns: 2_000, includeErrorInReport: true });
});

test('Balance: covers() compares exactly above 10^15 (where the high limb is in play)', () => {
  const cases: [bigint, number, boolean][] = [
    [1_500_000_000_000_000n, 5_000_000_000_000_000, false],
    [1_500_000_000_000_000n, 1_500_000_000_000_000, true],
    [1_500_000_000_000_000n, 1_500_000_000_000_001, false],
    [9_007_199_254_740_990n, SAFE, false],
    [9_007_199_254_740_991n, SAFE, true],
    [10_000_000_000_000_000n, SAFE, true],
    [-1n, 0, false],
    [0n, 0, true],
  ];
  for (const [value, amount, covered] of cases) {
    const b = new Balance();
    b.setBigInt(value);
    assert.equal(b.covers(amount), covered, `${value} covers ${amount}`);
  }
});

test('Balance: a safe-integer add that passes 2^53 in the low limb stays exact', () => {
  const b = new Balance();
  b.setBigInt(999_999_999_999_998n);
  b.add(SAFE);
  assert.equal(b.toBigInt(), 999_999_999_999_998n + BigInt(SAFE));
  b.add(-SAFE);
  assert.equal(b.toBigInt(), 999_999_999_999_998n);
});

test('Balance: moving past 10^30 by a safe-integer add is a broken invariant, never a wrap', () => {
  const b = new Balance();
  b.setBigInt(BALANCE_MAX + LIMB - 1n);
  assert.throws(() => { b.add(SAFE); }, InvariantError);
  const n = new Balance();
  n.setBigInt(-(BALANCE_MAX + LIMB - 1n));
  assert.throws(() => { n.add(-SAFE); }, InvariantError);
});

test('feeFor: equals the BigInt reference (charges round up, rebates toward zero) for amounts up to 2^53-1', () => {
  const amount = fc.oneof(fc.integer({ min: 0, max: SAFE }), fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 0, max: 1_000 }).map((d) => SAFE - d));
  const rate = fc.oneof(
    fc.integer({ min: Limits.makerFeePpmMin, max: Limits.feePpmMax }),
    fc.constantFrom(Limits.makerFeePpmMin, -1, 0, 1, 999, Limits.feePpmMax),
  );
  fc.assert(fc.property(amount, rate, (a, r) => {
    const fee = feeFor(a, r);
    assert.ok(Number.isSafeInteger(fee));
    assert.ok(!Object.is(fee, -0), 'no negative zero');
    assert.equal(BigInt(fee), referenceFee(BigInt(a), r), `feeFor(${a}, ${r})`);
    // Rounding never costs the fee account: a charge is at least, a rebate at most, the exact value.
    assert.ok(BigInt(fee) * 1_000_000n >= BigInt(a) * BigInt(r));
  }), { numRuns: 5_000, includeErrorInReport: true });
});

test('feeFor: worked examples', () => {
  assert.equal(feeFor(1, 1), 1); // a charge of 0.000001 rounds up to one minor unit
  assert.equal(feeFor(999_999, -1), 0); // a rebate of 0.999999 rounds toward zero
  assert.equal(feeFor(1_000_000, -1), -1);
  assert.equal(feeFor(12_345, 1_000), 13); // 12.345 up
  assert.equal(feeFor(12_345, -250), -3); // -3.08625 toward zero
  assert.equal(feeFor(0, 100_000), 0);
  assert.equal(feeFor(SAFE, 100_000), 900_719_925_474_100); // ceil(2^53-1 / 10)
});

/** Reference parse: digits, an optional point and digits, no more significant decimals than the scale. */
function referenceParse(whole: string, frac: string, scale: number): bigint | undefined {
  const significant = frac.replace(/0+$/, '');
  if (significant.length > scale) return undefined;
  return BigInt(whole) * 10n ** BigInt(scale) + (significant === '' ? 0n : BigInt(significant) * 10n ** BigInt(scale - significant.length));
}

test('parseDecimal / formatDecimal: round trips and agreement with a reference', () => {
  const digits = (min: number, max: number): fc.Arbitrary<string> =>
    fc.array(fc.integer({ min: 0, max: 9 }), { minLength: min, maxLength: max }).map((d) => d.join(''));
  const whole = fc.oneof(fc.constant('0'), fc.tuple(fc.integer({ min: 1, max: 9 }), digits(0, 30)).map(([h, t]) => `${h}${t}`));
  fc.assert(fc.property(whole, fc.option(digits(1, 22), { nil: undefined }), fc.integer({ min: 0, max: 18 }), (w, f, scale) => {
    const text = f === undefined ? w : `${w}.${f}`;
    const parsed = parseDecimal(text, scale);
    assert.equal(parsed, text.length > 64 ? undefined : referenceParse(w, f ?? '', scale), text);
    if (parsed !== undefined) {
      const formatted = formatDecimal(parsed, scale);
      assert.equal(parseDecimal(formatted, scale), parsed);
      // Canonical: no trailing zeros after the point, no point without digits.
      assert.doesNotMatch(formatted, /\.$|\.[0-9]*0$/);
    }
  }), { numRuns: 3_000, includeErrorInReport: true });

  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 10n ** 40n }), fc.integer({ min: 0, max: 18 }), (units, scale) => {
    assert.equal(parseDecimal(formatDecimal(units, scale), scale), units);
    assert.equal(formatDecimal(-units, scale), units === 0n ? '0' : `-${formatDecimal(units, scale)}`);
  }), { numRuns: 2_000, includeErrorInReport: true });
});

test('parseDecimal: refuses exponents, signs, stray characters, leading zeros, missing digits, excess decimals and huge text', () => {
  const refused = [
    '', ' ', '1e3', '1E3', '1e-3', '-1', '+1', '-0', '01', '00', '00.1', '1.', '.5', '1..2', '1.2.3', ' 1', '1 ', '1_000',
    '1,5', '0x10', 'NaN', 'Infinity', '١', '１', '1.2345', '0.0001', '9'.repeat(65), `0.${'0'.repeat(62)}1`,
  ];
  for (const text of refused) assert.equal(parseDecimal(text, 3), undefined, JSON.stringify(text));
  assert.equal(parseDecimal('0', 3), 0n);
  assert.equal(parseDecimal('0.0', 0), 0n);
  assert.equal(parseDecimal('1.2300', 2), 123n);
  assert.equal(parseDecimal('1000000000000000000000000000000', 0), 10n ** 30n);
  assert.equal(parseDecimal('9'.repeat(64), 0), 10n ** 64n - 1n);
  assert.equal(formatDecimal(1_500n, 3), '1.5');
  assert.equal(formatDecimal(5, 3), '0.005');
  assert.equal(formatDecimal(0, 18), '0');
  assert.equal(formatDecimal(-5n, 2), '-0.05');
});

function nodeSha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

test('sha256Hex: equals node:crypto at every padding boundary and on random inputs', () => {
  assert.equal(sha256Hex(new Uint8Array(0)), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256Hex(new TextEncoder().encode('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  let seed = 1;
  const byte = (): number => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) & 0xff;
  for (const length of [0, 1, 55, 56, 57, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 1_000, 4_096, 100_003]) {
    const bytes = Uint8Array.from({ length }, byte);
    assert.equal(sha256Hex(bytes), nodeSha256(bytes), `length ${length}`);
  }
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    assert.equal(sha256Hex(bytes), nodeSha256(bytes));
  }), { numRuns: 500, includeErrorInReport: true });
});
