// Owns the device runner's control flow (SPEC §6) as one stepwise session: the phase (prefill graph, KV graph,
// done), the position, the current token, the prompt and the KV-cache manager, advanced one graph call at a
// time:
//     nextCall()         the next call's inputs and output buffers (views into the cache manager)
//     the backend call   call() / callSync() run it on the session's backend
//     advance(token)     the sampled (or forced) token; prompt positions override it, the caches move
// Every mode (prefill, kv, hybrid), both cache mechanisms, and any graph I/O element types (fp32, or the device's
// uint8/uint16 codes: see GraphEncoding) go through this one file; generate(), parity, calibration, perplexity
// and the quantization report are drivers of it. The runner's quirks are reproduced here, each marked "quirk".
import type { ModelConfig } from "../engine/config.js";
import type { TapFn } from "../engine/decoder.js";
import {
  graphEncodingOf,
  type GraphBackend,
  type GraphEncoding,
  type KvCallInputs,
  type KvCallOutputs,
  type LogitsArray,
  type PrefillCallInputs,
  type PrefillCallOutputs,
  type SyncGraphBackend,
} from "../engine/backend.js";
import { createShiftPointer } from "../kvcache/shift-pointer.js";
import { createSmartMask } from "../kvcache/smart-mask.js";
import type { CacheArray, CacheEncoding, EvalMode, KvCacheManager, MaskArray } from "../kvcache/types.js";
import { UserError } from "../util/errors.js";

export type KvUpdater = "smart_mask" | "shift_pointer";

export type Phase = "prefill" | "kv" | "done";

export interface SessionOptions<C extends CacheArray, M extends MaskArray, G extends LogitsArray> {
  backend: GraphBackend<C, M, G>;
  config: ModelConfig;
  mode: EvalMode;
  kvSeqLen: number;
  prefillSeqLen: number;
  kvUpdater: KvUpdater;
  /** Prompt ids as fed (BOS included when the tokenizer added it). */
  promptTokens: number[];
  /** A sampled stop token ends the session (see advance() for where); none by default. */
  stopTokens?: readonly number[];
}

/** One graph call: where its inputs are and where its outputs go. */
export interface PendingCall<C extends CacheArray, M extends MaskArray, G extends LogitsArray> {
  graph: "prefill" | "kv";
  /** The position whose logits row is sampled (KV: input_pos; prefill: the last fed row). */
  position: number;
  /** KV calls: the token fed. */
  token?: number;
  kv?: { inputs: KvCallInputs<C, M>; outputs: KvCallOutputs<C, G> };
  prefill?: { inputs: PrefillCallInputs<M>; outputs: PrefillCallOutputs<C, G> };
}

/** What a graph call produced. */
export interface CallResult<C extends CacheArray, G extends LogitsArray> {
  graph: "prefill" | "kv";
  position: number;
  token?: number;
  /** All logits rows of the call ([1, V] for KV, [P, V] for prefill). */
  logits: G;
  /** The rows that carry fed tokens: prefill 0..position, KV just the one. */
  rowCount: number;
  kOut: C[];
  vOut: C[];
  /** The sampled position's logits row as the sampler reads it (fp32). */
  row: Float32Array;
  /** Whether the runner samples this call's row (the current flow samples only the last prompt chunk). */
  sampled: boolean;
  /** Current flow: the logits rows of the prompt tokens this call fed, by absolute position. */
  promptLogits?: { pos: number; row: Float32Array }[];
  /**
   * Lookahead calls (SPEC-2026 §6): several rows are sampled; advance with the session's advanceLookahead, which asks
   * for the token of each slot it reads (`slotRow(slot)` is that row as the sampler reads it). Also how many slots
   * were written and how many verification branches were fed.
   */
  lookahead?: { slotRow: (slot: number) => Float32Array; writes: number; branches: number };
}

export interface Advance {
  /** The token fed at the sampled position. */
  prev: number;
  /** The token the session goes on with (the sampled one, or the prompt's at a prompt position). */
  token: number;
  /** The token is a generated one (the runner's token callback fires). */
  emitted: boolean;
  /** A stop token ended the session. */
  stopped: boolean;
  /** This advance took the first token after the prompt: where the runner stamps prompt_eval_end / first_token. */
  promptDone: boolean;
}

/** What generate() drives: the seed session and the current flow's (src/runner/current-session.ts). */
export interface SteppedSession<G extends LogitsArray = LogitsArray> {
  readonly phase: string;
  readonly pos: number;
  readonly generated: readonly number[];
  readonly stoppedOnToken: boolean;
  readonly io: { logitsToFloat(row: G): Float32Array };
  call(opts?: { tap?: TapFn }): Promise<CallResult<CacheArray, G>>;
  /** `sampled`: the token sampled from the call's row (ignored for calls that are not sampled). */
  advance(sampled: number): Advance;
  /** Lookahead calls: accepts the tokens, `pick(slot)` giving each slot's token (src/runner/current-session.ts). */
  advanceLookahead?(pick: (slot: number) => number): Advance[];
}

export interface RunnerSession<C extends CacheArray, M extends MaskArray, G extends LogitsArray> {
  readonly mode: EvalMode;
  readonly promptTokens: readonly number[];
  readonly backend: GraphBackend<C, M, G>;
  readonly io: GraphEncoding<C, M, G>;
  readonly cache: KvCacheManager<C, M>;
  readonly phase: Phase;
  /** The position whose logits the next call samples (the runner's `pos`). */
  readonly pos: number;
  /** The token at `pos` (fed to the next KV call). */
  readonly cur: number;
  /** Every generated token in order, a stop token included. */
  readonly generated: readonly number[];
  readonly stoppedOnToken: boolean;
  /** The next call. `fresh`: into newly allocated outputs, so a rerun leaves the caches untouched. */
  nextCall(opts?: { fresh?: boolean }): PendingCall<C, M, G>;
  /** Reads a call's results after the backend ran it. */
  resultOf(call: PendingCall<C, M, G>): CallResult<C, G>;
  /** nextCall, the backend call, resultOf. */
  call(opts?: { tap?: TapFn; fresh?: boolean }): Promise<CallResult<C, G>>;
  /** The same with a synchronous backend (the engine's, the quantized simulation). */
  callSync(opts?: { tap?: TapFn; fresh?: boolean }): CallResult<C, G>;
  /** Moves past the current call with the token sampled from it. */
  advance(sampled: number): Advance;
  /** Overwrites this session's KV-graph cache inputs (mask, K, V) with another's (parity's lock-step). */
  adoptCacheInputs(from: RunnerSession<C, M, G>): void;
}

/** The most bytes a run's graph buffers may take (caches, masks, logits, prefill activations): 16 GiB. */
export const MAX_RUN_BUFFER_BYTES = 16 * 2 ** 30;

/**
 * What the graph buffers of a run take, in bytes (fp32 elements, an upper estimate over both cache mechanisms):
 * the caches (Shift Pointer's (hd+1)·M K and (H+1)·M·hd V per layer and head), the masks, the logits, and the
 * prefill graph's activations (P rows of the embedding, attention and FFN widths, P×P scores).
 */
export function runBufferBytes(c: ModelConfig, mode: EvalMode, kvSeqLen: number, prefillSeqLen: number): number {
  const L = mode === "prefill" ? 0 : kvSeqLen - 1;
  const P = mode === "kv" ? 0 : prefillSeqLen - 1;
  const M = Math.max(L, P);
  const H = c.nKvHeads;
  const hd = c.headDim;
  const caches = c.nLayers * (H * (hd + 1) * M + (H + 1) * M * hd);
  const kv = L > 0 ? L + 1 + c.vocabSize : 0;
  const prefill = P > 0 ? P * P + P * (c.vocabSize + 4 * c.dim + 3 * c.hiddenDim + 2 * c.nHeads * hd) : 0;
  return 4 * (caches + kv + prefill);
}

const gb = (bytes: number) => `${(bytes / 2 ** 30).toFixed(1)} GiB`;

/**
 * A warning when the graphs are longer than the context the checkpoint declares it was trained for. `declared`:
 * the checkpoint states it (llama2.c's header seq_len, Hugging Face's max_position_embeddings), rather than
 * config.maxSeqLen being the 2048 default of a params.json without max_seq_len.
 */
export function contextWarning(c: ModelConfig, mode: EvalMode, kvSeqLen: number, prefillSeqLen: number, declared: boolean): string | undefined {
  const len = Math.max(mode === "prefill" ? 0 : kvSeqLen, mode === "kv" ? 0 : prefillSeqLen);
  if (!declared || len <= c.maxSeqLen) return undefined;
  return `warning: the graphs hold ${len} positions but the checkpoint declares a trained context of ${c.maxSeqLen}; later positions are outside what the model was trained on`;
}

/**
 * A backend that computes synchronously resolves at once, and a chain of resolved awaits never returns to the
 * event loop, where signals (SIGINT / SIGTERM) are handled: the returned function yields to it once ~50 ms have
 * passed since it last did. No result depends on it (this wall clock is not the runner's clock).
 */
export function createYielder(): () => Promise<void> {
  let lastYield = performance.now();
  return async () => {
    if (performance.now() - lastYield < 50) return;
    await new Promise((resolve) => setImmediate(resolve));
    lastYield = performance.now();
  };
}

/** A prompt to feed: at least one id, every id inside the model's vocabulary (one check for every flow and command). */
export function checkPromptIds(ids: readonly number[], vocabSize: number): void {
  if (ids.length === 0) throw new UserError("the prompt is empty: no tokens to feed");
  ids.forEach((t, i) => {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize)
      throw new UserError(`prompt token ${i} is ${t}, outside the model's vocabulary [0, ${vocabSize})${t >= vocabSize ? " (see --fold_vocab)" : ""}`);
  });
}

/** The checks the runner makes before generating; failures are the user's (exit code 2). */
export function checkRunShape(o: { mode: EvalMode; kvSeqLen: number; prefillSeqLen: number; promptTokens: readonly number[]; config: ModelConfig }): void {
  const { mode, kvSeqLen, prefillSeqLen } = o;
  const n = o.promptTokens.length;
  if (mode !== "prefill" && !(Number.isInteger(kvSeqLen) && kvSeqLen >= 2))
    throw new UserError(`--kv_seq_len must be an integer >= 2, got ${kvSeqLen}`);
  if (mode !== "kv" && !(Number.isInteger(prefillSeqLen) && prefillSeqLen >= 2))
    throw new UserError(`--prefill_seq_len must be an integer >= 2, got ${prefillSeqLen}`);
  if (mode === "hybrid" && kvSeqLen < prefillSeqLen)
    throw new UserError(`hybrid mode needs --kv_seq_len (${kvSeqLen}) >= --prefill_seq_len (${prefillSeqLen})`);
  const bytes = runBufferBytes(o.config, mode, kvSeqLen, prefillSeqLen);
  if (bytes > MAX_RUN_BUFFER_BYTES) {
    const flags = [mode !== "prefill" ? `--kv_seq_len ${kvSeqLen}` : "", mode !== "kv" ? `--prefill_seq_len ${prefillSeqLen}` : ""].filter((f) => f !== "");
    throw new UserError(`${flags.join(" with ")}: the graph buffers would take ${gb(bytes)}, over the ${gb(MAX_RUN_BUFFER_BYTES)} limit; use shorter graphs`);
  }
  checkPromptIds(o.promptTokens, o.config.vocabSize);
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

/** The cache manager of a mechanism, for a model and the graphs' lengths, on the given element types. */
export function createCacheManager<C extends CacheArray = Float32Array, M extends MaskArray = Float32Array>(
  kind: KvUpdater,
  config: ModelConfig,
  mode: EvalMode,
  kvSeqLen: number,
  prefillSeqLen: number,
  enc?: CacheEncoding<C, M>,
): KvCacheManager<C, M> {
  const dims = { nLayers: config.nLayers, nKvHeads: config.nKvHeads, headDim: config.headDim, kvSeqLen, prefillSeqLen, mode };
  return kind === "shift_pointer" ? createShiftPointer(dims, enc) : createSmartMask(dims, enc);
}

/** The prefill graph's causal mask [P, P] in the graph's mask values: row i attends columns j <= i (no padding mask). */
export function causalMaskOf<M extends MaskArray>(enc: CacheEncoding<CacheArray, M>, P: number): M {
  const m = new enc.mask(new ArrayBuffer(P * P * enc.mask.BYTES_PER_ELEMENT), 0, P * P);
  for (let i = 0; i < P; i++) for (let j = 0; j < P; j++) m[i * P + j] = j <= i ? enc.attend : enc.blocked;
  return m;
}

const alloc = <T>(ctor: { new (buffer: ArrayBuffer, byteOffset: number, length: number): T; BYTES_PER_ELEMENT: number }, n: number): T =>
  new ctor(new ArrayBuffer(n * ctor.BYTES_PER_ELEMENT), 0, n);

export function createSession<C extends CacheArray, M extends MaskArray, G extends LogitsArray>(o: SessionOptions<C, M, G>): RunnerSession<C, M, G> {
  checkRunShape(o);
  const { backend, config, mode } = o;
  if (backend.supportedModes && !backend.supportedModes.includes(mode))
    throw new UserError(`the ${backend.name} backend supports ${backend.supportedModes.join(" and ")} (--model_mode ${mode})`);
  const io = graphEncodingOf(backend);
  const prompt = o.promptTokens.slice();
  const n = prompt.length;
  const V = config.vocabSize;
  const NH = config.nLayers * config.nKvHeads;
  const hd = config.headDim;
  const stops = new Set(o.stopTokens ?? []);
  const cache = createCacheManager<C, M>(o.kvUpdater, config, mode, o.kvSeqLen, o.prefillSeqLen, io);
  io.initCache?.(cache);
  // The runner's seq_len: max(prefill cache len, kv cache len) + 1; it loops while pos < seq_len - 1.
  const last = cache.sizedLen;
  const P = cache.prefillLen;
  const generated: number[] = [];
  let stoppedOnToken = false;
  let phase: Phase;
  let pos: number;
  let cur: number;

  // Prefill graph inputs: the prompt right-padded with id 0, the plain causal mask; outputs into the caches.
  const prefillTokens = new Int32Array(P);
  const prefillMask = mode === "kv" ? undefined : causalMaskOf(io, P);
  const prefillLogits = mode === "kv" ? undefined : alloc(io.logits, P * V);
  const kvLogits = mode === "prefill" ? undefined : alloc(io.logits, V);

  if (mode === "kv") {
    cache.startKv();
    phase = "kv";
    pos = 0;
    cur = prompt[0];
  } else {
    prompt.forEach((id, i) => (prefillTokens[i] = id));
    phase = "prefill";
    pos = n - 1;
    cur = prompt[pos];
  }

  const freshCaches = (len: number): C[] => Array.from({ length: NH }, () => alloc(io.cache, len));

  const nextCall = (opts: { fresh?: boolean } = {}): PendingCall<C, M, G> => {
    if (phase === "prefill") {
      const outputs = opts.fresh
        ? { logits: alloc(io.logits, P * V), kOut: freshCaches(hd * P), vOut: freshCaches(P * hd) }
        : { logits: prefillLogits!, ...cache.prefillOutputs() };
      return { graph: "prefill", position: pos, prefill: { inputs: { tokens: prefillTokens, attnMask: prefillMask! }, outputs } };
    }
    if (phase === "kv") {
      const inp = cache.kvInputs();
      const outputs = opts.fresh ? { logits: alloc(io.logits, V), kOut: freshCaches(hd), vOut: freshCaches(hd) } : { logits: kvLogits!, ...cache.kvOutputs() };
      const inputs = { tokens: Int32Array.of(cur), attnMask: inp.attnMask, inputPos: Int32Array.of(pos), kCaches: inp.kCaches, vCaches: inp.vCaches };
      return { graph: "kv", position: pos, token: cur, kv: { inputs, outputs } };
    }
    throw new Error("runner session: already finished");
  };

  const resultOf = (c: PendingCall<C, M, G>): CallResult<C, G> => {
    const out = (c.kv ?? c.prefill)!.outputs;
    const r = c.graph === "prefill" ? c.position : 0;
    const row = io.logitsToFloat(out.logits.subarray(r * V, (r + 1) * V) as G);
    const rowCount = c.graph === "prefill" ? c.position + 1 : 1;
    return { graph: c.graph, position: c.position, ...(c.token !== undefined ? { token: c.token } : {}), logits: out.logits, rowCount, kOut: out.kOut, vOut: out.vOut, row, sampled: true };
  };

  const finish = (stopped: boolean) => {
    stoppedOnToken = stopped;
    phase = "done";
  };

  const advance = (sampled: number): Advance => {
    const prev = cur;
    if (phase === "prefill") {
      cur = sampled;
      pos += 1;
      if (pos < P) prefillTokens[pos] = cur; // the device also writes tokens[P] when pos == P (one past the end); skipped
      generated.push(cur);
      const stop = stops.has(cur);
      if (mode === "hybrid") {
        // Quirk: in hybrid mode a stop token sampled from the prefill graph does not end generation; the
        // runner hands over to the KV graph regardless (the prefill graph runs once in hybrid mode).
        cache.handOverFromPrefill(n);
        cache.startKv();
        phase = pos < last ? "kv" : "done";
        return { prev, token: cur, emitted: true, stopped: false, promptDone: pos === n };
      }
      if (stop) finish(true);
      else if (pos >= last) phase = "done";
      return { prev, token: cur, emitted: true, stopped: stop, promptDone: pos === n };
    }
    if (phase === "kv") {
      const p = pos;
      // Quirk: the runner samples at every step, prompt positions included, so with temperature > 0 the
      // RNG advances once per prompt token in kv mode before the prompt token overrides the sample.
      cur = p < n - 1 ? prompt[p + 1] : sampled;
      cache.updateAfterKvStep(p);
      pos = p + 1;
      const emitted = pos >= n;
      if (emitted) generated.push(cur);
      const stop = emitted && stops.has(cur);
      if (stop) finish(true);
      else if (pos >= last) phase = "done";
      // kv mode: the runner's prompt_eval_end / first_token stamps follow the graph calls instead (generate()).
      return { prev, token: cur, emitted, stopped: stop, promptDone: false };
    }
    throw new Error("runner session: already finished");
  };

  const execOpts = (tap?: TapFn) => (tap ? { tap } : undefined);
  const yieldSometimes = createYielder();

  const session: RunnerSession<C, M, G> = {
    mode,
    promptTokens: prompt,
    backend,
    io,
    cache,
    get phase() {
      return phase;
    },
    get pos() {
      return pos;
    },
    get cur() {
      return cur;
    },
    generated,
    get stoppedOnToken() {
      return stoppedOnToken;
    },
    nextCall,
    resultOf,
    async call(opts = {}) {
      const c = nextCall(opts);
      if (c.kv) await backend.executeKv(c.kv.inputs, c.kv.outputs, execOpts(opts.tap));
      else await backend.executePrefill(c.prefill!.inputs, c.prefill!.outputs, execOpts(opts.tap));
      await yieldSometimes();
      return resultOf(c);
    },
    callSync(opts = {}) {
      const b = backend as SyncGraphBackend<C, M, G>;
      if (typeof b.executeKvSync !== "function") throw new Error(`runner session: backend ${backend.name} cannot run synchronously`);
      const c = nextCall(opts);
      if (c.kv) b.executeKvSync(c.kv.inputs, c.kv.outputs, execOpts(opts.tap));
      else b.executePrefillSync(c.prefill!.inputs, c.prefill!.outputs, execOpts(opts.tap));
      return resultOf(c);
    },
    advance,
    adoptCacheInputs(from) {
      const src = from.cache.kvInputs();
      const dst = cache.kvInputs();
      dst.attnMask.set(src.attnMask);
      src.kCaches.forEach((k, i) => dst.kCaches[i].set(k));
      src.vCaches.forEach((v, i) => dst.vCaches[i].set(v));
    },
  };
  return session;
}

/** A kv-mode session (the KV graph alone, positions from 0): calibration, perplexity windows, the quantization report. */
export function createKvSession<C extends CacheArray, M extends MaskArray, G extends LogitsArray>(
  backend: GraphBackend<C, M, G>,
  config: ModelConfig,
  kvSeqLen: number,
  promptTokens: number[],
  kvUpdater: KvUpdater = "smart_mask",
): RunnerSession<C, M, G> {
  return createSession({ backend, config, mode: "kv", kvSeqLen, prefillSeqLen: kvSeqLen, kvUpdater, promptTokens });
}
