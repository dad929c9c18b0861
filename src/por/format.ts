// The byte formats of the liabilities tree, shared by the builder and the verifier: how a user's
// salted id, a leaf and a parent are hashed. Every input has a fixed layout after a distinct
// tag, and every amount is 16 bytes big-endian unsigned, so no two different trees hash alike
// and a negative amount cannot be written at all. docs/PROOF-OF-RESERVES.md shows the same
// layouts for someone who wants to check a proof by hand.

import { createHash, createHmac } from 'node:crypto';

/** Bytes of one amount: unsigned 128-bit big-endian. A sum that would not fit is refused. */
export const AMOUNT_BYTES = 16;
export const AMOUNT_MAX = (1n << 128n) - 1n;
export const HASH_BYTES = 32;
/** The format version named in every report and proof. */
export const POR_VERSION = 1;
/** The deepest tree a verifier accepts: 2^48 users is far more than any exchange has. */
export const TREE_DEPTH_MAX = 48;
/** Assets one report may cover. */
export const REPORT_ASSETS_MAX = 256;
export const REPORT_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** The tag each kind of hash input starts with: distinct, and none a prefix of another. */
export const TAGS = {
  user: Buffer.from('everbook-por-v1 user\0'),
  leaf: Buffer.from('everbook-por-v1 leaf\0'),
  node: Buffer.from('everbook-por-v1 node\0'),
} as const;
const TAG_USER = TAGS.user;
const TAG_LEAF = TAGS.leaf;
const TAG_NODE = TAGS.node;
const SALT_LABEL = 'everbook-por-v1 salt\0';

/** What a user's salt is the HMAC of: the label, the report id and the user id. */
export const saltMessage = (reportId: string, userId: number): string => `${SALT_LABEL}${reportId}\0${String(userId)}`;

/** A node as it is stored and sent: its hash and its per-asset sums (in the report's asset order). */
export interface TreeNode {
  readonly hash: Uint8Array;
  readonly sums: readonly bigint[];
}

/** Bytes of one stored node: its hash, then each asset's sum. */
export const nodeBytes = (assets: number): number => HASH_BYTES + AMOUNT_BYTES * assets;

/** Writes an amount into `out` at `offset`; throws on a negative amount or one past 128 bits. */
export function writeAmount(out: Uint8Array, offset: number, amount: bigint): void {
  if (amount < 0n) throw new RangeError(`negative amount ${amount}`);
  if (amount > AMOUNT_MAX) throw new RangeError(`amount ${amount} does not fit in 128 bits`);
  const view = new DataView(out.buffer, out.byteOffset + offset, AMOUNT_BYTES);
  view.setBigUint64(0, amount >> 64n);
  view.setBigUint64(8, amount & 0xffff_ffff_ffff_ffffn);
}

export function readAmount(bytes: Uint8Array, offset: number): bigint {
  const view = new DataView(bytes.buffer, bytes.byteOffset + offset, AMOUNT_BYTES);
  return (view.getBigUint64(0) << 64n) | view.getBigUint64(8);
}

/** A node's stored bytes: hash, then sums. */
export function encodeNode(node: TreeNode): Uint8Array {
  const out = new Uint8Array(nodeBytes(node.sums.length));
  out.set(node.hash, 0);
  node.sums.forEach((sum, i) => { writeAmount(out, HASH_BYTES + i * AMOUNT_BYTES, sum); });
  return out;
}

export function decodeNode(bytes: Uint8Array, assets: number): TreeNode {
  const sums: bigint[] = [];
  for (let i = 0; i < assets; i++) sums.push(readAmount(bytes, HASH_BYTES + i * AMOUNT_BYTES));
  return { hash: bytes.slice(0, HASH_BYTES), sums };
}

/** The sub-key salts are derived from, given the deployment's key-derivation root (never used raw). */
export function saltKeyFrom(root: Uint8Array): Buffer {
  return createHmac('sha256', root).update('everbook por-salt-key v1\0').digest();
}

/** A user's salt for one report: secret from other users, the same on every node. */
export function userSalt(saltKey: Uint8Array, reportId: string, userId: number): Buffer {
  return createHmac('sha256', saltKey).update(saltMessage(reportId, userId)).digest();
}

/** H(tag | salt (32 bytes) | user id in decimal): who the leaf is, known only to its user. */
export function userHash(salt: Uint8Array, userId: number): Buffer {
  return createHash('sha256').update(TAG_USER).update(salt).update(String(userId)).digest();
}

/** H(tag | user hash | balances): a leaf, whose sums are the user's balances (available + held). */
export function leafHash(userHashBytes: Uint8Array, balances: Uint8Array): Buffer {
  return createHash('sha256').update(TAG_LEAF).update(userHashBytes).update(balances).digest();
}

/**
 * H(tag | left hash | left sums | right hash | right sums): a parent commits to both children's
 * hashes and both children's sums separately, so no sum can move between them unseen (the flaw
 * of a tree whose parent commits only to the total). `children` is the two stored nodes, left
 * then right, back to back.
 */
export function parentHash(children: Uint8Array): Buffer {
  return createHash('sha256').update(TAG_NODE).update(children).digest();
}

/** The node that pairs with the last node of a level of odd length: a zero hash and zero sums. */
export const padNode = (assets: number): TreeNode => ({ hash: new Uint8Array(HASH_BYTES), sums: new Array<bigint>(assets).fill(0n) });

/** Node counts per level, leaves first, up to the root (one level for 0 or 1 leaves). */
export function levelSizes(leafCount: number): number[] {
  const sizes = [leafCount];
  let n = leafCount;
  while (n > 1) {
    n = Math.ceil(n / 2);
    sizes.push(n);
  }
  return sizes;
}

export const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
