// Owns lookahead decoding as the current Qualcomm runner does it (SPEC-2026 §6, `runner/lhd_token_generator.cpp` at
// executorch cff6f4dd): the slot layout and positions (§6.1), the parent map fed to the mask initialisation (§6.2), the
// state — lookahead branches L[N-1][W], prev[W] and the n-gram pool (§6.3) —, and one step's verification, acceptance,
// branch shift and pool update (§6.4). The KV copy of the accepted slots and the masks are the KV manager's
// (src/kvcache/current-kv-manager.ts); the session (src/runner/current-session.ts) drives the graph calls.
//
// Semantics. "qnn" (default) reproduces the device runner, quirks included (§6.6); "generic" follows the generic
// `static_attention.py:lookahead_decode` where they differ:
//   1. n-gram key of column 0: qnn prev[0] (the old L[0][0], never fed); generic the token fed in slot 0 (cur).
//   2. initialisation: qnn L[i][j] = tokens[1 + rand() % (len − 1)] with glibc's rand() (src/runner/glibc-rand.ts)
//      seeded by --seed, else 1 (the device never calls srand); generic: every slot the first generated token.
//   3. verification: qnn the first active branch at each level among the cnt[cur] written ones; generic the branch with
//      the strictly longest match (first on ties), its slots copied as one run. Generic reads argmax (the static code's
//      sampler, quirk 5): it is greedy only.
//   4. pool: qnn a ring buffer per key (physical order, head wraps); generic a FIFO (oldest first).
//   6. stop: both stop at a stop token at any level (the static code's truncation gives the same tokens).
//   7. length: qnn stops when p > CL − AR before the cache update (so its count includes tokens whose K/V were never
//      written) and may pass seq_len − 1 by up to N − 1 tokens; generic stops before a step that could not write all
//      its accepted tokens (p + N > CL − AR) and never passes seq_len − 1.
// Only branches g < cnt[cur] are written each step; unwritten slots keep their previous token and position (§6.1).
// The parent map has (W+G)(N−1) entries; the device reads it for all AR = next_pow2((W+G)(N−1)) rows (quirk 8, out of
// bounds when that is not a power of two). Here the map always has AR entries, padding rows −1 (past only; a note says
// so), and the KV manager refuses a map shorter than AR instead of reading past it.
import { UserError } from "../util/errors.js";
import { glibcRand } from "./glibc-rand.js";

export type LookaheadSemantics = "qnn" | "generic";

export interface LookaheadParams {
  /** N (--ngram): n-gram size, >= 2. */
  ngram: number;
  /** W (--window): lookahead window, >= 1. */
  window: number;
  /** G (--gcap): verification branches, >= 0. */
  gcap: number;
  semantics: LookaheadSemantics;
}

/** next_pow2(n) = 2^ceil(log2 n) (llama.py's next_power_of_two). */
export const nextPow2 = (n: number): number => 2 ** Math.ceil(Math.log2(n));

/** AR of the lookahead decode graph: next_pow2((W+G)(N−1)). */
export const lookaheadArLen = (p: Pick<LookaheadParams, "ngram" | "window" | "gcap">): number => nextPow2((p.window + p.gcap) * (p.ngram - 1));

/** Checks N, W, G (and CL against AR, as llama.py requires CL > AR): UserErrors naming the flag. */
export function checkLookaheadParams(p: LookaheadParams, contextLen?: number): void {
  const int = (v: number) => Number.isInteger(v);
  if (!int(p.ngram) || p.ngram < 2) throw new UserError(`--ngram must be an integer >= 2, got ${p.ngram}`);
  if (!int(p.window) || p.window < 1) throw new UserError(`--window must be an integer >= 1, got ${p.window}`);
  if (!int(p.gcap) || p.gcap < 0) throw new UserError(`--gcap must be an integer >= 0, got ${p.gcap}`);
  const ar = lookaheadArLen(p);
  if (contextLen !== undefined && !(contextLen > ar))
    throw new UserError(`lookahead needs --max_context_len > next_pow2((W+G)(N-1)) = ${ar}, got ${contextLen}`);
}

/**
 * The note for N, W, G whose (W+G)(N−1) is not a power of two (SPEC-2026 §6.6-8): the device reads its attention map
 * past its end for the padding rows (undefined behaviour); here they get parent −1 (past only), and since a padding
 * row is never selected the tokens do not depend on it. Null when there is no padding.
 */
export function lookaheadPaddingNote(p: Pick<LookaheadParams, "ngram" | "window" | "gcap">): string | null {
  const used = (p.window + p.gcap) * (p.ngram - 1);
  const ar = lookaheadArLen(p);
  if (used === ar) return null;
  return `note: lookahead (W+G)(N-1) = ${used} < AR ${ar}: the device runner reads its attention map out of bounds for the ${ar - used} padding rows (undefined behaviour, SPEC-2026 §6.6-8); here they attend the past only and are never accepted`;
}

/** Slot layout: the position offset of every slot from p (§6.1; padding slots 0) and the parent map (§6.2). */
export function lookaheadLayout(p: Pick<LookaheadParams, "ngram" | "window" | "gcap">): { arLen: number; used: number; offsets: number[]; parentMap: number[] } {
  const { ngram: N, window: W, gcap: G } = p;
  const arLen = lookaheadArLen(p);
  const used = (W + G) * (N - 1);
  const offsets = new Array<number>(arLen).fill(0);
  const parentMap = new Array<number>(arLen).fill(-1);
  for (let i = 0; i < N - 1; i++)
    for (let j = 0; j < W; j++) {
      offsets[i * W + j] = i + j;
      parentMap[i * W + j] = i === 0 ? j - 1 : (i - 1) * W + j;
    }
  for (let g = 0; g < G; g++)
    for (let j = 0; j < N - 1; j++) {
      const s = W * (N - 1) + g * (N - 1) + j;
      offsets[s] = 1 + j;
      parentMap[s] = j === 0 ? 0 : s - 1;
    }
  return { arLen, used, offsets, parentMap };
}

/** The n-gram pool: per key token t, up to G n-grams of N−1 tokens. */
export interface NgramPool {
  cnt: Int32Array;
  head: Int32Array;
  /** tok[(t·G + g)·(N−1) + j]. */
  tok: Int32Array;
  /** Generic semantics: insertion order per key (oldest first), as slot indices. */
  order: Int32Array;
}

export interface LookaheadState {
  params: LookaheadParams;
  /** L[i][j] at i·W + j, i < N−1. */
  L: Int32Array;
  prev: Int32Array;
  pool: NgramPool;
  initialised: boolean;
  /** Statistics over the whole conversation. */
  stats: { calls: number; accepted: number[]; nAccept: number };
}

export function createLookaheadState(params: LookaheadParams, vocabSize: number): LookaheadState {
  const { ngram: N, window: W, gcap: G } = params;
  return {
    params,
    L: new Int32Array((N - 1) * W),
    prev: new Int32Array(W),
    pool: { cnt: new Int32Array(vocabSize), head: new Int32Array(vocabSize), tok: new Int32Array(vocabSize * Math.max(G, 1) * (N - 1)), order: new Int32Array(vocabSize * Math.max(G, 1)) },
    initialised: false,
    stats: { calls: 0, accepted: [], nAccept: 0 },
  };
}

/**
 * First-call initialisation (§6.3): qnn L[i][j] = tokens[1 + rand() % (len − 1)] in (i, j) order with glibc rand()
 * seeded by `seed`; generic every L entry = the last token (the first generated one).
 */
export function initLookahead(st: LookaheadState, tokens: readonly number[], seed: number): void {
  if (st.initialised) return;
  const { ngram: N, window: W } = st.params;
  if (st.params.semantics === "qnn") {
    const rand = glibcRand(seed);
    const n = tokens.length;
    for (let i = 0; i < N - 1; i++) for (let j = 0; j < W; j++) st.L[i * W + j] = tokens[n > 1 ? 1 + (rand() % (n - 1)) : 0];
  } else st.L.fill(tokens[tokens.length - 1]);
  st.initialised = true;
}

/** The n-grams of `key` in the order the verification reads them (qnn: physical ring order; generic: oldest first). */
export function poolBranches(st: LookaheadState, key: number): number[][] {
  const { ngram: N, gcap: G } = st.params;
  const c = st.pool.cnt[key];
  const out: number[][] = [];
  for (let k = 0; k < c; k++) {
    const g = st.params.semantics === "qnn" ? k : st.pool.order[key * G + k];
    const base = (key * G + g) * (N - 1);
    out.push(Array.from(st.pool.tok.subarray(base, base + N - 1)));
  }
  return out;
}

/** Adds an n-gram under `key` unless present (§6.4's pool update; qnn ring, generic FIFO). */
export function poolAdd(st: LookaheadState, key: number, ngram: readonly number[]): void {
  const { ngram: N, gcap: G } = st.params;
  if (G === 0) return;
  const p = st.pool;
  for (let g = 0; g < p.cnt[key]; g++) {
    const base = (key * G + g) * (N - 1);
    let same = true;
    for (let j = 0; j < N - 1 && same; j++) same = p.tok[base + j] === ngram[j];
    if (same) return;
  }
  const g = p.head[key];
  p.tok.set(ngram, (key * G + g) * (N - 1));
  if (st.params.semantics === "generic") {
    // FIFO order: a full deque drops its oldest (the slot being overwritten), the new one goes last.
    const ord = p.order.subarray(key * G, key * G + G);
    const c = p.cnt[key];
    const list = Array.from(ord.subarray(0, c)).filter((x) => x !== g);
    list.push(g);
    ord.set(list);
  }
  p.cnt[key] = Math.min(G, p.cnt[key] + 1);
  p.head[key] = (p.head[key] + 1) % G;
}

/** One step's fed rows: the tokens and positions of the written slots (others keep theirs), and the verification branches. */
export interface LookaheadFeed {
  /** Slot → [token, position] for the slots written this step. */
  writes: Map<number, [number, number]>;
  /** B[g] = [cur, n-gram...] for the gc written branches, in verification order. */
  branches: number[][];
}

export function lookaheadFeed(st: LookaheadState, cur: number, p: number): LookaheadFeed {
  const { ngram: N, window: W } = st.params;
  const writes = new Map<number, [number, number]>();
  writes.set(0, [cur, p]);
  for (let j = 1; j < W; j++) writes.set(j, [st.L[j], p + j]);
  for (let i = 1; i < N - 1; i++) for (let j = 0; j < W; j++) writes.set(i * W + j, [st.L[i * W + j], p + i + j]);
  const branches = poolBranches(st, cur).map((ng) => [cur, ...ng]);
  branches.forEach((b, g) => {
    for (let j = 0; j < N - 1; j++) writes.set(W * (N - 1) + g * (N - 1) + j, [b[j + 1], p + 1 + j]);
  });
  return { writes, branches };
}

/** What a step accepted: the tokens in order (the first from slot 0), the slots whose K/V are kept, and a stop. */
export interface LookaheadAccept {
  /** [prev, token] per accepted token, as the runner emits them. */
  emitted: [number, number][];
  /** Selected slots in ascending order (their K/V go to cache slots p0 .. p0+n−1). */
  selected: number[];
  stopped: boolean;
}

/**
 * §6.4's acceptance over one call's logits: `sampleRow(slot)` samples the row of a slot (the runner's sampler; called
 * in the device's order: slot 0, the W last-level rows, then one per accepted level). Updates L, prev and the pool.
 * `maxTokens` caps the accepted count (generic semantics: never past seq_len − 1).
 */
export function lookaheadAccept(
  st: LookaheadState,
  cur0: number,
  feed: LookaheadFeed,
  sampleRow: (slot: number) => number,
  stops: ReadonlySet<number>,
  maxTokens = Infinity,
): LookaheadAccept {
  const { ngram: N, window: W, semantics } = st.params;
  const gc = feed.branches.length;
  const B = feed.branches;
  const slotOf = (g: number, v: number) => W * (N - 1) + g * (N - 1) + v - 1;
  const emitted: [number, number][] = [];
  const selected: number[] = [];
  let cur = cur0;
  let stopped = false;
  const active = new Array<boolean>(gc).fill(true);
  let chosen = -1; // generic: the branch of the longest match
  for (let v = 0; v < N; v++) {
    let idx: number;
    if (v === 0) idx = 0;
    else {
      let g = -1;
      if (semantics === "qnn") g = active.findIndex((a) => a);
      else if (chosen >= 0 && active[chosen]) g = chosen;
      if (g < 0) break;
      st.stats.nAccept += 1;
      idx = slotOf(g, v);
    }
    if (emitted.length >= maxTokens) break;
    selected.push(idx);
    const prevTok = cur;
    cur = sampleRow(idx);
    emitted.push([prevTok, cur]);
    if (stops.has(cur)) {
      stopped = true;
      break;
    }
    for (let g = 0; g < gc; g++) if (active[g] && (v === N - 1 || cur !== B[g][v + 1])) active[g] = false;
    if (v === 0) {
      if (semantics === "generic") {
        // The strictly longest match (first on ties), judged on the rows' argmax (the sampler here is greedy).
        let best = 0;
        for (let g = 0; g < gc; g++) {
          if (!active[g]) continue;
          let m = 1;
          while (m < N - 1 && sampleRow(slotOf(g, m)) === B[g][m + 1]) m++;
          if (m > best) {
            best = m;
            chosen = g;
          }
        }
      }
      const prevL = st.L.slice(0, W);
      const key0 = semantics === "qnn" ? prevL[0] : cur0; // quirk 1
      st.L.copyWithin(0, W);
      for (let i = 0; i < W; i++) st.L[(N - 2) * W + i] = sampleRow((N - 2) * W + i);
      for (let f = 0; f < W; f++) {
        const ng = Array.from({ length: N - 1 }, (_, i) => st.L[i * W + f]);
        poolAdd(st, f === 0 ? key0 : prevL[f], ng);
      }
      st.prev.set(prevL);
    }
  }
  selected.sort((a, b) => a - b);
  return { emitted, selected, stopped };
}

/** The statistics users tune N, W and G by (human output and `--json` stats.lookahead). */
export interface LookaheadSummary {
  ngram: number;
  window: number;
  gcap: number;
  semantics: LookaheadSemantics;
  ar_len: number;
  graph_calls: number;
  tokens: number;
  tokens_per_call: number;
  /** Calls by the number of tokens they accepted (1..N). */
  accepted_per_call: Record<string, number>;
  /** Verified tokens beyond the first of each call, over the most possible ((N−1) per call). */
  acceptance_rate: number;
  tokens_per_second: number;
}

export function lookaheadSummary(st: LookaheadState, seconds: number): LookaheadSummary {
  const { ngram: N, window: W, gcap: G, semantics } = st.params;
  const calls = st.stats.calls;
  const tokens = st.stats.accepted.reduce((a, b) => a + b, 0);
  const hist: Record<string, number> = {};
  for (let k = 1; k <= N; k++) hist[String(k)] = 0;
  for (const a of st.stats.accepted) hist[String(a)] = (hist[String(a)] ?? 0) + 1;
  return {
    ngram: N,
    window: W,
    gcap: G,
    semantics,
    ar_len: lookaheadArLen(st.params),
    graph_calls: calls,
    tokens,
    tokens_per_call: calls > 0 ? tokens / calls : 0,
    accepted_per_call: hist,
    acceptance_rate: calls > 0 && N > 1 ? (tokens - calls) / (calls * (N - 1)) : 0,
    tokens_per_second: seconds > 0 ? tokens / seconds : 0,
  };
}

/** The human report's lookahead lines. */
export function lookaheadLines(s: LookaheadSummary): string[] {
  const hist = Object.entries(s.accepted_per_call).map(([k, v]) => `${k}:${v}`).join(" ");
  return [
    `\tLookahead (N=${s.ngram} W=${s.window} G=${s.gcap}, ${s.semantics}, AR ${s.ar_len}): ${s.graph_calls} graph calls for ${s.tokens} tokens (${s.tokens_per_call.toFixed(3)} per call)`,
    `\t\taccepted per call ${hist}    acceptance rate ${s.acceptance_rate.toFixed(4)}    ${s.tokens_per_second.toFixed(2)} tokens/second`,
  ];
}
