// Owns the tokenizer part of `npm run bench`: encode throughput (tokens/s) on a 100 kB text for every
// tokenizer format — the shipped tok512.bin, the tok512.model and tiktoken_small.model test fixtures, and
// Meta's Llama 2 / Llama 3 tokenizers when ../shared holds them. The text is the project's own prose.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTokenizer } from "../src/tokenizer/index.js";

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
    const tok = await loadTokenizer(path);
    tok.encode(text.slice(0, 5000)); // warm-up
    const times: number[] = [];
    let tokens = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      tokens = tok.encode(text).length;
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    rows.push({ name, tokens, ms: times[2] });
  }
  return rows;
}

export function formatTokenizerRows(rows: Row[], textBytes = 100_000): string {
  const head = `tokenizer encode, ${Math.round(textBytes / 1000)} kB text (median of 5)`;
  const lines = rows.map((r) => `${r.name.padEnd(40)} ${String(r.tokens).padStart(7)} tokens ${r.ms.toFixed(1).padStart(8)} ms ${Math.round((r.tokens / r.ms) * 1000).toLocaleString("en-US").padStart(11)} tok/s`);
  return [head, "-".repeat(head.length), ...lines].join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  runTokenizerBench().then((rows) => console.log(formatTokenizerRows(rows)));
}
