// Owns the run command's seed-flow `--ptq` setup: which simulation a set of flags selects, the calibration
// tokens, and the seed's own quantized graphs (src/quant/seed/) — calibrate as the seed does, convert, and run
// the converted graphs on integer codes (or the fp32 fake-quant oracle) as a backend. 16a8w, 16a16w, --recipe
// and --encodings select the older tap-level simulation (src/quant/qgraph.ts), which is an experiment: the seed
// has no such schemes, and the tap-level graph does not quantize every tensor the device does.
import type { BackendInit } from "../engine/backend.js";
import type { Model } from "../engine/weights.js";
import type { Tokenizer } from "../tokenizer/types.js";
import type { ModelFamily } from "../runner/model-family.js";
import { foldIds } from "../runner/prompt.js";
import { UserError } from "../util/errors.js";
import { readUserText } from "../util/files.js";
import { serializeEncodings } from "../quant/encodings-file.js";
import { createSeedQuantBackend, type SeedQuantBackend } from "../quant/seed/backend.js";
import { seedEncodingsFile } from "../quant/seed/encodings-file.js";
import { seedPtq } from "../quant/seed/ptq.js";
import { SEED_SCHEMES, type SeedScheme } from "../quant/seed/qspecs.js";
import type { RunArgs } from "./args.js";

const isSeedScheme = (p: string | undefined): boolean => p !== undefined && (SEED_SCHEMES as readonly string[]).includes(p);

/**
 * True when the flags run the seed's own quantized graphs: a seed scheme without the tap-level experiment's
 * flags (--recipe, --encodings, --quant_sim taps). Flags that contradict each other are a UserError.
 */
export function usesSeedGraphs(a: RunArgs): boolean {
  if (a.ptq === undefined && a.recipe === undefined) return false;
  const tapOnly = a.recipe !== undefined ? "--recipe" : a.encodings !== undefined ? "--encodings" : !isSeedScheme(a.ptq) ? `--ptq ${a.ptq}` : undefined;
  if (a.quantSim === "seed" && tapOnly) throw new UserError(`--quant_sim seed runs the seed's schemes (8a8w, 16a4w, 16a4w_block) only; ${tapOnly} is the tap-level experiment (--quant_sim taps)`);
  const seed = tapOnly === undefined && a.quantSim !== "taps";
  if (!seed && a.quantArithmetic === "fake") throw new UserError("--quant_arithmetic applies to the seed's converted graphs (--quant_sim seed); the tap-level experiment is fp32 fake-quant only");
  if (!seed && a.groupSize !== undefined) throw new UserError("--group_size applies to the seed's converted graphs (--ptq 16a4w_block, --quant_sim seed)");
  return seed;
}

/** The stderr note of a tap-level experiment run, or undefined. */
export function experimentNote(a: RunArgs): string | undefined {
  if (a.ptq === undefined && a.recipe === undefined) return undefined;
  if (usesSeedGraphs(a)) return undefined;
  const why = a.recipe !== undefined ? "--recipe" : a.encodings !== undefined ? "--encodings" : a.quantSim === "taps" ? "--quant_sim taps" : `--ptq ${a.ptq}`;
  const not = a.ptq !== undefined && !isSeedScheme(a.ptq) ? ` (${a.ptq} is not a seed scheme)` : "";
  return `note: ${why} runs the tap-level quantization experiment${not}, not the seed's converted graph: only the engine's taps are quantized (docs/quantization.md)`;
}

/** Calibration tokens: the raw prompt (no chat template) or --calib_text's text, BOS first, cut to the graphs. */
export function calibrationTokens(a: RunArgs, model: Model, tok: Tokenizer | undefined, fam: ModelFamily, prompt: number[]): number[] {
  let calib: number[];
  if (a.calibText !== undefined) {
    const text = readUserText(a.calibText, "--calib_text");
    if (!tok) throw new UserError("--calib_text needs a tokenizer (--tokenizer_bin / --tokenizer_model)");
    calib = [fam.bos, ...tok.encode(text)];
  } else if (tok && a.tokenizedPrompt === undefined) {
    calib = [fam.bos, ...tok.encode(a.prompt)];
  } else {
    calib = prompt.slice();
  }
  calib = foldIds(calib, model.config.vocabSize, a.foldVocab);
  // The prefill graph calibrates on the same token list in hybrid mode, so it must fit P = prefill_seq_len - 1.
  calib = calib.slice(0, a.modelMode === "hybrid" ? Math.min(a.kvSeqLen, a.prefillSeqLen) - 1 : a.kvSeqLen - 1);
  const V = model.config.vocabSize;
  calib.forEach((t, i) => {
    if (t < 0 || t >= V) throw new UserError(`calibration token ${i} is ${t}, outside the model's vocabulary [0, ${V}) (see --fold_vocab)`);
  });
  return calib;
}

export interface SeedQuantSetup {
  backend: SeedQuantBackend;
  /** The --dump_encodings text. */
  encodingsText: () => string;
  /** stderr notes (8a8w's mask and logits dtypes). */
  notes: string[];
}

/** Checks 16a4w_block's --group_size against the model (the rest of the flags are checked by the arguments parser). */
function checkGroupSize(a: RunArgs, model: Model): void {
  if (a.groupSize === undefined) return;
  if (a.ptq !== "16a4w_block") throw new UserError(`--group_size is the block length of --ptq 16a4w_block (got --ptq ${a.ptq})`);
  const c = model.config;
  const widths = [c.dim, c.nHeads * c.headDim, c.hiddenDim];
  if (!widths.some((w) => w % a.groupSize! === 0))
    throw new UserError(`--group_size ${a.groupSize} divides no conv input width of this model (${[...new Set(widths)].join(", ")}): every conv would stay per-channel`);
}

/** Calibrates and converts the seed graphs for `--ptq SCHEME` and returns them as a backend. */
export function seedQuantSetup(
  a: RunArgs,
  model: Model,
  fam: ModelFamily,
  calib: number[],
  eos: number,
  init: BackendInit,
  onProgress?: (done: number, total: number) => void,
): SeedQuantSetup {
  if (a.modelMode === "prefill") throw new UserError("--ptq supports kv and hybrid (got --model_mode prefill)");
  if (a.dumpPromptLogits !== undefined) throw new UserError("--dump_prompt_logits is not supported with --ptq");
  checkGroupSize(a, model);
  const scheme = a.ptq as SeedScheme;
  const hybrid = a.modelMode === "hybrid";
  onProgress?.(0, hybrid ? 2 : 1);
  const ptq = seedPtq(model, {
    scheme,
    mode: a.modelMode as "kv" | "hybrid",
    kvSeqLen: a.kvSeqLen,
    prefillSeqLen: hybrid ? a.prefillSeqLen : undefined,
    promptTokens: calib,
    eosId: eos,
    updater: a.kvUpdater,
    // annotate_linear_16a8w_in_affine_layer runs for `--llama_model stories110m`, the seed's only choice for a
    // llama2.c / SentencePiece model (SPEC 7.1); Llama 3 models do not get it.
    storiesLmHead: fam.name !== "llama3_2",
  });
  onProgress?.(hybrid ? 2 : 1, hybrid ? 2 : 1);
  const backend = createSeedQuantBackend({ ...init, ptq, arithmetic: a.quantArithmetic, blockSize: a.groupSize });
  const notes: string[] = [];
  if (scheme === "8a8w") {
    const m = backend.io!.mask === Uint8Array ? "uint8 (s = 1, zp 255)" : "uint16";
    notes.push(`note: --ptq 8a8w exports a ${m} mask; the seed runner writes a uint16 mask buffer regardless, so the seed's 8a8w build does not run correctly end to end (SPEC 7.6); this run follows the export's encodings`);
  }
  const encodingsText = (): string =>
    serializeEncodings(
      seedEncodingsFile({
        kv: ptq.kv && backend.quantGraphs.kv ? { q: backend.quantGraphs.kv, ptq: ptq.kv } : undefined,
        prefill: ptq.prefill && backend.quantGraphs.prefill ? { q: backend.quantGraphs.prefill, ptq: ptq.prefill } : undefined,
      }),
    );
  return { backend, encodingsText, notes };
}
