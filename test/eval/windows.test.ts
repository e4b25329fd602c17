// The eval windowings against a plain transcription of lm-eval's rolling windows (lm_eval.utils
// get_rolling_token_windows + make_disjoint_window, context_len 1), written here from their published definition.
import { describe, expect, it } from "vitest";
import { prefillChunks, rollingWindows } from "../../src/eval/windows.js";

/** lm-eval: (context, continuation) pairs; the model is fed (context + continuation)[:-1] and scores the continuation. */
function lmEvalPairs(tokens: number[], prefix: number, maxSeqLen: number, contextLen = 1): [number[], number[]][] {
  const out: [number[], number[]][] = [];
  if (tokens.length === 0) return out;
  const predLen = maxSeqLen - contextLen + 1;
  let predicted = 0;
  const firstSeqLen = Math.min(maxSeqLen, tokens.length);
  out.push([[prefix, ...tokens.slice(0, firstSeqLen - 1)], tokens.slice(0, firstSeqLen)]);
  predicted += firstSeqLen;
  while (predicted < tokens.length) {
    const windowPredLen = Math.min(tokens.length - predicted, predLen);
    const windowEnd = predicted + windowPredLen;
    out.push([tokens.slice(windowEnd - maxSeqLen - 1, windowEnd - 1), tokens.slice(windowEnd - windowPredLen, windowEnd)]);
    predicted += windowPredLen;
  }
  // make_disjoint_window: context a[: len(a) - (len(b) - 1)]
  return out.map(([a, b]) => [a.slice(0, a.length - (b.length - 1)), b]);
}

describe("rolling windows (kv windowing)", () => {
  for (const [n, L] of [[1, 4], [4, 4], [5, 4], [9, 4], [12, 4], [13, 5], [100, 7], [3, 1], [10, 1]] as const) {
    it(`match lm-eval's disjoint rolling windows for ${n} tokens, L = ${L}`, () => {
      const t = Array.from({ length: n }, (_, i) => 100 + i);
      const mine = rollingWindows(t, 1, L);
      const theirs = lmEvalPairs(t, 1, L);
      expect(mine.length).toBe(theirs.length);
      mine.forEach((w, k) => {
        const [a, b] = theirs[k];
        const fed = [...a, ...b].slice(0, -1);
        expect(w.fed).toEqual(fed);
        expect(w.targets).toEqual(b);
        // Scored rows are the last len(b) rows of the fed tokens.
        expect(w.scoreFrom + w.targets.length).toBe(w.fed.length);
        expect(w.fed.length).toBeLessThanOrEqual(L);
      });
      // Every token scored exactly once, in order.
      expect(mine.flatMap((w) => w.targets)).toEqual(t);
    });
  }
  it("an empty document has no windows", () => expect(rollingWindows([], 1, 4)).toEqual([]));
});

describe("prefill chunks", () => {
  it("cut [prefix] + t into non-overlapping chunks whose first token is context only", () => {
    const t = [10, 11, 12, 13, 14, 15, 16];
    const w = prefillChunks(t, 1, 3);
    expect(w.map((x) => x.fed)).toEqual([[1, 10, 11], [12, 13, 14], [15, 16]]);
    expect(w.map((x) => x.targets)).toEqual([[10, 11], [13, 14], [16]]);
    expect(w.map((x) => x.start)).toEqual([0, 3, 6]);
    // Scored: len(t) + 1 - chunks.
    expect(w.flatMap((x) => x.targets).length).toBe(t.length + 1 - w.length);
  });
  it("drop a last chunk of one token (nothing to score)", () => {
    expect(prefillChunks([10, 11, 12], 1, 2).map((x) => x.fed)).toEqual([[1, 10], [11, 12]]);
    expect(prefillChunks([10, 11, 12, 13], 1, 2).map((x) => x.fed)).toEqual([[1, 10], [11, 12]]);
  });
});
