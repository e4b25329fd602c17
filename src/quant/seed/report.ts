// Owns `quant-report` for the seed's schemes (8a8w, 16a4w, 16a4w_block): the seed's calibration (SPEC §7.5) and
// its converted KV graph on device codes (backend.ts), compared step by step with the seed's fp32 node graph
// (fp32-backend.ts) on the same tokens — the quantized graph's greedy choices, as the device would produce them:
// - per step: logits SQNR, KL(fp32 ‖ quantized), top-1 agreement (as the tap-level report);
// - per conv: the quantized output against the fp32 graph's output of the same node, pooled over the generated
//   steps (accumulated error: every quantization upstream of the conv included), one row per conv module;
// - integer vs fake-quant: the fake-quant oracle run in lock-step too, so the report states how far the integer
//   arithmetic moves the logits (SQNR, top-1 agreement, int32 accumulator overflows);
// - perplexity on the evaluation text, fp32 vs the integer graph.
// Caches start as zero bytes, as the device runner allocates them (docs/quantization.md: the empty-slot hazard).
// Deterministic: a pure function of (model, scheme, options).
import type { Model } from "../../engine/weights.js";
import { compareTensors, klDivergence, top1, top1Agrees } from "../../parity/metrics.js";
import { createKvSession } from "../../runner/session.js";
import { fp32Perplexity, perplexityOn } from "../perplexity.js";
import type { QuantLayerStat, QuantReport, QuantReportOptions, QuantStep } from "../report.js";
import { createSeedQuantBackend } from "./backend.js";
import { createSeedFp32Backend } from "./fp32-backend.js";
import type { SeedValues } from "./node-graph.js";
import { seedPtq } from "./ptq.js";
import type { SeedScheme } from "./qspecs.js";
import { integerVsFakeMeter } from "../integer-vs-fake.js";
import { sensitivityReport } from "../sensitivity.js";

export interface SeedQuantReportOptions extends Omit<QuantReportOptions, "weightOptions"> {
  /** 16a4w_block's block length (default 64). */
  blockSize?: number;
  /** annotate_linear_16a8w_in_affine_layer (stories models); default true. */
  storiesLmHead?: boolean;
  /** Called after every generated step with both graphs' node values. */
  onNodeValues?: (fp32: SeedValues, quantized: SeedValues) => void;
  /** Sensitivity threshold in dB (default DEFAULT_SENSITIVITY_THRESHOLD_DB). */
  sensitivityThresholdDb?: number;
}

/** Values of a conv's fp32 input kept for its outlier statistics (per conv, over the generated steps). */
const MAX_INPUT_SAMPLES = 1 << 18;

interface Energy {
  layer: number;
  tensor: string;
  sig: number;
  noise: number;
  /** The conv's fp32 input values seen so far (capped at MAX_INPUT_SAMPLES). */
  input: number[];
}

const db = (sig: number, noise: number): number => (noise === 0 ? Infinity : sig === 0 ? -Infinity : 10 * Math.log10(sig / noise));

/** `layers.3.feed_forward.w2_conv` -> [3, "feed_forward.w2_conv"]; `output.conv` -> [nLayers, "output.conv"]. */
function layerOf(name: string, nLayers: number): [number, string] {
  const m = /^layers\.(\d+)\.(.*)$/.exec(name);
  return m ? [Number(m[1]), m[2]] : [nLayers, name];
}

export function seedQuantReport(model: Model, scheme: SeedScheme, o: SeedQuantReportOptions): QuantReport {
  const c = model.config;
  const eos = o.eos ?? 2;
  const kind = o.kvUpdater ?? "smart_mask";
  const prompt = o.promptTokens;
  const n = prompt.length;
  const L = o.kvSeqLen - 1;
  if (n < 1 || n > L) throw new RangeError(`quant report: ${n} prompt tokens do not fit kv_seq_len ${o.kvSeqLen}`);
  const calib = o.calibTokens?.slice(0, L);
  if (calib !== undefined && calib.length < 1) throw new RangeError("quant report: no calibration tokens");
  o.onProgress?.(0, L, "calibrating");
  const ptq = seedPtq(model, { scheme, mode: "kv", kvSeqLen: o.kvSeqLen, promptTokens: calib ?? prompt, eosId: eos, updater: kind, storiesLmHead: o.storiesLmHead });
  o.onProgress?.(ptq.kv!.calibration.calls, ptq.kv!.calibration.calls, "calibrating");

  let qValues: SeedValues | undefined;
  let fValues: SeedValues | undefined;
  const init = { model, kvSeqLen: o.kvSeqLen };
  const qb = createSeedQuantBackend({ ...init, ptq, blockSize: o.blockSize, fillZeroPoint: false, onValues: (_g, v) => (qValues = v) });
  const fakeB = createSeedQuantBackend({ ...init, ptq, blockSize: o.blockSize, fillZeroPoint: false, arithmetic: "fake" });
  const q = createKvSession(qb, c, o.kvSeqLen, prompt, kind);
  const fk = createKvSession(fakeB, c, o.kvSeqLen, prompt, kind);
  const f = createKvSession(createSeedFp32Backend({ ...init, onValues: (v) => (fValues = v) }), c, o.kvSeqLen, prompt);
  const graph = qb.quantGraphs.kv!.graph;
  const convs = graph.nodes.filter((nd) => nd.op === "conv2d").map((nd) => nd.name);
  const convInput = new Map(convs.map((name) => [name, graph.byName.get(name)!.inputs[0]]));
  const energies = new Map<string, Energy>();
  const maxGen = Math.max(0, o.steps ?? Infinity);
  const comparisons = Math.max(1, Math.min(L, n - 1 + maxGen));
  o.onProgress?.(0, comparisons, "comparing");
  const steps: QuantStep[] = [];
  const generatedTokens: number[] = [];
  const intFake = integerVsFakeMeter();
  while (q.phase !== "done") {
    const pos = q.pos;
    const cur = q.cur;
    const generated = pos >= n - 1;
    if (generated && generatedTokens.length >= maxGen) break;
    const ql = q.callSync().row as Float32Array;
    const kl = fk.callSync().row as Float32Array;
    const fl = f.callSync().row as Float32Array;
    steps.push({ index: pos, position: pos, token: cur, generated, logitsSqnrDb: compareTensors(ql, fl).sqnrDb, kl: klDivergence(fl, ql), top1Agree: top1Agrees(fl, ql) });
    intFake.add(pos, ql, kl);
    if (generated) {
      for (const name of convs) {
        const a = fValues!.get(name)!.data;
        const b = qValues!.get(name)!.data;
        let e = energies.get(name);
        if (!e) {
          const [layer, tensor] = layerOf(name, c.nLayers);
          energies.set(name, (e = { layer, tensor, sig: 0, noise: 0, input: [] }));
        }
        const x = fValues!.get(convInput.get(name)!)!.data;
        for (let i = 0; i < x.length && e.input.length < MAX_INPUT_SAMPLES; i++) e.input.push(x[i]);
        for (let i = 0; i < a.length; i++) {
          e.sig += a[i] * a[i];
          e.noise += (b[i] - a[i]) ** 2;
        }
      }
      o.onNodeValues?.(fValues!, qValues!);
    }
    o.onProgress?.(steps.length, comparisons, "comparing");
    const next = top1(ql);
    q.advance(next);
    fk.advance(next);
    f.advance(next);
    if (!generated) continue;
    generatedTokens.push(next);
    if (next === eos) break;
  }
  const gen = steps.filter((s) => s.generated);
  const sq = gen.map((s) => s.logitsSqnrDb);
  const perLayer: QuantLayerStat[] = [...energies.values()].map((e) => ({ layer: e.layer, tensor: e.tensor, sqnrDb: db(e.sig, e.noise) }));
  const sensitivity = sensitivityReport(
    [...energies.entries()].map(([name, e]) => {
      const w = graph.byName.get(`${name}.weight`)!.value!;
      return { name, layer: e.layer < c.nLayers ? e.layer : null, sig: e.sig, noise: e.noise, weight: { data: w.data, rows: w.shape[0] }, input: e.input };
    }),
    o.sensitivityThresholdDb,
  );
  const scored = o.evalTokens.length - 1;
  const progress = (phase: "perplexity fp32" | "perplexity quantized") => (d: number) => o.onProgress?.(d, scored, phase);
  o.onProgress?.(0, scored, "perplexity fp32");
  const fp32 = fp32Perplexity(model, o.kvSeqLen, o.evalTokens);
  progress("perplexity fp32")(scored);
  let calls = 0;
  const onQuantCall = progress("perplexity quantized");
  onQuantCall(0);
  const quantized = perplexityOn(
    () => createSeedQuantBackend({ ...init, ptq, blockSize: o.blockSize, fillZeroPoint: false, onValues: () => onQuantCall(++calls) }),
    model,
    o.kvSeqLen,
    o.evalTokens,
    kind,
  );
  return {
    scheme,
    simulation: "seed graph",
    arithmetic: "integer",
    perLayerKind: "accumulated",
    kvSeqLen: o.kvSeqLen,
    kvUpdater: kind,
    promptTokens: prompt.slice(),
    generatedTokens,
    calibration: { source: calib ? "calib_text" : "prompt_greedy", tokens: ptq.kv!.calibration.tokens.length },
    perLayer,
    steps,
    top1Agreement: gen.length === 0 ? NaN : gen.filter((s) => s.top1Agree).length / gen.length,
    logitsSqnrDb: { min: sq.length ? Math.min(...sq) : NaN, max: sq.length ? Math.max(...sq) : NaN },
    perplexity: { fp32, quantized },
    sensitivity,
    integerVsFake: intFake.result(qb.integerStats),
  };
}
