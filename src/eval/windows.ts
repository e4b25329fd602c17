// Owns how `eval` cuts a document's tokens into windows, each scored in a fresh session (issue 18). Two windowings:
//
// - "kv" — upstream's perplexity evaluator: the device evaluator is an lm-eval model whose max_length is
//   max_seq_len − 1 (pytorch/executorch, examples/qualcomm/oss_scripts/llama/evaluator/device_evaluator.py:679),
//   each model call a fresh runner in kv mode (`--eval_mode 0`, `--tokenized_prompt`, :688-697), and lm-eval's
//   `loglikelihood_rolling` cuts a document into rolling windows with context length 1 (lm_eval.utils
//   get_rolling_token_windows + make_disjoint_window). With L the window length and t the document's tokens
//   (encoded with no BOS, eager_eval.py:73-74), the first window feeds [prefix] + t[0 .. L−2] and scores all of its
//   L rows (t[0 .. L−1]); every later window predicts the next min(L, rest) tokens, feeding the L tokens that end
//   just before its last target, and scores only its last rows. The prefix token is the tokenizer's BOS, or its
//   EOS when it has none (lm-eval's prefix_token_id, eager_eval.py:52-55). Every token of the document is scored
//   exactly once; a window never sees more than L tokens.
// - "prefill" — non-overlapping prefill chunks (this project's second measure, for hybrid-mode devices): the
//   sequence [prefix] + t is cut into consecutive chunks of K tokens, each fed as the prompt of a fresh session
//   (the prefill graph, AR_pp rows per call); row j of a chunk scores the chunk's token j + 1, so the first token of
//   every chunk is context only and never scored, and no context crosses a chunk boundary. It scores
//   len(t) + 1 − (number of chunks) tokens, fewer than "kv" and with less context on average: the two are different
//   measurements and are reported under their own names.

export type Windowing = "kv" | "prefill";
export const WINDOWINGS: readonly Windowing[] = ["kv", "prefill"];

/** One window: the tokens fed (from position 0 of a fresh session) and which rows are scored. */
export interface Window {
  /** Document offset of `fed[0]` in the sequence [prefix] + t (0 = the prefix token). */
  start: number;
  fed: number[];
  /** Rows scoreFrom .. fed.length − 1 are scored; row j scores targets[j − scoreFrom]. */
  scoreFrom: number;
  targets: number[];
}

/** lm-eval's rolling windows (context length 1) of the document tokens `t`, window length L (file header). */
export function rollingWindows(t: readonly number[], prefix: number, L: number): Window[] {
  if (!(Number.isSafeInteger(L) && L >= 1)) throw new RangeError(`window length must be a positive integer (got ${L})`);
  const out: Window[] = [];
  if (t.length === 0) return out;
  const first = Math.min(L, t.length);
  out.push({ start: 0, fed: [prefix, ...t.slice(0, first - 1)], scoreFrom: 0, targets: t.slice(0, first) });
  let predicted = first;
  while (predicted < t.length) {
    const pred = Math.min(t.length - predicted, L);
    const end = predicted + pred;
    // Input t[end − L − 1 .. end − 2]: with a full window before it the slice starts at end − L − 1 ≥ 0.
    const from = Math.max(0, end - L - 1);
    const fed = t.slice(from, end - 1);
    out.push({ start: from + 1, fed, scoreFrom: fed.length - pred, targets: t.slice(end - pred, end) });
    predicted = end;
  }
  return out;
}

/** Non-overlapping chunks of K tokens of [prefix] + t (file header); a last chunk of one token scores nothing and is dropped. */
export function prefillChunks(t: readonly number[], prefix: number, K: number): Window[] {
  if (!(Number.isSafeInteger(K) && K >= 2)) throw new RangeError(`chunk length must be an integer >= 2 (got ${K})`);
  const seq = [prefix, ...t];
  const out: Window[] = [];
  for (let s = 0; s + 1 < seq.length; s += K) {
    const fed = seq.slice(s, s + K);
    out.push({ start: s, fed, scoreFrom: 0, targets: [...fed.slice(1)] });
  }
  // Row fed.length − 1 of a chunk has no target inside the chunk: its targets are one shorter than its rows.
  return out;
}

/** The windows of a document under a windowing. */
export function windowsOf(w: Windowing, t: readonly number[], prefix: number, length: number): Window[] {
  return w === "kv" ? rollingWindows(t, prefix, length) : prefillChunks(t, prefix, length);
}
