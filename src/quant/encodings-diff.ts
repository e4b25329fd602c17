// Owns comparing two normalised encodings sets (src/quant/encodings-formats.ts) for `quant-report
// --compare_encodings A B`, and the comparison's Markdown and JSON renderings.
//
// Tensors are paired by exact name; an optional name map (A name -> B name) renames A's tensors first. No
// other matching is attempted: ExecuTorch names the QNN graph's tensors after the exported FX nodes
// ("aten_view_copy_default_3", "p_layers_0_attention_wq_weight", "input_0_tokens_0"), AIMET and this project
// after the module paths ("layers.0.attention.wq.weight"), and a context's graph inputs / outputs after the
// graph's signature; the mapping depends on the export (passes, node order, decompositions), so a guess would
// pair the wrong tensors silently. A name map is explicit and checked: every key must be a tensor of A, every
// value a tensor of B, no two A tensors may end on one B name.
//
// A paired tensor differs when dtype, bitwidth, symmetry (when both files record it), channel count, block
// size or compressed bitwidth differ, when a scale differs by more than the relative tolerance
// (|a - b| / max(|a|, |b|) > tolRel; default 1e-6, above fp32 rounding of a scale written as a double), or
// an offset by more than tolOffset (default 0: offsets are integers and must match exactly). Per-channel and
// per-block encodings are compared channel by channel; the first differing channel is named with how many
// differ. The files agree (exit code 0) only when no paired tensor differs and no tensor is in one file only.
import { oneLine, UserError } from "../util/errors.js";
import { parseJsonText, type EncodingsSet, type NormalEncoding, type TensorKind } from "./encodings-formats.js";

export interface DiffOptions {
  /** Relative scale tolerance (default 1e-6). */
  tolRel?: number;
  /** Largest allowed |offset difference| (default 0). */
  tolOffset?: number;
  /** A tensor name -> B tensor name. */
  nameMap?: Readonly<Record<string, string>>;
  /** The name map's file, for messages and the report. */
  nameMapFile?: string;
}

export const DEFAULT_TOL_REL = 1e-6;

/** A tolerance for people: 1e-6 rather than 0.000001. */
export const showTolerance = (x: number): string => (x !== 0 && x < 1e-3 ? x.toExponential() : String(x));

export type DiffField = "dtype" | "bitwidth" | "symmetric" | "channels" | "block_size" | "compressed_bitwidth" | "scale" | "offset";

export interface FieldDiff {
  field: DiffField;
  /** A's and B's value (for scale / offset: at the first differing channel). */
  a: number | string | boolean;
  b: number | string | boolean;
  /** scale: the relative difference at the first differing channel, and the largest over all channels. */
  relDiff?: number;
  maxRelDiff?: number;
  /** scale / offset of a per-channel or per-block encoding: where the first difference is ("channel 3"). */
  at?: string;
  /** scale / offset: how many of how many values differ. */
  count?: number;
  of?: number;
}

export interface TensorDiff {
  name: string;
  /** B's name when a name map renamed it. */
  nameB?: string;
  kind: TensorKind;
  diffs: FieldDiff[];
}

export interface EncodingsDiff {
  a: { file: string; layout: string; tensors: number; skipped: EncodingsSet["skipped"] };
  b: { file: string; layout: string; tensors: number; skipped: EncodingsSet["skipped"] };
  tolRel: number;
  tolOffset: number;
  nameMap?: { file?: string; names: number };
  /** Tensors present in both. */
  compared: number;
  differing: TensorDiff[];
  onlyInA: string[];
  onlyInB: string[];
  /** No paired tensor differs and none is in one file only. */
  same: boolean;
}

/** Relative difference |a - b| / max(|a|, |b|) (0 when both are 0). */
export function relDiff(a: number, b: number): number {
  const m = Math.max(Math.abs(a), Math.abs(b));
  return m === 0 ? 0 : Math.abs(a - b) / m;
}

/** "channel 3" / "channel 3 block 1" / "block 7" / "" (per tensor) for value i of an encoding. */
export function positionOf(e: NormalEncoding, i: number): string {
  if (e.scales.length <= 1) return "";
  if (e.blockSize === undefined) return `channel ${i}`;
  if (e.channels === undefined) return `block ${i}`;
  const blocks = e.scales.length / e.channels;
  return `channel ${Math.floor(i / blocks)} block ${i % blocks}`;
}

/** The differing indices of two equally long lists under a predicate. */
function differing(a: number[], b: number[], differs: (x: number, y: number) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < a.length; i++) if (differs(a[i], b[i])) out.push(i);
  return out;
}

/** What differs between two encodings of one tensor beyond the tolerances (empty: the same). */
export function compareTensor(a: NormalEncoding, b: NormalEncoding, tolRel: number, tolOffset: number): FieldDiff[] {
  if (a.dtype !== b.dtype) return [{ field: "dtype", a: a.dtype, b: b.dtype }];
  const out: FieldDiff[] = [];
  if (a.bitwidth !== b.bitwidth) out.push({ field: "bitwidth", a: a.bitwidth, b: b.bitwidth });
  if (a.dtype === "float") return out;
  if (a.symmetric !== undefined && b.symmetric !== undefined && a.symmetric !== b.symmetric) out.push({ field: "symmetric", a: a.symmetric, b: b.symmetric });
  if ((a.blockSize ?? 0) !== (b.blockSize ?? 0)) out.push({ field: "block_size", a: a.blockSize ?? "none", b: b.blockSize ?? "none" });
  if (a.compressedBitwidth !== undefined && b.compressedBitwidth !== undefined && a.compressedBitwidth !== b.compressedBitwidth)
    out.push({ field: "compressed_bitwidth", a: a.compressedBitwidth, b: b.compressedBitwidth });
  if (a.scales.length !== b.scales.length) {
    out.push({ field: "channels", a: a.scales.length, b: b.scales.length });
    return out;
  }
  const n = a.scales.length;
  const s = differing(a.scales, b.scales, (x, y) => relDiff(x, y) > tolRel);
  if (s.length > 0) {
    const i = s[0];
    out.push({
      field: "scale",
      a: a.scales[i],
      b: b.scales[i],
      relDiff: relDiff(a.scales[i], b.scales[i]),
      maxRelDiff: Math.max(...s.map((j) => relDiff(a.scales[j], b.scales[j]))),
      ...(n > 1 ? { at: positionOf(a, i), count: s.length, of: n } : {}),
    });
  }
  const o = differing(a.offsets, b.offsets, (x, y) => Math.abs(x - y) > tolOffset);
  if (o.length > 0) {
    const i = o[0];
    out.push({ field: "offset", a: a.offsets[i], b: b.offsets[i], ...(n > 1 ? { at: positionOf(a, i), count: o.length, of: n } : {}) });
  }
  return out;
}

/** Parses a name map file's text: a JSON object of A tensor name -> B tensor name, no B name twice. */
export function parseNameMap(text: string, file: string): Record<string, string> {
  const fail = (msg: string): never => {
    throw new UserError(oneLine(`--name_map ${file}: ${msg}`));
  };
  const doc = parseJsonText(text, fail);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) return fail("not a JSON object of A tensor name -> B tensor name");
  const byTarget = new Map<string, string>();
  for (const [k, v] of Object.entries(doc)) {
    if (typeof v !== "string" || v === "") fail(`the value of ${JSON.stringify(k)} is not a non-empty string`);
    const before = byTarget.get(v as string);
    if (before !== undefined) fail(`${JSON.stringify(before)} and ${JSON.stringify(k)} both map to ${JSON.stringify(v)}`);
    byTarget.set(v as string, k);
  }
  if (byTarget.size === 0) fail("maps no names (an empty object)");
  return doc as Record<string, string>;
}

/** A's tensors under their B names (the name map applied and checked against both files). */
function renamedA(a: EncodingsSet, b: EncodingsSet, opts: DiffOptions): Map<string, NormalEncoding> {
  const map = opts.nameMap ?? {};
  const label = `--name_map ${opts.nameMapFile ?? "(given)"}`;
  const namesA = new Set(a.tensors.map((t) => t.name));
  const namesB = new Set(b.tensors.map((t) => t.name));
  for (const [k, v] of Object.entries(map)) {
    if (!namesA.has(k)) throw new UserError(oneLine(`${label}: ${JSON.stringify(k)} is not a tensor of ${a.file}`));
    if (!namesB.has(v)) throw new UserError(oneLine(`${label}: ${JSON.stringify(v)} (for ${JSON.stringify(k)}) is not a tensor of ${b.file}`));
  }
  const out = new Map<string, NormalEncoding>();
  for (const t of a.tensors) {
    const target = Object.hasOwn(map, t.name) ? map[t.name] : t.name;
    const clash = out.get(target);
    if (clash !== undefined)
      throw new UserError(oneLine(`${label}: ${JSON.stringify(t.name)} and ${JSON.stringify(clash.name)} of ${a.file} would both be compared with ${JSON.stringify(target)}`));
    out.set(target, t);
  }
  return out;
}

/** Compares two encodings sets; `same` when they agree within the tolerances. */
export function diffEncodings(a: EncodingsSet, b: EncodingsSet, opts: DiffOptions = {}): EncodingsDiff {
  const tolRel = opts.tolRel ?? DEFAULT_TOL_REL;
  const tolOffset = opts.tolOffset ?? 0;
  const fromA = renamedA(a, b, opts);
  const inB = new Map(b.tensors.map((t) => [t.name, t]));
  const differingTensors: TensorDiff[] = [];
  let compared = 0;
  for (const [nameB, ta] of fromA) {
    const tb = inB.get(nameB);
    if (tb === undefined) continue;
    compared++;
    const diffs = compareTensor(ta, tb, tolRel, tolOffset);
    if (diffs.length > 0) differingTensors.push({ name: ta.name, ...(nameB !== ta.name ? { nameB } : {}), kind: ta.kind, diffs });
  }
  const onlyInA = [...fromA].filter(([nameB]) => !inB.has(nameB)).map(([, t]) => t.name);
  const onlyInB = b.tensors.filter((t) => !fromA.has(t.name)).map((t) => t.name);
  const side = (s: EncodingsSet) => ({ file: s.file, layout: s.label, tensors: s.tensors.length, skipped: s.skipped });
  return {
    a: side(a),
    b: side(b),
    tolRel,
    tolOffset,
    ...(opts.nameMap ? { nameMap: { file: opts.nameMapFile, names: Object.keys(opts.nameMap).length } } : {}),
    compared,
    differing: differingTensors,
    onlyInA,
    onlyInB,
    same: differingTensors.length === 0 && onlyInA.length === 0 && onlyInB.length === 0,
  };
}

// ---- renderings ----

export function diffJson(d: EncodingsDiff): string {
  return JSON.stringify(d);
}

const code = (s: string) => "`" + s.replace(/`/g, "'").replace(/\|/g, "\\|") + "`";
const value = (v: number | string | boolean) => String(v);
const rel = (x: number | undefined) => (x === undefined ? "" : x.toExponential(2));

function summary(d: EncodingsDiff): string {
  if (d.same) return `**No differences**: ${d.compared} tensor(s) compared, all equal within the tolerances.`;
  return `**Differences**: ${d.differing.length} of ${d.compared} compared tensor(s) differ; ${d.onlyInA.length} only in A; ${d.onlyInB.length} only in B.`;
}

function diffRows(d: EncodingsDiff): string[] {
  const rows = ["| tensor | kind | field | A | B | rel. diff (max) | first differing | differing |", "|---|---|---|---|---|---|---|---|"];
  for (const t of d.differing) {
    const name = t.nameB === undefined ? code(t.name) : `${code(t.name)} → ${code(t.nameB)}`;
    for (const f of t.diffs) {
      const r = f.relDiff === undefined ? "" : f.maxRelDiff !== undefined && f.maxRelDiff !== f.relDiff ? `${rel(f.relDiff)} (${rel(f.maxRelDiff)})` : rel(f.relDiff);
      rows.push(`| ${name} | ${t.kind} | ${f.field} | ${value(f.a)} | ${value(f.b)} | ${r} | ${f.at ?? ""} | ${f.count === undefined ? "" : `${f.count} of ${f.of}`} |`);
    }
  }
  return rows;
}

const nameList = (title: string, names: string[]): string[] => (names.length === 0 ? [] : ["", `## ${title} (${names.length})`, ...names.map((n) => `- ${code(n)}`)]);

export function diffMarkdown(d: EncodingsDiff): string {
  const lines = [
    "# Encodings comparison",
    "",
    `- A: ${code(d.a.file)} (${d.a.layout}, ${d.a.tensors} tensors)`,
    `- B: ${code(d.b.file)} (${d.b.layout}, ${d.b.tensors} tensors)`,
    `- Tolerances: scale relative ${showTolerance(d.tolRel)}, offset ${d.tolOffset}` +
      (d.nameMap ? `; name map ${d.nameMap.file !== undefined ? code(d.nameMap.file) : ""} (${d.nameMap.names} names)` : "; names matched exactly"),
    "",
    summary(d),
  ];
  if (d.differing.length > 0) lines.push("", "## Differing tensors", "", ...diffRows(d));
  lines.push(...nameList("Only in A", d.onlyInA), ...nameList("Only in B", d.onlyInB));
  for (const [side, s] of [["A", d.a.skipped], ["B", d.b.skipped]] as const)
    if (s.length > 0) lines.push("", `## Not read in ${side} (${s.length})`, ...s.map((x) => `- ${code(x.name)}: ${x.reason}`));
  return lines.join("\n") + "\n";
}
