// The deployment's custody key: one BIP-39 mnemonic, read from a file that only its owner may
// read (mode 0600, checked) or from EVERBOOK_CUSTODY_MNEMONIC. HD path m/44'/60'/0'/0/i: index 0
// is the hot wallet, index u user u's deposit address. The mnemonic stays inside this class: it
// has no getter, and the class prints as a placeholder, so no log line or error can carry it.

import { stat, readFile, writeFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { english, generateMnemonic, mnemonicToAccount, type HDAccount } from 'viem/accounts';

export const CUSTODY_MNEMONIC_ENV = 'EVERBOOK_CUSTODY_MNEMONIC';
/** Derived accounts kept (each derivation runs PBKDF2 over the mnemonic: milliseconds). */
export const KEY_CACHE_MAX = 100_000;
/** The highest key index: BIP-32 non-hardened indices end at 2^31 - 1. */
export const KEY_INDEX_MAX = 2 ** 31 - 1;

export class CustodyKeys {
  readonly #mnemonic: string;
  readonly #accounts = new Map<number, HDAccount>();

  constructor(mnemonic: string) {
    const words = mnemonic.trim().split(/\s+/);
    if (![12, 15, 18, 21, 24].includes(words.length)) throw new Error(`custody key: a BIP-39 mnemonic has 12 to 24 words, not ${words.length}`);
    const known = new Set(english);
    if (words.some((w) => !known.has(w))) throw new Error('custody key: the mnemonic has a word outside the BIP-39 English list');
    this.#mnemonic = words.join(' ');
  }

  /** The account of a key index (0: hot wallet; u: user u's deposit address). */
  account(index: number): HDAccount {
    if (!Number.isSafeInteger(index) || index < 0 || index > KEY_INDEX_MAX) throw new Error(`custody key: index ${index} out of range`);
    let account = this.#accounts.get(index);
    if (account === undefined) {
      account = mnemonicToAccount(this.#mnemonic, { addressIndex: index });
      if (this.#accounts.size >= KEY_CACHE_MAX) this.#accounts.delete(this.#accounts.keys().next().value!);
      this.#accounts.set(index, account);
    }
    return account;
  }

  /** The lower-case address of a key index. */
  address(index: number): string {
    return this.account(index).address.toLowerCase();
  }

  toJSON(): string { return '[CustodyKeys]'; }
  toString(): string { return '[CustodyKeys]'; }
  [inspect.custom](): string { return '[CustodyKeys]'; }
}

/**
 * The key from a file (which must be private to its owner: no group or other permission bits)
 * or, when no file is named, from the environment. Undefined when neither is given.
 */
export async function loadCustodyKeys(file: string, env: NodeJS.ProcessEnv = process.env): Promise<CustodyKeys | undefined> {
  if (file !== '') {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) {
      throw new Error(`custody key file ${file} is readable by others (mode ${(info.mode & 0o777).toString(8)}): chmod 600 it`);
    }
    return new CustodyKeys(await readFile(file, 'utf8'));
  }
  const fromEnv = env[CUSTODY_MNEMONIC_ENV];
  return fromEnv === undefined || fromEnv === '' ? undefined : new CustodyKeys(fromEnv);
}

/** A dev exchange's key: made once (mode 0600) at `file` and read back on every start. */
export async function loadOrCreateDevKeys(file: string): Promise<CustodyKeys> {
  try {
    await writeFile(file, generateMnemonic(english) + '\n', { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const keys = await loadCustodyKeys(file, {});
  if (keys === undefined) throw new Error(`custody key file ${file} was not read`);
  return keys;
}
