// Operator routes under /admin/v1, used by the `everbook` CLI: create users and API keys, list
// and switch instruments, credit test deposits on a dev exchange, settle withdrawals, force a
// snapshot, show status. Only loopback clients holding the data directory's admin token get in.

import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { parseDecimal, type Command, type InstrumentState, type Result } from '../core/index.js';
import { parseBody, RawBody } from '../gateway/body.js';
import { SubmitError, type ExchangePort, type LogCommand } from '../gateway/port.js';
import { Failure } from '../gateway/errors.js';

export interface AdminDeps {
  readonly port: ExchangePort;
  readonly token: string;
  readonly dev: boolean;
  /** Let clients other than loopback in (they still need the token). */
  readonly remote: boolean;
  readonly snapshot: () => Promise<void>;
  /** The state hash right now, with the position it is at (walks the whole state). */
  readonly stateHashNow: () => { position: number; seq: number; stateHash: string };
  readonly details: () => Record<string, unknown>;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

function denied(reply: FastifyReply, status: number, code: string, msg: string): FastifyReply {
  return reply.code(status).send({ ok: false, code, msg });
}

function body<T>(schema: z.ZodType<T>, req: FastifyRequest, reply: FastifyReply): T | undefined {
  // The gateway keeps every JSON body raw (it is what OKX clients sign); parse it here.
  let value: unknown = req.body ?? {};
  if (value instanceof RawBody) {
    value = parseBody(value.text);
    if (value instanceof Failure) {
      void denied(reply, 400, 'bad_request', value.error.msg);
      return undefined;
    }
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    void denied(reply, 400, 'bad_request', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    return undefined;
  }
  return parsed.data;
}

export function newAdminToken(): string {
  return randomBytes(32).toString('hex');
}

/** Submits one command and answers with its result, or with the submission error. */
async function run(port: ExchangePort, reply: FastifyReply, cmds: LogCommand[], extra: (r: Result[]) => Record<string, unknown> = () => ({})): Promise<FastifyReply> {
  let results: Result[];
  try {
    results = await port.submit(cmds);
  } catch (e) {
    // An unknown outcome is not a failure: retrying a CreateUser or CreateApiKey may duplicate it.
    if (e instanceof SubmitError && e.code === 'timeout') return denied(reply, 504, 'outcome_unknown', `${e.message}: check before retrying`);
    if (e instanceof SubmitError && e.code === 'busy') return denied(reply, 503, 'busy', e.message);
    return denied(reply, 503, 'unavailable', (e as Error).message);
  }
  for (const r of results) {
    if (!r.ok) return denied(reply, 409, r.reject.code, r.reject.message);
  }
  return reply.send({ ok: true, ...extra(results) });
}

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { port } = deps;
  const expected = Buffer.from(`Bearer ${deps.token}`);
  app.register((admin, _opts, done) => {
    admin.addHook('onRequest', async (req, reply) => {
      if (!deps.remote && !LOOPBACK.test(req.socket.remoteAddress ?? '')) return denied(reply, 403, 'forbidden', 'admin routes answer loopback clients only');
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return denied(reply, 401, 'unauthorized', 'missing or wrong admin token');
      return undefined;
    });

    admin.get('/status', () => ({ ok: true, ...port.status(), ...deps.details() }));

    admin.post('/users', async (req, reply) => {
      const b = body(z.strictObject({
        makerFeePpm: z.number().int().optional(), takerFeePpm: z.number().int().optional(),
        stpMode: z.enum(['none', 'cancel_maker', 'cancel_taker', 'cancel_both']).optional(),
      }), req, reply);
      if (b === undefined) return reply;
      const cmd: Command = {
        type: 'CreateUser',
        ...(b.makerFeePpm !== undefined && { makerFeePpm: b.makerFeePpm }),
        ...(b.takerFeePpm !== undefined && { takerFeePpm: b.takerFeePpm }),
        ...(b.stpMode !== undefined && { stpMode: b.stpMode }),
      };
      return run(port, reply, [cmd], (r) => ({ userId: r[0]!.ok ? r[0]!.userId : undefined }));
    });

    admin.post('/keys', async (req, reply) => {
      const b = body(z.strictObject({ userId: z.number().int().positive(), label: z.string().max(64).default('') }), req, reply);
      if (b === undefined) return reply;
      const apiKey = randomUUID();
      const secret = randomBytes(16).toString('hex').toUpperCase();
      const passphrase = `Pp${randomBytes(9).toString('base64url')}`;
      return run(port, reply, [{ type: 'CreateApiKey', userId: b.userId, apiKey, secret, passphrase, label: b.label }],
        () => ({ userId: b.userId, apiKey, secretKey: secret, passphrase }));
    });

    admin.post('/deposits', async (req, reply) => {
      if (!deps.dev) return denied(reply, 403, 'forbidden', 'test deposits are only allowed on a dev exchange (--dev true)');
      const b = body(z.strictObject({
        userId: z.number().int().positive(), ccy: z.string().min(1).max(12), amount: z.string().max(64),
        depositId: z.string().min(1).max(128).optional(),
      }), req, reply);
      if (b === undefined) return reply;
      const asset = port.engine.assetById.get(b.ccy);
      if (asset === undefined) return denied(reply, 404, 'asset_not_found', `no asset ${b.ccy}`);
      const units = parseDecimal(b.amount, asset.spec.scale);
      if (units === undefined || units <= 0n) return denied(reply, 400, 'bad_request', `amount must be a positive decimal with at most ${asset.spec.scale} decimals`);
      const depositId = b.depositId ?? `dev-${randomUUID()}`;
      return run(port, reply, [{ type: 'CreditDeposit', depositId, userId: b.userId, asset: b.ccy, amount: units.toString() }], () => ({ depositId }));
    });

    admin.get('/instruments', () => ({
      ok: true,
      instruments: [...port.engine.instruments.values()].map((i) => ({ ...i.spec, state: i.state, bids: i.bids.orderCount, asks: i.asks.orderCount })),
    }));

    admin.post('/instruments/state', async (req, reply) => {
      const b = body(z.strictObject({ instId: z.string(), state: z.enum(['live', 'suspended', 'cancel_only', 'post_only']) }), req, reply);
      if (b === undefined) return reply;
      const state: InstrumentState = b.state;
      return run(port, reply, [{ type: 'SetInstrumentState', instId: b.instId, state }]);
    });

    admin.post('/withdrawals/complete', async (req, reply) => {
      const b = body(z.strictObject({ withdrawalId: z.number().int().positive(), txId: z.string().min(1).max(128) }), req, reply);
      if (b === undefined) return reply;
      return run(port, reply, [{ type: 'CompleteWithdrawal', withdrawalId: b.withdrawalId, txId: b.txId }]);
    });

    admin.post('/withdrawals/fail', async (req, reply) => {
      const b = body(z.strictObject({ withdrawalId: z.number().int().positive(), reason: z.string().min(1).max(128) }), req, reply);
      if (b === undefined) return reply;
      return run(port, reply, [{ type: 'FailWithdrawal', withdrawalId: b.withdrawalId, reason: b.reason }]);
    });

    admin.get('/state-hash', () => ({ ok: true, ...deps.stateHashNow() }));

    admin.post('/snapshot', async () => {
      await deps.snapshot();
      return { ok: true, ...port.status() };
    });
    done();
  }, { prefix: '/admin/v1' });
}
