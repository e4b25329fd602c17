// Owns the current flow's runner (SPEC-2026 §5) as a stepwise session, beside the seed flow's
// (src/runner/session.ts): the prompt processor feeds the prompt in ceil(n/AR) chunks through the AR-N graph
// (kv mode: one token per call through the AR = 1 graph), then the token generator decodes one token per call —
// or, in lookahead mode (SPEC-2026 §6, src/runner/lookahead.ts), one lookahead step of AR_tg = next_pow2((W+G)(N−1))
// rows per call — all over the SPEC-2026 §4 KV manager (src/kvcache/current-kv-manager.ts). One graph call at a time:
//     call()                   the next AR-N call (a prompt chunk, a decode step or a lookahead step) on the backend
//     advance(token)           the token sampled from the call's row (only the last chunk and decode steps are sampled)
//     advanceLookahead(pick)   after a lookahead call: the tokens it accepts, `pick(slot)` sampling each row it reads
// Quirks of the current runner reproduced here are marked "quirk". fp32 graphs only for now (0 / −255 mask).
import type { Backend } from "../engine/backend.js";
import { slidingWindowOf } from "../engine/arch.js";
import type { ModelConfig } from "../engine/config.js";
import type { TapFn } from "../engine/decoder.js";
import { createCurrentKvManager, iotaMap, type CurrentKvLayerIO, type CurrentKvManager } from "../kvcache/current-kv-manager.js";
import { UserError } from "../util/errors.js";
import { checkPromptIds, createYielder, MAX_RUN_BUFFER_BYTES, type Advance, type CallResult, type SteppedSession } from "./session.js";
import {
  checkLookaheadParams,
  createLookaheadState,
  initLookahead,
  lookaheadAccept,
  lookaheadFeed,
  lookaheadLayout,
  type LookaheadFeed,
  type LookaheadParams,
  type LookaheadState,
} from "./lookahead.js";

export type CurrentMode = "kv" | "hybrid" | "lookahead";

export interface CurrentSessionOptions {
  /** A backend with the AR-N graphs (executeAr) for AR_pp and 1. */
  backend: Backend;
  config: ModelConfig;
  mode: CurrentMode;
  /** CL: --max_context_len. */
  contextLen: number;
  /** AR_pp: --prefill_ar_len (hybrid; kv mode feeds the prompt through the AR = 1 graph). */
  prefillArLen: number;
  /** --max_seq_len: the runner's seq_len, clamped to CL. */
  maxSeqLen: number;
  /** The prompt ids of this turn as fed (BOS included when the tokenizer added it). */
  promptTokens: number[];
  stopTokens?: readonly number[];
  /**
   * SPEC-2026 §9: the sampler reads a quantized graph's logits as raw codes, `(float)code`, not dequantized
   * (default true, as the current runner; false samples the dequantized values as the seed runner did). Only
   * matters when the backend reports a logits encoding (`logitsEncoding`); float logits are sampled as they are.
   */
  sampleRawCodes?: boolean;
  /** Lookahead mode (SPEC-2026 §6): N, W, G, the semantics, and the seed of the branch initialisation (qnn: glibc rand). */
  lookahead?: LookaheadParams & { seed: number };
}

/** The codes behind dequantized logits `scale·(code + offset)`: round(x / scale − offset), as floats (the sampler's row). */
export function rawLogitCodes(row: Float32Array, enc: { scale: number; offset: number }): Float32Array {
  const out = new Float32Array(row.length);
  for (let i = 0; i < row.length; i++) out[i] = Math.round(row[i] / enc.scale - enc.offset);
  return out;
}

/**
 * What persists across the turns of a conversation (SPEC-2026 §7): the KV manager (the cache is never cleared),
 * the runner's cur_pos, and the prompt processor's token buffer (its stale rows carry over too).
 */
export interface Conversation {
  readonly kv: CurrentKvManager<Float32Array, Float32Array>;
  readonly promptTokens: Int32Array;
  /** cur_pos_: tokens in the cache; the next turn starts here (BOS only when it is 0). */
  pos: number;
  /** Lookahead mode: the generator's branches, pool and fed-slot buffers, which persist across turns (SPEC-2026 §6.3). */
  lookahead?: { state: LookaheadState; tokens: Int32Array; positions: Int32Array; arLen: number; offsets: number[]; parentMap: number[] };
}

export function createConversation(o: Pick<CurrentSessionOptions, "config" | "mode" | "contextLen" | "prefillArLen" | "lookahead">): Conversation {
  const c = o.config;
  const arPrompt = o.mode === "kv" ? 1 : o.prefillArLen;
  let lookahead: Conversation["lookahead"];
  if (o.mode === "lookahead") {
    if (!o.lookahead) throw new Error("lookahead mode needs its parameters");
    checkLookaheadParams(o.lookahead, o.contextLen);
    const lay = lookaheadLayout(o.lookahead);
    lookahead = { state: createLookaheadState(o.lookahead, c.vocabSize), tokens: new Int32Array(lay.arLen), positions: new Int32Array(lay.arLen), ...lay };
  }
  return {
    lookahead,
    kv: createCurrentKvManager({
      nLayers: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim, contextLen: o.contextLen, arPrefill: arPrompt, arDecode: lookahead?.arLen ?? 1,
      // Gemma3's HybridCache: a window mask beside the causal one (SPEC-2026 §8.4).
      ...(slidingWindowOf(c.arch) === null ? {} : { slidingWindow: slidingWindowOf(c.arch)! }),
    }),
    promptTokens: new Int32Array(arPrompt),
    pos: 0,
  };
}

/** The checks of the current runner and llama.py; failures are the user's (exit code 2). */
export function checkCurrentShape(
  o: Pick<CurrentSessionOptions, "config" | "mode" | "contextLen" | "prefillArLen" | "maxSeqLen" | "promptTokens" | "lookahead">,
  start = 0,
): void {
  const { contextLen: CL, prefillArLen: AR, maxSeqLen } = o;
  if (!(Number.isInteger(CL) && CL >= 2)) throw new UserError(`--max_context_len must be an integer >= 2, got ${CL}`);
  if (!(Number.isInteger(AR) && AR >= 1)) throw new UserError(`--prefill_ar_len must be an integer >= 1, got ${AR}`);
  if (o.mode !== "kv" && AR > CL) throw new UserError(`${o.mode} mode needs --max_context_len (${CL}) >= --prefill_ar_len (${AR})`);
  if (o.mode !== "kv" && AR === CL)
    throw new UserError(`--prefill_ar_len ${AR} equal to --max_context_len gives a cache-less prompt graph, which this golden model does not run`);
  if (!(Number.isInteger(maxSeqLen) && maxSeqLen >= 2)) throw new UserError(`--max_seq_len must be an integer >= 2, got ${maxSeqLen}`);
  if (maxSeqLen > CL) throw new UserError(`--max_seq_len ${maxSeqLen} is larger than --max_context_len ${CL} (llama.py requires max_context_len >= max_seq_len)`);
  const c = o.config;
  const ar0 = o.mode === "kv" ? 1 : AR;
  // KV buffers (§4.1: in and out, K and V, per layer), the masks, the logits and the prompt graph's activations.
  const bytes =
    4 * (c.nLayers * 2 * c.nKvHeads * c.headDim * (CL - 1 + ar0) + (ar0 + 1) * CL + (ar0 + 1) * c.vocabSize + ar0 * (CL + 4 * c.dim + 3 * c.hiddenDim + 2 * c.nHeads * c.headDim));
  if (bytes > MAX_RUN_BUFFER_BYTES)
    throw new UserError(`--max_context_len ${CL}: the graph buffers would take ${(bytes / 2 ** 30).toFixed(1)} GiB, over the ${MAX_RUN_BUFFER_BYTES / 2 ** 30} GiB limit`);
  checkPromptIds(o.promptTokens, o.config.vocabSize);
  const n = o.promptTokens.length;
  const ar = o.mode === "kv" ? 1 : AR;
  // The runner aborts unless cur_pos + n < seq_len; the prompt processor needs start + n <= CL - AR.
  const at = start > 0 ? ` after ${start} tokens of conversation` : "";
  if (!(start + n < Math.min(maxSeqLen, CL)))
    throw new UserError(`the prompt has ${n} tokens${at} but --max_seq_len ${maxSeqLen} takes at most ${Math.min(maxSeqLen, CL) - 1 - start}`);
  if (start + n > CL - ar)
    throw new UserError(`the prompt has ${n} tokens${at} but --max_context_len ${CL} with an AR of ${ar} holds at most ${CL - ar - start} (start + n <= CL - AR)`);
  if (o.mode === "lookahead" && o.lookahead) {
    checkLookaheadParams(o.lookahead, CL);
    // The runner has no such guard (SPEC-2026 §6.6-9): rearrange_cache(AR_tg) would drop cache slots of the prompt.
    const arTg = lookaheadLayout(o.lookahead).arLen;
    if (start + n > CL - arTg)
      throw new UserError(`the prompt has ${n} tokens${at} but the lookahead graph (AR ${arTg}) keeps only ${CL - arTg - start} cache slots for it (start + n <= CL - AR_tg)`);
  }
}

/** The window mask input of a call, when the model has one. */
const windowOf = (io: { windowMask?: Float32Array }): { windowMask?: Float32Array } => (io.windowMask ? { windowMask: io.windowMask } : {});

/** A current-flow turn as parity drives it: reruns into fresh outputs and lock-step cache adoption. */
export interface CurrentSession extends SteppedSession<Float32Array> {
  /** The KV manager (shared with the conversation). */
  readonly kv: CurrentKvManager<Float32Array, Float32Array>;
  /** `fresh`: outputs go to newly allocated arrays, so a rerun (parity's bisection) leaves the KV buffers untouched. */
  call(opts?: { tap?: TapFn; fresh?: boolean }): Promise<CallResult<Float32Array, Float32Array>>;
  /** Overwrites the next call's cache inputs (mask, every layer's K and V in) with another session's (parity's lock-step). */
  adoptCacheInputs(from: CurrentSession): void;
  /** Lookahead mode: after a lookahead call (CallResult.lookahead), accepts its tokens; `pick(slot)` is the token of a slot's row. */
  advanceLookahead(pick: (slot: number) => number): Advance[];
  /** Lookahead mode: graph calls and tokens accepted per call over the conversation. */
  readonly lookaheadStats?: { calls: number; accepted: number[]; nAccept: number };
}

/** One turn; pass the conversation of the earlier turns to continue it (its position and cache move on). */
export function createCurrentSession(o: CurrentSessionOptions, conversation: Conversation = createConversation(o)): CurrentSession {
  checkCurrentShape(o, conversation.pos);
  const { backend, config, mode } = o;
  const executeAr = backend.executeAr?.bind(backend);
  if (!executeAr) throw new UserError(`the ${backend.name} backend does not run the current flow's AR-N graphs yet`);
  const CL = o.contextLen;
  const arPrompt = mode === "kv" ? 1 : o.prefillArLen;
  const prompt = o.promptTokens.slice();
  const n = prompt.length;
  const V = config.vocabSize;
  const stops = new Set(o.stopTokens ?? []);
  // seq_len = min(--max_seq_len, CL) (SPEC-2026 §5.1); the decode loop runs while pos < seq_len - 1.
  const seqLen = Math.min(o.maxSeqLen, CL);
  const kv = conversation.kv;
  const generated: number[] = [];
  const start = conversation.pos;
  const chunks = 1 + Math.floor((n - 1) / arPrompt);
  let phase: "prompt" | "decode" | "done" = "prompt";
  let chunk = 0;
  let pos = start;
  let cur = prompt[0];
  let stoppedOnToken = false;

  // The prompt processor's token buffer keeps its rows between chunks: padding rows of the last chunk hold the
  // previous chunk's tokens (quirk, SPEC-2026 §5.2; zero on first use).
  const promptTokens = conversation.promptTokens;
  const promptPos = new Int32Array(arPrompt);
  const promptLogits = new Float32Array(arPrompt * V);
  const decodeToken = new Int32Array(1);
  const decodePos = new Int32Array(1);
  const decodeLogits = new Float32Array(V);
  kv.rearrangeCache(arPrompt);
  kv.initAttentionMask(iotaMap(arPrompt), arPrompt, start);

  const rowOf = (logits: Float32Array, r: number) => logits.subarray(r * V, (r + 1) * V);
  // The row the sampler reads (SPEC-2026 §9): raw codes when the graph's logits are quantized, unless turned off.
  const logitsEncoding = o.sampleRawCodes === false ? undefined : backend.logitsEncoding?.bind(backend);
  const samplerRow = (row: Float32Array, ar: number): Float32Array => {
    const enc = logitsEncoding?.(ar);
    return enc ? rawLogitCodes(row, enc) : row;
  };
  const yieldSometimes = createYielder();

  const la = conversation.lookahead;
  const sw = slidingWindowOf(config.arch);
  // Lookahead: the window mask's offsets are the slots' position offsets (SPEC-2026 §6.2, §4.4-§4.5).
  const laWindow = la && sw !== null ? { size: sw, offsets: la.offsets } : undefined;
  const laRoomLeft = () => {
    if (!la) return true;
    // generic semantics: never start a step whose accepted tokens might not all get their K/V written.
    return la.state.params.semantics === "qnn" || pos + la.state.params.ngram <= CL - la.arLen;
  };
  const startDecode = () => {
    if (la) {
      kv.rearrangeCache(la.arLen);
      kv.initAttentionMask(la.parentMap, la.arLen, pos, laWindow);
      initLookahead(la.state, [...prompt, cur], o.lookahead!.seed);
    } else {
      kv.rearrangeCache(1);
      kv.initAttentionMask(iotaMap(1), 1, pos);
    }
    setPhase(pos < seqLen - 1 && laRoomLeft() ? "decode" : "done");
  };
  let lastFeed: LookaheadFeed | undefined;
  let lastLogits: Float32Array | undefined;
  // The conversation goes on from the last fed position: the last sampled token is never fed (SPEC-2026 §7).
  const setPhase = (p: typeof phase) => {
    phase = p;
    if (p === "done") conversation.pos = pos;
  };

  /** The graph outputs of a call: the KV manager's out buffers (or fresh copies of their shape) and `logits`. */
  const outputsFor = (layers: CurrentKvLayerIO<Float32Array>[], logits: Float32Array, fresh: boolean) =>
    fresh
      ? { logits: new Float32Array(logits.length), kOut: layers.map((l) => new Float32Array(l.kOut.length)), vOut: layers.map((l) => new Float32Array(l.vOut.length)) }
      : { logits, kOut: layers.map((l) => l.kOut), vOut: layers.map((l) => l.vOut) };

  const call = async (opts: { tap?: TapFn; fresh?: boolean } = {}): Promise<CallResult<Float32Array, Float32Array>> => {
    const execOpts = opts.tap ? { tap: opts.tap } : undefined;
    const fresh = opts.fresh ?? false;
    if (phase === "prompt") {
      const base = chunk * arPrompt;
      for (let i = 0; i < arPrompt; i++) {
        promptPos[i] = start + base + i;
        if (base + i < n) promptTokens[i] = prompt[base + i];
      }
      const io = kv.graphIO();
      const layers = io.layers;
      const out = outputsFor(layers, promptLogits, fresh);
      await executeAr(
        arPrompt,
        { tokens: promptTokens, attnMask: io.mask, ...windowOf(io), inputPos: promptPos, kCaches: layers.map((l) => l.kIn), vCaches: layers.map((l) => l.vIn) },
        out,
        execOpts,
      );
      await yieldSometimes();
      const real = Math.min(arPrompt, n - base);
      const last = chunk === chunks - 1;
      // The next token comes from row (n + AR − 1) mod AR of the last chunk: the last real row.
      const sampledRow = (n + arPrompt - 1) % arPrompt;
      return {
        graph: arPrompt === 1 ? "kv" : "prefill",
        position: start + base + real - 1,
        logits: out.logits,
        rowCount: real,
        kOut: out.kOut,
        vOut: out.vOut,
        row: last ? samplerRow(rowOf(out.logits, sampledRow), arPrompt) : rowOf(out.logits, real - 1),
        sampled: last,
        promptLogits: Array.from({ length: real }, (_, i) => ({ pos: start + base + i, row: rowOf(out.logits, i) })),
      };
    }
    if (phase === "decode" && la) {
      // One lookahead step (SPEC-2026 §6.4): the written slots get their token and position, the others keep theirs.
      const feed = lookaheadFeed(la.state, cur, pos);
      for (const [slot, [tok, at]] of feed.writes) {
        la.tokens[slot] = tok;
        la.positions[slot] = at;
      }
      const io = kv.graphIO();
      const layers = io.layers;
      const logits = fresh ? new Float32Array(la.arLen * V) : (lastLogits ??= new Float32Array(la.arLen * V));
      const out = outputsFor(layers, logits, fresh);
      await executeAr(
        la.arLen,
        { tokens: la.tokens, attnMask: io.mask, ...windowOf(io), inputPos: la.positions, kCaches: layers.map((l) => l.kIn), vCaches: layers.map((l) => l.vIn) },
        out,
        execOpts,
      );
      await yieldSometimes();
      if (!fresh) lastFeed = feed;
      const slotRow = (slot: number) => samplerRow(rowOf(out.logits, slot), la.arLen);
      return {
        graph: "kv", position: pos, token: cur, logits: out.logits, rowCount: la.arLen, kOut: out.kOut, vOut: out.vOut,
        row: slotRow(0), sampled: true, lookahead: { slotRow, writes: feed.writes.size, branches: feed.branches.length },
      };
    }
    if (phase === "decode") {
      decodeToken[0] = cur;
      decodePos[0] = pos;
      const io = kv.graphIO();
      const layers = io.layers;
      const out = outputsFor(layers, decodeLogits, fresh);
      await executeAr(
        1,
        { tokens: decodeToken, attnMask: io.mask, ...windowOf(io), inputPos: decodePos, kCaches: layers.map((l) => l.kIn), vCaches: layers.map((l) => l.vIn) },
        out,
        execOpts,
      );
      await yieldSometimes();
      return { graph: "kv", position: pos, token: cur, logits: out.logits, rowCount: 1, kOut: out.kOut, vOut: out.vOut, row: samplerRow(out.logits, 1), sampled: true };
    }
    throw new Error("runner session: already finished");
  };

  const advance = (sampled: number): Advance => {
    if (phase === "prompt") {
      const last = chunk === chunks - 1;
      const shifted = start + chunk * arPrompt;
      const nUpdate = last ? 1 + ((n - 1) % arPrompt) : arPrompt;
      kv.updateCache(arPrompt, shifted, nUpdate);
      kv.updateAttentionMask(arPrompt, shifted, nUpdate);
      chunk += 1;
      if (!last) return { prev: cur, token: prompt[chunk * arPrompt], emitted: false, stopped: false, promptDone: false };
      // Quirk (as the seed runner): the token sampled from the prompt is not checked against the stop set.
      const prev = prompt[n - 1];
      pos = start + n;
      cur = sampled;
      generated.push(cur);
      startDecode();
      return { prev, token: cur, emitted: true, stopped: false, promptDone: true };
    }
    if (phase === "decode") {
      const prev = cur;
      cur = sampled;
      kv.updateCache(1, pos, 1);
      kv.updateAttentionMask(1, pos, 1);
      pos += 1;
      generated.push(cur);
      const stop = stops.has(cur);
      if (stop) {
        stoppedOnToken = true;
        setPhase("done");
      } else if (pos >= seqLen - 1) setPhase("done");
      return { prev, token: cur, emitted: true, stopped: stop, promptDone: false };
    }
    throw new Error("runner session: already finished");
  };

  /** Lookahead: accepts a step's tokens (§6.4), `pick(slot)` choosing the token of a slot's row; copies the K/V of the selected slots. */
  const advanceLookahead = (pick: (slot: number) => number): Advance[] => {
    if (!la || phase !== "decode" || !lastFeed) throw new Error("runner session: no lookahead call to advance from");
    const st = la.state;
    const p0 = pos;
    const maxTokens = st.params.semantics === "generic" ? seqLen - 1 - pos : Infinity;
    const acc = lookaheadAccept(st, cur, lastFeed, pick, stops, maxTokens);
    lastFeed = undefined;
    const n = acc.emitted.length;
    st.stats.calls += 1;
    st.stats.accepted.push(n);
    const advances: Advance[] = acc.emitted.map(([prev, token]) => ({ prev, token, emitted: true, stopped: stops.has(token), promptDone: false }));
    for (const [, t] of acc.emitted) generated.push(t);
    cur = acc.emitted[n - 1][1];
    pos += n;
    if (acc.stopped) stoppedOnToken = true;
    // Quirk (§6.6-7): past CL − AR the runner stops before the cache update, still counting the tokens.
    if (pos > CL - la.arLen) {
      setPhase("done");
      return advances;
    }
    const selected = new Array<boolean>(la.arLen).fill(false);
    for (const slot of acc.selected) selected[slot] = true;
    kv.updateCache(la.arLen, p0, n, selected);
    kv.updateAttentionMask(la.arLen, p0, n, laWindow);
    if (acc.stopped || pos >= seqLen - 1 || !laRoomLeft()) setPhase("done");
    return advances;
  };

  return {
    advanceLookahead,
    get lookaheadStats() {
      return la?.state.stats;
    },
    get phase() {
      return phase;
    },
    get pos() {
      return pos;
    },
    generated,
    get stoppedOnToken() {
      return stoppedOnToken;
    },
    io: { logitsToFloat: (row: Float32Array) => row },
    kv,
    call,
    advance,
    adoptCacheInputs(from) {
      const a = kv.graphIO();
      const b = from.kv.graphIO();
      if (a.ar !== b.ar || a.mask.length !== b.mask.length || a.layers.length !== b.layers.length)
        throw new Error(`runner session: cannot adopt the cache inputs of a session at AR ${b.ar} into one at AR ${a.ar}`);
      a.mask.set(b.mask);
      if (a.windowMask && b.windowMask) a.windowMask.set(b.windowMask);
      a.layers.forEach((l, i) => {
        l.kIn.set(b.layers[i].kIn);
        l.vIn.set(b.layers[i].vIn);
      });
    },
  };
}
