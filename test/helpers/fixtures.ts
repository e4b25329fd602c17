// Test helpers: paths of the shipped model and reference fixtures, and small loaders for them.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import { loadModel } from "../../src/loaders/index.js";
import { loadLlama2cTokenizer } from "../../src/tokenizer/llama2c-bin.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MODEL_BIN = join(ROOT, "models", "stories260K.bin");
export const TOKENIZER_BIN = join(ROOT, "models", "tok512.bin");
export const FIXTURES = join(ROOT, "test", "fixtures");

export const loadStories260K = () => loadModel({ checkpoint: MODEL_BIN }).model;
export const loadTok512 = () => loadLlama2cTokenizer(TOKENIZER_BIN, 512);

export interface Llama2cCase {
  id: string;
  prompt: string;
  steps: number;
  stdout: string;
  prompt_tokens: number[];
  generated_tokens: number[];
  logits_first8: Record<string, number[]>;
  /** [margin, position]: the smallest top-2 logit margin at a sampled position, and that position. */
  min_top2_margin_at_sampled_positions: [number, number];
}

export function llama2cCases(): Llama2cCase[] {
  return JSON.parse(readFileSync(join(FIXTURES, "stories260K_llama2c_greedy.json"), "utf8")).cases;
}

export interface HfCase {
  id: string;
  prompt: string;
  prompt_tokens: number[];
  shape: [number, number];
  logits: Float64Array;
  greedy_hf_f64: number[];
}

export function hfCases(): HfCase[] {
  const d = JSON.parse(readFileSync(join(FIXTURES, "stories260K_hf_logits.json"), "utf8"));
  return d.cases.map((c: Record<string, unknown>) => {
    const b = Buffer.from(c.logits_f64_b64 as string, "base64");
    const copy = new Uint8Array(b); // aligned copy
    return { ...c, logits: new Float64Array(copy.buffer, 0, copy.length / 8) } as HfCase;
  });
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

export const bitsEqual = (a: Float32Array, b: Float32Array): boolean =>
  a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
