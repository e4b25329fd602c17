// Owns choosing the model family of a command line (SPEC-2026 §2.2): `--decoder_model NAME` (upstream's names),
// else `--llama_model`, else inferred from the checkpoint's config; the family must match the checkpoint's
// architecture. Also the attention defaults it implies (masked softmax, R3), which --masked_softmax / --r3 override.
import type { ModelConfig } from "../engine/config.js";
import { familyOfDecoderModel, FAMILIES, inferFamily, type LlamaModel, type ModelFamily } from "../runner/model-family.js";
import { UserError } from "../util/errors.js";
import { requirePlainLlama } from "../engine/arch.js";

export interface FamilyFlags {
  /** The seed flow's graphs run the Llama architecture only: a family model is refused there. */
  flow?: "seed" | "current";
  decoderModel?: string;
  llamaModel?: LlamaModel;
  maskedSoftmax?: boolean;
  r3?: boolean;
}

export function familyFor(a: FamilyFlags, c: ModelConfig): ModelFamily {
  if (a.flow === "seed") requirePlainLlama(c, "the seed flow (f965746a; use --flow current)");
  let fam: ModelFamily;
  if (a.decoderModel !== undefined) {
    const f = familyOfDecoderModel(a.decoderModel);
    if (!f) throw new UserError(`--decoder_model ${a.decoderModel}: not a model family llama-golden knows`);
    fam = f;
  } else fam = FAMILIES[a.llamaModel ?? inferFamily(c)];
  const have = c.arch?.modelType ?? "llama";
  if (fam.modelType !== have) {
    const flag = a.decoderModel !== undefined ? `--decoder_model ${a.decoderModel}` : `--llama_model ${fam.name}`;
    throw new UserError(`${flag} is a ${fam.modelType} model, but the checkpoint's config.json says model_type ${have}`);
  }
  return fam;
}

/** The attention variants of a run: the flags, else the family's exported defaults (SPEC-2026 §2.2). */
export function attentionFor(a: FamilyFlags, fam: ModelFamily): { maskedSoftmax: boolean; r3: boolean } {
  return { maskedSoftmax: a.maskedSoftmax ?? fam.maskedSoftmax, r3: a.r3 ?? fam.r3 };
}
