// Builds the liabilities tree from a compact copy of every user's balances: one leaf per user
// (salted id hash and balances), leaves ordered by that hash so that a leaf's neighbour says
// nothing about who it is, then parents level by level up to the root. Pure computation over
// typed arrays (node:crypto for the hashes): it runs in a worker thread, never on the apply loop.

import {
  AMOUNT_BYTES, encodeNode, HASH_BYTES, leafHash, levelSizes, nodeBytes, padNode, parentHash, REPORT_ASSETS_MAX, REPORT_ID,
  TREE_DEPTH_MAX, userHash, userSalt, writeAmount, type TreeNode,
} from './format.js';

/** A limb of a copied balance: value = hi * 10^15 + lo (as the engine keeps balances). */
export const LIMB = 10n ** 15n;

/**
 * Every user's balances at one position of the log, as the replica copies them on the apply
 * thread: plain typed arrays, so the copy is quick and moves to a worker without cloning.
 */
export interface BalanceTable {
  readonly reportId: string;
  /** Asset ids in the engine's order, with their scales (digits after the point of a minor unit). */
  readonly assets: readonly { readonly asset: string; readonly scale: number }[];
  /** Every user's id, ascending. */
  readonly userIds: Uint32Array;
  /**
   * available + held per user and asset, in two limbs: for user i and asset a,
   * limbs[(i * assets + a) * 2] is hi and the next entry lo, the balance being hi * 10^15 + lo.
   */
  readonly limbs: Float64Array;
}

export interface BuiltTree {
  /** Each level's stored nodes, leaves first, the root last. */
  readonly levels: readonly Uint8Array[];
  readonly root: TreeNode;
  readonly leafCount: number;
  /** For user i of the table (ascending ids), its leaf's index. */
  readonly leafOfUser: Uint32Array;
}

/** A copied balance as an exact integer; a negative one is refused (the ledger never has one). */
export function limbsValue(hi: number, lo: number): bigint {
  const value = hi === 0 ? BigInt(lo) : BigInt(hi) * LIMB + BigInt(lo);
  if (value < 0n) throw new RangeError(`a balance is negative (${value}): no report over a broken ledger`);
  return value;
}

export function buildTree(table: BalanceTable, saltKey: Uint8Array): BuiltTree {
  const { reportId, userIds, limbs } = table;
  const assets = table.assets.length;
  if (!REPORT_ID.test(reportId)) throw new RangeError(`report id ${reportId} is not valid`);
  if (assets > REPORT_ASSETS_MAX) throw new RangeError(`${assets} assets: a report covers at most ${REPORT_ASSETS_MAX}`);
  if (limbs.length !== userIds.length * assets * 2) throw new RangeError('balance table: limbs do not match users x assets');
  const n = userIds.length;
  const sizes = levelSizes(n);
  if (sizes.length - 1 > TREE_DEPTH_MAX) throw new RangeError(`${n} users: deeper than ${TREE_DEPTH_MAX} levels`);

  // 1. Each user's salted hash, and the order of the leaves: by that hash (ties cannot happen
  //    but are broken by the full hash, then the user's place, so the order is total).
  const hashes = new Uint8Array(n * HASH_BYTES);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const userId = userIds[i]!;
    if (i > 0 && userId <= userIds[i - 1]!) throw new RangeError('balance table: user ids must ascend');
    const h = userHash(userSalt(saltKey, reportId, userId), userId);
    hashes.set(h, i * HASH_BYTES);
    keys[i] = h.readUIntBE(0, 6);
  }
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => keys[a]! - keys[b]! || Buffer.compare(hashes.subarray(a * HASH_BYTES, (a + 1) * HASH_BYTES), hashes.subarray(b * HASH_BYTES, (b + 1) * HASH_BYTES)) || a - b);

  // 2. The leaves: H(leaf | user hash | balances), stored with the balances as their sums.
  const record = nodeBytes(assets);
  const balanceBytes = AMOUNT_BYTES * assets;
  let level = new Uint8Array(n * record);
  let sums = new Array<bigint>(n * assets);
  const leafOfUser = new Uint32Array(n);
  const balances = new Uint8Array(balanceBytes);
  for (let p = 0; p < n; p++) {
    const i = order[p]!;
    leafOfUser[i] = p;
    for (let a = 0; a < assets; a++) {
      const at = (i * assets + a) * 2;
      const value = limbsValue(limbs[at]!, limbs[at + 1]!);
      sums[p * assets + a] = value;
      writeAmount(balances, a * AMOUNT_BYTES, value);
    }
    const offset = p * record;
    level.set(leafHash(hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), balances), offset);
    level.set(balances, offset + HASH_BYTES);
  }
  const levels: Uint8Array[] = [level];

  // 3. Parents, level by level: sums added exactly (a sum past 128 bits is refused), hashes over
  //    both children's stored bytes. The last node of an odd level pairs with the zero pad.
  const pad = encodeNode(padNode(assets));
  const pair = new Uint8Array(2 * record);
  for (let k = 1; k < sizes.length; k++) {
    const below = sizes[k - 1]!;
    const count = sizes[k]!;
    const next = new Uint8Array(count * record);
    const nextSums = new Array<bigint>(count * assets);
    for (let j = 0; j < count; j++) {
      const left = 2 * j;
      const right = left + 1;
      let children: Uint8Array;
      if (right < below) {
        children = level.subarray(left * record, (right + 1) * record);
      } else {
        pair.set(level.subarray(left * record, (left + 1) * record), 0);
        pair.set(pad, record);
        children = pair;
      }
      const offset = j * record;
      next.set(parentHash(children), offset);
      for (let a = 0; a < assets; a++) {
        const sum = sums[left * assets + a]! + (right < below ? sums[right * assets + a]! : 0n);
        nextSums[j * assets + a] = sum;
        writeAmount(next, offset + HASH_BYTES + a * AMOUNT_BYTES, sum);
      }
    }
    levels.push(next);
    level = next;
    sums = nextSums;
  }
  const root: TreeNode = n === 0
    ? padNode(assets)
    : { hash: level.slice(0, HASH_BYTES), sums: sums.slice(0, assets) };
  return { levels, root, leafCount: n, leafOfUser };
}
