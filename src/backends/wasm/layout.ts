// Owns where the wasm backend keeps its weights: every distinct weight matrix of the model packed into row
// panels (src/compute/kernels.ts) inside one of several shared WebAssembly memories ("shards", each at most
// `shardBytes`, wasm32 memories being limited to 4 GiB), plus per shard an activation area for the input rows
// (X, group-major) and output rows (Y) of up to `tokenCap` tokens.
//
// Shard s: [0, xBytes) X · [yOff, yOff + yBytes) Y · matrices at 64-byte aligned offsets, in model order.
import type { Model } from "../../engine/weights.js";
import { PAGE_BYTES, MAX_PAGES } from "../../compute/encoder.js";
import { packedBytes, packPanels } from "../../compute/kernels.js";
import { UserError } from "../../util/errors.js";

/** A weight matrix to place: the model's own array (identity is the key), [m, n] row-major. */
export interface MatrixRef {
  name: string;
  w: Float32Array;
  m: number;
  n: number;
}

export interface PlacedMatrix {
  name: string;
  shard: number;
  /** Byte offset of panel 0 in the shard memory. */
  offset: number;
  m: number;
  n: number;
  nGroups: number;
  panels: number;
  /** panels · rows: the row stride of Y. */
  mPad: number;
}

export interface ShardPlan {
  /** Bytes of the X area at offset 0: nGroups_max · tokenCap · 16. */
  xBytes: number;
  /** Offset and size of the Y area: tokenCap · mPad_max · 4. */
  yOff: number;
  yBytes: number;
  /** Total bytes (activations + matrices), and the memory size in pages. */
  bytes: number;
  pages: number;
  matrices: PlacedMatrix[];
}

export interface LayoutOptions {
  /** Panel height R of the kernel. */
  rows: number;
  /** Token rows one kernel call handles (longer inputs are cut into chunks). */
  tokenCap: number;
  /** Largest shard in bytes (<= 4 GiB - 64 KiB). */
  shardBytes: number;
}

const align = (x: number, a: number) => Math.ceil(x / a) * a;

/** The model's weight matrices in compute order, each distinct array once (a tied LM head is the embedding). */
export function modelMatrices(model: Model): MatrixRef[] {
  const c = model.config;
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const out: MatrixRef[] = [];
  const seen = new Set<Float32Array>();
  const add = (name: string, w: Float32Array, m: number, n: number) => {
    if (seen.has(w)) return;
    seen.add(w);
    out.push({ name, w, m, n });
  };
  model.weights.layers.forEach((l, i) => {
    add(`layers.${i}.wq`, l.wq, qDim, c.dim);
    add(`layers.${i}.wk`, l.wk, kvDim, c.dim);
    add(`layers.${i}.wv`, l.wv, kvDim, c.dim);
    add(`layers.${i}.wo`, l.wo, c.dim, qDim);
    add(`layers.${i}.w1`, l.w1, c.hiddenDim, c.dim);
    add(`layers.${i}.w3`, l.w3, c.hiddenDim, c.dim);
    add(`layers.${i}.w2`, l.w2, c.dim, c.hiddenDim);
  });
  add("output", model.weights.output, c.vocabSize, c.dim);
  return out;
}

/**
 * Assigns matrices to shards greedily in order: a matrix goes to the current shard when the shard (with its
 * activation area grown to fit the matrix) stays within `shardBytes`, else it opens a new shard. A matrix that
 * cannot fit even alone is a UserError (the model is too large for wasm32 memories).
 */
export function planShards(mats: MatrixRef[], o: LayoutOptions): ShardPlan[] {
  const { rows: R, tokenCap: TC } = o;
  const limit = Math.min(o.shardBytes, (MAX_PAGES - 1) * PAGE_BYTES);
  const shards: ShardPlan[] = [];
  interface Open {
    maxGroups: number;
    maxMPad: number;
    weightBytes: number;
    items: { ref: MatrixRef; rel: number; bytes: number }[];
  }
  const actBytes = (maxGroups: number, maxMPad: number) => align(maxGroups * TC * 16, 64) + align(TC * maxMPad * 4, 64);
  const close = (s: Open) => {
    const xBytes = align(s.maxGroups * TC * 16, 64);
    const yBytes = align(TC * s.maxMPad * 4, 64);
    const base = xBytes + yBytes;
    const bytes = base + s.weightBytes;
    shards.push({
      xBytes,
      yOff: xBytes,
      yBytes,
      bytes,
      pages: Math.max(1, Math.ceil(bytes / PAGE_BYTES)),
      matrices: s.items.map(({ ref, rel }) => {
        const panels = Math.ceil(ref.m / R);
        return { name: ref.name, shard: shards.length, offset: base + rel, m: ref.m, n: ref.n, nGroups: Math.ceil(ref.n / 4), panels, mPad: panels * R };
      }),
    });
  };
  let cur: Open | undefined;
  for (const ref of mats) {
    const bytes = align(packedBytes(ref.m, ref.n, R), 64);
    const groups = Math.ceil(ref.n / 4);
    const mPad = Math.ceil(ref.m / R) * R;
    if (actBytes(groups, mPad) + bytes > limit)
      throw new UserError(
        `wasm backend: weight ${ref.name} [${ref.m}, ${ref.n}] needs ${bytes} bytes packed, more than one wasm memory shard holds (${limit} bytes)`,
      );
    if (cur) {
      const g = Math.max(cur.maxGroups, groups);
      const mp = Math.max(cur.maxMPad, mPad);
      if (actBytes(g, mp) + cur.weightBytes + bytes > limit) {
        close(cur);
        cur = undefined;
      }
    }
    cur ??= { maxGroups: 0, maxMPad: 0, weightBytes: 0, items: [] };
    cur.maxGroups = Math.max(cur.maxGroups, groups);
    cur.maxMPad = Math.max(cur.maxMPad, mPad);
    cur.items.push({ ref, rel: cur.weightBytes, bytes });
    cur.weightBytes += bytes;
  }
  if (cur) close(cur);
  return shards;
}

/** Allocates the shard memories (shared, fixed size) and packs every matrix into its place. */
export function allocateShards(plan: ShardPlan[], mats: MatrixRef[], rows: number): WebAssembly.Memory[] {
  const byName = new Map(mats.map((m) => [m.name, m]));
  return plan.map((s) => {
    const mem = new WebAssembly.Memory({ initial: s.pages, maximum: s.pages, shared: true });
    for (const p of s.matrices) {
      const ref = byName.get(p.name)!;
      packPanels(new Float32Array(mem.buffer, p.offset, packedBytes(p.m, p.n, rows) / 4), ref.w, p.m, p.n, rows);
    }
    return mem;
  });
}
