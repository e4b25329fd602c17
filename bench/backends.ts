// Owns `node dist/bench/backends.js`: the reference backend vs the ONNX Runtime backend (CPU) on a random
// stories110M-shaped model: decode tok/s (one KV-graph call at kv_seq_len 128, position 64) and prefill
// tok/s (one prefill call at prefill_seq_len 32, i.e. 31 rows), medians over a few runs, as a small table.
import { compareTensors } from "../src/parity/metrics.js";
import os from "node:os";
import type { Backend } from "../src/backends/types.js";
import { createReferenceBackend } from "../src/backends/reference.js";
import { createOnnxRuntimeBackend } from "../src/backends/onnxruntime.js";
import { allocKvOutputs, allocPrefillOutputs, causalMask, MASK_ATTEND, MASK_BLOCKED } from "../src/engine/graph-io.js";
import { parameterCount, randomFill, randomModel, STORIES110M_CONFIG } from "./random-model.js";

const KV_SEQ_LEN = 128;
const KV_POS = 64;
const PREFILL_SEQ_LEN = 32;
const MODEL_SEED = 0x110;
const RUNS = { kv: 7, prefill: 3 };

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function timeIt(runs: number, f: () => Promise<void>): Promise<number> {
  await f(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

const sqnr = (a: Float32Array, r: Float32Array): number => compareTensors(a, r).sqnrDb;

async function main(): Promise<void> {
  const t0 = performance.now();
  const model = randomModel(STORIES110M_CONFIG, MODEL_SEED);
  const c = model.config;
  log(`random stories110M-shaped model: ${(parameterCount(model) / 1e6).toFixed(1)} M parameters in ${(performance.now() - t0).toFixed(0)} ms`);
  const n = c.nLayers * c.nKvHeads;
  const L = KV_SEQ_LEN - 1;
  const attnMask = new Float32Array(KV_SEQ_LEN).fill(MASK_BLOCKED);
  for (let j = 0; j < KV_POS; j++) attnMask[j] = MASK_ATTEND;
  attnMask[L] = MASK_ATTEND;
  const kvIn = {
    tokens: Int32Array.of(2501),
    attnMask,
    inputPos: Int32Array.of(KV_POS),
    kCaches: Array.from({ length: n }, (_, i) => randomFill(new Float32Array(c.headDim * L), 1000 + i, 0.5)),
    vCaches: Array.from({ length: n }, (_, i) => randomFill(new Float32Array(L * c.headDim), 5000 + i, 0.5)),
  };
  const P = PREFILL_SEQ_LEN - 1;
  const tokens = new Int32Array(P);
  for (let i = 0; i < P; i++) tokens[i] = (i * 7919 + 1) % c.vocabSize;
  const pIn = { tokens, attnMask: causalMask(P) };

  const init = { model, kvSeqLen: KV_SEQ_LEN, prefillSeqLen: PREFILL_SEQ_LEN };
  const t1 = performance.now();
  const ortB = await createOnnxRuntimeBackend(init);
  log(`onnxruntime sessions (graph export + load) in ${(performance.now() - t1).toFixed(0)} ms`);
  const backends: Backend[] = [createReferenceBackend(init), ortB];

  const rows: { name: string; kvMs: number; prefillMs: number }[] = [];
  const logits: Record<string, { kv: Float32Array; prefill: Float32Array }> = {};
  for (const b of backends) {
    const kvOut = allocKvOutputs(c);
    const pOut = allocPrefillOutputs(c, PREFILL_SEQ_LEN);
    log(`${b.name}: KV graph x${RUNS.kv} ...`);
    const kvMs = await timeIt(RUNS.kv, () => b.executeKv(kvIn, kvOut));
    log(`${b.name}: prefill graph x${RUNS.prefill} ...`);
    const prefillMs = await timeIt(RUNS.prefill, () => b.executePrefill(pIn, pOut));
    rows.push({ name: b.name, kvMs, prefillMs });
    logits[b.name] = { kv: kvOut.logits, prefill: pOut.logits };
  }
  ortB.dispose();

  const ref = logits.reference;
  const got = logits.onnxruntime;
  console.log(`backends on a random stories110M-shaped model (${os.cpus().length} CPUs, ${os.cpus()[0]?.model ?? "?"}, node ${process.version})`);
  console.log(`decode: one KV call, kv_seq_len ${KV_SEQ_LEN}, position ${KV_POS}; prefill: one call, prefill_seq_len ${PREFILL_SEQ_LEN} (${P} rows); medians`);
  const pad = (s: string, w: number) => s.padStart(w);
  console.log(`${"backend".padEnd(12)}${pad("decode ms", 12)}${pad("decode tok/s", 14)}${pad("prefill ms", 12)}${pad("prefill tok/s", 15)}`);
  for (const r of rows)
    console.log(
      `${r.name.padEnd(12)}${pad(r.kvMs.toFixed(1), 12)}${pad((1000 / r.kvMs).toFixed(2), 14)}${pad(r.prefillMs.toFixed(1), 12)}${pad(((P * 1000) / r.prefillMs).toFixed(2), 15)}`,
    );
  console.log(`logits SQNR onnxruntime vs reference: KV ${sqnr(got.kv, ref.kv).toFixed(1)} dB, prefill ${sqnr(got.prefill, ref.prefill).toFixed(1)} dB`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
