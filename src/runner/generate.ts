// Owns the device runner's generation loop (SPEC §6): prefill, kv and hybrid modes over any Backend,
// driving a Shift Pointer or Smart Mask cache manager exactly as the runner's IoMgr does, with the
// runner's quirks reproduced (each marked "quirk" below).
import type { Backend } from "../engine/backend.js";
import type { ModelConfig } from "../engine/config.js";
import { causalMask } from "../engine/graph-io.js";
import { createShiftPointer } from "../kvcache/shift-pointer.js";
import { createSmartMask } from "../kvcache/smart-mask.js";
import type { EvalMode, KvCacheManager } from "../kvcache/types.js";
import { UserError } from "../util/errors.js";
import type { Sampler } from "./sampler.js";

export type KvUpdater = "smart_mask" | "shift_pointer";

export interface GenerateOptions {
  backend: Backend;
  config: ModelConfig;
  mode: EvalMode;
  kvSeqLen: number;
  prefillSeqLen: number;
  kvUpdater: KvUpdater;
  /** Prompt ids as fed (BOS included when the tokenizer added it). */
  promptTokens: number[];
  stopTokens: readonly number[];
  sampler: Sampler;
  /** Each generated token as soon as it is sampled (the runner's token callback). */
  onToken?: (prev: number, token: number) => void;
  /** The logits row each generated token was sampled from, in order. */
  onSampleLogits?: (row: Float32Array) => void;
  /** The logits row of every prompt position 0..n-1, in order. */
  onPromptLogits?: (pos: number, row: Float32Array) => void;
  /** Called after every KV step with the manager and the next position (tests inspect caches here). */
  onKvStep?: (cache: KvCacheManager<Float32Array, Float32Array>, nextPos: number) => void;
  /** Milliseconds clock; defaults to a high-resolution wall clock. */
  now?: () => number;
}

export interface GenerateTimings {
  inferenceStartMs: number;
  promptEvalEndMs: number;
  firstTokenMs: number;
  inferenceEndMs: number;
  samplingMs: number;
}

export interface GenerateResult {
  promptTokens: number[];
  /** Every sampled token in order, the stop token included. */
  generatedTokens: number[];
  /** Position reached at the end (the runner's `pos`); the device's generated count is finalPos - n. */
  finalPos: number;
  stoppedOnToken: boolean;
  timings: GenerateTimings;
}

const wallClock = () => performance.timeOrigin + performance.now();

/** The checks the runner makes before generating; failures are the user's (exit code 2). */
export function checkRunShape(o: Pick<GenerateOptions, "mode" | "kvSeqLen" | "prefillSeqLen" | "promptTokens" | "config">): void {
  const { mode, kvSeqLen, prefillSeqLen } = o;
  const n = o.promptTokens.length;
  if (mode !== "prefill" && !(Number.isInteger(kvSeqLen) && kvSeqLen >= 2))
    throw new UserError(`--kv_seq_len must be an integer >= 2, got ${kvSeqLen}`);
  if (mode !== "kv" && !(Number.isInteger(prefillSeqLen) && prefillSeqLen >= 2))
    throw new UserError(`--prefill_seq_len must be an integer >= 2, got ${prefillSeqLen}`);
  if (mode === "hybrid" && kvSeqLen < prefillSeqLen)
    throw new UserError(`hybrid mode needs --kv_seq_len (${kvSeqLen}) >= --prefill_seq_len (${prefillSeqLen})`);
  if (n === 0) throw new UserError("the prompt is empty: no tokens to feed");
  const V = o.config.vocabSize;
  o.promptTokens.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= V) throw new UserError(`prompt token ${i} is ${t}, outside the model's vocabulary [0, ${V})`);
  });
  if (mode === "hybrid" && n > prefillSeqLen - 1)
    throw new UserError(
      `the prompt has ${n} tokens but hybrid mode with --prefill_seq_len ${prefillSeqLen} takes at most ${prefillSeqLen - 1}; ` +
        `use --model_mode kv or a larger --prefill_seq_len`,
    );
  if (mode === "prefill" && n > prefillSeqLen - 1)
    throw new UserError(`the prompt has ${n} tokens but prefill mode with --prefill_seq_len ${prefillSeqLen} takes at most ${prefillSeqLen - 1}`);
  if (mode === "kv" && n > kvSeqLen - 1)
    throw new UserError(`the prompt has ${n} tokens but --kv_seq_len ${kvSeqLen} holds at most ${kvSeqLen - 1}; use a larger --kv_seq_len`);
}

export function createCacheManager(kind: KvUpdater, config: ModelConfig, mode: EvalMode, kvSeqLen: number, prefillSeqLen: number) {
  const dims = { nLayers: config.nLayers, nKvHeads: config.nKvHeads, headDim: config.headDim, kvSeqLen, prefillSeqLen, mode };
  return kind === "shift_pointer" ? createShiftPointer(dims) : createSmartMask(dims);
}

export async function generate(o: GenerateOptions): Promise<GenerateResult> {
  checkRunShape(o);
  const now = o.now ?? wallClock;
  const { mode, config, backend, sampler } = o;
  const prompt = o.promptTokens;
  const n = prompt.length;
  const V = config.vocabSize;
  const stops = new Set(o.stopTokens);
  const cache = createCacheManager(o.kvUpdater, config, mode, o.kvSeqLen, o.prefillSeqLen);
  // The runner's seq_len: max(prefill cache len, kv cache len) + 1; it loops while pos < seq_len - 1.
  const seqLen = cache.sizedLen + 1;
  const generated: number[] = [];
  const t: GenerateTimings = { inferenceStartMs: now(), promptEvalEndMs: 0, firstTokenMs: 0, inferenceEndMs: 0, samplingMs: 0 };
  let stoppedOnToken = false;

  const sample = (row: Float32Array): number => {
    const s = now();
    const tok = sampler.sample(row);
    t.samplingMs += now() - s;
    return tok;
  };
  const emit = (prev: number, tok: number, row: Float32Array) => {
    generated.push(tok);
    o.onSampleLogits?.(row);
    o.onToken?.(prev, tok);
  };

  let pos = 0;
  let cur = prompt[0];

  if (mode === "prefill" || mode === "hybrid") {
    const P = o.prefillSeqLen - 1;
    const tokens = new Int32Array(P); // right-padded with id 0
    prompt.forEach((id, i) => (tokens[i] = id));
    const attnMask = causalMask(P);
    const out = { logits: new Float32Array(P * V), ...cache.prefillOutputs() };
    pos = n - 1;
    cur = prompt[pos];
    let first = true;
    while (pos < seqLen - 1) {
      await backend.executePrefill({ tokens, attnMask }, out);
      if (first && o.onPromptLogits) for (let i = 0; i < n; i++) o.onPromptLogits(i, out.logits.subarray(i * V, (i + 1) * V));
      first = false;
      const row = out.logits.subarray(pos * V, (pos + 1) * V);
      const prev = cur;
      cur = sample(row);
      pos += 1;
      if (pos < P) tokens[pos] = cur; // the device also writes tokens[P] when pos == P (one past the end); skipped
      emit(prev, cur, row);
      if (pos === n) t.firstTokenMs = t.promptEvalEndMs = now();
      if (stops.has(cur)) {
        stoppedOnToken = mode === "prefill";
        break;
      }
      if (mode === "hybrid") break; // the prefill graph runs once in hybrid mode
    }
    // Quirk: in hybrid mode a stop token sampled from the prefill graph does not end generation; the
    // runner goes on with KV steps regardless.
    if (mode === "hybrid") cache.handOverFromPrefill(n);
  }

  if (mode === "kv" || mode === "hybrid") {
    const tokenIn = new Int32Array(1);
    const posIn = new Int32Array(1);
    const logits = new Float32Array(V);
    cache.startKv();
    while (pos < seqLen - 1) {
      const inp = cache.kvInputs();
      const outs = cache.kvOutputs();
      tokenIn[0] = cur;
      posIn[0] = pos;
      await backend.executeKv({ tokens: tokenIn, attnMask: inp.attnMask, inputPos: posIn, kCaches: inp.kCaches, vCaches: inp.vCaches }, { logits, kOut: outs.kOut, vOut: outs.vOut });
      if (mode === "kv") {
        // Quirk (kept): in kv mode the runner stamps first_token after the graph call at pos == n, i.e. one
        // step after the first generated token was sampled, and prompt_eval_end after the call at n - 1.
        if (pos === n) t.firstTokenMs = now();
        else if (pos === n - 1) t.promptEvalEndMs = now();
      }
      if (pos < n) o.onPromptLogits?.(pos, logits);
      const prev = cur;
      // Quirk: the runner samples at every step, prompt positions included, so with temperature > 0 the
      // RNG advances once per prompt token in kv mode before the prompt token overrides the sample.
      cur = sample(logits);
      if (pos < n - 1) cur = prompt[pos + 1];
      cache.updateAfterKvStep(pos);
      pos += 1;
      o.onKvStep?.(cache, pos);
      if (pos >= n) emit(prev, cur, logits);
      if (pos >= n && stops.has(cur)) {
        stoppedOnToken = true;
        break;
      }
    }
  }

  t.inferenceEndMs = now();
  if (t.promptEvalEndMs === 0) t.promptEvalEndMs = t.inferenceEndMs;
  if (t.firstTokenMs === 0) t.firstTokenMs = t.inferenceEndMs;
  return { promptTokens: prompt.slice(), generatedTokens: generated, finalPos: pos, stoppedOnToken, timings: t };
}
