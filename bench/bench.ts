// Owns `npm run bench`: times the reference engine on a stories110M-shaped random model (or, with --small,
// the shipped stories260K), first the two static graphs alone with tinybench, then end-to-end generation
// through the real runner in kv and hybrid modes, and prints one aligned table. See bench/README.md.
import { existsSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { Bench, type Task } from "tinybench";
import { createReferenceBackend } from "../src/backends/reference.js";
import { allocKvOutputs, allocPrefillOutputs, causalMask, MASK_ATTEND, MASK_BLOCKED } from "../src/engine/graph-io.js";
import { createKvGraph, kvForward } from "../src/engine/kv-graph.js";
import { createPrefillGraph, prefillForward } from "../src/engine/prefill-graph.js";
import type { Model } from "../src/engine/weights.js";
import { loadModel } from "../src/loaders/index.js";
import { generate, type GenerateResult } from "../src/runner/generate.js";
import type { EvalMode } from "../src/kvcache/types.js";
import { createSampler } from "../src/runner/sampler.js";
import { loadLlama2cTokenizer } from "../src/tokenizer/llama2c-bin.js";
import { parameterCount, randomFill, randomModel, STORIES110M_CONFIG } from "./random-model.js";
import { runScript, UsageError } from "./script.js";

// ---- fixed workload (the same for both models) ----
/** KV graph alone: kv_seq_len 128 (L = 127 slots), fed at position 64 with slots 0..63 open. */
const KV_SEQ_LEN = 128;
const KV_POS = 64;
/** Prefill graph alone and in hybrid mode: prefill_seq_len 32, i.e. P = 31 rows. */
const PREFILL_SEQ_LEN = 32;
/** kv mode: a 4-token prompt, kv_seq_len 25 -> 24 steps: 4 prompt steps, then 20 decode steps (21 tokens). */
const KV_MODE_PROMPT = 4;
const KV_MODE_SEQ_LEN = 25;
/** hybrid mode: 31-token prompt in one prefill call, kv_seq_len 52 -> 20 decode steps after it (21 tokens). */
const HYBRID_SEQ_LEN = 52;
const MODEL_SEED = 0x110;

/**
 * A story opening as Llama-2 SentencePiece ids (BOS = 1 first): "Once upon a time, there was a little girl
 * named Lily. She loved to play outside in the park. One day, she saw a big". The random model gives ids
 * no meaning; they are here so the embedding rows read are spread like a real prompt's.
 */
const LLAMA2_PROMPT_IDS = [
  1, 9038, 2501, 263, 931, 29892, 727, 471, 263, 2217, 7826, 4257, 365, 2354, 29889, 2296, 18012, 304, 1708, 5377, 297,
  278, 14089, 29889, 3118, 2462, 29892, 1183, 4446, 263, 4802,
];
const SMALL_PROMPT_TEXT =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball.";

interface Options {
  small: boolean;
  /** Multiplies every time budget, iteration count and repeat count (default 1). */
  time: number;
}

/** A bad command line: printed without a stack, exit code 2. */

function usage(): string {
  return [
    "usage: npm run bench [-- [--small] [--time <factor>]]",
    "  --small          use models/stories260K.bin instead of the random stories110M-shaped model (env BENCH_SMALL=1)",
    "  --time <factor>  scale time budgets, iterations and repeats, e.g. 0.5 or 3 (env BENCH_TIME; default 1)",
  ].join("\n");
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const o: Options = { small: env.BENCH_SMALL === "1" || env.BENCH_SMALL === "true", time: 1 };
  let time = env.BENCH_TIME;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--small") o.small = true;
    else if (a === "--time") time = argv[++i];
    else if (a.startsWith("--time=")) time = a.slice("--time=".length);
    else if (a === "--help" || a === "-h") {
      console.log(usage());
      process.exit(0);
    } else throw new UsageError(`unknown argument ${a}\n${usage()}`);
  }
  if (time !== undefined && time !== "") {
    const t = Number(time);
    if (!(t > 0) || !Number.isFinite(t)) throw new UsageError(`--time / BENCH_TIME must be a positive number, got "${time}"`);
    o.time = t;
  }
  return o;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

/** A file shipped in the package, found from dist/bench/ (npm run bench) or from bench/ (run from source). */
function shippedFile(rel: string): string {
  for (const up of ["../../", "../"]) {
    const p = fileURLToPath(new URL(up + rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`cannot find ${rel} next to the bench script`);
}

interface Workload {
  label: string;
  model: Model;
  /** At least PREFILL_SEQ_LEN - 1 prompt ids, BOS first. */
  prompt: number[];
  /** Per-task tinybench budgets for this model size (before the --time factor). */
  kvBudget: { timeMs: number; iterations: number };
  prefillBudget: { timeMs: number; iterations: number };
  /** tinybench warm-up calls per graph before timing. */
  warmupIterations: number;
  repeats: number;
}

function buildWorkload(o: Options): Workload {
  if (o.small) {
    const ckpt = shippedFile("models/stories260K.bin");
    const t0 = performance.now();
    const { model } = loadModel({ checkpoint: ckpt });
    const tok = loadLlama2cTokenizer(shippedFile("models/tok512.bin"), model.config.vocabSize);
    const prompt = tok.encode(SMALL_PROMPT_TEXT, { bos: true });
    log(`loaded ${ckpt} in ${(performance.now() - t0).toFixed(0)} ms`);
    return {
      label: "stories260K (models/stories260K.bin)",
      model,
      prompt,
      kvBudget: { timeMs: 1000, iterations: 64 },
      prefillBudget: { timeMs: 1000, iterations: 32 },
      warmupIterations: 16,
      repeats: 9,
    };
  }
  const t0 = performance.now();
  const model = randomModel(STORIES110M_CONFIG, MODEL_SEED);
  log(`built the random stories110M-shaped model (${(parameterCount(model) / 1e6).toFixed(1)} M parameters) in ${(performance.now() - t0).toFixed(0)} ms`);
  return {
    label: `random weights, stories110M shape (seed ${MODEL_SEED})`,
    model,
    prompt: LLAMA2_PROMPT_IDS,
    // ~0.15 s per KV call and ~4.5 s per prefill call on a 2-core EPYC VM: about 1.5 min in all.
    kvBudget: { timeMs: 4000, iterations: 10 },
    prefillBudget: { timeMs: 0, iterations: 5 },
    warmupIterations: 1,
    repeats: 5,
  };
}

// ---- results ----
interface Row {
  what: string;
  n: number;
  meanMs: number;
  medianMs: number;
  minMs: number;
  /** Tokens per second at the median time. */
  tokPerS: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const spread = (xs: number[]) => ({ meanMs: mean(xs), medianMs: median(xs), minMs: Math.min(...xs) });
const scaled = (n: number, f: number, min: number) => Math.max(min, Math.round(n * f));

/** Checks that a logits buffer is all finite (a random model that overflows would time garbage). */
function assertFinite(what: string, a: Float32Array): void {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw new Error(`${what}: logit ${i} is ${a[i]}`);
}

function statsRow(what: string, task: Task, tokensPerCall: number): Row {
  const r = task.result;
  if (r.state === "errored") throw r.error;
  if (r.state !== "completed") throw new Error(`tinybench task ${task.name} ended in state ${r.state}`);
  return {
    what,
    n: r.latency.samplesCount,
    meanMs: r.latency.mean,
    medianMs: r.latency.p50,
    minMs: r.latency.min,
    tokPerS: (tokensPerCall * 1000) / r.latency.p50,
  };
}

/** The two graphs alone, each called through its engine function with fixed inputs. */
async function benchGraphs(w: Workload, o: Options): Promise<Row[]> {
  const m = w.model;
  const c = m.config;
  const n = c.nLayers * c.nKvHeads;
  let checksum = 0;

  // KV graph: K caches [hd, L], V caches [L, hd] filled with noise; mask open on slots 0..KV_POS-1 and on
  // the current-token column L (Smart Mask's layout at position KV_POS), blocked on the rest.
  const kv = createKvGraph(m, KV_SEQ_LEN);
  const L = kv.cacheLen;
  const attnMask = new Float32Array(KV_SEQ_LEN).fill(MASK_BLOCKED);
  for (let j = 0; j < KV_POS; j++) attnMask[j] = MASK_ATTEND;
  attnMask[L] = MASK_ATTEND;
  const kvIn = {
    tokens: Int32Array.of(w.prompt[KV_MODE_PROMPT]),
    attnMask,
    inputPos: Int32Array.of(KV_POS),
    kCaches: Array.from({ length: n }, (_, i) => randomFill(new Float32Array(c.headDim * L), 1000 + i, 0.5)),
    vCaches: Array.from({ length: n }, (_, i) => randomFill(new Float32Array(L * c.headDim), 5000 + i, 0.5)),
  };
  const kvOut = allocKvOutputs(c);

  // Prefill graph: P = 31 prompt ids (no padding), causal mask.
  const pf = createPrefillGraph(m, PREFILL_SEQ_LEN);
  const pfIn = { tokens: Int32Array.from(w.prompt.slice(0, pf.rows)), attnMask: causalMask(pf.rows) };
  const pfOut = allocPrefillOutputs(c, PREFILL_SEQ_LEN);

  const make = (budget: { timeMs: number; iterations: number }) =>
    new Bench({
      time: budget.timeMs * o.time,
      iterations: scaled(budget.iterations, o.time, 1),
      warmup: true,
      warmupIterations: w.warmupIterations,
      warmupTime: 0,
      throws: true,
    });

  const kvName = `kv_forward (kv_seq_len ${KV_SEQ_LEN}, pos ${KV_POS})`;
  log(`timing ${kvName} ...`);
  const kvBench = make(w.kvBudget).add(
    kvName,
    () => {
      kvForward(kv, kvIn, kvOut);
      checksum += kvOut.logits[0];
    },
    { async: false },
  );
  await kvBench.run();
  assertFinite("kv_forward", kvOut.logits);

  const pfName = `prefill_forward (prefill_seq_len ${PREFILL_SEQ_LEN}, ${pf.rows} rows)`;
  log(`timing ${pfName} ...`);
  const pfBench = make(w.prefillBudget).add(
    pfName,
    () => {
      prefillForward(pf, pfIn, pfOut);
      checksum += pfOut.logits[0];
    },
    { async: false },
  );
  await pfBench.run();
  assertFinite("prefill_forward", pfOut.logits);
  if (!Number.isFinite(checksum)) throw new Error("graph outputs are not finite");

  return [
    statsRow(`graph kv_forward, L=${L}, pos ${KV_POS} (per call = 1 token)`, kvBench.tasks[0], 1),
    statsRow(`graph prefill_forward, P=${pf.rows} (per call = ${pf.rows} tokens)`, pfBench.tasks[0], pf.rows),
  ];
}

/** One greedy generation through the runner; stop tokens are off so every repeat runs the same steps. */
function runGenerate(w: Workload, mode: EvalMode, promptLen: number, kvSeqLen: number): Promise<GenerateResult> {
  const c = w.model.config;
  const backend = createReferenceBackend({
    model: w.model,
    kvSeqLen,
    prefillSeqLen: mode === "hybrid" ? PREFILL_SEQ_LEN : undefined,
  });
  return generate({
    backend,
    config: c,
    mode,
    kvSeqLen,
    prefillSeqLen: PREFILL_SEQ_LEN,
    kvUpdater: "smart_mask",
    promptTokens: w.prompt.slice(0, promptLen),
    stopTokens: [],
    sampler: createSampler({ vocabSize: c.vocabSize, temperature: 0, seed: 0n }),
  }).finally(() => backend.dispose());
}

/**
 * End-to-end runs with the runner's own clock. From GenerateTimings:
 * - prompt phase = promptEvalEndMs - inferenceStartMs: in kv mode the n prompt KV steps (the last one
 *   yields the first generated token); in hybrid mode the single prefill call plus its first sample.
 * - decode phase = inferenceEndMs - promptEvalEndMs: the KV steps at positions n .. L-1, one new token
 *   each, i.e. finalPos - n tokens (the device runner's generated count).
 * firstTokenMs is not used: in kv mode the runner stamps it one step late (a kept quirk).
 */
async function benchGenerate(w: Workload, o: Options): Promise<{ rows: Row[]; notes: string[] }> {
  const repeats = scaled(w.repeats, o.time, 1);
  const rows: Row[] = [];
  const notes: string[] = [];
  const cases: { mode: EvalMode; promptLen: number; kvSeqLen: number }[] = [
    { mode: "kv", promptLen: KV_MODE_PROMPT, kvSeqLen: KV_MODE_SEQ_LEN },
    { mode: "hybrid", promptLen: PREFILL_SEQ_LEN - 1, kvSeqLen: HYBRID_SEQ_LEN },
  ];
  for (const cs of cases) {
    log(`generate ${cs.mode} mode: ${cs.promptLen}-token prompt, kv_seq_len ${cs.kvSeqLen}, ${repeats} repeats ...`);
    const promptMs: number[] = [];
    const decodeMs: number[] = [];
    let first: GenerateResult | undefined;
    let decoded = 0;
    for (let r = 0; r < repeats; r++) {
      const res = await runGenerate(w, cs.mode, cs.promptLen, cs.kvSeqLen);
      const t = res.timings;
      decoded = res.finalPos - cs.promptLen;
      promptMs.push(t.promptEvalEndMs - t.inferenceStartMs);
      decodeMs.push(t.inferenceEndMs - t.promptEvalEndMs);
      if (!first) first = res;
      else if (res.generatedTokens.join() !== first.generatedTokens.join())
        throw new Error(`${cs.mode} mode: repeat ${r} generated different tokens (the engine should be deterministic)`);
    }
    const gen = first!.generatedTokens;
    notes.push(`${cs.mode} mode generated ${gen.length} tokens: ${gen.slice(0, 12).join(" ")}${gen.length > 12 ? " ..." : ""}`);
    const n = cs.promptLen;
    if (cs.mode === "kv") {
      const perTok = promptMs.map((x) => x / n);
      rows.push({ what: `generate kv: prompt eval, ${n} tokens (per KV step)`, n: repeats, ...spread(perTok), tokPerS: 1000 / median(perTok) });
    } else {
      rows.push({ what: `generate hybrid: prefill, ${n} tokens (per call)`, n: repeats, ...spread(promptMs), tokPerS: (n * 1000) / median(promptMs) });
    }
    const perTok = decodeMs.map((x) => x / decoded);
    rows.push({ what: `generate ${cs.mode}: decode, ${decoded} tokens (per token)`, n: repeats, ...spread(perTok), tokPerS: 1000 / median(perTok) });
  }
  return { rows, notes };
}

function formatTable(rows: Row[]): string {
  const head = ["what", "n", "mean ms", "median ms", "min ms", "tok/s"];
  const fmtMs = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));
  const fmtRate = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
  const body = rows.map((r) => [r.what, String(r.n), fmtMs(r.meanMs), fmtMs(r.medianMs), fmtMs(r.minMs), fmtRate(r.tokPerS)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join("  ");
  return [line(head), widths.map((x) => "-".repeat(x)).join("  "), ...body.map(line)].join("\n");
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2), process.env);
  const started = performance.now();
  const w = buildWorkload(o);
  const c = w.model.config;
  if (w.prompt.length < PREFILL_SEQ_LEN - 1) throw new Error(`the bench prompt has only ${w.prompt.length} tokens`);

  const graphRows = await benchGraphs(w, o);
  const { rows: genRows, notes } = await benchGenerate(w, o);

  const cpus = os.cpus();
  console.log(`llama-golden bench — ${new Date().toISOString()}`);
  console.log(`model: ${w.label}`);
  console.log(
    `  dim ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads, ${c.nKvHeads} kv heads, head_dim ${c.headDim}, ffn ${c.hiddenDim}, ` +
      `vocab ${c.vocabSize}, ${(parameterCount(w.model) / 1e6).toFixed(2)} M params, fp32`,
  );
  console.log(
    `node ${process.version} (${process.platform}/${process.arch}), cpu: ${cpus[0]?.model ?? "unknown"} x ${cpus.length}, ` +
      `threads used: 1, time factor ${o.time}`,
  );
  console.log("");
  console.log(formatTable([...graphRows, ...genRows]));
  console.log("");
  console.log("n = tinybench samples (graph rows) or generate repeats (generate rows); tok/s from the median; greedy, smart_mask.");
  for (const note of notes) console.log(note);
  log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

runScript(main);
