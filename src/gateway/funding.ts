// Account and funding endpoints: balances, fee rates, currencies, deposit addresses, deposit
// and withdrawal history, withdrawing and cancelling a withdrawal. Everbook runs one unified
// account per user, so the trading balance (account/balance) and the funding balance
// (asset/balances) are the same numbers.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { AccountView, BalanceView } from '../core/index.js';
import type { DepositRecord, WithdrawalRecord } from '../projections/index.js';
import { amountText, feeRateText, toSteps } from './convert.js';
import { ApiErrors, Failure, rejectToApi, type RejectContext } from './errors.js';
import type { ExchangeQueries, LogCommand } from '../replica/index.js';
import {
  defined, fail, instrument, optional, optionalId, optionalMatch, pageFields, parsePage, required, submit, validate,
  type Outcome, type RequestContext, type RouteDef,
} from './request.js';

/** Deposit and withdrawal records per page, as OKX. */
export const transfersLimitMax = 100;
/** Currencies a balance query may name (OKX's limit). */
export const balanceCcyMax = 20;
/** Every asset is served on one chain; the name follows OKX's `${ccy}-${network}` form. */
export const networkName = 'ERC20';
export const chainOf = (ccy: string): string => `${ccy}-${networkName}`;

const ERC20_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const ID_TEXT = /^[A-Za-z0-9]{0,32}$/;

const balanceQuery = z.strictObject({ ccy: optional(256) });
const tradeFeeQuery = z.strictObject({ instType: required(16), instId: optional(64), uly: optional(64), instFamily: optional(64), ruleType: optional(16) });
const currenciesQuery = z.strictObject({ ccy: optional(256) });
const depositAddressQuery = z.strictObject({ ccy: required(12) });
const depositHistoryQuery = z.strictObject({
  ccy: optional(12), depId: optional(128), fromWdId: optional(32), txId: optional(128), type: optional(4), state: optional(4), ...pageFields,
});
const withdrawalHistoryQuery = z.strictObject({
  ccy: optional(12), wdId: optional(32), clientId: optional(32), txId: optional(128), type: optional(4), state: optional(4), ...pageFields,
});
const withdrawalBody = z.strictObject({
  ccy: required(12), amt: required(64), dest: required(4), toAddr: required(256), chain: optional(32), fee: optional(64),
  clientId: optionalMatch(ID_TEXT), areaCode: optional(8), toAddrType: optional(4),
});
const cancelWithdrawalBody = z.strictObject({ wdId: required(32) });

/**
 * The deposit address of a user for an asset without custody on a chain: a deterministic
 * development address ('0x' + 40 hex digits of SHA-256 over the user and asset). With custody
 * on, the node passes the real HD address (GatewayOptions.depositAddress).
 */
export function depositAddress(userId: number, asset: string): string {
  return `0x${createHash('sha256').update(`everbook-deposit:${String(userId)}:${asset}`).digest('hex').slice(0, 40)}`;
}

/** A comma-separated currency list, bounded. */
function ccyList(text: string | undefined): ReadonlySet<string> | undefined | Failure {
  if (text === undefined || text === '') return undefined;
  const list = text.split(',');
  if (list.length > balanceCcyMax) return fail(ApiErrors.paramError, 'ccy');
  return new Set(list);
}

function accountOf(queries: ExchangeQueries, userId: number): AccountView | Failure {
  return queries.account(userId) ?? new Failure(ApiErrors.authorizationInvalid);
}

function balanceRows(ctx: RequestContext, ccy: string | undefined): BalanceView[] | Failure {
  const account = accountOf(ctx.port.queries, ctx.userId);
  if (account instanceof Failure) return account;
  const wanted = ccyList(ccy);
  if (wanted instanceof Failure) return wanted;
  return account.balances.filter((b) => wanted === undefined || wanted.has(b.asset));
}

/**
 * The data item of account/balance (REST) and of the WebSocket `account` channel: one detail per
 * balance given. Cash-only spot accounts: availEq is "" so clients take availBal and frozenBal.
 */
export function accountBalanceData(queries: ExchangeQueries, balances: readonly BalanceView[], uTime: string): Record<string, unknown> {
  const details = balances.map(({ asset, available, held }) => {
    const total = amountText(queries, asset, available + held);
    const frozen = amountText(queries, asset, held);
    return {
      ccy: asset, eq: total, cashBal: total, availBal: amountText(queries, asset, available), frozenBal: frozen, ordFrozen: frozen,
      availEq: '', disEq: '', eqUsd: '', isoEq: '', upl: '', liab: '', crossLiab: '', isoLiab: '', interest: '',
      mgnRatio: '', notionalLever: '', twap: '0', stgyEq: '0', fixedBal: '0', uTime,
    };
  });
  return {
    uTime, totalEq: '', isoEq: '', adjEq: '', ordFroz: '', imr: '', mmr: '', borrowFroz: '', mgnRatio: '',
    notionalUsd: '', upl: '', details,
  };
}

/** A withdrawal refused by a freeze says why (reconciliation's figures, or the operator's reason). */
function frozenReason(ctx: RequestContext, code: string, command: LogCommand): string {
  if (code !== 'withdrawals_frozen' || command.type !== 'RequestWithdrawal') return '';
  const reason = ctx.port.queries.chainAsset(command.asset)?.chain.frozenReason ?? '';
  return reason === '' ? '' : ` Reason: ${reason}`;
}

/** Submits one command; its rejection becomes the reply's OKX code for this endpoint. */
async function submitOne(ctx: RequestContext, command: LogCommand, context: RejectContext): Promise<{ withdrawalId?: number } | Failure> {
  const results = await submit(ctx, [command]);
  if (results instanceof Failure) return results;
  const result = results[0];
  if (result === undefined) return new Failure(ApiErrors.systemError);
  if (!result.ok) {
    const api = rejectToApi(result.reject, context);
    return new Failure({ code: api.code, msg: api.msg + frozenReason(ctx, result.reject.code, command), http: 200 });
  }
  return result;
}

/** OKX's withdrawal states: 0 waiting, 4 waiting for manual review, 1 broadcasting, 2 success, -1 failed, -2 canceled. */
const withdrawalState: Readonly<Record<WithdrawalRecord['state'], string>> = {
  pending: '0', approval: '4', broadcasting: '1', completed: '2', failed: '-1', canceled: '-2',
};

/** OKX's deposit states: 0 waiting for confirmation, 2 successful. A reverted deposit is not shown. */
const depositState: Readonly<Record<DepositRecord['state'], string>> = { pending: '0', credited: '2', reverted: '' };

function withdrawalRow(queries: ExchangeQueries, w: WithdrawalRecord): Record<string, unknown> {
  return {
    wdId: String(w.withdrawalId), ccy: w.asset, chain: chainOf(w.asset), amt: amountText(queries, w.asset, w.amount),
    fee: amountText(queries, w.asset, w.fee), feeCcy: w.asset, from: '', areaCodeFrom: '', to: w.address, areaCodeTo: '',
    tag: '', pmtId: '', memo: '', addrEx: null, txId: w.txId, ts: String(w.ts), state: withdrawalState[w.state],
    clientId: w.clientId, nonTradableAsset: false, toAddrType: '1',
  };
}

function depositRow(queries: ExchangeQueries, d: DepositRecord): Record<string, unknown> {
  return {
    ccy: d.asset, chain: chainOf(d.asset), amt: amountText(queries, d.asset, d.amount), from: '', areaCodeFrom: '',
    to: d.address ?? depositAddress(d.userId, d.asset), txId: d.txId ?? d.depositId, ts: String(d.ts), state: depositState[d.state],
    depId: d.depositId, fromWdId: '', actualDepBlkConfirm: d.confirmations === undefined ? '' : String(d.confirmations), depClientId: '',
  };
}

export const fundingRoutes: readonly RouteDef[] = [
  {
    method: 'GET', path: '/api/v5/account/balance', auth: true, scope: 'user',
    handle: (ctx) => {
      const q = validate(balanceQuery, ctx.query);
      if (q instanceof Failure) return q;
      const rows = balanceRows(ctx, q.ccy);
      if (rows instanceof Failure) return rows;
      return { data: [accountBalanceData(ctx.port.queries, rows, String(ctx.nowMs))] };
    },
  },
  {
    method: 'GET', path: '/api/v5/account/trade-fee', auth: true, scope: 'user',
    handle: (ctx) => {
      const q = validate(tradeFeeQuery, ctx.query);
      if (q instanceof Failure) return q;
      if (q.instType !== 'SPOT') return fail(ApiErrors.paramError, 'instType');
      if (q.instId !== undefined && q.instId !== '') {
        const inst = instrument(ctx.port.queries, q.instId);
        if (inst instanceof Failure) return inst;
      }
      const user = accountOf(ctx.port.queries, ctx.userId);
      if (user instanceof Failure) return user;
      return {
        data: [{
          category: '1', delivery: '', exercise: '', instType: 'SPOT', level: 'Lv1', fiat: [], ruleType: 'normal',
          maker: feeRateText(user.makerFeePpm), taker: feeRateText(user.takerFeePpm),
          makerU: '', takerU: '', makerUSDC: '', takerUSDC: '', ts: String(ctx.nowMs),
        }],
      };
    },
  },
  {
    method: 'GET', path: '/api/v5/asset/currencies', auth: true, scope: 'user',
    handle: (ctx) => {
      const q = validate(currenciesQuery, ctx.query);
      if (q instanceof Failure) return q;
      const wanted = ccyList(q.ccy);
      if (wanted instanceof Failure) return wanted;
      const queries = ctx.port.queries;
      const data = queries.assets().filter((s) => wanted === undefined || wanted.has(s.asset)).map((s) => {
        const fee = amountText(queries, s.asset, s.withdrawFee);
        const onChain = queries.chainAsset(s.asset);
        return {
          ccy: s.asset, name: s.asset, logoLink: '', chain: chainOf(s.asset), ctAddr: onChain?.spec.token ?? '', canDep: true,
          canWd: s.withdrawEnabled && onChain?.chain.frozen !== true,
          canInternal: false, depEstOpenTime: '', wdEstOpenTime: '', minDep: amountText(queries, s.asset, 1),
          minWd: amountText(queries, s.asset, s.withdrawMin), maxWd: amountText(queries, s.asset, s.withdrawMax),
          wdQuota: amountText(queries, s.asset, s.withdrawDailyMax), usedWdQuota: '', wdTickSz: String(s.scale),
          minFee: fee, maxFee: fee, fee, minFeeForCtAddr: fee, maxFeeForCtAddr: fee, burningFeeRate: '',
          mainNet: true, needTag: false, minDepArrivalConfirm: onChain === undefined ? '' : String(onChain.spec.confirmations),
          minWdUnlockConfirm: onChain === undefined ? '' : String(onChain.spec.confirmations), depQuotaFixed: '',
          usedDepQuotaFixed: '', depQuoteDailyLayer2: '',
        };
      });
      return { data };
    },
  },
  {
    method: 'GET', path: '/api/v5/asset/balances', auth: true, scope: 'user',
    handle: (ctx) => {
      const q = validate(currenciesQuery, ctx.query);
      if (q instanceof Failure) return q;
      const rows = balanceRows(ctx, q.ccy);
      if (rows instanceof Failure) return rows;
      const queries = ctx.port.queries;
      return {
        data: rows.map(({ asset, available, held }) => ({
          ccy: asset, bal: amountText(queries, asset, available + held), availBal: amountText(queries, asset, available),
          frozenBal: amountText(queries, asset, held),
        })),
      };
    },
  },
  {
    method: 'GET', path: '/api/v5/asset/deposit-address', auth: true, scope: 'user',
    handle: (ctx) => {
      const q = validate(depositAddressQuery, ctx.query);
      if (q instanceof Failure) return q;
      if (ctx.port.queries.asset(q.ccy) === undefined) return fail(ApiErrors.paramError, 'ccy');
      return {
        data: [{
          ccy: q.ccy, chain: chainOf(q.ccy), addr: ctx.depositAddress?.(ctx.userId, q.ccy) ?? depositAddress(ctx.userId, q.ccy), ctAddr: '', to: '6',
          selected: true, memo: '', tag: '', pmtId: '', addrEx: null, verifiedName: '',
        }],
      };
    },
  },
  {
    method: 'GET', path: '/api/v5/asset/deposit-history', auth: true, scope: 'user',
    handle: (ctx) => {
      const q = validate(depositHistoryQuery, ctx.query);
      if (q instanceof Failure) return q;
      const page = parsePage(q, transfersLimitMax, transfersLimitMax);
      if (page instanceof Failure) return page;
      const asset = q.ccy === '' ? undefined : q.ccy;
      const depositId = q.depId === '' ? undefined : q.depId;
      const queries = ctx.port.queries;
      const records = queries.deposits(ctx.userId, { ...page, ...defined({ asset, depositId }) });
      const wanted = records.filter((d) => d.state !== 'reverted'
        && (q.state === undefined || q.state === '' || depositState[d.state] === q.state)
        && (q.txId === undefined || q.txId === '' || (d.txId ?? d.depositId) === q.txId));
      return { data: wanted.map((d) => depositRow(queries, d)) };
    },
  },
  {
    method: 'GET', path: '/api/v5/asset/withdrawal-history', auth: true, scope: 'user',
    handle: (ctx) => {
      const q = validate(withdrawalHistoryQuery, ctx.query);
      if (q instanceof Failure) return q;
      const page = parsePage(q, transfersLimitMax, transfersLimitMax);
      if (page instanceof Failure) return page;
      const withdrawalId = optionalId(q.wdId, 'wdId');
      if (withdrawalId instanceof Failure) return withdrawalId;
      const asset = q.ccy === '' ? undefined : q.ccy;
      const clientId = q.clientId === '' ? undefined : q.clientId;
      const queries = ctx.port.queries;
      const records = queries.withdrawals(ctx.userId, { ...page, ...defined({ asset, withdrawalId, clientId }) });
      const wanted = records.filter((w) => (q.state === undefined || q.state === '' || withdrawalState[w.state] === q.state)
        && (q.txId === undefined || q.txId === '' || w.txId === q.txId));
      return { data: wanted.map((w) => withdrawalRow(queries, w)) };
    },
  },
  {
    method: 'POST', path: '/api/v5/asset/withdrawal', auth: true, scope: 'user',
    handle: async (ctx): Promise<Outcome> => {
      const b = validate(withdrawalBody, ctx.body);
      if (b instanceof Failure) return b;
      const queries = ctx.port.queries;
      const asset = queries.asset(b.ccy);
      if (asset === undefined) return fail(ApiErrors.paramError, 'ccy');
      if (b.dest !== '4') return fail(ApiErrors.paramError, 'dest');
      if (b.chain !== undefined && b.chain !== '' && b.chain !== chainOf(asset.asset)) return fail(ApiErrors.paramError, 'chain');
      if (!ERC20_ADDRESS.test(b.toAddr)) return new Failure(ApiErrors.withdrawalAddress);
      const amount = toSteps(b.amt, asset.scale, 1);
      if (typeof amount !== 'bigint' || amount === 0n) return fail(ApiErrors.paramError, 'amt');
      if (b.fee !== undefined && b.fee !== '' && toSteps(b.fee, asset.scale, 1) !== BigInt(asset.withdrawFee)) {
        return fail(ApiErrors.paramError, 'fee');
      }
      const clientId = b.clientId ?? '';
      const done = await submitOne(ctx, {
        type: 'RequestWithdrawal', userId: ctx.userId, asset: asset.asset, amount: amount.toString(), address: b.toAddr,
        ...(clientId === '' ? {} : { clientId }),
      }, 'withdraw');
      if (done instanceof Failure) return done;
      return {
        data: [{
          amt: amountText(queries, asset.asset, amount), wdId: String(done.withdrawalId ?? ''), ccy: asset.asset, clientId,
          chain: chainOf(asset.asset),
        }],
      };
    },
  },
  {
    method: 'POST', path: '/api/v5/asset/cancel-withdrawal', auth: true, scope: 'user',
    handle: async (ctx): Promise<Outcome> => {
      const b = validate(cancelWithdrawalBody, ctx.body);
      if (b instanceof Failure) return b;
      const withdrawalId = optionalId(b.wdId, 'wdId');
      if (withdrawalId instanceof Failure) return withdrawalId;
      if (withdrawalId === undefined) return fail(ApiErrors.paramEmpty, 'wdId');
      const done = await submitOne(ctx, { type: 'CancelWithdrawal', userId: ctx.userId, withdrawalId }, 'cancelWithdrawal');
      if (done instanceof Failure) return done;
      return { data: [{ wdId: String(withdrawalId) }] };
    },
  },
];
