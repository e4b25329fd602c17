// Test helper: backends with one known device bug each, built around the reference engine, to check that the
// parity run catches every one at the right graph call and names the right layer and tensor.
import type { Backend, BackendInit } from "../../src/engine/backend.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { createKvGraph } from "../../src/engine/kv-graph.js";
import { createPrefillGraph } from "../../src/engine/prefill-graph.js";
import { runDecoder } from "../../src/engine/decoder.js";
import { attentionScale } from "../../src/engine/attention.js";
import { MASK_BLOCKED, type KvGraphInputs } from "../../src/engine/graph-io.js";

export type FaultKind = "fp16_mask_inf" | "input_pos_off_by_one" | "k_not_transposed" | "skip_restride" | "kv_8bit";
export const FAULTS: readonly FaultKind[] = ["fp16_mask_inf", "input_pos_off_by_one", "k_not_transposed", "skip_restride", "kv_8bit"];

/** Rounds to the nearest IEEE half-precision value (ties to even), with fp16 overflow and subnormals. */
export function f16round(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const s = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  if (a >= 65520) return s * Infinity; // rounds past the largest half, 65504
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e < -14) e = -14; // subnormals share the smallest normal exponent's spacing
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  let r = Math.floor(q);
  const f = q - r;
  if (f > 0.5 || (f === 0.5 && r % 2 === 1)) r++;
  return s * r * ulp;
}

/**
 * Attention of one query head as an fp16 graph with a -inf mask computes it: q, K and V read as fp16, scores
 * rounded to fp16, the blocked mask value turned into -Infinity, the softmax inputs rounded to fp16, the
 * probabilities and the output in fp16 (products and sums in wider precision, as fp16 kernels accumulate).
 */
function attendFp16(
  q: Float32Array,
  qOff: number,
  hd: number,
  kAt: (c: number, d: number) => number,
  vAt: (c: number, d: number) => number,
  cols: number,
  maskAt: (c: number) => number,
  scale: number,
  y: Float32Array,
  yOff: number,
): void {
  const s = new Float64Array(cols);
  let m = -Infinity;
  for (let c = 0; c < cols; c++) {
    let dot = 0;
    for (let d = 0; d < hd; d++) dot += f16round(q[qOff + d]) * f16round(kAt(c, d));
    const mv = maskAt(c);
    s[c] = f16round(f16round(f16round(dot) / scale) + (mv === MASK_BLOCKED ? -Infinity : mv));
    if (s[c] > m) m = s[c];
  }
  let sum = 0;
  for (let c = 0; c < cols; c++) {
    s[c] = Math.exp(s[c] - m);
    sum += s[c];
  }
  for (let c = 0; c < cols; c++) s[c] = f16round(s[c] / sum);
  for (let d = 0; d < hd; d++) {
    let acc = 0;
    for (let c = 0; c < cols; c++) acc += s[c] * f16round(vAt(c, d));
    y[yOff + d] = f16round(acc);
  }
}

/** Fault a: an engine whose attention runs in fp16 with -inf masking (both graphs). */
function fp16MaskInfBackend(init: BackendInit): Backend {
  const { model } = init;
  const c = model.config;
  const { headDim: hd, nHeads, nKvHeads } = c;
  const group = nHeads / nKvHeads;
  const kvDim = nKvHeads * hd;
  const scale = attentionScale(hd);
  const kvG = init.kvSeqLen !== undefined ? createKvGraph(model, init.kvSeqLen) : undefined;
  const preG = init.prefillSeqLen !== undefined ? createPrefillGraph(model, init.prefillSeqLen) : undefined;
  const ref = createReferenceBackend(init);
  return {
    name: "fault:fp16_mask_inf",
    supportsTaps: true,
    graphs: ref.graphs,
    async executeKv(inp, out, opts) {
      const g = kvG!;
      const L = g.cacheLen;
      const newK: Float32Array[] = [];
      const newV: Float32Array[] = [];
      const attend = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => {
        for (let kvh = 0; kvh < nKvHeads; kvh++) {
          const idx = layer * nKvHeads + kvh;
          const kc = inp.kCaches[idx];
          const vc = inp.vCaches[idx];
          newK[idx] = k.slice(kvh * hd, (kvh + 1) * hd);
          newV[idx] = v.slice(kvh * hd, (kvh + 1) * hd);
          const kAt = (col: number, d: number) => (col < L ? kc[d * L + col] : k[kvh * hd + d]);
          const vAt = (col: number, d: number) => (col < L ? vc[col * hd + d] : v[kvh * hd + d]);
          for (let j = 0; j < group; j++) {
            const h = kvh * group + j;
            attendFp16(q, h * hd, hd, kAt, vAt, L + 1, (col) => inp.attnMask[col], scale, y, h * hd);
          }
        }
      };
      const logits = new Float32Array(c.vocabSize);
      runDecoder(model, g.rope, inp.tokens, inp.inputPos, attend, logits, opts?.tap);
      out.logits.set(logits);
      newK.forEach((a, i) => out.kOut[i].set(a));
      newV.forEach((a, i) => out.vOut[i].set(a));
    },
    async executePrefill(inp, out, opts) {
      const g = preG!;
      const P = g.rows;
      const positions = Int32Array.from({ length: P }, (_, i) => i);
      const attend = (layer: number, q: Float32Array, k: Float32Array, v: Float32Array, y: Float32Array) => {
        for (let kvh = 0; kvh < nKvHeads; kvh++) {
          const idx = layer * nKvHeads + kvh;
          for (let t = 0; t < P; t++)
            for (let d = 0; d < hd; d++) {
              out.kOut[idx][d * P + t] = k[t * kvDim + kvh * hd + d];
              out.vOut[idx][t * hd + d] = v[t * kvDim + kvh * hd + d];
            }
          const kAt = (col: number, d: number) => k[col * kvDim + kvh * hd + d];
          const vAt = (col: number, d: number) => v[col * kvDim + kvh * hd + d];
          for (let j = 0; j < group; j++) {
            const h = kvh * group + j;
            for (let t = 0; t < P; t++) attendFp16(q, t * nHeads * hd + h * hd, hd, kAt, vAt, P, (col) => inp.attnMask[t * P + col], scale, y, t * nHeads * hd + h * hd);
          }
        }
      };
      const logits = new Float32Array(P * c.vocabSize);
      runDecoder(model, g.rope, inp.tokens, positions, attend, logits, opts?.tap);
      out.logits.set(logits);
    },
    dispose() {},
  };
}

/** A reference backend whose KV-graph inputs pass through `transform` first (prefill untouched). */
function kvInputFault(name: string, init: BackendInit, transform: (inp: KvGraphInputs) => KvGraphInputs, onPrefill?: (k: Float32Array[]) => void): Backend {
  const ref = createReferenceBackend(init);
  return {
    name: `fault:${name}`,
    supportsTaps: true,
    graphs: ref.graphs,
    executeKv: (inp, out, opts) => ref.executeKv(transform(inp), out, opts),
    async executePrefill(inp, out, opts) {
      await ref.executePrefill(inp, out, opts);
      onPrefill?.(out.kOut.map((k) => k.slice()));
    },
    dispose() {},
  };
}

/** Per-tensor symmetric 8-bit round trip (scale = max|x| / 127). */
export function quantize8(x: Float32Array): Float32Array {
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]));
  if (m === 0) return x.slice();
  const s = m / 127;
  return Float32Array.from(x, (v) => Math.max(-127, Math.min(127, Math.round(v / s))) * s);
}

export function createFaultBackend(kind: FaultKind, init: BackendInit): Backend {
  const hd = init.model.config.headDim;
  const L = init.kvSeqLen !== undefined ? init.kvSeqLen - 1 : 0;
  switch (kind) {
    case "fp16_mask_inf":
      return fp16MaskInfBackend(init);
    case "input_pos_off_by_one":
      // The graph is fed input_pos + 1 (e.g. the runner's increment-first quirk leaking into input_pos).
      return kvInputFault(kind, init, (inp) => ({ ...inp, inputPos: Int32Array.of(inp.inputPos[0] + 1) }));
    case "k_not_transposed":
      // The graph reads each K cache [hd, L] as if it were [L, hd]: element (d, c) comes from c*hd + d.
      return kvInputFault(kind, init, (inp) => ({
        ...inp,
        kCaches: inp.kCaches.map((k) => {
          const t = new Float32Array(hd * L);
          for (let d = 0; d < hd; d++) for (let c = 0; c < L; c++) t[d * L + c] = k[c * hd + d];
          return t;
        }),
      }));
    case "skip_restride": {
      // Smart Mask hand-over without the K re-stride: the prefill's K rows stay at stride P in each K block,
      // later KV steps write column p of row j at j*L + p, and the graph reads the block as [hd, L].
      let prefillK: Float32Array[] | undefined;
      let handOverPos = -1;
      const P = init.prefillSeqLen !== undefined ? init.prefillSeqLen - 1 : 0;
      return kvInputFault(
        kind,
        init,
        (inp) => {
          if (!prefillK) return inp;
          const pos = inp.inputPos[0];
          if (handOverPos < 0) handOverPos = pos; // the first KV call after the prefill feeds position n
          return {
            ...inp,
            kCaches: inp.kCaches.map((k, i) => {
              const buf = new Float32Array(hd * L);
              buf.set(prefillK![i].subarray(0, hd * P)); // rows at stride P, as the prefill graph wrote them
              for (let p = handOverPos; p < pos; p++) for (let j = 0; j < hd; j++) buf[j * L + p] = k[j * L + p];
              return buf;
            }),
          };
        },
        (k) => {
          prefillK = k;
          handOverPos = -1;
        },
      );
    }
    case "kv_8bit":
      return kvInputFault(kind, init, (inp) => ({ ...inp, kCaches: inp.kCaches.map(quantize8), vCaches: inp.vCaches.map(quantize8) }));
  }
}

