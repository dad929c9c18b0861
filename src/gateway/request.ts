// What a route handler is given and what it returns, and the validation helpers every handler
// shares: zod schemas checked into values or an OKX error (unknown field -> 51000
// "Parameter {name} error", missing or empty required field -> 50014), and the OKX pagination
// parameters (after, before, limit) clamped to a named maximum.

import { z } from 'zod';
import type { Instrument } from './convert.js';
import { parseId } from './convert.js';
import { ApiErrors, Failure, submitErrorToApi, withParam, type ApiError } from './errors.js';
import type { LimitScope } from './rate-limit.js';
import type { Result } from '../core/index.js';
import { submitCommands, SubmitError, type ExchangePort, type ExchangeQueries, type LogCommand, type SignedBy } from '../replica/index.js';

export interface RequestContext {
  readonly port: ExchangePort;
  /** The parsed query string (GET) or {} . */
  readonly query: unknown;
  /** The parsed JSON body (POST) or undefined. */
  readonly body: unknown;
  /** The authenticated user (private routes), else 0. */
  readonly userId: number;
  /** The authenticated request's signature (private routes), carried into the log against replays. */
  readonly signedBy: SignedBy | undefined;
  readonly nowMs: number;
  /** Charges the trade rate limit (per user and instrument); false means over the limit. */
  takeTrade(instIds: readonly string[]): boolean;
  /** The user's real deposit address of an asset on a chain (custody on), else undefined. */
  readonly depositAddress?: (userId: number, asset: string) => string | undefined;
}

/** A reply's data, with the top-level code for batch results ("1" all failed, "2" partial). */
export interface Success {
  readonly data: readonly unknown[];
  readonly status?: ApiError;
}
export type Outcome = Success | Failure;

export interface RouteDef {
  readonly method: 'GET' | 'POST';
  /** The full path, e.g. /api/v5/trade/order. */
  readonly path: string;
  readonly auth: boolean;
  readonly scope: LimitScope;
  handle(ctx: RequestContext): Outcome | Promise<Outcome>;
}

export function fail(error: ApiError, param?: string): Failure {
  return new Failure(param === undefined ? error : withParam(error, param));
}

/** Checks `input` against a schema; the first problem becomes the OKX error for its field. */
export function validate<T>(schema: z.ZodType<T>, input: unknown): T | Failure {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) return fail(ApiErrors.paramError, 'body');
  if (issue.code === 'unrecognized_keys') return fail(ApiErrors.paramError, issue.keys[0] ?? 'body');
  const name = issue.path.length > 0 ? String(issue.path[0]) : 'body';
  if (issue.path.length > 0 && typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const value = (input as Record<string, unknown>)[name];
    if (value === undefined || value === '') return fail(ApiErrors.paramEmpty, name);
  }
  return fail(ApiErrors.paramError, name);
}

/** Bounded strings for schemas: a required non-empty one and an optional one. */
export const required = (max: number) => z.string().min(1).max(max);
export const optional = (max: number) => z.string().max(max).optional();
export const optionalMatch = (pattern: RegExp) => z.string().regex(pattern).optional();

/** The OKX pagination fields, accepted by every history endpoint. */
export const pageFields = {
  after: optional(20),
  before: optional(20),
  limit: optional(20),
};

export interface PageQuery {
  readonly after?: string | undefined;
  readonly before?: string | undefined;
  readonly limit?: string | undefined;
}

export interface Page {
  readonly after?: number;
  readonly before?: number;
  readonly limit: number;
}

/** after/before must be ids (or ms timestamps); limit is clamped to [1, limitMax]. */
export function parsePage(q: PageQuery, limitDefault: number, limitMax: number): Page | Failure {
  let limit = limitDefault;
  if (q.limit !== undefined && q.limit !== '') {
    if (!/^[0-9]{1,16}$/.test(q.limit)) return fail(ApiErrors.paramError, 'limit');
    limit = Math.min(limitMax, Math.max(1, Number(q.limit)));
  }
  const page: { after?: number; before?: number; limit: number } = { limit };
  if (q.after !== undefined && q.after !== '') {
    const after = parseId(q.after);
    if (after === undefined) return fail(ApiErrors.paramError, 'after');
    page.after = after;
  }
  if (q.before !== undefined && q.before !== '') {
    const before = parseId(q.before);
    if (before === undefined) return fail(ApiErrors.paramError, 'before');
    page.before = before;
  }
  return page;
}

/** An optional id or ms timestamp parameter: undefined when absent or "", else a safe integer. */
export function optionalId(text: string | undefined, name: string): number | undefined | Failure {
  if (text === undefined || text === '') return undefined;
  const id = parseId(text);
  return id === undefined ? fail(ApiErrors.paramError, name) : id;
}

export function instrument(queries: ExchangeQueries, instId: string): Instrument | Failure {
  return queries.instrument(instId) ?? fail(ApiErrors.instrumentNotFound);
}

/**
 * The gateway's one submit path: commands go out as one log record; a refusal of the whole
 * record (busy, unavailable, timeout, replayed) becomes the reply's OKX code. Each command's own
 * result (applied or rejected by the engine) is left to the route to map.
 */
export async function submit(ctx: RequestContext, commands: readonly LogCommand[]): Promise<Result[] | Failure> {
  const results = await submitCommands(ctx.port, commands, ctx.signedBy);
  return results instanceof SubmitError ? new Failure(submitErrorToApi(results.code)) : results;
}

/** Only spot exists here: any other instType is a valid question with no answers. */
export function isSpot(instType: string | undefined): boolean {
  return instType === undefined || instType === '' || instType === 'SPOT';
}

/** Drops undefined members, so filters can be passed to APIs with exact optional properties. */
export function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
