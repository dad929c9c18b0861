// The verifier: checks a user's inclusion proof against a published report with nothing but the
// two documents and what the user knows of themselves (their id, and the balances they expect).
// It trusts nothing in the proof: amounts must be plain non-negative integers, every sum is
// recomputed exactly and must fit its 128 bits, the path must have the report's depth and follow
// the leaf index, and the recomputed root must be the published hash with the published totals.
// The first failed check is the answer, as a named code, in a fixed order.

import {
  AMOUNT_MAX, encodeNode, HASH_BYTES, leafHash, levelSizes, parentHash, POR_VERSION, REPORT_ASSETS_MAX, REPORT_ID, TREE_DEPTH_MAX,
  toHex, userHash, writeAmount, AMOUNT_BYTES, type TreeNode,
} from './format.js';
import type { LiabilitiesReport } from './types.js';

export type ProofProblem =
  | 'report_malformed' | 'proof_malformed' | 'negative_amount' | 'amount_too_large' | 'report_mismatch' | 'user_mismatch'
  | 'balances_mismatch' | 'path_length' | 'salt_mismatch' | 'sum_overflow' | 'root_mismatch' | 'totals_mismatch';

export type ProofVerdict =
  | { readonly ok: true; readonly userId: number; readonly balances: Readonly<Record<string, string>>; readonly reportId: string; readonly position: number }
  | { readonly ok: false; readonly problem: ProofProblem; readonly detail: string };

/** What the user knows of themselves, checked against the proof when given. */
export interface Expected {
  readonly userId?: number;
  /** Balances by asset (minor units); assets not named are not checked. */
  readonly balances?: Readonly<Record<string, string>>;
}

const HEX_HASH = /^[0-9a-f]{64}$/;
const DIGITS = /^(0|[1-9][0-9]{0,39})$/;
const SIGNED = /^-[0-9]+$/;

/** A failed check, thrown from deep in the parse and caught at the top, where it becomes the verdict. */
class Refusal extends Error {
  override readonly name = 'Refusal';
  constructor(readonly problem: ProofProblem, readonly detail: string) {
    super(detail);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An amount as text: a plain non-negative integer that fits 128 bits, or the reason it is not. */
function amount(text: unknown, what: string, malformed: ProofProblem): bigint {
  if (typeof text === 'string' && SIGNED.test(text)) throw new Refusal('negative_amount', `${what} is negative (${text})`);
  if (typeof text !== 'string' || !DIGITS.test(text)) throw new Refusal(malformed, `${what} is not a whole number of minor units`);
  const value = BigInt(text);
  if (value > AMOUNT_MAX) throw new Refusal('amount_too_large', `${what} does not fit in 128 bits`);
  return value;
}

function hash(text: unknown, what: string, malformed: ProofProblem): Uint8Array {
  if (typeof text !== 'string' || !HEX_HASH.test(text)) throw new Refusal(malformed, `${what} is not 32 bytes of lower-case hex`);
  return Buffer.from(text, 'hex');
}

function sumsOf(list: unknown, assets: number, what: string, malformed: ProofProblem): bigint[] {
  if (!Array.isArray(list) || list.length !== assets) throw new Refusal(malformed, `${what} must list ${assets} sums`);
  return list.map((s, i) => amount(s, `${what}[${i}]`, malformed));
}

/** Reads a report, checking its shape and its own consistency (the root's sums are its totals). */
export function parseReport(value: unknown): LiabilitiesReport {
  const m: ProofProblem = 'report_malformed';
  if (!isRecord(value)) throw new Refusal(m, 'the report is not a JSON object');
  if (value.version !== POR_VERSION) throw new Refusal(m, `report version ${String(value.version)} is not ${POR_VERSION}`);
  if (typeof value.reportId !== 'string' || !REPORT_ID.test(value.reportId)) throw new Refusal(m, 'reportId');
  for (const field of ['position', 'requestSeq', 'seq', 'ts', 'leafCount', 'depth', 'blockNumber'] as const) {
    const v = value[field];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Refusal(m, `${field} is not a whole number`);
  }
  const assets = value.assets;
  if (!Array.isArray(assets) || assets.length > REPORT_ASSETS_MAX) throw new Refusal(m, 'assets');
  const names = new Set<string>();
  for (const a of assets as unknown[]) {
    if (!isRecord(a) || typeof a.asset !== 'string' || a.asset === '' || names.has(a.asset) || typeof a.scale !== 'number' || !Number.isSafeInteger(a.scale)) {
      throw new Refusal(m, 'assets: each is a distinct { asset, scale }');
    }
    names.add(a.asset);
  }
  const report = value as unknown as LiabilitiesReport;
  if (levelSizes(report.leafCount).length - 1 !== report.depth || report.depth > TREE_DEPTH_MAX) throw new Refusal(m, 'depth does not match leafCount');
  if (!isRecord(value.root)) throw new Refusal(m, 'root');
  hash(value.root.hash, 'root.hash', m);
  const rootSums = sumsOf(value.root.sums, assets.length, 'root.sums', m);
  if (!isRecord(value.totals) || Object.keys(value.totals).length !== assets.length) throw new Refusal(m, 'totals must name every asset');
  report.assets.forEach((a, i) => {
    const total = amount((value.totals as Record<string, unknown>)[a.asset], `totals.${a.asset}`, m);
    if (total !== rootSums[i]) throw new Refusal('totals_mismatch', `totals.${a.asset} is not the root's sum`);
  });
  return report;
}

/**
 * Checks a proof against a report. `expected` is what the user knows: their id and, if they
 * wish, their balances at the report's position (from their own records).
 */
export function verifyProof(reportJson: unknown, proofJson: unknown, expected: Expected = {}): ProofVerdict {
  try {
    const report = parseReport(reportJson);
    return check(report, proofJson, expected);
  } catch (e) {
    if (e instanceof Refusal) return { ok: false, problem: e.problem, detail: e.detail };
    throw e;
  }
}

function check(report: LiabilitiesReport, value: unknown, expected: Expected): ProofVerdict {
  const m: ProofProblem = 'proof_malformed';
  const assets = report.assets.length;
  if (!isRecord(value)) throw new Refusal(m, 'the proof is not a JSON object');
  if (value.version !== POR_VERSION) throw new Refusal(m, `proof version ${String(value.version)} is not ${POR_VERSION}`);
  const userId = value.userId;
  const leafIndex = value.leafIndex;
  if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId < 1) throw new Refusal(m, 'userId');
  if (typeof leafIndex !== 'number' || !Number.isSafeInteger(leafIndex) || leafIndex < 0) throw new Refusal(m, 'leafIndex');
  const salt = hash(value.salt, 'salt', m);
  const claimedUserHash = hash(value.userHash, 'userHash', m);
  if (!isRecord(value.balances)) throw new Refusal(m, 'balances');
  const given = value.balances;
  if (Object.keys(given).length !== assets || report.assets.some((a) => !(a.asset in given))) {
    throw new Refusal(m, `balances must name exactly the report's ${assets} assets`);
  }
  const balances = report.assets.map((a) => amount(given[a.asset], `balances.${a.asset}`, m));
  if (!Array.isArray(value.path) || value.path.length > TREE_DEPTH_MAX) throw new Refusal(m, 'path');
  const path: TreeNode[] = (value.path as unknown[]).map((step, k) => {
    if (!isRecord(step)) throw new Refusal(m, `path[${k}]`);
    return { hash: hash(step.hash, `path[${k}].hash`, m), sums: sumsOf(step.sums, assets, `path[${k}].sums`, m) };
  });

  // The proof is for this report, this user, and (if the user says so) these balances.
  if (value.reportId !== report.reportId || value.rootHash !== report.root.hash) throw new Refusal('report_mismatch', 'the proof names another report or root');
  if (expected.userId !== undefined && expected.userId !== userId) throw new Refusal('user_mismatch', `the proof is for user ${userId}, not ${expected.userId}`);
  for (const [asset, text] of Object.entries(expected.balances ?? {})) {
    const i = report.assets.findIndex((a) => a.asset === asset);
    const want = amount(text, `expected ${asset}`, m);
    const have = i === -1 ? 0n : balances[i]!;
    if (want !== have) throw new Refusal('balances_mismatch', `${asset}: the proof includes ${have}, you expect ${want}`);
  }
  if (leafIndex >= report.leafCount || path.length !== report.depth) {
    throw new Refusal('path_length', `a leaf of ${report.leafCount} has ${report.depth} steps to the root; this proof has ${path.length} (leaf ${leafIndex})`);
  }
  // Only the user's id and the salt make the leaf theirs.
  if (!Buffer.from(userHash(salt, userId)).equals(claimedUserHash)) throw new Refusal('salt_mismatch', 'H(salt | userId) is not the leaf\'s user hash');

  // Up the path: the leaf, then each parent over (left, right) as the index's bits say.
  const balanceBytes = new Uint8Array(AMOUNT_BYTES * assets);
  balances.forEach((b, a) => { writeAmount(balanceBytes, a * AMOUNT_BYTES, b); });
  let node: TreeNode = { hash: leafHash(claimedUserHash, balanceBytes), sums: balances };
  let index = leafIndex;
  path.forEach((sibling, k) => {
    const sums = node.sums.map((s, a) => s + sibling.sums[a]!);
    if (sums.some((s) => s > AMOUNT_MAX)) throw new Refusal('sum_overflow', `the sums at level ${k + 1} pass 128 bits`);
    const [left, right] = index % 2 === 0 ? [node, sibling] : [sibling, node];
    const children = new Uint8Array(2 * (HASH_BYTES + AMOUNT_BYTES * assets));
    children.set(encodeNode(left), 0);
    children.set(encodeNode(right), children.length / 2);
    node = { hash: parentHash(children), sums };
    index = Math.floor(index / 2);
  });
  if (toHex(node.hash) !== report.root.hash) throw new Refusal('root_mismatch', `the path leads to ${toHex(node.hash)}, not the published root ${report.root.hash}`);
  if (node.sums.some((s, a) => s.toString() !== report.root.sums[a])) throw new Refusal('totals_mismatch', 'the path\'s sums are not the published totals');
  const shown: Record<string, string> = {};
  report.assets.forEach((a, i) => { shown[a.asset] = balances[i]!.toString(); });
  return { ok: true, userId, balances: shown, reportId: report.reportId, position: report.position };
}
