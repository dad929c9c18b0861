// The candles and tickers view: per instrument, one-minute candles in time order (bounded by
// count), from which longer bars and the rolling 24-hour ticker are computed at query time, so
// applying a trade costs O(1) whatever bars are served. Quote volumes are exact sums kept in two
// parts (a safe-integer part that takes each trade, and a bigint part it spills into only when
// the next trade would pass 2^53), so a trade allocates no bigint.

import type { PublicTrade, Candle, Page, Ticker } from './types.js';
import { Deque } from './deque.js';
import type { TradeExecuted } from './orders.js';
import { broken, minuteMs } from './shared.js';
import { Retention } from './types.js';

const dayMs = 86_400_000;
/** The ticker's rolling window: the current minute and the 1,439 before it. */
const tickerWindowMinutes = 1_440;
/** The UTC+8 day starts at 16:00 UTC. */
const utc8OffsetMs = 8 * 3_600_000;

/** A saved minute: [startTs, open, high, low, close, volLots, volQuote (integer minor units as a decimal string)]. */
export type MinuteJSON = readonly [number, number, number, number, number, number, string];

class MinuteCandle {
  constructor(
    readonly startTs: number,
    public open: number,
    public high: number,
    public low: number,
    public close: number,
    public volLots: number,
    /**
     * Quote minor units: volQuoteHigh + volQuoteLow, exact, as the sum of a minute's trades can
     * pass 2^53. The low part is a safe integer; the high part a bigint, 0n until it is needed.
     */
    public volQuoteLow: number,
    public volQuoteHigh: bigint,
  ) {}

  /** Adds quote minor units (a non-negative safe integer) to the volume, exactly. */
  addQuote(quote: number): void {
    // Both are safe integers, so a true sum past 2^53 - 1 never rounds down to one at or below it.
    const sum = this.volQuoteLow + quote;
    if (sum <= Number.MAX_SAFE_INTEGER) {
      this.volQuoteLow = sum;
    } else {
      this.volQuoteHigh += BigInt(this.volQuoteLow);
      this.volQuoteLow = quote;
    }
  }

  /** Adds another candle's volumes. */
  addVolumes(m: MinuteCandle): void {
    this.volLots += m.volLots;
    this.addQuote(m.volQuoteLow);
    if (m.volQuoteHigh !== 0n) this.volQuoteHigh += m.volQuoteHigh;
  }

  get volQuote(): bigint {
    return this.volQuoteHigh + BigInt(this.volQuoteLow);
  }
}

export class CandlesView {
  private readonly instruments = new Map<string, Deque<MinuteCandle>>();

  /** The minute candle a trade falls in. */
  add(e: TradeExecuted): void {
    if (!Number.isSafeInteger(e.quoteAmount) || e.quoteAmount < 0) broken(`a trade's quote amount is a non-negative safe integer, not ${e.quoteAmount}`);
    const minutes = this.instrument(e.instId);
    const startTs = Math.floor(e.ts / minuteMs) * minuteMs;
    const last = minutes.newest();
    if (last?.startTs === startTs) {
      if (e.priceTicks > last.high) last.high = e.priceTicks;
      if (e.priceTicks < last.low) last.low = e.priceTicks;
      last.close = e.priceTicks;
      last.volLots += e.sizeLots;
      last.addQuote(e.quoteAmount);
      return;
    }
    if (last !== undefined && last.startTs > startTs) broken('trade times never go back');
    minutes.push(new MinuteCandle(startTs, e.priceTicks, e.priceTicks, e.priceTicks, e.priceTicks, e.sizeLots, e.quoteAmount, 0n));
    if (minutes.length > Retention.minuteCandlesPerInstrumentMax) minutes.shift();
  }

  private instrument(instId: string): Deque<MinuteCandle> {
    let minutes = this.instruments.get(instId);
    if (minutes === undefined) {
      minutes = new Deque<MinuteCandle>((c) => c.startTs);
      this.instruments.set(instId, minutes);
    }
    return minutes;
  }

  candles(instId: string, barMs: number, page: Page, nowMs: number): Candle[] {
    if (!Number.isSafeInteger(barMs) || barMs <= 0 || barMs % minuteMs !== 0) {
      throw new RangeError(`candle bar must be a positive whole number of minutes in ms, not ${barMs}`);
    }
    const out: Candle[] = [];
    const minutes = this.instruments.get(instId);
    if (minutes === undefined || page.limit <= 0) return out;
    // Bars starting before `after` hold exactly the minutes before the end of the last such bar.
    const from = page.after === undefined ? minutes.length
      : minutes.lowerBound((Math.floor((page.after - 1) / barMs) + 1) * barMs);
    let bar: MinuteCandle | undefined;
    for (let i = from - 1; i >= 0; i--) {
      const m = minutes.at(i);
      const startTs = Math.floor(m.startTs / barMs) * barMs;
      if (page.before !== undefined && startTs <= page.before) break;
      if (bar?.startTs === startTs) {
        // Walking back in time: this minute is older, so it gives the bar its open.
        bar.open = m.open;
        if (m.high > bar.high) bar.high = m.high;
        if (m.low < bar.low) bar.low = m.low;
        bar.addVolumes(m);
        continue;
      }
      if (bar !== undefined) {
        out.push(candle(bar, barMs, nowMs));
        if (out.length === page.limit) return out;
      }
      bar = new MinuteCandle(startTs, m.open, m.high, m.low, m.close, m.volLots, m.volQuoteLow, m.volQuoteHigh);
    }
    if (bar !== undefined) out.push(candle(bar, barMs, nowMs));
    return out;
  }

  /** The rolling 24-hour ticker; `last` is the latest public trade (the trades view keeps it). */
  ticker(instId: string, last: PublicTrade | undefined, nowMs: number): Ticker {
    let open: number | null = null;
    let high: number | null = null;
    let low: number | null = null;
    // The window's volumes, summed as a candle's are.
    const vol = new MinuteCandle(0, 0, 0, 0, 0, 0, 0, 0n);
    let sodUtc0: number | null = null;
    let sodUtc8: number | null = null;
    const minutes = this.instruments.get(instId);
    if (minutes !== undefined) {
      const windowStartTs = Math.floor(nowMs / minuteMs) * minuteMs - (tickerWindowMinutes - 1) * minuteMs;
      for (let i = minutes.lowerBound(windowStartTs); i < minutes.length; i++) {
        const m = minutes.at(i);
        open ??= m.open;
        if (high === null || m.high > high) high = m.high;
        if (low === null || m.low < low) low = m.low;
        vol.addVolumes(m);
      }
      const utc0DayStartTs = Math.floor(nowMs / dayMs) * dayMs;
      const utc8DayStartTs = Math.floor((nowMs + utc8OffsetMs) / dayMs) * dayMs - utc8OffsetMs;
      sodUtc0 = startOfDayPrice(minutes, utc0DayStartTs);
      sodUtc8 = startOfDayPrice(minutes, utc8DayStartTs);
    }
    return {
      instId, lastTicks: last?.priceTicks ?? null, lastLots: last?.sizeLots ?? null,
      open24hTicks: open, high24hTicks: high, low24hTicks: low, vol24hLots: vol.volLots, volQuote24h: vol.volQuote,
      sodUtc0Ticks: sodUtc0, sodUtc8Ticks: sodUtc8, ts: nowMs,
    };
  }

  /** Instruments with candles, in the order of their first trade. */
  instIds(): string[] {
    return [...this.instruments.keys()];
  }

  save(instId: string): MinuteJSON[] {
    return this.instruments.get(instId)?.toArray().map((m) => [m.startTs, m.open, m.high, m.low, m.close, m.volLots, m.volQuote.toString()] as const) ?? [];
  }

  /** Loads one instrument's saved minutes; a quote volume may be a version 1 JSON number. */
  load(instId: string, saved: readonly (readonly [number, number, number, number, number, number, string | number])[]): void {
    const minutes = this.instrument(instId);
    for (const [startTs, open, high, low, close, volLots, volQuote] of saved) {
      minutes.push(new MinuteCandle(startTs, open, high, low, close, volLots, 0, quoteVolume(volQuote)));
    }
  }
}

function candle(bar: MinuteCandle, barMs: number, nowMs: number): Candle {
  return {
    startTs: bar.startTs, open: bar.open, high: bar.high, low: bar.low, close: bar.close,
    volLots: bar.volLots, volQuote: bar.volQuote, confirmed: nowMs >= bar.startTs + barMs,
  };
}

/**
 * A saved minute's quote volume: a decimal string (version 2) or a JSON number (version 1). A
 * version 1 figure past 2^53 was already rounded; it is kept as it was served, not refused, and
 * ages out with its minute.
 */
function quoteVolume(saved: string | number): bigint {
  if (typeof saved === 'number' ? Number.isInteger(saved) && saved >= 0 : /^(0|[1-9][0-9]*)$/.test(saved)) return BigInt(saved);
  return broken(`a saved quote volume is a non-negative integer, not ${JSON.stringify(saved)}`);
}

/**
 * The price at the start of a day: the open of the day's first minute with trades, or, before
 * any trade that day, the last price before it; null when no retained candle says.
 */
function startOfDayPrice(minutes: Deque<MinuteCandle>, dayStartTs: number): number | null {
  const i = minutes.lowerBound(dayStartTs);
  if (i < minutes.length) return minutes.at(i).open;
  return i > 0 ? minutes.at(i - 1).close : null;
}
