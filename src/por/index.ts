// Proof of reserves: the liabilities tree (a Merkle sum tree over every user's balances at one
// position of the log), the node's report queue and store, the reserves (the exchange's signed
// addresses read at the report's block), and the verifier a user runs. It imports nothing from
// the rest of Everbook (viem only, for signatures and the chain): anyone can take it alone.
export {
  AMOUNT_BYTES, AMOUNT_MAX, HASH_BYTES, POR_VERSION, REPORT_ID, TREE_DEPTH_MAX, REPORT_ASSETS_MAX, encodeNode, decodeNode, leafHash, levelSizes,
  nodeBytes, padNode, parentHash, saltKeyFrom, toHex, userHash, userSalt, writeAmount, type TreeNode,
} from './format.js';
export { buildTree, limbsValue, LIMB, type BalanceTable, type BuiltTree } from './tree.js';
export { ReportStore, reportOf, reportsCachedMax } from './store.js';
export { LiabilitiesReports, reportsPendingMax, type BuildOutcome, type ReportMeta, type ReportState, type ReportsOptions } from './reports.js';
export { parseReport, verifyProof, type Expected, type ProofProblem, type ProofVerdict } from './verify.js';
export {
  readReserves, reserveMessage, rpcReserveReader, verifyReserves, RESERVE_ADDRESSES_MAX,
  type AssetCoverage, type ReserveAsset, type ReserveChainReader, type ReserveSigner, type ReservesProblem, type ReservesVerdict,
} from './reserves.js';
export type { InclusionProof, LiabilitiesReport, ProofStep, ReserveAddress, ReservesSection } from './types.js';
