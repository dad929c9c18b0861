// How API secrets stay out of the log, the snapshots and the state hash. Every node holds one
// key-derivation secret (a file, shared by every node of a cluster); an API key's HMAC secret
// is derived from it and the key's id, and the passphrase is kept only as a keyed hash. The
// replicated key record therefore holds nothing that signs a request.

import { createHmac, hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { saltKeyFrom } from '../por/index.js';

/** Bytes of randomness in a new derivation secret (written as hex). */
export const keySecretBytes = 32;
/** A derivation secret shorter than this many hex characters is refused. */
export const keySecretHexMin = 32;

/** Context labels keep the two derivations apart: a secret is never a passphrase hash. */
const SECRET_LABEL = 'everbook api-secret v1\0';
const PASSPHRASE_LABEL = 'everbook passphrase v1\0';

/**
 * Derived secrets kept in memory, at most (the oldest entry is dropped first). They
 * sign requests for their keys, so they are exactly as secret as the root they come from, which
 * this process holds anyway; caching them saves one HMAC per signed request.
 */
export const derivedSecretsCachedMax = 10_000;

/**
 * Passphrases that matched, kept in memory at most (the oldest entry is dropped first), so that
 * a key's every signed request does not hash its passphrase again. Only a match is kept, with
 * the stored hash it matched, so a wrong passphrase always takes the full check.
 */
export const verifiedPassphrasesCachedMax = 10_000;

export class KeyDerivation {
  private readonly root: Buffer;
  private readonly secrets = new Map<string, string>();
  /**
   * A digest of "apiKey NUL passphrase" that matched, to the stored hash it matched: a digest,
   * so that the passphrases themselves do not stay in memory.
   */
  private readonly verified = new Map<string, string>();

  constructor(rootHex: string) {
    const text = rootHex.trim();
    if (!/^[0-9a-f]+$/i.test(text) || text.length < keySecretHexMin || text.length % 2 !== 0) {
      throw new Error(`a key-derivation secret is at least ${keySecretHexMin} hex characters`);
    }
    this.root = Buffer.from(text, 'hex');
  }

  static generate(): string {
    return randomBytes(keySecretBytes).toString('hex');
  }

  /** The key's HMAC secret, formatted as OKX formats one: 32 upper-case hex characters. */
  secretFor(apiKey: string): string {
    const cached = this.secrets.get(apiKey);
    if (cached !== undefined) return cached;
    const secret = createHmac('sha256', this.root).update(SECRET_LABEL + apiKey).digest().subarray(0, 16).toString('hex').toUpperCase();
    if (this.secrets.size >= derivedSecretsCachedMax) this.secrets.delete(this.secrets.keys().next().value!);
    this.secrets.set(apiKey, secret);
    return secret;
  }

  /**
   * The key proof-of-reserves salts are derived from: a sub-key of the same secret (every node
   * of a deployment holds it, so every node builds the same tree), never the secret itself.
   */
  porSaltKey(): Buffer {
    return saltKeyFrom(this.root);
  }

  /** What the log keeps of a passphrase: a hash keyed by the derivation secret and the key. */
  passphraseHash(apiKey: string, passphrase: string): string {
    return createHmac('sha256', this.root).update(`${PASSPHRASE_LABEL}${apiKey}\0${passphrase}`).digest('hex');
  }

  /**
   * Constant-time comparison of a given passphrase with the stored hash. A passphrase that
   * matched this stored hash before matches again without hashing; the stored hash changes with
   * the key (a new key, a new passphrase), so an entry never outlives what it vouched for.
   */
  passphraseMatches(apiKey: string, passphrase: string, storedHash: string): boolean {
    // One-shot SHA-256 (no Hash object), a fraction of the keyed hash it saves.
    const entry = hash('sha256', `${apiKey}\0${passphrase}`, 'base64');
    if (this.verified.get(entry) === storedHash) return true;
    const given = Buffer.from(this.passphraseHash(apiKey, passphrase), 'hex');
    const stored = Buffer.from(storedHash, 'hex');
    const matches = given.length === stored.length && timingSafeEqual(given, stored);
    if (matches) {
      if (this.verified.size >= verifiedPassphrasesCachedMax) this.verified.delete(this.verified.keys().next().value!);
      this.verified.set(entry, storedHash);
    }
    return matches;
  }
}
