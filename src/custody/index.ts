// The custody runtime's public surface (docs/CUSTODY.md): the local chain (anvil), the chain
// client, the custody key, the transaction signer, and the loops every node runs beside its
// replica (watcher, broadcaster, sweeper, reconciler).
export { anvilBinary, startAnvil, type AnvilOptions, type AnvilProcess } from './anvil.js';
export {
  rpcCall, ViemChainClient, type ChainBlock, type ChainClient, type ChainReceipt, type NativeTransfer, type SendOutcome, type TokenTransfer,
} from './chain.js';
export { CUSTODY_MNEMONIC_ENV, CustodyKeys, KEY_CACHE_MAX, loadCustodyKeys, loadOrCreateDevKeys } from './keys.js';
export { chainTxHash, FEE_LEVEL_MAX, feeAtLevel, signChainTx, unsignedChainTx } from './signer.js';
