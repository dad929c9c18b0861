// The custody runtime's public surface (docs/CUSTODY.md): the local chain (anvil), the chain
// client, the custody key, the transaction signer, the runtime every node runs beside its
// replica (watcher, broadcaster, sweeper, reconciler), and the dev chain's setup.
export { anvilBinary, startAnvil, type AnvilOptions, type AnvilProcess } from './anvil.js';
export {
  rpcCall, ViemChainClient, type ChainBlock, type ChainClient, type ChainReceipt, type NativeTransfer, type SendOutcome, type TokenTransfer,
} from './chain.js';
export { CUSTODY_MNEMONIC_ENV, CustodyKeys, KEY_CACHE_MAX, loadCustodyKeys, loadOrCreateDevKeys } from './keys.js';
export { chainTxHash, FEE_LEVEL_MAX, feeAtLevel, signChainTx, unsignedChainTx } from './signer.js';
export { custodyPortOf, type CustodyLogger, type CustodyPort } from './port.js';
export { CRASH_AT_ENV, crashPointOf, type CrashPoint } from './broadcaster.js';
export { CustodyRuntime, type CustodyRuntimeOptions, type CustodyStatus } from './runtime.js';
export type { AssetReconciliation, Reconciliation } from './reconciler.js';
export { ANVIL_DEV_MNEMONIC, devChainAssets, devTokenArtifact, faucetSend, setupDevChain, waitForReceipt, type DevChain } from './devchain.js';
