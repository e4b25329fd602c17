// Owns `npm run bench:load`: writes a random-weight Llama 3.2 checkpoint in Meta's layout (consolidated.00.pth with
// bf16 storages + params.json) to a temporary directory, loads it with `loadModel` in a fresh child process (so the
// writer's memory does not count), and reports load time, peak RSS against the fp32 size of the weights, and read
// throughput; then checks one kv_forward call gives finite logits. The directory is removed afterwards. See
// bench/README.md ("Loading a Llama 3.2 1B-shaped checkpoint").
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync, statfsSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { allocKvOutputs, MASK_ATTEND, MASK_BLOCKED } from "../src/engine/graph-io.js";
import { createKvGraph, kvForward } from "../src/engine/kv-graph.js";
import type { Model } from "../src/engine/weights.js";
import { loadModel } from "../src/loaders/index.js";
import {
  configOfMetaParams,
  LLAMA32_1B_PARAMS,
  LLAMA32_3B_PARAMS,
  LLAMA32_SMALL_PARAMS,
  metaStoredBytes,
  pythonFloat,
  writeRandomMetaCheckpoint,
  type MetaParams,
} from "./write-torch-checkpoint.js";

type Shape = "1b" | "3b" | "small";
const SHAPES: Record<Shape, { label: string; params: MetaParams }> = {
  "1b": { label: "Llama 3.2 1B shape", params: LLAMA32_1B_PARAMS },
  "3b": { label: "Llama 3.2 3B shape", params: LLAMA32_3B_PARAMS },
  small: { label: "Llama 3.2 architecture, small (dim 256, 2 layers)", params: LLAMA32_SMALL_PARAMS },
};
const DEFAULT_SEED = 0x3201;
/** The peak RSS the requirement allows, as a multiple of the fp32 weights. */
const TARGET_RATIO = 1.2;
/** kv_seq_len of the sanity call (any small value: the cost is the weights, not the cache). */
const SANITY_KV_SEQ_LEN = 16;
const DIR_PREFIX = "llama-golden-load-bench-";
const RESULT_TAG = "LOAD-BENCH-RESULT ";

interface Options {
  shape: Shape;
  seed: number;
  /** Print RSS after every tensor (the child's onProgress hook). */
  traceRss: boolean;
  /** Internal: measure a checkpoint already written to this directory (the child process). */
  measureDir?: string;
}

class UsageError extends Error {}

function usage(): string {
  return [
    "usage: npm run bench:load [-- [--small | --shape 1b|3b|small] [--seed <n>] [--trace-rss]]",
    "  (default)       Llama 3.2 1B shape: ~2.5 GB bf16 file in the temp dir, ~4.9 GB fp32 in memory",
    "  --small         Llama 3.2 architecture at dim 256, 2 layers (~8 MB file): a quick check",
    "  --shape 3b      Llama 3.2 3B shape: ~6.4 GB file (ZIP64), ~12.9 GB fp32; only when asked for",
    "  --seed <n>      PRNG seed of the random weights (default 12801)",
    "  --trace-rss     print the loader's RSS after every tensor (to stderr)",
  ].join("\n");
}

function parseOptions(argv: string[]): Options {
  const o: Options = { shape: "1b", seed: DEFAULT_SEED, traceRss: false };
  const value = (i: number, flag: string): string => {
    const v = argv[i];
    if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value\n${usage()}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--small") o.shape = "small";
    else if (a === "--shape" || a.startsWith("--shape=")) {
      const v = a === "--shape" ? value(++i, a) : a.slice("--shape=".length);
      if (!(v in SHAPES)) throw new UsageError(`--shape must be one of ${Object.keys(SHAPES).join(", ")}, got "${v}"`);
      o.shape = v as Shape;
    } else if (a === "--seed") {
      const v = Number(value(++i, a));
      if (!Number.isSafeInteger(v)) throw new UsageError(`--seed must be an integer`);
      o.seed = v;
    } else if (a === "--trace-rss") o.traceRss = true;
    else if (a === "--measure") o.measureDir = value(++i, a);
    else if (a === "--help" || a === "-h") {
      console.log(usage());
      process.exit(0);
    } else throw new UsageError(`unknown argument ${a}\n${usage()}`);
  }
  return o;
}

const log = (msg: string) => process.stderr.write(`[bench:load] ${msg}\n`);
const GB = 1e9;
const MB = 1e6;
const gb = (b: number) => `${(b / GB).toFixed(2)} GB`;
const mb = (b: number) => `${(b / MB).toFixed(1)} MB`;
const size = (b: number) => (Math.abs(b) >= GB ? gb(b) : mb(b));

// ---------------------------------------------------------------------------------------------------------------
// Child: load and measure.

interface Measurement {
  loadMs: number;
  /** CPU seconds of the load: user (parsing, CRC, bf16 -> fp32) and system (read syscalls, first touch of pages). */
  loadUserS: number;
  loadSysS: number;
  /** Stored bytes the loader read (its own progress total). */
  storedBytes: number;
  tensors: number;
  /** Sum of byteLength over the distinct Float32Arrays of the loaded model. */
  fp32Bytes: number;
  /** RSS just before loadModel (Node itself and the loaded modules). */
  baselineRss: number;
  /** process.resourceUsage().maxRSS after the load, in bytes. */
  peakRssLoad: number;
  rssAfterLoad: number;
  /** RSS after a full GC (undefined without --expose-gc). */
  rssAfterGc?: number;
  /** Largest RSS - (baseline + fp32 loaded so far) seen after any tensor, and after which tensor. */
  maxExcess: number;
  maxExcessAfter: number;
  forwardMs: number;
  peakRssForward: number;
  logitsFinite: boolean;
  logitsMin: number;
  logitsMax: number;
}

function uniqueFp32Bytes(m: Model): number {
  const w = m.weights;
  const arrays = new Set<Float32Array>([w.tokEmbeddings, w.norm, w.output]);
  for (const l of w.layers) for (const a of Object.values(l)) arrays.add(a);
  let n = 0;
  for (const a of arrays) n += a.byteLength;
  return n;
}

function measure(dir: string, traceRss: boolean): Measurement {
  const checkpoint = join(dir, "consolidated.00.pth");
  const params = join(dir, "params.json");
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const baselineRss = process.memoryUsage.rss();
  let tensors = 0;
  let storedBytes = 0;
  let maxExcess = 0;
  let maxExcessAfter = 0;
  const cpu0 = process.resourceUsage();
  const t0 = performance.now();
  const { model } = loadModel({
    checkpoint,
    params,
    onProgress: (done, total) => {
      tensors++;
      storedBytes = total;
      // Every storage of the bench file is bf16 and none is shared: fp32 so far = 2 x stored bytes so far.
      const rss = process.memoryUsage.rss();
      const excess = rss - baselineRss - 2 * done;
      if (excess > maxExcess) {
        maxExcess = excess;
        maxExcessAfter = tensors;
      }
      if (traceRss)
        log(`tensor ${String(tensors).padStart(3)}: fp32 so far ${gb(2 * done)}, rss ${gb(rss)}, over baseline + fp32: ${mb(excess)}`);
    },
  });
  const loadMs = performance.now() - t0;
  const cpu1 = process.resourceUsage();
  const peakRssLoad = process.resourceUsage().maxRSS * 1024;
  const rssAfterLoad = process.memoryUsage.rss();
  let rssAfterGc: number | undefined;
  if (gc) {
    gc();
    rssAfterGc = process.memoryUsage.rss();
  }
  const fp32Bytes = uniqueFp32Bytes(model);

  // Sanity: one KV-graph step of the first token at position 0 (empty caches, only the current column open).
  const c = model.config;
  const g = createKvGraph(model, SANITY_KV_SEQ_LEN);
  const L = g.cacheLen;
  const attnMask = new Float32Array(SANITY_KV_SEQ_LEN).fill(MASK_BLOCKED);
  attnMask[L] = MASK_ATTEND;
  const n = c.nLayers * c.nKvHeads;
  const bos = c.vocabSize > 128000 ? 128000 : 1; // Llama 3's <|begin_of_text|> when the vocab has it
  const t1 = performance.now();
  const out = kvForward(
    g,
    {
      tokens: Int32Array.of(bos),
      attnMask,
      inputPos: Int32Array.of(0),
      kCaches: Array.from({ length: n }, () => new Float32Array(c.headDim * L)),
      vCaches: Array.from({ length: n }, () => new Float32Array(L * c.headDim)),
    },
    allocKvOutputs(c),
  );
  const forwardMs = performance.now() - t1;
  let logitsFinite = true;
  let logitsMin = Infinity;
  let logitsMax = -Infinity;
  for (const x of out.logits) {
    if (!Number.isFinite(x)) logitsFinite = false;
    if (x < logitsMin) logitsMin = x;
    if (x > logitsMax) logitsMax = x;
  }
  return {
    loadMs,
    loadUserS: (cpu1.userCPUTime - cpu0.userCPUTime) / 1e6,
    loadSysS: (cpu1.systemCPUTime - cpu0.systemCPUTime) / 1e6,
    storedBytes,
    tensors,
    fp32Bytes,
    baselineRss,
    peakRssLoad,
    rssAfterLoad,
    rssAfterGc,
    maxExcess,
    maxExcessAfter,
    forwardMs,
    peakRssForward: process.resourceUsage().maxRSS * 1024,
    logitsFinite,
    logitsMin,
    logitsMax,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Parent: check room, write, run the child, report, clean up.

/** Removes bench directories left by runs that were killed (their process no longer exists). */
function removeStaleDirs(tmp: string): void {
  let names: string[];
  try {
    names = readdirSync(tmp);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^llama-golden-load-bench-(\d+)$/.exec(name);
    if (!m || Number(m[1]) === process.pid) continue;
    try {
      process.kill(Number(m[1]), 0);
      continue; // that run is still alive
    } catch (e) {
      if ((e as { code?: string }).code !== "ESRCH") continue;
    }
    log(`removing ${join(tmp, name)} left by an earlier run that was killed`);
    rmSync(join(tmp, name), { recursive: true, force: true });
  }
}

/** The measuring child while it runs (so a signal to the parent can stop it too). */
let running: ChildProcess | undefined;

function runChild(dir: string, o: Options): Promise<Measurement> {
  const script = fileURLToPath(import.meta.url);
  const args = [...process.execArgv, script, "--measure", dir, ...(o.traceRss ? ["--trace-rss"] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    running = child;
    let stdout = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (s: string) => (stdout += s));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      running = undefined;
      if (code !== 0) {
        const why = signal ? `was killed by ${signal}${signal === "SIGKILL" ? " (out of memory?)" : ""}` : `exited with code ${code}`;
        reject(new Error(`the measuring child process ${why}`));
        return;
      }
      const line = stdout.split("\n").find((l) => l.startsWith(RESULT_TAG));
      if (!line) {
        reject(new Error(`the measuring child printed no result:\n${stdout}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT_TAG.length)) as Measurement);
    });
  });
}

function formatTable(rows: [string, string][]): string {
  const w = Math.max(4, ...rows.map((r) => r[0].length));
  return [`${"what".padEnd(w)}  value`, `${"-".repeat(w)}  ${"-".repeat(40)}`, ...rows.map(([a, b]) => `${a.padEnd(w)}  ${b}`)].join("\n");
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  if (o.measureDir !== undefined) {
    const m = measure(o.measureDir, o.traceRss);
    process.stdout.write(`${RESULT_TAG}${JSON.stringify(m)}\n`);
    return;
  }

  const shape = SHAPES[o.shape];
  const config = configOfMetaParams(shape.params);
  const stored = metaStoredBytes(shape.params);
  const fp32 = 2 * stored;
  const tmp = os.tmpdir();
  removeStaleDirs(tmp);

  // Room on disk for the file (plus a margin) and in memory for the fp32 weights at the target ratio.
  const needDisk = stored + Math.max(64 * MB, 0.05 * stored);
  const fs = statfsSync(tmp);
  const freeDisk = fs.bavail * fs.bsize;
  if (freeDisk < needDisk) {
    console.log(`bench:load skipped: the ${shape.label} checkpoint needs ~${size(needDisk)} of free disk in ${tmp}, but only ${size(freeDisk)} is available.`);
    console.log("Free some space or point TMPDIR at a larger disk (TMPDIR=/path npm run bench:load).");
    return;
  }
  const needMem = fp32 * TARGET_RATIO + 200 * MB;
  const freeMem = os.freemem();
  if (freeMem < needMem) {
    console.log(`bench:load skipped: loading the ${shape.label} checkpoint needs ~${size(needMem)} of free memory (fp32 weights x ${TARGET_RATIO} + Node), but only ${size(freeMem)} is available.`);
    console.log("Try `npm run bench:load -- --small`.");
    return;
  }

  const dir = join(tmp, `${DIR_PREFIX}${process.pid}`);
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  // Ctrl-C / kill: the handler runs once the current synchronous step returns; the finally below then also runs.
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: removing ${dir}`);
    running?.kill("SIGKILL");
    cleanup();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const started = performance.now();
  try {
    if (existsSync(dir)) cleanup();
    mkdirSync(dir, { recursive: true });
    log(`writing a random ${shape.label} checkpoint (${gb(stored)} bf16, seed ${o.seed}) to ${dir} ...`);
    const tw = performance.now();
    let nextReport = 0.1;
    const written = writeRandomMetaCheckpoint(dir, shape.params, o.seed, {
      onProgress: (done, total) => {
        if (total < 100 * MB || done >= total || done / total < nextReport) return;
        log(`  ${Math.floor((100 * done) / total)}% (${gb(done)})`);
        while (nextReport <= done / total) nextReport += 0.1;
      },
    });
    const writeMs = performance.now() - tw;
    log(`written in ${(writeMs / 1000).toFixed(1)} s; loading it in a fresh process ...`);

    const m = await runChild(dir, o);
    const ratio = m.peakRssLoad / m.fp32Bytes;
    // Below ~1 GB of weights Node's own ~50 MB of RSS dominates the ratio; judge the target only for real sizes.
    const judged = m.fp32Bytes >= GB;
    const secs = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(0)} ms`);
    const cpus = os.cpus();
    const params = shape.params;
    console.log(`llama-golden load bench — ${new Date().toISOString()}`);
    console.log(`model: ${shape.label}, random bf16 weights (seed ${o.seed}), Meta layout (consolidated.00.pth + params.json)`);
    console.log(
      `  dim ${config.dim}, ${config.nLayers} layers, ${config.nHeads} heads, ${config.nKvHeads} kv heads, ffn ${config.hiddenDim}, ` +
        `vocab ${config.vocabSize}, ${(stored / 2 / 1e9).toFixed(3)} B params, tied LM head; params.json as Meta's (ffn_dim_multiplier ${pythonFloat(params.ffn_dim_multiplier)})`,
    );
    console.log(`file: ${size(written.fileBytes)} (${written.tensors} tensors), written in ${(writeMs / 1000).toFixed(1)} s (${(written.fileBytes / GB / (writeMs / 1000)).toFixed(3)} GB/s)`);
    console.log(`node ${process.version} (${process.platform}/${process.arch}), cpu: ${cpus[0]?.model ?? "unknown"} x ${cpus.length}, RAM ${gb(os.totalmem())}`);
    console.log("");
    const rows: [string, string][] = [
      ["load wall time (loadModel)", secs(m.loadMs)],
      ["  CPU during the load", `user ${m.loadUserS.toFixed(2)} s, system ${m.loadSysS.toFixed(2)} s`],
      ["stored bytes read (bf16)", `${size(m.storedBytes)} in ${m.tensors} tensors`],
      ["fp32 bytes of the loaded weights", size(m.fp32Bytes)],
      ["peak RSS (maxRSS)", size(m.peakRssLoad)],
      [
        "peak RSS / fp32",
        `${ratio.toFixed(3)}  ` +
          (judged ? `(target <= ${TARGET_RATIO}: ${ratio <= TARGET_RATIO ? "met" : "NOT met"})` : "(not judged: Node's baseline dominates a model this small)"),
      ],
      ["RSS before load (Node baseline)", size(m.baselineRss)],
      ["(peak - baseline) / fp32", ((m.peakRssLoad - m.baselineRss) / m.fp32Bytes).toFixed(3)],
      ["worst RSS over baseline + fp32 so far", `${mb(m.maxExcess)} (after tensor ${m.maxExcessAfter} of ${m.tensors})`],
      ["RSS after load", `${size(m.rssAfterLoad)}${m.rssAfterGc !== undefined ? `, ${size(m.rssAfterGc)} after gc()` : ""}`],
      ["read throughput (stored / load time)", `${(m.storedBytes / GB / (m.loadMs / 1000)).toFixed(3)} GB/s (${((m.storedBytes / MB) / (m.loadMs / 1000)).toFixed(0)} MB/s; page cache warm)`],
      ["kv_forward sanity (token 0, pos 0)", `${m.logitsFinite ? "finite" : "NOT FINITE"} logits in [${m.logitsMin.toFixed(3)}, ${m.logitsMax.toFixed(3)}], ${secs(m.forwardMs)}`],
      ["peak RSS incl. kv_forward", size(m.peakRssForward)],
    ];
    console.log(formatTable(rows));
    if (!m.logitsFinite) throw new Error("kv_forward on the loaded model gave non-finite logits");
    if (m.fp32Bytes !== fp32) throw new Error(`loaded ${m.fp32Bytes} fp32 bytes, expected ${fp32}`);
    if (judged && ratio > TARGET_RATIO) console.log(`\nNOTE: peak RSS is ${ratio.toFixed(2)}x the fp32 weights, over the ${TARGET_RATIO}x target (rerun with --trace-rss).`);
    log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  } finally {
    cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

main().catch((e: unknown) => {
  if (e instanceof UsageError) {
    console.error(e.message);
    process.exit(2);
  }
  console.error(e instanceof Error ? (e.stack ?? e.message) : e);
  process.exit(1);
});
