// Owns the seed flow's `--dump_encodings` file: the encodings of the converted node graph(s) in the project's
// AIMET 0.6.1 layout (src/quant/encodings-file.ts), which `quant-report --compare_encodings` reads:
// - activation_encodings: every node output with an observer, the graph inputs (atten_mask, k_cache.l.c,
//   v_cache.l.c), the RoPE tables, and every re-quantized edge under `producer->consumer`, named by the seed's
//   static_llama module paths (the shared quantization reference's names);
// - param_encodings: per-channel conv weights (one entry per output channel, signed symmetric), the RMSNorm
//   weights and the embedding table (per tensor); lpbq_encodings: 16a4w_block's per-block conv weights.
// One graph: plain names. Hybrid: each name prefixed by its method, `kv_forward/` or `prefill_forward/`, as
// `qnn inspect` names a context's graphs, since the two graphs use the same module paths with other encodings.
import type { BlockEncodingEntry, EncodingsFile, IntEncodingEntry } from "../encodings-file.js";
import { AIMET_1X_VERSION } from "../encodings-file.js";
import { bitwidthOf, type QParams } from "./qparams.js";
import type { SeedQuantGraph } from "./quantized-graph.js";
import type { SeedObservers } from "./observers.js";
import { groupQParams, type SeedActivationEncoding } from "./encodings.js";
import type { SeedGraphPtq } from "./ptq.js";
import { edgeKey } from "./qspecs.js";

const f32 = Math.fround;

function activationEntry(e: QParams, symmetric: boolean): IntEncodingEntry {
  return {
    dtype: "int",
    bitwidth: bitwidthOf(e.quantMin, e.quantMax),
    isSymmetric: symmetric,
    min: f32((e.quantMin - e.zeroPoint) * e.scale),
    max: f32((e.quantMax - e.zeroPoint) * e.scale),
    offset: -e.zeroPoint + 0,
    scale: e.scale,
  };
}

/** A signed symmetric weight scale as AIMET writes it: offset −2^(b−1) on the unsigned code. */
function signedEntry(scale: number, qmax: number): IntEncodingEntry {
  const bitwidth = bitwidthOf(-qmax, qmax);
  return { dtype: "int", bitwidth, isSymmetric: true, min: f32(-qmax * scale), max: f32(qmax * scale), offset: -(2 ** (bitwidth - 1)), scale };
}

const isSymmetric = (obs: SeedObservers, id: number): boolean => obs.groups[id].spec.qscheme === "per_tensor_symmetric";

/** The entry of a calibrated activation encoding (its fp32 range as computed there). */
function fromActivation(e: SeedActivationEncoding): IntEncodingEntry {
  return { dtype: "int", bitwidth: e.bitwidth, isSymmetric: e.isSymmetric, min: e.min, max: e.max, offset: e.offset, scale: e.scale };
}

/** Adds one converted graph's encodings under `prefix`. */
function addGraph(f: EncodingsFile, g: SeedGraphEncodings, prefix: string): void {
  const { q, ptq } = g;
  const obs = ptq.observers;
  for (const [name, e] of Object.entries(ptq.encodings.activations)) f.activationEncodings[prefix + name] = [fromActivation(e)];
  for (const n of q.graph.nodes) {
    if (n.op !== "param") continue;
    const user = q.graph.users.get(n.name)![0];
    const id = obs.groupOf.get(edgeKey(n.name, user));
    if (id === undefined) continue;
    const w = q.convWeights.get(user);
    if (w?.kind === "per_block") {
      const nb = w.cols / w.blockSize;
      const block: BlockEncodingEntry = {
        bitwidth: 4,
        blockSize: w.blockSize,
        compressedBitwidth: 4,
        channelScales: Array.from(w.channelScales),
        perBlockIntScale: Array.from({ length: w.rows }, (_, r) => Array.from(w.multipliers.subarray(r * nb, (r + 1) * nb))),
      };
      (f.blockEncodings ??= {})[prefix + n.name] = block;
    } else if (w) {
      const grp = obs.groups[id];
      const qmax = grp.spec.quantMax!;
      f.paramEncodings[prefix + n.name] = Array.from(w.scales, (s) => signedEntry(s, qmax));
    } else {
      f.paramEncodings[prefix + n.name] = [activationEntry(groupQParams(obs.groups[id]), isSymmetric(obs, id))];
    }
  }
}

/** One converted graph and the calibration it came from. */
export interface SeedGraphEncodings {
  q: SeedQuantGraph;
  ptq: SeedGraphPtq;
}

/** The encodings file of the seed `--ptq` graphs: the KV graph, the prefill graph, or both (hybrid, prefixed). */
export function seedEncodingsFile(graphs: { kv?: SeedGraphEncodings; prefill?: SeedGraphEncodings }): EncodingsFile {
  const f: EncodingsFile = { version: AIMET_1X_VERSION, activationEncodings: {}, paramEncodings: {} };
  const both = graphs.kv !== undefined && graphs.prefill !== undefined;
  if (graphs.kv) addGraph(f, graphs.kv, both ? "kv_forward/" : "");
  if (graphs.prefill) addGraph(f, graphs.prefill, both ? "prefill_forward/" : "");
  return f;
}
