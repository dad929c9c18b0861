// What the custody runtime reads from and sends to a chain, as one narrow interface
// (ChainClient), and its implementation over viem's JSON-RPC client. Nothing else in the project
// talks to viem's public client, so a second chain client (another library, a test double) is one
// class. Amounts are bigint chain units (wei, token base units); addresses are lower-case hex.

import {
  createPublicClient, http, parseAbiItem, type Hex, type PublicClient,
} from 'viem';

/** A transaction of a block that moved native coin (value > 0). */
export interface NativeTransfer {
  readonly hash: string;
  readonly from: string;
  /** '' for a contract creation. */
  readonly to: string;
  readonly value: bigint;
  readonly nonce: number;
}

export interface ChainBlock {
  readonly number: number;
  readonly hash: string;
  readonly parentHash: string;
  /** Its transactions that carry a native value (all others left out). */
  readonly nativeTransfers: readonly NativeTransfer[];
}

/** One ERC-20 Transfer log. */
export interface TokenTransfer {
  readonly token: string;
  readonly txHash: string;
  readonly logIndex: number;
  readonly blockNumber: number;
  readonly blockHash: string;
  readonly from: string;
  readonly to: string;
  readonly value: bigint;
}

export interface ChainReceipt {
  readonly txHash: string;
  readonly blockNumber: number;
  readonly blockHash: string;
  readonly status: 'success' | 'reverted';
}

/** What sending signed bytes came to: accepted now, or already seen (known, mined or replaced). */
export type SendOutcome = { readonly ok: true } | { readonly ok: false; readonly benign: boolean; readonly message: string };

export interface ChainClient {
  chainId(): Promise<number>;
  headNumber(): Promise<number>;
  /** The canonical block at this height, or undefined above the head. */
  block(number: number): Promise<ChainBlock | undefined>;
  /** The token's Transfer logs in [fromBlock, toBlock] (the caller bounds the range). */
  tokenTransfers(token: string, fromBlock: number, toBlock: number): Promise<TokenTransfer[]>;
  balance(address: string, blockNumber?: number): Promise<bigint>;
  tokenBalance(token: string, address: string, blockNumber?: number): Promise<bigint>;
  /** Transactions sent from the address, at the block (default: the head). */
  nonce(address: string, blockNumber?: number): Promise<number>;
  sendRawTransaction(bytes: string): Promise<SendOutcome>;
  /** The receipt of a mined transaction, or undefined while it is not mined. */
  receipt(txHash: string): Promise<ChainReceipt | undefined>;
}

const transferEvent = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');
const balanceOfAbi = [parseAbiItem('function balanceOf(address owner) view returns (uint256)')] as const;

/**
 * Answers to eth_sendRawTransaction that mean the bytes (or a variant at the same nonce) are
 * already in the pool or on the chain: every broadcaster in every cloud sends the same bytes.
 */
const BENIGN_SEND_ERRORS = [/already known/i, /nonce too low/i, /replacement (transaction )?underpriced/i, /already imported/i, /transaction already exists/i];

/** Each JSON-RPC call's deadline. */
const RPC_TIMEOUT_MS = 10_000;

const hex = (s: string): Hex => s.toLowerCase() as Hex;

export class ViemChainClient implements ChainClient {
  private readonly client: PublicClient;

  constructor(readonly url: string) {
    this.client = createPublicClient({ transport: http(url, { timeout: RPC_TIMEOUT_MS, retryCount: 0 }) });
  }

  async chainId(): Promise<number> {
    return this.client.getChainId();
  }

  async headNumber(): Promise<number> {
    return Number(await this.client.getBlockNumber({ cacheTime: 0 }));
  }

  async block(number: number): Promise<ChainBlock | undefined> {
    let b;
    try {
      b = await this.client.getBlock({ blockNumber: BigInt(number), includeTransactions: true });
    } catch (e) {
      if ((e as Error).name === 'BlockNotFoundError') return undefined;
      throw e;
    }
    const nativeTransfers: NativeTransfer[] = [];
    for (const tx of b.transactions) {
      if (tx.value === 0n) continue;
      nativeTransfers.push({ hash: tx.hash.toLowerCase(), from: tx.from.toLowerCase(), to: tx.to?.toLowerCase() ?? '', value: tx.value, nonce: tx.nonce });
    }
    return { number: Number(b.number), hash: b.hash.toLowerCase(), parentHash: b.parentHash.toLowerCase(), nativeTransfers };
  }

  async tokenTransfers(token: string, fromBlock: number, toBlock: number): Promise<TokenTransfer[]> {
    const logs = await this.client.getLogs({ address: hex(token), event: transferEvent, fromBlock: BigInt(fromBlock), toBlock: BigInt(toBlock), strict: true });
    const out: TokenTransfer[] = [];
    for (const log of logs) {
      out.push({
        token: token.toLowerCase(), txHash: log.transactionHash.toLowerCase(), logIndex: log.logIndex, blockNumber: Number(log.blockNumber),
        blockHash: log.blockHash.toLowerCase(), from: log.args.from.toLowerCase(), to: log.args.to.toLowerCase(), value: log.args.value,
      });
    }
    return out;
  }

  async balance(address: string, blockNumber?: number): Promise<bigint> {
    return this.client.getBalance({ address: hex(address), ...(blockNumber === undefined ? {} : { blockNumber: BigInt(blockNumber) }) });
  }

  async tokenBalance(token: string, address: string, blockNumber?: number): Promise<bigint> {
    return this.client.readContract({
      address: hex(token), abi: balanceOfAbi, functionName: 'balanceOf', args: [hex(address)],
      ...(blockNumber === undefined ? {} : { blockNumber: BigInt(blockNumber) }),
    });
  }

  async nonce(address: string, blockNumber?: number): Promise<number> {
    return this.client.getTransactionCount({ address: hex(address), ...(blockNumber === undefined ? { blockTag: 'latest' } : { blockNumber: BigInt(blockNumber) }) });
  }

  async sendRawTransaction(bytes: string): Promise<SendOutcome> {
    try {
      await this.client.sendRawTransaction({ serializedTransaction: hex(bytes) });
      return { ok: true };
    } catch (e) {
      const message = errorText(e);
      return { ok: false, benign: BENIGN_SEND_ERRORS.some((re) => re.test(message)), message };
    }
  }

  async receipt(txHash: string): Promise<ChainReceipt | undefined> {
    try {
      const r = await this.client.getTransactionReceipt({ hash: hex(txHash) });
      return { txHash: r.transactionHash.toLowerCase(), blockNumber: Number(r.blockNumber), blockHash: r.blockHash.toLowerCase(), status: r.status };
    } catch (e) {
      if ((e as Error).name === 'TransactionReceiptNotFoundError') return undefined;
      throw e;
    }
  }
}

/** viem's error with its cause chain's messages (the node's own answer is deepest). */
function errorText(e: unknown): string {
  const parts: string[] = [];
  let cur: unknown = e;
  for (let depth = 0; depth < 8 && cur instanceof Error; depth++) {
    parts.push(cur.message);
    cur = cur.cause;
  }
  return parts.join(' <- ');
}

/** A raw JSON-RPC call (anvil's own methods: anvil_mine, anvil_reorg, anvil_setBalance, evm_setAutomine). */
export async function rpcCall(url: string, method: string, params: readonly unknown[]): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }), signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
  });
  const body = await res.json() as { result?: unknown; error?: { message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}
