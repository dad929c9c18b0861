// The on-disk shape of one journal record, and pure functions to write and check it. A record
// is a 16-byte little-endian header followed by the payload:
//
//   offset  size  field
//   0       4     payloadBytes  (u32)
//   4       4     crc32         (u32, zlib.crc32 over bytes 8 .. end: position and payload)
//   8       8     position      (u64, held below 2^53 so it fits a JS number)
//   16      n     payload
//
// The length sits outside the checksum, yet a damaged length is still caught: the checksum is
// then computed over the wrong range, or the length exceeds recordBytesMax.

import { crc32 } from 'node:zlib';

export const recordHeaderBytes = 16;

const twoPow32 = 2 ** 32;
// Positions are JS numbers, so the high word of the u64 can use at most 21 bits.
const positionHighWordMax = Math.floor(Number.MAX_SAFE_INTEGER / twoPow32);

export function encodeRecord(position: number, payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(recordHeaderBytes + payload.byteLength);
  frame.writeUInt32LE(payload.byteLength, 0);
  frame.writeUInt32LE(position % twoPow32, 8);
  frame.writeUInt32LE(Math.floor(position / twoPow32), 12);
  frame.set(payload, recordHeaderBytes);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
}

export type DecodedRecord =
  | { readonly kind: 'record'; readonly position: number; readonly payload: Buffer; readonly frameBytes: number }
  /** The buffer ends inside the record; frameBytes is how much is needed to know more. */
  | { readonly kind: 'incomplete'; readonly frameBytes: number }
  /** frameBytes is set when the length was plausible and the whole frame was checked (a checksum fault). */
  | { readonly kind: 'invalid'; readonly fault: string; readonly frameBytes?: number };

/** Decodes the record starting at `offsetBytes`; the payload is a view into `buffer`. */
export function decodeRecordAt(buffer: Buffer, offsetBytes: number, recordBytesMax: number): DecodedRecord {
  const availableBytes = buffer.length - offsetBytes;
  if (availableBytes < recordHeaderBytes) return { kind: 'incomplete', frameBytes: recordHeaderBytes };

  const payloadBytes = buffer.readUInt32LE(offsetBytes);
  if (payloadBytes > recordBytesMax) {
    return { kind: 'invalid', fault: `length ${payloadBytes} exceeds recordBytesMax ${recordBytesMax}` };
  }
  const frameBytes = recordHeaderBytes + payloadBytes;
  if (availableBytes < frameBytes) return { kind: 'incomplete', frameBytes };

  const storedCrc = buffer.readUInt32LE(offsetBytes + 4);
  const actualCrc = crc32(buffer.subarray(offsetBytes + 8, offsetBytes + frameBytes));
  if (storedCrc !== actualCrc) {
    return { kind: 'invalid', fault: `checksum mismatch (stored ${hex(storedCrc)}, computed ${hex(actualCrc)})`, frameBytes };
  }
  const position = readPosition(buffer, offsetBytes + 8);
  if (position === null || position < 1) {
    return { kind: 'invalid', fault: 'position outside 1 .. 2^53-1' };
  }
  const payload = buffer.subarray(offsetBytes + recordHeaderBytes, offsetBytes + frameBytes);
  return { kind: 'record', position, payload, frameBytes };
}

/** Reads the u64 position field, or null when it does not fit a safe integer. */
export function readPosition(buffer: Buffer, offsetBytes: number): number | null {
  const high = buffer.readUInt32LE(offsetBytes + 4);
  if (high > positionHighWordMax) return null;
  const position = high * twoPow32 + buffer.readUInt32LE(offsetBytes);
  return Number.isSafeInteger(position) ? position : null;
}

function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}
