// One Everbook node on one machine, wired in order: the log, the replica that applies it, the
// submitter that turns requests into records, the gateway that speaks OKX v5, the operator
// routes, then the listener. Follow startNode() top to bottom to see a request's whole path.

import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { Registry, collectDefaultMetrics, Counter, Gauge } from 'prom-client';
import { createGateway } from '../gateway/index.js';
import type { ExchangePort } from '../gateway/port.js';
import { FileJournal } from '../log/index.js';
import { MemoryProjections } from '../projections/index.js';
import { Replica, SnapshotStore, Submitter } from '../replica/index.js';
import { newAdminToken, registerAdminRoutes } from './admin.js';
import type { ServerConfig } from './config.js';
import { bootstrapDev, type DevCredentials } from './dev.js';

export interface RunningNode {
  readonly url: string;
  readonly adminToken: string;
  readonly devCredentials: DevCredentials[];
  readonly replica: Replica;
  close(): Promise<void>;
}

/** Where the CLI finds a running node: written at start, in the data directory. */
export interface AdminFile { readonly url: string; readonly token: string; readonly pid: number }

async function loadOrCreateToken(dataDir: string): Promise<string> {
  const path = join(dataDir, 'admin.token');
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    const token = newAdminToken();
    await writeFile(path, token + '\n', { mode: 0o600 });
    return token;
  }
}

export async function startNode(config: ServerConfig, onFatal: (e: Error) => void): Promise<RunningNode> {
  const logger = pino({ level: config.logLevel, base: { node: 'everbook' } });
  await mkdir(config.dataDir, { recursive: true });
  const adminToken = await loadOrCreateToken(config.dataDir);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // 1. The command log: the embedded file journal.
  const journal = await FileJournal.open(join(config.dataDir, 'journal'));
  if (journal.recovery.truncatedBytes > 0) logger.warn({ recovery: journal.recovery }, 'journal tail was torn: truncated');

  // 2. The replica: newest snapshot + replay, then every new record as it becomes durable.
  const applied = new Counter({ name: 'everbook_commands_applied_total', help: 'Commands applied by the replica', registers: [registry] });
  const replica = new Replica({
    log: journal,
    snapshots: new SnapshotStore(join(config.dataDir, 'snapshots')),
    snapshotEveryCommands: config.snapshotEveryCommands,
    compactLog: config.compactLog,
    createProjections: (engine, saved) => (saved === undefined ? new MemoryProjections(engine) : MemoryProjections.fromJSON(engine, saved)),
    logger,
    onFatal,
    onApplied: (commands) => { applied.inc(commands); },
  });
  await replica.start();

  // 3. The submitter: request -> durable, applied record -> results, with a bounded in-flight count.
  const submitter = new Submitter(journal, replica, { inFlightMax: config.inFlightMax, applyTimeoutMs: config.applyTimeoutMs, now: Date.now });
  new Gauge({ name: 'everbook_submissions_in_flight', help: 'Submissions appended or waiting to apply', registers: [registry], collect() { this.set(submitter.inFlight); } });
  new Gauge({ name: 'everbook_applied_position', help: 'Last log position applied', registers: [registry], collect() { this.set(replica.appliedPosition); } });

  // 4. The port the gateway sees.
  const port: ExchangePort = {
    submit: (cmds) => submitter.submit(cmds),
    get engine() { return replica.engine; },
    get projections() { return replica.projections; },
    get keys() { return replica.keys; },
    now: Date.now,
    status: () => ({
      state: replica.state === 'failed' ? 'diverged' : replica.state,
      appliedPosition: replica.appliedPosition,
      appliedSeq: replica.engine.seq,
      stateHash: replica.lastCheckpoint.stateHash,
      inFlight: submitter.inFlight,
    }),
  };

  // 5. First start of a dev exchange: market and funded traders.
  const devCredentials = config.dev ? await bootstrapDev(port) : [];

  // 6. The gateway (OKX v5 REST) with the operator routes beside it, then listen.
  const app = createGateway(port, {
    logger: logger.child({ part: 'gateway' }),
    registry,
    bodyLimitBytes: config.bodyLimitBytes,
    rateLimits: config.rateLimits,
    extraRoutes: (instance) => {
      registerAdminRoutes(instance, {
        port, token: adminToken, dev: config.dev, snapshot: () => replica.snapshotNow(),
        details: () => ({ lastCheckpoint: replica.lastCheckpoint, journal: journal.stats(), bounds: journal.bounds(), dataDir: config.dataDir }),
      });
    },
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const boundPort = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${boundPort}`;
  const adminFile: AdminFile = { url, token: adminToken, pid: process.pid };
  const adminPath = join(config.dataDir, 'admin.json');
  await writeFile(adminPath, JSON.stringify(adminFile) + '\n', { mode: 0o600 });
  await chmod(adminPath, 0o600);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await app.close();
      await replica.stop();
      if (replica.state !== 'failed') await replica.snapshotNow();
      await journal.close();
      logger.info('node stopped');
    })();
    return closing;
  };
  return { url, adminToken, devCredentials, replica, close };
}
