// Token-bucket rate limits, keyed as OKX keys them: public endpoints per client IP, private
// ones per user, trade endpoints per user and instrument. Each bucket holds up to the limit and
// refills continuously over the window; time comes from the port's clock so tests can move it.
// Failed authentication is limited per client IP as well, so that guessing passphrases and
// signatures is slow. The bucket map is bounded: at the bound the least recently used bucket
// is dropped (a dropped bucket only forgets recent use, it never blocks anyone), so a client
// that keeps trading keeps its bucket however many new keys others churn through.

export interface RateLimit {
  /** Requests (or, for batch endpoints, orders) allowed per window. */
  readonly requests: number;
  readonly windowMs: number;
}

/** How a route's budget is keyed. */
export type LimitScope = 'ip' | 'user' | 'userInst';

const twoSeconds = 2_000;
const per2s = (requests: number): RateLimit => ({ requests, windowMs: twoSeconds });

/**
 * OKX's documented limits (as ccxt's cost table encodes them), per route. Keys are
 * `METHOD /api/v5/path`.
 */
export const defaultRateLimits: Readonly<Record<string, RateLimit>> = {
  'GET /api/v5/public/time': per2s(10),
  'GET /api/v5/public/instruments': per2s(20),
  'GET /api/v5/market/ticker': per2s(20),
  'GET /api/v5/market/tickers': per2s(20),
  'GET /api/v5/market/books': per2s(40),
  'GET /api/v5/market/books-full': per2s(10),
  'GET /api/v5/market/trades': per2s(100),
  'GET /api/v5/market/candles': per2s(40),
  'GET /api/v5/system/status': per2s(10),
  'GET /api/v5/account/balance': per2s(10),
  'GET /api/v5/account/trade-fee': per2s(5),
  'POST /api/v5/trade/order': per2s(60),
  'POST /api/v5/trade/batch-orders': per2s(300),
  'POST /api/v5/trade/cancel-order': per2s(60),
  'POST /api/v5/trade/cancel-batch-orders': per2s(300),
  'POST /api/v5/trade/amend-order': per2s(60),
  'GET /api/v5/trade/order': per2s(60),
  'GET /api/v5/trade/orders-pending': per2s(60),
  'GET /api/v5/trade/orders-history': per2s(40),
  'GET /api/v5/trade/fills': per2s(60),
  'GET /api/v5/trade/fills-history': per2s(10),
  'GET /api/v5/asset/currencies': per2s(12),
  'GET /api/v5/asset/balances': per2s(12),
  'GET /api/v5/asset/deposit-address': per2s(12),
  'GET /api/v5/asset/deposit-history': per2s(12),
  'POST /api/v5/asset/withdrawal': per2s(12),
  'GET /api/v5/asset/withdrawal-history': per2s(12),
  'POST /api/v5/asset/cancel-withdrawal': per2s(12),
  // Everbook's own: a proof reads a few small pieces of a report file per level of its tree.
  'GET /api/v5/asset/proof-of-reserves': per2s(5),
  'GET /api/v5/public/proof-of-reserves': per2s(5),
};

/**
 * Failed authentications allowed per client IP (any private route), refilling over the window.
 * OKX does not publish its figure; this lets a client with a wrong clock or key retry a few
 * times a minute and makes guessing hopeless.
 */
export const failedAuthLimitDefault: RateLimit = { requests: 20, windowMs: 60_000 };

class Bucket {
  constructor(public tokens: number, public ts: number) {}
}

export interface Take {
  readonly key: string;
  readonly cost: number;
}

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();

  constructor(private readonly bucketsMax: number) {}

  get size(): number { return this.buckets.size; }

  /**
   * Takes every cost from its bucket, or nothing at all when any bucket is short. A cost larger
   * than the whole limit can never be paid and is refused.
   */
  take(takes: readonly Take[], limit: RateLimit, nowMs: number): boolean {
    const rate = limit.requests / limit.windowMs;
    const found: Bucket[] = [];
    for (const t of takes) {
      const bucket = this.refill(t.key, limit, rate, nowMs);
      found.push(bucket);
      if (bucket.tokens < t.cost) return false;
    }
    takes.forEach((t, i) => { found[i]!.tokens -= t.cost; });
    return true;
  }

  /** Whether the bucket could pay `cost` now (a bucket not yet made is full); creates nothing. */
  available(key: string, cost: number, limit: RateLimit, nowMs: number): boolean {
    if (!this.buckets.has(key)) return cost <= limit.requests;
    return this.refill(key, limit, limit.requests / limit.windowMs, nowMs).tokens >= cost;
  }

  private refill(key: string, limit: RateLimit, rate: number, nowMs: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      if (this.buckets.size >= this.bucketsMax) {
        // A Map iterates in insertion order and every use re-inserts: the first key is the least recently used.
        const leastRecent = this.buckets.keys().next();
        if (leastRecent.done !== true) this.buckets.delete(leastRecent.value);
      }
      bucket = new Bucket(limit.requests, nowMs);
      this.buckets.set(key, bucket);
      return bucket;
    }
    this.buckets.delete(key);
    this.buckets.set(key, bucket);
    // A clock that steps back refills nothing rather than draining the bucket.
    const elapsed = Math.max(0, nowMs - bucket.ts);
    bucket.tokens = Math.min(limit.requests, bucket.tokens + elapsed * rate);
    bucket.ts = Math.max(bucket.ts, nowMs);
    return bucket;
  }
}
