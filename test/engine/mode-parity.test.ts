// Mode parity: for one token sequence, prefill, kv and hybrid give the same logits at every position, and
// Shift Pointer and Smart Mask give bit-identical logits and identical cache contents once slots are mapped.
import { describe, expect, it } from "vitest";
import { greedyRun, type RunOut } from "../helpers/run.js";
import { bitsEqual, llama2cCases, loadStories260K, maxAbsDiff } from "../helpers/fixtures.js";
import type { KvCacheManager } from "../../src/kvcache/types.js";

const model = loadStories260K();
const c = llama2cCases().find((x) => x.id === "once_upon_n64")!;
// A sequence both engines agree on: run.c's prompt and its first 40 greedy tokens (45 positions).
const seq = [...c.prompt_tokens, ...c.generated_tokens.slice(0, 40)];
const N = seq.length;

function rowsUpTo(r: RunOut, n: number): Float32Array[] {
  return Array.from({ length: n }, (_, i) => {
    const row = r.rows.get(i);
    if (!row) throw new Error(`no logits row for position ${i}`);
    return row;
  });
}

describe("mode parity on a 45-token sequence", async () => {
  // Teacher-forced: the whole sequence as the prompt, so every position's row is reported.
  const kvSm = rowsUpTo(await greedyRun(model, { mode: "kv", kvUpdater: "smart_mask", kvSeqLen: N + 1, prefillSeqLen: 2, prompt: seq }), N);
  const kvSp = rowsUpTo(await greedyRun(model, { mode: "kv", kvUpdater: "shift_pointer", kvSeqLen: N + 1, prefillSeqLen: 2, prompt: seq }), N);
  const prefill = rowsUpTo(await greedyRun(model, { mode: "prefill", kvSeqLen: 2, prefillSeqLen: N + 1, prompt: seq }), N);
  // Hybrid: prefill of the first 20, then KV steps; greedy decoding regenerates the rest of the sequence.
  const hy = await greedyRun(model, { mode: "hybrid", kvUpdater: "shift_pointer", kvSeqLen: N + 1, prefillSeqLen: 21, prompt: seq.slice(0, 20) });
  const hySm = await greedyRun(model, { mode: "hybrid", kvUpdater: "smart_mask", kvSeqLen: N + 1, prefillSeqLen: 21, prompt: seq.slice(0, 20) });

  it("hybrid regenerates the same sequence, so its rows are comparable", () => {
    expect(hy.generated.slice(0, N - 20)).toEqual(seq.slice(20));
    expect(hySm.generated.slice(0, N - 20)).toEqual(seq.slice(20));
  });

  it("prefill, kv and hybrid logits agree within 1e-5 at every position", () => {
    const hybrid = rowsUpTo(hy, N);
    for (let i = 0; i < N; i++) {
      expect(maxAbsDiff(prefill[i], kvSm[i]), `prefill vs kv at ${i}`).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(hybrid[i], kvSm[i]), `hybrid vs kv at ${i}`).toBeLessThanOrEqual(1e-5);
    }
  });

  it("the graphs share one summation order: prefill and KV rows are in fact bit-identical", () => {
    const hybrid = rowsUpTo(hy, N);
    for (let i = 0; i < N; i++) {
      expect(bitsEqual(prefill[i], kvSm[i]), `prefill vs kv at ${i}`).toBe(true);
      expect(bitsEqual(hybrid[i], kvSm[i]), `hybrid vs kv at ${i}`).toBe(true);
    }
  });

  it("Shift Pointer and Smart Mask logits are bit-identical (kv mode up to the last slot, hybrid)", () => {
    for (let i = 0; i < N; i++) expect(bitsEqual(kvSp[i], kvSm[i]), `kv position ${i}`).toBe(true);
    const a = rowsUpTo(hy, N);
    const b = rowsUpTo(hySm, N);
    for (let i = 0; i < N; i++) expect(bitsEqual(a[i], b[i]), `hybrid position ${i}`).toBe(true);
  });
});

/** Snapshot of every stored K/V of every (layer, head) for positions < pos, in position order. */
function snapshot(cache: KvCacheManager<Float32Array, Float32Array>, pos: number): Float32Array {
  const { nLayers, nKvHeads, headDim } = cache.dims;
  const out = new Float32Array(nLayers * nKvHeads * pos * headDim * 2);
  let o = 0;
  for (let l = 0; l < nLayers; l++)
    for (let h = 0; h < nKvHeads; h++)
      for (let p = 0; p < pos; p++) {
        out.set(cache.readK(l, h, p), o);
        out.set(cache.readV(l, h, p), o + headDim);
        o += 2 * headDim;
      }
  return out;
}

describe("cache contents, Shift Pointer vs Smart Mask", () => {
  it.each([
    { mode: "kv" as const, kvSeqLen: 12, prefillSeqLen: 2, prompt: seq.slice(0, 3) },
    { mode: "hybrid" as const, kvSeqLen: 12, prefillSeqLen: 9, prompt: seq.slice(0, 5) },
    { mode: "hybrid" as const, kvSeqLen: 9, prefillSeqLen: 9, prompt: seq.slice(0, 8) },
  ])("$mode kv_seq_len $kvSeqLen: identical at every step up to the end of the cache", async (o) => {
    const snaps: Record<string, Float32Array[]> = { smart_mask: [], shift_pointer: [] };
    const finals: Record<string, number> = {};
    for (const kvUpdater of ["smart_mask", "shift_pointer"] as const) {
      const r = await greedyRun(model, { ...o, kvUpdater, stops: [] }, { onKvStep: (cache, pos) => snaps[kvUpdater].push(snapshot(cache, pos)) });
      finals[kvUpdater] = r.finalPos;
    }
    expect(finals.smart_mask).toBe(o.kvSeqLen - 1); // ran until the last slot was filled
    expect(snaps.smart_mask.length).toBe(snaps.shift_pointer.length);
    snaps.smart_mask.forEach((s, i) => expect(bitsEqual(s, snaps.shift_pointer[i]), `step ${i}`).toBe(true));
  });
});
