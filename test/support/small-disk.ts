// A small tmpfs mounted on a fresh temporary directory, for tests of what happens when the disk
// fills up, and a filler that takes every free byte. Mounting needs root (CI is root); elsewhere
// the caller skips with the reason this returns.

import { execFileSync } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const mebibyte = 1024 * 1024;
const fillChunkBytes = 64 * 1024;

export interface SmallDisk {
  readonly dir: string;
  /** Unmounts and removes the directory; call it in a finally block, after stopping every process using it. */
  remove(): Promise<void>;
}

/** Why a small disk cannot be mounted here, or null when it can. */
export function smallDiskUnavailable(): string | null {
  return process.getuid?.() === 0 ? null : 'mounting a tmpfs needs root (CI runs as root)';
}

export async function mountSmallDisk(sizeMiB: number): Promise<SmallDisk> {
  const dir = await mkdtemp(join(tmpdir(), 'everbook-small-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m,mode=0700`, 'tmpfs', dir]);
  } catch (error: unknown) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    dir,
    remove: async () => {
      execFileSync('umount', [dir]);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes zeros to `file` until the file system refuses with ENOSPC; returns the bytes written.
 * Bounded by the disk's size: a disk that never fills is an error, not an endless loop.
 */
export async function fillDisk(file: string, diskMiB: number): Promise<number> {
  const chunk = Buffer.alloc(fillChunkBytes);
  const writesMax = Math.ceil((diskMiB * mebibyte) / fillChunkBytes) + 16;
  const handle = await open(file, 'w');
  let writtenBytes = 0;
  try {
    for (let writes = 0; writes < writesMax; writes++) {
      try {
        const { bytesWritten } = await handle.write(chunk);
        writtenBytes += bytesWritten;
      } catch (error: unknown) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') return writtenBytes;
        throw error;
      }
    }
  } finally {
    await handle.close();
  }
  throw new Error(`${file}: the disk did not fill after ${writtenBytes} bytes`);
}
