// Saving and loading the projections: one JSON document holding every view's records, per user
// and per instrument, in the order the live structures hold them, so that loading what was saved
// and saving it again gives the same document. Stored beside the engine's snapshots.

import { CandlesView, type MinuteJSON } from './candles.js';
import { FillsView } from './fills.js';
import { OrdersView, type UserOrdersJSON } from './orders.js';
import { TradesView } from './trades.js';
import { TransfersView, type UserTransfersJSON } from './transfers.js';
import type { FillRecord, PublicTrade } from './types.js';

/**
 * The format version of the saved document; loading refuses any other but the one before it.
 * Version 2 writes a minute's quote volume as a decimal string (exact past 2^53); version 1
 * wrote a JSON number, which is still read (it was exact wherever it was below 2^53).
 */
export const PROJECTIONS_JSON_VERSION = 2;
const PROJECTIONS_JSON_VERSION_READABLE: readonly number[] = [1, PROJECTIONS_JSON_VERSION];

/** The saved document: every record, in the order the live structures hold them. */
export interface ProjectionsJSON {
  readonly version: number;
  readonly nowMs: number;
  readonly users: readonly UserJSON[];
  readonly instruments: readonly InstrumentJSON[];
}
export interface UserJSON extends UserOrdersJSON, UserTransfersJSON {
  readonly userId: number;
  readonly fills: readonly FillRecord[];
}
export interface InstrumentJSON {
  readonly instId: string;
  readonly trades: readonly PublicTrade[];
  /** Oldest first. */
  readonly minutes: readonly MinuteJSON[];
}

/** The views the projections are made of, one per kind of query they serve. */
export interface Views {
  readonly orders: OrdersView;
  readonly fills: FillsView;
  readonly transfers: TransfersView;
  readonly trades: TradesView;
  readonly candles: CandlesView;
}

export function emptyViews(): Views {
  return { orders: new OrdersView(), fills: new FillsView(), transfers: new TransfersView(), trades: new TradesView(), candles: new CandlesView() };
}

/** Each element once, in the order first seen. */
function union<T>(...lists: readonly (readonly T[])[]): T[] {
  return [...new Set(lists.flat())];
}

/** A fresh, JSON-serialisable copy of every view; nothing in it is shared with the views. */
export function saveViews(views: Views, nowMs: number): ProjectionsJSON {
  const userIds = union(views.orders.userIds(), views.fills.userIds(), views.transfers.userIds()).sort((a, b) => a - b);
  const users = userIds.map((userId): UserJSON => {
    const orders = views.orders.save(userId);
    const transfers = views.transfers.save(userId);
    // The fields in this order: the saved bytes of every version so far.
    return {
      userId, open: orders.open, closed: orders.closed, clOrdIds: orders.clOrdIds, fills: views.fills.save(userId),
      deposits: transfers.deposits, withdrawals: transfers.withdrawals,
    };
  });
  const instruments = union(views.trades.instIds(), views.candles.instIds())
    .map((instId): InstrumentJSON => ({ instId, trades: views.trades.save(instId), minutes: views.candles.save(instId) }));
  return { version: PROJECTIONS_JSON_VERSION, nowMs, users, instruments };
}

/** Loads what saveViews() produced (parsed or not) into empty views; returns the saved engine time. */
export function loadViews(json: unknown, views: Views): number {
  const state = json as ProjectionsJSON;
  if (typeof json !== 'object' || json === null || !PROJECTIONS_JSON_VERSION_READABLE.includes(state.version)) {
    throw new Error(`projections snapshot: expected version ${PROJECTIONS_JSON_VERSION_READABLE.join(' or ')}`);
  }
  for (const u of state.users) {
    views.orders.load(u.userId, u);
    views.fills.load(u.userId, u.fills);
    views.transfers.load(u.userId, u);
  }
  for (const i of state.instruments) {
    views.trades.load(i.instId, i.trades);
    views.candles.load(i.instId, i.minutes);
  }
  return state.nowMs;
}
