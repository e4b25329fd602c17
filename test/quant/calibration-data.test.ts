// Calibration data (SPEC-2026 §10.3 items 1-2): reading Parquet / JSON / JSONL / text calibration files by their
// content, the hostile-file guards, and texts -> CL-token sequences -> CALIBRATE graph inputs against plain
// oracles written from upstream's code (dataset/builders.py:84-96, tokenizer.py:406-407, masking_utils.py).
// Parquet files come from two writers: hyparquet-writer, run here into a temporary folder, and arrow-rs
// (test/fixtures/calib/wiki_*.parquet, see the fixtures README), made once outside the repository with
// parquet-wasm 0.8.0 and apache-arrow 21.2.0 by this script (`node make.mjs test/fixtures/calib`):
//   import { writeFileSync } from "node:fs"; import { createRequire } from "node:module";
//   import { tableFromArrays, tableToIPC } from "apache-arrow";
//   const pw = createRequire(import.meta.url)("parquet-wasm/node");
//   const text = WIKI_ROWS; // the 10 rows below
//   const table = tableFromArrays({ text, id: BigInt64Array.from(text.map((_, i) => BigInt(i))) });
//   const t = () => pw.Table.fromIPCStream(tableToIPC(table, "stream"));
//   const props = (codec, version, dict, rows) => new pw.WriterPropertiesBuilder().setCompression(codec)
//     .setWriterVersion(version).setDictionaryEnabled(dict).setMaxRowGroupSize(rows).build();
//   writeFileSync(`${process.argv[2]}/wiki_snappy_v1.parquet`, pw.writeParquet(t(), props(pw.Compression.SNAPPY, pw.WriterVersion.V1, true, 4)));
//   writeFileSync(`${process.argv[2]}/wiki_zstd_v2.parquet`, pw.writeParquet(t(), props(pw.Compression.ZSTD, pw.WriterVersion.V2, false, 5)));
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, gzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { parquetWriteBuffer } from "hyparquet-writer";
import { calibrationSequences, collateCalibrationBatch, readCalibrationSource, type CalibrationReadOptions } from "../../src/quant/calibration-data.js";
import { checkPages } from "../../src/quant/calibration-parquet.js";
import { UserError } from "../../src/util/errors.js";
import { FIXTURES, loadTok512 } from "../helpers/fixtures.js";

const CALIB = join(FIXTURES, "calib");
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-calib-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a file into the temporary folder and returns its path. */
function put(name: string, data: string | Uint8Array | ArrayBuffer): string {
  const p = join(tmp, name);
  writeFileSync(p, typeof data === "string" ? data : new Uint8Array(data));
  return p;
}

/** Asserts a one-line UserError naming the file and matching every part. */
async function userError(path: string, opts: CalibrationReadOptions, ...parts: (string | RegExp)[]): Promise<string> {
  const err = await readCalibrationSource(path, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `${path} should fail`).toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toContain("\n");
  expect(msg).toContain(path);
  for (const p of parts) expect(msg).toMatch(p);
  return msg;
}

// The arrow-rs fixtures' rows (test/fixtures/README.md), and the non-empty ones a reader keeps.
const WIKI_ROWS = [
  "",
  " = Calibration Data = \n",
  "",
  " Calibration runs the float model on text and records the range of every activation . \n",
  " The observers keep a minimum and a maximum ; nothing else . \n",
  "",
  " = = Tokens = = \n",
  " Each row becomes one sample : BOS , then its tokens , cut into pieces of the context length . \n",
  " Unicode survives : café , naïve , 東京 , 🙂 . \n",
  "",
];
const WIKI_TEXTS = WIKI_ROWS.filter((r) => r.trim() !== "");

// hyparquet-writer: a text column with nulls, empty and blank rows, an int column, a second string column.
const ROWS = ["alpha", null, "", "beta gamma", "   ", "δέλτα 🙂", "e", null, "last\n"];
const TITLES = ROWS.map((_, i) => `title ${i}`);
const KEPT = ["alpha", "beta gamma", "δέλτα 🙂", "e", "last\n"];
type Codec = "SNAPPY" | "UNCOMPRESSED" | "GZIP" | "BROTLI";
const parquetBytes = (rowGroupSize = 4, codec: Codec = "SNAPPY") =>
  new Uint8Array(
    parquetWriteBuffer({
      columnData: [
        { name: "text", data: ROWS, type: "STRING" },
        { name: "id", data: ROWS.map((_, i) => i), type: "INT32" },
        { name: "title", data: TITLES, type: "STRING" },
      ],
      rowGroupSize,
      codec,
      compressors: { GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)), BROTLI: (b: Uint8Array) => new Uint8Array(brotliCompressSync(b)) },
    }),
  );

describe("readCalibrationSource: Parquet", () => {
  it("reads the non-empty rows of the text column of files written by arrow-rs (snappy + dictionary + data page v1; zstd + data page v2)", async () => {
    for (const f of ["wiki_snappy_v1.parquet", "wiki_zstd_v2.parquet"]) {
      const r = await readCalibrationSource(join(CALIB, f));
      expect(r).toEqual({ kind: "parquet", texts: WIKI_TEXTS });
    }
  });

  it("reads files written by hyparquet-writer over several row groups, reporting rows read", async () => {
    for (const codec of ["SNAPPY", "UNCOMPRESSED", "GZIP", "BROTLI"] as const) {
      const p = put(`rows-${codec}.parquet`, parquetBytes(4, codec));
      const progress: [number, number][] = [];
      const r = await readCalibrationSource(p, { onProgress: (d, t) => progress.push([d, t]) });
      expect(r).toEqual({ kind: "parquet", texts: KEPT });
      expect(progress).toEqual([[4, 9], [8, 9], [9, 9]]);
    }
  });

  it("reads another column when asked, and keeps only the first maxSamples non-empty rows", async () => {
    const p = put("columns.parquet", parquetBytes(4));
    expect((await readCalibrationSource(p, { column: "title" })).texts).toEqual(TITLES);
    expect((await readCalibrationSource(p, { maxSamples: 2 })).texts).toEqual(KEPT.slice(0, 2));
    const progress: [number, number][] = [];
    expect((await readCalibrationSource(p, { maxSamples: 1, onProgress: (d, t) => progress.push([d, t]) })).texts).toEqual(["alpha"]);
    expect(progress).toEqual([[4, 9], [9, 9]]); // stopped after the first row group, then completed
  });

  it("recognises Parquet by its content: a .txt that is Parquet is read as Parquet", async () => {
    const p = put("really-parquet.txt", readFileSync(join(CALIB, "wiki_snappy_v1.parquet")));
    expect(await readCalibrationSource(p)).toEqual({ kind: "parquet", texts: WIKI_TEXTS });
  });

  it("refuses a .parquet that is text: not Parquet", async () => {
    await userError(put("text.parquet", "just some words\n"), {}, /not a Parquet file \(it does not start with PAR1\)/);
  });

  it("refuses a missing column, naming the columns there are", async () => {
    const p = put("missing.parquet", parquetBytes());
    await userError(p, { column: "txt" }, /no column "txt"; the columns are: text, id, title$/);
    await userError(join(CALIB, "wiki_zstd_v2.parquet"), { column: "content" }, /the columns are: text, id$/);
  });

  it("refuses a compression it does not read, naming it", async () => {
    const b = new Uint8Array(readFileSync(join(CALIB, "wiki_snappy_v1.parquet")));
    // Rewrite the codec of every column chunk in the footer: SNAPPY (1) -> LZ4_RAW (7). In thrift compact
    // protocol ColumnMetaData.codec is field 4, an i32 right after the path list: the bytes 0x15 0x02 there.
    const n = new DataView(b.buffer, b.byteOffset).getUint32(b.length - 8, true);
    const footer = b.subarray(b.length - 8 - n, b.length - 8);
    let hits = 0;
    for (let i = 0; i + 1 < footer.length; i++) {
      if (footer[i] === 0x15 && footer[i + 1] === 0x02 && footer[i - 1] !== 0x15) {
        const r = new TextDecoder().decode(footer.subarray(Math.max(0, i - 6), i));
        if (r.endsWith("text") || r.endsWith("id")) (footer[i + 1] = 14), hits++;
      }
    }
    expect(hits).toBe(6); // 3 row groups x 2 columns
    await userError(put("lz4.parquet", b), {}, /compression LZ4_RAW is not supported/);
  });

  it("refuses a column that does not hold text", async () => {
    await userError(put("int.parquet", parquetBytes()), { column: "id" }, /column "id" holds INT32 values, not text/);
  });

  it("refuses a column holding bytes that are not UTF-8", async () => {
    const bytes = parquetWriteBuffer({ columnData: [{ name: "text", data: [new Uint8Array([0x61]), new Uint8Array([0xff, 0xfe])], type: "BYTE_ARRAY" }] });
    await userError(put("latin.parquet", bytes), {}, /row group 1 of 1 .*column "text" holds bytes that are not UTF-8 text/);
  });

  it("refuses a file whose text column is empty or null in every row, and one with no rows", async () => {
    const blank = parquetWriteBuffer({ columnData: [{ name: "text", data: ["", null, " \n"], type: "STRING" }] });
    await userError(put("blank.parquet", blank), {}, /yields no text \(3 rows, column "text" empty or null in every one\)/);
    const none = parquetWriteBuffer({ columnData: [{ name: "text", data: [], type: "STRING" }] });
    await userError(put("none.parquet", none), {}, /yields no text \(0 rows/);
  });

  it("refuses a truncated file", async () => {
    const whole = readFileSync(join(CALIB, "wiki_snappy_v1.parquet"));
    await userError(put("half.parquet", whole.subarray(0, whole.length >> 1)), {}, /truncated Parquet file \(it starts with PAR1 but does not end with PAR1\)/);
    await userError(put("par1.parquet", "PAR1"), {}, /truncated Parquet file/);
  });

  it("refuses a footer length larger than the file without reading it", async () => {
    const b = new Uint8Array(readFileSync(join(CALIB, "wiki_snappy_v1.parquet")));
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    dv.setUint32(b.length - 8, 0xfffffff0, true);
    await userError(put("footer-huge.parquet", b), {}, new RegExp(`the Parquet footer length ${0xfffffff0} is larger than the file \\(${b.length} bytes\\)`));
    dv.setUint32(b.length - 8, b.length - 11, true); // one byte too many: would overlap the leading PAR1
    await userError(put("footer-overlap.parquet", b), {}, /is larger than the file/);
    dv.setUint32(b.length - 8, 0, true);
    await userError(put("footer-empty.parquet", b), {}, /the Parquet footer is empty/);
  });

  it("refuses a footer that is not Parquet metadata", async () => {
    const b = new Uint8Array(readFileSync(join(CALIB, "wiki_snappy_v1.parquet")));
    const n = new DataView(b.buffer, b.byteOffset).getUint32(b.length - 8, true);
    b.fill(0xff, b.length - 8 - n, b.length - 8);
    await userError(put("footer-garbage.parquet", b), {}, /not a readable Parquet file/);
  });

  it("turns every truncation and every corrupted byte of a small file into a UserError or a clean read", async () => {
    const b = parquetBytes(4, "UNCOMPRESSED");
    const outcomes = { ok: 0, userError: 0 };
    const check = async (name: string, data: Uint8Array) => {
      const p = put(name, data);
      try {
        const r = await readCalibrationSource(p, { column: "text" });
        expect(r.texts.every((t) => typeof t === "string" && t.trim() !== "")).toBe(true);
        outcomes.ok++;
      } catch (e) {
        if (!(e instanceof UserError)) throw new Error(`${name}: ${String(e)}`);
        expect((e as Error).message).not.toContain("\n");
        outcomes.userError++;
      }
    };
    for (let n = 1; n < b.length; n += 3) await check(`cut-${n}.parquet`, b.subarray(0, n));
    // Every single-bit flip of the first page header (hyparquet-writer writes data page v2): a changed
    // repetition-levels length once sent hyparquet's RLE decoder past its array until V8 aborted the process.
    for (let i = 4; i < 32; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const m = b.slice();
        m[i] ^= 1 << bit;
        await check(`header-${i}-${bit}.parquet`, m);
      }
    }
    for (let i = 0; i < b.length; i += 2) {
      for (const x of [0xff, 0x80]) {
        const m = b.slice();
        m[i] ^= x;
        await check(`flip-${i}-${x}.parquet`, m);
      }
    }
    expect(outcomes.userError).toBeGreaterThan(0);
    // The zstd pages of the arrow-rs file: fzstd 0.1.1 (hyparquet-compressors) loops forever on byte 264 ^ 0x80.
    const z = new Uint8Array(readFileSync(join(CALIB, "wiki_zstd_v2.parquet")));
    for (let i = 225; i < 435; i += 3) {
      const m = z.slice();
      m[i] ^= 0x80;
      await check(`zstd-${i}.parquet`, m);
    }
    const m = z.slice();
    m[264] ^= 0x80;
    await check("zstd-264.parquet", m);
  });
});

// Thrift compact protocol, written by hand: i32 fields as zigzag varints, a struct field, STOP.
const varint = (n: number): number[] => {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  return [...out, n];
};
const i32 = (delta: number, v: number) => [(delta << 4) | 5, ...varint(v >= 0 ? 2 * v : -2 * v - 1)];
/**
 * PageHeader {1: type, 2: uncompressed, 3: compressed, 5 | 7 | 8: the page's own header} then the payload
 * (default 4 bytes of 7; sizes default to its length). Own headers: data page v1 {num_values, encoding, def / rep
 * level encodings}, dictionary {num_values, encoding}, data page v2 {num_values, num_nulls, num_rows, encoding,
 * def / rep level byte lengths}; encoding 0 = PLAIN, 8 = RLE_DICTIONARY.
 */
function page(type: number, numValues: number, o: { payload?: number[]; uncompressed?: number; compressed?: number; own?: number[]; encoding?: number } = {}): number[] {
  const payload = o.payload ?? [7, 7, 7, 7];
  const compressed = o.compressed ?? payload.length;
  const uncompressed = o.uncompressed ?? compressed;
  const enc = o.encoding ?? 0;
  const sub = type === 0 ? 5 : type === 2 ? 7 : 8;
  const own = o.own ?? (type === 0 ? [numValues, enc, 3, 3] : type === 2 ? [numValues, 0] : [numValues, 0, numValues, enc, 0, 0]);
  return [...i32(1, type), ...i32(1, uncompressed), ...i32(1, compressed), ((sub - 3) << 4) | 12, ...own.flatMap((v) => i32(1, v)), 0, 0, ...payload];
}
const u8 = (...parts: number[][]) => new Uint8Array(parts.flat());
const OPTIONAL = { optional: true, decompress: (b: Uint8Array) => b };

describe("checkPages (pages checked before hyparquet decodes them)", () => {
  it("accepts pages that fit the chunk and add up to the rows", () => {
    expect(() => checkPages(u8(page(2, 3, { payload: new Array(12).fill(0) }), page(0, 2), page(3, 1)), 3)).not.toThrow();
    // Optional column: definition levels (length 2, an RLE run of 3 ones), then PLAIN values.
    expect(() => checkPages(u8(page(0, 3, { payload: [2, 0, 0, 0, 6, 1, 9, 9] })), 3, OPTIONAL)).not.toThrow();
  });
  it("refuses a data page claiming more values than the row group's rows", () => {
    expect(() => checkPages(u8(page(0, 4)), 3)).toThrow(/claims 4 values, more than the 3 rows left/);
    expect(() => checkPages(u8(page(0, 2), page(3, 2)), 3)).toThrow(/claims 2 values, more than the 1 rows left/);
  });
  it("refuses sizes beyond the chunk or the page limit, a chunk ending early, and a dictionary larger than its bytes", () => {
    expect(() => checkPages(u8(page(0, 1, { compressed: 100 })), 1)).toThrow(/claims 100 bytes, more than the column chunk holds/);
    expect(() => checkPages(u8(page(0, 1, { uncompressed: 2 ** 30 })), 1)).toThrow(/claims 1073741824 bytes uncompressed/);
    expect(() => checkPages(u8(page(0, 1, { uncompressed: -1 })), 1)).toThrow(/claims -1 bytes uncompressed/);
    expect(() => checkPages(u8(page(0, 1, { uncompressed: 5 })), 1)).toThrow(/decompresses to 4 bytes, its header says 5/);
    expect(() => checkPages(u8(page(0, 3)), 4)).toThrow(/ends after 3 of its 4 rows/);
    expect(() => checkPages(u8(page(2, 3, { payload: new Array(8).fill(0) })), 1)).toThrow(/dictionary page claims 3 strings in 8 bytes/);
  });
  it("refuses a page header lacking a field hyparquet reads (it would read at a NaN offset forever)", () => {
    expect(() => checkPages(u8(page(0, 1, { own: [1, 0, 3] })), 1)).toThrow(/lacks field 4/);
    expect(() => checkPages(u8(page(3, 1, { own: [1, 0, 1, 0] })), 1)).toThrow(/lacks field 5/);
    expect(() => checkPages(u8(page(2, 1, { own: [1] })), 1)).toThrow(/lacks field 2/);
    expect(() => checkPages(u8(page(3, 1, { own: [1, 2, 1, 0, 0, 0] })), 1)).toThrow(/claims 1 values of which 2 null/);
    expect(() => checkPages(u8(page(3, 1, { own: [1, 0, 1, 0, 3, 2] })), 1)).toThrow(/claims 3 \+ 2 bytes of levels in 4/);
  });
  it("refuses hybrid runs that would write past the page's values or loop without reading (hyparquet would abort the process)", () => {
    // Definition levels: an RLE run of 100 in a page of 3 values (header 200 = varint c8 01).
    expect(() => checkPages(u8(page(0, 3, { payload: [3, 0, 0, 0, 0xc8, 0x01, 1] })), 3, OPTIONAL)).toThrow(/definition levels: a run of 100 values where 3 are left/);
    // v2 definition levels sit uncompressed at rep_len; the same run there.
    expect(() => checkPages(u8(page(3, 3, { own: [3, 0, 3, 0, 3, 0], payload: [0xc8, 0x01, 1, 9] })), 3, OPTIONAL)).toThrow(/definition levels: a run of 100/);
    // Dictionary indices (v1, bit width 2): an RLE run of 1,000,000 after a run of 1.
    expect(() => checkPages(u8(page(0, 2, { encoding: 8, payload: [2, 0x02, 0, ...varint(2e6), 1] })), 2)).toThrow(/dictionary indices: a run of 1000000 values where 1 are left of the page's 2/);
    // Dictionary indices (v2, bit width 0): a bit-packed run of 8000 values reads no byte per value.
    expect(() => checkPages(u8(page(3, 2, { encoding: 8, payload: [0, ...varint(2001)] })), 2)).toThrow(/a bit-packed run of 8000 values at width 0/);
    // A negative bit-packed count (32-bit varint with the top bit set) never counts down to 0.
    expect(() => checkPages(u8(page(3, 2, { encoding: 8, payload: [3, 0xff, 0xff, 0xff, 0xff, 0x0f] })), 2)).toThrow(/a bit-packed run of -8 values/);
  });
  it("refuses malformed headers: cut short, unknown page type, missing fields, deep nesting", () => {
    expect(() => checkPages(u8(page(0, 1).slice(0, 5)), 1)).toThrow(/runs past the column chunk/);
    expect(() => checkPages(u8(page(9, 1)), 1)).toThrow(/unknown page type 9/);
    expect(() => checkPages(u8(i32(1, 0), [0]), 1)).toThrow(/lacks field 2/);
    expect(() => checkPages(u8(i32(1, 0), new Array(20).fill(0x1c), new Array(21).fill(0)), 1)).toThrow(/nests too deeply/);
  });
  it("never throws anything but an Error on random bytes", () => {
    let seed = 7;
    for (let k = 0; k < 2000; k++) {
      const b = new Uint8Array(1 + (k % 40)).map(() => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >> 8) & 0xff);
      try {
        checkPages(b, 1 + (k % 5), k % 2 ? OPTIONAL : undefined);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
    }
  });
});

describe("readCalibrationSource: JSON, JSONL and text", () => {
  // tokenizer.py:406-407: without a chat template, every message's content in order, no separator, no roles.
  const JSON_TEXTS = ["You are terse.Name a colour. Blue.", "Once upon a time, there was a little girl named Lily.", "Unicode: café, 東京, 🙂\nsecond line"];
  const JSONL_TEXTS = ["Tom had a red ball. He liked to play with it.", "sys One day, the sun was hot.", "The end."];

  it("reads a JSON list of samples ({messages} objects or message lists) and concatenates each sample's contents", async () => {
    expect(await readCalibrationSource(join(CALIB, "chat.json"))).toEqual({ kind: "json", texts: JSON_TEXTS });
    expect((await readCalibrationSource(join(CALIB, "chat.json"), { maxSamples: 2 })).texts).toEqual(JSON_TEXTS.slice(0, 2));
  });

  it("reads JSONL (blank lines skipped, CRLF accepted), whatever the file's name", async () => {
    expect(await readCalibrationSource(join(CALIB, "chat.jsonl"))).toEqual({ kind: "jsonl", texts: JSONL_TEXTS });
    const crlf = readFileSync(join(CALIB, "chat.jsonl"), "utf8").replace(/\n/g, "\r\n");
    expect(await readCalibrationSource(put("samples.dat", crlf))).toEqual({ kind: "jsonl", texts: JSONL_TEXTS });
    expect((await readCalibrationSource(join(CALIB, "chat.jsonl"), { maxSamples: 1 })).texts).toEqual(JSONL_TEXTS.slice(0, 1));
  });

  it("reads a one-line .jsonl as one sample, and a single {messages} JSON object as one sample", async () => {
    expect(await readCalibrationSource(put("one.jsonl", '[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]\n'))).toEqual({ kind: "jsonl", texts: ["ab"] });
    expect(await readCalibrationSource(put("one.json", '{\n "messages": [{"role": "user", "content": "x"}]\n}'))).toEqual({ kind: "json", texts: ["x"] });
  });

  it("reads any other UTF-8 text as one sample, byte for byte (a BOM dropped), reporting bytes read", async () => {
    const story = readFileSync(join(CALIB, "story.txt"), "utf8");
    const progress: [number, number][] = [];
    expect(await readCalibrationSource(join(CALIB, "story.txt"), { onProgress: (d, t) => progress.push([d, t]) })).toEqual({ kind: "text", texts: [story] });
    expect(progress).toEqual([[Buffer.byteLength(story), Buffer.byteLength(story)]]);
    expect((await readCalibrationSource(put("bom.txt", "\ufeffhello"))).texts).toEqual(["hello"]);
    // Looks like JSON at first, is not: text.
    expect((await readCalibrationSource(put("brackets.txt", "[1] Intro\n{not json} here\n"))).texts).toEqual(["[1] Intro\n{not json} here\n"]);
    expect((await readCalibrationSource(put("number.txt", "1984\n"))).kind).toBe("text");
  });

  it("refuses an invalid JSONL line with its line number", async () => {
    const p = put("bad.jsonl", '{"messages": [{"role": "user", "content": "a"}]}\n\n{"messages": [oops]}\n');
    await userError(p, {}, /line 3: invalid JSON/);
    await userError(put("bad-line.txt", '[{"role": "user", "content": "a"}]\nplain words\n'), {}, /line 2: invalid JSON/);
  });

  it("refuses samples that are not chat samples, naming where", async () => {
    await userError(put("text-key.jsonl", '{"text": "a"}\n{"text": "b"}\n'), {}, /line 1: unknown key "text"/);
    await userError(put("no-content.json", '[[{"role": "user"}]]'), {}, /sample 1, message 1: "content" must be a string/);
    await userError(put("multimodal.json", '[{"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]}]'), {}, /multimodal content lists are not read/);
    await userError(put("no-role.jsonl", '[{"content": "a"}]\n[{"role": 3, "content": "a"}]\n'), {}, /line 1, message 1: "role" must be a string/);
    await userError(put("scalar.json", '["a", "b"]'), {}, /sample 1: expected a list of \{role, content\} messages/);
    await userError(put("messages-only.json", '[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]'), {}, /the list holds messages, not samples.*wrap one conversation/);
  });

  it("refuses a .json / .jsonl that is not JSON, and JSON without samples or text", async () => {
    await userError(put("prose.json", "hello there\n"), {}, /not JSON/);
    await userError(put("broken.json", '[{"messages": [\n'), {}, /invalid JSON/);
    await userError(put("empty-list.json", "[]"), {}, /holds no samples/);
    await userError(put("empty-contents.json", '[[{"role": "user", "content": ""}], {"messages": []}]'), {}, /yields no text/);
  });

  it("refuses empty files, non-UTF-8 and binary files, directories and missing files", async () => {
    await userError(put("empty.txt", ""), {}, /the file is empty/);
    await userError(put("blank.jsonl", " \n\n\t\n"), {}, /the file is empty/);
    await userError(put("latin1.txt", new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a])), {}, /not UTF-8 text/);
    await userError(put("nul.bin", new Uint8Array([0x61, 0, 0x62])), {}, /a binary file/);
    await userError(tmp, {}, /is a directory/);
    await userError(join(tmp, "nope.txt"), { label: "--calib_text" }, /^--calib_text .*nope\.txt: no such file$/);
  });
});

describe("calibrationSequences (dataset/builders.py:84-96)", () => {
  const BOS = 1;
  /** A stand-in tokenizer: one token per code point (+3), BOS when asked; records its calls. */
  const calls: [string, boolean][] = [];
  const encode = (s: string, bos: boolean) => {
    calls.push([s, bos]);
    return [...(bos ? [BOS] : []), ...[...s].map((ch) => ch.codePointAt(0)! + 3)];
  };
  /** Upstream, literally: tokens = encode(prompt, bos=True, eos=False); [tokens[i:i+CL] for i in range(0, len, CL)]. */
  const oracle = (texts: string[], cl: number) =>
    texts.flatMap((t) => {
      const tokens = [BOS, ...[...t].map((ch) => ch.codePointAt(0)! + 3)];
      const pieces: number[][] = [];
      for (let i = 0; i < tokens.length; i += cl) pieces.push(tokens.slice(i, i + cl));
      return pieces;
    });

  it("encodes each sample once with BOS, cuts it into CL-token pieces, keeps the short tail, BOS only in the first piece", () => {
    const texts = ["", "abc", "abcdefg", "0123456789A", "🙂é"];
    for (const cl of [1, 2, 4, 8, 64]) {
      calls.length = 0;
      const seqs = calibrationSequences(texts, encode, cl);
      expect(seqs).toEqual(oracle(texts, cl));
      expect(calls).toEqual(texts.map((t) => [t, true]));
      expect(seqs.every((s) => s.length >= 1 && s.length <= cl)).toBe(true);
    }
    // "abcdefg" + BOS = 8 tokens at CL 4: exactly two full pieces, no empty third; BOS opens only the first.
    expect(calibrationSequences(["abcdefg"], encode, 4)).toEqual([[BOS, 100, 101, 102], [103, 104, 105, 106]]);
    expect(calibrationSequences(["abcdefgh"], encode, 4)).toEqual([[BOS, 100, 101, 102], [103, 104, 105, 106], [107]]);
  });

  it("with the stories tokenizer, the pieces of story.txt put back together are BOS + the text's tokens", () => {
    const tok = loadTok512();
    const text = readFileSync(join(CALIB, "story.txt"), "utf8");
    const seqs = calibrationSequences([text], (s, bos) => tok.encode(s, { bos }), 16);
    expect(seqs.flat()).toEqual([tok.bosId, ...tok.encode(text)]);
    expect(seqs.slice(0, -1).every((s) => s.length === 16)).toBe(true);
    expect(seqs.filter((s) => s[0] === tok.bosId)).toHaveLength(1);
  });

  it("refuses a context length that is not a positive integer", () => {
    expect(() => calibrationSequences(["a"], encode, 0)).toThrow(RangeError);
    expect(() => calibrationSequences(["a"], encode, 2.5)).toThrow(RangeError);
  });
});

describe("collateCalibrationBatch (collators.py:19-29, masking_utils.py:15-40 and 123-129, decoder.py:80-85)", () => {
  /** Upstream's two steps: the causal mask (0 where j <= i, else -255), then every row i >= len filled with -255. */
  function oracleMask(len: number, cl: number): number[] {
    const m: number[][] = [];
    for (let i = 0; i < cl; i++) m.push(Array.from({ length: cl }, (_, j) => (j <= i ? 0 : -255)));
    for (let i = len; i < cl; i++) m[i].fill(-255);
    return m.flat();
  }

  it("pads tokens with 0 on the right, masks causally with -255 and every padding row fully, positions 0..CL-1", () => {
    const cl = 6;
    for (let len = 0; len <= cl; len++) {
      const seq = Array.from({ length: len }, (_, i) => 100 + i);
      const b = collateCalibrationBatch(seq, cl);
      expect([...b.tokens]).toEqual([...seq, ...new Array(cl - len).fill(0)]);
      expect([...b.mask]).toEqual(oracleMask(len, cl));
      expect([...b.inputPos]).toEqual([0, 1, 2, 3, 4, 5]);
      expect(b.tokens).toBeInstanceOf(Int32Array);
      expect(b.mask).toBeInstanceOf(Float32Array);
      expect(b.inputPos).toBeInstanceOf(Int32Array);
    }
  });

  it("spells out a 4-token sequence of 2 tokens", () => {
    const b = collateCalibrationBatch([1, 42], 4);
    const X = -255;
    // prettier-ignore
    expect([...b.mask]).toEqual([
      0, X, X, X,
      0, 0, X, X,
      X, X, X, X,
      X, X, X, X,
    ]);
  });

  it("refuses a sequence longer than the context", () => {
    expect(() => collateCalibrationBatch([1, 2, 3], 2)).toThrow(/3 tokens, more than the context length 2/);
  });
});
