// Proof-of-reserves routes, Everbook's own (OKX publishes its reports on a web page, not in the
// v5 API): the public report (root, position, totals, reserves with their signatures) and, for
// an authenticated user, their inclusion proof (leaf, salt, path). Reports are built by every
// node from the same log position (src/por), so any cloud answers the same bytes.

import { z } from 'zod';
import type { InclusionProof, LiabilitiesReport, ReservesSection } from '../por/index.js';
import { ApiErrors, Failure } from './errors.js';
import { fail, optional, required, validate, type Outcome, type RouteDef } from './request.js';

/** Where the routes read reports: the node's report store (a test's in-memory one). */
export interface ProofSource {
  report(reportId: string): Promise<LiabilitiesReport | undefined>;
  reserves(reportId: string): Promise<ReservesSection | undefined>;
  /** Undefined when there is no such report, or the user was not in it. */
  proof(reportId: string, userId: number): Promise<InclusionProof | undefined>;
  /** Report ids, sorted by name. */
  list(): Promise<string[]>;
}

/** Reports a listing names at most: the last ids in name order (dated ids make them the newest). */
export const reportsListedMax = 100;

const REPORT_ID_TEXT = /^[A-Za-z0-9_-]{1,64}$/;
const proofQuery = z.strictObject({ reportId: required(64) });
const reportQuery = z.strictObject({ reportId: optional(64) });

export const porPaths = {
  proof: '/api/v5/asset/proof-of-reserves',
  report: '/api/v5/public/proof-of-reserves',
} as const;

export function porRoutes(source: ProofSource): RouteDef[] {
  return [
    {
      method: 'GET', path: porPaths.report, auth: false, scope: 'ip',
      handle: async (ctx): Promise<Outcome> => {
        const q = validate(reportQuery, ctx.query);
        if (q instanceof Failure) return q;
        if (q.reportId === undefined || q.reportId === '') {
          const ids = (await source.list()).slice(-reportsListedMax);
          const reports = await Promise.all(ids.map((id) => source.report(id)));
          return {
            data: reports.filter((r) => r !== undefined).map((r) => ({
              reportId: r.reportId, position: r.position, ts: r.ts, rootHash: r.root.hash, leafCount: r.leafCount, totals: r.totals,
            })),
          };
        }
        if (!REPORT_ID_TEXT.test(q.reportId)) return fail(ApiErrors.paramError, 'reportId');
        const report = await source.report(q.reportId);
        if (report === undefined) return fail(ApiErrors.paramError, 'reportId');
        return { data: [{ report, reserves: (await source.reserves(q.reportId)) ?? null }] };
      },
    },
    {
      method: 'GET', path: porPaths.proof, auth: true, scope: 'user',
      handle: async (ctx): Promise<Outcome> => {
        const q = validate(proofQuery, ctx.query);
        if (q instanceof Failure) return q;
        if (!REPORT_ID_TEXT.test(q.reportId)) return fail(ApiErrors.paramError, 'reportId');
        if (await source.report(q.reportId) === undefined) return fail(ApiErrors.paramError, 'reportId');
        // A user created after the report's position has no leaf in it: an empty answer.
        const proof = await source.proof(q.reportId, ctx.userId);
        return { data: proof === undefined ? [] : [proof] };
      },
    },
  ];
}
