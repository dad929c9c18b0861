// Custody's place in a node (docs/CUSTODY.md): the custody key, the chain (a local anvil this
// node starts, or a JSON-RPC URL), on a dev exchange the dev chain's setup, then the custody
// runtime beside the replica. node.ts calls startCustody() once, after the dev bootstrap and
// before the gateway, which gets the real deposit addresses from it.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import {
  crashPointOf, CustodyRuntime, custodyPortOf, loadCustodyKeys, loadOrCreateDevKeys, setupDevChain, startAnvil, ViemChainClient,
  type AnvilProcess, type CustodyStatus,
} from '../custody/index.js';
import type { ExchangePort } from '../replica/index.js';
import { ConfigError, custodyMode, type ServerConfig } from './config.js';
import type { ReserveAccess } from './reserves.js';

export interface RunningCustody {
  readonly chainRpc: string;
  /** The user's HD deposit address when the asset is on the chain; undefined otherwise. */
  readonly depositAddress: (userId: number, asset: string) => string | undefined;
  status(): CustodyStatus;
  /** Proof of reserves: the chain and the keys, to read and sign for the exchange's addresses. */
  readonly reserves: ReserveAccess;
  close(): Promise<void>;
}

/** Where a dev node notes its chain for `everbook chain-send`: the RPC URL and the token. */
export interface DevChainFile { readonly rpc: string; readonly chain: string; readonly tokens: Readonly<Record<string, string>> }
export const DEV_CHAIN_FILE = 'chain.json';

/** How long the set of assets on the chain is reused by depositAddress (it changes only by SetChainAsset). */
const CHAIN_ASSETS_CACHE_MS = 1_000;

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
    anvil = await startAnvil({
      ...(config.localChainBlockTimeS > 0 && { blockTimeS: config.localChainBlockTimeS }),
      statePath: join(config.dataDir, 'anvil-state.json'),
    });
    log.info({ url: anvil.url, pid: anvil.pid }, 'local chain (anvil) started');
  }
  const chainRpc = anvil?.url ?? config.chainRpc;
  try {
    const client = new ViemChainClient(chainRpc);
    const custodyPort = custodyPortOf(port);
    // 3. A dev exchange declares its chain on first start (token, hot wallet float, seed deposits).
    if (config.dev) {
      const dev = await setupDevChain({ chain: config.chainName, client, keys, port: custodyPort, confirmations: config.devConfirmations, traders: devTraders });
      if (dev !== undefined) log.info({ chain: config.chainName, token: dev.token, seeded: dev.seeded }, 'dev chain declared: ETH and USDT on chain, seed deposits sent');
    }
    // 4. The ledger's chain must be this chain, and its hot wallet this key's index 0.
    const view = custodyPort.custody(config.chainName);
    if (view !== undefined) {
      const chainId = await client.chainId();
      if (chainId !== view.chain.spec.chainId) throw new Error(`custody: ${chainRpc} is chain ${chainId}, the ledger's ${config.chainName} is ${view.chain.spec.chainId}`);
      if (keys.address(0) !== view.chain.spec.hotWallet) throw new Error(`custody: the key's hot wallet is not the ledger's ${config.chainName} hot wallet: wrong --custody-key-file?`);
      if (config.dev) {
        const tokens = Object.fromEntries(view.assets.map((a) => [a.spec.asset, a.spec.token]));
        const file: DevChainFile = { rpc: chainRpc, chain: config.chainName, tokens };
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
    let assetsAt = -Infinity;
    let onChain = new Set<string>();
    const depositAddress = (userId: number, asset: string): string | undefined => {
      const now = port.now();
      if (now - assetsAt > CHAIN_ASSETS_CACHE_MS) {
        onChain = new Set(port.queries.custody(config.chainName)?.assets.map((a) => a.spec.asset) ?? []);
        assetsAt = now;
      }
      return onChain.has(asset) ? keys.address(userId) : undefined;
    };
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
    return { chainRpc, depositAddress, status: () => runtime.status(), reserves, close };
  } catch (e) {
    await anvil?.stop();
    throw e;
  }
}

function registerCustodyMetrics(registry: Registry, runtime: CustodyRuntime): void {
  new Gauge({ name: 'everbook_custody_chain_head', help: 'The chain head the custody runtime last read', registers: [registry], collect() { this.set(runtime.status().head); } });
  new Gauge({ name: 'everbook_custody_open_txs', help: 'Assigned chain transactions not yet settled', registers: [registry], collect() { this.set(runtime.status().broadcaster.open); } });
  new Gauge({
    name: 'everbook_custody_reconcile_deficit', help: '1 when the last reconciliation found the chain short of the ledger (withdrawals frozen), else 0',
    registers: [registry], collect() { this.set(runtime.lastReconciliation()?.outcome === 'deficit' ? 1 : 0); },
  });
}
