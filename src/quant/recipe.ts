// Owns `--recipe FILE`: a mixed-precision recipe choosing the quantization scheme per weight tensor,
//   { "default": "16a4w", "overrides": [{ "match": "layers.0.*" | "<exact tensor name>", "scheme": "16a8w" }] }
// validated strictly (one-line UserError naming the file), and the quantization of a model's weights with it.
//
// An override applies to every tensor its match names:
// - weights (the checkpoint's Meta names, e.g. `layers.0.attention.wq.weight`): the weight spec that scheme gives
//   that tensor kind (an int8 per-channel wq under "16a8w", a uint8 per-tensor table under "8a8w");
// - activations (the encodings file's names: `layers.<l>.<tap>` for the taps of src/engine/decoder.ts other than
//   k/v, and `final_norm`): re-encoded from the calibration's observed range at that scheme's activation bits.
// K/V keep the scheme's symmetric cache spec and the logits their shared encoding; the embedding activation
// follows its table's spec. A match is an exact name or a glob where `*` matches any run of characters; later
// overrides win over earlier ones.
import { readFileSync } from "node:fs";
import type { Model } from "../engine/weights.js";
import { oneLine, UserError } from "../util/errors.js";
import { activationEncoding, DEFAULT_EPS, minMax, quantizeArray } from "./affine.js";
import { tapKey, type QuantEncodings } from "./calibrate.js";
import { LAYER_TAPS } from "../engine/decoder.js";
import type { QuantEncoding } from "./affine.js";
import { paramTensors, type LayerParam, type ParamRef } from "./encodings-io.js";
import {
  quantizeLinear,
  quantizeModelWeights,
  SCHEME_NAMES,
  SCHEMES,
  weightSpecFor,
  linearShapes,
  type QuantizedModelWeights,
  type QuantizedTable,
  type QuantizeModelOptions,
  type SchemeName,
} from "./schemes.js";

export interface RecipeOverride {
  match: string;
  scheme: SchemeName;
}

export interface Recipe {
  file: string;
  default: SchemeName;
  overrides: RecipeOverride[];
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function globRegExp(match: string): RegExp {
  return new RegExp("^" + match.split("*").map((s) => s.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*") + "$");
}

/** Parses and validates a recipe against a model with `nLayers` layers. */
export function parseRecipe(text: string, file: string, nLayers: number): Recipe {
  const fail = (msg: string): never => {
    throw new UserError(oneLine(`--recipe ${file}: ${msg}`));
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return fail(`not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) return fail("not a recipe (the top level is not a JSON object)");
  for (const k of Object.keys(doc)) if (k !== "default" && k !== "overrides") fail(`unknown key ${JSON.stringify(k)} (expected "default", "overrides")`);
  const scheme = (v: unknown, where: string): SchemeName => {
    if (typeof v !== "string" || !(SCHEME_NAMES as readonly string[]).includes(v))
      return fail(`${where}: unknown scheme ${JSON.stringify(v) ?? String(v)} (expected one of ${SCHEME_NAMES.join(", ")})`);
    return v as SchemeName;
  };
  const dflt = scheme(doc.default, "default");
  const overrides: RecipeOverride[] = [];
  if (doc.overrides !== undefined) {
    if (!Array.isArray(doc.overrides)) return fail("overrides is not a list");
    const names = [...paramTensors(nLayers).keys()];
    doc.overrides.forEach((raw, i) => {
      const where = `overrides[${i}]`;
      if (!isObject(raw)) return fail(`${where} is not an object`);
      for (const k of Object.keys(raw)) if (k !== "match" && k !== "scheme") fail(`${where}: unknown key ${JSON.stringify(k)} (expected "match", "scheme")`);
      if (typeof raw.match !== "string" || raw.match === "") return fail(`${where}: match is not a non-empty string`);
      const s = scheme(raw.scheme, where);
      const re = globRegExp(raw.match);
      if (!names.some((n) => re.test(n)) && !activationNames(nLayers).some((n) => re.test(n)))
        fail(`${where}: match ${JSON.stringify(raw.match)} names no tensor (weights like layers.0.attention.wq.weight, activations like layers.0.attn_out)`);
      overrides.push({ match: raw.match, scheme: s });
    });
  }
  return { file, default: dflt, overrides };
}

/** Activation tensors a recipe can name, with their calibration keys (tapKey). */
function activationTensors(nLayers: number): Map<string, string> {
  const m = new Map<string, string>();
  for (let l = 0; l < nLayers; l++) for (const t of LAYER_TAPS) if (t !== "k" && t !== "v") m.set(`layers.${l}.${t}`, tapKey(l, t));
  m.set("final_norm", tapKey(nLayers, "final_norm"));
  return m;
}
const activationNames = (nLayers: number): string[] => [...activationTensors(nLayers).keys()];

/** Re-encodes the activations a recipe moves to another scheme, from the observed ranges. */
function recodeActivations(acts: Map<string, QuantEncoding>, ranges: Map<string, [number, number]>, r: Recipe, nLayers: number): Map<string, QuantEncoding> {
  const out = new Map(acts);
  for (const [name, key] of activationTensors(nLayers)) {
    const s = schemeForTensor(r, name);
    const range = ranges.get(key);
    if (s === r.default || !range || !out.has(key)) continue;
    out.set(key, activationEncoding(range[0], range[1], SCHEMES[s].activationBits));
  }
  return out;
}

export function readRecipe(path: string, nLayers: number): Recipe {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(oneLine(`--recipe ${path}: cannot read (${(e as { code?: string }).code ?? (e as Error).message})`));
  }
  return parseRecipe(text, path, nLayers);
}

/** The scheme a recipe gives one tensor (the last matching override, else the default). */
export function schemeForTensor(r: Recipe, name: string): SchemeName {
  let s = r.default;
  for (const o of r.overrides) if (globRegExp(o.match).test(name)) s = o.scheme;
  return s;
}

function quantizeTable(w: Float32Array, bits: number, eps: number): QuantizedTable {
  const [lo, hi] = minMax(w);
  const encoding = activationEncoding(lo, hi, bits, eps);
  return { granularity: "per-tensor-affine", codes: quantizeArray(w, encoding), encoding };
}

/** The default scheme's weights with every overridden tensor re-quantized under its own scheme. */
export function quantizeWeightsWithRecipe(model: Model, r: Recipe, opts: QuantizeModelOptions = {}): QuantizedModelWeights {
  const c = model.config;
  const eps = opts.eps ?? DEFAULT_EPS;
  const w = quantizeModelWeights(model, r.default, opts);
  const shapes = linearShapes(c);
  for (const [name, ref] of paramTensors(c.nLayers) as Map<string, ParamRef>) {
    const s = schemeForTensor(r, name);
    if (s === r.default) continue;
    if (ref.layer === -1) {
      const kind = ref.kind as "tokEmbeddings" | "norm" | "output";
      if (kind === "output") w.output = quantizeLinear(model.weights.output, shapes.output[0], shapes.output[1], weightSpecFor(s, "output", opts), eps);
      else {
        const spec = weightSpecFor(s, kind, opts);
        w[kind] = quantizeTable(model.weights[kind], spec.bits, eps);
      }
      continue;
    }
    const lw = model.weights.layers[ref.layer];
    const ql = w.layers[ref.layer];
    const kind = ref.kind as LayerParam;
    if (kind === "attnNorm" || kind === "ffnNorm") {
      ql[kind] = quantizeTable(lw[kind], weightSpecFor(s, kind, opts).bits, eps);
    } else {
      const [rows, cols] = shapes[kind];
      ql.linears[kind] = quantizeLinear(lw[kind], rows, cols, weightSpecFor(s, kind, opts), eps);
    }
  }
  return w;
}

/** A calibration with its weights quantized by a recipe (the embedding activation follows the table). */
export function applyRecipe(qenc: QuantEncodings, model: Model, r: Recipe, opts: QuantizeModelOptions = {}): QuantEncodings {
  if (r.default !== qenc.scheme) throw new UserError(`--recipe ${r.file}: default ${r.default} differs from --ptq ${qenc.scheme}`);
  const weights = quantizeWeightsWithRecipe(model, r, opts);
  const activations = recodeActivations(qenc.activations, qenc.activationRanges, r, model.config.nLayers);
  const key = tapKey(-1, "embedding");
  if (activations.has(key)) activations.set(key, weights.tokEmbeddings.encoding);
  const out: QuantEncodings = { ...qenc, weights, activations };
  if (qenc.prefill) {
    const pa = recodeActivations(qenc.prefill.activations, qenc.prefill.activationRanges, r, model.config.nLayers);
    if (pa.has(key)) pa.set(key, weights.tokEmbeddings.encoding);
    out.prefill = { ...qenc.prefill, activations: pa };
  }
  return out;
}
