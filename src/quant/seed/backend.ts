// Owns the seed flow's `--ptq` graphs as a backend (SPEC §7, §7.6): the converted KV and prefill node graphs of
// quantized-graph.ts behind the backend contract, on the device's bytes at the graph boundary — every input and
// output in the encoding the export gives it:
// - K/V caches and the new K/V: uint8 codes of each (layer, KV head)'s S8 encoding (zp 128), shared by the
//   cache input, the new K/V output and their concatenation (SPEC §7.3);
// - the mask: the atten_mask input's encoding — uint16 s = 255/65535, zp 65535 under 16a4w (65535 attend,
//   0 blocked), uint8 s = 1, zp 255 under 8a8w (255 attend, 0 blocked). The seed runner hard-codes a uint16
//   mask (SPEC §7.6); this backend follows the export, and the CLI says so for 8a8w;
// - logits: codes of the LM head's output encoding (uint16 for stories, whose LM head is 16a8w), dequantized
//   for the sampler as the runner does, fp32((q − zp)·s).
// In hybrid mode the prefill graph's logits and K/V outputs carry the KV graph's encodings (annotate_prefill_kv_output),
// so the runner copies its K/V codes into the caches as they are.
import type { BackendInit, GraphEncoding, SyncGraphBackend } from "../../engine/backend.js";
import type { CacheArray, KvCacheManager, MaskArray } from "../../kvcache/types.js";
import { kCacheName, LOGITS_NODE, newKName, newVName, vCacheName, type SeedGraph } from "./node-graph.js";
import type { SeedPtqResult } from "./ptq.js";
import type { QParams } from "./qparams.js";
import { dequantizeCodes, runSeedQuantGraph, seedQuantGraph, tensorCodes, type IntegerStats, type SeedArithmetic, type SeedQuantGraph } from "./quantized-graph.js";
import type { Tensor } from "./tensor.js";

type Codes = Uint8Array | Uint16Array;
export type SeedQuantBackend = SyncGraphBackend<Codes, Codes, Codes> & {
  /** The converted graphs the backend runs. */
  readonly quantGraphs: { kv?: SeedQuantGraph; prefill?: SeedQuantGraph };
  /** Integer accumulation statistics summed over every call so far. */
  readonly integerStats: IntegerStats;
  readonly arithmetic: SeedArithmetic;
};

export interface SeedQuantBackendInit extends BackendInit {
  ptq: SeedPtqResult;
  /** Default "integer" (the device's arithmetic); "fake" is the fp32 fake-quant oracle. */
  arithmetic?: SeedArithmetic;
  /** 16a4w_block's block length. */
  blockSize?: number;
  /**
   * Start every cache byte at its K/V zero point (default true), so never-written slots read as 0.0. With false
   * they start as zero bytes (the seed runner's allocation), which dequantize to about −amax (docs/quantization.md).
   */
  fillZeroPoint?: boolean;
  /** Every node's value of each call (the report compares them with the fp32 graph's). */
  onValues?: (graph: "kv" | "prefill", values: Map<string, Tensor>) => void;
}

const ctorFor = (e: QParams): typeof Uint8Array | typeof Uint16Array => (e.quantMax > 255 ? Uint16Array : Uint8Array);

function encodingOf(q: SeedQuantGraph, name: string): QParams {
  const e = q.out.get(name);
  if (!e) throw new Error(`seed ${q.graph.mode} graph: ${name} has no encoding`);
  return e;
}

/** The codes of -255 and 0 under a mask encoding. */
function maskCodes(e: QParams): { attend: number; blocked: number } {
  const code = (x: number): number => Math.min(e.quantMax, Math.max(e.quantMin, Math.round(x / e.scale) + e.zeroPoint));
  return { attend: code(0), blocked: code(-255) };
}

const sameQ = (a: QParams, b: QParams): boolean =>
  a.scale === b.scale && a.zeroPoint === b.zeroPoint && a.quantMin === b.quantMin && a.quantMax === b.quantMax;

export function createSeedQuantBackend(init: SeedQuantBackendInit): SeedQuantBackend {
  const { ptq } = init;
  const arithmetic = init.arithmetic ?? "integer";
  const scheme = (ptq.kv ?? ptq.prefill)!.encodings.scheme;
  const kvQ = ptq.kv ? seedQuantGraph(ptq.kv.observers, scheme, { blockSize: init.blockSize }) : undefined;
  const preQ = ptq.prefill ? seedQuantGraph(ptq.prefill.observers, scheme, { blockSize: init.blockSize }) : undefined;
  const main = (kvQ ?? preQ)!;
  const g0: SeedGraph = main.graph;
  const c = g0.config;
  const heads = c.nLayers * c.nKvHeads;
  const kEnc = Array.from({ length: heads }, (_, i) => encodingOf(main, newKName(Math.floor(i / c.nKvHeads), i % c.nKvHeads)));
  const vEnc = Array.from({ length: heads }, (_, i) => encodingOf(main, newVName(Math.floor(i / c.nKvHeads), i % c.nKvHeads)));
  const logitsEnc = encodingOf(main, LOGITS_NODE);
  const maskEnc = encodingOf(main, "atten_mask");
  if (preQ && kvQ) {
    if (!sameQ(encodingOf(preQ, LOGITS_NODE), logitsEnc)) throw new Error("seed ptq: the prefill logits encoding differs from the KV graph's");
    if (ctorFor(encodingOf(preQ, "atten_mask")) !== ctorFor(maskEnc)) throw new Error("seed ptq: the two graphs' masks have different dtypes");
  }
  const { attend, blocked } = maskCodes(maskEnc);
  const kvBits = Math.max(...[...kEnc, ...vEnc].map((e) => e.quantMax));
  const cacheCtor = kvBits > 255 ? Uint16Array : Uint8Array;
  const fill = init.fillZeroPoint ?? true;
  const io: GraphEncoding<Codes, Codes, Codes> = {
    cache: cacheCtor,
    mask: ctorFor(maskEnc),
    attend,
    blocked,
    logits: ctorFor(logitsEnc),
    logitsToFloat: (row) => dequantizeCodes(row, logitsEnc),
    ...(fill ? { initCache: (cache: KvCacheManager<Codes, Codes>) => fillZeroPoints(cache, kEnc, vEnc) } : {}),
  };
  const integerStats: IntegerStats = { int32Overflows: 0, maxAccumulator: 0 };
  const addStats = (s: IntegerStats): void => {
    integerStats.int32Overflows += s.int32Overflows;
    integerStats.maxAccumulator = Math.max(integerStats.maxAccumulator, s.maxAccumulator);
  };
  const executeKvSync: SeedQuantBackend["executeKvSync"] = (inputs, outputs) => {
    if (!kvQ) throw new Error("seed quantized backend: built without a KV graph");
    const g = kvQ.graph;
    const L = g.seqLen - 1;
    const feeds = new Map<string, Tensor>([
      ["tokens", { shape: [1, 1], data: Float32Array.from(inputs.tokens) }],
      ["atten_mask", { shape: [1, g.seqLen], data: dequantizeCodes(inputs.attnMask, encodingOf(kvQ, "atten_mask")) }],
      ["input_pos", { shape: [1, 1], data: Float32Array.from(inputs.inputPos) }],
    ]);
    for (let i = 0; i < heads; i++) {
      const l = Math.floor(i / c.nKvHeads);
      const h = i % c.nKvHeads;
      feeds.set(kCacheName(l, h), { shape: [1, c.headDim, L], data: dequantizeCodes(inputs.kCaches[i], encodingOf(kvQ, kCacheName(l, h))) });
      feeds.set(vCacheName(l, h), { shape: [1, L, c.headDim], data: dequantizeCodes(inputs.vCaches[i], encodingOf(kvQ, vCacheName(l, h))) });
    }
    const { values, stats } = runSeedQuantGraph(kvQ, feeds, arithmetic);
    addStats(stats);
    writeOutputs(kvQ, values, outputs);
    init.onValues?.("kv", values);
  };
  const executePrefillSync: SeedQuantBackend["executePrefillSync"] = (inputs, outputs) => {
    if (!preQ) throw new Error("seed quantized backend: built without a prefill graph");
    const P = preQ.graph.rows;
    const feeds = new Map<string, Tensor>([
      ["tokens", { shape: [1, P], data: Float32Array.from(inputs.tokens) }],
      ["atten_mask", { shape: [P, P], data: dequantizeCodes(inputs.attnMask, encodingOf(preQ, "atten_mask")) }],
    ]);
    const { values, stats } = runSeedQuantGraph(preQ, feeds, arithmetic);
    addStats(stats);
    writeOutputs(preQ, values, outputs);
    init.onValues?.("prefill", values);
  };
  return {
    name: `seed-ptq(${scheme}, ${arithmetic})`,
    supportedModes: ptq.kv && ptq.prefill ? ["kv", "hybrid"] : ptq.kv ? ["kv"] : ["prefill"],
    supportsTaps: false,
    graphs: {},
    io,
    quantGraphs: { kv: kvQ, prefill: preQ },
    integerStats,
    arithmetic,
    executeKvSync,
    executePrefillSync,
    async executeKv(inputs, outputs) {
      executeKvSync(inputs, outputs);
    },
    async executePrefill(inputs, outputs) {
      executePrefillSync(inputs, outputs);
    },
    dispose() {},
  };
}

/** Graph outputs as codes: logits, then every (layer, KV head)'s new K and V. */
function writeOutputs(q: SeedQuantGraph, values: Map<string, Tensor>, outputs: { logits: Codes; kOut: Codes[]; vOut: Codes[] }): void {
  const c = q.graph.config;
  tensorCodes(values.get(LOGITS_NODE)!.data, encodingOf(q, LOGITS_NODE), outputs.logits);
  for (let l = 0; l < c.nLayers; l++)
    for (let h = 0; h < c.nKvHeads; h++) {
      const i = l * c.nKvHeads + h;
      tensorCodes(values.get(newKName(l, h))!.data, encodingOf(q, newKName(l, h)), outputs.kOut[i]);
      tensorCodes(values.get(newVName(l, h))!.data, encodingOf(q, newVName(l, h)), outputs.vOut[i]);
    }
}

/**
 * Every cache buffer at its head's zero point. With one zero point for all heads (S8: 128) the whole underlying
 * buffers are filled, so Shift Pointer's slack past the current views starts there too.
 */
function fillZeroPoints<C extends CacheArray, M extends MaskArray>(cache: KvCacheManager<C, M>, kEnc: QParams[], vEnc: QParams[]): void {
  const inp = cache.kvInputs();
  const outs = cache.kvOutputs();
  const pre = cache.dims.mode === "hybrid" ? cache.prefillOutputs() : undefined;
  const zps = new Set([...kEnc, ...vEnc].map((e) => e.zeroPoint));
  if (zps.size === 1) {
    const zp = [...zps][0];
    const arrays: CacheArray[] = [...inp.kCaches, ...inp.vCaches, ...outs.kOut, ...outs.vOut, ...(pre ? [...pre.kOut, ...pre.vOut] : [])];
    const Ctor = arrays[0].constructor as typeof Uint8Array | typeof Uint16Array;
    for (const buf of new Set(arrays.map((x) => x.buffer))) new Ctor(buf as ArrayBuffer).fill(zp);
    return;
  }
  inp.kCaches.forEach((x, i) => x.fill(kEnc[i].zeroPoint));
  inp.vCaches.forEach((x, i) => x.fill(vEnc[i].zeroPoint));
}
