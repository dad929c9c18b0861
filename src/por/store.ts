// Where reports live: <data-dir>/por/<reportId>/ holds report.json (public, the same bytes on
// every node), tree.bin (every level's nodes, leaves first: hash then sums, fixed width) and
// index.bin (each user id with its leaf index, ascending by id). A report appears whole or not at
// all: it is written into a temporary directory that is renamed into place. A proof reads only
// the user's leaf and one sibling per level, so serving it costs a few small reads.

import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeNode, levelSizes, nodeBytes, padNode, POR_VERSION, REPORT_ID, toHex, userHash, userSalt, type TreeNode } from './format.js';
import type { BuiltTree } from './tree.js';
import type { InclusionProof, LiabilitiesReport, ReservesSection } from './types.js';

const INDEX_ENTRY_BYTES = 8;
/** Parsed reports kept in memory at most (a report.json is a few hundred bytes plus its assets). */
export const reportsCachedMax = 64;

export class ReportStore {
  private readonly cache = new Map<string, LiabilitiesReport>();

  constructor(readonly dir: string) {}

  private path(reportId: string, file: string): string {
    if (!REPORT_ID.test(reportId)) throw new RangeError(`report id ${reportId} is not valid`);
    return join(this.dir, reportId, file);
  }

  /**
   * Writes a built tree and its report, whole or not at all, and returns the report on disk: an
   * existing report of the same id is kept (the first request of an id wins on every node).
   */
  async write(report: LiabilitiesReport, tree: BuiltTree, userIds: Uint32Array): Promise<LiabilitiesReport> {
    await mkdir(this.dir, { recursive: true });
    const existing = await this.report(report.reportId);
    if (existing !== undefined) return existing;
    const tmp = join(this.dir, `.tmp-${report.reportId}-${String(process.pid)}`);
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp);
    const fh = await open(join(tmp, 'tree.bin'), 'w');
    try {
      for (const level of tree.levels) await fh.write(level);
      await fh.sync();
    } finally {
      await fh.close();
    }
    const index = Buffer.alloc(userIds.length * INDEX_ENTRY_BYTES);
    for (let i = 0; i < userIds.length; i++) {
      index.writeUInt32BE(userIds[i]!, i * INDEX_ENTRY_BYTES);
      index.writeUInt32BE(tree.leafOfUser[i]!, i * INDEX_ENTRY_BYTES + 4);
    }
    await writeFile(join(tmp, 'index.bin'), index);
    await writeFile(join(tmp, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    try {
      await rename(tmp, join(this.dir, report.reportId));
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      throw e;
    }
    return report;
  }

  /** The report, or undefined when this node has none of that id. */
  async report(reportId: string): Promise<LiabilitiesReport | undefined> {
    if (!REPORT_ID.test(reportId)) return undefined;
    const cached = this.cache.get(reportId);
    if (cached !== undefined) return cached;
    let text: string;
    try {
      text = await readFile(this.path(reportId, 'report.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    const report = JSON.parse(text) as LiabilitiesReport;
    if (this.cache.size >= reportsCachedMax) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(reportId, report);
    return report;
  }

  /** The reserves read for a report, if they were. */
  async reserves(reportId: string): Promise<ReservesSection | undefined> {
    if (!REPORT_ID.test(reportId)) return undefined;
    try {
      return JSON.parse(await readFile(this.path(reportId, 'reserves.json'), 'utf8')) as ReservesSection;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async writeReserves(reserves: ReservesSection): Promise<void> {
    const final = this.path(reserves.reportId, 'reserves.json');
    await writeFile(`${final}.tmp`, JSON.stringify(reserves, null, 2) + '\n');
    await rename(`${final}.tmp`, final);
  }

  /** Report ids on this node, sorted by name. */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((name) => REPORT_ID.test(name)).sort();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  /**
   * A user's inclusion proof: their leaf (found through the index by binary search), its salt
   * (derived again, never stored) and a sibling per level. Undefined when there is no such report
   * or the user was not in it (created after the report's position).
   */
  async proof(reportId: string, userId: number, saltKey: Uint8Array): Promise<InclusionProof | undefined> {
    const report = await this.report(reportId);
    if (report === undefined) return undefined;
    const assets = report.assets.length;
    const record = nodeBytes(assets);
    const index = await open(this.path(reportId, 'index.bin'), 'r');
    let leafIndex: number | undefined;
    try {
      const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
      let lo = 0;
      let hi = report.leafCount - 1;
      while (lo <= hi) {
        const mid = Math.floor((lo + hi) / 2);
        await index.read(entry, 0, INDEX_ENTRY_BYTES, mid * INDEX_ENTRY_BYTES);
        const id = entry.readUInt32BE(0);
        if (id === userId) {
          leafIndex = entry.readUInt32BE(4);
          break;
        }
        if (id < userId) lo = mid + 1;
        else hi = mid - 1;
      }
    } finally {
      await index.close();
    }
    if (leafIndex === undefined) return undefined;
    const sizes = levelSizes(report.leafCount);
    const tree = await open(this.path(reportId, 'tree.bin'), 'r');
    const nodeAt = async (levelStart: number, i: number): Promise<TreeNode> => {
      const bytes = Buffer.alloc(record);
      await tree.read(bytes, 0, record, (levelStart + i) * record);
      return decodeNode(bytes, assets);
    };
    try {
      const leaf = await nodeAt(0, leafIndex);
      const path: { hash: string; sums: string[] }[] = [];
      let levelStart = 0;
      let i = leafIndex;
      for (let k = 0; k < sizes.length - 1; k++) {
        const sibling = i ^ 1;
        const node = sibling < sizes[k]! ? await nodeAt(levelStart, sibling) : padNode(assets);
        path.push({ hash: toHex(node.hash), sums: node.sums.map(String) });
        levelStart += sizes[k]!;
        i = Math.floor(i / 2);
      }
      const salt = userSalt(saltKey, reportId, userId);
      // The leaf's user hash is not stored (only its leaf hash is): it is derived again here.
      const balances: Record<string, string> = {};
      report.assets.forEach((a, k) => { balances[a.asset] = leaf.sums[k]!.toString(); });
      return {
        version: POR_VERSION, reportId, rootHash: report.root.hash, userId, leafIndex, salt: toHex(salt),
        userHash: toHex(userHash(salt, userId)), balances, path,
      };
    } finally {
      await tree.close();
    }
  }
}

/** The report of a built tree (the same on every node: nothing here depends on the node). */
export function reportOf(tree: BuiltTree, meta: Omit<LiabilitiesReport, 'version' | 'leafCount' | 'depth' | 'root' | 'totals' | 'assets'>, assets: LiabilitiesReport['assets']): LiabilitiesReport {
  const totals: Record<string, string> = {};
  assets.forEach((a, i) => { totals[a.asset] = tree.root.sums[i]!.toString(); });
  return {
    version: POR_VERSION, reportId: meta.reportId, position: meta.position, requestSeq: meta.requestSeq, seq: meta.seq, ts: meta.ts,
    assets, leafCount: tree.leafCount, depth: levelSizes(tree.leafCount).length - 1,
    root: { hash: toHex(tree.root.hash), sums: tree.root.sums.map(String) }, totals, blockNumber: meta.blockNumber,
  };
}

