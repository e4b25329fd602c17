// Owns the quantization sensitivity analysis of `quant-report`: per conv, the SQNR of its quantized output against
// the fp32 output (the energies pooled by the caller over the compared steps), grouped by layer and held against a
// threshold, with outlier statistics of the conv's weight and of its fp32 input activation that explain a low
// figure, and — for the current flow, whose recipes name convs by module path — a suggested recipe that promotes
// every conv below the threshold to 16a8w, in the `--quant_recipe` JSON format.
//
// Conventions (all float64, sums in index order):
// - SQNR = 10·log10(Σ x² / Σ (x̂ − x)²); +Infinity when the noise is 0, −Infinity when the signal is 0.
// - percentile p of |x|: nearest rank, the ⌈p·n⌉-th smallest |x| (1-based); "max / p99.9" is max|x| over it.
// - excess kurtosis: m4 / m2² − 3 with central moments m_k = Σ (x − mean)^k / n (two passes); 0 for a Gaussian,
//   −1.2 for a uniform; large values mean a few values far out in the tails — the outliers that set a per-tensor
//   or per-channel scale and leave the rest of the values few codes.
// Upstream's analyzer (ExecuTorch's Qualcomm mixed-precision tooling) ranks layers by the SQNR of their outputs
// too; the outlier statistics and the recipe text are this project's additions.
import type { RecipeFileDocument } from "./current/recipe.js";

export interface OutlierStats {
  count: number;
  maxAbs: number;
  p999: number;
  /** max|x| / p99.9(|x|) (Infinity when p99.9 is 0 and max is not). */
  maxOverP999: number;
  excessKurtosis: number;
  /** Fraction of values more than 6 standard deviations from the mean. */
  beyond6Sigma: number;
}

/** Outlier statistics of one tensor (any layout). */
export function outlierStats(x: ArrayLike<number>): OutlierStats {
  const n = x.length;
  if (n === 0) return { count: 0, maxAbs: 0, p999: 0, maxOverP999: NaN, excessKurtosis: NaN, beyond6Sigma: 0 };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += x[i];
  const mean = sum / n;
  let m2 = 0;
  let m4 = 0;
  const abs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const d = x[i] - mean;
    m2 += d * d;
    m4 += d * d * d * d;
    abs[i] = Math.abs(x[i]);
  }
  m2 /= n;
  m4 /= n;
  abs.sort();
  const maxAbs = abs[n - 1];
  const p999 = abs[Math.max(0, Math.ceil(0.999 * n) - 1)];
  const sd = Math.sqrt(m2);
  let far = 0;
  for (let i = 0; i < n; i++) if (Math.abs(x[i] - mean) > 6 * sd) far++;
  return {
    count: n,
    maxAbs,
    p999,
    maxOverP999: p999 === 0 ? (maxAbs === 0 ? NaN : Infinity) : maxAbs / p999,
    excessKurtosis: m2 === 0 ? NaN : m4 / (m2 * m2) - 3,
    beyond6Sigma: far / n,
  };
}

/** The worst output channel of a weight [rows, cols]: the row with the largest max|w| / p99.9 ratio. */
export function worstChannel(w: ArrayLike<number>, rows: number): { channel: number; stats: OutlierStats } {
  const cols = w.length / rows;
  let best = { channel: 0, stats: outlierStats(Array.prototype.slice.call(w, 0, cols) as number[]) };
  for (let r = 1; r < rows; r++) {
    const s = outlierStats(Array.prototype.slice.call(w, r * cols, (r + 1) * cols) as number[]);
    if (s.excessKurtosis > best.stats.excessKurtosis) best = { channel: r, stats: s };
  }
  return best;
}

export interface ConvSensitivity {
  /** Module path (seed: `layers.0.attention.wq_sha.3`; current flow: `layers.0.attention.wq_conv`). */
  name: string;
  /** Decoder layer, or null for convs outside the layers (the LM head). */
  layer: number | null;
  sqnrDb: number;
  weight?: OutlierStats;
  /** The weight's output channel with the heaviest tails. */
  weightWorstChannel?: { channel: number; stats: OutlierStats };
  /** The conv's fp32 input activation over the compared steps. */
  input?: OutlierStats;
  belowThreshold: boolean;
}

export interface LayerSensitivity {
  layer: number | null;
  minSqnrDb: number;
  /** Mean of the convs' SQNR in dB (finite ones). */
  meanSqnrDb: number;
  convs: number;
  below: number;
}

export interface SensitivityReport {
  thresholdDb: number;
  /** Worst first. */
  convs: ConvSensitivity[];
  /** In layer order, the LM head (null) last. */
  layers: LayerSensitivity[];
}

/** The default threshold: 20 dB, where a conv's output noise is 1 % of its signal energy. */
export const DEFAULT_SENSITIVITY_THRESHOLD_DB = 20;

export interface ConvMeasurement {
  name: string;
  layer: number | null;
  sig: number;
  noise: number;
  weight?: { data: ArrayLike<number>; rows: number };
  input?: ArrayLike<number>;
}

export const sqnrFromEnergies = (sig: number, noise: number): number => (noise === 0 ? Infinity : sig === 0 ? -Infinity : 10 * Math.log10(sig / noise));

/** Sensitivity of every measured conv, grouped by layer, against a threshold. */
export function sensitivityReport(ms: readonly ConvMeasurement[], thresholdDb = DEFAULT_SENSITIVITY_THRESHOLD_DB): SensitivityReport {
  const convs: ConvSensitivity[] = ms.map((m) => {
    const sqnrDb = sqnrFromEnergies(m.sig, m.noise);
    return {
      name: m.name,
      layer: m.layer,
      sqnrDb,
      ...(m.weight ? { weight: outlierStats(m.weight.data), weightWorstChannel: worstChannel(m.weight.data, m.weight.rows) } : {}),
      ...(m.input ? { input: outlierStats(m.input) } : {}),
      belowThreshold: sqnrDb < thresholdDb,
    };
  });
  const byLayer = new Map<number | null, ConvSensitivity[]>();
  for (const c of convs) byLayer.set(c.layer, [...(byLayer.get(c.layer) ?? []), c]);
  const keys = [...byLayer.keys()].sort((a, b) => (a === null ? 1 : b === null ? -1 : a - b));
  const layers = keys.map((layer) => {
    const cs = byLayer.get(layer)!;
    const finite = cs.filter((c) => Number.isFinite(c.sqnrDb));
    return {
      layer,
      minSqnrDb: Math.min(...cs.map((c) => c.sqnrDb)),
      meanSqnrDb: finite.length ? finite.reduce((a, c) => a + c.sqnrDb, 0) / finite.length : NaN,
      convs: cs.length,
      below: cs.filter((c) => c.belowThreshold).length,
    };
  });
  return { thresholdDb, convs: [...convs].sort((a, b) => a.sqnrDb - b.sqnrDb), layers };
}

const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The suggested recipe: the input recipe with one more override per conv below the threshold (16a8w), its
 * pattern the module path as an anchored, escaped regex. A conv the recipe already runs at 16a8w is left alone.
 * `why` explains each suggestion from the outlier statistics.
 */
export function suggestRecipe(r: SensitivityReport, base: RecipeFileDocument, alreadyHigh: (name: string) => boolean = () => false): { recipe: RecipeFileDocument; why: { name: string; reason: string }[] } {
  const promote = r.convs.filter((c) => c.belowThreshold && !alreadyHigh(c.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const why = promote.map((c) => ({ name: c.name, reason: explain(c, r.thresholdDb) }));
  return {
    recipe: { ...base, overrides: [...base.overrides, ...promote.map((c) => ({ pattern: `^${escapeRegex(c.name)}$`, scheme: "16a8w" }))] },
    why,
  };
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : String(x));

/** One line on why a conv is sensitive. */
export function explain(c: ConvSensitivity, thresholdDb: number): string {
  const parts = [`output SQNR ${f1(c.sqnrDb)} dB${c.sqnrDb < thresholdDb ? ` < ${thresholdDb} dB` : ""}`];
  if (c.weightWorstChannel) parts.push(`weight channel ${c.weightWorstChannel.channel}: kurtosis ${f1(c.weightWorstChannel.stats.excessKurtosis)}, max/p99.9 ${f1(c.weightWorstChannel.stats.maxOverP999)}`);
  if (c.input) parts.push(`input: kurtosis ${f1(c.input.excessKurtosis)}, max/p99.9 ${f1(c.input.maxOverP999)}`);
  return parts.join("; ");
}

/** The analysis as Markdown: per-layer summary, then the convs worst first. */
export function sensitivityMarkdown(r: SensitivityReport, top = 20): string {
  const out: string[] = [];
  out.push(`## Sensitivity (conv output SQNR, threshold ${r.thresholdDb} dB)`, "");
  out.push("| layer | convs | below | min SQNR dB | mean SQNR dB |", "|---|---:|---:|---:|---:|");
  for (const l of r.layers) out.push(`| ${l.layer ?? "head"} | ${l.convs} | ${l.below} | ${f1(l.minSqnrDb)} | ${f1(l.meanSqnrDb)} |`);
  out.push("", `Worst ${Math.min(top, r.convs.length)} convs:`, "");
  out.push("| conv | SQNR dB | weight kurtosis (worst channel) | weight max/p99.9 | input kurtosis | input max/p99.9 |", "|---|---:|---:|---:|---:|---:|");
  for (const c of r.convs.slice(0, top))
    out.push(
      `| ${c.name}${c.belowThreshold ? " ⚠" : ""} | ${f1(c.sqnrDb)} | ${c.weightWorstChannel ? f1(c.weightWorstChannel.stats.excessKurtosis) : ""} | ${c.weightWorstChannel ? f1(c.weightWorstChannel.stats.maxOverP999) : ""} | ${c.input ? f1(c.input.excessKurtosis) : ""} | ${c.input ? f1(c.input.maxOverP999) : ""} |`,
    );
  out.push("");
  return out.join("\n");
}
