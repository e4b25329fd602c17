// Owns the model hyper-parameters (SPEC §1) and the rules that derive the ones a file may leave out.
import { UserError } from "../util/errors.js";
import type { Arch } from "./arch.js";

/** Llama-3 RoPE frequency scaling (SPEC §2). `factor` 0 means no scaling. */
export interface RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContext: number;
}

export interface ModelConfig {
  dim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  /** FFN width (w1/w3 rows, w2 columns). */
  hiddenDim: number;
  /** dim / nHeads for Llama; set apart by some families (Qwen3, Gemma3: `head_dim`). */
  headDim: number;
  normEps: number;
  ropeTheta: number;
  /** Llama-3 scaling applied to the RoPE inverse frequencies, or null for none. */
  ropeScaling: RopeScaling | null;
  /** Longest context the checkpoint declares (llama2.c seq_len, params max_seq_len); informational. */
  maxSeqLen: number;
  /** The family's architecture (src/engine/arch.ts); absent = the Llama body (ropeTheta/ropeScaling for every layer). */
  arch?: Arch;
}

/**
 * FFN width when the file does not give it (SPEC §1, the rule of Meta's and llama2.c's model.py):
 * h = int(2*4*dim/3); with ffn_dim_multiplier h = int(m*h); then round UP to a multiple of multiple_of.
 */
export function ffnHiddenDim(dim: number, multipleOf: number, ffnDimMultiplier?: number | null): number {
  let h = Math.trunc((2 * (4 * dim)) / 3);
  if (ffnDimMultiplier !== undefined && ffnDimMultiplier !== null) h = Math.trunc(ffnDimMultiplier * h);
  return multipleOf * Math.ceil(h / multipleOf);
}

/** Checks the shape invariants every graph relies on; `source` names the file for the error message. */
export function validateConfig(c: ModelConfig, source: string): ModelConfig {
  const positive: (keyof ModelConfig)[] = ["dim", "nLayers", "nHeads", "nKvHeads", "vocabSize", "hiddenDim"];
  for (const k of positive) {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v <= 0) throw new UserError(`${source}: ${k} must be a positive integer, got ${v}`);
  }
  if (!c.arch && c.dim % c.nHeads !== 0) throw new UserError(`${source}: dim ${c.dim} is not divisible by n_heads ${c.nHeads}`);
  if (c.nHeads % c.nKvHeads !== 0)
    throw new UserError(`${source}: n_heads ${c.nHeads} is not a multiple of n_kv_heads ${c.nKvHeads}`);
  if (!c.arch && c.headDim !== c.dim / c.nHeads) throw new UserError(`${source}: head_dim must be dim / n_heads`);
  if (!Number.isInteger(c.headDim) || c.headDim <= 0) throw new UserError(`${source}: head_dim must be a positive integer, got ${c.headDim}`);
  if (c.headDim % 2 !== 0) throw new UserError(`${source}: head_dim ${c.headDim} must be even for RoPE`);
  if (c.arch) {
    const r = c.arch.rotaryDim;
    if (!Number.isInteger(r) || r < 2 || r > c.headDim || r % 2 !== 0) throw new UserError(`${source}: the rotary dims (${r}) must be an even number in [2, head_dim ${c.headDim}]`);
    if (c.arch.layers.length !== c.nLayers) throw new UserError(`${source}: ${c.arch.layers.length} layer descriptions for ${c.nLayers} layers`);
  }
  if (!(c.normEps > 0) || !Number.isFinite(c.normEps)) throw new UserError(`${source}: norm_eps must be > 0`);
  if (!(c.ropeTheta > 0) || !Number.isFinite(c.ropeTheta)) throw new UserError(`${source}: rope_theta must be > 0`);
  return c;
}

/** params.json as Meta and llama2.c write it (the fields SPEC §1 reads). */
export interface ParamsJson {
  dim: number;
  n_layers: number;
  n_heads: number;
  n_kv_heads?: number | null;
  vocab_size?: number;
  multiple_of?: number;
  ffn_dim_multiplier?: number | null;
  hidden_dim?: number | null;
  norm_eps?: number;
  rope_theta?: number;
  use_scaled_rope?: boolean;
  max_seq_len?: number;
}

/**
 * Builds a ModelConfig from parsed params.json. `vocabSize` may come from elsewhere (the weights) when the
 * file lacks it; Meta's Llama 3.2 params set `use_scaled_rope`, which maps to factor 32 (SPEC §2).
 */
export function configFromParams(p: ParamsJson, source: string, fallbackVocab?: number): ModelConfig {
  const need = (k: keyof ParamsJson): number => {
    const v = p[k];
    if (typeof v !== "number") throw new UserError(`${source}: missing or non-numeric "${k}"`);
    return v;
  };
  const dim = need("dim");
  const nHeads = need("n_heads");
  const nKvHeads = p.n_kv_heads ?? nHeads;
  const multipleOf = p.multiple_of ?? 256;
  const hiddenDim = p.hidden_dim ?? ffnHiddenDim(dim, multipleOf, p.ffn_dim_multiplier);
  const vocabSize = p.vocab_size !== undefined && p.vocab_size > 0 ? p.vocab_size : fallbackVocab;
  if (vocabSize === undefined) throw new UserError(`${source}: no vocab_size (and none could be taken from the weights)`);
  return validateConfig(
    {
      dim,
      nLayers: need("n_layers"),
      nHeads,
      nKvHeads,
      vocabSize,
      hiddenDim,
      headDim: dim / nHeads,
      normEps: p.norm_eps ?? 1e-5,
      ropeTheta: p.rope_theta ?? 10000,
      ropeScaling: p.use_scaled_rope
        ? { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192 }
        : null,
      maxSeqLen: p.max_seq_len ?? 2048,
    },
    source,
  );
}
