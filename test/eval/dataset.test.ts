// eval datasets: plain text, JSONL and Parquet (wikitext-like files written by arrow-rs, test/fixtures/calib), the
// documents each gives, --join_rows, and one-line refusals of bad files; eval over a Parquet dataset end to end.
import { describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readEvalDataset, wordCount } from "../../src/eval/dataset.js";
import { FIXTURES } from "../helpers/fixtures.js";
import { cli } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-eval-data-"));
const WIKI = join(FIXTURES, "calib", "wiki_snappy_v1.parquet");
const write = (name: string, text: string | Uint8Array) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};

describe("readEvalDataset", () => {
  it("plain text is one document; its sha256 is the file's", async () => {
    const p = write("a.txt", "Once upon a time.\n\nThe end.\n");
    const d = await readEvalDataset(p);
    expect(d.kind).toBe("text");
    expect(d.documents).toEqual(["Once upon a time.\n\nThe end.\n"]);
    expect(d.sha256).toBe(createHash("sha256").update(readFileSync(p)).digest("hex"));
  });

  it("JSONL: one document per line's text field, blank lines and empty texts skipped; --join_rows joins with a blank line", async () => {
    const p = write("a.jsonl", '{"text": "first"}\n\n{"text": ""}\n{"text": "second", "id": 2}\n');
    expect((await readEvalDataset(p)).documents).toEqual(["first", "second"]);
    expect((await readEvalDataset(p, { joinRows: true })).documents).toEqual(["first\n\nsecond"]);
    const q = write("b.jsonl", '{"body": "x"}\n');
    expect((await readEvalDataset(q, { column: "body" })).documents).toEqual(["x"]);
  });

  it("Parquet: the non-empty rows of the text column", async () => {
    const d = await readEvalDataset(WIKI);
    expect(d.kind).toBe("parquet");
    expect(d.documents.length).toBeGreaterThan(3);
    expect(d.documents.every((t) => t.trim() !== "")).toBe(true);
  });

  it("refuses bad files in one line naming the file", async () => {
    const cases: [string, string | Uint8Array, RegExp][] = [
      ["empty.txt", "", /the file is empty/],
      ["blank.txt", "  \n\n", /holds no text/],
      ["bad.jsonl", '{"text": "a"}\n{"text": \n', /line 2 is not JSON/],
      ["nofield.jsonl", '{"title": "a"}\n', /line 1 has no "text" field/],
      ["num.jsonl", '{"text": 3}\n', /line 1: "text" is not a string/],
      ["arr.jsonl", '{"text": "a"}\n[1]\n', /line 2 is not a JSON object/],
      ["fake.parquet", "PAR0 not parquet", /not a Parquet file/],
      ["bin.txt", new Uint8Array([0x61, 0, 0x62]), /binary file/],
      ["cut.parquet", readFileSync(WIKI).subarray(0, 600), /truncated Parquet file|Parquet/],
    ];
    for (const [name, body, re] of cases) {
      const p = write(name, body);
      const err = await readEvalDataset(p).catch((e: Error) => e);
      expect(err, name).toBeInstanceOf(Error);
      expect((err as Error).message, name).toMatch(re);
      expect((err as Error).message, name).toContain(p);
      expect((err as Error).message.split("\n"), name).toHaveLength(1);
    }
    await expect(readEvalDataset(join(tmp, "missing.txt"))).rejects.toThrow(/missing\.txt/);
    await expect(readEvalDataset(WIKI, { column: "nope" })).rejects.toThrow(/nope/);
  });

  it("counts words as lm-eval does (re.split on whitespace runs)", () => {
    expect(wordCount("a b  c")).toBe(3);
    expect(wordCount(" a\n")).toBe(3); // ['', 'a', '']
  });
});

describe("eval over a Parquet dataset", () => {
  it("scores every row as a document; --join_rows scores them as one", async () => {
    const flags = ["--flow", "current", "--max_context_len", "64", "--max_seq_len", "64", "--dataset", WIKI, "--json"];
    const rows = JSON.parse((await cli("eval", ...flags)).stdout);
    const joined = JSON.parse((await cli("eval", ...flags, "--join_rows")).stdout);
    expect(rows.meta.dataset.kind).toBe("parquet");
    expect(rows.meta.dataset.documents).toBeGreaterThan(3);
    expect(joined.meta.dataset.documents).toBe(1);
    expect(rows.scored).toBe(rows.meta.dataset.tokens);
    expect(Number.isFinite(rows.ppl.value)).toBe(true);
    const limited = JSON.parse((await cli("eval", ...flags, "--limit", "2")).stdout);
    expect(limited.meta.dataset.documents).toBe(2);
  }, 60_000);
});
