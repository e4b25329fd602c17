// Owns `--quantized_model FILE` of run and eval (current flow): opening a quantized model file
// (src/quant/current/quantized-model-file.ts) as the run's model and backend — the integer kernel made first, split over
// --threads, so the file's codes go straight into it — and the run's attention variants checked against the ones the
// file was calibrated with. `--save_quantized FILE` (writing one) is in run.ts beside --dump_encodings.
import type { Model } from "../engine/weights.js";
import { openQuantizedModelBackend, type CurrentQuantizedBackend } from "../quant/current/quantized-backend.js";
import { UserError } from "../util/errors.js";
import type { RunArgs } from "./args.js";
import { currentArLens } from "./lookahead-options.js";

export interface OpenedQuantizedModel {
  /** The model of the file: its config, small fp32 tensors and placeholder conv weights (for the session). */
  model: Model;
  backend: CurrentQuantizedBackend;
  /** The run's flags with --masked_softmax / --r3 set to the file's (what its graphs compute). */
  args: RunArgs;
  /** The checkpoint format of the run's stats. */
  format: string;
}

/** Opens `a.quantizedModel` for the run's graphs (AR lengths, context length, arithmetic, threads). */
export async function openRunQuantizedModel(a: RunArgs): Promise<OpenedQuantizedModel> {
  const path = a.quantizedModel!;
  const { backend, loaded } = await openQuantizedModelBackend(path, { contextLen: a.contextLen, arLens: currentArLens(a), arithmetic: a.quantArithmetic, threads: a.threads });
  const att = loaded.encodings.attention;
  const onOff = (b: boolean) => (b ? "on" : "off");
  for (const [flag, given, file] of [["masked_softmax", a.maskedSoftmax, att.maskedSoftmax], ["r3", a.r3, att.r3]] as const)
    if (given !== undefined && given !== file) {
      backend.dispose();
      throw new UserError(`--${flag} ${onOff(given)}: the quantized model ${path} was calibrated with --${flag} ${onOff(file)}`);
    }
  return { model: loaded.model, backend, args: { ...a, maskedSoftmax: att.maskedSoftmax, r3: att.r3 }, format: "quantized model" };
}
