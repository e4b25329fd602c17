// Owns the current flow's calibration (SPEC-2026 §10.3): one teacher-forced forward per calibration sequence
// through the CALIBRATE graph (the engine's AR-N graph at AR = CL with empty caches, src/engine/ar-graph.ts
// arForward — the very function the reference backend's executeAr runs), MinMax observers on every tensor the
// engine exposes, SeqMSE on batch 0 when the model asks for it, then the weight codes and every encoding.
//
// Upstream (cff6f4dd): the batch is collated by src/quant/calibration-data.ts (tokens right-padded with 0, causal
// mask with every padding row fully -255, input_pos = arange(CL)); padding rows run through the graph and feed the
// observers like any row (§10.3.3). PTQ observers see float values (nothing is fake-quantized while calibrating).
// Observed here, per sequence (names in src/quant/current/encodings.ts):
// - every tap that is not a conv output (embedding, attention_norm, q_rope, k_rope, attn, residual_attn, ffn_norm,
//   act_mul, residual_ffn, norm) through the decoder's TapFn, all CL rows;
// - every conv's input and output through the graph's weight-product hook (MatMulFn), which sees each conv's x and
//   y (the wq/wk outputs before RoPE have no tap); batch 0's x and y are kept for SeqMSE;
// - q·Hd with R3 (the q tap times the same Hd the graph uses); K and V from the graph's K/V outputs (after R3: the
//   cache stores k·Hd), one observer per layer for K and one for V, all heads together;
// - the mask input (its encoding is 255/65535 with zp 65535 on the calibration's {0, -255});
// - inside attention (src/quant/current/attention.ts): q·k, the mask add or the masked softmax's min / min - 20 /
//   select, and the softmax output, one observer per layer each; the ÷√hd's encoding is derived from q·k's.
// Then: the tok_embeddings encoding from the embedding table's range (the table's observer, whose encoding the
// embedding output shares); RMSNorm weights per tensor; conv weights per the recipe (weights.ts), after SeqMSE.
// Every encoding is the CALIBRATE graph's and is copied to the decode and prompt graphs unchanged (graphIoEncodings).
import type { Model } from "../../engine/weights.js";
import type { MatMulFn, TapFn } from "../../engine/decoder.js";
import { slidingWindowOf } from "../../engine/arch.js";
import { MASK_BLOCKED } from "../../engine/graph-io.js";
import { arForward, createArGraph } from "../../engine/ar-graph.js";
import { allocArCaches, allocArOutputs } from "../../engine/ar-graph-io.js";
import { matMulRows } from "../../engine/kernels.js";
import { hadamardHeads, hadamardMatrix } from "../../engine/hadamard.js";
import { attentionScaleOf, type AttendRowFn } from "../../engine/attention.js";
import { attentionPointName, attentionPoints, stagedAttendRow } from "./attention.js";
import { collateCalibrationBatch } from "../calibration-data.js";
import { UserError } from "../../util/errors.js";
import type { QuantEncoding } from "../affine.js";
import { actEncoding, emptyRange, fakeQuant, observe, type Range } from "./activations.js";
import { convWeight, type ActSpec, type ResolvedRecipe } from "./recipe.js";
import { groupLength, observerScales, quantizeConvWeights } from "./weights.js";
import { compileSeqMseKernel, seqMseSearch, type SeqMseResult } from "./seq-mse.js";
import {
  EMBEDDING_NAME,
  FINAL_NORM_NAME,
  kCacheName,
  LOGITS_NAME,
  MASK_NAME,
  producerName,
  qR3Name,
  kR3Name,
  tapEncodingName,
  vCacheName,
  type ConvQuant,
  type CurrentEncodings,
  type NormQuant,
} from "./encodings.js";

export interface CalibrateCurrentOptions {
  /** CL: the calibration graph's length (= --max_context_len). */
  contextLen: number;
  /** Token sequences of at most CL tokens (calibrationSequences), one forward each. */
  sequences: readonly (readonly number[])[];
  attention?: { maskedSoftmax?: boolean; r3?: boolean };
  /** SeqMSE candidates K (0 = off; default the recipe's model config). */
  seqMseCandidates?: number;
  /** Progress: sequences run, then convs searched ("SeqMSE"). */
  onProgress?: (done: number, total: number, phase: string) => void;
}

const sameSpec = (a: ActSpec, b: ActSpec) => a.bits === b.bits && a.symmetric === b.symmetric;

/** Calibrates the current flow's encodings for `resolved` (resolveRecipe of the same model). */
export function calibrateCurrent(model: Model, resolved: ResolvedRecipe, o: CalibrateCurrentOptions): CurrentEncodings {
  const c = model.config;
  const CL = o.contextLen;
  const K = o.seqMseCandidates ?? resolved.recipe.seqMseCandidates;
  const attention = { maskedSoftmax: o.attention?.maskedSoftmax ?? false, r3: o.attention?.r3 ?? false };
  if (o.sequences.length === 0) throw new UserError("calibration: no calibration sequences (the calibration data holds no tokens)");
  if (!Number.isInteger(K) || K < 0) throw new RangeError(`SeqMSE candidates must be an integer >= 0, got ${K}`);
  const convs = resolved.convs;
  const index = new Map<Float32Array, number>();
  convs.forEach((s, i) => {
    const w = convWeight(model, s);
    if (index.has(w)) throw new Error(`calibration: ${s.path} shares its weight array with ${convs[index.get(w)!].path}`);
    index.set(w, i);
  });

  const ranges = new Map<string, Range>();
  const range = (name: string): Range => {
    let r = ranges.get(name);
    if (!r) ranges.set(name, (r = emptyRange()));
    return r;
  };
  let capture: { x: Float32Array; y: Float32Array }[] | undefined;
  let batch0: { x: Float32Array; y: Float32Array }[] | undefined;
  const matMul: MatMulFn = (y, w, x, t, m, n) => {
    matMulRows(y, w, x, t, m, n);
    const i = index.get(w);
    if (i === undefined) throw new Error("calibration: a weight product of an unknown weight");
    observe(range(`${convs[i].path}.input`), x, 0, t * n);
    observe(range(convs[i].path), y, 0, t * m);
    if (capture) capture[i] = { x: x.slice(0, t * n), y: y.slice(0, t * m) };
  };
  const g = createArGraph(model, { contextLen: CL, arLen: CL, matMul, ...attention });
  const sw = slidingWindowOf(c.arch);
  const hd = c.headDim;
  const H = attention.r3 ? hadamardMatrix(hd) : null;
  const qr = new Float32Array(CL * c.nHeads * hd);
  const tap: TapFn = (layer, name, data) => {
    const n = tapEncodingName(layer, name);
    if (n) observe(range(n), data);
    if (name === "q" && H) {
      hadamardHeads(qr, data, H, hd);
      observe(range(qR3Name(layer)), qr);
    }
  };
  // Inside attention: every annotated op's output, per layer (all heads and rows together); the ÷√hd is derived.
  const rows: AttendRowFn[] = Array.from({ length: c.nLayers }, (_, l) =>
    stagedAttendRow(attention.maskedSoftmax, (p, x, start, end) => {
      if (p !== "scaled") observe(range(attentionPointName(l, p)), x, start, end);
    }),
  );
  const caches = allocArCaches(c, CL, CL);
  const out = allocArOutputs(c, CL, CL);
  const total = o.sequences.length + (K > 0 ? convs.length : 0);
  o.onProgress?.(0, total, "calibration");
  o.sequences.forEach((seq, i) => {
    const b = collateCalibrationBatch(seq, CL);
    observe(range(MASK_NAME), b.mask);
    capture = i === 0 && K > 0 ? [] : undefined;
    const win = sw === null ? {} : { windowMask: windowedMask(b.mask, CL, sw) };
    arForward(g, { tokens: b.tokens, attnMask: b.mask, ...win, inputPos: b.inputPos, ...caches }, out, { tap, attendRow: (l) => rows[l] });
    if (capture) batch0 = capture;
    capture = undefined;
    for (let l = 0; l < c.nLayers; l++) {
      observe(range(kCacheName(l)), out.kOut[l]);
      observe(range(vCacheName(l)), out.vOut[l]);
    }
    o.onProgress?.(i + 1, total, "calibration");
  });

  // Weights (SeqMSE first, on batch 0's float conv inputs and outputs).
  const kernel = K > 0 ? compileSeqMseKernel() : undefined;
  const seq: (SeqMseResult | undefined)[] = convs.map((s, i) => {
    if (K === 0) return undefined;
    const w = convWeight(model, s);
    const group = groupLength(s.weight, s.cols);
    const r = seqMseSearch(
      { weight: w, rows: s.rows, cols: s.cols, scales: observerScales(w, s.rows, s.cols, group, s.weight.qmax), group, qmax: s.weight.qmax, x: batch0![i].x, y: batch0![i].y, T: CL },
      K,
      kernel,
    );
    o.onProgress?.(o.sequences.length + i + 1, total, "SeqMSE");
    return r;
  });

  // Activation encodings, in graph order.
  const acts = new Map<string, QuantEncoding>();
  const observed = new Map<string, Range>();
  const def = resolved.defaultAct;
  const add = (name: string, spec: ActSpec, r: Range | undefined = ranges.get(name)) => {
    if (!r || !(r.min <= r.max)) throw new Error(`calibration: nothing observed for ${name}`);
    observed.set(name, r);
    acts.set(name, actEncoding(spec, r));
  };
  const tableRange = emptyRange();
  observe(tableRange, model.weights.tokEmbeddings);
  add(EMBEDDING_NAME, def, tableRange);
  add(MASK_NAME, def);
  const convQuant: ConvQuant[] = [];
  const addConv = (i: number) => {
    const s = convs[i];
    const requant = !sameSpec(s.act, def);
    if (requant) add(`${s.path}.input`, s.act);
    add(s.path, s.act);
    const inputName = requant ? `${s.path}.input` : producerName(s.kind, s.layer);
    convQuant[i] = {
      conv: s,
      weights: quantizeConvWeights(convWeight(model, s), s.rows, s.cols, s.weight, seq[i]?.step ?? 1),
      inputName,
      input: acts.get(inputName)!,
      requantInput: requant,
      output: acts.get(s.path)!,
      ...(seq[i] ? { seqMse: seq[i] } : {}),
    };
  };
  const perLayer = 7;
  for (let l = 0; l < c.nLayers; l++) {
    const at = (k: number) => l * perLayer + k; // convSites order: wq wk wv wo w1 w3 w2
    add(`layers.${l}.attention_norm`, def);
    for (const k of [0, 1, 2]) addConv(at(k));
    add(`layers.${l}.attention.q_rope`, def);
    // 8-bit KV without R3: the RoPE output shares the K encoding (the same values: every row's k, all heads).
    add(`layers.${l}.attention.k_rope`, resolved.kv.bits === 8 && !attention.r3 ? resolved.kv : def);
    if (attention.r3) {
      add(qR3Name(l), def);
      add(kR3Name(l), def, ranges.get(kCacheName(l))); // k·Hd: the values the K outputs hold
    }
    add(kCacheName(l), resolved.kv);
    add(vCacheName(l), resolved.kv);
    if (resolved.kv.bits === 8 && !attention.r3) acts.set(`layers.${l}.attention.k_rope`, acts.get(kCacheName(l))!); // one shared observer
    for (const p of attentionPoints(attention.maskedSoftmax)) {
      const name = attentionPointName(l, p);
      if (p !== "scaled") add(name, def);
      else {
        // Div by the constant √hd (htp_rules.py Div: _derive_div_qparams_fn): scale s_qk / √hd in fp32, zp of q·k.
        const qk = acts.get(attentionPointName(l, "qk"))!;
        acts.set(name, { ...qk, scale: Math.fround(qk.scale / attentionScaleOf(c)) });
      }
    }
    add(`layers.${l}.attention.attn`, def);
    addConv(at(3));
    add(`layers.${l}.residual_attn`, def);
    add(`layers.${l}.ffn_norm`, def);
    addConv(at(4));
    addConv(at(5));
    add(`layers.${l}.feed_forward.act_mul`, def);
    addConv(at(6));
    add(`layers.${l}.residual_ffn`, def);
  }
  add(FINAL_NORM_NAME, def);
  addConv(convs.length - 1);
  if (convs[convs.length - 1].path !== LOGITS_NAME) throw new Error("calibration: the last conv is not the LM head");

  const norm = (name: string, layer: number, which: NormQuant["which"], w: Float32Array): NormQuant => {
    const r = emptyRange();
    observe(r, w);
    const encoding = actEncoding(def, r);
    return { name, layer, which, encoding, device: fakeQuant(w, encoding) };
  };
  const norms: NormQuant[] = [];
  model.weights.layers.forEach((lw, l) => {
    norms.push(norm(`layers.${l}.attention_norm.weight`, l, "attnNorm", lw.attnNorm));
    norms.push(norm(`layers.${l}.ffn_norm.weight`, l, "ffnNorm", lw.ffnNorm));
  });
  norms.push(norm("norm.weight", -1, "norm", model.weights.norm));

  return { config: c, recipe: resolved, contextLen: CL, attention, activations: acts, observed, convs: convQuant, norms, sequences: o.sequences.length };
}

/**
 * The calibration graph's window mask (AR = CL, no cache; SPEC-2026 §8.4's Python mask): the causal batch mask with
 * key j also blocked for query i when i - j >= sw.
 */
export function windowedMask(mask: Float32Array, CL: number, sw: number): Float32Array {
  const m = mask.slice();
  for (let i = 0; i < CL; i++) for (let j = 0; j <= i - sw; j++) m[i * CL + j] = MASK_BLOCKED;
  return m;
}
