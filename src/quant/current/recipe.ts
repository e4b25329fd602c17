// Owns the current flow's quantization recipes (SPEC-2026 §10.1-10.2): the schemes, the built-in per-model recipes,
// the `--quant_recipe FILE` JSON format, and resolving a recipe against a model into one weight spec and one
// activation spec per conv module of the current static_llama graph.
//
// Upstream (pytorch/executorch cff6f4dd):
// - Strategies (backends/qualcomm/quantizer/quant_recipe.py): a regex strategy matches a node when
//   `re.search(pattern, path)` is true for any module path of the node's nn_module_stack, tried deepest first
//   (ByNameRegex._matches, quant_recipe.py:204-212) — a search, not a fullmatch, so `output\.conv` also matches
//   `xoutput.conv.y`, and an unescaped `.` matches any character. Strategies are tried in (priority, insertion
//   index) order, descending (quant_recipe.py:277-286), and the first that matches a node wins (290-296); the
//   default strategy is tried last (288). Every add_node_target / add_regex of the recipes uses priority 1
//   (quant_recipe.py:324, 351), so a LATER strategy wins: the regex overrides (added after the conv2d node-target
//   rule) win over it, and of two overrides the later one wins. Patterns here are JavaScript RegExps without
//   flags, which agree with Python's `re` on the syntax the recipes use (escapes, classes, `.*`).
// - Conv module paths: llm_wrappers.py:367-373 calls prepare_attention_conv / prepare_feedforward_conv
//   (static_llama.py:343-362, 539-542: `wq_conv`, `wk_conv`, `wv_conv`, `wo_conv`, `w1_conv`, `w2_conv`,
//   `w3_conv`), then convert_linear_to_conv2d (backends/qualcomm/utils/utils.py:153-198) wraps the LM head Linear
//   `output` as a module whose conv is `output.conv`. A conv node's nn_module_stack holds `layers.N`,
//   `layers.N.attention` (or `layers.N.feed_forward`) and the conv itself; the LM head's holds `output` and
//   `output.conv` (the `ancestors` below).
// - Recipes: examples/qualcomm/oss_scripts/llama/static_llm_quant_recipe.py (class per model, line numbers in
//   BUILTIN_RECIPES); names, SeqMSE candidates, masked softmax and R3 from __init__.py:231-569
//   (`@register_llm_model("...")`). KV bit width: get_kv_io_bit_width (static_llm_quant_recipe.py:32-42) — 8 when
//   the default dtype is 8a8w or annotate_kv_8bit is appended, else 16.
// - Upstream's llama.py at cff6f4dd has no --ptq / --group_size (removed in d6864726a9, "Static LLM Refactor"):
//   the recipe comes from --decoder_model. This project's --ptq SCHEME replaces the recipe's conv2d default (see
//   docs/quantization.md, "Current flow").
import type { ModelConfig } from "../../engine/config.js";
import type { BaseLayerKey, Model } from "../../engine/weights.js";
import { readUserText } from "../../util/files.js";
import { oneLine, UserError } from "../../util/errors.js";
import { EPS_16BIT, EPS_8BIT, type WeightSpec } from "./weights.js";

/** The schemes of QuantDtype the recipes use (backends/qualcomm/quantizer/quantizer.py:96-102). */
export type CurrentScheme = "16a4w" | "16a4w_block" | "16a8w" | "8a4w" | "8a8w";
export const CURRENT_SCHEMES: readonly CurrentScheme[] = ["16a4w", "16a4w_block", "16a8w", "8a4w", "8a8w"];

export interface SchemeChoice {
  scheme: CurrentScheme;
  /** 16a4w_block only: the block length along a conv's input channels (`block_size (1, B, 1, 1)`). */
  blockSize?: number;
}

export interface RecipeOverride {
  pattern: string;
  choice: SchemeChoice;
  /** From a built-in recipe (may match nothing in a small model: a note, not an error). */
  builtin: boolean;
  /** Where it was written, for messages: `overrides[i]` of a file. */
  where?: string;
}

export interface CurrentRecipe {
  /** A built-in name, or the recipe file's path. */
  name: string;
  /** The built-in recipe a file extends. */
  base?: string;
  /** The recipe's default quant dtype (QuantRecipe's first argument): the activation spec of every non-conv op. */
  defaultScheme: CurrentScheme;
  /** The conv2d node-target rule ("default" in a recipe file). */
  conv: SchemeChoice;
  /** Regex overrides in insertion order (the last matching one wins). */
  overrides: RecipeOverride[];
  /** K/V graph I/O bit width. */
  kvBits: 8 | 16;
  /** The model config's SeqMSE candidates (0 = off). */
  seqMseCandidates: number;
  /** The model config's attention variants (informational: the run uses --masked_softmax / --r3). */
  maskedSoftmax: boolean;
  r3: boolean;
}

/** One activation encoding's spec: bit width, symmetric (uint8 zp 128) or affine, and the observer's eps. */
export interface ActSpec {
  bits: 8 | 16;
  symmetric: boolean;
  eps: number;
}

export type ConvKind = "wq" | "wk" | "wv" | "wo" | "w1" | "w2" | "w3" | "output";

/** One conv of the current-flow graph. */
export interface ConvSite {
  /** Module path, e.g. `layers.0.attention.wq_conv`, `output.conv`. */
  path: string;
  /** The nn_module_stack paths a regex is searched in, deepest first. */
  ancestors: string[];
  kind: ConvKind;
  /** -1 for the LM head. */
  layer: number;
  /** Output channels (weight rows) and input channels (columns). */
  rows: number;
  cols: number;
}

export interface ResolvedConv extends ConvSite {
  scheme: CurrentScheme;
  weight: WeightSpec;
  /** The conv's input and output activation spec (per-channel / per-block configs, qconfig.py:605-720). */
  act: ActSpec;
  /** Which rule chose the scheme: "conv2d" or the override's index and pattern. */
  rule: string;
}

export interface ResolvedRecipe {
  recipe: CurrentRecipe;
  convs: ResolvedConv[];
  /** Activations of every non-conv op (the default strategy, per tensor). */
  defaultAct: ActSpec;
  /** The per-layer K and V encodings (cache input = new K/V output = the concatenation). */
  kv: ActSpec;
  /** Built-in overrides that match no conv of this model. */
  notes: string[];
}

// ---------------------------------------------------------------------------------------------------------
// Built-in recipes

const WV = String.raw`layers\..*\.attention\..*wv.*`;
const OUT = String.raw`output\.conv`;
const blk = (blockSize: number): SchemeChoice => ({ scheme: "16a4w_block", blockSize });
const ov = (scheme: CurrentScheme, ...patterns: string[]) => patterns.map((pattern) => ({ pattern, choice: { scheme }, builtin: true }));

type Builtin = Omit<CurrentRecipe, "name" | "base">;
const cfg = (defaultScheme: CurrentScheme, conv: SchemeChoice, overrides: RecipeOverride[], kvBits: 8 | 16, seqMse: number, maskedSoftmax: boolean, r3: boolean): Builtin => ({
  defaultScheme, conv, overrides, kvBits, seqMseCandidates: seqMse, maskedSoftmax, r3,
});

/**
 * The per-model recipes, by upstream --decoder_model name (__init__.py register_llm_model), with the line of their
 * class in static_llm_quant_recipe.py (cff6f4dd) and the config fields of __init__.py.
 */
export const BUILTIN_RECIPES: Readonly<Record<string, Builtin>> = {
  // LlamaStories260KQuantRecipe 55-85; __init__.py 231-245
  stories260k: cfg("16a4w", { scheme: "16a4w" }, ov("16a8w", OUT), 8, 0, false, false),
  // LlamaStories110MQuantRecipe 88-127 (wv: 8a4w with act_symmetric); __init__.py 248-262
  stories110m: cfg("16a4w", { scheme: "16a4w" }, [...ov("8a4w", WV), ...ov("16a8w", OUT)], 8, 0, false, false),
  // Llama3_1BQuantRecipe 130-168; __init__.py 265-280 (seq_mse_candidates 50)
  "llama3_2-1b_instruct": cfg("16a4w_block", blk(32), ov("16a8w", OUT, String.raw`layers\.[0-3]\.feed_forward\..*w2_conv`), 8, 50, false, false),
  // Llama3_3BQuantRecipe 171-206; __init__.py 283-298
  "llama3_2-3b_instruct": cfg("16a4w_block", blk(32), ov("16a8w", OUT, String.raw`layers\.2[1-7]\.feed_forward\..*w2_conv`), 8, 0, false, false),
  // Qwen2_5_0_5BQuantRecipe 545-566 (no annotate_kv_8bit); __init__.py 459-475
  "qwen2_5-0_5b": cfg("16a4w", blk(16), [], 16, 0, true, true),
  // Qwen2_5_1_5BQuantRecipe 569-600; __init__.py 478-494
  "qwen2_5-1_5b": cfg("16a4w", blk(16), ov("16a8w", OUT), 16, 0, true, true),
  // Qwen3_0_6BQuantRecipe 603-636; __init__.py 497-513 (seq_mse_candidates 50)
  "qwen3-0_6b": cfg("16a4w", blk(32), ov("16a8w", String.raw`layers\..*\.feed_forward\..*w2_conv`), 16, 50, true, false),
  // Qwen3_1_7BQuantRecipe 639-673; __init__.py 516-532
  "qwen3-1_7b": cfg("16a4w", blk(16), ov("16a8w", OUT), 8, 0, true, true),
  // Smollm2QuantRecipe 676-696; __init__.py 535-551
  smollm2_135m: cfg("16a8w", { scheme: "16a8w" }, [], 16, 0, false, true),
  // Smollm3QuantRecipe 744-790 (two add_regex calls: wq/wk/wv, then output.conv); __init__.py 555-569
  "smollm3-3b": cfg(
    "16a4w",
    blk(32),
    [...ov("16a8w", String.raw`layers\..*\.attention\..*wq.*`, String.raw`layers\..*\.attention\..*wk.*`, WV), ...ov("16a8w", OUT)],
    8, 0, true, false,
  ),
  // Phi4MiniQuantRecipe 502-542 (wv: 8a4w with act_symmetric); __init__.py 440-456
  phi_4_mini: cfg("16a4w", blk(16), [...ov("8a4w", WV), ...ov("16a8w", OUT)], 8, 0, false, false),
  // Gemma3QuantRecipe 307-341; __init__.py 360-376
  "gemma3-1b": cfg("16a4w", blk(64), ov("16a8w", WV), 8, 0, true, false),
};

/** Shorter spellings accepted for the Llama 3.2 recipes (upstream registers them with `_instruct`). */
export const RECIPE_ALIASES: Readonly<Record<string, string>> = {
  "llama3_2-1b": "llama3_2-1b_instruct",
  "llama3_2-3b": "llama3_2-3b_instruct",
};

export const BUILTIN_RECIPE_NAMES: readonly string[] = [...Object.keys(BUILTIN_RECIPES), ...Object.keys(RECIPE_ALIASES)];

/** A built-in recipe by name (aliases accepted, case-insensitive), or undefined. */
export function builtinRecipe(name: string): CurrentRecipe | undefined {
  const key = name.toLowerCase();
  const canonical = RECIPE_ALIASES[key] ?? key;
  const b = BUILTIN_RECIPES[canonical];
  return b ? { name: canonical, ...b, conv: { ...b.conv }, overrides: b.overrides.map((o) => ({ ...o, choice: { ...o.choice } })) } : undefined;
}

// ---------------------------------------------------------------------------------------------------------
// Scheme mechanics

const ACT_BITS: Record<CurrentScheme, 8 | 16> = { "16a4w": 16, "16a4w_block": 16, "16a8w": 16, "8a4w": 8, "8a8w": 8 };

/**
 * The activation spec of the default (per-tensor) strategy: 16-bit affine with DEFAULT_EPS_16BIT for the 16-bit
 * dtypes (qconfig.py:406-412, 450-456), 8-bit affine with DEFAULT_EPS_8BIT for 8a8w / 8a4w (251-257, 302-308).
 */
export function defaultActSpec(scheme: CurrentScheme): ActSpec {
  return ACT_BITS[scheme] === 16 ? { bits: 16, symmetric: false, eps: EPS_16BIT } : { bits: 8, symmetric: false, eps: EPS_8BIT };
}

/**
 * A conv's activation spec under its scheme: the per-channel / per-block configs (qconfig.py:605-651, 688-712)
 * always use DEFAULT_EPS_16BIT ("the smallest defaults to DEFAULT_EPS_16BIT"); uint16 affine for 16aXw, uint8
 * affine for 8a8w, uint8 symmetric (zp 128) for 8a4w (the recipes pass act_symmetric=True with it).
 */
export function convActSpec(scheme: CurrentScheme): ActSpec {
  if (ACT_BITS[scheme] === 16) return { bits: 16, symmetric: false, eps: EPS_16BIT };
  return { bits: 8, symmetric: scheme === "8a4w", eps: EPS_16BIT };
}

/**
 * K/V: annotate_kv_8bit's 8a8w symmetric spec (custom_annotation.py:217-223 -> qconfig.py get_8a8w_qnn_ptq_config
 * with act_symmetric: uint8, zp 128, DEFAULT_EPS_8BIT), else the default 16-bit activation spec.
 */
export function kvActSpec(bits: 8 | 16): ActSpec {
  return bits === 8 ? { bits: 8, symmetric: true, eps: EPS_8BIT } : { bits: 16, symmetric: false, eps: EPS_16BIT };
}

/** The weight spec of a scheme (int4 [-7, 7] or int8 [-127, 127], per channel; per block for 16a4w_block). */
export function weightSpecOf(c: SchemeChoice): WeightSpec {
  switch (c.scheme) {
    case "16a8w":
    case "8a8w":
      return { kind: "per_channel", bits: 8, qmax: 127 };
    case "16a4w_block":
      return { kind: "lpbq", blockSize: c.blockSize!, qmax: 7 };
    default:
      return { kind: "per_channel", bits: 4, qmax: 7 };
  }
}

/** KV width of a recipe: 8 when its default dtype is 8a8w (static_llm_quant_recipe.py:35-39), else its own. */
export function effectiveKvBits(r: CurrentRecipe): 8 | 16 {
  return r.defaultScheme === "8a8w" ? 8 : r.kvBits;
}

// ---------------------------------------------------------------------------------------------------------
// The model's convs

const LAYER_CONVS: { kind: Exclude<ConvKind, "output">; module: "attention" | "feed_forward"; name: string; weight: BaseLayerKey }[] = [
  { kind: "wq", module: "attention", name: "wq_conv", weight: "wq" },
  { kind: "wk", module: "attention", name: "wk_conv", weight: "wk" },
  { kind: "wv", module: "attention", name: "wv_conv", weight: "wv" },
  { kind: "wo", module: "attention", name: "wo_conv", weight: "wo" },
  { kind: "w1", module: "feed_forward", name: "w1_conv", weight: "w1" },
  { kind: "w3", module: "feed_forward", name: "w3_conv", weight: "w3" },
  { kind: "w2", module: "feed_forward", name: "w2_conv", weight: "w2" },
];

/** Every conv of the current-flow graph in execution order (per layer wq, wk, wv, wo, w1, w3, w2; then the LM head). */
export function convSites(c: ModelConfig): ConvSite[] {
  const qDim = c.nHeads * c.headDim;
  const kvDim = c.nKvHeads * c.headDim;
  const shape: Record<ConvKind, [number, number]> = {
    wq: [qDim, c.dim], wk: [kvDim, c.dim], wv: [kvDim, c.dim], wo: [c.dim, qDim],
    w1: [c.hiddenDim, c.dim], w3: [c.hiddenDim, c.dim], w2: [c.dim, c.hiddenDim], output: [c.vocabSize, c.dim],
  };
  const out: ConvSite[] = [];
  for (let l = 0; l < c.nLayers; l++)
    for (const s of LAYER_CONVS) {
      const parent = `layers.${l}.${s.module}`;
      const path = `${parent}.${s.name}`;
      out.push({ path, ancestors: [path, parent, `layers.${l}`], kind: s.kind, layer: l, rows: shape[s.kind][0], cols: shape[s.kind][1] });
    }
  out.push({ path: "output.conv", ancestors: ["output.conv", "output"], kind: "output", layer: -1, rows: c.vocabSize, cols: c.dim });
  return out;
}

/** The weight array of a conv in the model (the LM head's may be the embedding table itself). */
export function convWeight(m: Model, s: ConvSite): Float32Array {
  if (s.kind === "output") return m.weights.output;
  const w = LAYER_CONVS.find((x) => x.kind === s.kind)!.weight;
  return m.weights.layers[s.layer][w];
}

/** ByNameRegex._matches: re.search over the node's module paths, deepest first. */
const matches = (re: RegExp, s: ConvSite): boolean => s.ancestors.some((p) => p !== "" && re.test(p));

/**
 * Every conv's scheme, weight spec and activation spec under the recipe. UserErrors (naming `recipe.name`): a
 * 16a4w_block block size that does not divide a conv's input width (upstream torchao's _get_reduction_params
 * asserts the same), a pattern of the recipe file that matches no conv of the model.
 */
export function resolveRecipe(recipe: CurrentRecipe, model: Model | ModelConfig): ResolvedRecipe {
  const c = "config" in model ? model.config : model;
  const where = recipe.name in BUILTIN_RECIPES ? `recipe ${recipe.name}` : `--quant_recipe ${recipe.name}`;
  const res = recipe.overrides.map((o) => new RegExp(o.pattern));
  const used = recipe.overrides.map(() => false);
  const convs = convSites(c).map((s): ResolvedConv => {
    let choice = recipe.conv;
    let rule = "conv2d";
    for (let i = recipe.overrides.length - 1; i >= 0; i--) {
      if (matches(res[i], s)) {
        choice = recipe.overrides[i].choice;
        rule = `override ${i} (${recipe.overrides[i].pattern})`;
        used[i] = true;
        break;
      }
    }
    if (choice.scheme === "16a4w_block") {
      const B = choice.blockSize;
      if (B === undefined || !Number.isSafeInteger(B) || B < 1) throw new UserError(oneLine(`${where}: 16a4w_block needs a positive integer block_size (got ${B})`));
      if (s.cols % B !== 0) throw new UserError(oneLine(`${where}: block_size ${B} does not divide the input width ${s.cols} of ${s.path} (${rule})`));
    }
    return { ...s, scheme: choice.scheme, weight: weightSpecOf(choice), act: convActSpec(choice.scheme), rule };
  });
  // A pattern that is never the winner still matched if a later pattern matched the same conv; check plain matches.
  const notes: string[] = [];
  recipe.overrides.forEach((o, i) => {
    if (used[i] || convs.some((s) => matches(res[i], s))) return;
    if (!o.builtin) throw new UserError(oneLine(`${where}: ${o.where ?? `overrides[${i}]`} pattern ${JSON.stringify(o.pattern)} matches no conv of this model (e.g. ${convs[0].path}, output.conv)`));
    notes.push(`note: the ${recipe.base ?? recipe.name} recipe's pattern ${o.pattern} matches no conv of this ${c.nLayers}-layer model`);
  });
  return { recipe, convs, defaultAct: defaultActSpec(recipe.defaultScheme), kv: kvActSpec(effectiveKvBits(recipe)), notes };
}

// ---------------------------------------------------------------------------------------------------------
// Recipe files

const TOP_KEYS = ["default", "kv_bits", "overrides", "base"];
const CHOICE_KEYS = ["scheme", "block_size"];
const OVERRIDE_KEYS = ["pattern", "scheme", "block_size"];

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads a `--quant_recipe` file (see parseRecipeText). */
export function readRecipeFile(path: string): CurrentRecipe {
  return parseRecipeText(readUserText(path, "--quant_recipe"), path);
}

/**
 * A recipe file:
 *   { "default": { "scheme": "16a4w_block", "block_size": 32 }, "kv_bits": 8,
 *     "overrides": [ { "pattern": "output\\.conv", "scheme": "16a8w" } ], "base": "llama3_2-1b" }
 * `default` is the conv2d rule; `base` a built-in recipe whose fields the file overrides (its overrides are
 * appended after the base's); without a base, `default` is required, kv_bits defaults to 16 (no annotate_kv_8bit;
 * 8 for an 8a8w default), SeqMSE is off and the default dtype is the default scheme. Every problem is a one-line
 * UserError naming the file.
 */
export function parseRecipeText(text: string, file: string): CurrentRecipe {
  const fail = (msg: string): never => {
    throw new UserError(oneLine(`--quant_recipe ${file}: ${msg}`));
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) return fail("the top level is not a JSON object");
  const unknown = (o: Obj, keys: string[], where: string) => {
    for (const k of Object.keys(o)) if (!keys.includes(k)) fail(`unknown key ${JSON.stringify(k)}${where} (expected ${keys.join(", ")})`);
  };
  unknown(doc, TOP_KEYS, "");
  let base: CurrentRecipe | undefined;
  if (doc.base !== undefined) {
    if (typeof doc.base !== "string") return fail(`base ${JSON.stringify(doc.base)} is not a string`);
    base = builtinRecipe(doc.base);
    if (!base) return fail(`base ${JSON.stringify(doc.base)} is not a built-in recipe (${BUILTIN_RECIPE_NAMES.join(", ")})`);
  }
  const choice = (raw: Obj, where: string): SchemeChoice => {
    const scheme = raw.scheme;
    if (typeof scheme !== "string" || !(CURRENT_SCHEMES as readonly string[]).includes(scheme))
      return fail(`${where}: unknown scheme ${JSON.stringify(scheme)} (expected ${CURRENT_SCHEMES.join(", ")})`);
    const b = raw.block_size;
    if (scheme === "16a4w_block") {
      if (b === undefined) return fail(`${where}: 16a4w_block needs block_size`);
      if (typeof b !== "number" || !Number.isSafeInteger(b) || b < 1) return fail(`${where}: block_size ${JSON.stringify(b)} is not a positive integer`);
      return { scheme, blockSize: b };
    }
    if (b !== undefined) return fail(`${where}: block_size applies to 16a4w_block only (scheme ${scheme})`);
    return { scheme: scheme as CurrentScheme };
  };
  let conv = base?.conv;
  let defaultScheme = base?.defaultScheme;
  if (doc.default !== undefined) {
    if (!isObject(doc.default)) return fail(`default is not an object like {"scheme": "16a4w_block", "block_size": 32}`);
    unknown(doc.default, CHOICE_KEYS, " in default");
    conv = choice(doc.default, "default");
    defaultScheme = conv.scheme;
  }
  if (!conv || !defaultScheme) return fail('no "default" (and no "base" to take it from)');
  const overrides: RecipeOverride[] = base ? base.overrides : [];
  if (doc.overrides !== undefined) {
    if (!Array.isArray(doc.overrides)) return fail("overrides is not a list");
    doc.overrides.forEach((raw, i) => {
      const where = `overrides[${i}]`;
      if (!isObject(raw)) return fail(`${where} is not an object like {"pattern": "output\\\\.conv", "scheme": "16a8w"}`);
      unknown(raw, OVERRIDE_KEYS, ` in ${where}`);
      if (typeof raw.pattern !== "string" || raw.pattern === "") return fail(`${where}: pattern ${JSON.stringify(raw.pattern)} is not a non-empty string`);
      try {
        new RegExp(raw.pattern);
      } catch (e) {
        return fail(`${where}: pattern ${JSON.stringify(raw.pattern)} is not a valid regular expression (${(e as Error).message})`);
      }
      overrides.push({ pattern: raw.pattern, choice: choice(raw, where), builtin: false, where });
    });
  }
  let kvBits: 8 | 16 = base?.kvBits ?? 16;
  if (doc.kv_bits !== undefined) {
    if (doc.kv_bits !== 8 && doc.kv_bits !== 16) return fail(`kv_bits ${JSON.stringify(doc.kv_bits)} is not 8 or 16`);
    kvBits = doc.kv_bits;
  }
  return {
    name: file,
    ...(base ? { base: base.name } : {}),
    defaultScheme,
    conv,
    overrides,
    kvBits,
    seqMseCandidates: base?.seqMseCandidates ?? 0,
    maskedSoftmax: base?.maskedSoftmax ?? false,
    r3: base?.r3 ?? false,
  };
}

/** A recipe file's JSON document (readRecipeFile's format) that reads back as `r` (its SeqMSE setting through its base). */
export function recipeDocument(r: CurrentRecipe): RecipeFileDocument {
  const choice = (c: SchemeChoice) => ({ scheme: c.scheme, ...(c.blockSize !== undefined ? { block_size: c.blockSize } : {}) });
  const base = r.base ?? (BUILTIN_RECIPES[r.name] ? r.name : undefined);
  return {
    ...(base !== undefined ? { base } : {}),
    default: choice(r.conv),
    kv_bits: r.kvBits,
    // A base's overrides come first when the file is read: only the recipe's own are written.
    overrides: r.overrides.filter((o) => base === undefined || !o.builtin).map((o) => ({ pattern: o.pattern, ...choice(o.choice) })),
  };
}

/** The JSON of a --quant_recipe file. */
export interface RecipeFileDocument {
  base?: string;
  default: { scheme: string; block_size?: number };
  kv_bits: 8 | 16;
  overrides: { pattern: string; scheme: string; block_size?: number }[];
}

/** The recipe with its conv2d default (and default dtype) replaced by `--ptq SCHEME` and/or its block sizes by `--group_size`. */
export function withCliOverrides(r: CurrentRecipe, o: { scheme?: CurrentScheme; groupSize?: number }): CurrentRecipe {
  let out: CurrentRecipe = r;
  if (o.scheme !== undefined && (o.scheme !== r.conv.scheme || o.scheme !== r.defaultScheme)) {
    const blockSize = o.scheme === "16a4w_block" ? (r.conv.scheme === "16a4w_block" ? r.conv.blockSize : DEFAULT_BLOCK_SIZE) : undefined;
    out = { ...out, defaultScheme: o.scheme, conv: blockSize !== undefined ? { scheme: o.scheme, blockSize } : { scheme: o.scheme } };
  }
  if (o.groupSize !== undefined) {
    const set = (c: SchemeChoice): SchemeChoice => (c.scheme === "16a4w_block" ? { ...c, blockSize: o.groupSize } : c);
    const hasBlock = out.conv.scheme === "16a4w_block" || out.overrides.some((x) => x.choice.scheme === "16a4w_block");
    if (!hasBlock) throw new UserError(`--group_size is the block length of 16a4w_block; the recipe ${out.name} (conv2d ${out.conv.scheme}) has no 16a4w_block conv`);
    out = { ...out, conv: set(out.conv), overrides: out.overrides.map((x) => ({ ...x, choice: set(x.choice) })) };
  }
  return out;
}

/** Block length for `--ptq 16a4w_block` on a recipe without one (the Llama 3.2 recipes' 32). */
export const DEFAULT_BLOCK_SIZE = 32;
