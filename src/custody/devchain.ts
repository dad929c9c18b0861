// The dev exchange's chain: on a local anvil, its well-known prefunded account (the "faucet")
// deploys the DevToken, funds the hot wallet with the exchange's own float (native coin for gas
// and withdrawals, tokens for withdrawals before the first sweep), declares the chain and its two
// assets (ETH native, USDT the DevToken), and pays the dev traders' seed funds as real deposits
// to their deposit addresses, which the watcher credits like any other. Dev only: the faucet's
// key is public knowledge.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeDeployData, encodeFunctionData, getContractAddress, parseAbiItem, type Abi, type Hex } from 'viem';
import { mnemonicToAccount } from 'viem/accounts';
import type { Command, SetChainAsset } from '../core/index.js';
import type { ChainClient, ChainReceipt } from './chain.js';
import type { CustodyKeys } from './keys.js';
import type { CustodyPort } from './port.js';
import { chainTxHash } from './signer.js';

/** anvil's default mnemonic: its accounts are prefunded with 10,000 ETH each (a dev chain only). */
export const ANVIL_DEV_MNEMONIC = 'test test test test test test test test test test test junk';
/** DevToken's supply, minted to the faucet: 10^9 tokens of 6 decimals. */
const TOKEN_SUPPLY = 10n ** 15n;
/** The hot wallet's own float: 1,000 ETH and 1,000,000 USDT. */
const HOT_NATIVE_FLOAT = 1_000n * 10n ** 18n;
const HOT_TOKEN_FLOAT = 1_000_000n * 10n ** 6n;
/** Each dev trader's seed deposit: 100 ETH and 100,000 USDT, as the engine-credited seed was. */
const SEED_NATIVE = 100n * 10n ** 18n;
const SEED_TOKEN = 100_000n * 10n ** 6n;
/** Fees of the faucet's own transactions (anvil's base fee starts at 1 gwei and falls on empty blocks). */
const FAUCET_MAX_FEE = 50_000_000_000n;
const FAUCET_TIP = 1_000_000_000n;
const RECEIPT_TIMEOUT_MS = 60_000;

const transferAbi = [parseAbiItem('function transfer(address to, uint256 value) returns (bool)')] as const;

interface Artifact { readonly abi: Abi; readonly bytecode: Hex }

/** The compiled DevToken (dist/contracts/DevToken.json, written by scripts/ensure.mjs). */
export function devTokenArtifact(): Artifact {
  const path = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'contracts', 'DevToken.json');
  return JSON.parse(readFileSync(path, 'utf8')) as Artifact;
}

/** The chain assets the dev setup declares, by their engine asset. */
export function devChainAssets(chain: string, token: string, confirmations: number): SetChainAsset[] {
  const common = { chain, confirmations, maxFeePerGas: '20000000000', maxPriorityFeePerGas: '1000000000' };
  return [
    // ETH: scale 9 in the ledger, so one minor unit is 10^9 wei. Withdrawals above 10 ETH wait for approval.
    { type: 'SetChainAsset', asset: 'ETH', token: '', chainDecimals: 18, approvalThreshold: '10000000000', globalDailyMax: '10000000000000', gasLimit: 21_000, ...common },
    // USDT: the DevToken, 6 decimals as the ledger's scale. Above 50,000 USDT waits for approval.
    { type: 'SetChainAsset', asset: 'USDT', token, chainDecimals: 6, approvalThreshold: '50000000000', globalDailyMax: '10000000000000', gasLimit: 100_000, ...common },
  ];
}

export interface DevChain {
  readonly token: string;
  /** Seed deposits sent (native and token), by trader. */
  readonly seeded: readonly number[];
}

/** Sends the faucet's transactions with consecutive nonces and waits until all are mined. */
class Faucet {
  readonly account = mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex: 0 });
  private nonce = -1;
  private chainId = 0;
  private readonly sent: string[] = [];

  constructor(private readonly client: ChainClient) {}

  async send(tx: { to?: Hex; value?: bigint; data?: Hex; gas: bigint }): Promise<{ hash: string; nonce: number }> {
    if (this.nonce < 0) {
      this.nonce = await this.client.nonce(this.account.address);
      this.chainId = await this.client.chainId();
    }
    const nonce = this.nonce++;
    const bytes = await this.account.signTransaction({
      type: 'eip1559', chainId: this.chainId, nonce, maxFeePerGas: FAUCET_MAX_FEE, maxPriorityFeePerGas: FAUCET_TIP, ...tx,
    });
    const outcome = await this.client.sendRawTransaction(bytes);
    if (!outcome.ok) throw new Error(`dev chain: the faucet's transaction was refused: ${outcome.message}`);
    const hash = chainTxHash(bytes);
    this.sent.push(hash);
    return { hash, nonce };
  }

  /** Waits (bounded) until every sent transaction is mined successfully. */
  async mined(): Promise<void> {
    for (const hash of this.sent.splice(0)) {
      const r = await waitForReceipt(this.client, hash, RECEIPT_TIMEOUT_MS);
      if (r.status !== 'success') throw new Error(`dev chain: faucet transaction ${hash} reverted`);
    }
  }
}

/** Polls for a receipt until the deadline: the chain mines on its own schedule. */
export async function waitForReceipt(client: ChainClient, hash: string, timeoutMs: number): Promise<ChainReceipt> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await client.receipt(hash);
    if (r !== undefined) return r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`transaction ${hash} not mined in ${timeoutMs} ms`);
}

async function submitAll(port: CustodyPort, cmds: Command[]): Promise<void> {
  const results = await port.submit(cmds);
  if (!Array.isArray(results)) throw new Error(`dev chain setup: not applied: ${results.message}`);
  results.forEach((r, i) => {
    if (!r.ok) throw new Error(`dev chain setup: ${cmds[i]!.type} rejected: ${r.reject.code}`);
  });
}

/**
 * Declares the dev chain if the ledger has none by this name: token, hot wallet float, SetChain
 * and SetChainAsset (ETH, USDT), then the seed deposits of `traders`. Returns undefined when the
 * chain was declared already (a restart).
 */
export async function setupDevChain(o: {
  readonly chain: string; readonly client: ChainClient; readonly keys: CustodyKeys; readonly port: CustodyPort;
  readonly confirmations: number; readonly traders: readonly number[];
}): Promise<DevChain | undefined> {
  if (o.port.custody(o.chain) !== undefined) return undefined;
  const faucet = new Faucet(o.client);
  const artifact = devTokenArtifact();
  const deploy = await faucet.send({ data: encodeDeployData({ abi: artifact.abi, bytecode: artifact.bytecode, args: [TOKEN_SUPPLY] }), gas: 3_000_000n });
  const token = getContractAddress({ from: faucet.account.address, nonce: BigInt(deploy.nonce) }).toLowerCase();
  const hot = o.keys.address(0) as Hex;
  await faucet.send({ to: hot, value: HOT_NATIVE_FLOAT, gas: 21_000n });
  await faucet.send({ to: token as Hex, data: encodeFunctionData({ abi: transferAbi, functionName: 'transfer', args: [hot, HOT_TOKEN_FLOAT] }), gas: 100_000n });
  await faucet.mined();
  const chainId = await o.client.chainId();
  const nonceStart = await o.client.nonce(hot);
  await submitAll(o.port, [
    { type: 'SetChain', chain: o.chain, chainId, hotWallet: hot, nonceStart },
    ...devChainAssets(o.chain, token, o.confirmations),
  ]);
  for (const userId of o.traders) await seedDeposits(faucet, token, o.keys.address(userId) as Hex);
  await faucet.mined();
  return { token, seeded: o.traders };
}

async function seedDeposits(faucet: Faucet, token: string, to: Hex): Promise<void> {
  await faucet.send({ to, value: SEED_NATIVE, gas: 21_000n });
  await faucet.send({ to: token as Hex, data: encodeFunctionData({ abi: transferAbi, functionName: 'transfer', args: [to, SEED_TOKEN] }), gas: 100_000n });
}

/**
 * A dev helper (`everbook chain-send`): the faucet pays `amount` chain units of the native coin
 * (token '') or of a token to an address; resolves once mined. Returns the transaction hash.
 */
export async function faucetSend(client: ChainClient, token: string, to: string, amount: bigint): Promise<string> {
  const faucet = new Faucet(client);
  const sent = token === ''
    ? await faucet.send({ to: to as Hex, value: amount, gas: 21_000n })
    : await faucet.send({ to: token as Hex, data: encodeFunctionData({ abi: transferAbi, functionName: 'transfer', args: [to as Hex, amount] }), gas: 100_000n });
  await faucet.mined();
  return sent.hash;
}
