// What a proof of reserves publishes and hands out, as JSON: the report (the root, its position
// in the log, the totals, and the reserves read at a block tied to it) and a user's inclusion
// proof. Amounts are integer minor units as decimal strings; hashes are lower-case hex.

/** The public report: the same bytes on every node that built it. */
export interface LiabilitiesReport {
  readonly version: number;
  readonly reportId: string;
  /** The log position of the record that held the request; the tree is over the state after it. */
  readonly position: number;
  /** The request's own sequence number, and the engine's after the record (the state covered). */
  readonly requestSeq: number;
  readonly seq: number;
  /** Log time of the request (ms). */
  readonly ts: number;
  /** The assets in the order every leaf and node lists its sums, with their scales. */
  readonly assets: readonly { readonly asset: string; readonly scale: number }[];
  readonly leafCount: number;
  /** Levels above the leaves: every proof has exactly this many steps. */
  readonly depth: number;
  readonly root: { readonly hash: string; readonly sums: readonly string[] };
  /** The root's sums by asset: what the exchange owes its users in all. */
  readonly totals: Readonly<Record<string, string>>;
  /** The chain block at which reserves are read (0: none were asked for). */
  readonly blockNumber: number;
}

/** One step up from a node: its sibling, on the side the leaf index's bit says. */
export interface ProofStep {
  readonly hash: string;
  readonly sums: readonly string[];
}

/** A user's inclusion proof: their leaf, its salt, and the path to the root. */
export interface InclusionProof {
  readonly version: number;
  readonly reportId: string;
  readonly rootHash: string;
  readonly userId: number;
  readonly leafIndex: number;
  readonly salt: string;
  readonly userHash: string;
  /** The user's balances (available + held) by asset, minor units. */
  readonly balances: Readonly<Record<string, string>>;
  readonly path: readonly ProofStep[];
}

/** One of the exchange's addresses with its balances at the report's block, and its proof of control. */
export interface ReserveAddress {
  readonly address: string;
  /** Key index: 0 the hot wallet, u user u's deposit address. */
  readonly index: number;
  /** Balances by asset, in the chain's own units (wei, token base units). */
  readonly balances: Readonly<Record<string, string>>;
  /** EIP-191 personal_sign over reserveMessage(report, address). */
  readonly signature: string;
}

export interface ReservesSection {
  readonly reportId: string;
  readonly rootHash: string;
  readonly chainId: number;
  readonly blockNumber: number;
  readonly blockHash: string;
  /** How each asset is held: the native coin (token '') or an ERC-20 contract, and its decimals. */
  readonly assets: readonly { readonly asset: string; readonly token: string; readonly chainDecimals: number; readonly scale: number }[];
  readonly addresses: readonly ReserveAddress[];
  /** Deposit addresses of users in the report that were not read (over RESERVE_ADDRESSES_MAX): their holdings are not counted. */
  readonly addressesOmitted: number;
  /** Sum over the addresses, by asset, in chain units. */
  readonly totals: Readonly<Record<string, string>>;
}
