// Builds the liabilities tree from a compact copy of every user's balances: one leaf per user
// (salted id hash and balances), leaves ordered by that hash so that a leaf's neighbour says
// nothing about who it is, then parents level by level up to the root. Pure computation over
// typed arrays (node:crypto for the hashes): it runs in a worker thread, never on the apply loop.
// For speed it hashes through one-shot calls over reused scratch buffers (HMAC written out as
// its two hashes) instead of format.ts's hash objects; the bytes are the same, and the tests
// check every proof with the verifier, which uses format.ts's functions.

import { hash } from 'node:crypto';
import {
  AMOUNT_BYTES, AMOUNT_MAX, encodeNode, HASH_BYTES, levelSizes, nodeBytes, padNode, REPORT_ASSETS_MAX, REPORT_ID, TAGS,
  TREE_DEPTH_MAX, saltMessage, type TreeNode,
} from './format.js';

const sha256 = (data: Uint8Array): Buffer => hash('sha256', data, 'buffer');

/** HMAC-SHA256 (RFC 2104) with the key's pads computed once: H(opad | H(ipad | message)). */
class Hmac {
  private readonly inner: Uint8Array;
  private readonly outer = new Uint8Array(64 + HASH_BYTES);
  constructor(key: Uint8Array, messageBytesMax: number) {
    if (key.length > 64) throw new RangeError('an HMAC key of more than 64 bytes is hashed first; not needed here');
    this.inner = new Uint8Array(64 + messageBytesMax);
    for (let i = 0; i < 64; i++) {
      const k = key[i] ?? 0;
      this.inner[i] = k ^ 0x36;
      this.outer[i] = k ^ 0x5c;
    }
  }

  /** The MAC of `message` (ASCII), written to `out`. */
  mac(message: string, out: Uint8Array): void {
    const length = Buffer.from(this.inner.buffer, this.inner.byteOffset, this.inner.length).write(message, 64, 'latin1');
    if (length !== message.length) throw new RangeError('HMAC message longer than its buffer');
    this.outer.set(sha256(this.inner.subarray(0, 64 + length)), 64);
    out.set(sha256(this.outer));
  }
}

// Sums are kept as three exact float limbs of 48 bits, value = l2 * 2^96 + l1 * 2^48 + l0 (l2 <
// 2^32, so the value fits the 128 bits of its encoding): adding two never leaves the safe-integer
// range, and no BigInt is made per node. A 48-bit limb is 6 bytes of the encoding.
const L48 = 2 ** 48;
const L32 = 2 ** 32;
const LIMBS = 3;

/** Puts an exact non-negative value into limbs at `at`; false when it does not fit 128 bits. */
function toLimbs(value: bigint, out: Float64Array, at: number): boolean {
  out[at] = Number(value & 0xffff_ffff_ffffn);
  out[at + 1] = Number((value >> 48n) & 0xffff_ffff_ffffn);
  out[at + 2] = Number(value >> 96n);
  return value <= AMOUNT_MAX;
}

export function limbsToBigInt(limbs: Float64Array, at: number): bigint {
  return (BigInt(limbs[at + 2]!) << 96n) | (BigInt(limbs[at + 1]!) << 48n) | BigInt(limbs[at]!);
}

/** Writes the limbs at `at` as 16 bytes big-endian at `offset`. */
function putLimbs(out: Buffer, offset: number, limbs: Float64Array, at: number): void {
  out.writeUInt32BE(limbs[at + 2]!, offset);
  out.writeUIntBE(limbs[at + 1]!, offset + 4, 6);
  out.writeUIntBE(limbs[at]!, offset + 10, 6);
}

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

  // 1. Each user's salted hash, and the order of the leaves: by the hash's first 4 bytes, then
  //    (the few ties) by the user's place, one 64-bit key per user sorted natively.
  const hashes = new Uint8Array(n * HASH_BYTES);
  const keys = new BigUint64Array(n);
  const hmac = new Hmac(saltKey, saltMessage(reportId, 0xffff_ffff).length);
  // H(user tag | salt | decimal id): the salt is written straight into its place after the tag.
  const userInput = new Uint8Array(TAGS.user.length + HASH_BYTES + 10);
  userInput.set(TAGS.user, 0);
  const saltAt = userInput.subarray(TAGS.user.length, TAGS.user.length + HASH_BYTES);
  const idText = Buffer.from(userInput.buffer, userInput.byteOffset + TAGS.user.length + HASH_BYTES, 10);
  for (let i = 0; i < n; i++) {
    const userId = userIds[i]!;
    if (i > 0 && userId <= userIds[i - 1]!) throw new RangeError('balance table: user ids must ascend');
    hmac.mac(saltMessage(reportId, userId), saltAt);
    const text = String(userId);
    const digits = idText.write(text, 0, 'latin1');
    if (digits !== text.length) throw new RangeError(`user id ${text} longer than 10 digits`);
    const h = sha256(userInput.subarray(0, TAGS.user.length + HASH_BYTES + digits));
    hashes.set(h, i * HASH_BYTES);
    keys[i] = (BigInt(h.readUInt32BE(0)) << 32n) | BigInt(i);
  }
  keys.sort();
  const order = new Uint32Array(n);
  for (let p = 0; p < n; p++) order[p] = Number(keys[p]! & 0xffff_ffffn);

  // 2. The leaves: H(leaf | user hash | balances), stored with the balances as their sums.
  const record = nodeBytes(assets);
  let level = Buffer.alloc(n * record);
  let sums = new Float64Array(n * assets * LIMBS);
  const leafOfUser = new Uint32Array(n);
  // H(leaf tag | user hash | balances), over one scratch buffer.
  const leafInput = Buffer.alloc(TAGS.leaf.length + HASH_BYTES + AMOUNT_BYTES * assets);
  leafInput.set(TAGS.leaf, 0);
  const balancesAt = TAGS.leaf.length + HASH_BYTES;
  for (let p = 0; p < n; p++) {
    const i = order[p]!;
    leafOfUser[i] = p;
    leafInput.set(hashes.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES), TAGS.leaf.length);
    for (let a = 0; a < assets; a++) {
      const at = (i * assets + a) * 2;
      const hi = limbs[at]!;
      const lo = limbs[at + 1]!;
      const to = (p * assets + a) * LIMBS;
      // Almost every balance is below 2^48 minor units: one limb, no BigInt.
      if (hi === 0 && lo >= 0 && lo < L48) {
        sums[to] = lo;
        sums[to + 1] = 0;
        sums[to + 2] = 0;
      } else if (!toLimbs(limbsValue(hi, lo), sums, to)) {
        throw new RangeError('a balance does not fit 128 bits');
      }
      putLimbs(leafInput, balancesAt + a * AMOUNT_BYTES, sums, to);
    }
    const offset = p * record;
    level.set(sha256(leafInput), offset);
    level.set(leafInput.subarray(balancesAt), offset + HASH_BYTES);
  }
  const levels: Uint8Array[] = [level];

  // 3. Parents, level by level: sums added exactly (a sum past 128 bits is refused), hashes over
  //    both children's stored bytes. The last node of an odd level pairs with the zero pad.
  const pad = encodeNode(padNode(assets));
  // H(node tag | left node | right node): the two stored nodes are copied after the tag.
  const nodeInput = new Uint8Array(TAGS.node.length + 2 * record);
  nodeInput.set(TAGS.node, 0);
  for (let k = 1; k < sizes.length; k++) {
    const below = sizes[k - 1]!;
    const count = sizes[k]!;
    const next = Buffer.alloc(count * record);
    const nextSums = new Float64Array(count * assets * LIMBS);
    for (let j = 0; j < count; j++) {
      const left = 2 * j;
      const right = left + 1;
      if (right < below) {
        nodeInput.set(level.subarray(left * record, (right + 1) * record), TAGS.node.length);
      } else {
        nodeInput.set(level.subarray(left * record, (left + 1) * record), TAGS.node.length);
        nodeInput.set(pad, TAGS.node.length + record);
      }
      const offset = j * record;
      next.set(sha256(nodeInput), offset);
      for (let a = 0; a < assets; a++) {
        const l = (left * assets + a) * LIMBS;
        const r = (right * assets + a) * LIMBS;
        const to = (j * assets + a) * LIMBS;
        const has = right < below;
        let l0 = sums[l]! + (has ? sums[r]! : 0);
        let l1 = sums[l + 1]! + (has ? sums[r + 1]! : 0);
        let l2 = sums[l + 2]! + (has ? sums[r + 2]! : 0);
        if (l0 >= L48) { l0 -= L48; l1 += 1; }
        if (l1 >= L48) { l1 -= L48; l2 += 1; }
        if (l2 >= L32) throw new RangeError(`a sum at level ${k} passes 128 bits`);
        nextSums[to] = l0;
        nextSums[to + 1] = l1;
        nextSums[to + 2] = l2;
        putLimbs(next, offset + HASH_BYTES + a * AMOUNT_BYTES, nextSums, to);
      }
    }
    levels.push(next);
    level = next;
    sums = nextSums;
  }
  const root: TreeNode = n === 0
    ? padNode(assets)
    : { hash: Uint8Array.from(level.subarray(0, HASH_BYTES)), sums: Array.from({ length: assets }, (_, a) => limbsToBigInt(sums, a * LIMBS)) };
  return { levels, root, leafCount: n, leafOfUser };
}
