// Owns reading params.json (Meta / llama2.c hyper-parameters) into the ParamsJson shape, with clear errors.
import type { ParamsJson } from "../engine/config.js";
import { oneLine, UserError } from "../util/errors.js";

const NUMERIC = ["dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "multiple_of", "ffn_dim_multiplier",
  "hidden_dim", "norm_eps", "rope_theta", "max_seq_len"] as const;

/** Parses params.json text; unknown keys are ignored, known keys must have the right type. */
export function parseParamsJson(text: string, path: string): ParamsJson {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new UserError(`params ${path}: not valid JSON (${oneLine((e as Error).message)})`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    throw new UserError(`params ${path}: expected a JSON object`);
  const o = raw as Record<string, unknown>;
  for (const k of NUMERIC) {
    const v = o[k];
    if (v !== undefined && v !== null && (typeof v !== "number" || !Number.isFinite(v)))
      throw new UserError(`params ${path}: "${k}" must be a number, got ${JSON.stringify(v)}`);
  }
  for (const k of ["dim", "n_layers", "n_heads"] as const)
    if (typeof o[k] !== "number") throw new UserError(`params ${path}: missing "${k}"`);
  if (o.use_scaled_rope !== undefined && typeof o.use_scaled_rope !== "boolean")
    throw new UserError(`params ${path}: "use_scaled_rope" must be true or false`);
  return o as unknown as ParamsJson;
}
