// What a node does with its peers, through etcd beside the log: publishes a heartbeat (where its
// replica is), publishes every checkpoint hash and compares it with the other clouds' hashes at
// the same position (a replica in the minority stops serving: it diverged), compacts the shared
// log once every live replica has a snapshot past a position, and fetches a verified snapshot
// from a peer when its own is behind the compacted log.

import { request } from 'node:http';
import { noop } from 'cockatiel';
import { Etcd3, Range } from 'etcd3';
import type { Logger } from 'pino';
import type { CommandLog } from '../log/index.js';
import { decodeSnapshotFile, type Replica, type ReplicaCheckpoint, type SnapshotParts } from '../replica/index.js';

export interface CoordinatorOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly cloud: string;
  /** Where peers reach this node's internal routes. */
  readonly apiUrl: string;
  /** Shared by the nodes of one deployment: guards the internal routes (snapshots hold API secrets). */
  readonly clusterToken: string;
  readonly logger: Logger;
  /** How often the heartbeat is written, and how old one may be for its replica to count as live. */
  readonly heartbeatMs: number;
  readonly liveMs: number;
  /** Per-call deadline for etcd calls made here. */
  readonly callTimeoutMs: number;
  /** Compact the shared log behind the live replicas' snapshots (checked on every heartbeat). */
  readonly compact: boolean;
  /**
   * With nothing through to a quorum for this long (no heartbeat, probe or log append sent since
   * then has been answered), the node counts as cut off.
   */
  readonly isolatedAfterMs: number;
  /** How often a quorum probe (a linearizable read on this cloud's own member) is sent. */
  readonly probeMs: number;
}

/** Logged when the node finds itself cut off (the drill looks for it in the node's log). */
export const ISOLATED_MESSAGE = 'cut off from the etcd quorum: refusing writes (50001) until it answers again';

/** Quorum probes unanswered at once, at most (each ends by its deadline, isolatedAfterMs). */
const PROBES_OUTSTANDING_MAX = 16;

export interface ReplicaHeartbeat {
  readonly cloud: string;
  readonly apiUrl: string;
  readonly state: string;
  readonly appliedPosition: number;
  readonly checkpoint: ReplicaCheckpoint;
  /** The newest snapshot taken at a checkpoint: compaction waits for it, peers fetch it. */
  readonly snapshot: ReplicaCheckpoint;
  readonly ts: number;
}

/** This replica's checkpoints still being compared (until every cloud has published). */
const PENDING_CHECKPOINTS_MAX = 64;
/** Log positions of checkpoint records kept in etcd behind the oldest live snapshot. */
const CHECKPOINT_POSITIONS_KEPT_BEHIND = 100_000;
/** Snapshot bytes a peer may send at the most. */
const SNAPSHOT_BYTES_MAX = 2 * 1024 ** 3;

const pad = (n: number): string => String(n).padStart(20, '0');

export class Coordinator {
  private readonly client: Etcd3;
  /** Talks to this cloud's member only: what the log talks to, so what decides whether this node can write. */
  private readonly probeClient: Etcd3;
  private timer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probesOutstanding = 0;
  /** isolated() as the last probe tick saw it, so that each change is logged once. */
  private wasIsolated = false;
  private replica: Replica | undefined;
  private log: CommandLog | undefined;
  /** My recent checkpoints, re-compared on each heartbeat until every cloud has published. */
  private readonly pending: ReplicaCheckpoint[] = [];
  peers: ReplicaHeartbeat[] = [];
  /**
   * The send time of the newest call a quorum answered (heartbeat, probe, log append): the
   * cluster was reachable at or after it. Send times, not answer times, so that a call that
   * hung and then completed cannot make contact look fresher than it was.
   */
  private lastContactMs = Date.now();

  constructor(private readonly options: CoordinatorOptions) {
    this.client = new Etcd3({
      hosts: [...options.endpoints],
      dialTimeout: options.callTimeoutMs,
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
      // No circuit breaker: its 5 s open state would hide a failover that etcd finishes in 1-2 s.
      faultHandling: { host: () => noop },
    });
    this.probeClient = new Etcd3({
      hosts: options.endpoints.slice(0, 1),
      dialTimeout: options.isolatedAfterMs,
      defaultCallOptions: () => ({ deadline: Date.now() + options.isolatedAfterMs }),
      // The probe is repeated on its own schedule: no retries, no circuit breaker.
      faultHandling: { host: () => noop, global: noop },
    });
  }

  private key(...parts: string[]): string {
    return [this.options.prefix, ...parts].join('/');
  }

  attach(replica: Replica, log: CommandLog): void {
    this.replica = replica;
    this.log = log;
    this.timer = setInterval(() => { void this.heartbeat(); }, this.options.heartbeatMs);
    this.timer.unref();
    this.probeTimer = setInterval(() => { this.probe(); }, this.options.probeMs);
    this.probeTimer.unref();
  }

  /** Counts a call the quorum answered, by the time it was sent. */
  noteContact(sentAtMs: number): void {
    if (sentAtMs > this.lastContactMs) this.lastContactMs = sentAtMs;
  }

  /**
   * A linearizable read of one key: etcd answers it only after its leader has confirmed, with a
   * quorum, that it still leads, so an answer proves this cloud reaches a quorum.
   */
  private probe(): void {
    this.logIsolation();
    if (this.probesOutstanding >= PROBES_OUTSTANDING_MAX) return;
    this.probesOutstanding += 1;
    const sentAtMs = Date.now();
    this.probeClient.kv.range({ key: Buffer.from(this.key('probe')), count_only: true }).then(
      () => { this.noteContact(sentAtMs); },
      () => undefined,
    ).finally(() => { this.probesOutstanding -= 1; });
  }

  async heartbeat(): Promise<void> {
    const r = this.replica;
    if (r === undefined) return;
    const beat: ReplicaHeartbeat = {
      cloud: this.options.cloud, apiUrl: this.options.apiUrl, state: r.state, appliedPosition: r.appliedPosition,
      checkpoint: r.lastCheckpoint, snapshot: r.lastCheckpointSnapshot, ts: Date.now(),
    };
    try {
      // Not counted as quorum contact: this client spreads calls over every cloud's member, so
      // a put may succeed through another cloud while this cloud's own member (the only one the
      // log writes through) is gone. Only the probe and the log's appends count.
      await this.client.put(this.key('replicas', this.options.cloud)).value(JSON.stringify(beat));
      this.peers = await this.replicas();
      // Re-published too: a put that failed earlier (etcd unreachable) must not skip the comparison.
      for (const cp of [...this.pending]) {
        await this.putCheckpoint(cp);
        await this.compare(cp);
      }
      if (this.options.compact) await this.compact();
    } catch (e) {
      this.options.logger.warn({ err: (e as Error).message }, 'cluster heartbeat failed (etcd unreachable from this cloud?)');
    }
  }

  /**
   * True when nothing sent in the last `isolatedAfterMs` has been answered by a quorum: this
   * cloud is cut off, its replica may be behind, and its gateway should serve nothing rather than
   * stale state (new writes get 50001 at once, and the clients go to another cloud). Probes go
   * out every probeMs, so a healthy node always has an answered one within a few milliseconds.
   */
  isolated(): boolean {
    return Date.now() - this.lastContactMs > this.options.isolatedAfterMs;
  }

  /** Logs each change of isolated() (checked every probeMs, so the line may lag the change by that). */
  private logIsolation(): void {
    const isolated = this.isolated();
    if (isolated === this.wasIsolated) return;
    this.wasIsolated = isolated;
    if (isolated) {
      this.options.logger.error({ lastContactMs: this.lastContactMs }, ISOLATED_MESSAGE);
    } else {
      this.options.logger.warn('in contact with the etcd quorum again: taking writes');
    }
  }

  async replicas(): Promise<ReplicaHeartbeat[]> {
    const rows = await this.client.getAll().prefix(this.key('replicas', '')).strings();
    return Object.values(rows).map((v) => JSON.parse(v) as ReplicaHeartbeat);
  }

  /** Publishes a checkpoint and compares it with the other clouds' hashes at that position. */
  async publish(cp: ReplicaCheckpoint): Promise<void> {
    this.pending.push(cp);
    if (this.pending.length > PENDING_CHECKPOINTS_MAX) this.pending.shift();
    try {
      await this.putCheckpoint(cp);
      await this.compare(cp);
    } catch (e) {
      this.options.logger.warn({ err: (e as Error).message, position: cp.position }, 'could not publish a checkpoint; it is compared on a later heartbeat');
    }
  }

  /**
   * A replica stops when more clouds disagree with its hash than agree with it (itself
   * included). With a tie it only warns, and compares again on each heartbeat until every
   * cloud has published.
   */
  private async putCheckpoint(cp: ReplicaCheckpoint): Promise<void> {
    await this.client.put(this.key('checkpoints', pad(cp.position), this.options.cloud)).value(`${cp.seq}:${cp.stateHash}`);
  }

  private async compare(cp: ReplicaCheckpoint): Promise<void> {
    const rows = await this.client.getAll().prefix(this.key('checkpoints', pad(cp.position), '')).strings();
    const mine = `${cp.seq}:${cp.stateHash}`;
    let agree = 1; // this replica itself
    let differ = 0;
    const others: string[] = [];
    for (const [key, value] of Object.entries(rows)) {
      const cloud = key.slice(key.lastIndexOf('/') + 1);
      if (cloud === this.options.cloud) continue;
      others.push(`${cloud}=${value}`);
      if (value === mine) agree += 1;
      else differ += 1;
    }
    if (differ > agree) {
      this.replica?.diverge(`state hash at position ${cp.position} is ${mine}; peers: ${others.join(', ')}`);
    } else if (differ > 0) {
      this.options.logger.error({ position: cp.position, mine, others }, 'a peer replica disagrees at this checkpoint');
    }
    const clouds = this.peers.length;
    if (agree + differ >= clouds && clouds > 0) {
      const i = this.pending.indexOf(cp);
      if (i !== -1) this.pending.splice(i, 1);
    }
  }

  /**
   * After a snapshot, and on every heartbeat: drops the shared log behind the oldest snapshot
   * among live replicas (every live replica can restart from its own snapshot; one that was
   * down fetches a peer's).
   */
  async compact(): Promise<void> {
    if (this.log === undefined) return;
    try {
      // This replica's own snapshot is read fresh; the others' come from their heartbeats.
      const live = (await this.replicas()).filter((r) => r.cloud !== this.options.cloud && Date.now() - r.ts <= this.options.liveMs && r.state === 'serving');
      const own = this.replica?.lastCheckpointSnapshot.position ?? 0;
      const oldest = Math.min(own, ...live.map((r) => r.snapshot.position));
      if (oldest <= 0 || oldest + 1 <= this.log.bounds().first) return;
      await this.log.dropBefore(oldest + 1);
      const keepFrom = Math.max(0, oldest - CHECKPOINT_POSITIONS_KEPT_BEHIND);
      await this.client.delete().range(new Range(this.key('checkpoints', ''), this.key('checkpoints', pad(keepFrom))));
    } catch (e) {
      this.options.logger.warn({ err: (e as Error).message }, 'log compaction skipped');
    }
  }

  /**
   * Fetches the newest snapshot a peer has, and accepts it only if its hash equals the hash
   * that peer and at least one other cloud published for that position (when another cloud
   * published one at all).
   */
  async fetchPeerSnapshot(): Promise<SnapshotParts> {
    const peers = (await this.replicas())
      .filter((r) => r.cloud !== this.options.cloud && r.snapshot.position > 0)
      .sort((a, b) => b.snapshot.position - a.snapshot.position);
    const errors: string[] = [];
    for (const peer of peers) {
      try {
        const parts = decodeSnapshotFile(await this.download(`${peer.apiUrl}/internal/v1/snapshot`));
        const rows = await this.client.getAll().prefix(this.key('checkpoints', pad(parts.position), '')).strings();
        const published = Object.entries(rows).map(([k, v]) => [k.slice(k.lastIndexOf('/') + 1), v] as const);
        const expected = `${parts.seq}:${parts.stateHash}`;
        const vouching = published.filter(([, v]) => v === expected).map(([c]) => c);
        const disputing = published.filter(([, v]) => v !== expected).map(([c]) => c);
        // The source itself, and at least one other cloud whenever another published; no tie.
        const others = vouching.filter((c) => c !== peer.cloud);
        const othersPublished = published.some(([c]) => c !== peer.cloud);
        if (!vouching.includes(peer.cloud) || (othersPublished && others.length === 0) || disputing.length >= vouching.length) {
          throw new Error(`snapshot at ${parts.position} from ${peer.cloud} is not vouched for (agree: ${vouching.join(',')}; disagree: ${disputing.join(',')})`);
        }
        this.options.logger.info({ from: peer.cloud, position: parts.position, vouching }, 'fetched a verified peer snapshot');
        return parts;
      } catch (e) {
        errors.push(`${peer.cloud}: ${(e as Error).message}`);
      }
    }
    throw new Error(`no peer could provide a verified snapshot (${errors.join('; ') || 'no peer has one'})`);
  }

  private download(url: string): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const req = request(url, { headers: { authorization: `Bearer ${this.options.clusterToken}` }, timeout: 30_000 }, (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          reject(new Error(`HTTP ${String(res.statusCode)} from ${url}`));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > SNAPSHOT_BYTES_MAX) req.destroy(new Error('snapshot too large'));
          chunks.push(c);
        });
        res.on('end', () => { resolve(Buffer.concat(chunks)); });
        res.on('error', reject);
      });
      req.on('timeout', () => { req.destroy(new Error(`timed out fetching ${url}`)); });
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.probeTimer !== undefined) clearInterval(this.probeTimer);
    this.client.close();
    this.probeClient.close();
  }
}
