// An ExchangePort for tests: a real Engine and MemoryProjections applied synchronously (read
// through the replica's LiveQueries, as a node's port reads them), API keys
// in the replica's MemoryKeyStore, a clock the test moves by hand, and a switch that makes the
// next submissions fail as a busy, unavailable or timed-out log would. It also counts the
// submissions that reached the engine, so tests can prove an invalid request changed nothing.

import type { FastifyInstance } from 'fastify';
import { Engine, type Command, type Event, type Result } from '../../src/core/index.js';
import { sign } from '../../src/gateway/auth.js';
import { KeyDerivation } from '../../src/gateway/key-secrets.js';
import {
  SubmitError, type ExchangePort, type LogCommand, type NodeStatus, type Permission, type SubmitErrorCode,
} from '../../src/replica/index.js';
import { MemoryProjections } from '../../src/projections/index.js';
import { LiveQueries, MemoryKeyStore } from '../../src/replica/index.js';
import { assets, instruments, T0 } from './scenario.js';

export class MemoryPort implements ExchangePort {
  readonly engine = new Engine();
  readonly projections = new MemoryProjections(this.engine);
  readonly keys = new MemoryKeyStore();
  readonly queries = new LiveQueries(() => this.engine, () => this.projections);
  /** A fixed derivation secret: tests derive the same key secrets every run. */
  readonly keyDerivation = new KeyDerivation('5e'.repeat(32));
  clockMs = T0;
  /** Submissions that reached the engine (refused ones are not counted). */
  submissions = 0;
  /** When set, every submission is refused with this code and nothing is applied. */
  refuseWith: SubmitErrorCode | undefined;
  state: NodeStatus['state'] = 'serving';
  /** Called with each applyNow's events, as the replica calls onApplied (a stream hub listens here). */
  onApplied: ((events: readonly Event[]) => void) | undefined;

  now(): number {
    return this.clockMs;
  }

  status(): NodeStatus {
    return { state: this.state, appliedPosition: this.engine.seq, appliedSeq: this.engine.seq, stateHash: '', inFlight: 0 };
  }

  submit(commands: readonly LogCommand[]): Promise<Result[]> {
    if (this.refuseWith !== undefined) return Promise.reject(new SubmitError(this.refuseWith, `test refuses: ${this.refuseWith}`));
    this.submissions += 1;
    return Promise.resolve(this.applyNow(commands));
  }

  /** Applies commands at once, in order, as the replica would apply one record. */
  applyNow(commands: readonly LogCommand[]): Result[] {
    const events: Event[] = [];
    const results = commands.map((cmd) => {
      if (cmd.type === 'CreateApiKey' || cmd.type === 'RevokeApiKey') return this.keys.apply(this.engine, cmd);
      return this.engine.apply(cmd satisfies Command, this.clockMs, events);
    });
    this.projections.apply(events);
    this.onApplied?.(events);
    return results;
  }
}

export interface Trader {
  readonly userId: number;
  readonly apiKey: string;
  readonly secret: string;
  readonly passphrase: string;
}

/** What a test key may do (default: everything, as the dev traders) and where from (default: anywhere). */
export interface KeyOptions { readonly perms?: readonly Permission[]; readonly ips?: readonly string[] }

/** Creates a user with a key and the given deposits (minor units by asset). */
export function addTrader(
  port: MemoryPort, name: string, deposits: Readonly<Record<string, string>>, fees: { makerFeePpm?: number; takerFeePpm?: number } = {},
  key: KeyOptions = {},
): Trader {
  const created = port.applyNow([{ type: 'CreateUser', makerFeePpm: fees.makerFeePpm ?? 0, takerFeePpm: fees.takerFeePpm ?? 0 }])[0]!;
  if (!created.ok || created.userId === undefined) throw new Error(`cannot create ${name}`);
  const userId = created.userId;
  const apiKey = `key-${name}`;
  const trader = { userId, apiKey, secret: port.keyDerivation.secretFor(apiKey), passphrase: `pass-${name}` };
  const commands: LogCommand[] = [{
    type: 'CreateApiKey', userId, apiKey, passphraseHash: port.keyDerivation.passphraseHash(apiKey, trader.passphrase), label: name,
    perms: key.perms ?? ['read_only', 'trade', 'withdraw'], ips: key.ips ?? [],
  }];
  for (const [asset, amount] of Object.entries(deposits)) {
    commands.push({ type: 'CreditDeposit', depositId: `dep-${name}-${asset}`, userId, asset, amount });
  }
  for (const r of port.applyNow(commands)) if (!r.ok) throw new Error(`setup of ${name} failed: ${JSON.stringify(r)}`);
  return trader;
}

/**
 * The scenario venue (BTC 8 decimals, USDT 6; BTC-USDT tick 0.01, lot 0.0001, min 0.001) with
 * two funded traders: alice and bob hold 10 BTC and 1,000,000 USDT each.
 */
export function venue(fees: { makerFeePpm?: number; takerFeePpm?: number } = {}): { port: MemoryPort; alice: Trader; bob: Trader } {
  const port = new MemoryPort();
  for (const r of port.applyNow([...assets, ...instruments])) if (!r.ok) throw new Error(`venue setup failed: ${JSON.stringify(r)}`);
  const funds = { BTC: '1000000000', USDT: '1000000000000' };
  return { port, alice: addTrader(port, 'alice', funds, fees), bob: addTrader(port, 'bob', funds, fees) };
}

export interface Reply {
  readonly status: number;
  readonly body: { code: string; msg: string; data: unknown[] } & Record<string, unknown>;
  readonly raw: string;
}

export interface CallOptions {
  /** The OK-ACCESS-TIMESTAMP header (default: the port's clock, as ISO). */
  readonly timestamp?: string;
  /** Headers to add or (with undefined) to remove. */
  readonly headers?: Readonly<Record<string, string | undefined>>;
  /** Signs with this secret instead of the trader's. */
  readonly secret?: string;
  readonly contentType?: string;
}

/** Sends a request through fastify's inject, signed as OKX signs it when a trader is given. */
export async function call(
  app: FastifyInstance, port: MemoryPort, trader: Trader | undefined, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string,
  body?: string, options: CallOptions = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  if (trader !== undefined) {
    const timestamp = options.timestamp ?? new Date(port.now()).toISOString();
    headers['ok-access-key'] = trader.apiKey;
    headers['ok-access-passphrase'] = trader.passphrase;
    headers['ok-access-timestamp'] = timestamp;
    headers['ok-access-sign'] = sign(options.secret ?? trader.secret, timestamp, method, url, body ?? '');
  }
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) Reflect.deleteProperty(headers, name);
    else headers[name] = value;
  }
  const response = await app.inject({ method, url, headers, ...(body === undefined ? {} : { payload: body }) });
  let parsed: Reply['body'];
  try {
    parsed = JSON.parse(response.body) as Reply['body'];
  } catch {
    throw new Error(`reply is not JSON (${String(response.statusCode)}): ${response.body}`);
  }
  return { status: response.statusCode, body: parsed, raw: response.body };
}
