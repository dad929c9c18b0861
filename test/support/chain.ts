// Test helpers on a real local chain: anvil's prefunded account as a faucet (native coin and the
// DevToken), mining blocks on demand, and waiting for a condition (polled, bounded in time, never
// a fixed sleep). The custody key of the tests is a fixed public mnemonic, written to a 0600 file.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeFunctionData, parseAbiItem, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import { ANVIL_DEV_MNEMONIC, chainTxHash, rpcCall, waitForReceipt, type ChainClient } from '../../src/custody/index.js';

/** The custody key of the custody tests (BIP-39's test vector; not anvil's, so no deposit address starts funded). */
export const TEST_MNEMONIC = 'abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about';

export async function writeKeyFile(dir: string): Promise<string> {
  const file = join(dir, 'custody.key');
  await writeFile(file, TEST_MNEMONIC + '\n', { mode: 0o600 });
  return file;
}

const faucet = mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex: 0 });
const transferAbi = [parseAbiItem('function transfer(address to, uint256 value) returns (bool)')] as const;

/**
 * Pays from anvil's prefunded account 0, the dev setup's faucet (which holds the DevToken's whole
 * supply; the setup is done once the node serves): native coin (token '') or tokens. Resolves
 * with the hash once mined (the tests' anvil mines a block per transaction).
 */
export async function faucetPay(chain: ChainClient, token: string, to: string, amount: bigint): Promise<string> {
  const bytes = await faucetSign(chain, token, to, amount);
  const sent = await chain.sendRawTransaction(bytes);
  if (!sent.ok) throw new Error(`faucet: ${sent.message}`);
  const hash = chainTxHash(bytes);
  const receipt = await waitForReceipt(chain, hash, 10_000);
  if (receipt.status !== 'success') throw new Error(`faucet transaction ${hash} reverted`);
  return hash;
}

/** The faucet's signed payment at its next nonce, not sent (a test may hand it to anvil_reorg). */
export async function faucetSign(chain: ChainClient, token: string, to: string, amount: bigint): Promise<Hex> {
  const nonce = await chain.nonce(faucet.address);
  const common = { type: 'eip1559' as const, chainId: await chain.chainId(), nonce, maxFeePerGas: 50_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
  return token === ''
    ? faucet.signTransaction({ ...common, to: to as Hex, value: amount, gas: 21_000n })
    : faucet.signTransaction({ ...common, to: token as Hex, gas: 100_000n, data: encodeFunctionData({ abi: transferAbi, functionName: 'transfer', args: [to as Hex, amount] }) });
}

export const testFaucetAddress = faucet.address.toLowerCase();

export async function mine(url: string, blocks: number): Promise<void> {
  await rpcCall(url, 'anvil_mine', [`0x${blocks.toString(16)}`]);
}

/** Polls `check` every `everyMs` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`);
}
