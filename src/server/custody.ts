// Custody's place in a node (docs/CUSTODY.md): the custody key, the chain (a local anvil this
// node starts, or a JSON-RPC URL), on a dev exchange the dev chain's setup, then the custody
// runtime beside the replica. node.ts calls startCustody() once, after the dev bootstrap and
// before the gateway, which gets the real deposit addresses from it.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { formatDecimal, parseDecimal } from '../core/index.js';
import {
  crashPointOf, CustodyRuntime, faucetSend, custodyPortOf, loadCustodyKeys, loadOrCreateDevKeys, setupDevChain, startAnvil, ViemChainClient,
  type AnvilProcess, type CustodyStatus,
} from '../custody/index.js';
import type { ExchangePort } from '../replica/index.js';
import { ConfigError, custodyMode, type ServerConfig } from './config.js';
import type { ReserveAccess } from './reserves.js';

export interface RunningCustody {
  readonly chainRpc: string;
  /** The user's HD deposit address when the asset is on the chain; undefined otherwise. */
  readonly depositAddress: (userId: number, asset: string) => string | undefined;
  /** Whether an address is the exchange's own on this chain (hot wallet or a deposit address); undefined: not known yet. */
  readonly isOwnAddress: (address: string) => boolean | undefined;
  status(): CustodyStatus;
  /** Proof of reserves: the chain and the keys, to read and sign for the exchange's addresses. */
  readonly reserves: ReserveAccess;
  close(): Promise<void>;
}

/** Where a dev node notes its chain for `everbook chain-send` and `chain-balance`: the RPC URL and the assets. */
export interface DevChainFile {
  readonly rpc: string;
  readonly chain: string;
  readonly assets: Readonly<Record<string, { readonly token: string; readonly chainDecimals: number }>>;
}
export const DEV_CHAIN_FILE = 'chain.json';

export async function startCustody(
  config: ServerConfig, port: ExchangePort, logger: Logger, registry: Registry, devTraders: readonly number[],
): Promise<RunningCustody | undefined> {
  const mode = custodyMode(config);
  if (mode === 'off') return undefined;
  const log = logger.child({ part: 'custody' });
  // 1. The key: a file (0600) or the environment; a dev exchange makes its own on first start.
  const keys = await loadCustodyKeys(config.custodyKeyFile)
    ?? (config.dev ? await loadOrCreateDevKeys(join(config.dataDir, 'custody.key')) : undefined);
  if (keys === undefined) throw new ConfigError('custody needs --custody-key-file or EVERBOOK_CUSTODY_MNEMONIC');
  // 2. The chain: a local anvil (its state kept in the data directory across restarts) or the given URL.
  let anvil: AnvilProcess | undefined;
  if (mode === 'local') {
    const statePath = join(config.dataDir, 'anvil-state.json');
    await stopLeftoverAnvil(config.dataDir, statePath, log);
    anvil = await startAnvil({ ...(config.localChainBlockTimeS > 0 && { blockTimeS: config.localChainBlockTimeS }), statePath });
    await writeFile(join(config.dataDir, ANVIL_PID_FILE), `${String(anvil.pid)}\n`, { mode: 0o600 });
    log.info({ url: anvil.url, pid: anvil.pid }, 'local chain (anvil) started');
  }
  const chainRpc = anvil?.url ?? config.chainRpc;
  try {
    const client = new ViemChainClient(chainRpc);
    const custodyPort = custodyPortOf(port);
    // 3. A dev exchange declares its chain on first start (token, hot wallet float, seed deposits);
    //    in a cluster only the node that bootstraps does (as for the dev market).
    if (config.dev && config.bootstrap) {
      const dev = await setupDevChain({ chain: config.chainName, client, keys, port: custodyPort, confirmations: config.devConfirmations, traders: devTraders });
      if (dev !== undefined) log.info({ chain: config.chainName, token: dev.token, seeded: dev.seeded }, 'dev chain declared: ETH and USDT on chain, seed deposits sent');
    }
    // 4. The ledger's chain must be this chain, and its hot wallet this key's index 0.
    const view = custodyPort.custody(config.chainName);
    if (view !== undefined) {
      const chainId = await client.chainId();
      if (chainId !== view.chain.spec.chainId) throw new Error(`custody: ${redactUrl(chainRpc)} is chain ${chainId}, the ledger's ${config.chainName} is ${view.chain.spec.chainId}`);
      if (keys.address(0) !== view.chain.spec.hotWallet) throw new Error(`custody: the key's hot wallet is not the ledger's ${config.chainName} hot wallet: wrong --custody-key-file?`);
      if (config.dev) {
        const assets = Object.fromEntries(view.assets.map((a) => [a.spec.asset, { token: a.spec.token, chainDecimals: a.spec.chainDecimals }]));
        const file: DevChainFile = { rpc: chainRpc, chain: config.chainName, assets };
        await writeFile(join(config.dataDir, DEV_CHAIN_FILE), JSON.stringify(file) + '\n', { mode: 0o600 });
      }
    } else {
      log.warn({ chain: config.chainName }, 'custody: the chain is not declared in the ledger yet (SetChain); the runtime waits for it');
    }
    // 5. The runtime: watcher, broadcaster, sweeper, reconciler.
    const runtime = new CustodyRuntime({
      chain: config.chainName, client, keys, port: custodyPort, logger: log, pollMs: config.custodyPollMs,
      reconcileEveryMs: config.reconcileEveryMs, replaceAfterMs: config.replaceAfterMs, scanFromBlock: config.chainScanFrom,
      crashAt: crashPointOf(process.env), now: () => port.now(),
    });
    runtime.start();
    registerCustodyMetrics(registry, runtime);
    const depositAddress = (userId: number, asset: string): string | undefined =>
      (port.queries.chainAsset(asset)?.spec.chain === config.chainName ? keys.address(userId) : undefined);
    const close = async (): Promise<void> => {
      await runtime.stop();
      await anvil?.stop();
    };
    const reserves: ReserveAccess = {
      chain: {
        chainId: () => client.chainId(),
        blockHash: async (n) => (await client.block(n))?.hash,
        balance: (address, n) => client.balance(address, n),
        tokenBalance: (token, address, n) => client.tokenBalance(token, address, n),
      },
      signer: { address: (i) => keys.address(i), sign: (i, message) => keys.account(i).signMessage({ message }) },
      assets: () => (port.queries.custody(config.chainName)?.assets ?? []).map((a) => ({ asset: a.spec.asset, token: a.spec.token, chainDecimals: a.spec.chainDecimals, scale: a.scale })),
      headNumber: () => client.headNumber(),
    };
    return { chainRpc, depositAddress, isOwnAddress: (a) => runtime.isOwnAddress(a), status: () => runtime.status(), reserves, close };
  } catch (e) {
    await anvil?.stop();
    throw e;
  }
}

/**
 * An RPC URL as operators may see it: scheme, host and port only. Providers put API keys in the
 * path, the query or the user part, so none of those leave the process.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : '/…'}`;
  } catch {
    return '(unparsable URL)';
  }
}

const ANVIL_PID_FILE = 'anvil.pid';
/** How long a leftover anvil gets to write its state and exit. */
const LEFTOVER_STOP_MS = 10_000;

/**
 * A dev node killed outright (SIGKILL) leaves its anvil running, still writing the data
 * directory's chain state. The next start stops that process (by the PID it noted, and only if
 * that PID is still an anvil on this state file) before starting its own.
 */
async function stopLeftoverAnvil(dataDir: string, statePath: string, log: Logger): Promise<void> {
  let pid: number;
  let cmdline: string;
  try {
    pid = Number((await readFile(join(dataDir, ANVIL_PID_FILE), 'utf8')).trim());
    cmdline = (await readFile(`/proc/${String(pid)}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return;
  }
  if (!Number.isSafeInteger(pid) || pid <= 1 || !cmdline.includes('anvil') || !cmdline.includes(statePath)) return;
  log.warn({ pid }, 'stopping the local chain a previous run of this node left running');
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + LEFTOVER_STOP_MS;
  while (Date.now() < deadline) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  process.kill(pid, 'SIGKILL');
}

function registerCustodyMetrics(registry: Registry, runtime: CustodyRuntime): void {
  new Gauge({ name: 'everbook_custody_chain_head', help: 'The chain head the custody runtime last read', registers: [registry], collect() { this.set(runtime.status().head); } });
  new Gauge({ name: 'everbook_custody_open_txs', help: 'Assigned chain transactions not yet settled', registers: [registry], collect() { this.set(runtime.status().broadcaster.open); } });
  new Gauge({
    name: 'everbook_custody_reconcile_deficit', help: '1 when the last reconciliation found the chain short of the ledger (withdrawals frozen), else 0',
    registers: [registry], collect() { this.set(runtime.lastReconciliation()?.outcome === 'deficit' ? 1 : 0); },
  });
}

async function devChainFile(dataDir: string): Promise<DevChainFile> {
  try {
    return JSON.parse(await readFile(join(dataDir, DEV_CHAIN_FILE), 'utf8')) as DevChainFile;
  } catch (e) {
    throw new ConfigError(`no dev chain in ${dataDir} (${(e as Error).message}): start a dev node first (npm start)`);
  }
}

/**
 * `everbook chain-send`: the dev chain's faucet (anvil's prefunded account) pays `amount` of an
 * asset (a decimal in the asset's own units, e.g. 1.5 ETH) to an address, as any outside wallet
 * would: a deposit when the address is a user's deposit address. Dev chains only.
 */
export async function devChainSend(dataDir: string, ccy: string, to: string, amount: string): Promise<{ txHash: string; chainAmount: string }> {
  const file = await devChainFile(dataDir);
  const asset = file.assets[ccy];
  if (asset === undefined) throw new ConfigError(`--ccy must be one of ${Object.keys(file.assets).join(', ')}`);
  if (!/^0x[0-9a-fA-F]{40}$/.test(to)) throw new ConfigError('--addr must be a 0x address of 40 hex digits');
  const units = parseDecimal(amount, asset.chainDecimals);
  if (units === undefined || units <= 0n) throw new ConfigError(`--amount must be a positive decimal with at most ${asset.chainDecimals} decimals`);
  const txHash = await faucetSend(new ViemChainClient(file.rpc), asset.token, to.toLowerCase(), units);
  return { txHash, chainAmount: units.toString() };
}

/** `everbook chain-balance`: what an address holds on the dev chain, per asset (decimals). */
export async function devChainBalance(dataDir: string, address: string): Promise<Record<string, string>> {
  const file = await devChainFile(dataDir);
  if (!/^0x[0-9a-fA-F]{40}$/.test(address)) throw new ConfigError('--addr must be a 0x address of 40 hex digits');
  const client = new ViemChainClient(file.rpc);
  const out: Record<string, string> = {};
  for (const [ccy, a] of Object.entries(file.assets)) {
    const units = a.token === '' ? await client.balance(address) : await client.tokenBalance(a.token, address);
    out[ccy] = formatDecimal(units, a.chainDecimals);
  }
  return out;
}
