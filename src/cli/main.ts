#!/usr/bin/env node
// The `everbook` command. `everbook start` (the default) runs a node; every other subcommand is
// an operator action sent to the running node's admin routes, found through the admin.json
// file the node writes into its data directory.

import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, configHelp, loadConfig, settings } from '../server/config.js';
import { devChainBalance, devChainSend } from '../server/custody.js';
import { startNode, type AdminFile } from '../server/node.js';
import { rpcReserveReader, verifyProof, verifyReserves, type ProofVerdict, type ReservesVerdict } from '../por/index.js';

const USAGE = `everbook — a spot exchange core that keeps trading when a cloud disappears

usage:
  everbook [start] [options]             run a node (default: a dev exchange on http://127.0.0.1:8080)
  everbook status                        the running node's state, positions and checkpoint
  everbook user create [--maker-fee-ppm N] [--taker-fee-ppm N] [--stp MODE]
  everbook key create --user ID [--label TEXT] [--perm read_only,trade,withdraw] [--ips IP,IP] [--passphrase TEXT]
                                         prints apiKey, secret, password (as ccxt.okx takes them): shown once, kept nowhere
                                         (--perm default read_only,trade; --ips: up to 20 addresses, default any)
  everbook key list [--user ID]          keys with their permissions and allowlists (never a secret)
  everbook key revoke --key APIKEY       refused by every cloud once the revoke is in the log
  everbook deposit --user ID --ccy CCY --amount DECIMAL     (dev exchanges only)
  everbook instruments
  everbook instrument-state --inst INST --state live|suspended|cancel_only|post_only
  everbook withdrawal-complete --id ID --tx TXID
  everbook withdrawal-fail --id ID --reason TEXT        (on a chain: rejects one waiting for approval)
  everbook withdrawals                   withdrawals held and not settled: waiting for completion, for approval, or on chain
  everbook withdrawal-approve --id ID    a withdrawal above its asset's approval threshold gets its nonce and is sent
  everbook custody                       chains, hot wallets, liabilities, open transactions, reconciliation
  everbook withdrawals-freeze --chain CHAIN --reason TEXT
  everbook withdrawals-unfreeze --chain CHAIN
  everbook withdrawal-allowlist --user ID --addr 0x..,0x..   (empty --addr removes the restriction)
  everbook snapshot                      write a snapshot and checkpoint now
  everbook chain-send --ccy ETH|USDT --addr 0x.. --amount DECIMAL   (dev chain only) anvil's prefunded account pays the address
  everbook chain-balance --addr 0x..     (dev chain only) what the address holds on the dev chain

proof of reserves (docs/PROOF-OF-RESERVES.md):
  everbook por-request --report ID [--block N]    every node builds the liabilities tree at this point of the log
  everbook por-status --report ID [--wait-ms N]   queued, building, ready (with the report) or failed
  everbook por-proof --report ID --user ID        a user's inclusion proof (users fetch theirs from the API)
  everbook por-verify --report FILE [--proof FILE [--user ID] [--expect CCY=MINOR,...]] [--rpc URL [--reserves FILE]]
                                         checks your proof against the report with nothing else (needs no node),
                                         and with --rpc the reserves: signatures, balances at the block, coverage

local multicloud deployment (etcd from Debian's etcd-server; as root each cloud gets a network namespace):
  everbook cluster up [--topology FILE] [--dir DIR] [--netns true|false] [--chain true|false]
                 with --chain (default true): one anvil for the deployment, custody on in every node
  everbook cluster status [--dir DIR]
  everbook cluster down [--dir DIR] [--purge]
  everbook drill [--dir DIR] [--kinds kill,partition,clock] [--clouds a,b|leader] [--rounds N] [--outage-ms N] [--workers N] [--clock-offset-ms N] [--streams N]
                 runs outage trials against the running cluster, checks them and prints the RTO table
                 (with a chain: withdrawals on it too, then the custody table and its JSON line)
                 and a JSON line of the RTO spread (min, median, max); --clouds leader takes out the
                 cloud holding the etcd leader at each trial; --rounds repeats the trials;
                 a clock trial runs the cloud's node N ms ahead (default 2000) and prints the clock table;
                 --streams N WebSocket book clients per cloud follow the trials (default 1, 0 for none)

the node subcommands take --data-dir DIR (default ${settings.dataDir.default}, or $${settings.dataDir.env}); cluster and drill take --dir DIR (default .everbook/cluster).

start options (flag, environment variable, default):
${configHelp()}
`;

/**
 * The operator command that reaches this node, as it must be typed: the CLI finds a node through
 * its data directory, so any directory but the default is named (absolute, since the operator's
 * shell may be elsewhere).
 */
function operatorCommand(dataDir: string): (subcommand: string) => string {
  const dirFlag = resolve(dataDir) === resolve(settings.dataDir.default) ? '' : ` --data-dir ${shellQuote(resolve(dataDir))}`;
  return (subcommand) => `npm run everbook -- ${subcommand}${dirFlag}`;
}

function shellQuote(text: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`;
}

async function start(args: string[]): Promise<void> {
  const config = loadConfig(args);
  const node = await startNode(config, (e) => {
    console.error(`everbook: replica stopped: ${e.message}`);
    process.exit(1);
  });
  const lines = [
    '',
    `Everbook is running: OKX v5 REST at ${node.url}/api/v5  (data: ${config.dataDir})`,
    `  ccxt: new ccxt.okx({ apiKey, secret, password, urls: { api: { rest: '${node.url}' } }, options: { fetchMarkets: { types: ['spot'] } }, has: { fetchCurrencies: false } })`,
    `  WebSocket: ${node.url.replace(/^http/, 'ws')}/ws/v5/public, /ws/v5/private, /ws/v5/business  (ccxt.pro: urls.api.ws = '${node.url.replace(/^http/, 'ws')}/ws/v5')`,
  ];
  for (const c of node.devCredentials) {
    lines.push(`  dev trader ${c.userId}: apiKey ${c.apiKey}  secret ${c.secret}  password ${c.password}`);
  }
  const cli = operatorCommand(config.dataDir);
  if (node.devCredentials.length === 0) lines.push(`  create a key: ${cli('user create')}, then ${cli('key create --user <id>')}`);
  lines.push(`  metrics: ${node.url}/metrics   operator CLI: ${cli('status')}`, '');
  console.log(lines.join('\n'));
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.error(`everbook: ${signal}: stopping`);
    node.close().then(() => process.exit(0), (e: unknown) => { console.error(e); process.exit(1); });
  };
  process.on('SIGINT', () => { stop('SIGINT'); });
  process.on('SIGTERM', () => { stop('SIGTERM'); });
}

const CLUSTER_DIR = '.everbook/cluster';
/** Rounds of drill trials one run takes at most (each round takes every chosen cloud out once per kind). */
const DRILL_ROUNDS_MAX = 100;

async function cluster(command: string, argv: string[]): Promise<void> {
  const sub = command === 'cluster' ? argv[0] : 'drill';
  const { values } = parseArgs({
    args: command === 'cluster' ? argv.slice(1) : argv,
    options: {
      dir: { type: 'string' }, topology: { type: 'string' }, netns: { type: 'string' }, purge: { type: 'boolean' },
      kinds: { type: 'string' }, clouds: { type: 'string' }, rounds: { type: 'string' }, 'outage-ms': { type: 'string' }, workers: { type: 'string' },
      'clock-offset-ms': { type: 'string' }, streams: { type: 'string' }, chain: { type: 'string' },
    },
    strict: true,
  });
  const dir = values.dir ?? CLUSTER_DIR;
  const { clusterUp, clusterDown, loadState } = await import('../cluster/launcher.js');
  switch (sub) {
    case 'up': {
      const { loadTopology } = await import('../cluster/topology.js');
      const { addresses } = await import('../cluster/topology.js');
      // The same install-or-explain step the test setup runs (scripts/ensure-etcd.mjs).
      execFileSync(process.execPath, [fileURLToPath(new URL('../../../scripts/ensure-etcd.mjs', import.meta.url))], { stdio: 'inherit' });
      const topology = await loadTopology(values.topology);
      if (values.chain !== undefined && values.chain !== 'true' && values.chain !== 'false') throw new ConfigError('--chain takes true or false');
      const state = await clusterUp(topology, dir, { ...(values.netns !== undefined && { namespaces: values.netns === 'true' }), chain: values.chain !== 'false' });
      console.log(`cluster ${topology.name} is up (${state.namespaces ? 'a network namespace per cloud' : 'processes on loopback'}); state in ${state.dir}`);
      for (const a of addresses(topology, state.namespaces)) console.log(`  ${a.cloud.name.padEnd(18)} REST ${a.apiUrl}/api/v5   etcd ${a.etcdClientUrl}`);
      if (state.chain !== undefined) console.log(`  chain              ${state.chain.rpcUrl} (anvil, PID ${state.chain.pid}); custody key ${state.chain.custodyKeyFile}`);
      console.log(`  dev traders: see ${state.processes.find((p) => p.role === 'node')?.log ?? ''}; stop with: everbook cluster down --dir ${dir}`);
      return;
    }
    case 'down':
      await clusterDown(dir, { removeData: values.purge === true });
      console.log('cluster stopped');
      return;
    case 'status': {
      const state = await loadState(dir);
      const { addresses } = await import('../cluster/topology.js');
      const { adminTokens } = await import('../cluster/drill.js');
      const tokens = await adminTokens(state);
      for (const [i, a] of addresses(state.topology, state.namespaces).entries()) {
        let line: string;
        try {
          const r = await fetch(`${a.apiUrl}/admin/v1/status`, { headers: { authorization: `Bearer ${tokens[i]!}` }, signal: AbortSignal.timeout(2_000) });
          const s = (await r.json()) as { state: string; appliedPosition: number; lastCheckpoint: { position: number; stateHash: string } };
          line = `${s.state.padEnd(9)} position ${String(s.appliedPosition).padEnd(8)} checkpoint ${String(s.lastCheckpoint.position)} ${s.lastCheckpoint.stateHash.slice(0, 16)}`;
        } catch (e) {
          line = `unreachable (${(e as Error).message})`;
        }
        console.log(`${a.cloud.name.padEnd(18)} ${line}`);
      }
      if (state.chain !== undefined) {
        const { chainHead } = await import('../cluster/chain.js');
        const head = await chainHead(state.chain.rpcUrl);
        console.log(`${'chain'.padEnd(18)} ${head === undefined ? 'unreachable' : `head ${String(head)}`} at ${state.chain.rpcUrl}`);
      }
      return;
    }
    case 'drill': {
      const state = await loadState(dir);
      const { clockTable, runDrill, rtoSummary, rtoTable } = await import('../cluster/drill.js');
      const { CustodyDrill } = await import('../cluster/drill-custody.js');
      const { custodySummary, custodyTable } = await import('../cluster/custody-checker.js');
      const { addresses } = await import('../cluster/topology.js');
      const { streamTable } = await import('../cluster/drill-streams.js');
      const streamClients = int('streams', values.streams ?? '1');
      const kinds = (values.kinds ?? (state.namespaces ? 'kill,partition' : 'kill')).split(',');
      for (const kind of kinds) if (kind !== 'kill' && kind !== 'partition' && kind !== 'clock') throw new ConfigError(`--kinds takes kill, partition and clock, not "${kind}"`);
      const clouds = values.clouds?.split(',') ?? state.topology.clouds.map((c) => c.name);
      const offsetMs = Number(values['clock-offset-ms'] ?? 2_000);
      if (!Number.isSafeInteger(offsetMs)) throw new ConfigError('--clock-offset-ms must be a whole number of ms');
      const rounds = Number(values.rounds ?? 1);
      if (!Number.isSafeInteger(rounds) || rounds < 1 || rounds > DRILL_ROUNDS_MAX) throw new ConfigError(`--rounds takes 1 to ${DRILL_ROUNDS_MAX}`);
      const round = (kinds as ('kill' | 'partition' | 'clock')[]).flatMap((kind) => clouds.map((cloud) => ({ cloud, kind })));
      const trials = Array.from({ length: rounds }, () => round).flat();
      const custody = CustodyDrill.for(state, state.topology.clouds.length);
      const reports = await runDrill(state, {
        trials, outageMs: Number(values['outage-ms'] ?? 4_000), workersPerCloud: Number(values.workers ?? 3), stepTimeoutMs: 60_000,
        clockOffsetMs: offsetMs, ...(streamClients > 0 && { streams: { clientsPerCloud: streamClients } }), ...(custody !== undefined && { custody }),
        log: (line) => { console.error(line); },
      });
      if (reports.some((r) => r.kind !== 'clock')) {
        console.log(rtoTable(reports));
        console.log(rtoSummary(reports));
      }
      if (reports.some((r) => r.kind === 'clock')) console.log(clockTable(reports));
      if (reports.some((r) => r.streams !== undefined)) console.log(streamTable(reports));
      if (custody !== undefined) {
        const { adminTokens, devTraders } = await import('../cluster/drill.js');
        const all = addresses(state.topology, state.namespaces);
        const check = await custody.check(all, await adminTokens(state), await devTraders(state), 120_000);
        console.log(custodyTable(check));
        console.log(custodySummary(check));
        for (const p of check.problems) console.log(`custody: ${p}`);
        if (!check.ok) process.exitCode = 1;
      }
      if (!reports.every((r) => r.check.ok && r.hashesAgree && (r.streams?.ok ?? true))) {
        console.log(JSON.stringify(reports.map((r) => ({
          cloud: r.cloud, kind: r.kind, lost: r.check.lost, contradicted: r.check.contradicted, audit: r.check.auditFailures, streams: r.streams?.problems ?? [],
        })), null, 2));
        process.exitCode = 1;
      }
      return;
    }
    default:
      throw new ConfigError(`unknown cluster command "${String(sub)}"; see everbook help`);
  }
}

/**
 * The document inside what a user saved: the bare JSON, or the API's {code, data: [...]} reply
 * (the public report's item is { report, reserves }).
 */
function unwrap(value: unknown, key: string): unknown {
  let v = value;
  if (typeof v === 'object' && v !== null && Array.isArray((v as { data?: unknown }).data)) v = (v as { data: unknown[] }).data[0];
  if (typeof v === 'object' && v !== null && key in v) v = (v as Record<string, unknown>)[key];
  return v;
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new ConfigError(`cannot read ${path} as JSON: ${(e as Error).message}`);
  }
}

/**
 * por-verify: the user's check, with nothing but the saved documents (and, for the reserves, a
 * chain endpoint of their choice): exit 0 when everything given holds, 1 with the problem when not.
 */
async function porVerify(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      report: { type: 'string' }, proof: { type: 'string' }, user: { type: 'string' }, expect: { type: 'string' },
      reserves: { type: 'string' }, rpc: { type: 'string' },
    },
    strict: true,
  });
  const saved = await readJson(required('report', values.report));
  const report = unwrap(saved, 'report');
  if (values.proof === undefined && values.rpc === undefined) throw new ConfigError('give --proof FILE (your inclusion), --rpc URL (the reserves), or both');
  const out: { ok: boolean; proof?: ProofVerdict; reserves?: ReservesVerdict } = { ok: true };
  if (values.proof !== undefined) {
    const balances: Record<string, string> = {};
    for (const item of (values.expect ?? '').split(',').filter((x) => x !== '')) {
      const [ccy, amount] = item.split('=');
      if (ccy === undefined || amount === undefined || ccy === '') throw new ConfigError(`--expect takes CCY=MINOR_UNITS pairs, not "${item}"`);
      balances[ccy] = amount;
    }
    out.proof = verifyProof(report, unwrap(await readJson(values.proof), 'proof'), {
      ...(values.user !== undefined && { userId: int('user', values.user) }),
      ...(Object.keys(balances).length > 0 && { balances }),
    });
    out.ok &&= out.proof.ok;
  }
  if (values.rpc !== undefined) {
    // The reserves section: its own file, or beside the report in the public route's reply.
    const reserves = values.reserves === undefined ? unwrap(saved, 'reserves') : unwrap(await readJson(values.reserves), 'reserves');
    out.reserves = await verifyReserves(report, reserves, rpcReserveReader(values.rpc));
    out.ok &&= out.reserves.ok;
  }
  console.log(JSON.stringify(out, null, 2));
  if (!out.ok) process.exitCode = 1;
}

async function admin(dataDir: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Record<string, unknown>> {
  let file: AdminFile;
  try {
    file = JSON.parse(await readFile(join(dataDir, 'admin.json'), 'utf8')) as AdminFile;
  } catch {
    throw new Error(`no running node found in ${dataDir} (start one with: npm start, or pass --data-dir)`);
  }
  let response: Response;
  try {
    response = await fetch(`${file.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${file.token}`, ...(body !== undefined && { 'content-type': 'application/json' }) },
      ...(body !== undefined && { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    throw new Error(`the node at ${file.url} (pid ${file.pid}) did not answer: ${(e as Error).message}`, { cause: e });
  }
  const json = (await response.json()) as Record<string, unknown>;
  if (json.ok !== true) throw new Error(`${String(json.code)}: ${String(json.msg)}`);
  return json;
}

function int(name: string, text: string | undefined): number {
  const n = Number(text);
  if (text === undefined || !Number.isSafeInteger(n)) throw new ConfigError(`--${name} must be a whole number`);
  return n;
}

function required(name: string, text: string | undefined): string {
  if (text === undefined || text === '') throw new ConfigError(`--${name} is required`);
  return text;
}

async function main(argv: string[]): Promise<void> {
  const command = argv[0] === undefined || argv[0].startsWith('-') ? 'start' : argv[0];
  const rest = command === 'start' && argv[0] !== 'start' ? argv : argv.slice(1);
  if (command === 'help' || rest.includes('--help') || rest.includes('-h')) {
    console.log(USAGE);
    return;
  }
  if (command === 'start') return start(rest);
  if (command === 'cluster' || command === 'drill') return cluster(command, rest);
  if (command === 'por-verify') return porVerify(rest);
  const sub = command === 'user' || command === 'key' ? rest[0] : undefined;
  const { values } = parseArgs({
    args: sub === undefined ? rest : rest.slice(1),
    options: {
      'data-dir': { type: 'string' }, user: { type: 'string' }, label: { type: 'string' }, ccy: { type: 'string' },
      amount: { type: 'string' }, inst: { type: 'string' }, state: { type: 'string' }, id: { type: 'string' },
      tx: { type: 'string' }, reason: { type: 'string' }, 'maker-fee-ppm': { type: 'string' }, 'taker-fee-ppm': { type: 'string' },
      stp: { type: 'string' }, perm: { type: 'string' }, ips: { type: 'string' }, passphrase: { type: 'string' },
      key: { type: 'string' }, chain: { type: 'string' }, addr: { type: 'string' },
      report: { type: 'string' }, block: { type: 'string' }, 'wait-ms': { type: 'string' },
    },
    strict: true,
  });
  const dataDir = values['data-dir'] ?? process.env[settings.dataDir.env] ?? settings.dataDir.default;
  let out: Record<string, unknown>;
  switch (`${command}${sub === undefined ? '' : ' ' + sub}`) {
    case 'status': out = await admin(dataDir, 'GET', '/status'); break;
    case 'user create': out = await admin(dataDir, 'POST', '/users', {
      ...(values['maker-fee-ppm'] !== undefined && { makerFeePpm: int('maker-fee-ppm', values['maker-fee-ppm']) }),
      ...(values['taker-fee-ppm'] !== undefined && { takerFeePpm: int('taker-fee-ppm', values['taker-fee-ppm']) }),
      ...(values.stp !== undefined && { stpMode: values.stp }),
    }); break;
    case 'key create': out = await admin(dataDir, 'POST', '/keys', {
      userId: int('user', values.user), label: values.label ?? '',
      ...(values.perm !== undefined && { perm: values.perm }),
      ...(values.ips !== undefined && { ips: values.ips }),
      ...(values.passphrase !== undefined && { passphrase: values.passphrase }),
    }); break;
    case 'key list': out = await admin(dataDir, 'GET', values.user === undefined ? '/keys' : `/keys?userId=${String(int('user', values.user))}`); break;
    case 'key revoke': out = await admin(dataDir, 'POST', '/keys/revoke', { apiKey: required('key', values.key) }); break;
    case 'deposit': out = await admin(dataDir, 'POST', '/deposits', { userId: int('user', values.user), ccy: required('ccy', values.ccy), amount: required('amount', values.amount) }); break;
    case 'instruments': out = await admin(dataDir, 'GET', '/instruments'); break;
    case 'instrument-state': out = await admin(dataDir, 'POST', '/instruments/state', { instId: required('inst', values.inst), state: required('state', values.state) }); break;
    case 'withdrawal-complete': out = await admin(dataDir, 'POST', '/withdrawals/complete', { withdrawalId: int('id', values.id), txId: required('tx', values.tx) }); break;
    case 'withdrawal-fail': out = await admin(dataDir, 'POST', '/withdrawals/fail', { withdrawalId: int('id', values.id), reason: required('reason', values.reason) }); break;
    case 'withdrawals': out = await admin(dataDir, 'GET', '/withdrawals'); break;
    case 'withdrawal-approve': out = await admin(dataDir, 'POST', '/withdrawals/approve', { withdrawalId: int('id', values.id) }); break;
    case 'custody': out = await admin(dataDir, 'GET', '/custody'); break;
    case 'withdrawals-freeze': out = await admin(dataDir, 'POST', '/withdrawals/freeze', { chain: required('chain', values.chain), frozen: true, reason: required('reason', values.reason) }); break;
    case 'withdrawals-unfreeze': out = await admin(dataDir, 'POST', '/withdrawals/freeze', { chain: required('chain', values.chain), frozen: false, reason: '' }); break;
    case 'withdrawal-allowlist': out = await admin(dataDir, 'POST', '/withdrawals/allowlist', {
      userId: int('user', values.user), addresses: (values.addr ?? '').split(',').filter((a) => a !== ''),
    }); break;
    case 'snapshot': out = await admin(dataDir, 'POST', '/snapshot'); break;
    case 'chain-send': out = await devChainSend(dataDir, required('ccy', values.ccy), required('addr', values.addr), required('amount', values.amount)); break;
    case 'chain-balance': out = await devChainBalance(dataDir, required('addr', values.addr)); break;
    case 'por-request': out = await admin(dataDir, 'POST', '/por/reports', {
      reportId: required('report', values.report), ...(values.block !== undefined && { blockNumber: int('block', values.block) }),
    }); break;
    case 'por-status': out = await admin(dataDir, 'GET', `/por/reports/${encodeURIComponent(required('report', values.report))}?waitMs=${String(int('wait-ms', values['wait-ms'] ?? '0'))}`); break;
    case 'por-proof': out = await admin(dataDir, 'GET', `/por/proof?reportId=${encodeURIComponent(required('report', values.report))}&userId=${String(int('user', values.user))}`); break;
    default: throw new ConfigError(`unknown command "${argv.join(' ')}"; see everbook help`);
  }
  delete out.ok;
  console.log(JSON.stringify(out, null, 2));
}

main(process.argv.slice(2)).catch((e: unknown) => {
  const message = e instanceof Error ? e.message : String(e);
  console.error(`everbook: ${message}`);
  process.exit(e instanceof ConfigError ? 2 : 1);
});
