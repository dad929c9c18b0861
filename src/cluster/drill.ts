// Outage drills: while clients attached to every cloud send orders, cancels, deposits and
// withdrawal requests, take one whole cloud out (SIGKILL of all its processes, or, with
// namespaces, a network partition that leaves its processes and its clients running and
// trying), heal it, let it catch up, and check the result. Reports, per trial, the RTO (outage
// to the first acknowledgement at a surviving cloud; and the longest gap any client outside the
// cut saw), the RPO (acknowledged operations lost: must be 0) and the healed cloud's catch-up.

import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { EtcdLog } from '../log/index.js';
import { checkLog, type CheckReport } from './checker.js';
import type { Credentials } from './client.js';
import type { DrillAck, DrillClientConfig } from './drill-client.js';
import { alive, nodeServing, saveClusterState, startEtcd, startNodeProcess, waitFor, type ClusterState } from './launcher.js';
import { netnsPrefix, setCloudLink } from './netns.js';
import { addresses, networkTag, type CloudAddress } from './topology.js';

const drillClientPath = join(dirname(fileURLToPath(import.meta.url)), 'drill-client.js');

export type OutageKind = 'kill' | 'partition';

export interface DrillOptions {
  readonly trials: readonly { readonly cloud: string; readonly kind: OutageKind }[];
  /** How long the cloud stays out. */
  readonly outageMs: number;
  readonly workersPerCloud: number;
  /** Bounds on everything the drill waits for. */
  readonly stepTimeoutMs: number;
  readonly log?: (line: string) => void;
}

export interface TrialReport {
  readonly cloud: string;
  readonly kind: OutageKind;
  /** Outage start to the first acknowledged operation at a surviving cloud. */
  readonly rtoMs: number;
  /** The longest time any client outside the cut cloud went without an acknowledgement. */
  readonly longestGapMs: number;
  /** Heal to the healed cloud's replica serving at the others' position. */
  readonly catchUpMs: number;
  readonly acknowledged: number;
  readonly failedOps: number;
  readonly check: CheckReport;
  readonly hashesAgree: boolean;
  readonly rpo: number;
}

interface NodeStatusReply { state: string; appliedPosition: number }

async function adminGet<T>(c: CloudAddress, token: string, path: string): Promise<T | undefined> {
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

function startClients(all: CloudAddress[], tokens: string[], traders: (Credentials & { userId: number })[], workers: number, acks: DrillAck[]): ChildProcess[] {
  return all.map((c, i) => {
    const order = [i, ...all.map((_, j) => j).filter((j) => j !== i)];
    const config: DrillClientConfig = {
      cloud: c.cloud.name, endpoints: order.map((j) => all[j]!.apiUrl), adminTokens: order.map((j) => tokens[j]!),
      traders, workers, opsMax: 1_000_000, durationMs: 10 * 60_000,
    };
    // Inside the cloud's namespace when there is one: cut with it, it keeps trying its own gateway.
    const cmd = [...netnsPrefix(c), process.execPath, drillClientPath, JSON.stringify(config)];
    const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: child.stdout }).on('line', (line) => {
      try { acks.push(JSON.parse(line) as DrillAck); } catch { /* not a result line */ }
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

/** Waits until every node serves at one and the same position, then compares their state hashes. */
async function quiesce(all: CloudAddress[], tokens: string[], timeoutMs: number): Promise<{ position: number; hashes: string[] }> {
  let position = -1;
  await until('every replica at the same position', timeoutMs, async () => {
    const statuses = await Promise.all(all.map((c, i) => adminGet<NodeStatusReply>(c, tokens[i]!, '/status')));
    if (statuses.some((s) => s?.state !== 'serving')) return false;
    const positions = new Set(statuses.map((s) => s!.appliedPosition));
    position = statuses[0]!.appliedPosition;
    return positions.size === 1;
  });
  const hashes = await Promise.all(all.map(async (c, i) => (await adminGet<{ stateHash: string; position: number }>(c, tokens[i]!, '/state-hash'))?.stateHash ?? 'unreachable'));
  return { position, hashes };
}

export async function runDrill(state: ClusterState, options: DrillOptions): Promise<TrialReport[]> {
  const say = options.log ?? ((): void => undefined);
  const all = addresses(state.topology, state.namespaces);
  const traders = await devTraders(state);
  const tokens = await adminTokens(state);
  const reports: TrialReport[] = [];
  for (const trial of options.trials) {
    const index = all.findIndex((c) => c.cloud.name === trial.cloud);
    if (index === -1) throw new Error(`no cloud ${trial.cloud} in the topology`);
    if (trial.kind === 'partition' && !state.namespaces) throw new Error('a partition needs network namespaces (run as root)');
    const cut = all[index]!;
    const acks: DrillAck[] = [];
    const clients = startClients(all, tokens, traders, options.workersPerCloud, acks);
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
      say(`${trial.kind} ${cut.cloud.name} at ${new Date(t0).toISOString()}`);
      const survivors = new Set(all.filter((c) => c !== cut).map((c) => c.apiUrl));
      // RTO: to the first acknowledgement, at a surviving cloud, of an operation sent after the outage began.
      const recovered = (a: DrillAck): boolean => a.ok && a.s >= t0 && survivors.has(a.endpoint);
      await until('an acknowledgement at a surviving cloud', options.stepTimeoutMs, () => acks.some(recovered));
      const rtoMs = Math.min(...acks.filter(recovered).map((a) => a.t)) - t0;
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + options.outageMs - Date.now())));

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
      await until(`${cut.cloud.name} serving again`, options.stepTimeoutMs, () => nodeServing(cut));
      await until(`${cut.cloud.name} caught up`, options.stepTimeoutMs, async () => {
        const statuses = await Promise.all(all.map((c, i) => adminGet<NodeStatusReply>(c, tokens[i]!, '/status')));
        const healed = statuses[index];
        const others = statuses.filter((_, i) => i !== index).map((s) => s?.appliedPosition ?? 0);
        return healed?.state === 'serving' && healed.appliedPosition >= Math.min(...others);
      });
      const catchUpMs = Date.now() - tHeal;
      say(`${cut.cloud.name} healed and caught up in ${catchUpMs} ms`);
      await stopClients(clients);

      // Check: replicas agree, and the log holds exactly what was acknowledged.
      const { hashes } = await quiesce(all, tokens, options.stepTimeoutMs);
      const endpoints = all.map((c) => c.etcdClientUrl);
      const log = await EtcdLog.open({ hosts: endpoints, prefix: 'everbook', writerId: `drill-checker-${String(process.pid)}-${String(Date.now())}` });
      let check: CheckReport;
      try {
        check = await checkLog(log, acks);
      } finally {
        await log.close();
      }
      const hashesAgree = hashes.every((h) => h === check.replayHash);
      let longestGapMs = 0;
      for (const c of all.filter((a) => a !== cut)) {
        for (let w = 0; w < options.workersPerCloud; w++) {
          const times = acks.filter((a) => a.cloud === c.cloud.name && a.worker === w && a.ok).map((a) => a.t).sort((a, b) => a - b);
          for (let i = 1; i < times.length; i++) longestGapMs = Math.max(longestGapMs, times[i]! - times[i - 1]!);
        }
      }
      const report: TrialReport = {
        cloud: cut.cloud.name, kind: trial.kind, rtoMs, longestGapMs, catchUpMs,
        acknowledged: acks.filter((a) => a.ok).length, failedOps: acks.filter((a) => !a.ok).length,
        check, hashesAgree, rpo: check.lost.length,
      };
      reports.push(report);
      say(`trial ${trial.kind} ${cut.cloud.name}: RTO ${rtoMs} ms, longest gap ${longestGapMs} ms, catch-up ${catchUpMs} ms, ${report.acknowledged} acknowledged, RPO ${report.rpo}, hashes ${hashesAgree ? 'agree' : 'DIFFER'}, check ${check.ok ? 'ok' : 'FAILED'}`);
    } finally {
      await stopClients(clients);
      if (trial.kind === 'partition') await setCloudLink(networkTag(state.topology), index, true).catch(() => undefined);
    }
  }
  return reports;
}

export function rtoTable(reports: readonly TrialReport[]): string {
  const rows = reports.map((r) => `| ${r.kind} | ${r.cloud} | ${r.rtoMs} | ${r.longestGapMs} | ${r.catchUpMs} | ${r.acknowledged} | ${r.rpo} | ${r.hashesAgree && r.check.ok ? 'ok' : 'FAILED'} |`);
  return ['| outage | cloud | RTO ms | longest gap ms | catch-up ms | acknowledged | RPO | check |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n');
}
