// Owns Hugging Face `config.json` (LlamaForCausalLM): hyper-parameters, and the RoPE settings from either
// `rope_scaling` (older transformers) or `rope_parameters` (newer), mapped onto the engine's ModelConfig.
import { validateConfig, type ModelConfig, type RopeScaling } from "../engine/config.js";
import { oneLine, UserError } from "../util/errors.js";
import { readUserFile } from "../util/files.js";

export interface HfConfig {
  config: ModelConfig;
  tieWordEmbeddings: boolean;
}

const num = (o: Record<string, unknown>, k: string, path: string, dflt?: number): number => {
  const v = o[k];
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new UserError(`config ${path}: missing "${k}"`);
  }
  if (typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`config ${path}: "${k}" must be a number, got ${JSON.stringify(v)}`);
  return v;
};

/** Llama-3 scaling from a rope_scaling / rope_parameters object, or null for none (default/linear-free). */
function ropeFrom(r: Record<string, unknown> | undefined, path: string): RopeScaling | null {
  if (!r) return null;
  const type = (r.rope_type ?? r.type ?? "default") as string;
  if (type === "default") return null;
  if (type !== "llama3") throw new UserError(`config ${path}: RoPE type ${JSON.stringify(type)} is not supported (only llama3 scaling or none)`);
  return {
    factor: num(r, "factor", path),
    lowFreqFactor: num(r, "low_freq_factor", path),
    highFreqFactor: num(r, "high_freq_factor", path),
    originalContext: num(r, "original_max_position_embeddings", path),
  };
}

export function parseHfConfig(text: string, path: string): HfConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`config ${path}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new UserError(`config ${path}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  const mt = o.model_type;
  if (mt !== undefined && mt !== "llama") throw new UserError(`config ${path}: model_type ${JSON.stringify(mt)} is not a Llama model`);
  for (const b of ["attention_bias", "mlp_bias"]) if (o[b] === true) throw new UserError(`config ${path}: ${b} is set; biases are not supported`);
  const act = o.hidden_act;
  if (act !== undefined && act !== "silu") throw new UserError(`config ${path}: hidden_act ${JSON.stringify(act)} is not supported (silu only)`);
  const dim = num(o, "hidden_size", path);
  const nHeads = num(o, "num_attention_heads", path);
  const params = (o.rope_parameters ?? undefined) as Record<string, unknown> | undefined;
  const scaling = (o.rope_scaling ?? undefined) as Record<string, unknown> | undefined;
  const ropeTheta = num(o, "rope_theta", path, params ? num(params, "rope_theta", path, 10000) : 10000);
  const headDim = num(o, "head_dim", path, dim / nHeads);
  if (headDim !== dim / nHeads) throw new UserError(`config ${path}: head_dim ${headDim} differs from hidden_size / num_attention_heads (${dim / nHeads}); not supported`);
  const config = validateConfig(
    {
      dim,
      nLayers: num(o, "num_hidden_layers", path),
      nHeads,
      nKvHeads: num(o, "num_key_value_heads", path, nHeads),
      vocabSize: num(o, "vocab_size", path),
      hiddenDim: num(o, "intermediate_size", path),
      headDim,
      normEps: num(o, "rms_norm_eps", path, 1e-5),
      ropeTheta,
      ropeScaling: ropeFrom(scaling ?? params, path),
      maxSeqLen: num(o, "max_position_embeddings", path, 2048),
    },
    `config ${path}`,
  );
  return { config, tieWordEmbeddings: o.tie_word_embeddings === true };
}

export function readHfConfig(path: string): HfConfig {
  return parseHfConfig(new TextDecoder().decode(readUserFile(path, "config")), path);
}
