// The API key registry, replicated through the log like everything else so that every cloud's
// gateway can verify every key, and every cloud refuses a revoked one once the revoke applies.
// Applied by the replica beside the engine; snapshotted with it. A record holds no secret: the
// HMAC secret is derived on each node and the passphrase is a keyed hash (gateway/key-secrets.ts).

import { Reject, type Engine, type Result } from '../core/index.js';
import type { ApiKey, CreateApiKey, KeyStore, RevokeApiKey } from './port.js';

const OK: Result = Object.freeze({ ok: true });

export class MemoryKeyStore implements KeyStore {
  private readonly keys = new Map<string, ApiKey>();

  get(apiKey: string): ApiKey | undefined {
    return this.keys.get(apiKey);
  }

  /** Every key, or one user's, sorted by key id. */
  list(userId?: number): ApiKey[] {
    return this.toJSON().filter((k) => userId === undefined || k.userId === userId);
  }

  apply(engine: Engine, cmd: CreateApiKey | RevokeApiKey): Result {
    if (cmd.type === 'RevokeApiKey') {
      this.keys.delete(cmd.apiKey);
      return OK;
    }
    if (engine.users[cmd.userId] === undefined) return { ok: false, reject: Reject.userNotFound };
    if (this.keys.has(cmd.apiKey)) return { ok: false, reject: Reject.apiKeyExists };
    // A record written before keys lost their secrets has no hash, permissions or allowlist: it
    // is kept (replay must not fail) as a key that nothing verifies, and its secret is dropped.
    const written: Partial<CreateApiKey> = cmd;
    this.keys.set(cmd.apiKey, {
      apiKey: cmd.apiKey, userId: cmd.userId, passphraseHash: written.passphraseHash ?? '', label: cmd.label,
      perms: [...written.perms ?? []], ips: [...written.ips ?? []], createdTs: engine.now,
    });
    return OK;
  }

  toJSON(): ApiKey[] {
    return [...this.keys.values()].sort((a, b) => (a.apiKey < b.apiKey ? -1 : a.apiKey > b.apiKey ? 1 : 0));
  }

  static fromJSON(rows: readonly ApiKey[]): MemoryKeyStore {
    const store = new MemoryKeyStore();
    for (const k of rows) store.keys.set(k.apiKey, k);
    return store;
  }
}
