// The API key registry, replicated through the log like everything else so that every cloud's
// gateway can verify every key. Applied by the replica beside the engine; snapshotted with it.

import { Reject, type Engine, type Result } from '../core/index.js';
import type { ApiKey, CreateApiKey, KeyStore, RevokeApiKey } from '../gateway/port.js';

const OK: Result = Object.freeze({ ok: true });

export class MemoryKeyStore implements KeyStore {
  private readonly keys = new Map<string, ApiKey>();

  get(apiKey: string): ApiKey | undefined {
    return this.keys.get(apiKey);
  }

  forUser(userId: number): ApiKey[] {
    return [...this.keys.values()].filter((k) => k.userId === userId);
  }

  apply(engine: Engine, cmd: CreateApiKey | RevokeApiKey): Result {
    if (cmd.type === 'RevokeApiKey') {
      this.keys.delete(cmd.apiKey);
      return OK;
    }
    if (engine.users[cmd.userId] === undefined) return { ok: false, reject: Reject.userNotFound };
    if (this.keys.has(cmd.apiKey)) return { ok: false, reject: Reject.apiKeyExists };
    this.keys.set(cmd.apiKey, {
      apiKey: cmd.apiKey, userId: cmd.userId, secret: cmd.secret, passphrase: cmd.passphrase, label: cmd.label, createdTs: engine.now,
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
