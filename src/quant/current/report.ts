// Owns `quant-report --flow current`: how far a current-flow recipe (SPEC-2026 §10) moves the model from fp32, on
// the current runner (src/runner/current-session.ts, kv mode: the AR = 1 decode graph, Smart Mask), with the
// quantized AR-N graph (forward.ts, integer arithmetic) and the engine's fp32 AR-N graph fed the very same tokens:
// - per step: logits SQNR, KL(fp32 ‖ quantized), top-1 agreement; the tokens after the prompt are the quantized
//   graph's greedy choices (argmax of its logits, as the device would produce them);
// - per conv: the quantized graph's conv output against the fp32 graph's, pooled over the generated steps
//   (accumulated error: every quantization upstream included), one row per conv module, and the sensitivity
//   analysis (src/quant/sensitivity.ts) with the fp32 inputs' outlier statistics and a suggested --quant_recipe
//   (the recipe run, plus a 16a8w override per conv below the threshold that is not 16a8w already);
// - integer vs fake-quant: the fp32 fake-quant oracle of the same graph run in lock-step (logits SQNR, top-1, int32
//   accumulator overflows);
// - perplexity on an evaluation text, fp32 vs quantized (integer arithmetic), teacher-forced through the same session in windows of
//   CL - 1 tokens (each window a fresh session; windows overlap by one token so every token but the first is
//   scored once; log-softmax in float64 over the logits' values — the quantized graph's are its uint16 codes'
//   values).
// Deterministic: a pure function of (model, encodings, options).
import type { Model } from "../../engine/weights.js";
import type { Backend } from "../../engine/backend.js";
import type { MatMulFn } from "../../engine/decoder.js";
import { createEngineBackend } from "../../engine/engine-backend.js";
import { matMulRows } from "../../engine/kernels.js";
import { compareTensors, klDivergence, top1, top1Agrees } from "../../parity/metrics.js";
import { createCurrentSession } from "../../runner/current-session.js";
import { logProb, type Perplexity } from "../perplexity.js";
import type { QuantLayerStat, QuantReport, QuantReportPhase, QuantStep } from "../report.js";
import { integerVsFakeMeter } from "../integer-vs-fake.js";
import { sensitivityReport, sqnrFromEnergies, suggestRecipe, type ConvMeasurement } from "../sensitivity.js";
import type { CurrentEncodings } from "./encodings.js";
import { convWeight, recipeDocument } from "./recipe.js";
import { currentQuantizedBackend } from "./quantized-backend.js";

export interface CurrentQuantReportOptions {
  /** The prompt (BOS included) the greedy comparison starts from. */
  promptTokens: number[];
  /** The text perplexity is measured on (BOS included when wanted). */
  evalTokens: number[];
  /** Tokens to generate (default: until the context is full). */
  steps?: number;
  /** Stop tokens (the family's). */
  stopTokens?: readonly number[];
  /** What the encodings were calibrated on, for the report. */
  calibration: { source: "prompt" | "calibration data"; tokens: number };
  sensitivityThresholdDb?: number;
  onProgress?: (done: number, total: number, phase: QuantReportPhase) => void;
}

/** Values of a conv's fp32 input kept for its outlier statistics (per conv, over the generated steps). */
const MAX_INPUT_SAMPLES = 1 << 18;


/** A conv's latest product (input, output) by weight array, recorded by a MatMulFn wrapper. */
type Products = Map<Float32Array, { x: Float32Array; y: Float32Array }>;

function recordingMatMul(products: Products, inner: MatMulFn = matMulRows): MatMulFn {
  return (y, w, x, t, m, n) => {
    inner(y, w, x, t, m, n);
    products.set(w, { x: x.slice(0, t * n), y: y.slice(0, t * m) });
  };
}

/** A kv-mode session of the decode graph over `prompt`. */
function session(backend: Backend, model: Model, CL: number, prompt: number[], stopTokens?: readonly number[]) {
  return createCurrentSession({ backend, config: model.config, mode: "kv", contextLen: CL, prefillArLen: 1, maxSeqLen: CL, promptTokens: prompt, stopTokens, sampleRawCodes: false });
}

/** Teacher-forced perplexity of `tokens` through fresh kv-mode sessions of `make()`'s backend (file header). */
export async function currentPerplexity(make: () => Backend, model: Model, CL: number, tokens: readonly number[], onCall?: () => void): Promise<Perplexity> {
  if (tokens.length < 2) throw new RangeError("perplexity needs at least 2 tokens");
  const L = CL - 1;
  let nll = 0;
  let scored = 0;
  for (let start = 0; start < tokens.length - 1; start += L - 1) {
    const w = tokens.slice(start, start + L);
    if (w.length < 2) break;
    const s = session(make(), model, CL, w);
    for (;;) {
      const r = await s.call();
      onCall?.();
      for (const { pos, row } of r.promptLogits ?? []) {
        if (pos + 1 < w.length) {
          nll -= logProb(row, w[pos + 1]);
          scored++;
        }
      }
      if (r.sampled) break;
      s.advance(-1);
    }
  }
  const nllMean = nll / scored;
  return { tokens: scored, nllMean, ppl: Math.exp(nllMean) };
}

export async function currentQuantReport(model: Model, enc: CurrentEncodings, o: CurrentQuantReportOptions): Promise<QuantReport> {
  const c = model.config;
  const CL = enc.contextLen;
  const prompt = o.promptTokens;
  const n = prompt.length;
  if (n < 1 || n > CL - 1) throw new RangeError(`quant report: ${n} prompt tokens do not fit max_context_len ${CL}`);
  const qProducts: Products = new Map();
  const fProducts: Products = new Map();
  const qb = currentQuantizedBackend(model, enc, { contextLen: CL, arLens: [1], onConv: (cq, x, y) => qProducts.set(convWeight(model, cq.conv), { x, y }) });
  const fakeB = currentQuantizedBackend(model, enc, { contextLen: CL, arLens: [1], arithmetic: "fake" });
  const fb = createEngineBackend({ model, contextLen: CL, arLens: [1], attention: enc.attention }, { matMul: recordingMatMul(fProducts) });
  const q = session(qb, model, CL, prompt, o.stopTokens);
  const fk = session(fakeB, model, CL, prompt, o.stopTokens);
  const f = session(fb, model, CL, prompt, o.stopTokens);
  const intFake = integerVsFakeMeter();

  const convs = enc.convs.map((cq) => ({ cq, w: convWeight(model, cq.conv), sig: 0, noise: 0, input: [] as number[] }));
  const maxGen = Math.max(0, o.steps ?? Infinity);
  const total = Math.max(1, Math.min(CL - 1, n - 1 + maxGen));
  o.onProgress?.(0, total, "comparing");
  const steps: QuantStep[] = [];
  const generatedTokens: number[] = [];
  let index = 0;
  while (q.phase !== "done") {
    const ql = await q.call();
    const kl = await fk.call();
    const fl = await f.call();
    const generated = ql.sampled;
    if (generated && generatedTokens.length >= maxGen) break;
    const qr = ql.row;
    const fr = fl.row;
    steps.push({ index: index++, position: ql.position, token: ql.token ?? prompt[ql.position], generated, logitsSqnrDb: compareTensors(qr, fr).sqnrDb, kl: klDivergence(fr, qr), top1Agree: top1Agrees(fr, qr) });
    const kr = kl.row;
    intFake.add(index - 1, qr, kr);
    if (generated) {
      for (const e of convs) {
        const a = fProducts.get(e.w)!;
        const b = qProducts.get(e.w)!;
        for (let i = 0; i < a.x.length && e.input.length < MAX_INPUT_SAMPLES; i++) e.input.push(a.x[i]);
        for (let i = 0; i < a.y.length; i++) {
          e.sig += a.y[i] * a.y[i];
          e.noise += (b.y[i] - a.y[i]) ** 2;
        }
      }
    }
    o.onProgress?.(steps.length, total, "comparing");
    const next = generated ? top1(qr) : -1;
    q.advance(next);
    fk.advance(next);
    f.advance(next);
    if (generated) generatedTokens.push(next);
  }
  const gen = steps.filter((s) => s.generated);
  const sq = gen.map((s) => s.logitsSqnrDb);
  const layerOf = (layer: number) => (layer < 0 ? c.nLayers : layer);
  const tensorOf = (path: string) => path.replace(/^layers\.\d+\./, "");
  const perLayer: QuantLayerStat[] = convs.map((e) => ({ layer: layerOf(e.cq.conv.layer), tensor: tensorOf(e.cq.conv.path), sqnrDb: sqnrFromEnergies(e.sig, e.noise) }));
  const sensitivity = sensitivityReport(
    convs.map(
      (e): ConvMeasurement => ({
        name: e.cq.conv.path,
        layer: e.cq.conv.layer >= 0 ? e.cq.conv.layer : null,
        sig: e.sig,
        noise: e.noise,
        weight: { data: e.w, rows: e.cq.conv.rows },
        input: e.input,
      }),
    ),
    o.sensitivityThresholdDb,
  );

  // 16a8w is the highest scheme a recipe gives a conv: those are not promoted again (4-bit weights and 8-bit
  // activations — 16a4w, LPBQ, 8a4w, 8a8w — are).
  const highest = new Set(enc.convs.filter((cq) => cq.conv.scheme === "16a8w").map((cq) => cq.conv.path));
  const suggestedRecipe = suggestRecipe(sensitivity, recipeDocument(enc.recipe.recipe), (name) => highest.has(name));

  const scored = o.evalTokens.length - 1;
  let calls = 0;
  o.onProgress?.(0, scored, "perplexity fp32");
  const fp32 = await currentPerplexity(() => createEngineBackend({ model, contextLen: CL, arLens: [1], attention: enc.attention }), model, CL, o.evalTokens, () => o.onProgress?.(++calls, scored, "perplexity fp32"));
  calls = 0;
  o.onProgress?.(0, scored, "perplexity quantized");
  const quantized = await currentPerplexity(() => currentQuantizedBackend(model, enc, { contextLen: CL, arLens: [1] }), model, CL, o.evalTokens, () => o.onProgress?.(++calls, scored, "perplexity quantized"));
  return {
    scheme: enc.recipe.recipe.conv.scheme,
    flow: "current",
    recipe: enc.recipe.recipe.name,
    simulation: "current flow",
    arithmetic: "integer",
    perLayerKind: "accumulated",
    integerVsFake: intFake.result(qb.integerStats),
    sensitivity,
    suggestedRecipe,
    kvSeqLen: CL,
    kvUpdater: "smart_mask",
    promptTokens: prompt.slice(),
    generatedTokens,
    calibration: { source: o.calibration.source, tokens: o.calibration.tokens },
    perLayer,
    steps,
    top1Agreement: gen.length === 0 ? NaN : gen.filter((s) => s.top1Agree).length / gen.length,
    logitsSqnrDb: { min: sq.length ? Math.min(...sq) : NaN, max: sq.length ? Math.max(...sq) : NaN },
    perplexity: { fp32, quantized },
  };
}
