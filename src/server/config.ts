// The server's settings: each is a flag, an environment variable and a documented default, in
// one table, so `everbook start --help` and docs/OPERATIONS.md say the same thing.

import { parseArgs } from 'node:util';
import { GatewayDefaults, PushIntervalsMs, WsDefaults } from '../gateway/index.js';
import { StreamLimits } from '../streams/index.js';

export interface ServerConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
  readonly dev: boolean;
  readonly snapshotEveryCommands: number;
  readonly compactLog: boolean;
  readonly compressRecords: boolean;
  readonly inFlightMax: number;
  readonly applyTimeoutMs: number;
  readonly bodyLimitBytes: number;
  readonly bodyTimeoutMs: number;
  readonly maxConnections: number;
  readonly keySecretFile: string;
  readonly logLevel: string;
  readonly rateLimits: boolean;
  readonly bootstrap: boolean;
  readonly log: 'journal' | 'etcd';
  readonly etcdEndpoints: string;
  readonly etcdPrefix: string;
  readonly cloud: string;
  readonly clusterToken: string;
  readonly adminRemote: boolean;
  readonly peerLiveMs: number;
  readonly commandTtlMs: number;
  readonly clockOffsetMs: number;
  readonly wsConnectionsMax: number;
  readonly wsConnectionsPerIpMax: number;
  readonly wsSendBufferMaxBytes: number;
  readonly wsBooksIntervalMs: number;
  readonly wsFanoutProcess: boolean;
  readonly wsTradesIntervalMs: number;
  readonly chainRpc: string;
  readonly localChain: 'auto' | 'true' | 'false';
  readonly localChainBlockTimeS: number;
  readonly chainName: string;
  readonly custodyKeyFile: string;
  readonly custodyPollMs: number;
  readonly reconcileEveryMs: number;
  readonly replaceAfterMs: number;
  readonly chainScanFrom: number;
  readonly devConfirmations: number;
}

interface Setting {
  readonly flag: string;
  readonly env: string;
  /** 'int' is a whole number >= 0; 'signedInt' may be negative. */
  readonly kind: 'string' | 'int' | 'signedInt' | 'bool';
  readonly default: string;
  readonly help: string;
}

export const settings: Record<keyof ServerConfig, Setting> = {
  dataDir: { flag: 'data-dir', env: 'EVERBOOK_DATA_DIR', kind: 'string', default: '.everbook/dev', help: 'journal, snapshots, admin token' },
  host: { flag: 'host', env: 'EVERBOOK_HOST', kind: 'string', default: '127.0.0.1', help: 'address to listen on (loopback unless told otherwise)' },
  port: { flag: 'port', env: 'EVERBOOK_PORT', kind: 'int', default: '8080', help: 'HTTP port for the REST API (0 = any free port)' },
  dev: { flag: 'dev', env: 'EVERBOOK_DEV', kind: 'bool', default: 'false', help: 'a dev exchange: first start creates dev assets, instruments and funded traders and prints their keys; test deposits allowed (npm start turns it on)' },
  snapshotEveryCommands: { flag: 'snapshot-every', env: 'EVERBOOK_SNAPSHOT_EVERY', kind: 'int', default: '100000', help: 'commands between checkpoints (state hash, compared across clouds) and snapshots' },
  compactLog: { flag: 'compact-log', env: 'EVERBOOK_COMPACT_LOG', kind: 'bool', default: 'true', help: 'drop the log behind snapshots: journal segments, or with etcd what every live replica has a checkpoint snapshot past' },
  compressRecords: { flag: 'compress-records', env: 'EVERBOOK_COMPRESS_RECORDS', kind: 'bool', default: 'true', help: 'with --log etcd: store records of 512 bytes or more deflated (5 to 19 times fewer bytes through the consensus, every member and every watch); off only while nodes from before compressed records still read the log. The file journal stores JSON' },
  inFlightMax: { flag: 'in-flight-max', env: 'EVERBOOK_IN_FLIGHT_MAX', kind: 'int', default: '10000', help: 'submissions in flight before requests are refused as busy (50013)' },
  applyTimeoutMs: { flag: 'apply-timeout-ms', env: 'EVERBOOK_APPLY_TIMEOUT_MS', kind: 'int', default: '5000', help: 'wait for a command to apply before answering 50004 (outcome unknown)' },
  bodyLimitBytes: { flag: 'body-limit', env: 'EVERBOOK_BODY_LIMIT', kind: 'int', default: '65536', help: 'largest request body accepted' },
  bodyTimeoutMs: { flag: 'body-timeout-ms', env: 'EVERBOOK_BODY_TIMEOUT_MS', kind: 'int', default: '5000', help: 'a request body not fully received this long after its headers gets 408 and its socket closed' },
  maxConnections: { flag: 'max-connections', env: 'EVERBOOK_MAX_CONNECTIONS', kind: 'int', default: '10000', help: 'open client connections at most; more are dropped on accept' },
  keySecretFile: { flag: 'key-secret-file', env: 'EVERBOOK_KEY_SECRET_FILE', kind: 'string', default: '', help: 'API secrets are derived from this file (default <data-dir>/key-secret, made on first start; with --log etcd required, the same file on every node)' },
  logLevel: { flag: 'log-level', env: 'EVERBOOK_LOG_LEVEL', kind: 'string', default: 'info', help: 'pino level: fatal, error, warn, info, debug' },
  rateLimits: { flag: 'rate-limits', env: 'EVERBOOK_RATE_LIMITS', kind: 'bool', default: 'true', help: 'enforce OKX-style rate limits (HTTP 429 / 50011)' },
  bootstrap: { flag: 'bootstrap', env: 'EVERBOOK_BOOTSTRAP', kind: 'bool', default: 'true', help: 'with --dev: create the dev market and traders if the exchange is empty' },
  log: { flag: 'log', env: 'EVERBOOK_LOG', kind: 'string', default: 'journal', help: 'command log: journal (embedded file journal) or etcd (multicloud)' },
  etcdEndpoints: { flag: 'etcd-endpoints', env: 'EVERBOOK_ETCD_ENDPOINTS', kind: 'string', default: 'http://127.0.0.1:2379', help: 'comma-separated etcd client URLs, own cloud first' },
  etcdPrefix: { flag: 'etcd-prefix', env: 'EVERBOOK_ETCD_PREFIX', kind: 'string', default: 'everbook', help: 'key prefix of this exchange in etcd' },
  cloud: { flag: 'cloud', env: 'EVERBOOK_CLOUD', kind: 'string', default: 'local', help: 'name of the cloud this node runs in' },
  commandTtlMs: { flag: 'command-ttl-ms', env: 'EVERBOOK_COMMAND_TTL_MS', kind: 'int', default: '1500', help: 'a request not in the log this long after it arrived is refused (keep below clients\' attempt timeout)' },
  clockOffsetMs: { flag: 'clock-offset-ms', env: 'EVERBOOK_CLOCK_OFFSET_MS', kind: 'signedInt', default: '0', help: 'drills only: add this to the node\'s clock (record times, deadlines, auth windows) to play a skewed cloud (negative: --clock-offset-ms=-2000)' },
  peerLiveMs: { flag: 'peer-live-ms', env: 'EVERBOOK_PEER_LIVE_MS', kind: 'int', default: '15000', help: 'a peer whose heartbeat is older than this no longer holds back log compaction' },
  adminRemote: { flag: 'admin-remote', env: 'EVERBOOK_ADMIN_REMOTE', kind: 'bool', default: 'false', help: 'let non-loopback clients with the admin token use /admin (cluster drills)' },
  wsConnectionsMax: { flag: 'ws-connections-max', env: 'EVERBOOK_WS_CONNECTIONS_MAX', kind: 'int', default: String(WsDefaults.connectionsMax), help: 'open WebSocket connections at most (below --max-connections); more are refused at the upgrade (503)' },
  wsConnectionsPerIpMax: { flag: 'ws-connections-per-ip-max', env: 'EVERBOOK_WS_CONNECTIONS_PER_IP_MAX', kind: 'int', default: String(WsDefaults.connectionsPerIpMax), help: 'open WebSocket connections per client IP; more are refused at the upgrade (429)' },
  wsSendBufferMaxBytes: { flag: 'ws-send-buffer-max', env: 'EVERBOOK_WS_SEND_BUFFER_MAX', kind: 'int', default: String(WsDefaults.sendBufferMaxBytes), help: 'unsent bytes a WebSocket client may leave in the node; a client that falls further behind is closed (4010)' },
  wsBooksIntervalMs: { flag: 'ws-books-interval-ms', env: 'EVERBOOK_WS_BOOKS_INTERVAL_MS', kind: 'int', default: String(StreamLimits.booksIntervalMs), help: 'least ms between two `books` pushes of an instrument (OKX: 100); 0 pushes every change the hub drains (tests)' },
  wsFanoutProcess: { flag: 'ws-fanout-process', env: 'EVERBOOK_WS_FANOUT_PROCESS', kind: 'bool', default: 'true', help: 'hold the public and business WebSocket sockets in a child process that writes the pushes (off: the node writes them on the thread that applies the log)' },
  wsTradesIntervalMs: { flag: 'ws-trades-interval-ms', env: 'EVERBOOK_WS_TRADES_INTERVAL_MS', kind: 'int', default: String(PushIntervalsMs.trades), help: 'least ms between two `trades` pushes of an instrument, each carrying every trade since the last; 0 pushes every drain' },
  chainRpc: { flag: 'chain-rpc', env: 'EVERBOOK_CHAIN_RPC', kind: 'string', default: '', help: 'custody on a chain: its JSON-RPC URL (a node this operator trusts); empty: no chain unless --local-chain' },
  localChain: { flag: 'local-chain', env: 'EVERBOOK_LOCAL_CHAIN', kind: 'string', default: 'auto', help: 'custody on a local anvil this node starts (loopback): true, false, or auto (on for --dev with the journal and no --chain-rpc)' },
  localChainBlockTimeS: { flag: 'local-chain-block-time', env: 'EVERBOOK_LOCAL_CHAIN_BLOCK_TIME', kind: 'int', default: '1', help: 'seconds between the local chain\'s blocks (0: a block per transaction)' },
  chainName: { flag: 'chain-name', env: 'EVERBOOK_CHAIN_NAME', kind: 'string', default: 'ethereum', help: 'the chain\'s name in the ledger (SetChain); the custody runtime follows this chain' },
  custodyKeyFile: { flag: 'custody-key-file', env: 'EVERBOOK_CUSTODY_KEY_FILE', kind: 'string', default: '', help: 'the custody mnemonic (mode 0600; else EVERBOOK_CUSTODY_MNEMONIC; a dev exchange makes <data-dir>/custody.key)' },
  custodyPollMs: { flag: 'custody-poll-ms', env: 'EVERBOOK_CUSTODY_POLL_MS', kind: 'int', default: '1000', help: 'pause between custody rounds (watch deposits, send and settle transactions, sweep)' },
  reconcileEveryMs: { flag: 'reconcile-every-ms', env: 'EVERBOOK_RECONCILE_EVERY_MS', kind: 'int', default: '10000', help: 'custody reconciliation (ledger against chain; a deficit freezes withdrawals) at most this often' },
  replaceAfterMs: { flag: 'replace-after-ms', env: 'EVERBOOK_REPLACE_AFTER_MS', kind: 'int', default: '60000', help: 'a hot-wallet transaction unmined this long gets the next fee level (each 125 % of the one below, up to 8)' },
  chainScanFrom: { flag: 'chain-scan-from', env: 'EVERBOOK_CHAIN_SCAN_FROM', kind: 'int', default: '0', help: 'the block the deposit watcher scans from after a start (before the exchange\'s first deposit address was used)' },
  devConfirmations: { flag: 'dev-confirmations', env: 'EVERBOOK_DEV_CONFIRMATIONS', kind: 'int', default: '3', help: 'with --dev: confirmations the dev chain setup declares for ETH and USDT' },
  clusterToken: { flag: 'cluster-token', env: 'EVERBOOK_CLUSTER_TOKEN', kind: 'string', default: '', help: 'shared secret guarding /internal routes between nodes (required with --log etcd)' },
};

/** A drill offsets a clock by seconds; anything larger is a typo. */
const CLOCK_OFFSET_MAX_MS = 600_000;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

function parseValue(key: string, s: Setting, text: string): string | number | boolean {
  if (s.kind === 'string') return text;
  if (s.kind === 'bool') {
    if (['true', '1', 'yes'].includes(text)) return true;
    if (['false', '0', 'no'].includes(text)) return false;
    throw new ConfigError(`--${s.flag} (${key}) must be true or false, not "${text}"`);
  }
  const n = Number(text);
  const pattern = s.kind === 'signedInt' ? /^-?\d+$/ : /^\d+$/;
  if (!pattern.test(text) || !Number.isSafeInteger(n)) throw new ConfigError(`--${s.flag} must be a whole number, not "${text}"`);
  return n;
}

/** Flags win over environment variables, which win over defaults. */
export function loadConfig(args: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const options: Record<string, { type: 'string' }> = {};
  for (const s of Object.values(settings)) options[s.flag] = { type: 'string' };
  const { values } = parseArgs({ args: [...args], options, allowPositionals: false, strict: true });
  const config: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings)) {
    const text = values[s.flag] ?? env[s.env] ?? s.default;
    config[key] = parseValue(key, s, text);
  }
  const c = config as unknown as ServerConfig;
  if (c.port > 65_535) throw new ConfigError('--port must be at most 65535');
  if (c.snapshotEveryCommands < 1 || c.inFlightMax < 1 || c.applyTimeoutMs < 1 || c.bodyTimeoutMs < 1 || c.maxConnections < 1
    || c.wsConnectionsMax < 1 || c.wsConnectionsPerIpMax < 1 || c.wsSendBufferMaxBytes < 1) {
    throw new ConfigError('limits must be positive');
  }
  if (c.wsConnectionsMax >= c.maxConnections) throw new ConfigError('--ws-connections-max must be below --max-connections, which counts WebSocket connections too');
  if (c.wsConnectionsPerIpMax > c.wsConnectionsMax) throw new ConfigError('--ws-connections-per-ip-max must not exceed --ws-connections-max');
  if (c.bodyTimeoutMs >= GatewayDefaults.handlerTimeoutMs) {
    throw new ConfigError(`--body-timeout-ms must be below the handler timeout (${GatewayDefaults.handlerTimeoutMs} ms)`);
  }
  const logKind: string = c.log;
  if (logKind !== 'journal' && logKind !== 'etcd') throw new ConfigError(`--log must be journal or etcd, not "${logKind}"`);
  if (c.log === 'etcd' && c.clusterToken.length < 16) throw new ConfigError('--log etcd needs --cluster-token (at least 16 characters), shared by the nodes');
  if (Math.abs(c.clockOffsetMs) > CLOCK_OFFSET_MAX_MS) throw new ConfigError(`--clock-offset-ms must be within ${CLOCK_OFFSET_MAX_MS} ms either way (it is a drill knob)`);
  // Nodes that derived secrets from different files would each refuse the others' keys.
  if (c.log === 'etcd' && c.keySecretFile === '') throw new ConfigError('--log etcd needs --key-secret-file, the same file on every node');
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(c.cloud)) throw new ConfigError('--cloud must be lower-case letters, digits and dashes');
  const localChain: string = c.localChain;
  if (!['auto', 'true', 'false'].includes(localChain)) throw new ConfigError(`--local-chain must be auto, true or false, not "${localChain}"`);
  if (c.localChain === 'true' && c.chainRpc !== '') throw new ConfigError('--local-chain true starts its own chain: leave --chain-rpc empty');
  if (c.chainRpc !== '' && !/^https?:\/\//.test(c.chainRpc)) throw new ConfigError('--chain-rpc must be an http(s) URL');
  if (!/^[a-z0-9-]{1,32}$/.test(c.chainName)) throw new ConfigError('--chain-name must be 1 to 32 lower-case letters, digits and dashes');
  if (c.custodyPollMs < 1 || c.reconcileEveryMs < 1 || c.devConfirmations < 1) throw new ConfigError('custody intervals and confirmations must be positive');
  return c;
}

export function configHelp(): string {
  return Object.values(settings)
    .map((s) => `  --${s.flag.padEnd(18)} ${s.env.padEnd(26)} default ${s.default.padEnd(14)} ${s.help}`)
    .join('\n');
}

/** Whether this node runs custody, and on which chain: a URL given, or a local anvil it starts. */
export function custodyMode(c: ServerConfig): 'off' | 'rpc' | 'local' {
  if (c.chainRpc !== '') return 'rpc';
  if (c.localChain === 'true' || (c.localChain === 'auto' && c.dev && c.log === 'journal')) return 'local';
  return 'off';
}
