// OKX request authentication. A private request carries the key, the passphrase, an ISO-8601
// timestamp and Base64(HMAC-SHA256(secret, timestamp + METHOD + request target + body)). We
// verify over the request target exactly as received and the raw body bytes, never a
// re-serialisation, compare secrets in constant time, and refuse timestamps more than the
// window away from our clock in either direction. The key's secret is derived on this node and
// its passphrase checked against a keyed hash (key-secrets.ts); a verified key is then held to
// its IP allowlist and its permissions (OKX 50110, 50120).

import { createHmac, hash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { ApiErrors, Failure, withParam } from './errors.js';
import type { ApiKey, KeySecrets, KeyStore, Permission, SignedBy } from '../replica/index.js';

/** ISO-8601 UTC with optional milliseconds, as OKX and ccxt send it: 2020-12-08T09:08:57.715Z. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
/** Standard Base64 of a 32-byte digest: 43 characters and one '='. */
const SIGN_BASE64 = /^[A-Za-z0-9+/]{43}=$/;
/** Header values longer than this are refused before any work is done on them. */
const headerLengthMax = 256;

export interface AuthRequest {
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  /** The request target as received: path and query string. */
  readonly url: string;
  /** The raw body text ("" for GET). */
  readonly body: string;
}

function header(headers: IncomingHttpHeaders, name: string): string {
  const value = headers[name];
  if (typeof value === 'string') return value;
  return '';
}

/** The signature OKX expects for a request, in Base64. */
export function sign(secret: string, timestamp: string, method: string, url: string, body: string): string {
  return createHmac('sha256', secret).update(timestamp + method + url + body).digest('base64');
}

/** The API key of a correctly signed request, or the OKX error saying why it is not. */
export function authenticate(req: AuthRequest, keys: KeyStore, derivation: KeySecrets, nowMs: number, windowMs: number): ApiKey | Failure {
  const apiKey = header(req.headers, 'ok-access-key');
  const passphrase = header(req.headers, 'ok-access-passphrase');
  const timestamp = header(req.headers, 'ok-access-timestamp');
  const signature = header(req.headers, 'ok-access-sign');
  if (apiKey === '') return new Failure(ApiErrors.keyMissing);
  if (passphrase === '') return new Failure(ApiErrors.passphraseMissing);
  if (timestamp === '') return new Failure(ApiErrors.timestampMissing);
  if (signature === '') return new Failure(ApiErrors.signMissing);
  if (!ISO_TIMESTAMP.test(timestamp)) return new Failure(ApiErrors.timestampInvalid);
  const ts = Date.parse(timestamp);
  if (Number.isNaN(ts)) return new Failure(ApiErrors.timestampInvalid);
  if (Math.abs(nowMs - ts) > windowMs) return new Failure(ApiErrors.timestampExpired);
  const key = apiKey.length > headerLengthMax ? undefined : keys.get(apiKey);
  if (key === undefined) return new Failure(ApiErrors.keyInvalid);
  if (passphrase.length > headerLengthMax || !derivation.passphraseMatches(key.apiKey, passphrase, key.passphraseHash)) {
    return new Failure(ApiErrors.passphraseWrong);
  }
  if (!SIGN_BASE64.test(signature)) return new Failure(ApiErrors.signInvalid);
  const expected = createHmac('sha256', derivation.secretFor(key.apiKey)).update(timestamp + req.method + req.url + req.body).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'base64'))) return new Failure(ApiErrors.signInvalid);
  return key;
}

/**
 * Whether a verified key may make this request: from an address on its allowlist (when it has
 * one), with the permission the route needs. Reading needs none beyond a valid key, as on OKX.
 */
export function authorize(key: ApiKey, ip: string, needs: Permission): Failure | undefined {
  if (key.ips.length > 0 && !key.ips.includes(normalizeIp(ip))) return new Failure(withParam(ApiErrors.ipNotAllowed, ip));
  if (needs !== 'read_only' && !key.perms.includes(needs)) return new Failure(ApiErrors.permissionDenied);
  return undefined;
}

/** An IPv4 client seen through a dual-stack socket (::ffff:10.0.0.1) is matched as 10.0.0.1. */
export function normalizeIp(ip: string): string {
  const lower = ip.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.includes('.')) return lower.slice('::ffff:'.length);
  // An IPv6 address has many spellings (case, leading zeros, where :: stands); the WHATWG URL
  // parser writes the one canonical form (RFC 5952), the form Node reports a peer's address in.
  return isIP(lower) === 6 ? new URL(`http://[${lower}]/`).hostname.slice(1, -1) : lower;
}

/**
 * What a signed submission carries into the log, so that the log guard (src/replica/guard.ts)
 * applies each signed request once in every cloud: a digest of its signature (SHA-256, first 16
 * bytes, base64url) and its OK-ACCESS-TIMESTAMP in ms. Only for a request that authenticate()
 * accepted, whose headers are therefore well formed. The digest covers the decoded HMAC bytes,
 * not the header text: the last Base64 character of a 32-byte digest carries two bits decoding
 * ignores, so one signature has four spellings that all verify, and they must count as one.
 */
export function signedBy(headers: IncomingHttpHeaders): SignedBy {
  return {
    // crypto.hash is the one-shot digest: no Hash stream object per request.
    d: hash('sha256', Buffer.from(header(headers, 'ok-access-sign'), 'base64'), 'buffer').subarray(0, 16).toString('base64url'),
    ts: Date.parse(header(headers, 'ok-access-timestamp')),
  };
}
