// The embedded command log: append-only segment files in one directory, written by a single
// process. Appends that arrive while a write+fsync is in flight wait in a bounded queue and go
// out together in the next write+fsync (group commit), so one fsync covers many appends under
// load; each append resolves only after the fsync that covers its records. A write that fails
// for lack of space is undone (cut back to the durable size, fsynced) and rejected as no_space,
// and the next append tries again; a failed fsync leaves the page cache untrustworthy, so the
// journal refuses every later append until it is reopened (a restart). A tail that follows the
// end takes the records this process just made durable from memory (the bytes it wrote, kept for
// a bounded number of bytes) instead of reading them back from the file; anything older, and every
// read() and replay after a restart, comes from the file, checked record by record.

import assert from 'node:assert/strict';
import { mkdir, open, rm, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CommandLog, LogBounds, LogRecord, RecordHandler, TailHandle } from './command-log.js';
import { JournalBusyError, JournalCorruptError, LogError } from './errors.js';
import { acquireLock, isErrorCode, type JournalLock } from './lock-file.js';
import { decodeRecordAt, encodeRecord, recordHeaderBytes } from './record-format.js';
import { recoverSegments, type RecoveryReport } from './recovery.js';
import { emptySegment, noteRecord, sparseIndexStrideRecords, type Segment } from './segment.js';

const mebibyte = 1024 * 1024;

export interface FileJournalOptions {
  /** A segment is rolled when the next record would take it past this size. */
  readonly segmentBytesMax?: number;
  /** Largest payload of one record. */
  readonly recordBytesMax?: number;
  /** Bytes of records accepted but not yet durable; beyond it append rejects as busy. */
  readonly queuedBytesMax?: number;
  /** Records accepted but not yet durable; beyond it append rejects as busy. */
  readonly queuedRecordsMax?: number;
  /** Payload bytes one read() returns at most (it always returns at least one record). */
  readonly readBytesMax?: number;
  /** Records a tail reads from disk per step before handing them to its handler. */
  readonly tailBatchRecordsMax?: number;
  /**
   * Bytes of the newest durable records kept in memory for tails that follow the end (they are
   * delivered from there rather than read back from the segment file).
   */
  readonly tailCacheBytesMax?: number;
}

export const fileJournalDefaults = {
  segmentBytesMax: 64 * mebibyte,
  recordBytesMax: 4 * mebibyte,
  queuedBytesMax: 64 * mebibyte,
  queuedRecordsMax: 100_000,
  readBytesMax: 16 * mebibyte,
  tailBatchRecordsMax: 1024,
  tailCacheBytesMax: 16 * mebibyte,
} as const satisfies Required<FileJournalOptions>;

type Limits = { readonly [Key in keyof FileJournalOptions]-?: number };

// Reads fetch this much of a segment per system call and decode records out of it.
const readChunkBytes = mebibyte;

/** probeSpace() writes, fsyncs and deletes a file this large to learn whether writes fit again. */
export const spaceProbeBytes = 64 * 1024;
const spaceProbeFileName = 'space-probe.tmp';

/** A write() that failed because the file system is full: nothing of the group was acknowledged. */
class NoSpaceSignal extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

function isNoSpace(error: unknown): boolean {
  return isErrorCode(error, 'ENOSPC') || isErrorCode(error, 'EDQUOT');
}

export interface FileJournalStats {
  readonly appendsDurable: number;
  readonly recordsDurable: number;
  /** Write+fsync rounds; each carries every append queued when it started. */
  readonly groupsWritten: number;
  /** fsyncs of segment files; a group that spans a segment roll takes one per segment. */
  readonly fsyncs: number;
  readonly directoryFsyncs: number;
}

interface PendingAppend {
  readonly firstPosition: number;
  readonly frames: readonly Buffer[];
  readonly frameBytes: number;
  readonly resolve: (firstPosition: number) => void;
  readonly reject: (error: Error) => void;
}

/** Consecutive records of one group that go to the same segment in one write+fsync. */
interface SegmentRun {
  readonly startsSegment: boolean;
  readonly firstPosition: number;
  readonly frames: Buffer[];
}

interface ActiveTail {
  stopped: boolean;
  /** Set while the tail waits for new durable records. */
  wake: (() => void) | null;
}

export class FileJournal implements CommandLog {
  /** What open() found and repaired. */
  readonly recovery: RecoveryReport;

  readonly #directory: string;
  readonly #limits: Limits;
  readonly #lock: JournalLock;
  /** Oldest first; only the last one is written to. */
  readonly #segments: Segment[];
  #activeHandle: FileHandle | null;

  /** Next position append() hands out; runs ahead of #durableLast by the queued records. */
  #nextPosition: number;
  #durableLast: number;
  #pending: PendingAppend[] = [];
  #queuedBytes = 0;
  #queuedRecords = 0;
  #flushing: Promise<void> | null = null;
  /** Set by the first failed fsync (or other write error); after it the page cache cannot be trusted. */
  #failure: Error | null = null;
  /** Set while the last write failed for lack of space; cleared by the next write that succeeds. */
  #noSpace: Error | null = null;
  #probing = false;
  #closeRequested = false;
  #closed: Promise<void> | null = null;

  /**
   * The newest durable records, oldest first from #recentHead, contiguous positions: each payload
   * a view of the frame this journal wrote and fsynced (never handed to the writer's caller), so
   * a tail at the end sees exactly the bytes the file holds. At most tailCacheBytesMax of frames.
   */
  #recent: (LogRecord | undefined)[] = [];
  #recentHead = 0;
  #recentBytes = 0;

  /** Each running tail, with the promise that settles when it ends. */
  readonly #tails = new Map<ActiveTail, Promise<void>>();
  readonly #stats = { appendsDurable: 0, recordsDurable: 0, groupsWritten: 0, fsyncs: 0, directoryFsyncs: 0 };

  private constructor(
    directory: string,
    limits: Limits,
    lock: JournalLock,
    segments: Segment[],
    activeHandle: FileHandle | null,
    recovery: RecoveryReport,
  ) {
    this.#directory = directory;
    this.#limits = limits;
    this.#lock = lock;
    this.#segments = segments;
    this.#activeHandle = activeHandle;
    this.recovery = recovery;
    this.#durableLast = recovery.lastPosition;
    this.#nextPosition = recovery.lastPosition + 1;
  }

  /**
   * Takes the directory's lock, scans every segment, cuts a torn tail off the last one and
   * rejects with JournalCorruptError on any other damage. Creates the directory if missing.
   */
  static async open(directory: string, options: FileJournalOptions = {}): Promise<FileJournal> {
    const limits = resolveLimits(options);
    await createDirectoryDurably(directory);
    const lock = await acquireLock(directory);
    try {
      const { segments, report } = await recoverSegments(directory, limits.recordBytesMax);
      const active = segments.at(-1);
      const activeHandle = active === undefined ? null : await open(join(directory, active.fileName), 'a');
      return new FileJournal(directory, limits, lock, segments, activeHandle, report);
    } catch (error: unknown) {
      await lock.release();
      throw error;
    }
  }

  append(payloads: readonly Uint8Array[]): Promise<number> {
    const refusal = this.#refuseAppend(payloads);
    if (refusal !== null) return Promise.reject(refusal);

    const firstPosition = this.#nextPosition;
    assert(firstPosition + payloads.length <= Number.MAX_SAFE_INTEGER, 'positions exhausted');
    this.#nextPosition += payloads.length;
    const frames = payloads.map((payload, index) => encodeRecord(firstPosition + index, payload));
    const frameBytes = frames.reduce((sum, frame) => sum + frame.length, 0);
    this.#queuedBytes += frameBytes;
    this.#queuedRecords += frames.length;

    return new Promise<number>((resolve, reject) => {
      this.#pending.push({ firstPosition, frames, frameBytes, resolve, reject });
      this.#flushing ??= this.#flushLoop();
    });
  }

  /** The reason an append cannot be accepted, checked in a fixed order; null to accept it. */
  #refuseAppend(payloads: readonly Uint8Array[]): LogError | null {
    const limits = this.#limits;
    if (this.#closeRequested) return new LogError('closed');
    if (this.#failure !== null) return new LogError('failed', this.#failure.message, { cause: this.#failure });
    if (payloads.length === 0) return new LogError('append_empty');
    let frameBytes = 0;
    for (const [index, payload] of payloads.entries()) {
      if (payload.byteLength > limits.recordBytesMax) {
        return new LogError('record_too_large',
          `payload ${index} has ${payload.byteLength} bytes, recordBytesMax is ${limits.recordBytesMax}`);
      }
      frameBytes += recordHeaderBytes + payload.byteLength;
    }
    if (frameBytes > limits.queuedBytesMax || payloads.length > limits.queuedRecordsMax) {
      return new LogError('append_too_large',
        `${payloads.length} records in ${frameBytes} bytes; queuedRecordsMax is ${limits.queuedRecordsMax}, queuedBytesMax ${limits.queuedBytesMax}`);
    }
    if (this.#queuedBytes + frameBytes > limits.queuedBytesMax || this.#queuedRecords + payloads.length > limits.queuedRecordsMax) {
      return new JournalBusyError(
        `${this.#queuedRecords} records in ${this.#queuedBytes} bytes await fsync; queuedRecordsMax is ${limits.queuedRecordsMax}, queuedBytesMax ${limits.queuedBytesMax}`);
    }
    return null;
  }

  /** Writes queued appends group by group until the queue is empty; never rejects. */
  async #flushLoop(): Promise<void> {
    // Yield once, so that appends made in the same tick as the first go out with it.
    await Promise.resolve();
    try {
      while (this.#pending.length > 0) {
        const group = this.#pending;
        this.#pending = [];
        try {
          await this.#writeGroup(group);
        } catch (error: unknown) {
          if (error instanceof NoSpaceSignal) await this.#undoNoSpace(error.error, group);
          else this.#fail(error, group);
          return;
        }
        this.#noSpace = null;
        for (const append of group) {
          this.#queuedBytes -= append.frameBytes;
          this.#queuedRecords -= append.frames.length;
          append.resolve(append.firstPosition);
        }
        this.#stats.appendsDurable += group.length;
        this.#stats.recordsDurable += group.reduce((sum, append) => sum + append.frames.length, 0);
        this.#stats.groupsWritten += 1;
      }
    } finally {
      // Cleared in the same tick as the empty-queue check, so an append arriving later starts a
      // new loop instead of waiting on one that is about to end.
      this.#flushing = null;
    }
  }

  async #writeGroup(group: readonly PendingAppend[]): Promise<void> {
    for (const run of this.#planRuns(group)) {
      if (run.startsSegment) await this.#startSegment(run.firstPosition);
      const segment = this.#segments.at(-1);
      const handle = this.#activeHandle;
      assert(segment !== undefined && handle !== null, 'a run is written to an open segment');
      assert.equal(run.firstPosition, segment.lastPosition + 1, 'runs continue their segment');

      try {
        await writeFully(handle, run.frames);
      } catch (error: unknown) {
        if (isNoSpace(error)) throw new NoSpaceSignal(error as Error);
        throw error;
      }
      await handle.sync();
      this.#stats.fsyncs += 1;

      // Only now are these records durable, so only now may readers and tails see them.
      let offsetBytes = segment.sizeBytes;
      for (const [index, frame] of run.frames.entries()) {
        noteRecord(segment, run.firstPosition + index, offsetBytes, frame.length);
        offsetBytes += frame.length;
        this.#remember(run.firstPosition + index, frame);
      }
      this.#durableLast = segment.lastPosition;
      this.#wakeTails();
    }
  }

  /** Keeps a durable record's frame for tails at the end, dropping the oldest past the byte bound. */
  #remember(position: number, frame: Buffer): void {
    const newest = this.#recent.at(-1);
    if (this.#recentHead < this.#recent.length && newest!.position + 1 !== position) this.#forgetRecent();
    this.#recent.push({ position, payload: frame.subarray(recordHeaderBytes) });
    this.#recentBytes += frame.length;
    while (this.#recentBytes > this.#limits.tailCacheBytesMax && this.#recentHead < this.#recent.length) {
      this.#recentBytes -= recordHeaderBytes + this.#recent[this.#recentHead]!.payload.byteLength;
      this.#recent[this.#recentHead++] = undefined;
    }
    if (this.#recentHead >= 1024 && this.#recentHead * 2 >= this.#recent.length) {
      this.#recent.splice(0, this.#recentHead);
      this.#recentHead = 0;
    }
  }

  #forgetRecent(): void {
    this.#recent = [];
    this.#recentHead = 0;
    this.#recentBytes = 0;
  }

  /**
   * Up to maxRecords durable records from `from` on, if memory still holds `from` (and the
   * segments still store it); null to read them from the file.
   */
  #recentFrom(from: number, maxRecords: number): LogRecord[] | null {
    const oldest = this.#recent[this.#recentHead];
    if (oldest === undefined || from < oldest.position || from < this.bounds().first) return null;
    const start = this.#recentHead + (from - oldest.position);
    if (start >= this.#recent.length) return null;
    return this.#recent.slice(start, Math.min(this.#recent.length, start + maxRecords)) as LogRecord[];
  }

  /** Splits a group at segment boundaries: a segment is rolled before it would pass segmentBytesMax. */
  #planRuns(group: readonly PendingAppend[]): SegmentRun[] {
    const runs: SegmentRun[] = [];
    let segmentBytes = this.#segments.at(-1)?.sizeBytes ?? null;
    let run: SegmentRun | undefined;
    for (const append of group) {
      for (const [index, frame] of append.frames.entries()) {
        const position = append.firstPosition + index;
        const mustRoll = segmentBytes === null
          || (segmentBytes > 0 && segmentBytes + frame.length > this.#limits.segmentBytesMax);
        if (mustRoll) {
          run = { startsSegment: true, firstPosition: position, frames: [] };
          runs.push(run);
          segmentBytes = 0;
        } else if (run === undefined) {
          run = { startsSegment: false, firstPosition: position, frames: [] };
          runs.push(run);
        }
        run.frames.push(frame);
        segmentBytes = (segmentBytes ?? 0) + frame.length;
      }
    }
    return runs;
  }

  async #startSegment(firstPosition: number): Promise<void> {
    const segment = emptySegment(firstPosition);
    // 'ax': a segment with this name must not exist yet; if it does, positions were reused.
    // Out of space (or inodes) here, nothing was created.
    const handle = await open(join(this.#directory, segment.fileName), 'ax').catch((error: unknown) => {
      if (isNoSpace(error)) throw new NoSpaceSignal(error as Error);
      throw error;
    });
    try {
      // The new name must survive a crash before any append inside it is acknowledged.
      await this.#syncDirectory();
    } catch (error: unknown) {
      await handle.close();
      throw error;
    }
    const previous = this.#activeHandle;
    this.#segments.push(segment);
    this.#activeHandle = handle;
    // The previous segment's records were fsynced by the run that wrote them.
    await previous?.close();
  }

  #fail(error: unknown, group: readonly PendingAppend[]): void {
    const cause = error instanceof Error ? error : new Error(String(error));
    this.#failure = cause;
    this.#noSpace = null;
    const failed = [...group, ...this.#pending];
    this.#pending = [];
    this.#queuedBytes = 0;
    this.#queuedRecords = 0;
    for (const append of failed) append.reject(new LogError('write_failed', cause.message, { cause }));
  }

  /**
   * A write() of this group ran out of space. Runs of the group already fsynced (before a segment
   * roll) stay, and their appends resolve; the rest is cut off the active segment and fsynced
   * away, so that a crash cannot bring back records that were answered as not written. Those
   * appends, and every one queued behind them (their positions followed the failed ones), reject
   * with no_space, and positions continue right after the durable end. If the cut itself fails,
   * or one append is split across the durable end, the outcome is unknown: the journal fails.
   */
  async #undoNoSpace(cause: Error, group: readonly PendingAppend[]): Promise<void> {
    const durableLast = this.#durableLast;
    if (group.some((append) => append.firstPosition <= durableLast && append.firstPosition + append.frames.length - 1 > durableLast)) {
      this.#fail(cause, group);
      return;
    }
    const segment = this.#segments.at(-1);
    const handle = this.#activeHandle;
    try {
      if (segment !== undefined && handle !== null) {
        await handle.truncate(segment.sizeBytes);
        await handle.sync();
      }
    } catch (error: unknown) {
      this.#fail(error, group);
      return;
    }
    // From here to the end, no await: appends made during the cut are in #pending and go too.
    this.#noSpace = cause;
    const durable = group.filter((append) => append.firstPosition <= durableLast);
    const rejected = [...group.filter((append) => append.firstPosition > durableLast), ...this.#pending];
    this.#pending = [];
    this.#queuedBytes = 0;
    this.#queuedRecords = 0;
    this.#nextPosition = durableLast + 1;
    for (const append of durable) append.resolve(append.firstPosition);
    this.#stats.appendsDurable += durable.length;
    this.#stats.recordsDurable += durable.reduce((sum, append) => sum + append.frames.length, 0);
    for (const append of rejected) append.reject(new LogError('no_space', cause.message, { cause }));
  }

  /**
   * Why appends cannot be written now, or null: no_space while the last write ran out of space
   * (cleared by the next write or probe that succeeds), failed after an fsync or other write
   * error (only reopening clears it).
   */
  writeProblem(): LogError | null {
    if (this.#failure !== null) return new LogError('failed', this.#failure.message);
    if (this.#noSpace !== null) return new LogError('no_space', this.#noSpace.message);
    return null;
  }

  /**
   * While the last write ran out of space, writes, fsyncs and deletes a file of spaceProbeBytes
   * beside the segments; if that works there is room again and the no_space state clears.
   * Returns whether appends are expected to be written now. One probe at a time.
   */
  async probeSpace(): Promise<boolean> {
    if (this.#noSpace === null || this.#probing || this.#closeRequested) return this.writeProblem() === null;
    this.#probing = true;
    const file = join(this.#directory, spaceProbeFileName);
    try {
      const handle = await open(file, 'w');
      try {
        await writeFully(handle, [Buffer.alloc(spaceProbeBytes)]);
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.#noSpace = null;
    } catch {
      // Still no room (or the probe could not be written): stay in no_space and try again later.
    } finally {
      await rm(file, { force: true }).catch(() => undefined);
      this.#probing = false;
    }
    return this.writeProblem() === null;
  }

  async read(from: number, maxRecords: number): Promise<LogRecord[]> {
    assert(Number.isSafeInteger(from) && from >= 1, 'read from a position >= 1');
    assert(Number.isSafeInteger(maxRecords) && maxRecords >= 1, 'read at least one record');
    const records: LogRecord[] = [];
    const budget = { recordsLeft: maxRecords, bytesLeft: this.#limits.readBytesMax };
    let position = from;
    while (budget.recordsLeft > 0 && budget.bytesLeft > 0 && position <= this.#durableLast) {
      const segment = this.#segmentHolding(position);
      if (segment === undefined) {
        throw new LogError('position_dropped', `position ${position}; the first stored is ${this.bounds().first}`);
      }
      position = await this.#readSegment(segment, position, records, budget);
    }
    return records;
  }

  /** Appends records from one segment to `records`; returns the next position to read. */
  async #readSegment(
    segment: Segment,
    from: number,
    records: LogRecord[],
    budget: { recordsLeft: number; bytesLeft: number },
  ): Promise<number> {
    const strideIndex = Math.floor((from - segment.firstPosition) / sparseIndexStrideRecords);
    let offsetBytes = segment.sparseOffsets[strideIndex];
    assert(offsetBytes !== undefined, 'every durable position has a sparse index entry before it');
    let position = segment.firstPosition + strideIndex * sparseIndexStrideRecords;
    // Snapshot of the durable end: bytes past it may be mid-write.
    const endBytes = segment.sizeBytes;
    const file = join(this.#directory, segment.fileName);

    const handle = await open(file, 'r').catch((error: unknown) => {
      if (isErrorCode(error, 'ENOENT')) throw new LogError('position_dropped', `${file} was dropped while reading`);
      throw error;
    });
    try {
      let wantBytes = readChunkBytes;
      while (offsetBytes < endBytes && budget.recordsLeft > 0 && budget.bytesLeft > 0) {
        const chunk = await readExactly(handle, file, offsetBytes, Math.min(endBytes - offsetBytes, wantBytes));
        let chunkOffset = 0;
        while (chunkOffset < chunk.length && budget.recordsLeft > 0 && budget.bytesLeft > 0) {
          const at = offsetBytes + chunkOffset;
          const decoded = decodeRecordAt(chunk, chunkOffset, this.#limits.recordBytesMax);
          if (decoded.kind === 'incomplete') {
            if (at + decoded.frameBytes > endBytes) throw new JournalCorruptError(file, at, 'record runs past the durable end');
            wantBytes = Math.max(readChunkBytes, decoded.frameBytes);
            break;
          }
          if (decoded.kind === 'invalid') throw new JournalCorruptError(file, at, decoded.fault);
          if (decoded.position !== position) {
            throw new JournalCorruptError(file, at, `position ${decoded.position} where ${position} was expected`);
          }
          if (position >= from) {
            // A copy, so that a kept record does not pin the whole read chunk in memory.
            records.push({ position, payload: new Uint8Array(decoded.payload) });
            budget.recordsLeft -= 1;
            budget.bytesLeft -= decoded.payload.length;
          }
          chunkOffset += decoded.frameBytes;
          position += 1;
        }
        offsetBytes += chunkOffset;
      }
    } finally {
      await handle.close();
    }
    return position;
  }

  /** The segment that stores `position`, found by binary search; undefined if it was dropped. */
  #segmentHolding(position: number): Segment | undefined {
    let low = 0;
    let high = this.#segments.length - 1;
    while (low <= high) {
      const middle = (low + high) >>> 1;
      const segment = this.#segments[middle]!;
      if (position < segment.firstPosition) high = middle - 1;
      else if (position > segment.lastPosition) low = middle + 1;
      else return segment;
    }
    return undefined;
  }

  tail(from: number, onRecord: RecordHandler): TailHandle {
    assert(Number.isSafeInteger(from) && from >= 1, 'tail from a position >= 1');
    const tail: ActiveTail = { stopped: false, wake: null };
    const ended = this.#runTail(tail, from, onRecord).finally(() => this.#tails.delete(tail));
    this.#tails.set(tail, ended);
    return {
      ended,
      stop: () => {
        tail.stopped = true;
        tail.wake?.();
        return ended;
      },
    };
  }

  async #runTail(tail: ActiveTail, from: number, onRecord: RecordHandler): Promise<void> {
    let position = from;
    // A function, not a condition, because stop() and close() flip these flags during awaits.
    const ending = (): boolean => tail.stopped || this.#closeRequested;
    while (!ending()) {
      if (position > this.#durableLast) {
        // Checked and registered in one tick, so a group made durable meanwhile cannot be missed.
        await new Promise<void>((resolve) => { tail.wake = resolve; });
        tail.wake = null;
        continue;
      }
      const batchRecordsMax = this.#limits.tailBatchRecordsMax;
      const records = this.#recentFrom(position, batchRecordsMax) ?? await this.read(position, batchRecordsMax);
      for (const record of records) {
        if (ending()) return;
        await onRecord(record);
        position = record.position + 1;
      }
    }
  }

  #wakeTails(): void {
    for (const tail of this.#tails.keys()) tail.wake?.();
  }

  bounds(): LogBounds {
    return { first: this.#segments[0]?.firstPosition ?? this.#durableLast + 1, last: this.#durableLast };
  }

  /**
   * Deletes, oldest first, every segment whose records all lie before `position`; the last
   * segment is always kept. Oldest first means a crash midway still leaves a contiguous journal.
   */
  async dropBefore(position: number): Promise<void> {
    assert(Number.isSafeInteger(position), 'drop before an integer position');
    if (this.#closeRequested) throw new LogError('closed');
    let dropCount = 0;
    while (dropCount + 1 < this.#segments.length && this.#segments[dropCount + 1]!.firstPosition <= position) dropCount++;
    if (dropCount === 0) return;
    const dropped = this.#segments.splice(0, dropCount);
    for (const segment of dropped) await unlink(join(this.#directory, segment.fileName));
    await this.#syncDirectory();
  }

  stats(): FileJournalStats {
    return { ...this.#stats };
  }

  close(): Promise<void> {
    // Set before anything else, so appends are refused from this tick on.
    this.#closeRequested = true;
    this.#closed ??= this.#closeOnce();
    return this.#closed;
  }

  async #closeOnce(): Promise<void> {
    while (this.#flushing !== null) await this.#flushing;
    const tailsEnded = [...this.#tails.values()];
    this.#wakeTails();
    // A tail that failed reports it through its own `ended`; closing still completes.
    await Promise.allSettled(tailsEnded);
    await this.#activeHandle?.close();
    this.#activeHandle = null;
    await this.#lock.release();
  }

  async #syncDirectory(): Promise<void> {
    await syncDirectory(this.#directory);
    this.#stats.directoryFsyncs += 1;
  }
}

/** fsyncs a directory, which makes the creation, renaming or removal of its entries durable. */
async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Creates the directory and any missing parents, each made durable in its own parent. */
async function createDirectoryDurably(directory: string): Promise<void> {
  const firstCreated = await mkdir(directory, { recursive: true });
  if (firstCreated === undefined) return;
  for (let created = directory; ; created = dirname(created)) {
    await syncDirectory(dirname(created));
    if (created === firstCreated) return;
  }
}

/** Fills in defaults and checks, once at open, that the bounds fit together. */
function resolveLimits(options: FileJournalOptions): Limits {
  const limits: Limits = { ...fileJournalDefaults, ...options };
  for (const [name, value] of Object.entries(limits)) {
    assert(Number.isSafeInteger(value) && value >= 1, `${name} must be a positive integer, got ${value}`);
  }
  assert(limits.recordBytesMax <= 0xffff_ffff, 'recordBytesMax must fit the u32 length field');
  assert(limits.recordBytesMax + recordHeaderBytes <= limits.segmentBytesMax,
    'segmentBytesMax must hold at least one record of recordBytesMax');
  assert(limits.recordBytesMax + recordHeaderBytes <= limits.queuedBytesMax,
    'queuedBytesMax must hold at least one record of recordBytesMax');
  return limits;
}

/** Writes the buffers in order, gathered (no copy into one buffer), however short each write falls. */
async function writeFully(handle: FileHandle, data: readonly Buffer[]): Promise<void> {
  let buffers = data;
  while (buffers.length > 0) {
    // The file is open for appending, so the kernel places each write at the end.
    const { bytesWritten } = await handle.writev(buffers);
    let left = bytesWritten;
    let done = 0;
    while (done < buffers.length && left >= buffers[done]!.length) {
      left -= buffers[done]!.length;
      done += 1;
    }
    buffers = buffers.slice(done);
    if (left > 0) buffers = [buffers[0]!.subarray(left), ...buffers.slice(1)];
  }
}

async function readExactly(handle: FileHandle, file: string, offsetBytes: number, lengthBytes: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(lengthBytes);
  let filledBytes = 0;
  while (filledBytes < lengthBytes) {
    const { bytesRead } = await handle.read(buffer, filledBytes, lengthBytes - filledBytes, offsetBytes + filledBytes);
    if (bytesRead === 0) throw new JournalCorruptError(file, offsetBytes + filledBytes, 'file ends before its durable size');
    filledBytes += bytesRead;
  }
  return buffer;
}
