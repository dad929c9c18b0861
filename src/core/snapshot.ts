// Snapshot, restore and state hash. A snapshot is canonical JSON: every collection is written
// in an order that depends only on the state (ids, instrument names, book priority), never on
// the order things were inserted into a Map, so two replicas with the same state produce the
// same bytes and a restored engine snapshots to exactly the bytes it was restored from. The
// state hash is SHA-256 over those bytes.

import type { BookSide } from './book.js';
import { invariant } from './codes.js';
import { buildInstrument, Engine, rememberClOrdId } from './engine.js';
import { Asset, Chain, ChainAsset, ChainTx, DailyWithdrawn, Order, PendingDeposit, User, Withdrawal, type Instrument, type WithdrawalStage } from './model.js';
import type { Balance } from './money.js';
import { sha256Hex } from './sha256.js';
import type { ChainTxKind, InstrumentState, OrderRecord, SetAsset, SetChain, SetChainAsset, SetInstrument, StpMode } from './types.js';

export const SNAPSHOT_FORMAT = 'everbook-snapshot';
export const SNAPSHOT_VERSION = 3;
/** Older versions this build still reads: version 2 had no custody section (and no withdrawal stage). */
const SNAPSHOT_VERSIONS_READ: readonly number[] = [2, 3];

export class SnapshotError extends Error {
  override readonly name = 'SnapshotError';
}

/** An open order as the snapshot writes it: the order record's fields (types.ts), plus the funds it holds. */
type OrderRow = [
  id: OrderRecord['orderId'], userId: OrderRecord['userId'], instId: OrderRecord['instId'], side: OrderRecord['side'],
  orderType: OrderRecord['orderType'], priceTicks: OrderRecord['priceTicks'], sizeLots: OrderRecord['sizeLots'],
  filledLots: OrderRecord['filledLots'], filledQuote: OrderRecord['filledQuote'], reserved: number, clOrdId: OrderRecord['clOrdId'],
  stpMode: OrderRecord['stpMode'], createdTs: OrderRecord['createdTs'], updatedTs: OrderRecord['updatedTs'], state: OrderRecord['state'],
];
type UserRow = [
  id: number, makerFeePpm: number, takerFeePpm: number, stpMode: StpMode,
  accounts: [assetIndex: number, available: string, held: string][],
  withdrawnToday: [assetIndex: number, day: number, amount: string][],
  openOrderIds: number[],
  recentClOrdIds: string[],
];
type WithdrawalRow = [
  id: number, userId: number, asset: string, amount: string, fee: string, address: string, clientId: string, day: number, ts: number,
  stage?: WithdrawalStage,
];
type ChainTxRow = [
  chain: string, fromIndex: number, nonce: number, kind: ChainTxKind, withdrawalId: number, asset: string, to: string, toIndex: number,
  chainAmount: string, sweptAmount: string, gasAsset: string, gasLimit: number, maxFeePerGas: string, maxPriorityFeePerGas: string,
  feeLevel: number, assignedSeq: number,
];
interface CustodyBody {
  chains: [spec: SetChain, nextNonce: number, frozen: boolean, reason: string, assigned: boolean, depositNonces: [userId: number, nonce: number][]][];
  assets: [spec: SetChainAsset, globalDay: number, globalAmount: string][];
  pending: [key: string, userId: number, asset: string, chainAmount: string, txId: string, address: string, blockNumber: number, blockHash: string, confirmations: number, ts: number][];
  unswept: [key: string, chainAmount: string][];
  sweeping: [key: string, txKey: string][];
  txs: ChainTxRow[];
  allowlists: [userId: number, addresses: readonly string[]][];
}

interface SnapshotBody {
  format: string;
  version: number;
  seq: number;
  now: number;
  next: [user: number, order: number, trade: number, withdrawal: number];
  assets: [spec: SetAsset, fees: string, deposits: string, withdrawals: string][];
  instruments: [spec: SetInstrument, state: InstrumentState][];
  users: UserRow[];
  orders: OrderRow[];
  withdrawals: WithdrawalRow[];
  deposits: [depositId: string, userId: number, asset: string, amount: string][];
  withdrawalClientIds: [key: string, withdrawalId: number][];
  custody?: CustodyBody;
}

const byString = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function sortedInstruments(engine: Engine): Instrument[] {
  return [...engine.instruments.values()].sort((a, b) => byString(a.instId, b.instId));
}

function bookOrders(side: BookSide): Order[] {
  const out: Order[] = [];
  for (let i = side.levels.length - 1; i >= 0; i--) {
    for (let o = side.levels[i]!.head; o !== null; o = o.next) out.push(o);
  }
  return out;
}

export function snapshot(engine: Engine): Uint8Array {
  const orders: OrderRow[] = [];
  const instruments = sortedInstruments(engine);
  for (const inst of instruments) {
    for (const o of [...bookOrders(inst.bids), ...bookOrders(inst.asks)]) {
      orders.push([
        o.id, o.user.id, inst.instId, o.side, o.orderType, o.priceTicks, o.sizeLots, o.filledLots, o.filledQuote,
        o.reserved, o.clOrdId, o.stpMode, o.createdTs, o.updatedTs, o.state,
      ]);
    }
  }
  const users: UserRow[] = [];
  for (const u of engine.users) {
    if (u === undefined) continue;
    const accounts: UserRow[4] = [];
    u.accounts.forEach((a, index) => {
      if (a !== undefined) accounts.push([index, a.available.toString(), a.held.toString()]);
    });
    const withdrawn: UserRow[5] = [...u.withdrawnToday.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([index, d]) => [index, d.day, d.amount.toString()]);
    const open: number[] = [];
    for (let o = u.openHead; o !== null; o = o.userNext) open.push(o.id);
    const recent = [...u.recentRing.slice(u.recentNext), ...u.recentRing.slice(0, u.recentNext)];
    users.push([u.id, u.makerFeePpm, u.takerFeePpm, u.stpMode, accounts, withdrawn, open, recent]);
  }
  const body: SnapshotBody = {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    seq: engine.seq,
    now: engine.now,
    next: [engine.nextUserId, engine.nextOrderId, engine.nextTradeId, engine.nextWithdrawalId],
    assets: engine.assets.map((a) => [a.spec, a.fees.toString(), a.deposits.toString(), a.withdrawals.toString()]),
    instruments: instruments.map((i) => [i.spec, i.state]),
    users,
    orders,
    withdrawals: [...engine.withdrawals.values()].sort((a, b) => a.id - b.id).map((w) => [
      w.id, w.user.id, w.asset.id, w.amount.toString(), w.fee.toString(), w.address, w.clientId, w.day, w.ts, w.stage,
    ]),
    deposits: [...engine.deposits.entries()].sort((a, b) => byString(a[0], b[0]))
      .map(([id, d]) => [id, d.userId, d.asset, d.amount]),
    withdrawalClientIds: [...engine.withdrawalClientIds.entries()].sort((a, b) => byString(a[0], b[0])),
    custody: custodyBody(engine),
  };
  return new TextEncoder().encode(JSON.stringify(body));
}

function custodyBody(engine: Engine): CustodyBody {
  const c = engine.custody;
  const sorted = <T>(entries: Iterable<[string, T]>): [string, T][] => [...entries].sort((a, b) => byString(a[0], b[0]));
  return {
    chains: sorted(c.chains.entries()).map(([, ch]) => [
      ch.spec, ch.nextNonce, ch.frozen, ch.frozenReason, ch.assigned, [...ch.depositNonces.entries()].sort((a, b) => a[0] - b[0]),
    ]),
    assets: engine.assets.flatMap((a) => (a.chain === null ? [] : [[a.chain.spec, a.chain.globalDay, a.chain.globalAmount.toString()]])),
    pending: sorted(c.pending.entries()).map(([key, p]) => [
      key, p.userId, p.asset.id, p.chainAmount.toString(), p.txId, p.address, p.blockNumber, p.blockHash, p.confirmations, p.ts,
    ]),
    unswept: sorted(c.unswept.entries()).map(([key, v]) => [key, v.toString()]),
    sweeping: sorted(c.sweeping.entries()),
    txs: [...c.txs.values()]
      .sort((a, b) => byString(a.chain.spec.chain, b.chain.spec.chain) || a.fromIndex - b.fromIndex || a.nonce - b.nonce)
      .map((t) => [
        t.chain.spec.chain, t.fromIndex, t.nonce, t.kind, t.withdrawalId, t.asset.asset.id, t.to, t.toIndex, t.chainAmount.toString(),
        t.sweptAmount.toString(), t.gasAsset.asset.id, t.gasLimit, t.maxFeePerGas, t.maxPriorityFeePerGas, t.feeLevel, t.assignedSeq,
      ]),
    allowlists: [...c.allowlists.entries()].sort((a, b) => a[0] - b[0]),
  };
}

function restoreCustody(engine: Engine, body: CustodyBody): void {
  const c = engine.custody;
  for (const [spec, nextNonce, frozen, reason, assigned, depositNonces] of body.chains) {
    const chain = new Chain(spec);
    chain.nextNonce = nextNonce;
    chain.frozen = frozen;
    chain.frozenReason = reason;
    chain.assigned = assigned;
    for (const [userId, nonce] of depositNonces) chain.depositNonces.set(userId, nonce);
    c.chains.set(spec.chain, chain);
  }
  for (const [spec, globalDay, globalAmount] of body.assets) {
    const asset = engine.assetById.get(spec.asset);
    const chain = c.chains.get(spec.chain);
    invariant(asset !== undefined && chain !== undefined, `chain asset ${spec.asset} refers to known asset and chain`);
    const ca = new ChainAsset(spec, asset, chain, 10n ** BigInt(spec.chainDecimals - asset.spec.scale));
    ca.globalDay = globalDay;
    ca.globalAmount = BigInt(globalAmount);
    asset.chain = ca;
  }
  for (const [key, userId, assetId, amount, txId, address, blockNumber, blockHash, confirmations, ts] of body.pending) {
    const asset = engine.assetById.get(assetId);
    invariant(asset !== undefined && engine.users[userId] !== undefined, `pending deposit ${key} refers to known user and asset`);
    c.pending.set(key, new PendingDeposit(key, userId, asset, BigInt(amount), txId, address, blockNumber, blockHash, confirmations, ts));
  }
  for (const [key, amount] of body.unswept) c.unswept.set(key, BigInt(amount));
  for (const [key, txKey] of body.sweeping) c.sweeping.set(key, txKey);
  for (const r of body.txs) {
    const [chainName, fromIndex, nonce, kind, withdrawalId, assetId, to, toIndex, amount, swept, gasAssetId, gasLimit, maxFee, tip, feeLevel, assignedSeq] = r;
    const chain = c.chains.get(chainName);
    const asset = engine.assetById.get(assetId)?.chain;
    const gasAsset = engine.assetById.get(gasAssetId)?.chain;
    invariant(chain !== undefined && asset !== undefined && asset !== null && gasAsset !== undefined && gasAsset !== null, `transaction ${chainName}:${fromIndex}:${nonce} refers to known chain assets`);
    const tx = new ChainTx(
      chain, fromIndex, nonce, kind, withdrawalId, asset, to, toIndex, BigInt(amount), BigInt(swept), gasAsset, gasLimit, maxFee, tip, feeLevel, assignedSeq,
    );
    c.txs.set(tx.key, tx);
  }
  for (const [userId, addresses] of body.allowlists) c.allowlists.set(userId, addresses);
}

export function stateHash(engine: Engine): string {
  return sha256Hex(snapshot(engine));
}

/** Rebuilds an engine from snapshot bytes. Throws SnapshotError on anything it cannot trust. */
export function restore(bytes: Uint8Array): Engine {
  let body: SnapshotBody;
  try {
    body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as SnapshotBody;
  } catch (e) {
    throw new SnapshotError(`snapshot is not valid JSON: ${(e as Error).message}`);
  }
  if (body.format !== SNAPSHOT_FORMAT) throw new SnapshotError('not an Everbook snapshot');
  if (!SNAPSHOT_VERSIONS_READ.includes(body.version)) {
    throw new SnapshotError(`snapshot version ${String(body.version)} is not supported (this build reads ${SNAPSHOT_VERSION})`);
  }
  try {
    return rebuild(body);
  } catch (e) {
    if (e instanceof SnapshotError) throw e;
    throw new SnapshotError(`snapshot is inconsistent: ${(e as Error).message}`);
  }
}

function setBalance(balance: Balance, text: string): void {
  balance.setBigInt(BigInt(text));
}

function rebuild(body: SnapshotBody): Engine {
  const engine = new Engine();
  engine.seq = body.seq;
  engine.now = body.now;
  [engine.nextUserId, engine.nextOrderId, engine.nextTradeId, engine.nextWithdrawalId] = body.next;

  for (const [spec, fees, deposits, withdrawals] of body.assets) {
    const asset = new Asset(engine.assets.length, spec);
    setBalance(asset.fees, fees);
    setBalance(asset.deposits, deposits);
    setBalance(asset.withdrawals, withdrawals);
    engine.assets.push(asset);
    engine.assetById.set(spec.asset, asset);
  }
  for (const [spec, state] of body.instruments) {
    const base = engine.assetById.get(spec.base);
    const quote = engine.assetById.get(spec.quote);
    invariant(base !== undefined && quote !== undefined, `assets of ${spec.instId} exist`);
    const inst = buildInstrument(spec, base, quote);
    invariant(inst !== undefined, `instrument ${spec.instId} is valid`);
    inst.state = state;
    engine.instruments.set(spec.instId, inst);
  }
  for (const [id, maker, taker, stp, accounts, withdrawn, , recent] of body.users) {
    const user = new User(id, maker, taker, stp);
    for (const clOrdId of recent) rememberClOrdId(user, clOrdId);
    for (const [index, available, held] of accounts) {
      const asset = engine.assets[index];
      invariant(asset !== undefined, 'account asset exists');
      const account = engine.account(user, asset);
      setBalance(account.available, available);
      setBalance(account.held, held);
    }
    for (const [index, day, amount] of withdrawn) user.withdrawnToday.set(index, new DailyWithdrawn(day, BigInt(amount)));
    invariant(engine.users.length === id, 'user ids are dense');
    engine.users.push(user);
  }
  for (const r of body.orders) {
    const [id, userId, instId, side, type, price, size, filled, filledQuote, reserved, clOrdId, stp, created, updated, state] = r;
    const user = engine.users[userId];
    const inst = engine.instruments.get(instId);
    invariant(user !== undefined && inst !== undefined, `order ${id} refers to known user and instrument`);
    // The account was made when the order was placed, and accounts are never removed.
    const held = user.accounts[(side === 'buy' ? inst.quote : inst.base).index];
    invariant(held !== undefined, `order ${id} has the account its funds are held in`);
    const order = new Order(id, user, inst, side, type, price, size, 0, clOrdId, stp, created, held);
    order.filledLots = filled;
    order.filledQuote = filledQuote;
    order.reserved = reserved;
    order.updatedTs = updated;
    order.state = state;
    (side === 'buy' ? inst.bids : inst.asks).add(order);
    engine.orders.set(order);
    if (clOrdId !== '') user.byClOrdId.set(clOrdId, order);
  }
  // Each user's open-order list in its saved order (cancel-all walks it).
  for (const [id, , , , , , open] of body.users) {
    const user = engine.users[id]!;
    for (const orderId of open) {
      const order = engine.orders.get(orderId);
      invariant(order?.user === user, `open order ${orderId} belongs to user ${id}`);
      order.userPrev = user.openTail;
      if (user.openTail === null) user.openHead = order;
      else user.openTail.userNext = order;
      user.openTail = order;
      user.openCount += 1;
    }
  }
  const listed = engine.users.reduce((n, u) => n + (u?.openCount ?? 0), 0);
  invariant(engine.orders.size === body.orders.length && listed === body.orders.length, 'every order is on exactly one open list');
  if (body.custody !== undefined) restoreCustody(engine, body.custody);
  for (const [id, userId, assetId, amount, fee, address, clientId, day, ts, stage] of body.withdrawals) {
    const user = engine.users[userId];
    const asset = engine.assetById.get(assetId);
    invariant(user !== undefined && asset !== undefined, `withdrawal ${id} refers to known user and asset`);
    const w = new Withdrawal(id, user, asset, BigInt(amount), BigInt(fee), address, clientId, day, ts);
    w.stage = stage ?? 'pending';
    engine.withdrawals.set(id, w);
  }
  for (const [key, withdrawalId] of body.withdrawalClientIds) engine.withdrawalClientIds.set(key, withdrawalId);
  for (const [depositId, userId, asset, amount] of body.deposits) engine.deposits.set(depositId, { userId, asset, amount });
  return engine;
}
