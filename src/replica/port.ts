// The replica's port: what a gateway (or any client of a node) may do with the node it serves.
// It submits log commands (resolving only once they are durable in the log and applied by the
// local replica), reads state through queries, and finds API keys. The process wiring
// (src/server) implements it over a Replica; tests implement it over an engine applied at once.

import type { Command, Result } from '../core/index.js';
import type { ExchangeQueries } from './queries.js';
import type { SignedBy } from './guard.js';

/**
 * OKX's API key permissions. Reading is implied by every key, as on OKX; `read_only` alone
 * means nothing else.
 */
export type Permission = 'read_only' | 'trade' | 'withdraw';
export const permissions: readonly Permission[] = ['read_only', 'trade', 'withdraw'];
/** OKX's limit on the IP allowlist of one key. */
export const keyIpsMax = 20;

/**
 * Gateway-level commands that travel through the log beside engine commands. A key's record
 * holds no secret: the HMAC secret is derived on each node (key-secrets.ts) and the passphrase
 * is kept as a keyed hash, so the log, the snapshots and the state hash never hold either.
 */
export interface CreateApiKey {
  readonly type: 'CreateApiKey';
  readonly userId: number;
  readonly apiKey: string;
  readonly passphraseHash: string;
  readonly label: string;
  readonly perms: readonly Permission[];
  /** The IP allowlist; empty means any address. */
  readonly ips: readonly string[];
}
export interface RevokeApiKey { readonly type: 'RevokeApiKey'; readonly apiKey: string }
export type LogCommand = Command | CreateApiKey | RevokeApiKey;

/** A key as the store holds it: what its creation carried, and when it was applied. */
export type ApiKey = Omit<CreateApiKey, 'type'> & { readonly createdTs: number };

export interface KeyStore {
  get(apiKey: string): ApiKey | undefined;
  /** Every key, or one user's, sorted by key id. */
  list(userId?: number): ApiKey[];
}

/**
 * Why a submission was not accepted at all (as opposed to a command the engine rejected).
 * 'replayed': the log already applied this signed request, or its timestamp is out of the window.
 */
export type SubmitErrorCode = 'busy' | 'unavailable' | 'timeout' | 'replayed';
export class SubmitError extends Error {
  override readonly name = 'SubmitError';
  constructor(readonly code: SubmitErrorCode, message: string) {
    super(message);
  }
}

export interface NodeStatus {
  /**
   * Only 'serving' answers from state; 'isolated' is a node whose cloud is cut off from the
   * quorum; 'unavailable' is a node whose log cannot be written now (a full disk) and that serves
   * again by itself once it can.
   */
  readonly state: 'starting' | 'serving' | 'isolated' | 'unavailable' | 'stopped' | 'diverged';
  readonly appliedPosition: number;
  readonly appliedSeq: number;
  readonly stateHash: string;
  readonly inFlight: number;
}

/**
 * The node's key-derivation secret, as the port exposes it: each key's HMAC secret and its
 * passphrase hash (gateway/key-secrets.ts implements it; the replica only needs the shape).
 */
export interface KeySecrets {
  secretFor(apiKey: string): string;
  passphraseHash(apiKey: string, passphrase: string): string;
  passphraseMatches(apiKey: string, passphrase: string, storedHash: string): boolean;
}

export interface ExchangePort {
  /**
   * Submits commands as one log record. Resolves with one result per command once the record is
   * durable and applied. Rejects with SubmitError: 'busy' (over the in-flight bound: nothing was
   * written), 'unavailable' (the log refused: nothing was acknowledged), 'timeout' (outcome
   * unknown: it may still apply), 'replayed' (`signedBy`, the signed request's signature, was
   * already applied by the log, or its timestamp is out of the window: nothing applied).
   */
  submit(commands: readonly LogCommand[], signedBy?: SignedBy): Promise<Result[]>;
  /** Reads of the local replica's state: plain records, never an engine class. */
  readonly queries: ExchangeQueries;
  readonly keys: KeyStore;
  /** Derives each key's secret and hashes passphrases (the node's key-derivation secret). */
  readonly keyDerivation: KeySecrets;
  /** Wall-clock ms, injectable for tests. */
  now(): number;
  status(): NodeStatus;
}

/**
 * Submits through a port and turns a refusal of the whole submission into a value: every
 * caller (the gateway's routes, the operator routes) submits through this one path and maps a
 * SubmitError to its own error table. Any other exception is a bug and propagates.
 */
export async function submitCommands(port: Pick<ExchangePort, 'submit'>, commands: readonly LogCommand[], signedBy?: SignedBy): Promise<Result[] | SubmitError> {
  if (commands.length === 0) return [];
  try {
    return await port.submit(commands, signedBy);
  } catch (e) {
    if (e instanceof SubmitError) return e;
    throw e;
  }
}
