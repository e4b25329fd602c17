// Owns the WebAssembly SIMD kernels of the wasm backend and the weight layout they read: a matrix W [m, n]
// (row-major, [out, in]) packed into row panels, and the generated matmul that streams those panels.
//
// Packed layout (`packPanels`): rows are grouped into panels of R rows (the last panel zero-padded to R rows),
// columns into groups of 4 (the last group zero-padded). Panel p holds, for g = 0 … nGroups-1 in order, the
// R rows' 4-float slices W[pR + r, 4g … 4g+3] for r = 0 … R-1: one panel is R·nGroups·16 contiguous bytes
// read strictly sequentially, each 16-byte slice one v128 load.
//
// Activations: X is passed group-major ("token-interleaved"): the 16 bytes of x_t[4g … 4g+3] sit at
// x + g·xGroupStride + t·16, so the TB token rows of one block are adjacent (immediate offsets) and one row's
// next group is xGroupStride bytes on (`packActivations`). Y is row-major [T, mPad] with mPad = panels·R.
//
// Numerics (fixed, whatever the blocking or thread count): y[t, r] = ((l0 + l1) + (l2 + l3)) in fp32, where
// lane k is an fp32 accumulator that adds fp32(W[r, j]·x_t[j]) for j ≡ k (mod 4) in ascending j, starting from
// +0. This is the reference's four-lane order (src/engine/kernels.ts dotLanes4) in fp32 with a rounded product
// instead of float64, so it is close to but not bit-equal with the reference. Only plain (non-relaxed) SIMD
// is used: every operation is IEEE fp32 with round-to-nearest, so the bits are the same on every platform.
import { code, encodeModule, F32, I32, op, V128, type Code, type FunctionDef, type ValType } from "./encoder.js";

/** Shape of one kernel variant: R rows per panel, RB rows per register block (RB | R, RB % 4 == 0), TB tokens. */
export interface MatMulVariant {
  /** Panel height of the packed layout this kernel reads. */
  rows: number;
  /** Rows computed together (their accumulators live in registers at once). */
  rowBlock: number;
  /** Token rows computed together, largest first; the last must be 1 (e.g. [2, 1]). */
  tokenBlocks: number[];
}

/** Byte size of a packed matrix [m, n] with panel height R. */
export function packedBytes(m: number, n: number, rows: number): number {
  return Math.ceil(m / rows) * rows * Math.ceil(n / 4) * 16;
}

/**
 * Packs W [m, n] (row-major) into `out` (a Float32Array view of packedBytes(m, n, R) bytes) in the panel
 * layout above, writing every element (padding +0) in output order.
 */
export function packPanels(out: Float32Array, w: Float32Array, m: number, n: number, rows: number): void {
  const groups = Math.ceil(n / 4);
  const panels = Math.ceil(m / rows);
  if (w.length !== m * n) throw new RangeError(`packPanels: weight has ${w.length} elements, expected ${m}x${n}`);
  if (out.length !== panels * rows * groups * 4) throw new RangeError(`packPanels: output has ${out.length} floats, expected ${panels * rows * groups * 4}`);
  const fullGroups = n >> 2;
  let o = 0;
  for (let p = 0; p < panels; p++) {
    for (let g = 0; g < groups; g++) {
      for (let r = 0; r < rows; r++) {
        const row = p * rows + r;
        const src = row * n + g * 4;
        if (row < m && g < fullGroups) {
          out[o] = w[src];
          out[o + 1] = w[src + 1];
          out[o + 2] = w[src + 2];
          out[o + 3] = w[src + 3];
        } else for (let k = 0; k < 4; k++) out[o + k] = row < m && g * 4 + k < n ? w[src + k] : 0;
        o += 4;
      }
    }
  }
}

/**
 * Writes X [T, n] (rows x[t·n …]) group-major into `out` starting at float index `off`: x_t[4g + k] at
 * off + (g·tStride + t)·4 + k, zero-padding columns n … 4·nGroups-1. `tStride` >= T is the token capacity.
 */
export function packActivations(out: Float32Array, off: number, x: Float32Array, xOff: number, T: number, n: number, tStride: number): void {
  const groups = Math.ceil(n / 4);
  for (let t = 0; t < T; t++) {
    const src = xOff + t * n;
    for (let g = 0; g < groups; g++) {
      const dst = off + (g * tStride + t) * 4;
      const j = g * 4;
      if (j + 4 <= n) {
        out[dst] = x[src + j];
        out[dst + 1] = x[src + j + 1];
        out[dst + 2] = x[src + j + 2];
        out[dst + 3] = x[src + j + 3];
      } else for (let k = 0; k < 4; k++) out[dst + k] = j + k < n ? x[src + j + k] : 0;
    }
  }
}

/** Plain-JS statement of the kernel's numerics for one output (tests compare the kernel against it). */
export function dotLanesF32(w: Float32Array, wOff: number, x: Float32Array, xOff: number, n: number): number {
  const f = Math.fround;
  const l = [0, 0, 0, 0];
  for (let j = 0; j < n; j++) l[j & 3] = f(l[j & 3] + f(w[wOff + j] * x[xOff + j]));
  return f(f(l[0] + l[1]) + f(l[2] + l[3]));
}

/**
 * Parameters of every generated matmul function (all i32, addresses in bytes):
 *   w            packed matrix base (panel 0)
 *   x            activations base (group-major, see above)
 *   y            output base, row t at y + t·yStride, element r at +4r
 *   nGroups      ceil(n / 4)
 *   p0, p1       panels [p0, p1) to compute (a thread's share)
 *   T            token rows
 *   xGroupStride bytes between group g and g+1 of one token row (token capacity · 16)
 *   yStride      bytes between output rows
 */
export const MATMUL_PARAMS = ["w", "x", "y", "nGroups", "p0", "p1", "T", "xGroupStride", "yStride"] as const;

/** Export name of a variant's function. */
export function matmulName(v: MatMulVariant): string {
  return `matmul_r${v.rows}_b${v.rowBlock}_t${v.tokenBlocks.join("_")}`;
}

function checkVariant(v: MatMulVariant): void {
  const { rows: R, rowBlock: RB, tokenBlocks: tbs } = v;
  if (!Number.isInteger(R) || R < 4 || R % 4 !== 0) throw new RangeError(`panel rows ${R} must be a positive multiple of 4`);
  if (!Number.isInteger(RB) || RB < 4 || RB % 4 !== 0 || R % RB !== 0) throw new RangeError(`row block ${RB} must be a multiple of 4 dividing ${R}`);
  if (tbs.length === 0 || tbs[tbs.length - 1] !== 1 || tbs.some((t, i) => !Number.isInteger(t) || t < 1 || (i > 0 && t >= tbs[i - 1])))
    throw new RangeError(`token blocks ${tbs.join(",")} must be decreasing and end with 1`);
}

/** Generates one matmul function (see MATMUL_PARAMS) for a variant. */
export function matmulFunction(v: MatMulVariant): FunctionDef {
  checkVariant(v);
  const { rows: R, rowBlock: RB } = v;
  const maxTB = v.tokenBlocks[0];
  const locals: ValType[] = [];
  const nParams = MATMUL_PARAMS.length;
  const local = (t: ValType): number => {
    locals.push(t);
    return nParams + locals.length - 1;
  };
  const [W, X, Y, NG, P0, P1, T, XGS, YS] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const p = local(I32); // current panel
  const t = local(I32); // current token row
  const g = local(I32); // groups left
  const wp = local(I32); // weight pointer in the panel
  const xp = local(I32); // activation pointer
  const panelBase = local(I32); // w + p·panelBytes
  const panelBytes = local(I32);
  const yCol = local(I32); // y + (p·R)·4
  const acc: number[][] = Array.from({ length: RB }, () => Array.from({ length: maxTB }, () => local(V128)));
  const xv: number[] = Array.from({ length: maxTB }, () => local(V128));
  const wv = local(V128);
  const s1 = local(V128);
  const s2 = local(V128);
  const zero = op.v128Const(new Uint8Array(16));

  /** The inner product of RB rows (sub-block `rb` of the panel) with TB token rows starting at t. */
  const block = (rb: number, TB: number): Code => {
    const out: Code[] = [];
    for (let r = 0; r < RB; r++) for (let j = 0; j < TB; j++) out.push(zero, op.localSet(acc[r][j]));
    // wp = panelBase + rb·16; xp = x + t·16; g = nGroups
    out.push(op.localGet(panelBase), op.i32Const(rb * 16), op.i32Add, op.localSet(wp));
    out.push(op.localGet(X), op.localGet(t), op.i32Const(4), op.i32Shl, op.i32Add, op.localSet(xp));
    out.push(op.localGet(NG), op.localSet(g));
    const body: Code[] = [];
    for (let j = 0; j < TB; j++) body.push(op.localGet(xp), op.v128Load(j * 16), op.localSet(xv[j]));
    for (let r = 0; r < RB; r++) {
      body.push(op.localGet(wp), op.v128Load(r * 16), op.localSet(wv));
      for (let j = 0; j < TB; j++)
        body.push(op.localGet(acc[r][j]), op.localGet(wv), op.localGet(xv[j]), op.f32x4Mul, op.f32x4Add, op.localSet(acc[r][j]));
    }
    body.push(op.localGet(wp), op.i32Const(R * 16), op.i32Add, op.localSet(wp));
    body.push(op.localGet(xp), op.localGet(XGS), op.i32Add, op.localSet(xp));
    body.push(op.localGet(g), op.i32Const(1), op.i32Sub, op.localTee(g), op.brIf(0));
    out.push(op.loop(), ...body, op.end);
    // Horizontal sums, four rows at a time: [(a0+a1)+(a2+a3), (b0+b1)+(b2+b3), (c..), (d..)] stored at once.
    for (let j = 0; j < TB; j++) {
      for (let r4 = 0; r4 < RB; r4 += 4) {
        const pair = (a: number, b: number, dst: number): Code =>
          code(
            op.localGet(a), op.localGet(b), op.i32x4Shuffle(0, 2, 4, 6),
            op.localGet(a), op.localGet(b), op.i32x4Shuffle(1, 3, 5, 7),
            op.f32x4Add, op.localSet(dst),
          );
        out.push(pair(acc[r4][j], acc[r4 + 1][j], s1), pair(acc[r4 + 2][j], acc[r4 + 3][j], s2));
        // address: yCol + (t + j)·yStride + (rb + r4)·4
        out.push(op.localGet(yCol), op.localGet(t), op.i32Const(j), op.i32Add, op.localGet(YS), op.i32Mul, op.i32Add);
        out.push(op.localGet(s1), op.localGet(s2), op.i32x4Shuffle(0, 2, 4, 6), op.localGet(s1), op.localGet(s2), op.i32x4Shuffle(1, 3, 5, 7), op.f32x4Add);
        out.push(op.v128Store((rb + r4) * 4, 2));
      }
    }
    return code(...out);
  };

  const body: Code[] = [];
  // panelBytes = nGroups·R·16; p = p0
  body.push(op.localGet(NG), op.i32Const(R * 16), op.i32Mul, op.localSet(panelBytes));
  body.push(op.localGet(P0), op.localSet(p));
  body.push(op.block(), op.localGet(p), op.localGet(P1), op.i32GeU, op.brIf(0), op.localGet(NG), op.i32Eqz, op.brIf(0));
  body.push(op.loop()); // panels
  body.push(op.localGet(W), op.localGet(p), op.localGet(panelBytes), op.i32Mul, op.i32Add, op.localSet(panelBase));
  body.push(op.localGet(Y), op.localGet(p), op.i32Const(R * 4), op.i32Mul, op.i32Add, op.localSet(yCol));
  for (let rb = 0; rb < R; rb += RB) {
    body.push(op.i32Const(0), op.localSet(t));
    for (const TB of v.tokenBlocks) {
      // while (t + TB <= T) { block; t += TB }
      body.push(op.block(), op.loop());
      body.push(op.localGet(t), op.i32Const(TB), op.i32Add, op.localGet(T), op.i32GtU, op.brIf(1));
      body.push(block(rb, TB));
      body.push(op.localGet(t), op.i32Const(TB), op.i32Add, op.localSet(t), op.br(0));
      body.push(op.end, op.end);
    }
  }
  body.push(op.localGet(p), op.i32Const(1), op.i32Add, op.localTee(p), op.localGet(P1), op.i32LtU, op.brIf(0));
  body.push(op.end, op.end); // loop, block
  return { name: matmulName(v), params: MATMUL_PARAMS.map(() => I32), results: [], locals, body: code(...body) };
}

/** The memory import every kernel module declares: env.mem, shared, up to 4 GiB. */
export const KERNEL_MEMORY = { module: "env", name: "mem", minPages: 1, maxPages: 65536, shared: true } as const;

/** Encodes a module with one matmul function per variant and the two attention kernels, importing `env.mem`. */
export function buildKernelModule(variants: MatMulVariant[]): Uint8Array {
  return encodeModule({ memory: { ...KERNEL_MEMORY }, functions: [...variants.map(matmulFunction), attnScoresFunction(), attnPvFunction()] });
}

/**
 * The variant the wasm backend runs: 4-row panels, 4 rows × 2 tokens in registers (8 accumulators), single
 * tokens for an odd tail and for decode. Chosen by measurement (docs/wasm.md): it streams weights at the
 * machine's single-core read bandwidth for one token and reaches the fp32 mul+add peak for a 31-token block.
 */
export const DEFAULT_MATMUL: MatMulVariant = { rows: 4, rowBlock: 4, tokenBlocks: [2, 1] };

// ---- attention ----------------------------------------------------------------------------------------------
//
// Two kernels for scaled dot-product attention, with the softmax between them left to JavaScript (WebAssembly
// has no exp; the reference's softmaxInPlace runs on the scores in place):
//
//   attn_scores(q, k, s, mask, nq, hd, cols, qStride, kStride, sStride, maskStride, scale: f32)
//     for query rows i < nq and key columns c < cols:
//       s[i, c] = fp32(fp32(dot / scale) + mask[i, c]),  dot = fp32 sum over d = 0 … hd-1 ascending of
//                 fp32(q[i, d]·K[d, c]) — keys transposed: K[d, c] at k + d·kStride + 4c
//     q[i, d] at q + i·qStride + 4d; s[i, c] at s + i·sStride + 4c; mask[i, c] at mask + i·maskStride + 4c
//     (maskStride 0: one mask row for every query). Columns are computed four at a time: the kernel reads K,
//     mask and writes s up to column 4·ceil(cols/4) - 1, so those must be addressable (garbage in, garbage out
//     in the padding columns only; lanes never mix).
//
//   attn_pv(p, v, y, nq, cols, hd, pStride, vStride, yStride)
//     y[i, d] = fp32 sum over c = 0 … cols-1 ascending of fp32(p[i, c]·V[c, d]),  V[c, d] at v + c·vStride + 4d,
//     p[i, c] at p + i·pStride + 4c, y[i, d] at y + i·yStride + 4d; dims four at a time up to 4·ceil(hd/4) - 1
//     (same padding rule).
//
// The reference (src/engine/attention.ts) sums in float64 and rounds once; these sum in fp32, in the same order.

export const ATTN_SCORES = "attn_scores";
export const ATTN_PV = "attn_pv";

/**
 * Emits `for (cnt = count; cnt > 0; cnt--) { sv = splat(*sp); sp += 4; acc[j] += sv·*(vp + 16j); vp += vStride }`
 * (count >= 1 is checked by the caller), over locals.
 */
function splatAccumulate(accs: number[], sp: number, vp: number, vStride: number, cnt: number, sv: number, wv: number): Code {
  const body: Code[] = [op.localGet(sp), op.v128Load32Splat(), op.localSet(sv)];
  accs.forEach((a, j) =>
    body.push(op.localGet(vp), op.v128Load(j * 16, 2), op.localSet(wv), op.localGet(a), op.localGet(wv), op.localGet(sv), op.f32x4Mul, op.f32x4Add, op.localSet(a)),
  );
  body.push(op.localGet(sp), op.i32Const(4), op.i32Add, op.localSet(sp));
  body.push(op.localGet(vp), op.localGet(vStride), op.i32Add, op.localSet(vp));
  body.push(op.localGet(cnt), op.i32Const(1), op.i32Sub, op.localTee(cnt), op.brIf(0));
  return code(op.loop(), ...body, op.end);
}

/** Local allocator for a generated function with `nParams` i32 parameters. */
function localsFrom(nParams: number) {
  const locals: ValType[] = [];
  return {
    locals,
    add: (t: ValType): number => {
      locals.push(t);
      return nParams + locals.length - 1;
    },
  };
}

/** `while (chunk + B <= chunks) { … chunk += B }` around `inner(B)` for each block size B, largest first. */
function chunkBlocks(chunk: number, chunks: number, sizes: number[], inner: (B: number) => Code): Code {
  const out: Code[] = [];
  for (const B of sizes) {
    out.push(op.block(), op.loop(), op.localGet(chunk), op.i32Const(B), op.i32Add, op.localGet(chunks), op.i32GtU, op.brIf(1));
    out.push(inner(B), op.localGet(chunk), op.i32Const(B), op.i32Add, op.localSet(chunk), op.br(0), op.end, op.end);
  }
  return code(...out);
}

/** Generates attn_scores (see above). */
export function attnScoresFunction(): FunctionDef {
  const [Q, K, S, MASK, NQ, HD, COLS, QS, KS, SS, MS, SCALE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const L = localsFrom(12);
  const i = L.add(I32), chunk = L.add(I32), chunks = L.add(I32), qp = L.add(I32), kp = L.add(I32), cnt = L.add(I32);
  const sRow = L.add(I32), mRow = L.add(I32);
  const scaleV = L.add(V128), sv = L.add(V128), wv = L.add(V128);
  const acc = [L.add(V128), L.add(V128), L.add(V128), L.add(V128)];
  const zero = op.v128Const(new Uint8Array(16));
  const block = (B: number): Code => {
    const out: Code[] = [];
    for (let j = 0; j < B; j++) out.push(zero, op.localSet(acc[j]));
    // qp = q + i·qStride; kp = k + chunk·16; cnt = hd
    out.push(op.localGet(Q), op.localGet(i), op.localGet(QS), op.i32Mul, op.i32Add, op.localSet(qp));
    out.push(op.localGet(K), op.localGet(chunk), op.i32Const(4), op.i32Shl, op.i32Add, op.localSet(kp));
    out.push(op.localGet(HD), op.localSet(cnt));
    out.push(splatAccumulate(acc.slice(0, B), qp, kp, KS, cnt, sv, wv));
    for (let j = 0; j < B; j++) {
      // s[sRow + (chunk + j)·16] = acc / scale + mask[mRow + (chunk + j)·16]
      out.push(op.localGet(sRow), op.localGet(chunk), op.i32Const(4), op.i32Shl, op.i32Add);
      out.push(op.localGet(acc[j]), op.localGet(scaleV), op.f32x4Div);
      out.push(op.localGet(mRow), op.localGet(chunk), op.i32Const(4), op.i32Shl, op.i32Add, op.v128Load(j * 16, 2), op.f32x4Add);
      out.push(op.v128Store(j * 16, 2));
    }
    return code(...out);
  };
  const body = code(
    op.localGet(NQ), op.i32Eqz, op.localGet(HD), op.i32Eqz, op.i32Or, op.localGet(COLS), op.i32Eqz, op.i32Or, op.if(), op.return, op.end,
    op.localGet(SCALE), op.f32x4Splat, op.localSet(scaleV),
    op.localGet(COLS), op.i32Const(3), op.i32Add, op.i32Const(2), op.i32ShrU, op.localSet(chunks),
    op.i32Const(0), op.localSet(i),
    op.loop(),
    op.localGet(S), op.localGet(i), op.localGet(SS), op.i32Mul, op.i32Add, op.localSet(sRow),
    op.localGet(MASK), op.localGet(i), op.localGet(MS), op.i32Mul, op.i32Add, op.localSet(mRow),
    op.i32Const(0), op.localSet(chunk),
    chunkBlocks(chunk, chunks, [4, 1], block),
    op.localGet(i), op.i32Const(1), op.i32Add, op.localTee(i), op.localGet(NQ), op.i32LtU, op.brIf(0),
    op.end,
  );
  const params: ValType[] = [...Array<ValType>(11).fill(I32), F32];
  return { name: ATTN_SCORES, params, results: [], locals: L.locals, body };
}

/** Generates attn_pv (see above). */
export function attnPvFunction(): FunctionDef {
  const [P, V, Y, NQ, COLS, HD, PS, VS, YS] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const L = localsFrom(9);
  const i = L.add(I32), chunk = L.add(I32), chunks = L.add(I32), pp = L.add(I32), vp = L.add(I32), cnt = L.add(I32), yRow = L.add(I32);
  const sv = L.add(V128), wv = L.add(V128);
  const acc = Array.from({ length: 8 }, () => L.add(V128));
  const zero = op.v128Const(new Uint8Array(16));
  const block = (B: number): Code => {
    const out: Code[] = [];
    for (let j = 0; j < B; j++) out.push(zero, op.localSet(acc[j]));
    out.push(op.localGet(P), op.localGet(i), op.localGet(PS), op.i32Mul, op.i32Add, op.localSet(pp));
    out.push(op.localGet(V), op.localGet(chunk), op.i32Const(4), op.i32Shl, op.i32Add, op.localSet(vp));
    out.push(op.localGet(COLS), op.localSet(cnt));
    out.push(splatAccumulate(acc.slice(0, B), pp, vp, VS, cnt, sv, wv));
    for (let j = 0; j < B; j++)
      out.push(op.localGet(yRow), op.localGet(chunk), op.i32Const(4), op.i32Shl, op.i32Add, op.localGet(acc[j]), op.v128Store(j * 16, 2));
    return code(...out);
  };
  const body = code(
    op.localGet(NQ), op.i32Eqz, op.localGet(HD), op.i32Eqz, op.i32Or, op.localGet(COLS), op.i32Eqz, op.i32Or, op.if(), op.return, op.end,
    op.localGet(HD), op.i32Const(3), op.i32Add, op.i32Const(2), op.i32ShrU, op.localSet(chunks),
    op.i32Const(0), op.localSet(i),
    op.loop(),
    op.localGet(Y), op.localGet(i), op.localGet(YS), op.i32Mul, op.i32Add, op.localSet(yRow),
    op.i32Const(0), op.localSet(chunk),
    chunkBlocks(chunk, chunks, [8, 4, 1], block),
    op.localGet(i), op.i32Const(1), op.i32Add, op.localTee(i), op.localGet(NQ), op.i32LtU, op.brIf(0),
    op.end,
  );
  return { name: ATTN_PV, params: Array<ValType>(9).fill(I32), results: [], locals: L.locals, body };
}

/** Plain-JS statement of attn_scores for one (i, c) (tests compare the kernel against it). */
export function scoreF32(q: Float32Array, qOff: number, k: Float32Array, kOff: number, kStride: number, hd: number, scale: number, mask: number): number {
  const f = Math.fround;
  let dot = 0;
  for (let d = 0; d < hd; d++) dot = f(dot + f(q[qOff + d] * k[kOff + d * kStride]));
  return f(f(dot / scale) + mask);
}

/** Plain-JS statement of attn_pv for one (i, d). */
export function pvF32(p: Float32Array, pOff: number, v: Float32Array, vOff: number, vStride: number, cols: number): number {
  const f = Math.fround;
  let acc = 0;
  for (let c = 0; c < cols; c++) acc = f(acc + f(p[pOff + c] * v[vOff + c * vStride]));
  return acc;
}
