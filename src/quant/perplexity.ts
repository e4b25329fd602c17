// Owns perplexity of a token sequence under the KV graph, fp32 or quantized (`--ptq`, SPEC §7), driven through
// runner sessions (src/runner/session.ts) on the engine's backend or the quantized simulation's.
//
// Perplexity is teacher-forced: the graph is fed token t at position p and its logits score token t+1 with
// a log-softmax in float64 (the quantized graph's logits are its uint16 codes, dequantized). The static KV
// graph holds at most L = kv_seq_len - 1 positions, so the sequence is cut into consecutive windows of at
// most L tokens; each window restarts the cache (a fresh kv-mode session, positions from 0, fed the window as
// its prompt) and scores its own tokens 1..w-1 only: the first token of every window is context, never scored,
// and no context crosses a window boundary. Windows overlap by one token (window k+1 starts with window k's
// last token) so every token of the sequence but the first is scored exactly once. One pass per graph;
// deterministic.
import type { Model } from "../engine/weights.js";
import type { LogitsArray, SyncGraphBackend } from "../engine/backend.js";
import { createEngineBackend } from "../engine/engine-backend.js";
import type { CacheArray, MaskArray } from "../kvcache/types.js";
import { createKvSession, type KvUpdater } from "../runner/session.js";
import type { QuantEncodings } from "./calibrate.js";
import { createQuantizedBackend } from "./quantized-backend.js";

export type CacheKind = KvUpdater;

/** log softmax(logits)[target] in float64 (max-shifted). */
export function logProb(logits: ArrayLike<number>, target: number): number {
  if (!(target >= 0 && target < logits.length)) throw new RangeError(`token ${target} is outside the vocabulary [0, ${logits.length})`);
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) if (+logits[i] > m) m = +logits[i];
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += Math.exp(+logits[i] - m);
  return +logits[target] - m - Math.log(s);
}

export interface Perplexity {
  /** Tokens scored (every token but the first; see the file header). */
  tokens: number;
  /** Mean negative log-likelihood in nats per scored token. */
  nllMean: number;
  /** exp(nllMean). */
  ppl: number;
}

/** Teacher-forced perplexity of `tokens` on a synchronous KV-graph backend (made once), a fresh session per window. */
export function perplexityOn<C extends CacheArray, M extends MaskArray, G extends LogitsArray>(
  newBackend: () => SyncGraphBackend<C, M, G>,
  model: Model,
  kvSeqLen: number,
  tokens: readonly number[],
  kind: CacheKind = "smart_mask",
): Perplexity {
  if (tokens.length < 2) throw new RangeError(`perplexity: need at least 2 tokens, got ${tokens.length}`);
  const L = kvSeqLen - 1;
  const backend = newBackend();
  if (!(Number.isInteger(L) && L >= 2)) throw new RangeError("perplexity: kv_seq_len must be at least 3 (two cache slots per window)");
  let nll = 0;
  let scored = 0;
  let start = 0;
  while (start < tokens.length - 1) {
    const end = Math.min(start + L, tokens.length); // window tokens[start, end)
    const window = tokens.slice(start, end);
    const s = createKvSession(backend, model.config, kvSeqLen, window, kind);
    for (let p = 0; p < window.length - 1; p++) {
      nll -= logProb(s.callSync().row, window[p + 1]);
      scored++;
      s.advance(window[p + 1]);
    }
    start = end - 1;
  }
  const nllMean = nll / scored;
  return { tokens: scored, nllMean, ppl: Math.exp(nllMean) };
}

/** Perplexity under the fp32 KV graph. */
export function fp32Perplexity(model: Model, kvSeqLen: number, tokens: readonly number[], kind: CacheKind = "smart_mask"): Perplexity {
  return perplexityOn(() => createEngineBackend({ model, kvSeqLen }), model, kvSeqLen, tokens, kind);
}

/**
 * Perplexity under the quantized KV graph (dequantized logits codes). Caches start as zero bytes, as the
 * managers (and the seed runner) allocate them.
 */
export function quantPerplexity(model: Model, qenc: QuantEncodings, kvSeqLen: number, tokens: readonly number[], kind: CacheKind = "smart_mask"): Perplexity {
  return perplexityOn(() => createQuantizedBackend({ model, qenc, kvSeqLen, fillZeroPoint: false }), model, kvSeqLen, tokens, kind);
}
