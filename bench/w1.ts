// The standard matching workload W1 (shared/reference/bench-workload.md): a pure function of a
// seed, so any engine can run the identical stream. Generated into flat typed arrays before any
// timing starts.

export interface W1 {
  readonly count: number;
  /** 0 = new GTC limit order, 1 = cancel. */
  readonly kind: Uint8Array;
  /** For an order: 0 = buy, 1 = sell. */
  readonly side: Uint8Array;
  readonly tick: Int32Array;
  readonly size: Int32Array;
  /** For an order: its id (issue index); for a cancel: the id it targets. */
  readonly id: Int32Array;
  readonly orders: number;
  readonly cancels: number;
}

export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function generateW1(count = 1_000_000, seed = 42): W1 {
  const draw = mulberry32(seed);
  const kind = new Uint8Array(count);
  const side = new Uint8Array(count);
  const tick = new Int32Array(count);
  const size = new Int32Array(count);
  const id = new Int32Array(count);
  let issued = 0;
  let cancels = 0;
  for (let i = 0; i < count; i++) {
    const u0 = draw();
    if (u0 < 0.1 && issued > 0) {
      kind[i] = 1;
      id[i] = issued - 1 - Math.floor(draw() * Math.min(issued, 10_000));
      cancels++;
    } else {
      side[i] = draw() < 0.5 ? 0 : 1;
      tick[i] = 9900 + Math.floor(draw() * 201);
      size[i] = 1 + Math.floor(draw() * 100);
      id[i] = issued++;
    }
  }
  return { count, kind, side, tick, size, id, orders: issued, cancels };
}
