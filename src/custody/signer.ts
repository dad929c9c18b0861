// The signed bytes of an assigned chain transaction: a pure function of the ChainTxView and the
// key. EIP-1559, the view's chain id, nonce and gas limit, fees at its level, and either a native
// transfer of chainAmount to `to` or the call transfer(to, chainAmount) on the token. viem signs
// with RFC 6979 nonces, so every broadcaster in every cloud computes the same bytes (and hash).

import { encodeFunctionData, keccak256, parseAbiItem, type Hex, type TransactionSerializableEIP1559 } from 'viem';
import type { LocalAccount } from 'viem/accounts';
import { feeAtLevel as engineFeeAtLevel, Limits, type ChainTxView } from '../core/index.js';

/** The highest fee level ReplaceChainTx may set (docs/CUSTODY.md): +25 % per level. */
export const FEE_LEVEL_MAX = Limits.feeLevelMax;

const transferAbi = [parseAbiItem('function transfer(address to, uint256 value) returns (bool)')] as const;

/** A fee (decimal string) at a level: the engine's rule, fee * (100 + 25 * level) / 100, integer division. */
export function feeAtLevel(fee: string, level: number): bigint {
  if (!Number.isInteger(level) || level < 0 || level > FEE_LEVEL_MAX) throw new Error(`fee level ${level} out of range`);
  return engineFeeAtLevel(BigInt(fee), level);
}

/**
 * The unsigned transaction of an assigned view at a fee level (default: the view's own).
 * `recipient` is the value's recipient: the view's `to`, or, when the engine named one of the
 * exchange's own addresses by key index (toIndex, as for a sweep's gas), that index's address.
 */
export function unsignedChainTx(tx: ChainTxView, level = tx.feeLevel, recipient = tx.to): TransactionSerializableEIP1559 {
  if (!/^0x[0-9a-fA-F]{40}$/.test(recipient)) throw new Error(`chain tx ${tx.chain}:${tx.fromIndex}:${tx.nonce}: no recipient address (to "${tx.to}", toIndex ${tx.toIndex})`);
  const to = recipient.toLowerCase() as Hex;
  const common = {
    type: 'eip1559' as const, chainId: tx.chainId, nonce: tx.nonce, gas: BigInt(tx.gasLimit),
    maxFeePerGas: feeAtLevel(tx.maxFeePerGas, level), maxPriorityFeePerGas: feeAtLevel(tx.maxPriorityFeePerGas, level),
  };
  if (tx.token === '') return { ...common, to, value: BigInt(tx.chainAmount) };
  return {
    ...common, to: tx.token.toLowerCase() as Hex, value: 0n,
    data: encodeFunctionData({ abi: transferAbi, functionName: 'transfer', args: [to, BigInt(tx.chainAmount)] }),
  };
}

/** The signed bytes (0x hex) of the view at a fee level. The account must be the view's fromIndex key. */
export async function signChainTx(tx: ChainTxView, account: LocalAccount, level = tx.feeLevel, recipient = tx.to): Promise<Hex> {
  return account.signTransaction(unsignedChainTx(tx, level, recipient));
}

/** A signed transaction's hash: keccak-256 of its bytes. */
export function chainTxHash(signed: Hex): string {
  return keccak256(signed).toLowerCase();
}
