// One Everbook node, wired in order: the log (the embedded journal, or etcd across clouds), the
// replica that applies it with the stream hub beside its apply loop, the cluster coordinator
// (etcd only), the submitter that turns requests into records, custody on a chain (when on: the
// chain, the key, the runtime that watches deposits and sends withdrawals), the gateway that
// speaks OKX v5 (REST and WebSocket, the latter fed by the hub) with the operator and internal
// routes, then the listener. Follow startNode() top to bottom to see a request's whole path. Everything
// the node writes is private to its user (umask 077; an older data directory is tightened at
// start), and API secrets are derived from the key-derivation file, never stored.

import { timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { Coordinator } from '../cluster/coordinator.js';
import { createGateway, FanoutProcess, KeyDerivation, type ProofSource } from '../gateway/index.js';
import { LiabilitiesReports } from '../por/index.js';
import { ReservesWriter } from './reserves.js';
import type { ExchangePort } from '../replica/index.js';
import { EtcdLog, FileJournal, LogError, type CommandLog, type EtcdLogStats } from '../log/index.js';
import { CLOCK_PEERS_WINDOW_MS, encodeSnapshotFile, Replica, SnapshotStore, Submitter } from '../replica/index.js';
import { StreamHub } from '../streams/index.js';
import { newAdminToken, registerAdminRoutes } from './admin.js';
import { custodyMode, type ServerConfig } from './config.js';
import { redactUrl, startCustody, type RunningCustody } from './custody.js';
import { bootstrapDev, type DevCredentials } from './dev.js';
import { registerMetricsRoute } from './metrics.js';

export interface RunningNode {
  readonly url: string;
  readonly adminToken: string;
  readonly devCredentials: DevCredentials[];
  readonly replica: Replica;
  /** The port the gateway serves through (tests run a second custody runtime over it, as another cloud would). */
  readonly port: ExchangePort;
  readonly custody: RunningCustody | undefined;
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

/** Entries a data directory may hold when it is tightened at start (journal segments, snapshots). */
const dataDirEntriesMax = 100_000;

/**
 * Makes an existing data directory private: folders 0700, files 0600. New files are private
 * already (umask 077); this covers directories written by an older version or another umask.
 */
async function tightenDataDir(dir: string): Promise<void> {
  let seen = 0;
  const walk = async (path: string): Promise<void> => {
    await chmod(path, 0o700);
    for (const entry of await readdir(path, { withFileTypes: true })) {
      seen += 1;
      if (seen > dataDirEntriesMax) throw new Error(`${dir} holds more than ${dataDirEntriesMax} entries: not a data directory?`);
      const child = join(path, entry.name);
      if (entry.isDirectory()) await walk(child);
      else if (entry.isFile()) await chmod(child, 0o600);
    }
  };
  await walk(dir);
}

/**
 * The key-derivation secret: from --key-secret-file, or <data-dir>/key-secret, made on a single
 * node's first start. It must be backed up: without it no existing API key verifies.
 */
async function loadKeyDerivation(config: ServerConfig): Promise<KeyDerivation> {
  const path = config.keySecretFile === '' ? join(config.dataDir, 'key-secret') : config.keySecretFile;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT' || config.keySecretFile !== '') throw new Error(`cannot read the key-derivation secret ${path}: ${(e as Error).message}`, { cause: e });
    text = KeyDerivation.generate();
    await writeFile(path, text + '\n', { mode: 0o600, flag: 'wx' });
  }
  return new KeyDerivation(text);
}

/**
 * While the journal's last write ran out of space, a small probe write runs this often, so that
 * the node turns serving again by itself once space is freed, without waiting for traffic.
 */
const SPACE_PROBE_INTERVAL_MS = 1_000;

/**
 * A cluster node that wrote nothing for this long writes an empty heartbeat record, so that the
 * log guard always counts it among the active clouds (a quarter of CLOCK_PEERS_WINDOW_MS: three
 * heartbeats may be lost or slow before it stops counting). One small etcd write per idle node.
 */
const HEARTBEAT_IDLE_MS = CLOCK_PEERS_WINDOW_MS / 4;

/** Per cloud, its newest record time and how far ahead it was; and this node's clock against the log's time. */
function clockStatus(replica: Replica, now: () => number): Record<string, unknown> {
  const clouds: Record<string, { lastTs: number; aheadMs: number }> = {};
  for (const [cloud, c] of replica.guard.clocks()) clouds[cloud] = { lastTs: c.lastTs, aheadMs: c.aheadMs };
  return { logTs: replica.guard.logTs, nodeAheadOfLogMs: now() - replica.guard.logTs, clouds, seenSignatures: replica.guard.seenSize };
}

/** How long a stopping node waits for a liabilities report still being built (a million users take seconds). */
const REPORTS_DRAIN_MS = 60_000;

/**
 * The deadline of one etcd call. A write forwarded to a leader that just died gets no answer;
 * the etcd log hedges it (sends it again) after 50-250 ms instead of waiting this out.
 */
const ETCD_CALL_DEADLINE_MS = 1_000;

/**
 * A cluster node refuses new writes (50001) once nothing it sent to etcd in this long was
 * answered by a quorum; a probe goes out every QUORUM_PROBE_MS. Detection takes at most their
 * sum after a cut (well under a second), and a healthy node answers a probe in milliseconds, so
 * ordinary load does not trip it: appends the quorum answers count as contact too.
 */
const ISOLATED_AFTER_MS = 700;
const QUORUM_PROBE_MS = 100;

/** A record with bigints (chain amounts) as decimal strings, for a JSON reply. */
function jsonSafe(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)));
}

async function openLog(config: ServerConfig, writerId: string, logger: Logger): Promise<CommandLog> {
  if (config.log === 'journal') {
    const journal = await FileJournal.open(join(config.dataDir, 'journal'));
    if (journal.recovery.truncatedBytes > 0) logger.warn({ recovery: journal.recovery }, 'journal tail was torn: truncated');
    return journal;
  }
  // The log talks to this cloud's own member only (the first endpoint): etcd3 spreads calls over
  // every host it is given, and a call that lands on a member cut off from the others waits out
  // its whole deadline, stalling every request behind it. A cloud whose member is gone stops
  // writing, and its clients fail over to another cloud.
  return EtcdLog.open({ hosts: config.etcdEndpoints.split(',').slice(0, 1), prefix: config.etcdPrefix, writerId, callDeadlineMs: ETCD_CALL_DEADLINE_MS });
}

export async function startNode(config: ServerConfig, onFatal: (e: Error) => void): Promise<RunningNode> {
  // 0. The node's own ground: logger, private data directory, admin token, key-derivation secret, metrics, clock.
  const logger = pino({ level: config.logLevel, base: { node: 'everbook', cloud: config.cloud } });
  // Journal, snapshots, tokens and the key-derivation secret are for this user's eyes only.
  process.umask(0o077);
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  await tightenDataDir(config.dataDir);
  const adminToken = await loadOrCreateToken(config.dataDir);
  const keyDerivation = await loadKeyDerivation(config);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // This node's clock: the wall clock, offset only when a drill plays a cloud whose clock is wrong.
  const now = config.clockOffsetMs === 0 ? Date.now : (): number => Date.now() + config.clockOffsetMs;
  if (config.clockOffsetMs !== 0) logger.warn({ clockOffsetMs: config.clockOffsetMs }, 'clock offset set (drill knob): this node stamps skewed times');
  const apiUrl = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;

  // 1. The command log: the embedded file journal, or the etcd cluster spanning the clouds.
  const writerId = `${config.cloud}-${String(process.pid)}-${String(Date.now())}`;
  const log = await openLog(config, writerId, logger);
  const journal = log instanceof FileJournal ? log : undefined;
  // What an operator must learn about the journal at once (logged on each change): out of space
  // (clears by itself), or failed (an fsync failed: restart needed).
  let journalProblemLogged: string | null = null;
  const watchJournal = (): void => {
    const problem = journal?.writeProblem() ?? null;
    if ((problem?.code ?? null) === journalProblemLogged) return;
    if (problem === null) logger.info('journal writable again: serving');
    else if (problem.code === 'no_space') logger.error({ err: problem.message }, 'JOURNAL OUT OF SPACE: writes are refused (50001) until space is freed');
    else logger.fatal({ err: problem.message }, 'JOURNAL FAILED: a write or fsync failed; restart the node once the disk is healthy');
    journalProblemLogged = problem?.code ?? null;
  };
  const spaceProbe = journal === undefined ? undefined : setInterval(() => {
    watchJournal();
    if (journal.writeProblem()?.code === 'no_space') void journal.probeSpace().then(watchJournal);
  }, SPACE_PROBE_INTERVAL_MS);
  spaceProbe?.unref();

  // 2. The cluster coordinator (etcd only): heartbeats, checkpoint comparison, compaction, peer snapshots.
  const coordinator = config.log === 'etcd'
    ? new Coordinator({
      endpoints: config.etcdEndpoints.split(','), prefix: `${config.etcdPrefix}/cluster`, cloud: config.cloud, apiUrl,
      clusterToken: config.clusterToken, logger, heartbeatMs: 1_000, liveMs: config.peerLiveMs, callTimeoutMs: 2_000,
      compact: config.compactLog, isolatedAfterMs: ISOLATED_AFTER_MS, probeMs: QUORUM_PROBE_MS,
    })
    : undefined;

  // 3. Proof of reserves: a RequestLiabilitiesReport in the log makes the replica copy every
  //    balance after that record (on the apply thread, a compact copy); the tree is built in a
  //    worker thread and stored under <data-dir>/por. Every node builds the same report.
  const porSaltKey = keyDerivation.porSaltKey();
  // With custody on (step 7), each built report that names a chain block gets its reserves.
  let reservesWriter: ReservesWriter | undefined;
  const reports = new LiabilitiesReports({
    dir: join(config.dataDir, 'por'), saltKey: porSaltKey,
    onSettled: (meta, outcome) => {
      if (outcome.ok) reservesWriter?.request(outcome.report);
      if (outcome.ok) logger.info({ reportId: meta.reportId, position: meta.position, root: outcome.report.root.hash, build_ms: Math.round(outcome.buildMs), write_ms: Math.round(outcome.writeMs) }, 'liabilities report ready');
      else logger.error({ reportId: meta.reportId, position: meta.position, err: outcome.error }, 'LIABILITIES REPORT FAILED');
    },
  });
  const proofs: ProofSource = {
    report: (id) => reports.store.report(id),
    reserves: (id) => reports.store.reserves(id),
    proof: (id, userId) => reports.store.proof(id, userId, porSaltKey),
    list: () => reports.store.list(),
  };

  // 3. The replica: newest snapshot (its own or a verified peer's) + replay, then every new record.
  //    Each applied record's events also go to the stream hub, which only buffers them (bounded)
  //    and drains them to the WebSocket channels after the apply loop has moved on.
  const applied = new Counter({ name: 'everbook_commands_applied_total', help: 'Commands applied by the replica', registers: [registry] });
  const replica = new Replica({
    log,
    snapshots: new SnapshotStore(join(config.dataDir, 'snapshots')),
    checkpointEveryCommands: config.snapshotEveryCommands,
    compactLog: config.log === 'journal' && config.compactLog,
    logger,
    onFatal,
    onApplied: (commands, events, position) => {
      applied.inc(commands);
      hub.onApplied(events, position);
    },
    onLiabilitiesReport: (request, copy) => {
      if (reports.known(request.reportId)) return;
      const t0 = performance.now();
      const table = copy();
      logger.info({ reportId: request.reportId, position: request.position, users: table.userIds.length, copy_ms: Math.round(performance.now() - t0) }, 'liabilities report: balances copied, building off the apply thread');
      reports.request(table, request);
    },
    ...(coordinator !== undefined && {
      resumable: (e: unknown) => e instanceof LogError && e.code === 'unavailable',
      onCheckpoint: (cp) => { void coordinator.publish(cp); },
      onSnapshot: () => { if (config.compactLog) void coordinator.compact(); },
    }),
  });
  const hub = new StreamHub({
    queries: replica.queries, appliedSeq: () => replica.appliedSeq, booksIntervalMs: config.wsBooksIntervalMs,
    onConsumerError: (e) => { logger.error({ err: (e as Error).message }, 'a stream consumer failed on a drain'); },
  });
  new Gauge({ name: 'everbook_stream_hub_buffered_events', help: 'Events waiting for the stream hub\'s next drain (bounded by hubBufferEventsMax)', registers: [registry], collect() { this.set(hub.stats().bufferedEvents); } });
  new Gauge({ name: 'everbook_stream_hub_overflows', help: 'Times the stream hub dropped its buffer at its bound (event-fed subscribers resync)', registers: [registry], collect() { this.set(hub.stats().overflows); } });
  new Gauge({ name: 'everbook_stream_hub_watched_books', help: 'Books with WebSocket subscribers (mirrored by the hub)', registers: [registry], collect() { this.set(hub.stats().watchedBooks); } });
  await replica.start(coordinator === undefined ? undefined : () => coordinator.fetchPeerSnapshot());
  coordinator?.attach(replica, log);
  await coordinator?.heartbeat();

  // 4. The submitter: request -> durable, applied record -> results, group-committed, bounded.
  const submitter = new Submitter(log, replica, {
    inFlightMax: config.inFlightMax, applyTimeoutMs: config.applyTimeoutMs, commandTtlMs: config.commandTtlMs, now, cloud: config.cloud,
    onLogError: watchJournal,
    // Bytes cost three times over with etcd (consensus, members, watches); the journal's are local.
    compressRecords: config.log === 'etcd' && config.compressRecords,
    ...(coordinator !== undefined && { onAppended: (sentAtMs: number) => { coordinator.noteContact(sentAtMs); } }),
  });
  const heartbeats = config.log === 'etcd' ? setInterval(() => {
    submitter.heartbeat(HEARTBEAT_IDLE_MS).catch((e: unknown) => { logger.debug({ err: (e as Error).message }, 'heartbeat record not written'); });
  }, HEARTBEAT_IDLE_MS / 2) : undefined;
  heartbeats?.unref();
  new Counter({ name: 'everbook_log_records_written_total', help: 'Records of submissions this node appended to the log (heartbeats not counted)', registers: [registry], collect() { this.reset(); this.inc(submitter.records); } });
  new Counter({ name: 'everbook_log_record_bytes_written_total', help: 'Bytes of those records as stored (compressed or not)', registers: [registry], collect() { this.reset(); this.inc(submitter.recordBytes); } });
  if (log instanceof EtcdLog) {
    // How the etcd log's appends went: hedges and retries are extra writes etcd must carry.
    const etcdCounter = (name: string, help: string, read: (s: EtcdLogStats) => number): void => {
      new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read(log.stats())); } });
    };
    etcdCounter('everbook_etcd_appends_total', 'Appends etcd stored (records and heartbeats)', (s) => s.appendsStored);
    etcdCounter('everbook_etcd_append_retries_total', 'Attempts beyond an append\'s first: hedges of a slow append, retries after a failure', (s) => s.appendRetries);
    etcdCounter('everbook_etcd_appends_found_stored_total', 'Appends whose answering attempt found the record stored by an earlier attempt', (s) => s.appendsFoundStored);
    etcdCounter('everbook_etcd_appends_outcome_unknown_total', 'Appends that failed after an attempt etcd may have committed', (s) => s.appendsOutcomeUnknown);
    etcdCounter('everbook_etcd_tail_resumes_total', 'Times the tail\'s read or watch failed and resumed', (s) => s.tailResumes);
  }
  new Gauge({ name: 'everbook_submissions_in_flight', help: 'Submissions queued, appended or waiting to apply', registers: [registry], collect() { this.set(submitter.inFlight); } });
  new Gauge({ name: 'everbook_applied_position', help: 'Last log position applied', registers: [registry], collect() { this.set(replica.appliedPosition); } });
  new Gauge({ name: 'everbook_seen_signatures', help: 'Signed requests the log guard remembers (replay protection), against its bound', registers: [registry], collect() { this.set(replica.guard.seenSize); } });
  new Gauge({
    name: 'everbook_cloud_clock_ahead_ms', help: 'How far each cloud\'s last record was ahead of the newest time the other clouds wrote (negative: behind)',
    labelNames: ['cloud'], registers: [registry],
    collect() {
      this.reset();
      for (const [cloud, c] of replica.guard.clocks()) this.set({ cloud }, c.aheadMs);
    },
  });
  new Gauge({ name: 'everbook_node_clock_ahead_of_log_ms', help: 'This node\'s clock minus the log\'s time', registers: [registry], collect() { this.set(now() - replica.guard.logTs); } });
  new Gauge({ name: 'everbook_replica_serving', help: '1 while the replica serves, 0 when stopped or diverged', registers: [registry], collect() { this.set(replica.state === 'serving' ? 1 : 0); } });
  new Gauge({ name: 'everbook_log_writable', help: '1 while the log takes writes; 0 while the journal is out of space or failed', registers: [registry], collect() { this.set((journal?.writeProblem() ?? null) === null ? 1 : 0); } });

  // 5. The port the gateway sees.
  const port: ExchangePort = {
    // A signed request's submission carries its signature, so the log refuses a replay of it.
    submit: (cmds, signedBy) => submitter.submit(cmds, signedBy),
    queries: replica.queries,
    get keys() { return replica.keys; },
    keyDerivation,
    now,
    status: () => ({
      state: replica.state === 'serving' && coordinator?.isolated() === true ? 'isolated'
        : replica.state === 'serving' && journal?.writeProblem()?.code === 'no_space' ? 'unavailable'
          : replica.state === 'serving' && journal?.writeProblem()?.code === 'failed' ? 'stopped'
            : replica.state === 'failed' ? 'stopped' : replica.state === 'catching_up' ? 'starting' : replica.state,
      appliedPosition: replica.appliedPosition,
      appliedSeq: replica.appliedSeq,
      stateHash: replica.lastCheckpoint.stateHash,
      inFlight: submitter.inFlight,
    }),
  };

  // 6. First start of a dev exchange: market and funded traders (one node of a cluster does it).
  //    With custody on, their ETH and USDT arrive as real chain deposits (step 7) instead.
  const onChainAssets = custodyMode(config) === 'off' ? [] : ['ETH', 'USDT'];
  const devCredentials = config.dev && config.bootstrap ? await bootstrapDev(port, onChainAssets) : [];

  // 7. Custody on a chain (when on): the key, the chain (a local anvil or --chain-rpc), the dev
  //    chain's setup on first start, then the runtime (watcher, broadcaster, sweeper, reconciler).
  let custody: RunningCustody | undefined;
  try {
    custody = await startCustody(config, port, logger, registry, devCredentials.map((c) => c.userId));
  } catch (e) {
    clearInterval(spaceProbe);
    clearInterval(heartbeats);
    await replica.stop();
    coordinator?.close();
    await log.close();
    throw e;
  }
  // Reserves for reports that name a block (those built before custody was up, then each new one).
  if (custody !== undefined) {
    reservesWriter = new ReservesWriter(reports.store, custody.reserves, logger.child({ part: 'reserves' }));
    await reservesWriter.catchUp();
  }

  // 8. The gateway (OKX v5 REST, and WebSocket from the hub), the operator routes and the internal routes, then listen.
  //    The public and business WebSocket sockets are held by a child process that writes the
  //    pushes, so a large audience costs the apply thread one message per push (ws-fanout.ts).
  const fanout = config.wsFanoutProcess ? new FanoutProcess({ logger: logger.child({ part: 'ws-fanout' }) }) : undefined;
  const app = createGateway(port, {
    streams: {
      hub,
      ...(fanout !== undefined && { fanout }),
      options: { connectionsMax: config.wsConnectionsMax, connectionsPerIpMax: config.wsConnectionsPerIpMax, sendBufferMaxBytes: config.wsSendBufferMaxBytes },
      intervals: { trades: config.wsTradesIntervalMs },
    },
    logger: logger.child({ part: 'gateway' }),
    registry,
    por: proofs,
    bodyLimitBytes: config.bodyLimitBytes,
    bodyTimeoutMs: config.bodyTimeoutMs,
    maxConnections: config.maxConnections,
    rateLimits: config.rateLimits,
    ...(custody !== undefined && { depositAddress: custody.depositAddress, isOwnAddress: custody.isOwnAddress }),
    extraRoutes: (instance) => {
      registerMetricsRoute(instance, registry, adminToken);
      registerAdminRoutes(instance, {
        port, token: adminToken, dev: config.dev, remote: config.adminRemote, snapshot: () => replica.snapshotNow(),
        por: { reports, proofs, ...(reservesWriter !== undefined && { reportBlock: reservesWriter.reportBlock.bind(reservesWriter) }) },
        stateHashNow: () => ({ position: replica.appliedPosition, seq: replica.appliedSeq, stateHash: replica.stateHashNow() }),
        details: () => ({
          cloud: config.cloud, log: config.log, lastCheckpoint: replica.lastCheckpoint, lastSnapshot: replica.lastSnapshot,
          logStart: log.bounds().first, installedPeerSnapshot: replica.installedPeerSnapshot,
          failure: replica.failure ?? journal?.writeProblem()?.message ?? '', peers: coordinator?.peers ?? [], submitter: { records: submitter.records, submissions: submitter.submissions },
          dataDir: config.dataDir, clocks: clockStatus(replica, now),
        }),
        ...(custody !== undefined && { custodyDetails: () => ({ runtime: jsonSafe(custody.status()), chainRpc: redactUrl(custody.chainRpc) }) }),
      });
      if (coordinator !== undefined) {
        const expected = Buffer.from(`Bearer ${config.clusterToken}`);
        instance.get('/internal/v1/snapshot', async (req, reply) => {
          const given = Buffer.from(req.headers.authorization ?? '');
          if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply.code(401).send({ code: 'unauthorized' });
          // Only a replica that serves (not one that diverged or is catching up) hands out its state.
          if (replica.state !== 'serving') return reply.code(503).send({ code: 'not_serving' });
          const parts = await replica.readCheckpointSnapshot();
          if (parts === undefined) return reply.code(404).send({ code: 'no_snapshot' });
          return reply.type('application/octet-stream').send(Buffer.concat(encodeSnapshotFile(parts)));
        });
      }
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
      clearInterval(spaceProbe);
      clearInterval(heartbeats);
      await app.close(); // (closes the WebSocket server, which stops the fan-out process)
      reservesWriter?.close();
      await custody?.close();
      hub.close();
      await replica.stop();
      // A report still building would be lost once the final snapshot is past its position.
      if (!await reports.drain(REPORTS_DRAIN_MS)) logger.error('a liabilities report was still building at stop: copy it from a peer');
      await reports.close();
      if (replica.state !== 'failed' && replica.state !== 'diverged') await replica.snapshotNow();
      coordinator?.close();
      await log.close();
      logger.info('node stopped');
    })();
    return closing;
  };
  return { url, adminToken, devCredentials, replica, port, custody, close };
}
