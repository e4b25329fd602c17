// Owns the quantized-simulation rows of `npm run bench` (issue 18): the current flow's AR = 1 decode call on random
// stories110M- and Llama 3.2 1B-shaped models — the fp32 reference engine and the fp32 wasm backend at 1 and 2 threads,
// beside the quantized simulation (16a4w and 16a8w, integer arithmetic) with the WebAssembly SIMD integer kernels
// (src/compute/integer-kernel.ts) at 1 and 2 threads — 16a4w also from its quantized model file (one child calibrates
// and writes it, --save_quantized; the row's child reads it, --quantized_model: no fp32 weights in that process) — and,
// for the ratio, the plain integer path (the oracle). Each row runs in its own child process (a clean peak RSS,
// process.resourceUsage().maxRSS).
// Decode at position 64 of max_context_len 128, medians of timed calls. The quantized graphs are calibrated on one
// 16-token sequence (the timing does not depend on the encodings' values). Table on stdout, progress on stderr.
// `-- --quick`: the stories110M shape only, fewer calls.
import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Model } from "../src/engine/weights.js";
import type { Backend } from "../src/engine/backend.js";
import { allocArCaches, allocArOutputs, arCausalMask } from "../src/engine/ar-graph-io.js";
import { createParallelReferenceBackend } from "../src/backends/reference.js";
import { createWasmBackend } from "../src/backends/wasm.js";
import { builtinRecipe, resolveRecipe, withCliOverrides, type CurrentScheme } from "../src/quant/current/recipe.js";
import { calibrateCurrent } from "../src/quant/current/calibrate.js";
import { createCurrentQuantizedBackend } from "../src/quant/current/quantized-backend.js";
import { randomModel, STORIES110M_CONFIG } from "./random-model.js";
import { configOfMetaParams, LLAMA32_1B_PARAMS } from "./write-torch-checkpoint.js";
import { runScript } from "./script.js";
import { writeQuantizedModel } from "../src/quant/current/quantized-model-file.js";
import { openQuantizedModelBackend } from "../src/quant/current/quantized-backend.js";

const CL = 128;
const POS = 64;
const TAG = "QSIM-RESULT ";
type ModelKey = "stories110m" | "llama3_2_1b";
type RowKind = "reference" | "wasm" | "16a4w" | "16a8w" | "16a4w plain" | "16a4w file";
interface Child {
  model: ModelKey;
  kind: RowKind | "write 16a4w file";
  threads: number;
  calls: number;
  /** The quantized model file ("16a4w file" reads it, "write 16a4w file" writes it). */
  file?: string;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function modelOf(k: ModelKey): Model {
  return k === "stories110m" ? randomModel(STORIES110M_CONFIG, 0x110) : randomModel(configOfMetaParams(LLAMA32_1B_PARAMS), 0x1b);
}

function encodingsOf(model: Model, scheme: CurrentScheme) {
  const resolved = resolveRecipe(withCliOverrides(builtinRecipe("stories260k")!, { scheme }), model);
  const seq = Array.from({ length: 16 }, (_, i) => (i * 37 + 1) % model.config.vocabSize);
  return calibrateCurrent(model, resolved, { contextLen: 16, sequences: [seq] });
}

async function backendOf(c: Child, model: Model): Promise<Backend> {
  if (c.kind === "reference") return createParallelReferenceBackend({ model, contextLen: CL, arLens: [1] }, { threads: c.threads });
  if (c.kind === "wasm") return createWasmBackend({ model, contextLen: CL, arLens: [1] }, { threads: c.threads });
  const enc = encodingsOf(model, c.kind === "16a8w" ? "16a8w" : "16a4w");
  return createCurrentQuantizedBackend(model, enc, { contextLen: CL, arLens: [1], threads: c.threads, ...(c.kind === "16a4w plain" ? { integerPath: "plain" as const } : {}) });
}

async function child(c: Child): Promise<void> {
  if (c.kind === "write 16a4w file") {
    const model = modelOf(c.model);
    const fd = openSync(c.file!, "w");
    try {
      writeQuantizedModel({ write: (b) => void writeSync(fd, b) }, model, encodingsOf(model, "16a4w"));
    } finally {
      closeSync(fd);
    }
    process.stdout.write(TAG + JSON.stringify({ ms: 0, rss: process.resourceUsage().maxRSS * 1024 }) + "\n");
    return;
  }
  // "16a4w file": the calibrated model from its quantized model file — codes straight into the kernel, no fp32 weights.
  const opened = c.kind === "16a4w file" ? await openQuantizedModelBackend(c.file!, { contextLen: CL, arLens: [1], threads: c.threads }) : undefined;
  const model = opened?.loaded.model ?? modelOf(c.model);
  const b = opened?.backend ?? (await backendOf(c, model));
  const caches = allocArCaches(model.config, CL, 1);
  const inp = { tokens: Int32Array.of(407), attnMask: arCausalMask(CL, 1, POS), inputPos: Int32Array.of(POS), ...caches };
  const out = allocArOutputs(model.config, CL, 1);
  const call = () => b.executeAr!(1, inp, out);
  for (let i = 0; i < 2; i++) await call();
  const ms: number[] = [];
  for (let i = 0; i < c.calls; i++) {
    const t = performance.now();
    await call();
    ms.push(performance.now() - t);
  }
  b.dispose();
  process.stdout.write(TAG + JSON.stringify({ ms: median(ms), rss: process.resourceUsage().maxRSS * 1024 }) + "\n");
}

function spawnChild(c: Child): Promise<{ ms: number; rss: number } | string> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [fileURLToPath(import.meta.url), "--child", JSON.stringify(c)], { stdio: ["ignore", "pipe", "inherit"] });
    let text = "";
    p.stdout.on("data", (d) => (text += d));
    p.on("exit", (code) => {
      const line = text.split("\n").find((l) => l.startsWith(TAG));
      resolve(line ? JSON.parse(line.slice(TAG.length)) : `failed (exit ${code})`);
    });
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === "--child") return child(JSON.parse(argv[1]));
  const quick = argv.includes("--quick");
  const models: ModelKey[] = quick ? ["stories110m"] : ["stories110m", "llama3_2_1b"];
  const dir = mkdtempSync(join(tmpdir(), "llama-golden-bench-qsim-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const rows: string[] = ["| model | configuration | threads | decode tok/s | ms / call | peak RSS | vs fp32 wasm (same threads) |", "|---|---|---|---|---|---|---|"];
  for (const m of models) {
    const calls = m === "stories110m" ? (quick ? 5 : 15) : 5;
    const wasm = new Map<number, number>();
    const plan: Child[] = [];
    const file = join(dir, `${m}-16a4w.lgq`);
    plan.push({ model: m, kind: "write 16a4w file", threads: 1, calls: 0, file });
    for (const t of [1, 2])
      plan.push(
        { model: m, kind: "reference", threads: t, calls },
        { model: m, kind: "wasm", threads: t, calls },
        { model: m, kind: "16a4w", threads: t, calls },
        { model: m, kind: "16a4w file", threads: t, calls, file },
        { model: m, kind: "16a8w", threads: t, calls },
      );
    plan.push({ model: m, kind: "16a4w plain", threads: 1, calls: m === "stories110m" ? 5 : 2 });
    for (const c of plan) {
      process.stderr.write(`bench quant-sim: ${m} ${c.kind} ${c.threads} thread(s)\n`);
      const r = await spawnChild(c);
      if (c.kind === "write 16a4w file") {
        if (typeof r === "string") rows.push(`| ${m} | writing the 16a4w quantized model file | | ${r} | | | |`);
        else rows.push(`| ${m} | 16a4w quantized model file written (${(statSync(file).size / 2 ** 30).toFixed(2)} GB) | 1 | | | ${(r.rss / 2 ** 30).toFixed(2)} GB | |`);
        continue;
      }
      if (typeof r === "string") {
        rows.push(`| ${m} | ${c.kind} | ${c.threads} | ${r} | | | |`);
        continue;
      }
      if (c.kind === "wasm") wasm.set(c.threads, r.ms);
      const label =
        c.kind === "reference" ? "fp32 reference"
        : c.kind === "wasm" ? "fp32 wasm"
        : c.kind === "16a4w plain" ? "16a4w sim, plain integer path"
        : c.kind === "16a4w file" ? "16a4w sim from its quantized model file (--quantized_model)"
        : `${c.kind} sim, wasm SIMD integer kernels`;
      const vs = wasm.has(c.threads) ? `${(wasm.get(c.threads)! / r.ms).toFixed(2)}×` : "";
      rows.push(`| ${m} | ${label} | ${c.threads} | ${(1000 / r.ms).toFixed(2)} | ${r.ms.toFixed(1)} | ${(r.rss / 2 ** 30).toFixed(2)} GB | ${vs} |`);
    }
  }
  console.log(rows.join("\n"));
}

runScript(main);
