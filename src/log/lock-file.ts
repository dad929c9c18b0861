// Keeps two processes from appending to the same journal. The lock is a file created
// exclusively ('wx') that holds the owner's pid; a lock whose pid no longer runs is stale (its
// owner crashed) and is taken over. This guards against a second process on the same host, not
// against a second host sharing the directory over a network file system.

import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { JournalLockedError } from './errors.js';

export const lockFileName = 'LOCK';

// One try, and one more after removing a stale lock; a third would mean another process is
// racing us for the same stale lock, and it may have it.
const lockAttemptsMax = 2;

export interface JournalLock {
  readonly file: string;
  release(): Promise<void>;
}

export async function acquireLock(directory: string): Promise<JournalLock> {
  const file = join(directory, lockFileName);
  for (let attempt = 1; attempt <= lockAttemptsMax; attempt++) {
    const handle = await open(file, 'wx').catch((error: unknown) => {
      if (isErrorCode(error, 'EEXIST')) return null;
      throw error;
    });
    if (handle !== null) {
      try {
        await handle.writeFile(`${process.pid}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return { file, release: () => unlink(file) };
    }

    const holderPid = await readHolderPid(file);
    if (holderPid === 'gone') continue;
    if (holderPid === null) {
      throw new JournalLockedError(file, null, `${file} exists but holds no pid; remove it if no process uses the journal`);
    }
    if (isProcessAlive(holderPid)) {
      throw new JournalLockedError(file, holderPid, `${file} is held by running pid ${holderPid}`);
    }
    // The owner died without releasing. Removing the file lets the next attempt's 'wx' decide
    // between us and any other process doing the same.
    await unlink(file).catch((error: unknown) => {
      if (!isErrorCode(error, 'ENOENT')) throw error;
    });
  }
  throw new JournalLockedError(file, null, `${file} was taken by another process while recovering a stale lock`);
}

async function readHolderPid(file: string): Promise<number | null | 'gone'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error: unknown) {
    if (isErrorCode(error, 'ENOENT')) return 'gone';
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error: unknown) {
    // EPERM: the process exists but belongs to someone else, so it is alive.
    return !isErrorCode(error, 'ESRCH');
  }
}

export function isErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}
