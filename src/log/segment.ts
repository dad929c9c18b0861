// What the journal knows about each segment file: its name, the positions it holds, how many
// of its bytes are durable, and a sparse index from position to byte offset. A segment file is
// named by its first position, zero-padded to 20 digits so that names sort in position order.

export const segmentFileSuffix = '.journal';

// 20 digits hold any u64, so the name never needs to grow.
const segmentNameDigits = 20;
const segmentNamePattern = /^(\d{20})\.journal$/;

/**
 * Every this many records, the byte offset of a record is kept in memory; a read seeks to the
 * nearest one before it and scans forward. 64 keeps the index near 1/64 of the record count
 * while a seek decodes at most 63 records it does not return.
 */
export const sparseIndexStrideRecords = 64;

export interface Segment {
  readonly fileName: string;
  readonly firstPosition: number;
  /** firstPosition - 1 while the segment holds no record. */
  lastPosition: number;
  /** Bytes known durable (fsynced); readers never look past them. */
  sizeBytes: number;
  /** sparseOffsets[i] is the byte offset of position firstPosition + i * sparseIndexStrideRecords. */
  readonly sparseOffsets: number[];
}

export function segmentFileName(firstPosition: number): string {
  return `${String(firstPosition).padStart(segmentNameDigits, '0')}${segmentFileSuffix}`;
}

/** The first position a segment file name carries; null for files that are not segments. */
export function parseSegmentFileName(fileName: string): number | null {
  const match = segmentNamePattern.exec(fileName);
  if (match === null) return null;
  return Number(match[1]);
}

export function emptySegment(firstPosition: number): Segment {
  return {
    fileName: segmentFileName(firstPosition),
    firstPosition,
    lastPosition: firstPosition - 1,
    sizeBytes: 0,
    sparseOffsets: [],
  };
}

/** Records a durable record in the segment's bookkeeping; records must come in order. */
export function noteRecord(segment: Segment, position: number, offsetBytes: number, frameBytes: number): void {
  if ((position - segment.firstPosition) % sparseIndexStrideRecords === 0) segment.sparseOffsets.push(offsetBytes);
  segment.lastPosition = position;
  segment.sizeBytes = offsetBytes + frameBytes;
}
