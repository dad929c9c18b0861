// Operator routes under /admin/v1, used by the `everbook` CLI: create users, create, list and
// revoke API keys (a key's secret is shown once, at creation), list and switch instruments, credit test deposits on a dev exchange, settle withdrawals, force a
// snapshot, show status. Only loopback clients holding the data directory's admin token get in.

import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { formatDecimal, parseDecimal, type Command, type InstrumentState, type Result } from '../core/index.js';
import { keyIpsMax, permissions, submitCommands, SubmitError, type ApiKey, type ExchangePort, type LogCommand, type Permission } from '../replica/index.js';
import { Failure, normalizeIp, parseBody, RawBody, type ProofSource } from '../gateway/index.js';
import type { LiabilitiesReports, ReportState } from '../por/index.js';

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
  /** The custody runtime's own state (reconciliation), when it runs. */
  readonly custodyDetails?: () => Record<string, unknown>;
  /** Proof of reserves: the node's report queue and the proofs it serves. */
  readonly por?: {
    readonly reports: Pick<LiabilitiesReports, 'state' | 'settled'>;
    readonly proofs: ProofSource;
    /** With custody: the chain block a report reads reserves at when the operator names none. */
    readonly reportBlock?: () => Promise<number>;
  };
}

/** The longest an operator's status request waits for a report to be built. */
export const reportWaitMsMax = 60_000;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/** Whether a socket's peer is this machine (operator routes and metrics trust those). */
export const isLoopback = (address: string | undefined): boolean => LOOPBACK.test(address ?? '');

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

/**
 * The permissions a key gets when none are asked for: reading and trading, never withdrawal
 * (it must be asked for), as OKX offers Trade but leaves Withdraw off.
 */
export const defaultKeyPerms: readonly Permission[] = ['read_only', 'trade'];

/** OKX's `perm` text ("read_only,trade") as a canonical list, or why it is not one. */
export function parsePerms(text: string): Permission[] | string {
  const asked = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const unknown = asked.find((p) => !(permissions as readonly string[]).includes(p));
  if (unknown !== undefined) return `unknown permission "${unknown}" (use ${permissions.join(', ')})`;
  // Reading is implied by every key, as on OKX.
  return permissions.filter((p) => p === 'read_only' || asked.includes(p));
}

/** An IP allowlist ("1.2.3.4,::1") as a list of addresses, or why it is not one. */
export function parseIps(text: string): string[] | string {
  const ips = [...new Set(text.split(/[,\s]+/).filter((ip) => ip !== '').map(normalizeIp))];
  if (ips.length > keyIpsMax) return `at most ${keyIpsMax} IP addresses per key`;
  const bad = ips.find((ip) => isIP(ip) === 0);
  return bad === undefined ? ips : `"${bad}" is not an IP address`;
}

/** A key as listed: never a secret, never the passphrase hash. */
export function keyView(k: ApiKey): Record<string, unknown> {
  return { apiKey: k.apiKey, userId: k.userId, label: k.label, perm: k.perms.join(','), ips: k.ips.join(','), createdTs: k.createdTs };
}

export function newAdminToken(): string {
  return randomBytes(32).toString('hex');
}

/** Submits one command and answers with its result, or with the submission error. */
async function run(port: ExchangePort, reply: FastifyReply, cmds: LogCommand[], extra: (r: Result[]) => Record<string, unknown> = () => ({})): Promise<FastifyReply> {
  const results = await submitCommands(port, cmds);
  if (results instanceof SubmitError) {
    // An unknown outcome is not a failure: retrying a CreateUser or CreateApiKey may duplicate it.
    if (results.code === 'timeout') return denied(reply, 504, 'outcome_unknown', `${results.message}: check before retrying`);
    if (results.code === 'busy') return denied(reply, 503, 'busy', results.message);
    return denied(reply, 503, 'unavailable', results.message);
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
      if (!deps.remote && !isLoopback(req.socket.remoteAddress)) return denied(reply, 403, 'forbidden', 'admin routes answer loopback clients only');
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

    // The secret and passphrase are answered here once and kept nowhere: the log holds only a
    // keyed hash of the passphrase, and the secret is derived again on each node when verifying.
    admin.post('/keys', async (req, reply) => {
      const b = body(z.strictObject({
        userId: z.number().int().positive(), label: z.string().max(64).default(''),
        perm: z.string().max(64).optional(), ips: z.string().max(1_024).optional(),
        passphrase: z.string().min(8).max(32).regex(/^[\x21-\x7e]+$/).optional(),
      }), req, reply);
      if (b === undefined) return reply;
      const perms = b.perm === undefined ? [...defaultKeyPerms] : parsePerms(b.perm);
      if (typeof perms === 'string') return denied(reply, 400, 'bad_request', perms);
      const ips = b.ips === undefined ? [] : parseIps(b.ips);
      if (typeof ips === 'string') return denied(reply, 400, 'bad_request', ips);
      const apiKey = randomUUID();
      const passphrase = b.passphrase ?? `Pp${randomBytes(9).toString('base64url')}`;
      const passphraseHash = port.keyDerivation.passphraseHash(apiKey, passphrase);
      return run(port, reply, [{ type: 'CreateApiKey', userId: b.userId, apiKey, passphraseHash, label: b.label, perms, ips }],
        () => ({
          // Named as a CCXT constructor takes them: new ccxt.okx({ apiKey, secret, password }).
          userId: b.userId, apiKey, secret: port.keyDerivation.secretFor(apiKey), password: passphrase,
          perm: perms.join(','), ips: ips.join(','), label: b.label,
        }));
    });

    admin.get('/keys', (req, reply) => {
      const q = z.strictObject({ userId: z.coerce.number().int().positive().optional() }).safeParse(req.query);
      if (!q.success) return denied(reply, 400, 'bad_request', 'userId must be a positive whole number');
      return { ok: true, keys: port.keys.list(q.data.userId).map(keyView) };
    });

    // Revoking goes through the log: once it is acknowledged it has applied here, and every
    // cloud's replica refuses the key as soon as it applies the same record.
    admin.post('/keys/revoke', async (req, reply) => {
      const b = body(z.strictObject({ apiKey: z.string().min(1).max(64) }), req, reply);
      if (b === undefined) return reply;
      if (port.keys.get(b.apiKey) === undefined) return denied(reply, 404, 'api_key_not_found', `no API key ${b.apiKey}`);
      return run(port, reply, [{ type: 'RevokeApiKey', apiKey: b.apiKey }], () => ({ apiKey: b.apiKey, revoked: true }));
    });

    admin.post('/deposits', async (req, reply) => {
      if (!deps.dev) return denied(reply, 403, 'forbidden', 'test deposits are only allowed on a dev exchange (--dev true)');
      const b = body(z.strictObject({
        userId: z.number().int().positive(), ccy: z.string().min(1).max(12), amount: z.string().max(64),
        depositId: z.string().min(1).max(128).optional(),
      }), req, reply);
      if (b === undefined) return reply;
      const asset = port.queries.asset(b.ccy);
      if (asset === undefined) return denied(reply, 404, 'asset_not_found', `no asset ${b.ccy}`);
      const units = parseDecimal(b.amount, asset.scale);
      if (units === undefined || units <= 0n) return denied(reply, 400, 'bad_request', `amount must be a positive decimal with at most ${asset.scale} decimals`);
      const depositId = b.depositId ?? `dev-${randomUUID()}`;
      return run(port, reply, [{ type: 'CreditDeposit', depositId, userId: b.userId, asset: b.ccy, amount: units.toString() }], () => ({ depositId }));
    });

    admin.get('/instruments', () => ({
      ok: true,
      instruments: port.queries.instruments().map((i) => {
        const book = port.queries.book(i.instId, 0);
        return { ...i.spec, state: i.state, bids: book?.bidOrders ?? 0, asks: book?.askOrders ?? 0 };
      }),
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

    // Custody (docs/CUSTODY.md): approve a withdrawal waiting for approval (withdrawals/fail
    // rejects it), freeze or resume a chain's withdrawals, set a user's withdrawal allowlist.
    admin.get('/withdrawals', () => ({
      ok: true,
      withdrawals: port.queries.openWithdrawals().map((w) => ({ ...w, amount: formatDecimal(w.amount, port.queries.asset(w.asset)?.scale ?? 0) })),
    }));

    admin.post('/withdrawals/approve', async (req, reply) => {
      const b = body(z.strictObject({ withdrawalId: z.number().int().positive() }), req, reply);
      if (b === undefined) return reply;
      return run(port, reply, [{ type: 'ApproveWithdrawal', withdrawalId: b.withdrawalId }]);
    });

    admin.get('/custody', () => ({
      ok: true,
      chains: port.queries.chains().map((name) => {
        const view = port.queries.custody(name)!;
        return {
          chain: name, chainId: view.chain.spec.chainId, hotWallet: view.chain.spec.hotWallet, nextNonce: view.chain.nextNonce,
          frozen: view.chain.frozen, frozenReason: view.chain.frozenReason, openTxs: view.openTxs.length,
          assets: view.assets.map((a) => ({ asset: a.spec.asset, token: a.spec.token, confirmations: a.spec.confirmations, liabilities: formatDecimal(a.liabilities, a.scale) })),
        };
      }),
      ...deps.custodyDetails?.(),
    }));

    admin.post('/withdrawals/freeze', async (req, reply) => {
      const b = body(z.strictObject({ chain: z.string().min(1).max(32), frozen: z.boolean(), reason: z.string().max(256).default('') }), req, reply);
      if (b === undefined) return reply;
      if (b.frozen && b.reason === '') return denied(reply, 400, 'bad_request', 'a freeze needs a reason (--reason TEXT)');
      return run(port, reply, [{ type: 'SetWithdrawalsFrozen', chain: b.chain, frozen: b.frozen, reason: b.reason }]);
    });

    admin.post('/withdrawals/allowlist', async (req, reply) => {
      const b = body(z.strictObject({ userId: z.number().int().positive(), addresses: z.array(z.string().max(64)).max(100) }), req, reply);
      if (b === undefined) return reply;
      return run(port, reply, [{ type: 'SetWithdrawalAllowlist', userId: b.userId, addresses: b.addresses }]);
    });
    const por = deps.por;
    if (por !== undefined) {
      // Only fixes the position (every node then builds the report); see GET below for its state.
      admin.post('/por/reports', async (req, reply) => {
        const b = body(z.strictObject({ reportId: z.string().min(1).max(64), blockNumber: z.number().int().nonnegative().optional() }), req, reply);
        if (b === undefined) return reply;
        // The block goes into the log, so every cloud reads reserves at the same one.
        let blockNumber = b.blockNumber ?? 0;
        if (b.blockNumber === undefined && por.reportBlock !== undefined) {
          try {
            blockNumber = await por.reportBlock();
          } catch (e) {
            return denied(reply, 503, 'chain_unavailable', `the chain head could not be read for the reserves: ${(e as Error).message}`);
          }
        }
        return run(port, reply, [{ type: 'RequestLiabilitiesReport', reportId: b.reportId, blockNumber }], () => ({ reportId: b.reportId, blockNumber }));
      });

      admin.get('/por/reports/:reportId', async (req, reply) => {
        const q = z.strictObject({ waitMs: z.coerce.number().int().min(0).max(reportWaitMsMax).default(0) }).safeParse(req.query);
        if (!q.success) return denied(reply, 400, 'bad_request', `waitMs is 0 to ${reportWaitMsMax}`);
        const { reportId } = req.params as { reportId: string };
        let state = await por.reports.state(reportId);
        if (state !== undefined && (state.state === 'queued' || state.state === 'building') && q.data.waitMs > 0) {
          let timer: NodeJS.Timeout | undefined;
          const timeout = new Promise<ReportState>((resolve) => { timer = setTimeout(() => { resolve(state!); }, q.data.waitMs); });
          state = await Promise.race([por.reports.settled(reportId), timeout]);
          clearTimeout(timer);
        }
        if (state === undefined) return denied(reply, 404, 'report_not_found', `no report ${reportId} on this node`);
        return { ok: true, reportId, ...state, reserves: (await por.proofs.reserves(reportId)) ?? null };
      });

      admin.get('/por/proof', async (req, reply) => {
        const q = z.strictObject({ reportId: z.string().min(1).max(64), userId: z.coerce.number().int().positive() }).safeParse(req.query);
        if (!q.success) return denied(reply, 400, 'bad_request', 'reportId and userId are required');
        const proof = await por.proofs.proof(q.data.reportId, q.data.userId);
        if (proof === undefined) return denied(reply, 404, 'proof_not_found', `no report ${q.data.reportId} here, or user ${q.data.userId} is not in it`);
        return { ok: true, proof };
      });
    }

    admin.get('/state-hash', () => ({ ok: true, ...deps.stateHashNow() }));

    admin.post('/snapshot', async () => {
      await deps.snapshot();
      return { ok: true, ...port.status() };
    });
    done();
  }, { prefix: '/admin/v1' });
}
