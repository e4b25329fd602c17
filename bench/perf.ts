// Owns `npm run bench` (issue 8's benchmark): decode and prefill tok/s, median time per graph call and peak RSS of
// every backend (reference, wasm, onnxruntime) at 1 and 2 threads on random-weight stories110M- and Llama 3.2
// 1B-shaped models, each measurement in its own child process (a clean peak RSS, memory freed in between), plus
// the llama2.c `run` anchor when LLAMA2C_RUN names a binary. Backends not in the registry yet print "n/a".
// The table goes to stdout (markdown, pasted into docs/performance.md), progress to stderr. See bench/README.md.
import { spawn, spawnSync } from "node:child_process";
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ModelConfig } from "../src/engine/config.js";
import { causalMask } from "../src/engine/graph-io.js";
import { weightShapes } from "../src/engine/weights.js";
import type { Backend } from "../src/engine/backend.js";
import { createCacheManager } from "../src/runner/generate.js";
import { llama2cTokenizerBytes, parseRunCTokPerS, writeLlama2cBin } from "./llama2c-files.js";
import { parameterCount, randomModel, STORIES110M_CONFIG } from "./random-model.js";
import { configOfMetaParams, LLAMA32_1B_PARAMS } from "./write-torch-checkpoint.js";
import { flagValue, runScript, UsageError } from "./script.js";

// ---------------------------------------------------------------------------------------------------------------
// The workload.

/** The KV graph of every measurement: kv_seq_len 128 (127 cache slots), Smart Mask, as the device example. */
const KV_SEQ_LEN = 128;
/** The prefill graph: prefill_seq_len 32, i.e. a 31-token block. */
const PREFILL_SEQ_LEN = 32;
const PROMPT_LEN = PREFILL_SEQ_LEN - 1;
const RESULT_TAG = "PERF-RESULT ";

type ModelKey = "stories110m" | "llama3_2_1b";
type BackendKey = "reference" | "wasm" | "onnxruntime";
const MODEL_KEYS: ModelKey[] = ["stories110m", "llama3_2_1b"];
const BACKEND_KEYS: BackendKey[] = ["reference", "wasm", "onnxruntime"];

interface Plan {
  /** Untimed prefill calls, then timed ones (median); timing stops early once `prefillBudgetMs` is spent (>= 1 call). */
  prefillWarmup: number;
  prefillRuns: number;
  prefillBudgetMs: number;
  /** Untimed decode steps, then timed ones (median); all after the prefill, at positions 31, 32, ... */
  decodeWarmup: number;
  decodeRuns: number;
}

interface ModelSpec {
  label: string;
  config: ModelConfig;
  seed: number;
  plan: Plan;
  quickPlan: Plan;
}

const MODELS: Record<ModelKey, ModelSpec> = {
  stories110m: {
    label: "stories110M shape",
    config: STORIES110M_CONFIG,
    seed: 0x110,
    plan: { prefillWarmup: 1, prefillRuns: 5, prefillBudgetMs: 20_000, decodeWarmup: 2, decodeRuns: 16 },
    quickPlan: { prefillWarmup: 1, prefillRuns: 3, prefillBudgetMs: 5_000, decodeWarmup: 1, decodeRuns: 8 },
  },
  llama3_2_1b: {
    label: "Llama 3.2 1B shape",
    config: configOfMetaParams(LLAMA32_1B_PARAMS),
    seed: 0x3201,
    // ~11x the work of stories110M per token: no prefill warm-up (a slow backend's JIT warms within its first
    // call), and at most ~60 s of timed prefill calls (the single-threaded reference takes ~45 s per call).
    plan: { prefillWarmup: 0, prefillRuns: 3, prefillBudgetMs: 60_000, decodeWarmup: 1, decodeRuns: 8 },
    quickPlan: { prefillWarmup: 0, prefillRuns: 1, prefillBudgetMs: 0, decodeWarmup: 1, decodeRuns: 3 },
  },
};

/**
 * Issue 8's anchor figures, printed (clearly labelled, never as measurements) when the anchors are not on the
 * machine. Only figures the project has on record are listed.
 */
/** Issue 8's anchors: decode tok/s on the stories110M shape, fp32, measured by the issue's author on this machine kind. */
const ISSUE_ANCHORS: { what: string; threads: number; tokPerS: number }[] = [
  { what: "llama2.c run.c gcc -O3", threads: 1, tokPerS: 20 },
  { what: "llama2.c run.c gcc -O3", threads: 2, tokPerS: 37 },
  { what: "llama2.c run.c -Ofast -march=native", threads: 1, tokPerS: 73 },
  { what: "llama2.c run.c -Ofast -march=native", threads: 2, tokPerS: 105 },
  { what: "llama.cpp (node-llama-cpp, f32 GGUF)", threads: 1, tokPerS: 82 },
];

/** Ratios of the measured stories110M decode rows to issue 8's anchors at the same thread count. */
function issueAnchorRatios(rows: Row[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (r.model !== "stories110m" || !r.result || r.result.status !== "ok") continue;
    const decode = 1000 / median(r.result.decodeStepMs);
    const vs = ISSUE_ANCHORS.filter((a) => a.threads === r.threads).map((a) => `${(decode / a.tokPerS).toFixed(2)}x ${a.what} (${a.tokPerS})`);
    if (vs.length) out.push(`- ${r.backend}, ${r.threads} thread(s): ${decode.toFixed(1)} tok/s = ${vs.join(", ")}`);
  }
  return out;
}

/** Peak memory of a backend as a multiple of the fp32 weights (for the free-memory check before a child runs). */
const MEMORY_FACTOR: Record<BackendKey, number> = { reference: 2.0, wasm: 2.2, onnxruntime: 3.5 };

// ---------------------------------------------------------------------------------------------------------------
// Options.

interface Options {
  quick: boolean;
  models: ModelKey[];
  backends: BackendKey[];
  threads: number[];
  /** Internal: run one measurement (JSON of ChildSpec) and print its result. */
  child?: string;
}


function usage(): string {
  return [
    "usage: npm run bench [-- [--quick] [--models stories110m,llama3_2_1b] [--backends reference,wasm,onnxruntime] [--threads 1,2]]",
    "  (default)   both model shapes, every backend at 1 and 2 threads: ~10 min on a 2-core machine",
    "  --quick     stories110M shape only, fewer calls: ~2 min (--models overrides the model list)",
    "  env LLAMA2C_RUN=/path/to/run   also time llama2.c's run on the same stories110M-shaped weights (anchor)",
  ].join("\n");
}

function listOf<T extends string>(v: string, allowed: readonly T[], flag: string): T[] {
  const items = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  for (const x of items) if (!(allowed as readonly string[]).includes(x)) throw new UsageError(`${flag}: "${x}" is not one of ${allowed.join(", ")}`);
  if (items.length === 0) throw new UsageError(`${flag} needs at least one value`);
  return items as T[];
}

function parseOptions(argv: string[]): Options {
  const o: Options = { quick: false, models: [...MODEL_KEYS], backends: [...BACKEND_KEYS], threads: [1, 2] };
  let modelsGiven = false;
  const value = (i: number, flag: string): string => flagValue(argv, i, flag, usage);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") o.quick = true;
    else if (a === "--models") {
      o.models = listOf(value(++i, a), MODEL_KEYS, a);
      modelsGiven = true;
    } else if (a === "--backends") o.backends = listOf(value(++i, a), BACKEND_KEYS, a);
    else if (a === "--threads") {
      const t = value(++i, a).split(",").map(Number);
      if (t.length === 0 || t.some((x) => !Number.isInteger(x) || x < 1 || x > 64)) throw new UsageError(`--threads: expected integers in [1, 64], e.g. 1,2`);
      o.threads = t;
    } else if (a === "--child") o.child = value(++i, a);
    else if (a === "--help" || a === "-h") {
      console.log(usage());
      process.exit(0);
    } else throw new UsageError(`unknown argument ${a}\n${usage()}`);
  }
  if (o.quick && !modelsGiven) o.models = ["stories110m"];
  return o;
}

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const GB = 1e9;

// ---------------------------------------------------------------------------------------------------------------
// Child: one backend on one model.

interface ChildSpec {
  model: ModelKey;
  backend: BackendKey;
  threads: number;
  plan: Plan;
}

interface ChildResult {
  /** "n/a" when the backend cannot run this configuration (reason in `note`). */
  status: "ok" | "n/a";
  note?: string;
  buildMs: number;
  setupMs: number;
  weightBytes: number;
  prefillCallMs: number[];
  kvCallMs: number[];
  /** Whole decode step: graph call, argmax and the cache manager's update. */
  decodeStepMs: number[];
  /** process.resourceUsage().maxRSS of the child, bytes. */
  peakRss: number;
  /** What the backend reports about its threads. */
  threadsNote: string;
  /** 1-minute load average when the child started and ended (other processes competing for the cores). */
  loadAvg: [number, number];
}

async function createBench(spec: ChildSpec, model: ReturnType<typeof randomModel>): Promise<{ backend: Backend; threadsNote: string } | { na: string }> {
  const init = { model, kvSeqLen: KV_SEQ_LEN, prefillSeqLen: PREFILL_SEQ_LEN };
  if (spec.backend === "onnxruntime") {
    const { createOnnxRuntimeBackend } = await import("../src/backends/onnxruntime.js");
    const backend = await createOnnxRuntimeBackend({ ...init, sessionOptions: { intraOpNumThreads: spec.threads, interOpNumThreads: 1 } });
    return { backend, threadsNote: `ORT intra-op threads ${spec.threads}` };
  }
  const registry = await import("../src/backends/registry.js");
  // The threads option arrives with the threaded backends (issue 8); older registries ignore it.
  const opts = { threads: spec.threads } as Parameters<typeof registry.createBackend>[2];
  const backend = await registry.createBackend(spec.backend, init, opts);
  const reported = (backend as { threads?: unknown }).threads;
  if (typeof reported === "number") {
    if (reported !== spec.threads) {
      backend.dispose();
      return { na: `asked for ${spec.threads} threads, the backend runs ${reported}` };
    }
    return { backend, threadsNote: `${reported}` };
  }
  if (spec.threads !== 1) {
    backend.dispose();
    return { na: `the ${spec.backend} backend takes no threads option yet` };
  }
  return { backend, threadsNote: "1 (single-threaded backend)" };
}

function argmax(a: Float32Array, from: number, to: number): number {
  let best = from;
  for (let i = from + 1; i < to; i++) if (a[i] > a[best]) best = i;
  return best - from;
}

function assertFinite(what: string, a: Float32Array): void {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw new Error(`${what}: logit ${i} is ${a[i]}`);
}

async function runChild(spec: ChildSpec): Promise<ChildResult> {
  const load0 = os.loadavg()[0];
  const m = MODELS[spec.model];
  const t0 = performance.now();
  const model = randomModel(m.config, m.seed);
  const buildMs = performance.now() - t0;
  const weightBytes = 4 * parameterCount(model);
  const base = { buildMs, weightBytes, prefillCallMs: [], kvCallMs: [], decodeStepMs: [] };
  const t1 = performance.now();
  const made = await createBench(spec, model);
  const setupMs = performance.now() - t1;
  if ("na" in made) return { status: "n/a", note: made.na, ...base, setupMs, peakRss: process.resourceUsage().maxRSS * 1024, threadsNote: "", loadAvg: [load0, os.loadavg()[0]] };
  const { backend, threadsNote } = made;
  const c = model.config;
  const V = c.vocabSize;
  const plan = spec.plan;
  try {
    // The real cache manager drives the I/O buffers exactly as the runner does in hybrid mode.
    const cache = createCacheManager("smart_mask", c, "hybrid", KV_SEQ_LEN, PREFILL_SEQ_LEN);
    const tokens = new Int32Array(PROMPT_LEN);
    for (let i = 0; i < PROMPT_LEN; i++) tokens[i] = (i * 7919 + 1) % V; // a fixed spread of ids
    const attnMask = causalMask(PROMPT_LEN);
    const pOut = { logits: new Float32Array(PROMPT_LEN * V), ...cache.prefillOutputs() };
    const prefillCallMs: number[] = [];
    for (let r = 0; r < plan.prefillWarmup; r++) await backend.executePrefill({ tokens, attnMask }, pOut);
    const timedFrom = performance.now();
    while (prefillCallMs.length < plan.prefillRuns && (prefillCallMs.length === 0 || performance.now() - timedFrom < plan.prefillBudgetMs)) {
      const s = performance.now();
      await backend.executePrefill({ tokens, attnMask }, pOut);
      prefillCallMs.push(performance.now() - s);
    }
    assertFinite("prefill logits", pOut.logits);
    cache.handOverFromPrefill(PROMPT_LEN);
    cache.startKv();
    let cur = argmax(pOut.logits, (PROMPT_LEN - 1) * V, PROMPT_LEN * V);
    let pos = PROMPT_LEN;
    const tokenIn = new Int32Array(1);
    const posIn = new Int32Array(1);
    const logits = new Float32Array(V);
    const kvCallMs: number[] = [];
    const decodeStepMs: number[] = [];
    const steps = plan.decodeWarmup + plan.decodeRuns;
    if (pos + steps > KV_SEQ_LEN - 1) throw new Error(`${steps} decode steps do not fit kv_seq_len ${KV_SEQ_LEN}`);
    for (let r = 0; r < steps; r++) {
      const s = performance.now();
      const inp = cache.kvInputs();
      const outs = cache.kvOutputs();
      tokenIn[0] = cur;
      posIn[0] = pos;
      const g = performance.now();
      await backend.executeKv({ tokens: tokenIn, attnMask: inp.attnMask, inputPos: posIn, kCaches: inp.kCaches, vCaches: inp.vCaches }, { logits, kOut: outs.kOut, vOut: outs.vOut });
      const ge = performance.now();
      cur = argmax(logits, 0, V);
      cache.updateAfterKvStep(pos);
      pos += 1;
      if (r >= plan.decodeWarmup) {
        kvCallMs.push(ge - g);
        decodeStepMs.push(performance.now() - s);
      }
    }
    assertFinite("decode logits", logits);
    return { status: "ok", buildMs, setupMs, weightBytes, prefillCallMs, kvCallMs, decodeStepMs, peakRss: process.resourceUsage().maxRSS * 1024, threadsNote, loadAvg: [load0, os.loadavg()[0]] };
  } finally {
    backend.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: one child per (model, backend, threads), then the anchors, then the table.

interface Row {
  model: ModelKey;
  backend: BackendKey;
  threads: number;
  result?: ChildResult;
  /** Why there is no measurement. */
  na?: string;
}

function spawnChild(spec: ChildSpec): Promise<ChildResult> {
  const script = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, script, "--child", JSON.stringify(spec)], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => (out += s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      err += s;
      process.stderr.write(s);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const line = out.split("\n").find((l) => l.startsWith(RESULT_TAG));
      if (code === 0 && line) return resolve(JSON.parse(line.slice(RESULT_TAG.length)) as ChildResult);
      const last = err.trim().split("\n").filter((l) => l.trim() !== "").slice(-1)[0] ?? "";
      const why = signal ? `killed by ${signal}${signal === "SIGKILL" ? " (out of memory?)" : ""}` : `exit code ${code}`;
      reject(new Error(`${why}${last ? `: ${last.slice(0, 200)}` : ""}`));
    });
  });
}

async function registryNames(): Promise<readonly string[]> {
  try {
    const { BACKEND_NAMES } = await import("../src/backends/registry.js");
    return BACKEND_NAMES;
  } catch (e) {
    return [];
  }
}

interface Anchor {
  what: string;
  threads: number;
  tokPerS?: number;
  note?: string;
}

/** llama2.c's run on the same random stories110M-shaped weights, when LLAMA2C_RUN points to the binary. */
function runLlama2cAnchor(bin: string, threads: number[], repeats: number): Anchor[] {
  try {
    accessSync(bin, fsConstants.X_OK);
  } catch {
    return [{ what: `llama2.c run (LLAMA2C_RUN=${bin})`, threads: 0, note: "not executable or missing; skipped" }];
  }
  const dir = mkdtempSync(join(os.tmpdir(), "llama-golden-perf-"));
  try {
    const m = MODELS.stories110m;
    log(`llama2.c anchor: writing the stories110M-shaped model as a llama2.c .bin in ${dir} ...`);
    const model = randomModel(m.config, m.seed);
    const modelPath = join(dir, "model.bin");
    writeLlama2cBin(modelPath, model, m.config.maxSeqLen);
    const tokPath = join(dir, "tokenizer.bin");
    writeFileSync(tokPath, llama2cTokenizerBytes(m.config.vocabSize));
    const out: Anchor[] = [];
    for (const t of threads) {
      const rates: number[] = [];
      let note: string | undefined;
      for (let r = 0; r < repeats; r++) {
        log(`llama2.c anchor: ${bin} -t 0 -n ${KV_SEQ_LEN}, OMP_NUM_THREADS=${t}, run ${r + 1}/${repeats} ...`);
        const res = spawnSync(bin, [modelPath, "-z", tokPath, "-t", "0", "-n", String(KV_SEQ_LEN), "-i", "Once upon a time"], {
          env: { ...process.env, OMP_NUM_THREADS: String(t) },
          encoding: "utf8",
          timeout: 10 * 60 * 1000,
          maxBuffer: 64 * 1024 * 1024,
        });
        const rate = parseRunCTokPerS(`${res.stdout ?? ""}\n${res.stderr ?? ""}`);
        if (rate === undefined) {
          note = `no "achieved tok/s" line (exit ${res.status}${res.error ? `, ${res.error.message}` : ""})`;
          break;
        }
        rates.push(rate);
      }
      out.push({ what: "llama2.c run", threads: t, tokPerS: rates.length ? median(rates) : undefined, note: note ?? `median of ${rates.length}; OMP_NUM_THREADS=${t} (only matters when built with OpenMP)` });
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function llamaCppAnchor(): Promise<string> {
  try {
    await import("node-llama-cpp" as string);
  } catch {
    return "node-llama-cpp: not installed (optional; not a dependency)";
  }
  return "node-llama-cpp: installed, but not measured: this bench does not write GGUF files yet";
}

/** Bytes of the fp32 weights of a model with this config (tied LM head, as the random models are). */
function fp32Bytes(c: ModelConfig): number {
  const shapes = weightShapes(c);
  const n = (k: string) => shapes[k].reduce((a, b) => a * b, 1);
  const layer = ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"].reduce((s, k) => s + n(k), 0);
  return 4 * (n("tokEmbeddings") + n("norm") + c.nLayers * layer);
}

const fmt = (x: number | undefined, digits = 1): string => (x === undefined || !Number.isFinite(x) ? "—" : x >= 100 ? x.toFixed(0) : x.toFixed(digits));
const fmtMs = (x: number | undefined): string => (x === undefined ? "—" : x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(x >= 100 ? 0 : 1)} ms`);

function table(rows: Row[], anchors: Anchor[]): string {
  const runC = new Map(anchors.filter((a) => a.what === "llama2.c run" && a.tokPerS !== undefined).map((a) => [a.threads, a.tokPerS!]));
  const head = ["model", "backend", "threads", "decode tok/s", "ms / KV call", "prefill tok/s (31)", "ms / prefill call", "peak RSS", "timed calls (prefill / KV)", "load avg", ...(runC.size ? ["decode vs run.c"] : [])];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((h, i) => (i < 3 ? "---" : "---:")).join("|")}|`];
  for (const r of rows) {
    const model = MODELS[r.model].label;
    if (!r.result || r.result.status !== "ok") {
      const why = r.na ?? r.result?.note ?? "n/a";
      lines.push(`| ${model} | ${r.backend} | ${r.threads} | n/a (${why}) |${" |".repeat(head.length - 4)}`);
      continue;
    }
    const x = r.result;
    const decode = 1000 / median(x.decodeStepMs);
    const prefillMs = median(x.prefillCallMs);
    const anchor = r.model === "stories110m" ? runC.get(r.threads) : undefined;
    const cells = [
      model,
      r.backend,
      String(r.threads),
      fmt(decode, 2),
      fmtMs(median(x.kvCallMs)),
      fmt((PROMPT_LEN * 1000) / prefillMs, 1),
      fmtMs(prefillMs),
      `${(x.peakRss / GB).toFixed(2)} GB`,
      `${x.prefillCallMs.length} / ${x.kvCallMs.length}`,
      `${x.loadAvg[0].toFixed(1)}–${x.loadAvg[1].toFixed(1)}`,
      ...(runC.size ? [anchor ? `${(decode / anchor).toFixed(2)}x` : "—"] : []),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.child !== undefined) {
    const r = await runChild(JSON.parse(o.child) as ChildSpec);
    process.stdout.write(`${RESULT_TAG}${JSON.stringify(r)}\n`);
    return;
  }
  const started = performance.now();
  const names = await registryNames();
  const rows: Row[] = [];
  for (const mk of o.models) {
    const m = MODELS[mk];
    for (const bk of o.backends) {
      for (const t of o.threads) {
        const row: Row = { model: mk, backend: bk, threads: t };
        rows.push(row);
        if (!names.includes(bk)) {
          row.na = `not built: no "${bk}" in BACKEND_NAMES of src/backends/registry.ts`;
          continue;
        }
        if (bk === "onnxruntime" && mk === "llama3_2_1b") {
          row.na = "skipped: its ONNX graphs would exceed protobuf's 2 GiB limit without external data";
          continue;
        }
        const fp32 = fp32Bytes(m.config);
        const need = fp32 * MEMORY_FACTOR[bk] + 300e6;
        if (os.freemem() < need) {
          row.na = `skipped: needs ~${(need / GB).toFixed(1)} GB free, ${(os.freemem() / GB).toFixed(1)} GB available`;
          continue;
        }
        const plan = o.quick ? m.quickPlan : m.plan;
        log(`${m.label}, ${bk}, ${t} thread${t > 1 ? "s" : ""}: ${plan.prefillRuns} prefill + ${plan.decodeRuns} decode calls timed ...`);
        const s = performance.now();
        try {
          row.result = await spawnChild({ model: mk, backend: bk, threads: t, plan });
          const x = row.result;
          if (x.status === "ok")
            log(`  decode ${(1000 / median(x.decodeStepMs)).toFixed(2)} tok/s, prefill ${((PROMPT_LEN * 1000) / median(x.prefillCallMs)).toFixed(1)} tok/s, peak RSS ${(x.peakRss / GB).toFixed(2)} GB (model built in ${(x.buildMs / 1000).toFixed(1)} s, backend set up in ${(x.setupMs / 1000).toFixed(1)} s; ${((performance.now() - s) / 1000).toFixed(0)} s in all)`);
          else log(`  n/a: ${x.note}`);
        } catch (e) {
          row.na = `failed: ${(e as Error).message}`;
          log(`  ${row.na}`);
        }
      }
    }
  }

  const anchors: Anchor[] = [];
  const runBin = process.env.LLAMA2C_RUN;
  if (runBin && o.models.includes("stories110m")) anchors.push(...runLlama2cAnchor(runBin, o.threads, o.quick ? 1 : 3));
  const llamaCpp = await llamaCppAnchor();

  const cpus = os.cpus();
  const argv = process.argv.slice(2);
  console.log(`llama-golden bench — ${new Date().toISOString()}`);
  console.log(`command: npm run bench${argv.length ? ` -- ${argv.join(" ")}` : ""}${runBin ? ` (LLAMA2C_RUN=${runBin})` : ""}`);
  console.log(`machine: ${cpus[0]?.model ?? "unknown cpu"}, ${cpus.length} cores, ${(os.totalmem() / GB).toFixed(1)} GB RAM; node ${process.version} (${process.platform}/${process.arch})`);
  console.log(
    `workload: random fp32 weights; prefill = one call of the prefill graph (prefill_seq_len ${PREFILL_SEQ_LEN}: a ${PROMPT_LEN}-token block); ` +
      `decode = KV-graph steps (kv_seq_len ${KV_SEQ_LEN}) at positions ${PROMPT_LEN}.. after it, through the Smart Mask cache manager; ` +
      `medians over the timed calls (${o.quick ? "quick plan" : "full plan"}); tok/s for decode includes the cache update and argmax; ` +
      `each row in its own process (peak RSS = that process's maxRSS, model build included)`,
  );
  console.log(
    `threads: per row (reference/wasm: the backend's threads option; onnxruntime: intra-op threads, inter-op 1); ` +
      `load avg: the 1-minute load average when the row's process started–ended — above ~0.5 other processes shared the ${cpus.length} cores, ` +
      `which slows every row and multi-threaded rows most`,
  );
  console.log("");
  console.log(table(rows, anchors));
  console.log("");
  console.log("anchors:");
  if (anchors.length) for (const a of anchors) console.log(`- ${a.what}${a.threads ? `, ${a.threads} thread(s)` : ""}: ${a.tokPerS !== undefined ? `${a.tokPerS.toFixed(2)} tok/s` : "not measured"}${a.note ? ` (${a.note})` : ""}`);
  else {
    console.log("- llama2.c run: not measured (set LLAMA2C_RUN=/path/to/run to time it on the same weights)");
  }
  console.log("- issue 8's figures for this machine kind (not measured in this run), and this run's decode against them:");
  for (const line of issueAnchorRatios(rows)) console.log(`  ${line}`);
  console.log(`- ${llamaCpp}`);
  log(`done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}

runScript(main);
