// Exact conversion between OKX's decimal strings and the engine's integers: prices in ticks,
// sizes in lots, amounts in minor units. Text is parsed with BigInt and never rounded: a value
// that is not a whole number of steps is refused, and a value is only formatted from integers,
// so every number a client sees is the exact one the engine holds.

import { formatDecimal, parseDecimal, type InstrumentView } from '../core/index.js';
import type { ExchangeQueries } from '../replica/index.js';

/** An instrument's rules as the replica's queries give them. */
export type Instrument = InstrumentView;

/** Plain non-negative decimals only: no sign, exponent, spaces or leading zeros; bounded length. */
const DECIMAL_TEXT = /^(0|[1-9][0-9]{0,19})(\.[0-9]{1,30})?$/;

export type Steps = bigint | 'malformed' | 'notMultiple';

/**
 * The number of whole steps in `text`, where a step is `stepUnits` units of 10^-decimals.
 * 'malformed' when the text is not a plain decimal of bounded size; 'notMultiple' when it is,
 * but is not a whole number of steps (including digits beyond the scale).
 */
export function toSteps(text: string, decimals: number, stepUnits: number): Steps {
  if (!DECIMAL_TEXT.test(text)) return 'malformed';
  const dot = text.indexOf('.');
  const fraction = dot === -1 ? '' : text.slice(dot + 1).replace(/0+$/, '');
  if (fraction.length > decimals) return 'notMultiple';
  const units = parseDecimal(text, decimals);
  if (units === undefined) return 'malformed';
  const step = BigInt(stepUnits);
  if (units % step !== 0n) return 'notMultiple';
  return units / step;
}

export function pxText(inst: Instrument, ticks: number): string {
  return formatDecimal(BigInt(ticks) * BigInt(inst.tickUnits), inst.priceDecimals);
}

export function szText(inst: Instrument, lots: number): string {
  return formatDecimal(BigInt(lots) * BigInt(inst.lotUnitsDecimal), inst.sizeDecimals);
}

/** Minor units of an asset as a decimal in whole units; an unknown asset is shown in minor units. */
export function amountText(queries: ExchangeQueries, asset: string, units: bigint | number | string): string {
  const scale = queries.asset(asset)?.scale ?? 0;
  return formatDecimal(BigInt(units), scale);
}

/** An OKX fee: negative when charged, positive when rebated (the engine's sign is the opposite). */
export function feeText(queries: ExchangeQueries, asset: string, fee: number): string {
  return fee === 0 ? '0' : amountText(queries, asset, -fee);
}

/** Extra digits an average price carries beyond the tick's, truncated (it is rarely a whole tick). */
const AVG_PX_EXTRA_DECIMALS = 8;

/** The average price of `lots` that cost `quoteUnits`, or "" when nothing traded. */
export function avgPxText(inst: Instrument, lots: number, quoteUnits: number): string {
  if (lots === 0) return '';
  const scale = inst.priceDecimals + AVG_PX_EXTRA_DECIMALS;
  const baseScale = BigInt(inst.baseScale);
  const quoteScale = BigInt(inst.quoteScale);
  // price = (quote / 10^qs) / (base / 10^bs), written in units of 10^-scale.
  const numerator = BigInt(quoteUnits) * 10n ** (baseScale + BigInt(scale));
  const denominator = BigInt(lots) * BigInt(inst.lotBase) * 10n ** quoteScale;
  return formatDecimal(numerator / denominator, scale);
}

/** Fee rate in parts per million as OKX shows it: negative when charged. */
export function feeRateText(ppm: number): string {
  return formatDecimal(BigInt(-ppm), 6);
}

/** A safe integer id from a decimal string ("1001"), or undefined. */
export function parseId(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}
