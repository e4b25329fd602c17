// Owns generate(): the device runner's generation (SPEC §6) as a driver of the runner session
// (src/runner/session.ts) — the session steps the graphs and the caches; this adds the sampler, the token and
// logits callbacks, and the runner's clock readings, each taken exactly where the device runner takes it.
import type { LogitsArray } from "../engine/backend.js";
import type { CacheArray, KvCacheManager, MaskArray } from "../kvcache/types.js";
import type { Sampler } from "./sampler.js";
import { checkRunShape, createSession, type SessionOptions, type SteppedSession } from "./session.js";
import { createCurrentSession, type Conversation, type CurrentSessionOptions } from "./current-session.js";

export { checkRunShape, createCacheManager, type KvUpdater } from "./session.js";

export interface GenerateOptions<C extends CacheArray = Float32Array, M extends MaskArray = Float32Array, G extends LogitsArray = Float32Array>
  extends SessionOptions<C, M, G> {
  /** The runner's stop set (the tokenizer's EOS, plus <|eot_id|> for Llama 3). */
  stopTokens: readonly number[];
  sampler: Sampler;
  /** Each generated token as soon as it is sampled (the runner's token callback). */
  onToken?: (prev: number, token: number) => void;
  /** The logits row each generated token was sampled from, in order (fp32; codes dequantized). */
  onSampleLogits?: (row: Float32Array) => void;
  /** The logits row of every prompt position 0..n-1, in order. */
  onPromptLogits?: (pos: number, row: Float32Array) => void;
  /** Called after every KV step with the manager and the next position (tests inspect caches here). */
  onKvStep?: (cache: KvCacheManager<C, M>, nextPos: number) => void;
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
  /** Position reached at the end (the runner's `pos`); the device's generated count is finalPos - startPos - n. */
  finalPos: number;
  /** Where this prompt started (a later turn of a conversation starts after the earlier ones; else 0). */
  startPos?: number;
  stoppedOnToken: boolean;
  timings: GenerateTimings;
}

export interface GenerateResultWithCache<C extends CacheArray, M extends MaskArray> extends GenerateResult {
  /** The cache manager at the end (its caches hold the graph's element types; tests read them with readK / readV). */
  cache: KvCacheManager<C, M>;
}

const wallClock = () => performance.timeOrigin + performance.now();

/** The options generate() and generateCurrent() share: sampling, callbacks, clock. */
export type DriverOptions = Pick<GenerateOptions, "sampler" | "onToken" | "onSampleLogits" | "onPromptLogits" | "now"> & {
  promptTokens: readonly number[];
  /** The seed runner's kv-mode clock quirk applies (seed flow, kv mode). */
  seedKvStamps: boolean;
  /** Called after every KV call's advance (seed flow). */
  afterKvStep?: (nextPos: number) => void;
  /** Called with every graph call's whole logits output, in call order (current flow: `--dump_logits_path`). */
  onCallLogits?: (logits: LogitsArray) => void;
};

/** Drives a session to the end: sampling, callbacks and the runner's clock readings (SPEC §6, SPEC-2026 §5). */
async function drive<G extends LogitsArray>(s: SteppedSession<G>, o: DriverOptions, now: () => number, t: GenerateTimings): Promise<void> {
  const n = o.promptTokens.length;
  let firstPrefill = true;
  while (s.phase !== "done") {
    const call = await s.call();
    o.onCallLogits?.(call.logits);
    if (o.seedKvStamps && call.graph === "kv") {
      // Quirk (kept): in kv mode the runner stamps first_token after the graph call at pos == n, i.e. one
      // step after the first generated token was sampled, and prompt_eval_end after the call at n - 1.
      if (call.position === n) t.firstTokenMs = now();
      else if (call.position === n - 1) t.promptEvalEndMs = now();
    }
    if (o.onPromptLogits) {
      if (call.promptLogits) for (const p of call.promptLogits) o.onPromptLogits(p.pos, p.row);
      else if (call.graph === "prefill" && firstPrefill)
        for (let i = 0; i < n; i++) o.onPromptLogits(i, s.io.logitsToFloat(call.logits.subarray(i * call.row.length, (i + 1) * call.row.length) as G));
      else if (call.graph === "kv" && call.position < n) o.onPromptLogits(call.position, call.row);
    }
    firstPrefill = false;
    if (call.lookahead && s.advanceLookahead) {
      // A lookahead call: the session asks for the token of every row it reads, in the device's order (SPEC-2026 §6.4).
      const la = call.lookahead;
      const advances = s.advanceLookahead((slot) => {
        const start = now();
        const tok = o.sampler.sample(la.slotRow(slot));
        t.samplingMs += now() - start;
        return tok;
      });
      for (const a of advances) {
        o.onToken?.(a.prev, a.token);
      }
      continue;
    }
    let sampled = -1;
    if (call.sampled) {
      const start = now();
      sampled = o.sampler.sample(call.row);
      t.samplingMs += now() - start;
    }
    const a = s.advance(sampled);
    if (call.graph === "kv") o.afterKvStep?.(s.pos);
    if (a.emitted) {
      o.onSampleLogits?.(call.row);
      o.onToken?.(a.prev, a.token);
    }
    if (a.promptDone) t.firstTokenMs = t.promptEvalEndMs = now();
  }
}

async function run(s: SteppedSession<LogitsArray>, o: DriverOptions, startPos = 0): Promise<GenerateResult> {
  const now = o.now ?? wallClock;
  const t: GenerateTimings = { inferenceStartMs: now(), promptEvalEndMs: 0, firstTokenMs: 0, inferenceEndMs: 0, samplingMs: 0 };
  await drive(s, o, now, t);
  t.inferenceEndMs = now();
  if (t.promptEvalEndMs === 0) t.promptEvalEndMs = t.inferenceEndMs;
  if (t.firstTokenMs === 0) t.firstTokenMs = t.inferenceEndMs;
  return {
    promptTokens: o.promptTokens.slice(),
    generatedTokens: s.generated.slice(),
    finalPos: s.pos,
    ...(startPos > 0 ? { startPos } : {}),
    stoppedOnToken: s.stoppedOnToken,
    timings: t,
  };
}

/** The seed flow's generation (SPEC §6) on any backend and element types. */
export async function generate<C extends CacheArray = Float32Array, M extends MaskArray = Float32Array, G extends LogitsArray = Float32Array>(
  o: GenerateOptions<C, M, G>,
): Promise<GenerateResultWithCache<C, M>> {
  checkRunShape(o);
  const s = createSession(o);
  const r = await run(s as unknown as SteppedSession<LogitsArray>, { ...o, seedKvStamps: o.mode === "kv", afterKvStep: (p) => o.onKvStep?.(s.cache, p) });
  return { ...r, cache: s.cache };
}

export type GenerateCurrentOptions = CurrentSessionOptions &
  Pick<GenerateOptions, "sampler" | "onToken" | "onSampleLogits" | "onPromptLogits" | "now"> &
  Pick<DriverOptions, "onCallLogits">;

/**
 * The current flow's generation (SPEC-2026 §5): chunked prompt, then decode, on a backend with the AR-N graphs.
 * With a conversation, the turn continues it (SPEC-2026 §7): same cache, positions from where it stopped.
 */
export async function generateCurrent(o: GenerateCurrentOptions, conversation?: Conversation): Promise<GenerateResult> {
  const startPos = conversation?.pos ?? 0;
  return run(createCurrentSession(o, conversation) as SteppedSession<LogitsArray>, { ...o, seedKvStamps: false }, startPos);
}
