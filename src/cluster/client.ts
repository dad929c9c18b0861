// A client that knows every cloud's gateway and fails over between them, for the SDK edge and
// the outage drills. Each attempt is signed afresh (OKX's timestamp window; and the log refuses
// a signature it already applied, so a retry must carry a new one) and carries the same body,
// so an order's client order id is the same on every retry: the engine refuses a second
// placement with a recent id (client_order_id_duplicate), and the client then reads the order
// that the first attempt placed. An answer that says "unavailable", "busy" or "outcome
// unknown", or no answer at all, moves to the next gateway; any other answer is final.

import { createHmac } from 'node:crypto';

export interface Credentials {
  readonly apiKey: string;
  readonly secretKey: string;
  readonly passphrase: string;
}

export interface FailoverOptions {
  /** Gateway base URLs, preferred first (the client's own cloud). */
  readonly endpoints: readonly string[];
  readonly credentials?: Credentials;
  /**
   * One attempt's deadline. Keep it above the gateways' command TTL (`--command-ttl-ms`, 1.5 s by
   * default) so that an attempt given up on can no longer apply after a retry elsewhere.
   */
  readonly attemptTimeoutMs: number;
  /** All attempts of one request together, at most. */
  readonly budgetMs: number;
}

export interface Reply {
  readonly httpStatus: number;
  readonly code: string;
  readonly msg: string;
  readonly data: Record<string, unknown>[];
  /** The gateway that gave this answer, and how many attempts it took. */
  readonly endpoint: string;
  readonly attempts: number;
}

export class FailoverError extends Error {
  override readonly name = 'FailoverError';
  constructor(message: string, readonly attempts: number, readonly lastError: string) {
    super(message);
  }
}

/** OKX codes that mean "try elsewhere": unavailable, busy, outcome unknown, system error. */
const RETRY_CODES = new Set(['50001', '50013', '50004', '50026']);

export class FailoverClient {
  /** Index of the gateway that answered last: requests start there. */
  private current = 0;

  constructor(readonly options: FailoverOptions) {
    if (options.endpoints.length === 0) throw new Error('a failover client needs at least one endpoint');
  }

  get endpoint(): string {
    return this.options.endpoints[this.current]!;
  }

  async request(method: 'GET' | 'POST', path: string, body?: unknown): Promise<Reply> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const deadline = Date.now() + this.options.budgetMs;
    let attempts = 0;
    let lastError = '';
    while (Date.now() < deadline) {
      const endpoint = this.endpoint;
      attempts += 1;
      try {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        const creds = this.options.credentials;
        if (creds !== undefined) {
          const ts = new Date().toISOString();
          headers['OK-ACCESS-KEY'] = creds.apiKey;
          headers['OK-ACCESS-PASSPHRASE'] = creds.passphrase;
          headers['OK-ACCESS-TIMESTAMP'] = ts;
          headers['OK-ACCESS-SIGN'] = createHmac('sha256', creds.secretKey).update(ts + method + path + text).digest('base64');
        }
        const timeout = Math.min(this.options.attemptTimeoutMs, Math.max(1, deadline - Date.now()));
        const response = await fetch(endpoint + path, {
          method, headers, ...(method === 'POST' && { body: text }), signal: AbortSignal.timeout(timeout),
        });
        const json = (await response.json()) as { code?: string; msg?: string; data?: Record<string, unknown>[] };
        const code = json.code ?? String(response.status);
        if (!RETRY_CODES.has(code) && response.status < 500) {
          return { httpStatus: response.status, code, msg: json.msg ?? '', data: json.data ?? [], endpoint, attempts };
        }
        lastError = `${endpoint}: ${code} ${json.msg ?? ''}`;
      } catch (e) {
        lastError = `${endpoint}: ${(e as Error).message}`;
      }
      this.current = (this.current + 1) % this.options.endpoints.length;
    }
    throw new FailoverError(`no gateway answered ${method} ${path} within ${this.options.budgetMs} ms`, attempts, lastError);
  }

  /**
   * Places one order and returns its reply. If a retry meets its own client order id
   * (the first attempt was applied), the order that attempt placed is read and returned.
   */
  async placeOrder(order: Record<string, string> & { instId: string; clOrdId: string }): Promise<Reply & { recovered: boolean }> {
    const r = await this.request('POST', '/api/v5/trade/order', order);
    const item = r.data[0];
    if (r.attempts > 1 && item?.['sCode'] === '51016') {
      const q = await this.request('GET', `/api/v5/trade/order?instId=${order.instId}&clOrdId=${order.clOrdId}`);
      const found = q.data[0];
      if (q.code === '0' && found !== undefined) {
        return { ...q, attempts: r.attempts + q.attempts, data: [{ ordId: found['ordId'], clOrdId: order.clOrdId, sCode: '0', sMsg: '' }], code: '0', recovered: true };
      }
    }
    return { ...r, recovered: false };
  }
}
