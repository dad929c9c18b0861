// npm run bench:log — the replicated log's own capacity, without HTTP: the submitter is driven
// directly with pre-built commands (limit orders alternating buy and sell at one price, as
// bench/load.ts sends, so they trade), CONCURRENCY submissions in flight, one command each. Run
// once on the file journal (one replica) and once on a three-member etcd cluster on loopback with
// three replicas applying (the writer's own, and two in child processes, one per member, as the
// other clouds' nodes would). Reports commands/s committed and applied everywhere, records/s,
// commands per record and the acknowledgement latency (durable and applied by the writer's
// replica) p50/p99, and the CPU time per command of the writing process (its replica included)
// during the run, and with etcd of each other replica's process (mean) and of the three etcd
// members together, and the bytes stored per command, one JSON line. Usage: npm run bench:log [-- COMMANDS [CONCURRENCY [journal|etcd]]]
// (the third argument runs one log only, to profile it).

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import type { Command } from '../src/core/index.js';
import { EtcdLog, FileJournal, type CommandLog } from '../src/log/index.js';
import { MemoryProjections } from '../src/projections/index.js';
import { Replica, SnapshotStore, Submitter } from '../src/replica/index.js';
import { startEtcdCluster } from '../test/support/etcd-cluster.js';
import { orders, setup } from './log-workload.js';

const prefix = 'bench-log';
/** How long a child replica may take to start, and to apply the last record, at the most. */
const childStepMs = 120_000;
/** How long a child replica may take to exit once told to stop. */
const childStopMs = 5_000;

interface Run {
  readonly commands_per_s: number;
  readonly records_per_s: number;
  readonly commands_per_record: number;
  /** Bytes of the records as stored, per command (with etcd compressed, unless EVERBOOK_COMPRESS_RECORDS=false). */
  readonly bytes_per_command: number;
  readonly ack_p50_ms: number;
  readonly ack_p99_ms: number;
  readonly errors: number;
  /** CPU time (user + system) of this process during the run, per command: the writer and its replica. */
  readonly cpu_us_per_command: number;
}

/** CPU time (user + system) of this process since `since`, in microseconds. */
function cpuUsedUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

async function openReplica(log: CommandLog, dir: string): Promise<Replica> {
  const replica = new Replica({
    log, snapshots: new SnapshotStore(join(dir, 'snapshots')), checkpointEveryCommands: 1_000_000, compactLog: false,
    createProjections: (engine, saved) => (saved === undefined ? new MemoryProjections(engine) : MemoryProjections.fromJSON(engine, saved)),
    logger: pino({ level: 'silent' }), onFatal: (e) => { throw e; },
  });
  await replica.start();
  return replica;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Submits every command, `concurrency` at a time; resolves with the figures and the time it ended. */
async function drive(submitter: Submitter, cmds: readonly Command[], concurrency: number): Promise<{ run: Run; seconds: number; t0: number }> {
  const latencies = new Float64Array(cmds.length);
  let next = 0;
  let errors = 0;
  const records0 = submitter.records;
  const bytes0 = submitter.recordBytes;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < cmds.length) {
      const n = next++;
      const start = performance.now();
      try {
        const [result] = await submitter.submit([cmds[n]!]);
        if (result?.ok !== true) errors += 1;
      } catch {
        errors += 1;
      }
      latencies[n] = performance.now() - start;
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const cpuUs = cpuUsedUs(cpu0);
  const records = submitter.records - records0;
  const sorted = latencies.slice().sort();
  return {
    seconds, t0,
    run: {
      commands_per_s: Math.round(cmds.length / seconds), records_per_s: Math.round(records / seconds),
      commands_per_record: Math.round((cmds.length / Math.max(1, records)) * 10) / 10,
      bytes_per_command: Math.round(((submitter.recordBytes - bytes0) / cmds.length) * 10) / 10,
      ack_p50_ms: Math.round(percentile(sorted, 0.5) * 100) / 100, ack_p99_ms: Math.round(percentile(sorted, 0.99) * 100) / 100, errors,
      cpu_us_per_command: Math.round((cpuUs / cmds.length) * 10) / 10,
    },
  };
}

async function submitAll(submitter: Submitter, cmds: readonly Command[]): Promise<void> {
  for (const cmd of cmds) {
    const [result] = await submitter.submit([cmd]);
    if (result?.ok !== true) throw new Error(`setup: ${cmd.type} refused: ${JSON.stringify(result)}`);
  }
}

const submitterOptions = (concurrency: number, log: 'journal' | 'etcd'): ConstructorParameters<typeof Submitter>[2] => ({
  inFlightMax: concurrency, applyTimeoutMs: 30_000, commandTtlMs: 30_000, now: Date.now, cloud: 'bench',
  // As a node does by default (--compress-records, etcd only); EVERBOOK_COMPRESS_RECORDS=false to compare.
  compressRecords: log === 'etcd' && process.env.EVERBOOK_COMPRESS_RECORDS !== 'false',
});

async function journalRun(dir: string, cmds: readonly Command[], concurrency: number): Promise<Run> {
  const journal = await FileJournal.open(join(dir, 'journal'));
  const replica = await openReplica(journal, join(dir, 'journal-replica'));
  const submitter = new Submitter(journal, replica, submitterOptions(concurrency, 'journal'));
  await submitAll(submitter, setup());
  const { run } = await drive(submitter, cmds, concurrency);
  await replica.stop();
  await journal.close();
  return run;
}

/** CPU time (user + system) a process has used, in microseconds, from /proc (Linux); NaN where unreadable. */
function processCpuUs(pid: number | undefined): number {
  try {
    // The fields after the command name (which may hold spaces) start at its closing parenthesis.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    // utime and stime are fields 14 and 15 of the line, in clock ticks (100 a second on Linux).
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

/**
 * A replica in its own process, on its own member: prints "ready", then, given a position on
 * stdin, the ms it had applied it and the CPU time it used since "ready", in microseconds.
 */
function childReplica(endpoint: string, dir: string): { ready: Promise<void>; appliedAt: (position: number) => Promise<{ atMs: number; cpuUs: number }>; stop: () => Promise<void> } {
  // EVERBOOK_BENCH_REPLICA_NODE_ARGS: node options for the child replicas, e.g. "--cpu-prof" to profile them.
  const nodeArgs = (process.env.EVERBOOK_BENCH_REPLICA_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
  const child = spawn(process.execPath, [...nodeArgs, fileURLToPath(import.meta.url), 'replica', endpoint, dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiters: ((line: string) => void)[] = [];
  lines.on('line', (line) => { waiters.shift()?.(line); });
  const nextLine = (): Promise<string> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error('child replica did not answer in time')); }, childStepMs);
    waiters.push((line) => { clearTimeout(timer); resolve(line); });
  });
  return {
    ready: nextLine().then(() => undefined),
    appliedAt: (position) => {
      const line = nextLine();
      child.stdin.write(`${position}\n`);
      return line.then((text) => { const [atMs, cpuUs] = text.split(' ').map(Number); return { atMs: atMs!, cpuUs: cpuUs! }; });
    },
    // Its stdin closed, the child stops its replica and exits (so a profile it was asked for is
    // written); killed if it has not within childStopMs.
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
      child.stdin.end();
      const timer = setTimeout(() => { child.kill('SIGTERM'); }, childStopMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function etcdRun(dir: string, cmds: readonly Command[], concurrency: number): Promise<Run & { all_replicas_commands_per_s: number; other_replica_cpu_us_per_command: number; members_cpu_us_per_command: number }> {
  const cluster = await startEtcdCluster(3);
  const children: ReturnType<typeof childReplica>[] = [];
  try {
    const log = await EtcdLog.open({ hosts: [cluster.endpoints[0]!], prefix, writerId: `bench-${process.pid}` });
    const replica = await openReplica(log, join(dir, 'etcd-replica-0'));
    const submitter = new Submitter(log, replica, submitterOptions(concurrency, 'etcd'));
    await submitAll(submitter, setup());
    for (let i = 1; i < 3; i++) children.push(childReplica(cluster.endpoints[i]!, join(dir, `etcd-replica-${i}`)));
    await Promise.all(children.map((c) => c.ready));
    const membersCpu = (): number => cluster.members.reduce((sum, m) => sum + processCpuUs(m.process?.pid), 0);
    const membersCpu0 = membersCpu();
    const wallT0 = Date.now();
    const { run, seconds } = await drive(submitter, cmds, concurrency);
    const last = replica.appliedPosition;
    const applied = await Promise.all(children.map((c) => c.appliedAt(last)));
    const membersCpuUs = membersCpu() - membersCpu0;
    const allSeconds = Math.max(seconds, ...applied.map((a) => (a.atMs - wallT0) / 1000));
    await replica.stop();
    await log.close();
    // The setup commands were applied before "ready"; what the children used since is the run's.
    const childCpuUs = applied.reduce((sum, a) => sum + a.cpuUs, 0) / applied.length;
    return {
      ...run, all_replicas_commands_per_s: Math.round(cmds.length / allSeconds),
      other_replica_cpu_us_per_command: Math.round((childCpuUs / cmds.length) * 10) / 10,
      // The three members together, from the run's start until the last replica had applied it.
      members_cpu_us_per_command: Math.round((membersCpuUs / cmds.length) * 10) / 10,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await cluster.stop();
  }
}

/** The child: a replica tailing the log on one member. */
async function replicaMain(endpoint: string, dir: string): Promise<void> {
  const log = await EtcdLog.open({ hosts: [endpoint], prefix, writerId: `bench-replica-${process.pid}` });
  const replica = await openReplica(log, dir);
  const cpu0 = process.cpuUsage();
  process.stdout.write('ready\n');
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    const position = Number(line);
    const deadline = Date.now() + childStepMs;
    // Polled every millisecond, not every turn of the loop, so waiting does not burn the CPU it measures.
    while (replica.appliedPosition < position && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    process.stdout.write(`${Date.now()} ${cpuUsedUs(cpu0)}\n`);
  }
  await replica.stop();
  await log.close();
}

if (process.argv[2] === 'replica') {
  await replicaMain(process.argv[3]!, process.argv[4]!);
} else {
  const count = Number(process.argv[2] ?? 100_000);
  const concurrency = Number(process.argv[3] ?? 10_000);
  const cmds = orders(count);
  const dir = await mkdtemp(join(tmpdir(), 'everbook-bench-log-'));
  try {
    const only = process.argv[4];
    const journal = only === 'etcd' ? null : await journalRun(dir, cmds, concurrency);
    console.error(`journal ${JSON.stringify(journal)}`);
    const etcd = only === 'journal' ? null : await etcdRun(dir, cmds, concurrency);
    console.error(`etcd    ${JSON.stringify(etcd)}`);
    console.log(JSON.stringify({
      bench: 'log', commands: count, concurrency,
      ...Object.fromEntries(Object.entries(journal ?? {}).map(([k, v]) => [`journal_${k}`, v])),
      ...Object.fromEntries(Object.entries(etcd ?? {}).map(([k, v]) => [`etcd_${k}`, v])),
      ...(journal !== null && etcd !== null && {
        etcd_vs_journal: Math.round((etcd.all_replicas_commands_per_s / journal.commands_per_s) * 100) / 100,
      }),
    }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
