// Test helper for the current flow's quantization (src/quant/current/): the two test models with their tokenizers,
// calibration on a text, and two comparisons of a quantized backend with the fp32 engine on the current runner —
// free-running greedy decoding (where the token streams first differ) and teacher forcing along the fp32 greedy
// path (per-step logits SQNR and top-1 agreement).
import { join } from "node:path";
import { readFileSync } from "node:fs";
import type { Backend } from "../../src/engine/backend.js";
import type { Model } from "../../src/engine/weights.js";
import { createEngineBackend } from "../../src/engine/engine-backend.js";
import { loadModel } from "../../src/loaders/index.js";
import { loadTokenizer } from "../../src/tokenizer/index.js";
import type { Tokenizer } from "../../src/tokenizer/types.js";
import { createCurrentSession, type CurrentMode } from "../../src/runner/current-session.js";
import { generateCurrent } from "../../src/runner/generate.js";
import { createSampler } from "../../src/runner/sampler.js";
import { calibrationSequences } from "../../src/quant/calibration-data.js";
import { builtinRecipe, resolveRecipe, withCliOverrides, type CurrentScheme } from "../../src/quant/current/recipe.js";
import { calibrateCurrent } from "../../src/quant/current/calibrate.js";
import type { CurrentEncodings } from "../../src/quant/current/encodings.js";
import { currentQuantizedBackend } from "../../src/quant/current/quantized-backend.js";
import { FIXTURES, loadStories260K, ROOT, TOKENIZER_BIN } from "./fixtures.js";
import { TINY_PARAMS, TINY_PTH } from "./tiny-llama3.js";
import { sqnrDb } from "./sqnr.js";

export interface QuantModelCase {
  id: string;
  model: Model;
  tok: Tokenizer;
  /** Prompt ids (BOS first), folded into the vocabulary. */
  prompt: number[];
  /** Text -> ids with BOS, folded. */
  encode: (s: string, bos: boolean) => number[];
  recipe: string;
}

const fold = (ids: number[], V: number) => ids.map((t) => t % V);

export async function quantModels(): Promise<QuantModelCase[]> {
  const stories = loadStories260K();
  const tok512 = await loadTokenizer(TOKENIZER_BIN, { expectedVocabSize: 512 });
  const tiny = loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model;
  const tik = await loadTokenizer(join(FIXTURES, "tiktoken_small.model"));
  const V = tiny.config.vocabSize;
  return [
    { id: "stories260K", model: stories, tok: tok512, prompt: tok512.encode("Once upon a time", { bos: true }), encode: (s, bos) => tok512.encode(s, { bos }), recipe: "stories260k" },
    {
      id: "tiny_llama3",
      model: tiny,
      tok: tik,
      prompt: fold(tik.encode("what is 1+1", { bos: true }), V),
      encode: (s, bos) => fold(tik.encode(s, { bos }), V),
      recipe: "llama3_2-1b_instruct",
    },
  ];
}

/** The repository's evaluation story (data/eval.txt), a calibration text. */
export const EVAL_TEXT = () => readFileSync(join(ROOT, "data", "eval.txt"), "utf8");

export function calibrateCase(m: QuantModelCase, o: { CL: number; scheme?: CurrentScheme; groupSize?: number; recipe?: string; texts?: string[]; seqMse?: number; r3?: boolean; maskedSoftmax?: boolean }): CurrentEncodings {
  const recipe = withCliOverrides(builtinRecipe(o.recipe ?? m.recipe)!, { scheme: o.scheme, groupSize: o.groupSize });
  const sequences = calibrationSequences(o.texts ?? [EVAL_TEXT()], m.encode, o.CL);
  return calibrateCurrent(m.model, resolveRecipe(recipe, m.model), { contextLen: o.CL, sequences, seqMseCandidates: o.seqMse ?? 0, attention: { r3: o.r3, maskedSoftmax: o.maskedSoftmax } });
}

/**
 * calibrateCase in `scheme`, except that stories260K's 16a4w_block takes LPBQ blocks of 4: its widths (64, 172) have no
 * larger common block, so the integer kernel's plain fallback (blocks that are not a multiple of 8) is exercised there.
 */
export const calibrateSchemeCase = (m: QuantModelCase, CL: number, scheme: CurrentScheme): CurrentEncodings =>
  calibrateCase(m, { CL, scheme, ...(scheme === "16a4w_block" && m.id === "stories260K" ? { groupSize: 4 } : {}) });

export interface RunShape {
  mode: CurrentMode;
  CL: number;
  AR: number;
  maxSeqLen: number;
}

/** Greedy tokens of a backend on the current runner. */
export async function greedy(b: Backend, m: QuantModelCase, s: RunShape): Promise<number[]> {
  const r = await generateCurrent({
    backend: b,
    config: m.model.config,
    mode: s.mode,
    contextLen: s.CL,
    prefillArLen: s.AR,
    maxSeqLen: s.maxSeqLen,
    promptTokens: m.prompt,
    sampler: createSampler({ vocabSize: m.model.config.vocabSize, temperature: 0, seed: 1n }),
  });
  return r.generatedTokens;
}

export const fp32Backend = (m: QuantModelCase, s: RunShape, attention?: { maskedSoftmax?: boolean; r3?: boolean }): Backend =>
  createEngineBackend({ model: m.model, contextLen: s.CL, arLens: s.mode === "kv" ? [1] : [1, s.AR], attention });

export const quantBackend = (m: QuantModelCase, enc: CurrentEncodings, s: RunShape) =>
  currentQuantizedBackend(m.model, enc, { contextLen: s.CL, arLens: s.mode === "kv" ? [1] : [1, s.AR] });

/** Index of the first differing token (the common length when one list is a prefix of the other). */
export function firstDifference(a: readonly number[], b: readonly number[]): number {
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
}

const argmax = (a: Float32Array) => a.reduce((best, x, i) => (x > a[best] ? i : best), 0);

/**
 * Both backends teacher-forced along the fp32 greedy path: per sampled step the logits SQNR of the quantized values
 * against fp32 and whether their argmax agrees; `reference` is that path (fp32's greedy tokens, first maximum).
 */
export async function teacherForced(q: Backend, f: Backend, m: QuantModelCase, s: RunShape): Promise<{ sqnr: number[]; agree: boolean[]; reference: number[] }> {
  const mk = (b: Backend) =>
    createCurrentSession({ backend: b, config: m.model.config, mode: s.mode, contextLen: s.CL, prefillArLen: s.AR, maxSeqLen: s.maxSeqLen, promptTokens: m.prompt, sampleRawCodes: false });
  const a = mk(q);
  const b = mk(f);
  const sqnr: number[] = [];
  const agree: boolean[] = [];
  const reference: number[] = [];
  while (b.phase !== "done") {
    const cf = await b.call();
    const cq = await a.call();
    let tok = -1;
    if (cf.sampled) {
      tok = argmax(cf.row);
      reference.push(tok);
      sqnr.push(sqnrDb(cq.row, cf.row));
      agree.push(argmax(cq.row) === tok);
    }
    b.advance(tok);
    a.advance(tok);
  }
  return { sqnr, agree, reference };
}
