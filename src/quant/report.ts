// Owns the quantization report (`llama-golden quant-report`): how far a `--ptq` scheme (SPEC §7) moves the
// model from fp32, measured three ways on stories-sized models:
// - per step: a greedy kv-mode run of the QUANTIZED KV graph on a real cache manager (device bytes), with
//   an fp32 KV graph fed the very same tokens, so each step's logits are compared on identical inputs
//   (logits SQNR, KL(fp32 ‖ quantized) of the next-token distribution, top-1 agreement). The tokens after the
//   prompt are the quantized graph's greedy choices, as the device would produce them;
// - per layer: for every activation tap of the fp32 graph, the SQNR of its fake-quantized value (quantize ->
//   dequantize with its calibrated encoding; k / v per KV head with the K/V encodings) against the fp32 value
//   itself. This isolates each encoding's own rounding/clipping noise (not the error accumulated from
//   earlier layers). Energies are pooled over the generated steps (steps at positions >= prompt length - 1,
//   each of which produces a generated token): SQNR = 10 log10(Σ ref² / Σ (fq(ref) - ref)²) over all of them;
// - perplexity on an evaluation text, fp32 vs quantized (src/quant/perplexity.ts).
// The quantized caches start as zero bytes, as the device runner allocates them; on stories260K the empty
// slots then leak through the -255 mask (see test/quant/qgraph.test.ts) and dominate the logits error.
// Deterministic: a pure function of (model, scheme, options).
import type { Model } from "../engine/weights.js";
import type { TapName } from "../engine/decoder.js";
import { compareTensors, klDivergence, top1, top1Agrees } from "../parity/metrics.js";
import { renderHtmlReport } from "../parity/html-report.js";
import { calibrate, tapKey, type QuantEncodings } from "./calibrate.js";
import { fakeQuantize } from "./qgraph.js";
import type { SchemeName, QuantizeModelOptions } from "./schemes.js";
import type { CurrentScheme, RecipeFileDocument } from "./current/recipe.js";
import { fp32Perplexity, perplexityOn, quantPerplexity, type CacheKind, type Perplexity } from "./perplexity.js";
import type { LogitsArray, SyncGraphBackend } from "../engine/backend.js";
import type { CacheArray, MaskArray } from "../kvcache/types.js";
import { createQuantizedBackend } from "./quantized-backend.js";
import { createEngineBackend } from "../engine/engine-backend.js";
import { createKvSession } from "../runner/session.js";
import { explain, sensitivityMarkdown, type SensitivityReport } from "./sensitivity.js";

export interface QuantReportOptions {
  /** The prompt (BOS included) the greedy comparison run starts from (and calibration, unless calibTokens). */
  promptTokens: number[];
  kvSeqLen: number;
  /** The text perplexity is measured on, as token ids (BOS included when wanted). */
  evalTokens: number[];
  /**
   * Calibrate on these tokens (fed as they are, no greedy continuation; truncated to kv_seq_len - 1) instead
   * of the prompt's greedy run.
   */
  calibTokens?: number[];
  /** Tokens to generate in the comparison run (default: until the cache is full). Capped by the cache. */
  steps?: number;
  /** Stop token (default 2, llama2 EOS). */
  eos?: number;
  /** Cache manager of the quantized runs (default smart_mask). */
  kvUpdater?: CacheKind;
  weightOptions?: QuantizeModelOptions;
  /**
   * Progress in graph calls per phase (a progress bar; never changes the report): (0, total) when a phase
   * starts, then after every call. Phases: calibrating, comparing (the greedy run), perplexity fp32,
   * perplexity quantized (one call per scored token).
   */
  onProgress?: (done: number, total: number, phase: QuantReportPhase) => void;
}

export type QuantReportPhase = "calibrating" | "comparing" | "perplexity fp32" | "perplexity quantized";

export interface QuantLayerStat {
  /** -1 embedding, nLayers final_norm. */
  layer: number;
  tensor: string;
  sqnrDb: number;
}

export interface QuantStep {
  /** 0-based KV-graph call. */
  index: number;
  position: number;
  /** The token fed. */
  token: number;
  /** The step produces a generated token (position >= prompt length - 1). */
  generated: boolean;
  logitsSqnrDb: number;
  kl: number;
  top1Agree: boolean;
}

/** The seed graph's integer arithmetic against its fp32 fake-quant oracle, step by step on the same tokens. */
export interface IntegerVsFake {
  /** Logits SQNR of the integer run against the fake-quant run: min over steps and pooled over all of them. */
  logitsSqnrDb: { min: number; pooled: number };
  /** Fraction of steps whose top-1 token is the same in both. */
  top1Agreement: number;
  /** First step where the top-1 tokens differ, or null. */
  firstDisagreement: number | null;
  /** Accumulator sums that reached 2^31 (an int32 accumulator would wrap), over the integer run's calls. */
  int32Overflows: number;
  maxAccumulator: number;
}

export interface QuantReport {
  /** The --ptq scheme; for the current flow, the recipe's conv2d default scheme (the recipe is named in `recipe`). */
  scheme: SchemeName | CurrentScheme;
  /** Which flow's graphs ran (absent: the seed flow). */
  flow?: "seed" | "current";
  /** Current flow: the recipe's name. */
  recipe?: string;
  /**
   * Which simulation ran: the seed's converted node graph (src/quant/seed/) or the tap-level experiment
   * (qgraph.ts). Absent in reports of the tap-level experiment written before the seed graph existed.
   */
  simulation?: "seed graph" | "taps (experiment)" | "current flow";
  /** Seed graph: the arithmetic of the quantized run the steps compare ("integer" by default). */
  arithmetic?: "integer" | "fake";
  /**
   * What perLayer measures: "isolated" (taps: each tap's own quantize -> dequantize noise) or "accumulated"
   * (seed graph: each conv's quantized output against the fp32 graph's on the same tokens, every earlier
   * quantization included).
   */
  perLayerKind?: "isolated" | "accumulated";
  integerVsFake?: IntegerVsFake;
  /** Per-conv sensitivity with outlier statistics (seed graph and current flow). */
  sensitivity?: SensitivityReport;
  /** Current flow: the recipe run plus a 16a8w override per sensitive conv not 16a8w yet (a --quant_recipe document), and why. */
  suggestedRecipe?: { recipe: RecipeFileDocument; why: { name: string; reason: string }[] };
  kvSeqLen: number;
  kvUpdater: CacheKind;
  promptTokens: number[];
  /** Tokens generated by the quantized graph (the stop token included when hit). */
  generatedTokens: number[];
  calibration: { source: "prompt_greedy" | "calib_text" | "prompt" | "calibration data"; tokens: number };
  perLayer: QuantLayerStat[];
  steps: QuantStep[];
  /** Fraction of the generated steps whose top-1 token agrees with fp32 (NaN when none). */
  top1Agreement: number;
  /** Minimum and maximum logits SQNR over the generated steps. */
  logitsSqnrDb: { min: number; max: number };
  perplexity: { fp32: Perplexity; quantized: Perplexity };
}

interface Acc {
  layer: number;
  tensor: string;
  sig: number;
  noise: number;
}

export function quantReport(model: Model, scheme: SchemeName, o: QuantReportOptions): QuantReport {
  const c = model.config;
  const eos = o.eos ?? 2;
  const kind = o.kvUpdater ?? "smart_mask";
  const prompt = o.promptTokens;
  const n = prompt.length;
  const L = o.kvSeqLen - 1;
  if (n < 1 || n > L) throw new RangeError(`quant report: ${n} prompt tokens do not fit kv_seq_len ${o.kvSeqLen}`);
  const calib = o.calibTokens?.slice(0, L);
  if (calib !== undefined && calib.length < 1) throw new RangeError("quant report: no calibration tokens");
  const qenc: QuantEncodings = calibrate(model, scheme, {
    kvSeqLen: o.kvSeqLen,
    promptTokens: calib ?? prompt,
    maxTokens: calib ? 0 : undefined,
    eos,
    weightOptions: o.weightOptions,
    onProgress: o.onProgress && ((done, total) => o.onProgress!(done, total, "calibrating")),
  });

  // --- Greedy comparison run. ---
  // Two kv-mode sessions in lock-step: the quantized graph on device bytes (caches start as zero bytes, as the
  // managers allocate them) and the fp32 graph on a Smart Mask cache, both advanced with the quantized graph's
  // greedy token.
  const q = createKvSession(createQuantizedBackend({ model, qenc, kvSeqLen: o.kvSeqLen, fillZeroPoint: false }), c, o.kvSeqLen, prompt, kind);
  const f = createKvSession(createEngineBackend({ model, kvSeqLen: o.kvSeqLen }), c, o.kvSeqLen, prompt);
  const accs = new Map<string, Acc>();
  const H = c.nKvHeads;
  const hd = c.headDim;
  const tap = (layer: number, name: TapName, data: Float32Array): void => {
    const key = tapKey(layer, name);
    let a = accs.get(key);
    if (!a) accs.set(key, (a = { layer, tensor: name, sig: 0, noise: 0 }));
    const x = data.slice();
    if (name === "k" || name === "v") {
      const encs = name === "k" ? qenc.kv.k : qenc.kv.v;
      for (let g = 0; g < H; g++) fakeQuantize(x, encs[layer * H + g], g * hd, (g + 1) * hd);
    } else {
      const enc = qenc.activations.get(key);
      if (!enc) throw new Error(`quant report: no encoding for ${key}`);
      fakeQuantize(x, enc);
    }
    for (let i = 0; i < x.length; i++) {
      a.sig += data[i] * data[i];
      const d = x[i] - data[i];
      a.noise += d * d;
    }
  };
  const maxGen = Math.max(0, o.steps ?? Infinity);
  const steps: QuantStep[] = [];
  // Calls: the prompt's n - 1, then one per generated token, within the cache's L positions.
  const comparisons = Math.max(1, Math.min(L, n - 1 + maxGen));
  o.onProgress?.(0, comparisons, "comparing");
  const generatedTokens: number[] = [];
  while (q.phase !== "done") {
    const pos = q.pos;
    const cur = q.cur;
    const generated = pos >= n - 1;
    if (generated && generatedTokens.length >= maxGen) break;
    const ql = q.callSync().row;
    const fl = f.callSync(generated ? { tap } : {}).row;
    steps.push({ index: pos, position: pos, token: cur, generated, logitsSqnrDb: compareTensors(ql, fl).sqnrDb, kl: klDivergence(fl, ql), top1Agree: top1Agrees(fl, ql) });
    o.onProgress?.(steps.length, comparisons, "comparing");
    const next = top1(ql);
    q.advance(next);
    f.advance(next);
    if (!generated) continue;
    generatedTokens.push(next);
    if (next === eos) break;
  }
  const gen = steps.filter((s) => s.generated);
  const perLayer = [...accs.values()].map((a) => ({ layer: a.layer, tensor: a.tensor, sqnrDb: a.noise === 0 ? Infinity : a.sig === 0 ? -Infinity : 10 * Math.log10(a.sig / a.noise) }));
  const sq = gen.map((s) => s.logitsSqnrDb);
  const onProgress = o.onProgress;
  const perplexity = onProgress
    ? {
        fp32: perplexityOn(counted(() => createEngineBackend({ model, kvSeqLen: o.kvSeqLen }), o.evalTokens.length - 1, (d, t) => onProgress(d, t, "perplexity fp32")), model, o.kvSeqLen, o.evalTokens),
        quantized: perplexityOn(
          counted(() => createQuantizedBackend({ model, qenc, kvSeqLen: o.kvSeqLen, fillZeroPoint: false }), o.evalTokens.length - 1, (d, t) => onProgress(d, t, "perplexity quantized")),
          model,
          o.kvSeqLen,
          o.evalTokens,
          kind,
        ),
      }
    : {
        fp32: fp32Perplexity(model, o.kvSeqLen, o.evalTokens),
        quantized: quantPerplexity(model, qenc, o.kvSeqLen, o.evalTokens, kind),
      };

  return {
    scheme,
    kvSeqLen: o.kvSeqLen,
    kvUpdater: kind,
    promptTokens: prompt.slice(),
    generatedTokens,
    calibration: { source: calib ? "calib_text" : "prompt_greedy", tokens: qenc.calibrationTokens.length },
    perLayer,
    steps,
    top1Agreement: gen.length === 0 ? NaN : gen.filter((s) => s.top1Agree).length / gen.length,
    logitsSqnrDb: { min: sq.length ? Math.min(...sq) : NaN, max: sq.length ? Math.max(...sq) : NaN },
    perplexity,
  };
}

/**
 * For onProgress: the backend factory of fp32Perplexity / quantPerplexity (the same backends, so the same
 * numbers; test/quant/report.test.ts checks it) with its KV-graph calls counted, one per scored token.
 */
function counted<B extends SyncGraphBackend<CacheArray, MaskArray, LogitsArray>>(make: () => B, total: number, onCall: (done: number, total: number) => void): () => B {
  return () => {
    const b = make();
    let calls = 0;
    onCall(0, total);
    return new Proxy(b, {
      get(t, k) {
        const v: unknown = Reflect.get(t, k, t);
        if (k === "executeKvSync" && typeof v === "function")
          return (...args: unknown[]) => {
            const r: unknown = v.apply(t, args);
            onCall(++calls, total);
            return r;
          };
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
  };
}

const jsonReplacer = (_k: string, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v);

/** The report as one line of JSON (non-finite numbers as the strings "Infinity", "-Infinity", "NaN"). */
export function reportJson(r: QuantReport): string {
  return JSON.stringify(r, jsonReplacer);
}

const CALIBRATION_SOURCES: Record<QuantReport["calibration"]["source"], string> = {
  calib_text: "--calib_text",
  prompt_greedy: "greedy fp32 run on the prompt",
  prompt: "the prompt as one sample",
  "calibration data": "--calib_text / --calib_samples / --calib_dataset, CL-token sequences",
};

function simulationText(r: QuantReport): string {
  switch (r.simulation) {
    case "seed graph":
      return `the seed's converted graph, ${r.arithmetic ?? "integer"} arithmetic`;
    case "current flow":
      return `the current flow's quantized AR-N graph, ${r.arithmetic ?? "integer"} arithmetic`;
    default:
      return "tap-level experiment (not a seed scheme or flow)";
  }
}

const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : String(x));
const f4 = (x: number) => (Number.isFinite(x) ? x.toFixed(4) : String(x));

export function reportMarkdown(r: QuantReport): string {
  const gen = r.steps.filter((s) => s.generated);
  const agree = gen.filter((s) => s.top1Agree).length;
  const p = r.perplexity;
  const out: string[] = [];
  out.push(`# Quantization report: ${r.flow === "current" ? `recipe ${r.recipe} (conv2d ${r.scheme})` : r.scheme}`, "");
  if (r.simulation) out.push(`- simulation: ${simulationText(r)}`);
  out.push(r.flow === "current" ? `- max_context_len ${r.kvSeqLen}, kv mode (AR 1 decode graph), Smart Mask` : `- kv_seq_len ${r.kvSeqLen}, kv_updater ${r.kvUpdater}`);
  out.push(`- calibration: ${r.calibration.tokens} tokens (${CALIBRATION_SOURCES[r.calibration.source]})`);
  out.push(`- prompt tokens (${r.promptTokens.length}): ${r.promptTokens.join(" ")}`);
  out.push(`- generated by the quantized graph (${r.generatedTokens.length}): ${r.generatedTokens.join(" ")}`);
  out.push(`- logits SQNR over the generated steps: ${f2(r.logitsSqnrDb.min)} .. ${f2(r.logitsSqnrDb.max)} dB`);
  out.push(`- top-1 agreement with fp32: ${agree}/${gen.length} generated steps (${f4(r.top1Agreement)})`);
  out.push(`- perplexity (${p.fp32.tokens} tokens scored): fp32 ${f4(p.fp32.ppl)}, quantized ${f4(p.quantized.ppl)} (NLL ${f4(p.fp32.nllMean)} vs ${f4(p.quantized.nllMean)} nats)`);
  const iv = r.integerVsFake;
  if (iv)
    out.push(
      `- integer vs fp32 fake-quant arithmetic (same tokens): logits SQNR ${f2(iv.logitsSqnrDb.pooled)} dB pooled, ${f2(iv.logitsSqnrDb.min)} dB at worst; top-1 agreement ${f4(iv.top1Agreement)}${iv.firstDisagreement === null ? "" : ` (first differs at step ${iv.firstDisagreement})`}; int32 accumulator overflows ${iv.int32Overflows} (largest |accumulator| ${iv.maxAccumulator})`,
    );
  out.push("");
  out.push("## Steps (quantized vs fp32 on the same tokens)", "");
  out.push("| step | pos | token | generated | logits SQNR dB | KL | top-1 |");
  out.push("|---:|---:|---:|---|---:|---:|---|");
  for (const s of r.steps) out.push(`| ${s.index} | ${s.position} | ${s.token} | ${s.generated ? "yes" : "no"} | ${f2(s.logitsSqnrDb)} | ${s.kl.toExponential(3)} | ${s.top1Agree ? "yes" : "no"} |`);
  out.push("");
  out.push(
    r.perLayerKind === "accumulated"
      ? "## Per-conv output SQNR (quantized graph vs fp32 graph on the same tokens, pooled over the generated steps)"
      : "## Per-layer activation SQNR (fake-quantized vs fp32, pooled over the generated steps)",
    "",
  );
  out.push("| layer | tensor | SQNR dB |");
  out.push("|---:|---|---:|");
  for (const l of r.perLayer) out.push(`| ${l.layer} | ${l.tensor} | ${f2(l.sqnrDb)} |`);
  out.push("");
  if (r.sensitivity) out.push(sensitivityMarkdown(r.sensitivity));
  const sr = r.suggestedRecipe;
  if (sr) {
    out.push("## Suggested recipe (--quant_recipe; write it with --suggest_recipe FILE)", "");
    if (sr.why.length === 0) out.push("No conv below the threshold can be promoted (none, or all 16a8w already): the recipe stays as it is.", "");
    else {
      for (const w of sr.why) out.push(`- ${w.name} -> 16a8w: ${w.reason}`);
      out.push("");
    }
    out.push("```json", JSON.stringify(sr.recipe, null, 2), "```", "");
  }
  return out.join("\n");
}

/**
 * Thresholds a quantization report can be judged against. None is implied: without any, the HTML report is
 * informational (no PASSED / FAILED).
 */
export interface QuantThresholds {
  /** Least fraction (0..1) of the generated steps whose top-1 token agrees with fp32. */
  minTop1Agreement?: number;
  /** Largest quantized / fp32 perplexity ratio. */
  maxPerplexityRatio?: number;
  /** Least logits SQNR (dB) of every generated step. */
  minLogitsSqnrDb?: number;
}

/** The verdict against the stated thresholds: null when none is stated; else passed and why not. */
export function quantVerdict(r: QuantReport, t: QuantThresholds): { passed: boolean | null; failures: string[] } {
  const failures: string[] = [];
  let stated = false;
  if (t.minTop1Agreement !== undefined) {
    stated = true;
    if (!(r.top1Agreement >= t.minTop1Agreement)) failures.push(`top-1 agreement ${f4(r.top1Agreement)} < ${t.minTop1Agreement}`);
  }
  if (t.maxPerplexityRatio !== undefined) {
    stated = true;
    const ratio = r.perplexity.quantized.ppl / r.perplexity.fp32.ppl;
    if (!(ratio <= t.maxPerplexityRatio)) failures.push(`perplexity ratio ${f4(ratio)} > ${t.maxPerplexityRatio}`);
  }
  if (t.minLogitsSqnrDb !== undefined) {
    stated = true;
    const bad = r.steps.filter((s) => s.generated && !(s.logitsSqnrDb >= t.minLogitsSqnrDb!));
    if (bad.length) failures.push(`logits SQNR below ${t.minLogitsSqnrDb} dB at ${bad.length} generated step(s), first step ${bad[0].index} (${f2(bad[0].logitsSqnrDb)} dB)`);
  }
  return { passed: stated ? failures.length === 0 : null, failures };
}

/**
 * The report as a self-contained HTML page (src/parity/html-report.ts); the per-layer list is the bar chart.
 * A PASSED / FAILED verdict only against stated thresholds; without any, an informational report listing what
 * was measured.
 */
export function reportHtml(r: QuantReport, thresholds: QuantThresholds = {}): string {
  let worst = r.perLayer[0];
  for (const l of r.perLayer) if (l.sqnrDb < worst.sqnrDb) worst = l;
  const firstGen = r.steps.find((s) => s.generated);
  const gen = r.steps.filter((s) => s.generated);
  const agree = gen.filter((s) => s.top1Agree).length;
  const p = r.perplexity;
  const v = quantVerdict(r, thresholds);
  const stepThreshold = thresholds.minLogitsSqnrDb;
  return renderHtmlReport({
    title: `llama-golden quant-report: ${r.flow === "current" ? `${r.recipe} (${r.scheme})` : r.scheme}`,
    passed: v.passed,
    failures: v.failures,
    facts: [
      ["scheme", r.scheme],
      ...(r.recipe !== undefined ? ([["recipe", r.recipe]] as [string, string][]) : []),
      ...(r.simulation ? ([["simulation", r.simulation === "seed graph" ? `seed graph (${r.arithmetic ?? "integer"})` : r.simulation === "current flow" ? `current flow (${r.arithmetic ?? "integer"})` : "tap-level experiment"]] as [string, string][]) : []),
      [r.flow === "current" ? "max_context_len" : "kv_seq_len", String(r.kvSeqLen)],
      ["kv_updater", r.kvUpdater],
      ["calibration tokens", `${r.calibration.tokens} (${r.calibration.source})`],
      ["prompt tokens", String(r.promptTokens.length)],
      ["generated tokens", String(r.generatedTokens.length)],
      ["top-1 agreement", f4(r.top1Agreement)],
      ["perplexity fp32", f4(p.fp32.ppl)],
      ["perplexity quantized", f4(p.quantized.ppl)],
    ],
    tolerance: {
      "min top-1 agreement": thresholds.minTop1Agreement,
      "max perplexity ratio (quantized / fp32)": thresholds.maxPerplexityRatio,
      "min logits SQNR dB (generated steps)": thresholds.minLogitsSqnrDb,
    },
    measured: [
      ["logits SQNR (dB), quantized vs fp32 on the same tokens", `${f2(r.logitsSqnrDb.min)} .. ${f2(r.logitsSqnrDb.max)} over the generated steps; every step in the SQNR plot`],
      ["KL(fp32 ‖ quantized) of the next-token distribution (nats)", "every step in the KL plot"],
      ["top-1 agreement with fp32", `${agree}/${gen.length} generated steps (${f4(r.top1Agreement)})`],
      ["perplexity", `fp32 ${f4(p.fp32.ppl)}, quantized ${f4(p.quantized.ppl)}: ratio ${f4(p.quantized.ppl / p.fp32.ppl)} (${p.fp32.tokens} tokens scored)`],
      r.perLayerKind === "accumulated"
        ? ["conv output SQNR per layer (dB)", "quantized graph vs fp32 graph on the same tokens, pooled over the generated steps (bar chart)"]
        : ["activation SQNR per layer tensor (dB)", "fake-quantized vs fp32, pooled over the generated steps (bar chart)"],
      ...(r.sensitivity && r.sensitivity.convs.length
        ? ([["most sensitive conv", `${r.sensitivity.convs[0].name}: ${explain(r.sensitivity.convs[0], r.sensitivity.thresholdDb)}; ${r.sensitivity.convs.filter((x) => x.belowThreshold).length} conv(s) below ${r.sensitivity.thresholdDb} dB`]] as [string, string][])
        : []),
      ...(r.integerVsFake
        ? ([["integer vs fake-quant logits SQNR (dB)", `${f2(r.integerVsFake.logitsSqnrDb.pooled)} pooled, ${f2(r.integerVsFake.logitsSqnrDb.min)} worst step; top-1 agreement ${f4(r.integerVsFake.top1Agreement)}; int32 overflows ${r.integerVsFake.int32Overflows}`]] as [string, string][])
        : []),
    ],
    steps: r.steps.map((s) => ({
      index: s.index,
      graph: s.generated ? "kv (generated)" : "kv (prompt)",
      position: s.position,
      sqnrDb: s.logitsSqnrDb,
      kl: s.kl,
      top1: s.top1Agree,
      passed: stepThreshold !== undefined && s.generated ? s.logitsSqnrDb >= stepThreshold : undefined,
    })),
    firstDivergentStep: r.steps.find((s) => !s.top1Agree)?.index ?? null,
    firstDivergentLabel: "first top-1 mismatch",
    bisect: worst && {
      step: firstGen?.index ?? 0,
      layer: worst.layer,
      tensor: worst.tensor,
      perLayer: r.perLayer,
      title: "activation SQNR per layer tensor (fake-quantized vs fp32, pooled over the generated steps)",
      fact: ["lowest-SQNR activation", `layer ${worst.layer}, ${worst.tensor} (${f2(worst.sqnrDb)} dB)`],
    },
    sqnrThresholdDb: stepThreshold,
  });
}
