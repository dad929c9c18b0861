// Reserves: what the exchange's own addresses hold at the chain block the report names, each
// address proven with an EIP-191 signature over a message that names the report and its root,
// so the signatures cannot be reused for another report. Reading and signing take their chain and
// keys as interfaces (the node passes its custody runtime's); verifying reads the chain at the
// same block through any JSON-RPC endpoint the user trusts and checks every figure and signature.
// Leaving an address out only lowers the proven reserves, so the bound on addresses read cannot
// help an exchange look richer than it is.

import { createPublicClient, http, parseAbiItem, recoverMessageAddress, type Hex } from 'viem';
import type { LiabilitiesReport, ReserveAddress, ReservesSection } from './types.js';
import { parseReport } from './verify.js';

/** Deposit addresses read for one report at most (plus the hot wallet); the rest are counted as omitted. */
export const RESERVE_ADDRESSES_MAX = 5_000;

/** The text each address signs (EIP-191 personal_sign): the report, its root, the chain, the block, the address. */
export function reserveMessage(reserves: Pick<ReservesSection, 'reportId' | 'rootHash' | 'chainId' | 'blockNumber'>, address: string): string {
  return [
    'Everbook proof of reserves',
    `report: ${reserves.reportId}`,
    `root: ${reserves.rootHash}`,
    `chain: ${String(reserves.chainId)}`,
    `block: ${String(reserves.blockNumber)}`,
    `address: ${address.toLowerCase()}`,
  ].join('\n');
}

/** Reads the chain at a given block. */
export interface ReserveChainReader {
  chainId(): Promise<number>;
  /** The canonical block hash at this height (lower-case hex), or undefined above the head. */
  blockHash(blockNumber: number): Promise<string | undefined>;
  balance(address: string, blockNumber: number): Promise<bigint>;
  tokenBalance(token: string, address: string, blockNumber: number): Promise<bigint>;
}

/** The exchange's keys, by index: 0 the hot wallet, u user u's deposit address. */
export interface ReserveSigner {
  address(index: number): string;
  /** EIP-191 personal_sign of `message` with key `index`: 0x-hex, 65 bytes. */
  sign(index: number, message: string): Promise<string>;
}

export interface ReserveAsset { readonly asset: string; readonly token: string; readonly chainDecimals: number; readonly scale: number }

/**
 * Reads and signs the reserves for a report whose blockNumber is set: the hot wallet and the
 * deposit addresses of users 1..min(leafCount, addressesMax). Deterministic for a given chain and
 * key (RFC 6979 signatures), so every node writes the same section.
 */
export async function readReserves(o: {
  readonly report: LiabilitiesReport;
  readonly assets: readonly ReserveAsset[];
  readonly chain: ReserveChainReader;
  readonly signer: ReserveSigner;
  readonly addressesMax?: number;
}): Promise<ReservesSection> {
  const { report, chain, signer } = o;
  if (report.blockNumber <= 0) throw new RangeError(`report ${report.reportId} names no block`);
  const blockHash = await chain.blockHash(report.blockNumber);
  if (blockHash === undefined) throw new Error(`block ${report.blockNumber} is not on the chain yet`);
  const header = { reportId: report.reportId, rootHash: report.root.hash, chainId: await chain.chainId(), blockNumber: report.blockNumber };
  // Users are 1..leafCount (ids are dense and never removed): their deposit addresses, bounded.
  const users = Math.min(report.leafCount, o.addressesMax ?? RESERVE_ADDRESSES_MAX);
  const addresses: ReserveAddress[] = [];
  const totals = new Map<string, bigint>(o.assets.map((a) => [a.asset, 0n]));
  for (let index = 0; index <= users; index++) {
    const address = signer.address(index).toLowerCase();
    const balances: Record<string, string> = {};
    for (const a of o.assets) {
      const held = a.token === '' ? await chain.balance(address, report.blockNumber) : await chain.tokenBalance(a.token, address, report.blockNumber);
      balances[a.asset] = held.toString();
      totals.set(a.asset, totals.get(a.asset)! + held);
    }
    addresses.push({ address, index, balances, signature: await signer.sign(index, reserveMessage(header, address)) });
  }
  return {
    ...header, blockHash, assets: o.assets.map((a) => ({ ...a })), addresses,
    addressesOmitted: report.leafCount - users,
    totals: Object.fromEntries([...totals].map(([k, v]) => [k, v.toString()])),
  };
}

export type ReservesProblem =
  | 'reserves_malformed' | 'report_mismatch' | 'chain_mismatch' | 'block_mismatch' | 'signature_invalid' | 'balance_mismatch'
  | 'totals_mismatch' | 'asset_mismatch';

export interface AssetCoverage {
  readonly asset: string;
  /** Whether the reserves section holds this asset on its chain. */
  readonly onChain: boolean;
  /** What the report says users are owed: in chain units when on chain, else in minor units. */
  readonly liabilities: string;
  /** What the signed addresses hold at the block, chain units ('0' for an asset not on the chain). */
  readonly reserves: string;
  /** Reserves at least the liabilities (an asset not on the chain is covered only if nothing is owed in it). */
  readonly covered: boolean;
}

export type ReservesVerdict =
  | { readonly ok: true; readonly fullyReserved: boolean; readonly coverage: readonly AssetCoverage[]; readonly addresses: number; readonly addressesOmitted: number }
  | { readonly ok: false; readonly problem: ReservesProblem; readonly detail: string };

const ADDRESS = /^0x[0-9a-f]{40}$/;
/** A chain amount is a uint256: no token has more decimals than it has digits. */
const CHAIN_DECIMALS_MAX = 77;
const DIGITS = /^(0|[1-9][0-9]{0,77})$/;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Checks a reserves section against its report and the chain: it names this report's root and
 * block; the chain has that block with that hash; every address signed the message for this
 * report; every balance is what the chain says at the block; the totals add up. Then, per asset,
 * whether the reserves cover what the report says users are owed.
 */
export async function verifyReserves(reportJson: unknown, reservesJson: unknown, chain: ReserveChainReader): Promise<ReservesVerdict> {
  const no = (problem: ReservesProblem, detail: string): ReservesVerdict => ({ ok: false, problem, detail });
  let report: LiabilitiesReport;
  try {
    report = parseReport(reportJson);
  } catch (e) {
    return no('report_mismatch', `the report itself is not valid: ${(e as Error).message}`);
  }
  const r = reservesJson;
  if (!isRecord(r) || !Array.isArray(r.addresses) || !Array.isArray(r.assets) || !isRecord(r.totals)) return no('reserves_malformed', 'not a reserves section');
  if (typeof r.chainId !== 'number' || typeof r.blockNumber !== 'number' || typeof r.blockHash !== 'string') return no('reserves_malformed', 'chainId, blockNumber, blockHash');
  // Each address costs RPC calls: no more than a node ever writes.
  if (r.addresses.length > RESERVE_ADDRESSES_MAX + 1 || r.assets.length > report.assets.length) return no('reserves_malformed', 'more addresses or assets than a report holds');
  if (r.reportId !== report.reportId || r.rootHash !== report.root.hash || r.blockNumber !== report.blockNumber) {
    return no('report_mismatch', 'the reserves name another report, root or block');
  }
  const header = { reportId: report.reportId, rootHash: report.root.hash, chainId: r.chainId, blockNumber: r.blockNumber };
  const actualChain = await chain.chainId();
  if (actualChain !== r.chainId) return no('chain_mismatch', `the RPC serves chain ${actualChain}, the reserves are on ${r.chainId}`);
  const hash = await chain.blockHash(r.blockNumber);
  if (hash !== r.blockHash) return no('block_mismatch', `block ${r.blockNumber} is ${hash ?? 'not on the chain'}, the reserves say ${r.blockHash}`);

  const assets = r.assets as unknown[];
  const reportAssets = new Map(report.assets.map((a) => [a.asset, a.scale]));
  for (const a of assets) {
    if (!isRecord(a) || typeof a.asset !== 'string' || typeof a.token !== 'string' || typeof a.chainDecimals !== 'number' || typeof a.scale !== 'number') {
      return no('reserves_malformed', 'assets: { asset, token, chainDecimals, scale }');
    }
    if (reportAssets.get(a.asset) !== a.scale || !Number.isSafeInteger(a.chainDecimals) || a.chainDecimals < a.scale || a.chainDecimals > CHAIN_DECIMALS_MAX
      || (a.token !== '' && !ADDRESS.test(a.token))) {
      return no('asset_mismatch', `${a.asset}: not the report's asset, or its decimals do not fit`);
    }
  }
  const held = assets as ReservesSection['assets'];
  const sums = new Map<string, bigint>(held.map((a) => [a.asset, 0n]));
  const seen = new Set<string>();
  for (const entry of r.addresses as unknown[]) {
    if (!isRecord(entry) || typeof entry.address !== 'string' || !ADDRESS.test(entry.address) || typeof entry.signature !== 'string' || !isRecord(entry.balances)) {
      return no('reserves_malformed', 'addresses: { address, index, balances, signature }');
    }
    const address = entry.address;
    if (seen.has(address)) return no('reserves_malformed', `${address} is listed twice`);
    seen.add(address);
    let signer: string;
    try {
      signer = (await recoverMessageAddress({ message: reserveMessage(header, address), signature: entry.signature as Hex })).toLowerCase();
    } catch {
      signer = '';
    }
    if (signer !== address) return no('signature_invalid', `${address}: the signature is not this address's over this report's message`);
    for (const a of held) {
      const claimed = entry.balances[a.asset];
      if (typeof claimed !== 'string' || !DIGITS.test(claimed)) return no('reserves_malformed', `${address}: balance of ${a.asset}`);
      const actual = a.token === '' ? await chain.balance(address, r.blockNumber) : await chain.tokenBalance(a.token, address, r.blockNumber);
      if (actual !== BigInt(claimed)) return no('balance_mismatch', `${address} held ${actual} ${a.asset} at block ${r.blockNumber}, the reserves say ${claimed}`);
      sums.set(a.asset, sums.get(a.asset)! + actual);
    }
  }
  for (const a of held) {
    if (r.totals[a.asset] !== sums.get(a.asset)!.toString()) return no('totals_mismatch', `${a.asset}: the addresses add up to ${sums.get(a.asset)!}`);
  }
  // Every asset the report owes, in the report's order: an asset the reserves leave out is not covered.
  const coverage: AssetCoverage[] = report.assets.map(({ asset }) => {
    const owedMinor = BigInt(report.totals[asset] ?? '0');
    const a = held.find((h) => h.asset === asset);
    if (a === undefined) return { asset, onChain: false, liabilities: owedMinor.toString(), reserves: '0', covered: owedMinor === 0n };
    const owed = owedMinor * 10n ** BigInt(a.chainDecimals - a.scale);
    const have = sums.get(asset)!;
    return { asset, onChain: true, liabilities: owed.toString(), reserves: have.toString(), covered: have >= owed };
  });
  return {
    ok: true, fullyReserved: coverage.every((c) => c.covered), coverage, addresses: seen.size,
    addressesOmitted: typeof r.addressesOmitted === 'number' ? r.addressesOmitted : 0,
  };
}

const balanceOfAbi = [parseAbiItem('function balanceOf(address owner) view returns (uint256)')] as const;
/** Each JSON-RPC call's deadline for the verifier. */
const RPC_TIMEOUT_MS = 10_000;

/** A chain reader over any JSON-RPC endpoint (the user's own node, a public one). */
export function rpcReserveReader(url: string): ReserveChainReader {
  const client = createPublicClient({ transport: http(url, { timeout: RPC_TIMEOUT_MS, retryCount: 0 }) });
  return {
    chainId: () => client.getChainId(),
    blockHash: async (n) => {
      try {
        return (await client.getBlock({ blockNumber: BigInt(n) })).hash.toLowerCase();
      } catch (e) {
        if ((e as Error).name === 'BlockNotFoundError') return undefined;
        throw e;
      }
    },
    balance: (address, n) => client.getBalance({ address: address as Hex, blockNumber: BigInt(n) }),
    tokenBalance: (token, address, n) => client.readContract({
      address: token as Hex, abi: balanceOfAbi, functionName: 'balanceOf', args: [address as Hex], blockNumber: BigInt(n),
    }),
  };
}
