// The copy a liabilities report is built from: every user's available + held per asset, taken on
// the apply thread right after the record that requested the report, so it is the same state on
// every replica. Two limbs per balance (the engine's own representation) in one typed array that
// moves to a worker without cloning. A replica keeps a BalanceMirror of that array current from
// the engine's BalanceChanged events, so the copy is a memcpy; `copyBalances` walks every user
// object instead (the mirror's start, the tests' reference, and the fallback).

import { LIMB, type Engine, type Event, type Units } from '../core/index.js';

export interface BalanceCopy {
  readonly reportId: string;
  readonly assets: readonly { readonly asset: string; readonly scale: number }[];
  /** Every user's id, ascending. */
  readonly userIds: Uint32Array;
  /** For user i and asset a: limbs[(i * assets + a) * 2] = hi, the next = lo; the balance is hi * 10^15 + lo. */
  readonly limbs: Float64Array;
}

/** Users a copy may hold: ids are stored as 32-bit integers. */
export const copyUsersMax = 0xffff_ffff;

export function copyBalances(engine: Engine, reportId: string): BalanceCopy {
  const assets = engine.assets.map((a) => ({ asset: a.id, scale: a.spec.scale }));
  const width = assets.length;
  const users = engine.users;
  // Ids are dense from 1 (slot 0 is empty), so this is the count unless an id was never filled.
  const slots = users.length - 1;
  if (slots > copyUsersMax) throw new RangeError(`${slots} users: more than a report holds`);
  const userIds = new Uint32Array(slots);
  const limbs = new Float64Array(slots * width * 2);
  let i = 0;
  for (let id = 1; id < users.length; id++) {
    const user = users[id];
    if (user === undefined) continue;
    userIds[i] = id;
    const accounts = user.accounts;
    const count = Math.min(width, accounts.length);
    for (let a = 0; a < count; a++) {
      const account = accounts[a];
      if (account === undefined) continue;
      const at = (i * width + a) * 2;
      limbs[at] = account.available.hi + account.held.hi;
      limbs[at + 1] = account.available.lo + account.held.lo;
    }
    i += 1;
  }
  return i === slots ? { reportId, assets, userIds, limbs } : { reportId, assets, userIds: userIds.slice(0, i), limbs: limbs.slice(0, i * width * 2) };
}

/** Users a mirror allocates room for at first; it doubles from there. */
const MIRROR_USERS_MIN = 1024;
/**
 * Limbs of the next copy's buffer touched per record. Writing a fresh buffer costs the kernel a
 * page fault per 4 KiB (120 to 170 ms for the 32 MB of a million users on the shared machine,
 * 40 times the memcpy), so the mirror touches the buffer a copy lands in ahead of time, a little
 * per record (256 KiB: well under a millisecond), and the copy itself is a memcpy.
 */
const PREFAULT_LIMBS_PER_RECORD = 32_768;
const LIMB_BIG = 10n ** 15n;

// The two limbs of the last value split: module state, so the hot path allocates nothing.
let splitHi = 0;
let splitLo = 0;

/** Splits an exact integer into the engine's limbs (hi * 10^15 + lo, 0 <= lo < 10^15), exactly as `Balance` holds it. */
function split(value: Units): void {
  if (typeof value === 'number') {
    if (value >= 0 && value < LIMB) { splitHi = 0; splitLo = value; return; }
    // value is a safe integer and hi * 10^15 is exact, so lo is exact; the division may round
    // across an integer boundary, which the last step fixes.
    let hi = Math.floor(value / LIMB);
    let lo = value - hi * LIMB;
    if (lo < 0) { lo += LIMB; hi -= 1; } else if (lo >= LIMB) { lo -= LIMB; hi += 1; }
    splitHi = hi;
    splitLo = lo;
    return;
  }
  let hi = value / LIMB_BIG;
  let lo = value % LIMB_BIG;
  if (lo < 0n) { lo += LIMB_BIG; hi -= 1n; }
  splitHi = Number(hi);
  splitLo = Number(lo);
}

/**
 * The replica's balances in the layout of `BalanceCopy.limbs`, kept current from the engine's
 * BalanceChanged events as each record applies, so that a report's copy is a memcpy (into
 * buffers touched ahead of time, see PREFAULT_LIMBS_PER_RECORD) instead of a walk over every
 * user object. Rows are user id - 1 (ids are dense from
 * 1); room doubles as users appear; a new asset widens every row once (assets are few and set by
 * operators). `rebuild` walks the engine once, when the replica starts or restores a snapshot.
 */
export class BalanceMirror {
  private engine: Engine;
  /** The engine's seq the mirror reflects: a copy at any other point would not be the report's state. */
  private seq: number;
  private width = 0;
  private rows = 0;
  private userIds = new Uint32Array(0);
  private limbs = new Float64Array(0);
  private readonly assetIndex = new Map<string, number>();
  /** Where the next copy lands, as big as the mirror's room, touched up to `spareTouched` limbs. */
  private spareLimbs: Float64Array | undefined;
  private spareIds: Uint32Array | undefined;
  private spareTouched = 0;

  constructor(engine: Engine) {
    this.engine = engine;
    this.seq = engine.seq;
    this.rebuild(engine);
  }

  /** Mirrors `engine` from scratch: one walk over every user (start-up and snapshot restore only). */
  rebuild(engine: Engine): void {
    this.engine = engine;
    this.width = 0;
    this.rows = 0;
    this.assetIndex.clear();
    this.userIds = new Uint32Array(0);
    this.limbs = new Float64Array(0);
    this.sync();
    const width = this.width;
    const users = engine.users;
    for (let id = 1; id < users.length; id++) {
      const accounts = users[id]!.accounts;
      const count = Math.min(width, accounts.length);
      for (let a = 0; a < count; a++) {
        const account = accounts[a];
        if (account === undefined) continue;
        const at = ((id - 1) * width + a) * 2;
        this.limbs[at] = account.available.hi + account.held.hi;
        this.limbs[at + 1] = account.available.lo + account.held.lo;
      }
    }
  }

  /** Folds one applied record's events in. Call before the engine recycles them. */
  apply(events: readonly Event[]): void {
    this.sync();
    const width = this.width;
    const limbs = this.limbs;
    // Records mostly move one or two assets: the last one's index saves most map look-ups.
    let lastAsset = '';
    let lastIndex = -1;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.type !== 'BalanceChanged') continue;
      let a = lastIndex;
      if (e.asset !== lastAsset) {
        a = this.assetIndex.get(e.asset) ?? -1;
        lastAsset = e.asset;
        lastIndex = a;
      }
      if (a < 0 || e.userId < 1 || e.userId > this.rows) throw new Error(`mirror: balance of unknown user ${e.userId} or asset ${e.asset}`);
      const at = ((e.userId - 1) * width + a) * 2;
      const available = e.available;
      const held = e.held;
      // Both below 10^15 (nearly always): the high limbs are 0, the low ones the values.
      if (typeof available === 'number' && typeof held === 'number' && available >= 0 && available < LIMB && held >= 0 && held < LIMB) {
        limbs[at] = 0;
        limbs[at + 1] = available + held;
        continue;
      }
      split(available);
      const hi = splitHi;
      const lo = splitLo;
      split(held);
      limbs[at] = hi + splitHi;
      limbs[at + 1] = lo + splitLo;
    }
    this.prefault();
  }

  /** Touches the next stretch of the buffer the next copy lands in (a new one after a copy took it or the mirror outgrew it). */
  private prefault(): void {
    const room = this.limbs.length;
    const idsRoom = this.userIds.length;
    if (this.spareLimbs === undefined || this.spareIds === undefined || this.spareLimbs.length !== room || this.spareIds.length !== idsRoom) {
      this.spareLimbs = new Float64Array(room);
      this.spareIds = new Uint32Array(idsRoom);
      this.spareTouched = 0;
    }
    if (this.spareTouched >= room) return;
    const end = Math.min(room, this.spareTouched + PREFAULT_LIMBS_PER_RECORD);
    this.spareLimbs.fill(0, this.spareTouched, end);
    this.spareIds.fill(0, Math.floor(this.spareTouched / room * idsRoom), end === room ? idsRoom : Math.floor(end / room * idsRoom));
    this.spareTouched = end;
  }

  /** The balances now, as `copyBalances` would walk them: two slices of the mirror. */
  copy(reportId: string): BalanceCopy {
    const engine = this.engine;
    if (engine.seq !== this.seq) throw new Error(`mirror at seq ${this.seq}, engine at ${engine.seq}: the copy would not be the report's state`);
    if (this.rows > copyUsersMax) throw new RangeError(`${this.rows} users: more than a report holds`);
    const assets = engine.assets.map((a) => ({ asset: a.id, scale: a.spec.scale }));
    const count = this.rows * this.width * 2;
    const spareLimbs = this.spareLimbs;
    const spareIds = this.spareIds;
    if (spareLimbs !== undefined && spareIds !== undefined && this.spareTouched === spareLimbs.length && spareLimbs.length >= count && spareIds.length >= this.rows) {
      // The prepared buffers go with the copy (to the worker); the next records prepare new ones.
      this.spareLimbs = undefined;
      this.spareIds = undefined;
      const limbs = new Float64Array(spareLimbs.buffer, 0, count);
      limbs.set(this.limbs.subarray(0, count));
      const userIds = new Uint32Array(spareIds.buffer, 0, this.rows);
      userIds.set(this.userIds.subarray(0, this.rows));
      return { reportId, assets, userIds, limbs };
    }
    return { reportId, assets, userIds: this.userIds.slice(0, this.rows), limbs: this.limbs.slice(0, count) };
  }

  /** Makes room for the engine's users and assets (new rows and columns are zero, as a new account is). */
  private sync(): void {
    const engine = this.engine;
    this.seq = engine.seq;
    const assets = engine.assets;
    const users = engine.users.length - 1;
    if (assets.length === this.width && users <= this.rows) return;
    const width = assets.length;
    for (let a = this.width; a < width; a++) this.assetIndex.set(assets[a]!.id, a);
    let capacity = this.userIds.length;
    if (users > capacity) capacity = Math.max(users, capacity * 2, MIRROR_USERS_MIN);
    if (capacity !== this.userIds.length || width !== this.width) {
      const limbs = new Float64Array(capacity * width * 2);
      if (width === this.width) {
        limbs.set(this.limbs);
      } else {
        const from = this.width * 2;
        const to = width * 2;
        for (let row = 0; row < this.rows; row++) {
          for (let k = 0; k < from; k++) limbs[row * to + k] = this.limbs[row * from + k]!;
        }
      }
      this.limbs = limbs;
    }
    if (capacity !== this.userIds.length) {
      const ids = new Uint32Array(capacity);
      ids.set(this.userIds);
      this.userIds = ids;
    }
    for (let id = this.rows + 1; id <= users; id++) {
      // Ids are dense from 1 (the engine and its snapshots assert it): row id - 1 is user id.
      if (engine.users[id] === undefined) throw new Error(`mirror: user ${id} missing: ids are not dense`);
      this.userIds[id - 1] = id;
    }
    this.rows = users;
    this.width = width;
  }
}
