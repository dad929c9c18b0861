// The drill's streaming clients: during each outage trial, stream clients attached to every
// cloud (each preferring its own, failing over to the next) follow the `books` and `trades`
// channels and check every push independently (BookChecker: chain and recomputed checksum).
// All of them record the book they hold at each seqId in one ledger, so a book at seqId S seen on
// two clouds is compared. After the trial, at a quiet point (load stopped, replicas at one
// position), every client's book, from whichever cloud it ended on, must equal every other
// client's and every cloud's REST book. The report counts what was verified.

import { bookDigest, SeqIdLedger, TradeLedger, type FailureKind, type Level } from './book-checker.js';
import { StreamClient, publicWsUrl, type StreamStats } from './stream-client.js';
import type { CloudAddress } from './topology.js';
import { waitFor } from './launcher.js';

export interface StreamDrillOptions {
  /** Stream clients attached to each cloud (each prefers its own cloud). */
  readonly clientsPerCloud: number;
  /** Instruments each client follows; the drill's load trades ETH-USDT. */
  readonly instIds?: readonly string[];
  /**
   * Keep the cloud out (and the load flowing) until the clients together have verified this many
   * updates, so a trial checks a known amount of stream across the failover whatever the
   * machine's speed (bounded by the drill's step timeout).
   */
  readonly updatesMin?: number;
}

/** Liveness: a silent connection (a partitioned cloud sends nothing) is dropped after this. */
export const STREAM_PING_MS = 1_000;
export const STREAM_SILENCE_MS = 3_000;
const STREAM_CONNECT_TIMEOUT_MS = 2_000;
/** Connections one client may open in one trial before it gives up and says so. */
const STREAM_RECONNECTS_MAX = 200;
/** At a quiet point the books agree within moments; past this bound (or the drill's step bound) it is a finding. */
const STREAM_CONVERGE_TIMEOUT_MS = 60_000;
/** REST depth read to compare books: OKX books depth. */
const BOOK_DEPTH = 400;

export interface StreamTrialReport {
  readonly clients: number;
  readonly updatesVerified: number;
  readonly snapshots: number;
  readonly checksumsVerified: number;
  readonly reconnects: number;
  readonly resyncs: number;
  /** Checker failures by kind, over every client and connection: all must be 0. */
  readonly failureCounts: Record<FailureKind, number>;
  readonly failures: number;
  /** Observations of a seqId another connection had seen, and how many held another book. */
  readonly seqIdsCompared: number;
  /** Of the seqIds compared, those first seen on another cloud: two clouds' streams held to one book. */
  readonly seqIdsComparedAcrossClouds: number;
  readonly seqIdConflicts: number;
  readonly trades: number;
  readonly tradesCompared: number;
  readonly tradeConflicts: number;
  readonly tradeOrderViolations: number;
  /** At the quiet point: every client's book equals every other client's and every cloud's REST book. */
  readonly converged: boolean;
  /**
   * The seqIds each instrument's books converged at, one per cloud the clients ended on. Clouds
   * may differ here with the same book: each hub diffs when its own drain runs, so one cloud's
   * last update may carry a later seqId than another's for the same change (commands that left
   * the book alone move the seq on). At any one seqId the books agree (the ledger).
   */
  readonly convergedSeqIds: Record<string, readonly number[]>;
  readonly convergeMs: number;
  /** The cloud each client ended on. */
  readonly endedOn: Record<string, string>;
  /** Everything that went wrong, in words (empty when ok). */
  readonly problems: readonly string[];
  readonly ok: boolean;
}

interface RestBook { data?: { bids?: string[][]; asks?: string[][] }[] }

async function restBook(c: CloudAddress, instId: string): Promise<string | undefined> {
  try {
    const r = await fetch(`${c.apiUrl}/api/v5/market/books?instId=${instId}&sz=${BOOK_DEPTH}`, { signal: AbortSignal.timeout(2_000) });
    if (r.status !== 200) return undefined;
    const book = ((await r.json()) as RestBook).data?.[0];
    if (book === undefined) return undefined;
    const side = (rows: string[][] | undefined): Level[] => (rows ?? []).map((row) => ({ px: row[0] ?? '', sz: row[1] ?? '' }));
    return bookDigest(side(book.bids), side(book.asks));
  } catch {
    return undefined;
  }
}

export class StreamDrill {
  private readonly ledger = new SeqIdLedger();
  private readonly tradeLedger = new TradeLedger();
  readonly clients: StreamClient[] = [];
  readonly instIds: readonly string[];

  private constructor(all: readonly CloudAddress[], private readonly options: StreamDrillOptions, private readonly log: (line: string) => void) {
    this.instIds = options.instIds ?? ['ETH-USDT', 'BTC-USDT'];
    all.forEach((c, i) => {
      const urls = [i, ...all.map((_, j) => j).filter((j) => j !== i)].map((j) => publicWsUrl(all[j]!.apiUrl));
      for (let k = 0; k < options.clientsPerCloud; k++) {
        this.clients.push(new StreamClient({
          name: `${c.cloud.name}/${k}`, urls, instIds: this.instIds, trades: true,
          pingMs: STREAM_PING_MS, silenceMs: STREAM_SILENCE_MS, connectTimeoutMs: STREAM_CONNECT_TIMEOUT_MS,
          reconnectsMax: STREAM_RECONNECTS_MAX, ledger: this.ledger, tradeLedger: this.tradeLedger, log,
        }));
      }
    });
  }

  /** Starts the clients and waits until each holds a synchronised book of every instrument. */
  static async start(all: readonly CloudAddress[], options: StreamDrillOptions, timeoutMs: number, log: (line: string) => void): Promise<StreamDrill> {
    const drill = new StreamDrill(all, options, log);
    for (const c of drill.clients) c.start();
    try {
      await waitFor('drill: every stream client holds a synchronised book', () => Promise.resolve(drill.allSynced()), timeoutMs);
    } catch (e) {
      await drill.close();
      const stats = drill.clients.map((c) => c.stats());
      throw new Error(`${(e as Error).message}: ${JSON.stringify(stats.map((s) => ({ name: s.name, url: s.url, snapshots: s.snapshots, errors: s.errorEvents })))}`, { cause: e });
    }
    return drill;
  }

  /** The updates every client verified, together. */
  get updatesVerified(): number {
    return this.clients.reduce((a, c) => a + c.stats().updatesVerified, 0);
  }

  /** Waits until the clients together verified options.updatesMin updates (if set). */
  async untilVerified(timeoutMs: number): Promise<void> {
    const min = this.options.updatesMin ?? 0;
    await waitFor(`drill: stream clients verified ${min} updates`, () => Promise.resolve(this.updatesVerified >= min), timeoutMs);
  }

  private allSynced(): boolean {
    return this.clients.every((c) => this.instIds.every((i) => c.book(i) !== undefined));
  }

  /**
   * At a quiet point: waits (bounded) until every client's book equals the others' and every
   * cloud's REST book, then reports. A timeout is a finding (converged false, with the
   * differences), not an exception.
   */
  async settle(all: readonly CloudAddress[], timeoutMs: number): Promise<StreamTrialReport> {
    const t0 = Date.now();
    let differences: string[] = [];
    const convergedSeqIds: Record<string, number[]> = {};
    const converged = async (): Promise<boolean> => {
      differences = [];
      for (const instId of this.instIds) {
        const rest = await Promise.all(all.map((c) => restBook(c, instId)));
        const books = this.clients.map((c) => ({ name: c.options.name, book: c.book(instId) }));
        const digests = new Set<string>();
        // Clients on one cloud follow one hub's mirror: they must be at one seqId.
        const seqIdsByUrl = new Map<string, Set<number>>();
        for (const { name, book } of books) {
          if (book === undefined) { differences.push(`${name} holds no synchronised ${instId} book`); continue; }
          digests.add(bookDigest(book.bids, book.asks));
          seqIdsByUrl.set(book.url, (seqIdsByUrl.get(book.url) ?? new Set()).add(book.seqId));
        }
        rest.forEach((d, i) => {
          if (d === undefined) differences.push(`${all[i]!.cloud.name} REST book of ${instId} unreadable`);
          else digests.add(d);
        });
        if (digests.size > 1) differences.push(`${instId}: ${digests.size} different books among clients and REST`);
        for (const [url, seqIds] of seqIdsByUrl) if (seqIds.size > 1) differences.push(`${instId}: clients on ${url} at seqIds ${[...seqIds].join(', ')}`);
        convergedSeqIds[instId] = [...new Set([...seqIdsByUrl.values()].flatMap((v) => [...v]))].sort((a, b) => a - b);
      }
      return differences.length === 0;
    };
    let ok = true;
    try {
      await waitFor('drill: stream books converge', converged, Math.min(timeoutMs, STREAM_CONVERGE_TIMEOUT_MS));
    } catch {
      ok = false;
    }
    const convergeMs = Date.now() - t0;
    const stats = this.clients.map((c) => c.stats());
    const report = this.report(stats, ok, convergedSeqIds, convergeMs, differences);
    this.log(`streams: ${report.clients} clients, ${report.updatesVerified} updates verified, ${report.reconnects} reconnects, ${report.failures} failures, `
      + `${report.seqIdsCompared} seqIds compared (${report.seqIdsComparedAcrossClouds} across clouds, ${report.seqIdConflicts} conflicts), books ${report.converged ? `converged in ${convergeMs} ms` : 'NOT converged'}${report.ok ? '' : `: ${report.problems.slice(0, 5).join('; ')}`}`);
    return report;
  }

  private report(stats: StreamStats[], converged: boolean, convergedSeqIds: Record<string, readonly number[]>, convergeMs: number, differences: string[]): StreamTrialReport {
    const failureCounts: Record<FailureKind, number> = { chain: 0, seq_regress: 0, checksum: 0, update_before_snapshot: 0, unknown_level_deleted: 0, malformed: 0 };
    for (const s of stats) for (const k of Object.keys(failureCounts) as FailureKind[]) failureCounts[k] += s.failureCounts[k];
    const failures = Object.values(failureCounts).reduce((a, b) => a + b, 0);
    const tradeOrderViolations = stats.reduce((a, s) => a + s.tradeOrderViolations, 0);
    const problems = [
      ...(converged ? [] : differences.map((d) => `not converged: ${d}`)),
      ...stats.flatMap((s) => s.failures.map((f) => `${s.name}: ${f.kind} ${f.instId} @${f.seqId}: ${f.detail}`)),
      ...stats.flatMap((s) => s.errorEvents.map((e) => `${s.name}: error event ${e}`)),
      ...stats.filter((s) => s.stopped !== '').map((s) => `${s.name}: ${s.stopped}`),
      ...this.ledger.conflicts, ...this.tradeLedger.conflicts,
      ...(tradeOrderViolations > 0 ? [`${tradeOrderViolations} trades out of tradeId order on a connection`] : []),
    ];
    const updatesVerified = stats.reduce((a, s) => a + s.updatesVerified, 0);
    return {
      clients: stats.length, updatesVerified, snapshots: stats.reduce((a, s) => a + s.snapshots, 0),
      checksumsVerified: stats.reduce((a, s) => a + s.checksumsVerified, 0),
      reconnects: stats.reduce((a, s) => a + s.reconnects, 0), resyncs: stats.reduce((a, s) => a + s.resyncs, 0),
      failureCounts, failures, seqIdsCompared: this.ledger.matched, seqIdsComparedAcrossClouds: this.ledger.matchedAcrossOrigins, seqIdConflicts: this.ledger.conflictCount,
      trades: this.tradeLedger.seen, tradesCompared: this.tradeLedger.matched, tradeConflicts: this.tradeLedger.conflictCount, tradeOrderViolations,
      converged, convergedSeqIds, convergeMs,
      endedOn: Object.fromEntries(stats.map((s) => [s.name, s.url])),
      problems: problems.slice(0, 100),
      ok: converged && failures === 0 && this.ledger.conflictCount === 0 && this.tradeLedger.conflictCount === 0 && tradeOrderViolations === 0
        && stats.every((s) => s.stopped === '' && s.errorEvents.length === 0),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
  }
}

/** The stream columns of the drill's trials: what the streaming clients verified and whether their books converged. */
export function streamTable(rows: readonly { readonly cloud: string; readonly kind: string; readonly streams?: StreamTrialReport }[]): string {
  const lines = rows.flatMap((r) => (r.streams === undefined ? [] : [
    `| ${r.kind} | ${r.cloud} | ${r.streams.clients} | ${r.streams.updatesVerified} | ${r.streams.snapshots} | ${r.streams.reconnects} | ${r.streams.failures} | ${r.streams.seqIdsCompared} / ${r.streams.seqIdsComparedAcrossClouds} / ${r.streams.seqIdConflicts} | ${r.streams.trades} / ${r.streams.tradeConflicts} | ${r.streams.converged ? Object.entries(r.streams.convergedSeqIds).map(([i, s]) => `${i}@${s.join('/')}`).join(' ') : 'NO'} | ${r.streams.ok ? 'ok' : 'FAILED'} |`,
  ]));
  return [
    '| outage | cloud | stream clients | updates verified | snapshots | reconnects | chain/checksum failures | seqIds compared / across clouds / conflicts | trades / conflicts | books converged at | check |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...lines,
  ].join('\n');
}
