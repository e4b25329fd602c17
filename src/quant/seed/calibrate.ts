// Owns the seed's calibration loops (SPEC §7.5; llama.py `_kv_calibrate` 121-164 and `_prefill_calibrate`
// 167-212 at f965746a) over the seed node graphs in fp32. Each call's values go to `record` (the observers):
// - KV: caches start at zero, the mask at -255 with its last column 0 (static_llama get_example_inputs);
//   feed token_list[pos] at pos, update with the chosen updater (smart_mask default: K column / V row `pos`,
//   mask[pos] = 0; shift_pointer: drop the oldest slot, append, mask[-pos-1] = 0 after the increment), and once
//   pos reaches the end of the list append argmax(logits[:, -1]); loop while the last token is not EOS and
//   pos < kv_seq_len - 1.
// - Prefill: start at pos = n (prompt length); each call runs the whole graph on the tokens right-padded with 0
//   to P under the causal -255 mask and appends argmax(logits[:, pos - 1]); loop while the last token is not EOS
//   and pos < P.
// argmax is torch's: the first index of the maximum.
import { causalMask, MASK_BLOCKED } from "../../engine/graph-io.js";
import { kCacheName, LOGITS_NODE, newKName, newVName, runSeedGraph, vCacheName, type SeedGraph, type SeedValues } from "./node-graph.js";
import type { Tensor } from "./tensor.js";

export type KvUpdater = "smart_mask" | "shift_pointer";

export interface CalibrationOptions {
  /** The prompt's token ids, BOS first (SentencePiece / tiktoken encode with bos=True, no template). */
  promptTokens: readonly number[];
  /** tokenizer.eos_id. */
  eosId: number;
  /** KV only: `--kv_updator`, default smart_mask. */
  updater?: KvUpdater;
}

export interface CalibrationRun {
  /** token_list at the end: the prompt, then the fp32 greedy continuation. */
  tokens: number[];
  /** Graph calls made (= calls every observer saw). */
  calls: number;
  stoppedBy: "eos" | "length";
}

/** torch.argmax over v[off .. off+n): first index of the maximum. */
export function argmaxFirst(v: Float32Array, off = 0, n = v.length - off): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
  return best;
}

function checkPrompt(tokens: readonly number[]): void {
  if (tokens.length === 0) throw new RangeError("calibration: empty prompt");
}

/** One KV-cache update of llama.py (smart_mask_updator / shift_pointer_updator); returns the new pos. */
function updateCaches(g: SeedGraph, feeds: Map<string, Tensor>, values: SeedValues, pos: number, updater: KvUpdater): number {
  const c = g.config;
  const hd = c.headDim;
  const L = g.seqLen - 1;
  const mask = feeds.get("atten_mask")!.data;
  for (let l = 0; l < c.nLayers; l++)
    for (let i = 0; i < c.nKvHeads; i++) {
      const k = feeds.get(kCacheName(l, i))!.data; // [hd, L]
      const v = feeds.get(vCacheName(l, i))!.data; // [L, hd]
      const kn = values.get(newKName(l, i))!.data; // [hd, 1]
      const vn = values.get(newVName(l, i))!.data; // [1, hd]
      if (updater === "smart_mask") {
        for (let d = 0; d < hd; d++) k[d * L + pos] = kn[d];
        v.set(vn, pos * hd);
      } else {
        for (let d = 0; d < hd; d++) {
          k.copyWithin(d * L, d * L + 1, (d + 1) * L);
          k[(d + 1) * L - 1] = kn[d];
        }
        v.copyWithin(0, hd);
        v.set(vn, (L - 1) * hd);
      }
    }
  if (updater === "smart_mask") {
    mask[pos] = 0;
    return pos + 1;
  }
  mask[g.seqLen - (pos + 1) - 1] = 0;
  return pos + 1;
}

/** `_kv_calibrate` on the KV graph; `record` sees every call's values. */
export function calibrateKv(g: SeedGraph, record: (values: SeedValues) => void, opts: CalibrationOptions): CalibrationRun {
  if (g.mode !== "kv") throw new RangeError("calibrateKv needs the KV graph");
  checkPrompt(opts.promptTokens);
  const c = g.config;
  const L = g.seqLen - 1;
  const mask = new Float32Array(g.seqLen).fill(MASK_BLOCKED);
  mask[L] = 0;
  const feeds = new Map<string, Tensor>([
    ["atten_mask", { shape: [1, g.seqLen], data: mask }],
    ["tokens", { shape: [1, 1], data: new Float32Array(1) }],
    ["input_pos", { shape: [1, 1], data: new Float32Array(1) }],
  ]);
  for (let l = 0; l < c.nLayers; l++)
    for (let i = 0; i < c.nKvHeads; i++) {
      feeds.set(kCacheName(l, i), { shape: [1, c.headDim, L], data: new Float32Array(c.headDim * L) });
      feeds.set(vCacheName(l, i), { shape: [1, L, c.headDim], data: new Float32Array(L * c.headDim) });
    }
  const tokens = [...opts.promptTokens];
  let pos = 0;
  let calls = 0;
  while (tokens[tokens.length - 1] !== opts.eosId && pos < L) {
    feeds.get("tokens")!.data[0] = tokens[pos];
    feeds.get("input_pos")!.data[0] = pos;
    const values = runSeedGraph(g, feeds);
    record(values);
    calls++;
    pos = updateCaches(g, feeds, values, pos, opts.updater ?? "smart_mask");
    if (pos >= tokens.length) tokens.push(argmaxFirst(values.get(LOGITS_NODE)!.data));
  }
  return { tokens, calls, stoppedBy: tokens[tokens.length - 1] === opts.eosId ? "eos" : "length" };
}

/** `_prefill_calibrate` on the prefill graph; `record` sees every call's values. */
export function calibratePrefill(g: SeedGraph, record: (values: SeedValues) => void, opts: CalibrationOptions): CalibrationRun {
  if (g.mode !== "prefill") throw new RangeError("calibratePrefill needs the prefill graph");
  checkPrompt(opts.promptTokens);
  const P = g.rows;
  if (opts.promptTokens.length > P) throw new RangeError(`calibration prompt of ${opts.promptTokens.length} tokens exceeds prefill length ${P}`);
  const mask = { shape: [P, P], data: causalMask(P) };
  const tokens = [...opts.promptTokens];
  let pos = tokens.length;
  let calls = 0;
  while (tokens[tokens.length - 1] !== opts.eosId && pos < P) {
    const ids = new Float32Array(P);
    ids.set(tokens);
    const values = runSeedGraph(g, new Map([["tokens", { shape: [1, P], data: ids }], ["atten_mask", mask]]));
    record(values);
    calls++;
    tokens.push(argmaxFirst(values.get(LOGITS_NODE)!.data, (pos - 1) * g.config.vocabSize, g.config.vocabSize));
    pos++;
  }
  return { tokens, calls, stoppedBy: tokens[tokens.length - 1] === opts.eosId ? "eos" : "length" };
}
