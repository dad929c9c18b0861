// Rebuilds the journal's view of its segments on open, and decides what damage is a torn tail
// (a crash during the last write, safe to cut off because it was never acknowledged) and what is
// corruption (which could hide acknowledged records, so open refuses). Only the end of the last
// segment may be cut, only when no valid record follows the damage, and only when the damage
// looks like an interrupted write: a record the file ends inside of (its length says more than the
// file holds), or bytes that are zero from inside the damaged record to the end of the file (some
// filesystems extend the size before the data lands, leaving zeros). A complete record whose
// checksum fails is corruption even at the very end: it was written whole, so it was fsynced and
// may have been acknowledged. The zero rule can misread a fsynced record whose last bytes were
// zeroed by the disk as torn; we accept that, because refusing every crash on such filesystems
// would make a routine power cut need an operator, and our records (JSON) never end in zeros.

import { readdir, readFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { JournalCorruptError } from './errors.js';
import { decodeRecordAt, readPosition, recordHeaderBytes } from './record-format.js';
import { emptySegment, noteRecord, parseSegmentFileName, type Segment } from './segment.js';

export interface RecoveryReport {
  readonly segmentsScanned: number;
  /** Last valid position after recovery; 0 when the journal is empty. */
  readonly lastPosition: number;
  readonly truncatedBytes: number;
  /** Where the tail was cut and why; null when nothing was. */
  readonly truncation: { readonly file: string; readonly offsetBytes: number; readonly fault: string } | null;
}

export interface RecoveredJournal {
  readonly segments: Segment[];
  readonly report: RecoveryReport;
}

interface SegmentFault {
  readonly offsetBytes: number;
  readonly fault: string;
  /** Looks like an interrupted write (see the header); anything else is corruption. */
  readonly torn: boolean;
}

export async function recoverSegments(directory: string, recordBytesMax: number): Promise<RecoveredJournal> {
  const segments: Segment[] = [];
  for (const fileName of (await readdir(directory)).sort()) {
    const firstPosition = parseSegmentFileName(fileName);
    if (firstPosition === null) continue;
    if (!Number.isSafeInteger(firstPosition) || firstPosition < 1) {
      throw new JournalCorruptError(join(directory, fileName), 0, 'segment name is not a position in 1 .. 2^53-1');
    }
    segments.push(emptySegment(firstPosition));
  }

  let truncation: RecoveryReport['truncation'] = null;
  let truncatedBytes = 0;
  for (const [index, segment] of segments.entries()) {
    const file = join(directory, segment.fileName);
    const isLast = index === segments.length - 1;
    const previous = segments[index - 1];
    if (previous !== undefined && segment.firstPosition !== previous.lastPosition + 1) {
      throw new JournalCorruptError(file, 0,
        `segment starts at position ${segment.firstPosition}, but the one before it ends at ${previous.lastPosition}`);
    }

    const contents = await readFile(file);
    const fault = scanSegment(contents, segment, recordBytesMax);
    if (fault === null) {
      if (!isLast && segment.lastPosition < segment.firstPosition) {
        throw new JournalCorruptError(file, 0, 'empty segment that is not the last one');
      }
      continue;
    }
    if (!isLast) throw new JournalCorruptError(file, fault.offsetBytes, `${fault.fault}, in a segment that is not the last`);
    const later = findValidRecordAfter(contents, fault.offsetBytes, segment.lastPosition + 1, recordBytesMax);
    if (later !== null) {
      throw new JournalCorruptError(file, fault.offsetBytes,
        `${fault.fault}, yet a valid record (position ${later.position}) follows at byte ${later.offsetBytes}`);
    }
    if (!fault.torn) {
      throw new JournalCorruptError(file, fault.offsetBytes,
        `${fault.fault}, in a complete record, the last one: it was written whole, so it may have been acknowledged; not cut off as a torn write`);
    }

    // A torn tail: the crash came before the fsync, so no append covering these bytes resolved.
    truncatedBytes = contents.length - fault.offsetBytes;
    truncation = { file, offsetBytes: fault.offsetBytes, fault: fault.fault };
    const handle = await open(file, 'r+');
    try {
      await handle.truncate(fault.offsetBytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  const report: RecoveryReport = {
    segmentsScanned: segments.length,
    lastPosition: segments.at(-1)?.lastPosition ?? 0,
    truncatedBytes,
    truncation,
  };
  return { segments, report };
}

/** Indexes every valid record of one segment; returns the first fault, or null if none. */
function scanSegment(contents: Buffer, segment: Segment, recordBytesMax: number): SegmentFault | null {
  let offsetBytes = 0;
  while (offsetBytes < contents.length) {
    const expectedPosition = segment.lastPosition + 1;
    const decoded = decodeRecordAt(contents, offsetBytes, recordBytesMax);
    switch (decoded.kind) {
      case 'incomplete':
        // The length sits outside the checksum: a complete last record whose length was damaged
        // upward looks incomplete. If the checksum holds over everything to the end of the file,
        // the record was written whole (and may have been acknowledged): corruption, not a tear.
        if (wholeWithDamagedLength(contents, offsetBytes)) {
          return { offsetBytes, fault: `length ${contents.readUInt32LE(offsetBytes)} is damaged: the checksum holds over the ${contents.length - offsetBytes} bytes to the end of the file`, torn: false };
        }
        return {
          offsetBytes,
          fault: `torn record: ${contents.length - offsetBytes} of at least ${decoded.frameBytes} bytes present`,
          torn: true,
        };
      case 'invalid': {
        // Zeros that reach from inside this record to the end of the file are a write whose data
        // never landed; a complete record that fails its checksum otherwise is corruption.
        const zerosFrom = trailingZerosStart(contents);
        const zeroFilled = zerosFrom <= offsetBytes
          || (decoded.frameBytes !== undefined && zerosFrom < offsetBytes + decoded.frameBytes);
        return { offsetBytes, fault: zeroFilled ? `${decoded.fault}; zero-filled to the end of the file` : decoded.fault, torn: zeroFilled };
      }
      case 'record':
        // A well-formed record with the wrong position is never a torn write.
        if (decoded.position !== expectedPosition) {
          return { offsetBytes, fault: `position ${decoded.position} where ${expectedPosition} was expected`, torn: false };
        }
        noteRecord(segment, decoded.position, offsetBytes, decoded.frameBytes);
        offsetBytes += decoded.frameBytes;
        break;
      default: {
        const unreachable: never = decoded;
        return unreachable;
      }
    }
  }
  return null;
}

/** The offset where the run of zero bytes that ends the buffer starts (its length if none). */
function trailingZerosStart(contents: Buffer): number {
  let start = contents.length;
  while (start > 0 && contents[start - 1] === 0) start--;
  return start;
}

/**
 * Looks for any valid record after damaged bytes. If one exists, the damage is not a torn tail
 * but a hole in the middle, and cutting there would drop records that may have been
 * acknowledged. Only offsets whose position field could belong to a later record are checksummed,
 * so the search stays linear in the bytes left.
 */
function findValidRecordAfter(
  contents: Buffer,
  damagedOffsetBytes: number,
  positionMin: number,
  recordBytesMax: number,
): { offsetBytes: number; position: number } | null {
  const positionMax = positionMin + Math.floor((contents.length - damagedOffsetBytes) / recordHeaderBytes);
  for (let offsetBytes = damagedOffsetBytes + 1; offsetBytes + recordHeaderBytes <= contents.length; offsetBytes++) {
    const position = readPosition(contents, offsetBytes + 8);
    if (position === null || position < positionMin || position > positionMax) continue;
    const decoded = decodeRecordAt(contents, offsetBytes, recordBytesMax);
    if (decoded.kind === 'record') return { offsetBytes, position: decoded.position };
  }
  return null;
}

/** Whether the bytes from `offsetBytes` to the end of the file are one whole record but for its length field. */
function wholeWithDamagedLength(contents: Buffer, offsetBytes: number): boolean {
  if (contents.length - offsetBytes < recordHeaderBytes) return false;
  return contents.readUInt32LE(offsetBytes + 4) === crc32(contents.subarray(offsetBytes + 8));
}
