// Owns the tfjs backend: the two static graphs of SPEC §3 and the current flow's AR-N graphs (SPEC-2026 §3, one per
// AR length of `arLens` when `contextLen` is given, with the §8.1 masked softmax and §8.2 R3 when `attention` asks)
// expressed with TensorFlow.js ops, on `@tensorflow/tfjs-node` when the user has installed it (optional: its
// installer downloads libtensorflow, which fails without internet, so it is never a dependency) and otherwise on
// `@tensorflow/tfjs-backend-wasm` (the WebAssembly binaries ship inside the npm package). A second, independent
// engine to check the reference against: its own op order, its own kernels, fp32 throughout.
import { createRequire } from "node:module";
import { dirname } from "node:path";
import type * as TF from "@tensorflow/tfjs-core";
import type { Backend, BackendInit, ExecuteOptions } from "../engine/backend.js";
import { kvGraphSpec, prefillGraphSpec, type KvGraphInputs, type KvGraphOutputs, type PrefillGraphInputs, type PrefillGraphOutputs } from "../engine/graph-io.js";
import { requirePlainLlama } from "../engine/arch.js";
import { buildRopeTables, type RopeTables } from "../engine/rope.js";
import { checkArGraphIo, createArGraph, type ArGraph } from "../engine/ar-graph.js";
import type { ArGraphInputs, ArGraphOutputs } from "../engine/ar-graph-io.js";
import { hadamardMatrix } from "../engine/hadamard.js";
import { MASKED_SOFTMAX_OFFSET } from "../engine/attention.js";
import { LAYER_TAPS, type TapName } from "../engine/decoder.js";
import { UserError } from "../util/errors.js";

type Tf = typeof TF;

export interface TfjsOptions {
  /** "auto" (default): tfjs-node when installed, else wasm. */
  engine?: "auto" | "node" | "wasm";
}

/** Loads tfjs with the best available backend; returns the module and the backend name. */
async function loadTf(engine: "auto" | "node" | "wasm"): Promise<{ tf: Tf; backend: string }> {
  if (engine !== "wasm") {
    try {
      const spec = "@tensorflow/tfjs-node"; // optional peer: not a dependency of llama-golden
      const tfn = (await import(spec)) as Tf;
      await tfn.ready();
      return { tf: tfn, backend: tfn.getBackend() };
    } catch (e) {
      if (engine === "node") throw new UserError(`tfjs backend: @tensorflow/tfjs-node is not usable (${(e as Error).message.split("\n")[0]}); install it or use the wasm engine`);
    }
  }
  const tf = (await import("@tensorflow/tfjs-core")) as Tf;
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  const require = createRequire(import.meta.url);
  wasm.setWasmPaths(dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + "/");
  if (!(await tf.setBackend("wasm"))) throw new UserError("tfjs backend: the wasm backend failed to initialise");
  await tf.ready();
  return { tf, backend: "wasm" };
}

export async function createTfjsBackend(init: BackendInit & TfjsOptions): Promise<Backend> {
  const { tf, backend } = await loadTf(init.engine ?? "auto");
  const m = init.model;
  const c = m.config;
  requirePlainLlama(c, "the tfjs backend");
  const { dim, headDim: hd, nHeads, nKvHeads, hiddenDim, vocabSize, nLayers } = c;
  const group = nHeads / nKvHeads;
  const half = hd / 2;
  // AR-N graphs as the reference builds them (engine-backend.ts): one per distinct AR length, in the given order,
  // before any tensor is made (a bad AR length, or R3 with a head_dim that is not a power of two, throws here);
  // the reference's ArGraph gives the spec and checks every call's tensors as arForward does.
  const arGraphs = new Map<number, ArGraph>();
  if (init.contextLen !== undefined)
    for (const arLen of new Set(init.arLens ?? [1])) arGraphs.set(arLen, createArGraph(m, { contextLen: init.contextLen, arLen, ...init.attention }));
  const builtAr = arGraphs.size ? [...arGraphs.keys()].join(", ") : "none, contextLen not given";
  const W = (a: Float32Array, shape: number[]) => tf.tensor(a, shape, "float32");
  const weights = {
    emb: W(m.weights.tokEmbeddings, [vocabSize, dim]),
    out: m.weights.output === m.weights.tokEmbeddings ? undefined : W(m.weights.output, [vocabSize, dim]),
    norm: W(m.weights.norm, [dim]),
    layers: m.weights.layers.map((l) => ({
      attnNorm: W(l.attnNorm, [dim]),
      wq: W(l.wq, [nHeads * hd, dim]),
      wk: W(l.wk, [nKvHeads * hd, dim]),
      wv: W(l.wv, [nKvHeads * hd, dim]),
      wo: W(l.wo, [dim, nHeads * hd]),
      ffnNorm: W(l.ffnNorm, [dim]),
      w1: W(l.w1, [hiddenDim, dim]),
      w2: W(l.w2, [dim, hiddenDim]),
      w3: W(l.w3, [hiddenDim, dim]),
    })),
  };
  const lmHead = weights.out ?? weights.emb;
  // §8.2: Hd [hd, hd] (createArGraph above has already refused a head_dim that is not a power of two).
  const hadamard = arGraphs.size && init.attention?.r3 ? tf.tensor2d(hadamardMatrix(hd), [hd, hd]) : undefined;
  const maxPos = Math.max(init.kvSeqLen ?? 0, (init.prefillSeqLen ?? 0) - 1, init.contextLen ?? 0, 1);
  const rope: RopeTables = buildRopeTables(hd, maxPos, c.ropeTheta, c.ropeScaling);
  const cosT = tf.tensor(rope.cos, [maxPos, half]);
  const sinT = tf.tensor(rope.sin, [maxPos, half]);
  const scale = Math.fround(Math.sqrt(hd));

  const linear = (x: TF.Tensor2D, w: TF.Tensor): TF.Tensor2D => tf.matMul(x, w as TF.Tensor2D, false, true);
  const rmsNorm = (x: TF.Tensor2D, w: TF.Tensor) => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), c.normEps))), w) as TF.Tensor2D;
  /** [T, heads*hd] in interleaved pairs -> RoPE'd, half-split per head. */
  const rotate = (x: TF.Tensor2D, heads: number, cos: TF.Tensor, sin: TF.Tensor): TF.Tensor2D => {
    const T = x.shape[0];
    const pairs = tf.reshape(x, [T, heads, half, 2]);
    const [even, odd] = tf.split(pairs, 2, 3).map((p) => tf.reshape(p, [T, heads, half]));
    const re = tf.sub(tf.mul(even, cos), tf.mul(odd, sin));
    const im = tf.add(tf.mul(even, sin), tf.mul(odd, cos));
    return tf.reshape(tf.concat([re, im], 2), [T, heads * hd]) as TF.Tensor2D;
  };

  /** x·Hd on every hd-wide head slice of x [T, heads*hd] (§8.2). */
  const rotateR3 = (x: TF.Tensor2D, heads: number, H: TF.Tensor2D): TF.Tensor2D =>
    tf.reshape(tf.matMul(tf.reshape(x, [x.shape[0] * heads, hd]) as TF.Tensor2D, H), [x.shape[0], heads * hd]) as TF.Tensor2D;

  /**
   * The decoder for T rows. `keysFor(layer, g, kNew, vNew)` returns the attention's K [hd, cols] and V [cols, hd]
   * for KV head g and `mask` is [T, cols]. Returns logits [T, vocab] and the roped k / v of every layer (k·Hd with
   * R3). `attn.maskedSoftmax` (§8.1): masked scores (mask != 0) become (row min over all cols) - 20 and the mask is
   * not added; `attn.r3` (§8.2): q and k times Hd after RoPE (the taps keep q and k before R3, as the reference's).
   */
  function forward(
    tokens: Int32Array,
    positions: Int32Array,
    mask: TF.Tensor2D,
    keysFor: (layer: number, g: number, kNew: TF.Tensor2D, vNew: TF.Tensor2D) => { K: TF.Tensor2D; V: TF.Tensor2D },
    tap?: (layer: number, name: TapName, t: TF.Tensor) => void,
    attn: { maskedSoftmax?: boolean; r3?: TF.Tensor2D } = {},
  ): { logits: TF.Tensor2D; ks: TF.Tensor2D[]; vs: TF.Tensor2D[] } {
    const T = tokens.length;
    const masked = attn.maskedSoftmax ? tf.notEqual(mask, 0) : undefined;
    const attendScores = (s: TF.Tensor2D): TF.Tensor2D => {
      if (!masked) return tf.add(s, mask) as TF.Tensor2D;
      const fill = tf.sub(tf.min(s, -1, true), MASKED_SOFTMAX_OFFSET);
      return tf.where(masked, tf.broadcastTo(fill, s.shape), s) as TF.Tensor2D;
    };
    const posT = tf.tensor1d(positions, "int32");
    const cos = tf.reshape(tf.gather(cosT, posT), [T, 1, half]);
    const sin = tf.reshape(tf.gather(sinT, posT), [T, 1, half]);
    let x = tf.gather(weights.emb, tf.tensor1d(tokens, "int32")) as TF.Tensor2D;
    tap?.(-1, "embedding", x);
    const ks: TF.Tensor2D[] = [];
    const vs: TF.Tensor2D[] = [];
    for (let l = 0; l < nLayers; l++) {
      const lw = weights.layers[l];
      const a = rmsNorm(x, lw.attnNorm);
      const qRoped = rotate(linear(a, lw.wq), nHeads, cos, sin);
      const kRoped = rotate(linear(a, lw.wk), nKvHeads, cos, sin);
      const v = linear(a, lw.wv);
      if (tap) {
        tap(l, "attn_norm", a);
        tap(l, "q", qRoped);
        tap(l, "k", kRoped);
        tap(l, "v", v);
      }
      const q = attn.r3 ? rotateR3(qRoped, nHeads, attn.r3) : qRoped;
      const k = attn.r3 ? rotateR3(kRoped, nKvHeads, attn.r3) : kRoped;
      ks.push(k);
      vs.push(v);
      const heads: TF.Tensor2D[] = [];
      for (let g = 0; g < nKvHeads; g++) {
        const kNew = tf.slice(k, [0, g * hd], [T, hd]) as TF.Tensor2D;
        const vNew = tf.slice(v, [0, g * hd], [T, hd]) as TF.Tensor2D;
        const { K, V } = keysFor(l, g, kNew, vNew);
        for (let j = 0; j < group; j++) {
          const h = g * group + j;
          const qh = tf.slice(q, [0, h * hd], [T, hd]) as TF.Tensor2D;
          const scores = attendScores(tf.div(tf.matMul(qh, K), scale) as TF.Tensor2D);
          heads.push(tf.matMul(tf.softmax(scores, -1) as TF.Tensor2D, V));
        }
      }
      const y = tf.concat(heads, 1) as TF.Tensor2D;
      const o = linear(y, lw.wo);
      x = tf.add(x, o) as TF.Tensor2D;
      if (tap) {
        tap(l, "attn", y);
        tap(l, "attn_out", o);
        tap(l, "resid_attn", x);
      }
      const f = rmsNorm(x, lw.ffnNorm);
      const gate = linear(f, lw.w1);
      const up = linear(f, lw.w3);
      const act = tf.mul(tf.mul(gate, tf.sigmoid(gate)), up) as TF.Tensor2D;
      const down = linear(act, lw.w2);
      x = tf.add(x, down) as TF.Tensor2D;
      if (tap) {
        tap(l, "ffn_norm", f);
        tap(l, "ffn_gate", gate);
        tap(l, "ffn_up", up);
        tap(l, "ffn_act", act);
        tap(l, "ffn_out", down);
        tap(l, "resid_ffn", x);
      }
    }
    const fin = rmsNorm(x, weights.norm);
    tap?.(nLayers, "final_norm", fin);
    return { logits: linear(fin, lmHead), ks, vs };
  }

  /** Calls the user's tap in LAYER_TAPS order (the forward pass computes some taps before others). */
  function tapCollector(fn: ExecuteOptions["tap"]) {
    if (!fn) return { tap: undefined, flush: () => {} };
    const got = new Map<string, Float32Array>();
    return {
      tap: (layer: number, name: TapName, t: TF.Tensor) => void got.set(`${layer}:${name}`, t.dataSync() as Float32Array),
      flush: () => {
        fn(-1, "embedding", got.get("-1:embedding")!);
        for (let l = 0; l < nLayers; l++) for (const n of LAYER_TAPS) fn(l, n, got.get(`${l}:${n}`)!);
        fn(nLayers, "final_norm", got.get(`${nLayers}:final_norm`)!);
      },
    };
  }

  const L = init.kvSeqLen !== undefined ? init.kvSeqLen - 1 : 0;
  const P = init.prefillSeqLen !== undefined ? init.prefillSeqLen - 1 : 0;
  return {
    name: `tfjs-${backend}`,
    supportsTaps: true,
    graphs: {
      kv: init.kvSeqLen !== undefined ? kvGraphSpec(c, init.kvSeqLen) : undefined,
      prefill: init.prefillSeqLen !== undefined ? prefillGraphSpec(c, init.prefillSeqLen) : undefined,
      ...(arGraphs.size ? { ar: [...arGraphs.values()].map((g) => g.spec) } : {}),
    },
    async executeKv(inp: KvGraphInputs, out: KvGraphOutputs, opts?: ExecuteOptions) {
      if (init.kvSeqLen === undefined) throw new Error("tfjs backend: built without a KV graph (kvSeqLen)");
      const taps = tapCollector(opts?.tap);
      tf.tidy(() => {
        const mask = tf.tensor(inp.attnMask, [1, L + 1]) as TF.Tensor2D;
        const r = forward(inp.tokens, inp.inputPos, mask, (l, g, kNew, vNew) => {
          const i = l * nKvHeads + g;
          const K = tf.concat([tf.tensor(inp.kCaches[i], [hd, L]), tf.transpose(kNew)], 1) as TF.Tensor2D;
          const V = tf.concat([tf.tensor(inp.vCaches[i], [L, hd]), vNew], 0) as TF.Tensor2D;
          return { K, V };
        }, taps.tap);
        out.logits.set(r.logits.dataSync() as Float32Array);
        for (let l = 0; l < nLayers; l++) {
          const k = r.ks[l].dataSync() as Float32Array;
          const v = r.vs[l].dataSync() as Float32Array;
          for (let g = 0; g < nKvHeads; g++) {
            out.kOut[l * nKvHeads + g].set(k.subarray(g * hd, (g + 1) * hd));
            out.vOut[l * nKvHeads + g].set(v.subarray(g * hd, (g + 1) * hd));
          }
        }
      });
      taps.flush();
    },
    async executePrefill(inp: PrefillGraphInputs, out: PrefillGraphOutputs, opts?: ExecuteOptions) {
      if (init.prefillSeqLen === undefined) throw new Error("tfjs backend: built without a prefill graph (prefillSeqLen)");
      const taps = tapCollector(opts?.tap);
      const positions = Int32Array.from({ length: P }, (_, i) => i);
      tf.tidy(() => {
        const mask = tf.tensor(inp.attnMask, [P, P]) as TF.Tensor2D;
        const r = forward(inp.tokens, positions, mask, (_l, _g, kNew, vNew) => ({ K: tf.transpose(kNew) as TF.Tensor2D, V: vNew }), taps.tap);
        out.logits.set(r.logits.dataSync() as Float32Array);
        for (let l = 0; l < nLayers; l++) {
          const kvDim = nKvHeads * hd;
          const k = r.ks[l].dataSync() as Float32Array; // [P, kvDim]
          const v = r.vs[l].dataSync() as Float32Array;
          for (let g = 0; g < nKvHeads; g++) {
            const ko = out.kOut[l * nKvHeads + g];
            const vo = out.vOut[l * nKvHeads + g];
            for (let t = 0; t < P; t++)
              for (let d = 0; d < hd; d++) {
                ko[d * P + t] = k[t * kvDim + g * hd + d];
                vo[t * hd + d] = v[t * kvDim + g * hd + d];
              }
          }
        }
      });
      taps.flush();
    },
    async executeAr(arLen: number, inp: ArGraphInputs, out: ArGraphOutputs, opts?: ExecuteOptions) {
      const g = arGraphs.get(arLen);
      if (!g) throw new Error(`tfjs backend: built without an AR-N graph of ${arLen} rows (built: ${builtAr})`);
      checkArGraphIo(g, inp, out); // arForward's checks: element counts, input_pos required unless AR == CL, positions < CL
      const CL = g.contextLen;
      const AR = g.arLen;
      const C = g.cacheLen;
      const positions = inp.inputPos ?? Int32Array.from({ length: AR }, (_, i) => i);
      const taps = tapCollector(opts?.tap);
      // Every output is read back before any is written, so outputs may alias the inputs (as arForward allows).
      const staged = tf.tidy(() => {
        const mask = tf.tensor(inp.attnMask, [AR, CL]) as TF.Tensor2D;
        const r = forward(
          inp.tokens,
          positions,
          mask,
          (l, h, kNew, vNew) => {
            const kT = tf.transpose(kNew) as TF.Tensor2D;
            if (C === 0) return { K: kT, V: vNew };
            // Layer caches K [H, hd, C] and V [H, C, hd]: KV head h's [hd, C] and [C, hd] blocks are contiguous.
            const kCache = tf.tensor(inp.kCaches[l].subarray(h * hd * C, (h + 1) * hd * C), [hd, C]);
            const vCache = tf.tensor(inp.vCaches[l].subarray(h * C * hd, (h + 1) * C * hd), [C, hd]);
            return { K: tf.concat([kCache, kT], 1) as TF.Tensor2D, V: tf.concat([vCache, vNew], 0) as TF.Tensor2D };
          },
          taps.tap,
          { maskedSoftmax: g.maskedSoftmax, r3: g.r3 ? hadamard : undefined },
        );
        return {
          logits: r.logits.dataSync() as Float32Array,
          // k [AR, H*hd] -> [H*hd, AR] = K out [H, hd, AR]; v [AR, H, hd] -> V out [H, AR, hd].
          kOut: r.ks.map((k) => tf.transpose(k).dataSync() as Float32Array),
          vOut: r.vs.map((v) => tf.transpose(tf.reshape(v, [AR, nKvHeads, hd]), [1, 0, 2]).dataSync() as Float32Array),
        };
      });
      out.logits.set(staged.logits);
      for (let l = 0; l < nLayers; l++) {
        out.kOut[l].set(staged.kOut[l]);
        out.vOut[l].set(staged.vOut[l]);
      }
      taps.flush();
    },
    dispose() {
      const all: TF.Tensor[] = [weights.emb, weights.norm, cosT, sinT, ...(weights.out ? [weights.out] : []), ...(hadamard ? [hadamard] : [])];
      for (const l of weights.layers) all.push(...Object.values(l));
      tf.dispose(all);
    },
  };
}
