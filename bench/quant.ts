// Owns `npm run bench:quant`: the seed `--ptq` simulation on the shipped stories260K — calibration time per scheme
// and mode, then the converted KV graph per call in both arithmetics (integer accumulation and the fp32 fake-quant
// oracle) against the fp32 node graph and the reference engine's KV graph, medians of timed calls on device codes;
// then the current flow's quantized decode call (AR = 1) per recipe in both arithmetics against the fp32 engine.
// Prints two aligned tables to stdout, progress to stderr. See bench/README.md.
import os from "node:os";
import { createReferenceBackend } from "../src/backends/reference.js";
import { allocKvOutputs, MASK_BLOCKED } from "../src/engine/graph-io.js";
import { loadModel } from "../src/loaders/index.js";
import { createSeedQuantBackend } from "../src/quant/seed/backend.js";
import { createSeedFp32Backend } from "../src/quant/seed/fp32-backend.js";
import { seedPtq } from "../src/quant/seed/ptq.js";
import { SEED_SCHEMES } from "../src/quant/seed/qspecs.js";
import type { SyncGraphBackend } from "../src/engine/backend.js";
import { runScript, UsageError } from "./script.js";
import { createEngineBackend } from "../src/engine/engine-backend.js";
import { allocArCaches, allocArOutputs, arCausalMask } from "../src/engine/ar-graph-io.js";
import type { Model } from "../src/engine/weights.js";
import { builtinRecipe, resolveRecipe, withCliOverrides, type CurrentScheme } from "../src/quant/current/recipe.js";
import { calibrateCurrent } from "../src/quant/current/calibrate.js";
import { currentQuantizedBackend } from "../src/quant/current/quantized-backend.js";

const KV_SEQ_LEN = 128;
const PREFILL_SEQ_LEN = 32;
const PROMPT = [1, 403, 407, 261, 378]; // "Once upon a time" with BOS (tok512)
const POS = 64;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function time<T>(f: () => T): [T, number] {
  const t = performance.now();
  const r = f();
  return [r, performance.now() - t];
}

/** ms per KV call at position POS with slots 0..POS-1 open, on the backend's own element types. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function msPerKvCall(b: SyncGraphBackend<any, any, any>, nLayersHeads: number, hd: number, vocab: number, calls: number): number {
  const L = KV_SEQ_LEN - 1;
  const io = b.io;
  type Ctor = new (n: number) => Float32Array | Uint8Array | Uint16Array;
  const Cache = (io?.cache ?? Float32Array) as unknown as Ctor;
  const Mask = (io?.mask ?? Float32Array) as unknown as Ctor;
  const Logits = (io?.logits ?? Float32Array) as unknown as Ctor;
  const mask = new Mask(KV_SEQ_LEN).fill(io ? io.blocked : MASK_BLOCKED);
  for (let i = 0; i < POS; i++) mask[i] = io ? io.attend : 0;
  mask[L] = io ? io.attend : 0;
  const inputs = {
    tokens: Int32Array.of(407),
    attnMask: mask,
    inputPos: Int32Array.of(POS),
    kCaches: Array.from({ length: nLayersHeads }, () => new Cache(hd * L).fill(io ? 128 : 0)),
    vCaches: Array.from({ length: nLayersHeads }, () => new Cache(L * hd).fill(io ? 128 : 0)),
  };
  const outputs = io
    ? { logits: new Logits(vocab), kOut: inputs.kCaches.map(() => new Cache(hd)), vOut: inputs.vCaches.map(() => new Cache(hd)) }
    : allocKvOutputs({ nLayers: 1, nKvHeads: nLayersHeads, headDim: hd, vocabSize: vocab } as never);
  for (let i = 0; i < 3; i++) b.executeKvSync(inputs, outputs);
  const ts: number[] = [];
  for (let i = 0; i < calls; i++) ts.push(time(() => b.executeKvSync(inputs, outputs))[1]);
  return median(ts);
}

const CL = 128;

/** ms per AR = 1 decode call of the current flow at position POS (slots 0..POS-1 filled), fp32 I/O. */
function msPerDecodeCall(run: (inp: ReturnType<typeof decodeInputs>, out: ReturnType<typeof allocArOutputs>) => void, model: Model, calls: number): number {
  const inp = decodeInputs(model);
  const out = allocArOutputs(model.config, CL, 1);
  for (let i = 0; i < 3; i++) run(inp, out);
  const ts: number[] = [];
  for (let i = 0; i < calls; i++) ts.push(time(() => run(inp, out))[1]);
  return median(ts);
}

function decodeInputs(model: Model) {
  const caches = allocArCaches(model.config, CL, 1);
  return { tokens: Int32Array.of(407), attnMask: arCausalMask(CL, 1, POS), inputPos: Int32Array.of(POS), ...caches };
}

/** The current flow's quantized decode call per recipe and arithmetic, against the fp32 engine's AR graph. */
function currentFlowRows(model: Model, calls: number): { fp32Ms: number; rows: string[][] } {
  const fp32 = createEngineBackend({ model, contextLen: CL, arLens: [1] });
  const fp32Ms = msPerDecodeCall((i, o) => fp32.executeArSync(1, i, o), model, calls);
  const rows: string[][] = [];
  for (const [label, scheme] of [["stories260k recipe (16a4w)", undefined], ["--ptq 16a8w", "16a8w"], ["--ptq 8a8w", "8a8w"]] as const) {
    process.stderr.write(`bench:quant current ${label}\n`);
    const resolved = resolveRecipe(withCliOverrides(builtinRecipe("stories260k")!, { scheme: scheme as CurrentScheme | undefined }), model);
    const [enc, calMs] = time(() => calibrateCurrent(model, resolved, { contextLen: CL, sequences: [PROMPT] }));
    const ms = (arithmetic: "integer" | "fake") => {
      const b = currentQuantizedBackend(model, enc, { contextLen: CL, arLens: [1], arithmetic });
      return msPerDecodeCall((i, o) => b.executeArSync(1, i, o), model, calls);
    };
    const int = ms("integer");
    const fake = ms("fake");
    rows.push([label, (calMs / 1000).toFixed(2), int.toFixed(2), fake.toFixed(2), (int / fake).toFixed(2), (int / fp32Ms).toFixed(1)]);
  }
  return { fp32Ms, rows };
}

function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => "| " + r.map((x, i) => x.padStart(widths[i])).join(" | ") + " |";
  console.log(line(head));
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|");
  for (const r of rows) console.log(line(r));
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let calls = 40;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--quick") calls = 10;
    else throw new UsageError(`unknown argument ${argv[i]}\nusage: npm run bench:quant [-- --quick]`);
  }
  const model = loadModel({ checkpoint: new URL("../../models/stories260K.bin", import.meta.url).pathname }).model;
  const c = model.config;
  const heads = c.nLayers * c.nKvHeads;
  const rows: string[][] = [];
  const fp32Ms = msPerKvCall(createReferenceBackend({ model, kvSeqLen: KV_SEQ_LEN }) as never, heads, c.headDim, c.vocabSize, calls);
  const nodeMs = msPerKvCall(createSeedFp32Backend({ model, kvSeqLen: KV_SEQ_LEN }), heads, c.headDim, c.vocabSize, calls);
  for (const scheme of SEED_SCHEMES) {
    process.stderr.write(`bench:quant ${scheme}\n`);
    const [, kvCal] = time(() => seedPtq(model, { scheme, mode: "kv", kvSeqLen: KV_SEQ_LEN, promptTokens: PROMPT, eosId: 2 }));
    const [ptq, hyCal] = time(() => seedPtq(model, { scheme, mode: "hybrid", kvSeqLen: KV_SEQ_LEN, prefillSeqLen: PREFILL_SEQ_LEN, promptTokens: PROMPT, eosId: 2 }));
    const int = msPerKvCall(createSeedQuantBackend({ model, kvSeqLen: KV_SEQ_LEN, ptq, arithmetic: "integer" }), heads, c.headDim, c.vocabSize, calls);
    const fake = msPerKvCall(createSeedQuantBackend({ model, kvSeqLen: KV_SEQ_LEN, ptq, arithmetic: "fake" }), heads, c.headDim, c.vocabSize, calls);
    rows.push([scheme, (kvCal / 1000).toFixed(2), (hyCal / 1000).toFixed(2), int.toFixed(2), fake.toFixed(2), (int / fake).toFixed(2), (int / nodeMs).toFixed(2)]);
  }
  const head = ["scheme", "calibrate kv (s)", "calibrate hybrid (s)", "KV call integer (ms)", "KV call fake (ms)", "integer / fake", "integer / fp32 node graph"];
  console.log(`Seed flow: stories260K, kv_seq_len ${KV_SEQ_LEN}, prefill_seq_len ${PREFILL_SEQ_LEN}, KV call at position ${POS}; median of ${calls} calls; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(2)}`);
  console.log(`fp32 reference engine KV call: ${fp32Ms.toFixed(3)} ms; fp32 seed node graph (torch CPU kernels): ${nodeMs.toFixed(2)} ms`);
  printTable(head, rows);
  const cur = currentFlowRows(model, calls);
  console.log("");
  console.log(`Current flow: stories260K, max_context_len ${CL}, AR = 1 decode call at position ${POS}, calibrated on the prompt; median of ${calls} calls`);
  console.log(`fp32 engine AR-1 call: ${cur.fp32Ms.toFixed(3)} ms`);
  printTable(["recipe", "calibrate (s)", "decode integer (ms)", "decode fake (ms)", "integer / fake", "integer / fp32"], cur.rows);
}

runScript(main);
