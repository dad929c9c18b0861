// Outage drills: while clients attached to every cloud send orders, cancels, deposits and
// withdrawal requests, take one whole cloud out (SIGKILL of all its processes, or, with
// namespaces, a network partition that leaves its processes and its clients running and
// trying), heal it, let it catch up, and check the result. Reports, per trial, the RTO (outage
// to the first acknowledgement at a surviving cloud of an operation sent once the outage was in
// force; and the longest gap any client outside the cut saw), the RPO (acknowledged operations
// lost: must be 0) and the healed cloud's catch-up.
// A clock trial instead restarts one cloud's node with its clock running ahead (a drill knob,
// --clock-offset-ms) and shows that the other clouds' requests keep being acknowledged by their
// own gateways, with the skew reported in status; then it restarts the node with a true clock.
// With a chain (drill-custody.ts), the withdrawals are real and a custody check follows the trials.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { noop } from 'cockatiel';
import { Etcd3 } from 'etcd3';
import { EtcdLog } from '../log/index.js';
import { checkLog, type CheckReport } from './checker.js';
import { ISOLATED_MESSAGE } from './coordinator.js';
import type { Credentials } from './client.js';
import type { DrillAck, DrillClientConfig } from './drill-client.js';
import type { CustodyDrill } from './drill-custody.js';
import { StreamDrill, type StreamDrillOptions, type StreamTrialReport } from './drill-streams.js';
import { alive, nodeServing, saveClusterState, startEtcd, startNodeProcess, stopProcess, waitFor, type ClusterState } from './launcher.js';
import { netnsPrefix, setCloudLink } from './netns.js';
import { addresses, networkTag, type CloudAddress } from './topology.js';

const drillClientPath = join(dirname(fileURLToPath(import.meta.url)), 'drill-client.js');

export type OutageKind = 'kill' | 'partition';
/** An outage, or 'clock': the cloud's node runs with its clock offset by clockOffsetMs. */
export type TrialKind = OutageKind | 'clock';

/** A trial's cloud may be named, or LEADER: whichever cloud holds the etcd leader when the trial starts. */
export const LEADER = 'leader';

export interface DrillOptions {
  readonly trials: readonly { readonly cloud: string; readonly kind: TrialKind }[];
  /** How long the cloud stays out. */
  readonly outageMs: number;
  readonly workersPerCloud: number;
  /** How far ahead the skewed cloud's clock runs in a clock trial (default 2 s). */
  readonly clockOffsetMs?: number;
  /** Bounds on everything the drill waits for. */
  readonly stepTimeoutMs: number;
  readonly log?: (line: string) => void;
  /** Streaming clients during outage trials (drill-streams.ts); none when absent. */
  readonly streams?: StreamDrillOptions;
  /** With a chain: where each cloud withdraws to, and the collector of every trial's output for the custody check. */
  readonly custody?: CustodyDrill;
}

/** What a clock trial saw while one cloud's clock ran ahead. */
export interface ClockReport {
  readonly offsetMs: number;
  /** How far ahead the skewed cloud's records were, as the other clouds' nodes report it in status. */
  readonly reportedAheadMs: number;
  /** Operations the other clouds' clients sent while the clock was skewed... */
  readonly othersSent: number;
  /** ...and how many of them their own cloud's gateway acknowledged at the first attempt. */
  readonly othersAcknowledgedAtHome: number;
}

export interface TrialReport {
  readonly cloud: string;
  readonly kind: TrialKind;
  /** Outage start to the first acknowledged operation at a surviving cloud. */
  readonly rtoMs: number;
  /** The cut cloud held the etcd leader when the outage began. */
  readonly leader: boolean;
  /**
   * Partitions: outage start to the cut cloud's node logging that it refuses writes (it refuses
   * from the moment it finds itself cut off; the line is written at its next probe tick, so it
   * may lag by up to 100 ms). Null when none was found.
   */
  readonly refusingAfterMs?: number | null;
  /**
   * Partitions: outage start to the link command returning. The cut took effect in between, so
   * refusingAfterMs minus this is the least the node can have taken to refuse.
   */
  readonly cutInForceAfterMs?: number;
  /** The longest time any client outside the cut cloud went without an acknowledgement. */
  readonly longestGapMs: number;
  /** Heal to the healed cloud's replica serving at the others' position. */
  readonly catchUpMs: number;
  readonly acknowledged: number;
  readonly failedOps: number;
  readonly check: CheckReport;
  readonly hashesAgree: boolean;
  readonly rpo: number;
  readonly clock?: ClockReport;
  readonly streams?: StreamTrialReport;
}

interface NodeStatusReply {
  state: string;
  appliedPosition: number;
  clocks?: { clouds: Record<string, { lastTs: number; aheadMs: number }> };
}

export async function adminGet<T>(c: CloudAddress, token: string, path: string): Promise<T | undefined> {
  try {
    const r = await fetch(`${c.apiUrl}/admin/v1${path}`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2_000) });
    if (r.status !== 200) return undefined;
    return (await r.json()) as T;
  } catch {
    return undefined;
  }
}

const until = (what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> =>
  waitFor(`drill: ${what}`, async () => check(), timeoutMs);

/** The dev traders' credentials, as the bootstrapping node printed them. */
export async function devTraders(state: ClusterState): Promise<(Credentials & { userId: number })[]> {
  const first = state.processes.find((p) => p.role === 'node' && p.cloud === state.topology.clouds[0]!.name)!;
  const text = await readFile(first.log, 'utf8');
  const traders: (Credentials & { userId: number })[] = [];
  for (const m of text.matchAll(/dev trader (\d+): apiKey (\S+)\s+secret (\S+)\s+(?:password|passphrase) (\S+)/g)) {
    traders.push({ userId: Number(m[1]), apiKey: m[2]!, secretKey: m[3]!, passphrase: m[4]! });
  }
  if (traders.length === 0) throw new Error(`no dev traders found in ${first.log}`);
  return traders;
}

export async function adminTokens(state: ClusterState): Promise<string[]> {
  return Promise.all(state.topology.clouds.map(async (c) => (await readFile(join(state.dir, c.name, 'node', 'admin.token'), 'utf8')).trim()));
}

function startClients(
  all: CloudAddress[], tokens: string[], traders: (Credentials & { userId: number })[], workers: number, acks: DrillAck[], custody: CustodyDrill | undefined,
): ChildProcess[] {
  return all.map((c, i) => {
    const order = [i, ...all.map((_, j) => j).filter((j) => j !== i)];
    const config: DrillClientConfig = {
      cloud: c.cloud.name, endpoints: order.map((j) => all[j]!.apiUrl), adminTokens: order.map((j) => tokens[j]!),
      traders, workers, opsMax: 1_000_000, durationMs: 10 * 60_000, ...(custody !== undefined && { withdrawTo: custody.withdrawTo(i) }),
    };
    // Inside the cloud's namespace when there is one: cut with it, it keeps trying its own gateway.
    const cmd = [...netnsPrefix(c), process.execPath, drillClientPath, JSON.stringify(config)];
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: child.stdout }).on('line', (line) => {
      let ack: DrillAck;
      try { ack = JSON.parse(line) as DrillAck; } catch { return; /* not a result line */ }
      acks.push(ack);
      custody?.acks.push(ack);
    });
    return child;
  });
}

async function stopClients(clients: ChildProcess[]): Promise<void> {
  await Promise.all(clients.map((c) => new Promise<void>((resolve) => {
    if (c.exitCode !== null) { resolve(); return; }
    c.on('exit', () => { resolve(); });
    c.stdin!.end();
    setTimeout(() => { if (c.exitCode === null) c.kill('SIGKILL'); }, 30_000).unref();
  })));
}

/**
 * Waits until every node serves at one and the same position, then reads each one's state hash
 * with the position it is at (heartbeat records may have moved it on meanwhile).
 */
export async function quiesce(all: CloudAddress[], tokens: string[], timeoutMs: number): Promise<{ position: number; hashes: { stateHash: string; position: number }[] }> {
  let position = -1;
  await until('every replica at the same position', timeoutMs, async () => {
    const statuses = await Promise.all(all.map((c, i) => adminGet<NodeStatusReply>(c, tokens[i]!, '/status')));
    if (statuses.some((s) => s?.state !== 'serving')) return false;
    const positions = new Set(statuses.map((s) => s!.appliedPosition));
    position = statuses[0]!.appliedPosition;
    return positions.size === 1;
  });
  const hashes = await Promise.all(all.map(async (c, i) => (await adminGet<{ stateHash: string; position: number }>(c, tokens[i]!, '/state-hash')) ?? { stateHash: 'unreachable', position: -1 }));
  return { position, hashes };
}

export async function runDrill(state: ClusterState, options: DrillOptions): Promise<TrialReport[]> {
  const say = options.log ?? ((): void => undefined);
  const all = addresses(state.topology, state.namespaces);
  const traders = await devTraders(state);
  const tokens = await adminTokens(state);
  // With a chain the traders are funded by real deposits first (credited by the watchers).
  await options.custody?.fund(all, traders, options.stepTimeoutMs, say);
  const reports: TrialReport[] = [];
  for (const trial of options.trials) {
    const leaderAt = await leaderIndex(all, options.stepTimeoutMs);
    const index = trial.cloud === LEADER ? leaderAt : all.findIndex((c) => c.cloud.name === trial.cloud);
    if (index === -1) throw new Error(`no cloud ${trial.cloud} in the topology`);
    if (trial.kind === 'partition' && !state.namespaces) throw new Error('a partition needs network namespaces (run as root)');
    if (trial.kind === 'clock') {
      reports.push(await clockTrial(state, all, tokens, traders, index, options));
      continue;
    }
    const cut = all[index]!;
    const acks: DrillAck[] = [];
    const streams = options.streams === undefined ? undefined : await StreamDrill.start(all, options.streams, options.stepTimeoutMs, say);
    const clients = startClients(all, tokens, traders, options.workersPerCloud, acks, options.custody);
    try {
      // Warm up: every cloud's clients are being acknowledged.
      await until('load running in every cloud', options.stepTimeoutMs, () => all.every((c) => acks.some((a) => a.cloud === c.cloud.name && a.ok)));

      // The outage.
      const t0 = Date.now();
      if (trial.kind === 'kill') {
        for (const p of state.processes.filter((q) => q.cloud === cut.cloud.name)) {
          if (alive(p.pid, p.marker)) process.kill(p.pid, 'SIGKILL');
        }
      } else {
        await setCloudLink(networkTag(state.topology), index, false);
      }
      // The cut is in force from here at the latest (starting `ip` in the fabric's namespace can
      // take a few hundred ms on a loaded machine).
      const tCut = Date.now();
      say(`${trial.kind} ${cut.cloud.name} at ${new Date(t0).toISOString()} (in force after ${tCut - t0} ms)`);
      const survivors = new Set(all.filter((c) => c !== cut).map((c) => c.apiUrl));
      // RTO: from the start of the outage to the first acknowledgement, at a surviving cloud, of an
      // operation sent once the outage was in force. One sent while the kill or the cut was still
      // landing (15 to 54 ms for a kill, up to a few hundred ms for a cut) can be acknowledged
      // before the outage: such an acknowledgement once showed a leader kill's RTO as 25 ms
      // while that trial's clients saw a 1,198 ms gap. Measuring from t0 rather than tCut errs long.
      const recovered = (a: DrillAck): boolean => a.ok && a.s >= tCut && survivors.has(a.endpoint);
      await until('an acknowledgement at a surviving cloud', options.stepTimeoutMs, () => acks.some(recovered));
      const rtoMs = Math.min(...acks.filter(recovered).map((a) => a.t)) - t0;
      const cutNodeLog = state.processes.find((p) => p.cloud === cut.cloud.name && p.role === 'node')?.log;
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + options.outageMs - Date.now())));
      await streams?.untilVerified(options.stepTimeoutMs);

      // Heal, and wait for the healed cloud to catch up with the others.
      const tHeal = Date.now();
      if (trial.kind === 'kill') {
        const fresh = state.processes.filter((p) => p.cloud !== cut.cloud.name);
        fresh.push(startEtcd(state, cut, 'existing'));
        fresh.push(startNodeProcess(state, cut, false));
        state.processes = fresh;
        await saveClusterState(state);
      } else {
        await setCloudLink(networkTag(state.topology), index, true);
      }
      await untilCaughtUp(all, tokens, index, options.stepTimeoutMs);
      const catchUpMs = Date.now() - tHeal;
      say(`${cut.cloud.name} healed and caught up in ${catchUpMs} ms`);
      await stopClients(clients);

      const { check, hashesAgree } = await checkCluster(all, tokens, acks, options.stepTimeoutMs);
      const longestGapMs = longestGap(acks, all.filter((a) => a !== cut), options.workersPerCloud);
      const refusingAfterMs = trial.kind === 'partition' && cutNodeLog !== undefined ? await isolatedLoggedAfter(cutNodeLog, t0) : undefined;
      const streamReport = await streams?.settle(all, options.stepTimeoutMs);
      const report: TrialReport = {
        cloud: cut.cloud.name, kind: trial.kind, rtoMs, leader: index === leaderAt,
        ...(refusingAfterMs !== undefined && { refusingAfterMs, cutInForceAfterMs: tCut - t0 }), longestGapMs, catchUpMs,
        acknowledged: acks.filter((a) => a.ok).length, failedOps: acks.filter((a) => !a.ok).length,
        check, hashesAgree, rpo: check.lost.length, ...(streamReport !== undefined && { streams: streamReport }),
      };
      reports.push(report);
      say(`trial ${trial.kind} ${cut.cloud.name}${index === leaderAt ? ' (etcd leader)' : ''}: RTO ${rtoMs} ms,${refusingAfterMs === undefined ? '' : ` refusing writes after ${refusingAfterMs ?? 'never'} ms (cut in force after ${tCut - t0} ms),`} longest gap ${longestGapMs} ms, catch-up ${catchUpMs} ms, ${report.acknowledged} acknowledged, RPO ${report.rpo}, hashes ${hashesAgree ? 'agree' : 'DIFFER'}, check ${check.ok ? 'ok' : 'FAILED'}`);
    } finally {
      await stopClients(clients);
      await streams?.close();
      if (trial.kind === 'partition') await setCloudLink(networkTag(state.topology), index, true).catch(() => undefined);
    }
  }
  return reports;
}

/** Waits until the node of cloud `index` serves at least at the others' position. */
async function untilCaughtUp(all: CloudAddress[], tokens: string[], index: number, timeoutMs: number): Promise<void> {
  const c = all[index]!;
  await until(`${c.cloud.name} serving again`, timeoutMs, () => nodeServing(c));
  await until(`${c.cloud.name} caught up`, timeoutMs, async () => {
    const statuses = await Promise.all(all.map((a, i) => adminGet<NodeStatusReply>(a, tokens[i]!, '/status')));
    const healed = statuses[index];
    const others = statuses.filter((_, i) => i !== index).map((s) => s?.appliedPosition ?? 0);
    return healed?.state === 'serving' && healed.appliedPosition >= Math.min(...others);
  });
}

/** Check: replicas agree, and the log holds exactly what was acknowledged. */
async function checkCluster(all: CloudAddress[], tokens: string[], acks: readonly DrillAck[], timeoutMs: number): Promise<{ check: CheckReport; hashesAgree: boolean }> {
  const { hashes } = await quiesce(all, tokens, timeoutMs);
  const endpoints = all.map((c) => c.etcdClientUrl);
  const log = await EtcdLog.open({ hosts: endpoints, prefix: 'everbook', writerId: `drill-checker-${String(process.pid)}-${String(Date.now())}` });
  try {
    const check = await checkLog(log, acks, hashes.map((h) => h.position));
    return { check, hashesAgree: hashes.every((h) => h.stateHash === check.replayHashesAt.get(h.position)) };
  } finally {
    await log.close();
  }
}

/** The longest time any worker of these clouds went without an acknowledgement. */
function longestGap(acks: readonly DrillAck[], clouds: readonly CloudAddress[], workers: number): number {
  let longestGapMs = 0;
  for (const c of clouds) {
    for (let w = 0; w < workers; w++) {
      const times = acks.filter((a) => a.cloud === c.cloud.name && a.worker === w && a.ok).map((a) => a.t).sort((a, b) => a - b);
      for (let i = 1; i < times.length; i++) longestGapMs = Math.max(longestGapMs, times[i]! - times[i - 1]!);
    }
  }
  return longestGapMs;
}

/** Restarts one cloud's node (SIGTERM, then a fresh process) with its clock offset by `offsetMs`, and waits until it caught up. */
async function restartNodeWithClock(state: ClusterState, all: CloudAddress[], tokens: string[], index: number, offsetMs: number, timeoutMs: number): Promise<void> {
  const c = all[index]!;
  const node = state.processes.find((p) => p.cloud === c.cloud.name && p.role === 'node');
  if (node !== undefined) await stopProcess(node);
  state.clockOffsets = { ...state.clockOffsets, [c.cloud.name]: offsetMs };
  state.processes = [...state.processes.filter((p) => p !== node), startNodeProcess(state, c, false)];
  await saveClusterState(state);
  await untilCaughtUp(all, tokens, index, timeoutMs);
}

/**
 * One cloud's clock runs ahead under load: its node is restarted with the offset, the load runs
 * for outageMs, every node's status is read, and the node is restarted with a true clock. The
 * other clouds' clients must keep being acknowledged by their own gateways: the log guard keeps
 * the fast cloud from moving the log's time more than its bound past theirs, so their commands
 * do not expire.
 */
async function clockTrial(
  state: ClusterState, all: CloudAddress[], tokens: string[], traders: (Credentials & { userId: number })[], index: number, options: DrillOptions,
): Promise<TrialReport> {
  const say = options.log ?? ((): void => undefined);
  const skewed = all[index]!;
  const offsetMs = options.clockOffsetMs ?? 2_000;
  const acks: DrillAck[] = [];
  const clients = startClients(all, tokens, traders, options.workersPerCloud, acks, options.custody);
  try {
    await until('load running in every cloud', options.stepTimeoutMs, () => all.every((c) => acks.some((a) => a.cloud === c.cloud.name && a.ok)));
    await restartNodeWithClock(state, all, tokens, index, offsetMs, options.stepTimeoutMs);
    const t0 = Date.now();
    say(`${skewed.cloud.name} runs ${offsetMs} ms ahead from ${new Date(t0).toISOString()}`);
    // The skewed cloud's own clients must be writing through it, so that its clock is in the log.
    await until(`${skewed.cloud.name} acknowledging with its clock ahead`, options.stepTimeoutMs, () => acks.some((a) => a.ok && a.s >= t0 && a.endpoint === skewed.apiUrl));
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + options.outageMs - Date.now())));
    const observer = (index + 1) % all.length;
    const status = await adminGet<NodeStatusReply>(all[observer]!, tokens[observer]!, '/status');
    const t1 = Date.now();
    const reportedAheadMs = status?.clocks?.clouds[skewed.cloud.name]?.aheadMs ?? 0;
    const others = acks.filter((a) => a.cloud !== skewed.cloud.name && a.s >= t0 && a.t <= t1);
    const home = new Map(all.map((c) => [c.cloud.name, c.apiUrl]));
    const clock: ClockReport = {
      offsetMs, reportedAheadMs, othersSent: others.length,
      othersAcknowledgedAtHome: others.filter((a) => a.ok && a.attempts === 1 && a.endpoint === home.get(a.cloud)).length,
    };
    say(`clock ${skewed.cloud.name} +${offsetMs} ms: status reports it ${reportedAheadMs} ms ahead; other clouds' operations ${clock.othersAcknowledgedAtHome}/${clock.othersSent} acknowledged by their own gateway at the first attempt`);
    const tHeal = Date.now();
    await restartNodeWithClock(state, all, tokens, index, 0, options.stepTimeoutMs);
    const catchUpMs = Date.now() - tHeal;
    await stopClients(clients);
    const { check, hashesAgree } = await checkCluster(all, tokens, acks, options.stepTimeoutMs);
    const report: TrialReport = {
      cloud: skewed.cloud.name, kind: 'clock', rtoMs: 0, leader: false, longestGapMs: longestGap(acks.filter((a) => a.s >= t0 && a.t <= t1), all.filter((a) => a !== skewed), options.workersPerCloud),
      catchUpMs, acknowledged: acks.filter((a) => a.ok).length, failedOps: acks.filter((a) => !a.ok).length, check, hashesAgree, rpo: check.lost.length, clock,
    };
    say(`trial clock ${skewed.cloud.name}: ${report.acknowledged} acknowledged, RPO ${report.rpo}, hashes ${hashesAgree ? 'agree' : 'DIFFER'}, check ${check.ok ? 'ok' : 'FAILED'}`);
    return report;
  } finally {
    await stopClients(clients);
  }
}

/** The clock trials' table: the skew each reported, and whether the other clouds kept being served at home. */
export function clockTable(reports: readonly TrialReport[]): string {
  const rows = reports.flatMap((r) => (r.clock === undefined ? [] : [
    `| ${r.cloud} | +${r.clock.offsetMs} | ${r.clock.reportedAheadMs} | ${r.clock.othersAcknowledgedAtHome} / ${r.clock.othersSent} | ${r.longestGapMs} | ${r.rpo} | ${r.hashesAgree && r.check.ok ? 'ok' : 'FAILED'} |`,
  ]));
  return ['| skewed cloud | clock offset ms | ahead ms (status) | other clouds\' ops acknowledged at home, first attempt | longest gap ms | RPO | check |', '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

export function rtoTable(reports: readonly TrialReport[]): string {
  const rows = reports.filter((r) => r.kind !== 'clock').map((r) => `| ${r.kind} | ${r.cloud}${r.leader ? ' (leader)' : ''} | ${r.rtoMs} | ${r.refusingAfterMs ?? '-'} | ${r.longestGapMs} | ${r.catchUpMs} | ${r.acknowledged} | ${r.rpo} | ${r.hashesAgree && r.check.ok ? 'ok' : 'FAILED'} |`);
  return ['| outage | cloud | RTO ms | refusing after ms | longest gap ms | catch-up ms | acknowledged | RPO | check |', '|---|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}

/** min, median and max of some figures (the median of an even count is the lower middle one). */
function spread(values: readonly number[]): { n: number; min: number; median: number; max: number } | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, min: sorted[0]!, median: sorted[Math.floor((sorted.length - 1) / 2)]!, max: sorted.at(-1)! };
}

/**
 * The drill's figures as one JSON line: RTO over all outage trials, over leader kills (the etcd
 * leader's cloud killed), over the other kills and over partitions; and, for partitions, how soon
 * the cut node refused writes.
 */
export function rtoSummary(reports: readonly TrialReport[]): string {
  const outages = reports.filter((r) => r.kind !== 'clock');
  const rto = (keep: (r: TrialReport) => boolean): ReturnType<typeof spread> => spread(outages.filter(keep).map((r) => r.rtoMs));
  return JSON.stringify({
    drill: 'rto', trials: outages.length,
    rto_ms_all: rto(() => true),
    rto_ms_leader_killed: rto((r) => r.kind === 'kill' && r.leader),
    rto_ms_other_killed: rto((r) => r.kind === 'kill' && !r.leader),
    rto_ms_partition: rto((r) => r.kind === 'partition'),
    refusing_after_ms_partition: spread(outages.flatMap((r) => (typeof r.refusingAfterMs === 'number' ? [r.refusingAfterMs] : []))),
    refusing_after_cut_in_force_ms_partition: spread(outages.flatMap((r) => (typeof r.refusingAfterMs === 'number' ? [r.refusingAfterMs - (r.cutInForceAfterMs ?? 0)] : []))),
    partitions_never_refusing: outages.filter((r) => r.kind === 'partition' && r.refusingAfterMs === null).length,
    rpo_total: outages.reduce((sum, r) => sum + r.rpo, 0),
    checks_failed: outages.filter((r) => !(r.check.ok && r.hashesAgree)).length,
  });
}

/** Which cloud's etcd member leads now (asked of every member, in a loop bounded in time). */
async function leaderIndex(all: readonly CloudAddress[], timeoutMs: number): Promise<number> {
  let found = -1;
  await until('an etcd leader', timeoutMs, async () => {
    for (const [index, c] of all.entries()) {
      const client = new Etcd3({
        hosts: [c.etcdClientUrl], dialTimeout: 1_000, defaultCallOptions: () => ({ deadline: Date.now() + 1_000 }),
        faultHandling: { host: () => noop, global: noop },
      });
      try {
        const status = await client.maintenance.status();
        if (status.leader !== '0' && status.leader === status.header.member_id) found = index;
      } catch {
        // A member down or cut off: ask the next one.
      } finally {
        client.close();
      }
      if (found !== -1) return true;
    }
    return false;
  });
  return found;
}

/** ms from `from` to the first line at or after it in which the node says it is cut off; null if none. */
async function isolatedLoggedAfter(nodeLog: string, from: number): Promise<number | null> {
  const text = await readFile(nodeLog, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    if (!line.includes(ISOLATED_MESSAGE)) continue;
    try {
      const { time } = JSON.parse(line) as { time?: number };
      if (typeof time === 'number' && time >= from) return time - from;
    } catch {
      // Not a JSON log line.
    }
  }
  return null;
}
