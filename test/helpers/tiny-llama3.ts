// Test helper: the tiny Llama 3.2-architecture model fixtures and their float64 Hugging Face reference.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { FIXTURES } from "./fixtures.js";

export const TINY_DIR = join(FIXTURES, "tiny_llama3");
export const TINY_PTH = join(TINY_DIR, "consolidated.00.pth");
export const TINY_PARAMS = join(TINY_DIR, "params.json");
export const TINY_HF_DIR = join(TINY_DIR, "hf");

export interface TinyCase {
  tokens: number[];
  shape: [number, number];
  logits: Float64Array;
  unscaled: Float64Array;
  hf_vs_meta_maxabs: number;
}

const f64 = (b64: string) => {
  const b = new Uint8Array(Buffer.from(b64, "base64"));
  return new Float64Array(b.buffer, 0, b.length / 8);
};

export function tinyReference(): { cases: TinyCase[]; greedyPrompt: number[]; greedy: number[] } {
  const d = JSON.parse(readFileSync(join(FIXTURES, "tiny_llama3_hf_logits.json"), "utf8"));
  return {
    cases: d.cases.map((c: Record<string, unknown>) => ({
      tokens: c.tokens,
      shape: c.shape,
      logits: f64(c.logits_f64_b64 as string),
      unscaled: f64(c.unscaled_rope_logits_f64_b64 as string),
      hf_vs_meta_maxabs: c.hf_vs_meta_maxabs,
    })),
    greedyPrompt: d.greedy_prompt,
    greedy: d.greedy_hf_f64,
  };
}
