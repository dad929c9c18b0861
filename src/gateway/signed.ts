// Which signed request is being served, for the submit path: the log refuses a signature it
// already applied (replay protection, src/replica/guard.ts), so a submission carries a digest of
// its request's OK-ACCESS-SIGN and its OK-ACCESS-TIMESTAMP. A fastify hook puts them in an
// AsyncLocalStorage around the route handler, which leaves the handlers and authentication as
// they are; a handler only ever submits after authentication passed, so the values it sees were verified.

import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';

/** A signed request, as the log guard knows it. */
export interface RequestSignature {
  /** SHA-256 of the OK-ACCESS-SIGN value, first 16 bytes, base64url (22 characters). */
  readonly digest: string;
  /** OK-ACCESS-TIMESTAMP in ms since the epoch. */
  readonly timestampMs: number;
}

interface Headers { readonly sign: string; readonly timestamp: string }

const current = new AsyncLocalStorage<Headers>();

/** Keeps each OKX route's signature headers for the handler that serves it. */
export function trackSignedRequests(app: FastifyInstance): void {
  app.addHook('preHandler', (request, _reply, done) => {
    const sign = request.headers['ok-access-sign'];
    const timestamp = request.headers['ok-access-timestamp'];
    if (!request.url.startsWith('/api/v5/') || typeof sign !== 'string' || typeof timestamp !== 'string' || sign === '') {
      done();
      return;
    }
    current.run({ sign, timestamp }, done);
  });
}

/** The signed request being served, if any (undefined for unsigned routes and operator requests). */
export function currentSignature(): RequestSignature | undefined {
  const headers = current.getStore();
  if (headers === undefined) return undefined;
  const timestampMs = Date.parse(headers.timestamp);
  if (!Number.isSafeInteger(timestampMs)) return undefined;
  return { digest: signatureDigest(headers.sign), timestampMs };
}

export function signatureDigest(sign: string): string {
  return createHash('sha256').update(sign).digest().subarray(0, 16).toString('base64url');
}
