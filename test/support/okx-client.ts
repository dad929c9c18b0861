// A minimal OKX v5 REST client for tests that drive real server processes: signs exactly as
// OKX does (HMAC-SHA256 over timestamp + method + path with query + body, base64) and returns
// the parsed envelope. Keep-alive is Node's default fetch agent. A test can fix the timestamp to
// send the very same signed request twice (a replay).

import { createHmac } from 'node:crypto';

export interface Credentials {
  readonly apiKey: string;
  readonly secretKey: string;
  readonly passphrase: string;
}

export interface Envelope<T = Record<string, string>> {
  readonly httpStatus: number;
  readonly code: string;
  readonly msg: string;
  readonly data: T[];
}

export function sign(secret: string, timestamp: string, method: string, path: string, body: string): string {
  return createHmac('sha256', secret).update(timestamp + method + path + body).digest('base64');
}

export async function okx<T = Record<string, string>>(
  baseUrl: string, method: 'GET' | 'POST', path: string, body?: unknown, creds?: Credentials, timeoutMs = 10_000, timestamp?: string,
): Promise<Envelope<T>> {
  const text = body === undefined ? '' : JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (creds !== undefined) {
    const ts = timestamp ?? new Date().toISOString();
    headers['OK-ACCESS-KEY'] = creds.apiKey;
    headers['OK-ACCESS-PASSPHRASE'] = creds.passphrase;
    headers['OK-ACCESS-TIMESTAMP'] = ts;
    headers['OK-ACCESS-SIGN'] = sign(creds.secretKey, ts, method, path, text);
  }
  const response = await fetch(baseUrl + path, {
    method, headers, ...(method === 'POST' && { body: text }), signal: AbortSignal.timeout(timeoutMs),
  });
  const json = (await response.json()) as { code: string; msg: string; data: T[] };
  return { httpStatus: response.status, ...json };
}
