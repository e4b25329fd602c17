// Owns reading a Parquet calibration file (a local copy of a Hugging Face dataset, e.g. wikitext-2-raw-v1's test
// split) into texts: one per non-empty row of a string column, read with hyparquet after every size and count in
// the file has been checked — footer, column chunks, page headers, the run lengths of the level / index streams
// (checkPages, checkHybridRuns) — so that nothing read from the file decides an allocation beyond the limits below.
// Hand-written checks, not hyparquet alone: hyparquet trusts the sizes and counts it reads (docs/quantization.md).
import type { FileHandle } from "node:fs/promises";
import { brotliDecompressSync, unzipSync } from "node:zlib";
import { parquetMetadata, parquetRead, parquetSchema, snappyUncompress } from "hyparquet";
import type { AsyncBuffer, Compressors, FileMetaData, SchemaElement } from "hyparquet";
import { UserError } from "../util/errors.js";
import { messageOf, readAt, readExactly, type Fail } from "./calibration-files.js";

// Limits: nothing read from a file decides an allocation beyond these.
const MAX_FOOTER_BYTES = 64 * 2 ** 20; // a Parquet footer (file metadata)
const MAX_PAGE_BYTES = 256 * 2 ** 20; // one decompressed Parquet page
const MAX_ROWS = 2 ** 24; // rows of one Parquet row group, and texts kept from one Parquet file

const PAR1 = [0x50, 0x41, 0x52, 0x31];
export const isParquetMagic = (b: Uint8Array, at = 0): boolean => b.length >= at + 4 && PAR1.every((c, i) => b[at + i] === c);

/** The footer length stated before the trailing magic, checked against the file (PAR1 | data | footer | len | PAR1). */
function parquetFooterLength(size: number, tail: Uint8Array): number | string {
  if (size < 12 || !isParquetMagic(tail, tail.length - 4)) return "truncated Parquet file (it starts with PAR1 but does not end with PAR1)";
  const n = new DataView(tail.buffer, tail.byteOffset + tail.length - 8, 4).getUint32(0, true);
  if (n === 0) return "the Parquet footer is empty (length 0)";
  if (n > size - 12) return `the Parquet footer length ${n} is larger than the file (${size} bytes)`;
  if (n > MAX_FOOTER_BYTES) return `the Parquet footer length ${n} exceeds the ${MAX_FOOTER_BYTES}-byte limit`;
  return n;
}

export async function readParquetTexts(
  fh: FileHandle,
  size: number,
  column: string,
  max: number,
  onProgress: ((done: number, total: number) => void) | undefined,
  fail: Fail,
): Promise<string[]> {
  const footerLen = parquetFooterLength(size, await readAt(fh, size - Math.min(size, 8), Math.min(size, 8), fail));
  if (typeof footerLen === "string") throw fail(footerLen);
  const dataEnd = size - 8 - footerLen;
  let metadata: FileMetaData;
  try {
    metadata = parquetMetadata(await readAt(fh, dataEnd, footerLen + 8, fail), { geoparquet: false });
  } catch (e) {
    throw fail(`not a readable Parquet file: unreadable footer (${messageOf(e)})`);
  }
  let chunks: TextChunk[];
  let optional: boolean;
  try {
    ({ chunks, optional } = textColumnChunks(metadata, column, dataEnd, fail));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw fail(`not a readable Parquet file: bad footer (${messageOf(e)})`);
  }
  const file = fileAsyncBuffer(fh, size);
  const compressors = await compressorsFor(chunks.map((c) => c.codec), fail);
  const total = chunks.reduce((s, c) => s + c.rows, 0);
  const texts: string[] = [];
  let rowStart = 0;
  for (let g = 0; g < chunks.length && texts.length < max; g++) {
    const { rows, start, end } = chunks[g];
    try {
      const layout: PageLayout = { optional, decompress: decompressorOf(chunks[g].codec, compressors) };
      const values = rows === 0 ? [] : await readChunkValues(file, metadata, column, rowStart, chunks[g], layout, compressors);
      for (const v of values) if (typeof v === "string" && v.trim() !== "" && texts.length < max) texts.push(v);
    } catch (e) {
      const problem = utf8Problem(e) ? `column "${column}" holds bytes that are not UTF-8 text` : `not a readable Parquet file (${messageOf(e)})`;
      throw fail(`row group ${g + 1} of ${chunks.length} (bytes ${start}..${end}): ${problem}`);
    }
    if (texts.length > MAX_ROWS) throw fail(`more than ${MAX_ROWS} non-empty rows; read fewer (maxSamples)`);
    rowStart += rows;
    if (rowStart < total) onProgress?.(rowStart, total);
  }
  onProgress?.(total, total);
  if (texts.length === 0) throw fail(`yields no text (${total} rows, column "${column}" empty or null in every one)`);
  return texts;
}

interface TextChunk {
  codec: string;
  rows: number;
  /** Byte range of the column chunk in the file. */
  start: number;
  end: number;
}

/**
 * The text column's chunk in every row group, each checked to lie in the data part of the file, and whether the
 * column is optional (has definition levels).
 */
function textColumnChunks(md: FileMetaData, column: string, dataEnd: number, fail: Fail): { chunks: TextChunk[]; optional: boolean } {
  const top = parquetSchema(md).children;
  const schema = top.find((c) => c.element.name === column);
  if (!schema) throw fail(`no column "${column}"; the columns are: ${top.map((c) => c.element.name).join(", ") || "(none)"}`);
  const notText = textColumnProblem(schema.element, schema.children.length);
  if (notText) throw fail(`column "${column}" ${notText}`);
  let sum = 0n;
  const chunks = md.row_groups.map((rg, g) => {
    const where = `row group ${g + 1}`;
    const rows = bigOf(rg.num_rows);
    if (rows === undefined || rows < 0n || rows > BigInt(MAX_ROWS)) throw fail(`${where}: ${rg.num_rows} rows (limit ${MAX_ROWS})`);
    const own = rg.columns.filter((c) => c.meta_data?.path_in_schema[0] === column);
    const meta = own[0]?.meta_data;
    if (own.length !== 1 || !meta || own[0].file_path) throw fail(`${where}: not one chunk of column "${column}" in this file`);
    const start = bigOf(meta.dictionary_page_offset || meta.data_page_offset);
    const length = bigOf(meta.total_compressed_size);
    if (start === undefined || length === undefined || start < 4n || length < 0n || start + length > BigInt(dataEnd)) {
      throw fail(`${where}: column "${column}" claims bytes ${start}..${start! + length!}, outside the data part of the file (4..${dataEnd})`);
    }
    sum += rows;
    return { codec: String(meta.codec), rows: Number(rows), start: Number(start), end: Number(start + length) };
  });
  if (sum !== bigOf(md.num_rows)) throw fail(`the footer says ${md.num_rows} rows but its row groups hold ${sum}`);
  return { chunks, optional: schema.element.repetition_type !== "REQUIRED" };
}

/** An integer field of the footer as a bigint (hostile files may put a number, or nothing, where int64 belongs). */
const bigOf = (v: unknown): bigint | undefined =>
  typeof v === "bigint" ? v : typeof v === "number" && Number.isSafeInteger(v) ? BigInt(v) : undefined;

/** Why a schema element is not a flat string column, or undefined when it is one. */
function textColumnProblem(e: SchemaElement, children: number): string | undefined {
  if (children > 0 || e.type === undefined) return "is a group of columns, not text";
  if (e.repetition_type === "REPEATED") return "is a list, not text";
  const annotated = e.converted_type ?? e.logical_type?.type;
  if (e.type !== "BYTE_ARRAY" || (annotated !== undefined && annotated !== "UTF8" && annotated !== "STRING")) {
    return `holds ${annotated ?? e.type} values, not text`;
  }
  return undefined;
}

/** An AsyncBuffer over the open file that refuses ranges outside it; the last range read is kept for reuse. */
type FileBuffer = AsyncBuffer & { slice(start: number, end?: number): Promise<ArrayBuffer> };

function fileAsyncBuffer(fh: FileHandle, size: number): FileBuffer {
  let last: { start: number; end: number; data: ArrayBuffer } | undefined;
  return {
    byteLength: size,
    async slice(start: number, end: number = size): Promise<ArrayBuffer> {
      if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end && end <= size)) {
        throw new Error(`a read of bytes ${start}..${end} outside the ${size}-byte file`);
      }
      if (last && last.start === start && last.end === end) return last.data;
      last = { start, end, data: (await readExactly(fh, start, end - start)).buffer as ArrayBuffer };
      return last.data;
    },
  };
}

/** One row group's values of the column: its page headers checked first, then decoded by hyparquet. */
async function readChunkValues(
  file: FileBuffer,
  metadata: FileMetaData,
  column: string,
  rowStart: number,
  chunk: TextChunk,
  layout: PageLayout,
  compressors: Compressors,
): Promise<unknown[]> {
  checkPages(await file.slice(chunk.start, chunk.end), chunk.rows, layout);
  const strict = new TextDecoder("utf-8", { fatal: true });
  let values: unknown[] = [];
  await parquetRead({
    file,
    metadata,
    columns: [column],
    rowStart,
    rowEnd: rowStart + chunk.rows,
    compressors,
    geoparquet: false,
    parsers: { stringFromBytes: (b: Uint8Array) => b && strict.decode(b) },
    onComplete: (r: unknown[][]) => {
      values = r.map((row) => row[0]);
    },
  });
  if (values.length !== chunk.rows) throw new Error(`holds ${values.length} values, the footer says ${chunk.rows} rows`);
  return values;
}

/** hyparquet's reading of a codec (datapage.js decompressPage): uncompressed pages are taken as they are. */
function decompressorOf(codec: string, compressors: Compressors): PageLayout["decompress"] {
  if (codec === "UNCOMPRESSED") return (b) => b;
  const f = compressors[codec as keyof Compressors];
  if (!f) throw new Error(`no decompressor for ${codec}`);
  return f;
}

const utf8Problem = (e: unknown): boolean => (e as { code?: string })?.code === "ERR_ENCODING_INVALID_ENCODED_DATA";

/**
 * Decompressors for the column's codecs, each refusing a page that claims more than MAX_PAGE_BYTES before
 * allocating it (hyparquet then checks the length it gets against the page header). SNAPPY: hyparquet's own;
 * GZIP and BROTLI: node:zlib (native, output capped); ZSTD: zstddec (the zstd library compiled to WebAssembly),
 * loaded only when a file needs it. Not hyparquet-compressors: its pure-JS zstd decoder (fzstd 0.1.1) loops
 * forever on some corrupted frames (found by the mutation test on wiki_zstd_v2.parquet).
 */
async function compressorsFor(codecs: string[], fail: Fail): Promise<Compressors> {
  const guard =
    (f: (input: Uint8Array, n: number) => Uint8Array) =>
    (input: Uint8Array, n: number): Uint8Array => {
      if (!Number.isSafeInteger(n) || n < 0 || n > MAX_PAGE_BYTES) throw new Error(`a page claims ${n} bytes uncompressed (limit ${MAX_PAGE_BYTES})`);
      return f(input, n);
    };
  const zlibOut = (b: Buffer) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  const out: Compressors = {
    SNAPPY: guard((input, n) => {
      const page = new Uint8Array(n);
      snappyUncompress(input, page);
      return page;
    }),
    GZIP: guard((input, n) => zlibOut(unzipSync(input, { maxOutputLength: Math.max(n, 1) }))),
    BROTLI: guard((input, n) => zlibOut(brotliDecompressSync(input, { maxOutputLength: Math.max(n, 1) }))),
  };
  const unsupported = [...new Set(codecs)].filter((c) => !["UNCOMPRESSED", "SNAPPY", "GZIP", "BROTLI", "ZSTD"].includes(c));
  if (unsupported.length > 0) throw fail(`compression ${unsupported.join(", ")} is not supported (read: uncompressed, SNAPPY, GZIP, BROTLI, ZSTD)`);
  if (codecs.includes("ZSTD")) {
    const zstd = new (await import("zstddec")).ZSTDDecoder();
    await zstd.init();
    out.ZSTD = guard((input, n) => (n === 0 ? new Uint8Array(0) : zstd.decode(input, n)));
  }
  return out;
}

// Pages (parquet.thrift PageHeader in thrift compact protocol, then the page), walked before hyparquet decodes a
// chunk so that no count or size in them is trusted. hyparquet 1.33 trusts them; a mutation test of this file
// found three ways a bad file takes the process down rather than failing:
// - a required header field missing becomes `undefined`, then a NaN read offset, and a DataView read at NaN
//   reads byte 0 again and again: a hang. So every field hyparquet reads must be there;
// - an RLE run of the RLE / bit-packing hybrid is written out whole, past the end of its output array
//   (encoding.js readRle): a run of 2^31 values grows a JS array until V8 aborts the process. So the runs of
//   every hybrid stream hyparquet decodes for a flat column (definition levels, dictionary indices) are walked
//   here and none may pass the page's value count;
// - a bit-packed run of width 0 or of negative length loops without reading: capped the same way.
// Also: every page lies in the chunk and decompresses to at most MAX_PAGE_BYTES, and the data pages' values add up
// to the row group's rows (a flat column has one value per row) without passing it.
const PAGE_DATA = 0;
const PAGE_INDEX = 1;
const PAGE_DICTIONARY = 2;
const PAGE_DATA_V2 = 3;
const ENCODING_PLAIN_DICTIONARY = 2;
const ENCODING_RLE = 3;
const ENCODING_RLE_DICTIONARY = 8;

/** What decoding a page of the column needs besides its bytes. */
export interface PageLayout {
  /** Definition levels (bit width 1) precede the values: the column is not REQUIRED (hyparquet's rule). */
  optional: boolean;
  /** The column's codec: `size` bytes out of a page's compressed bytes (identity when uncompressed). */
  decompress: (bytes: Uint8Array, size: number) => Uint8Array;
}

const PLAIN_LAYOUT: PageLayout = { optional: false, decompress: (b) => b };

/** Checks the pages of one column chunk of a flat column of `rows` rows; throws on the first bad one. */
export function checkPages(chunk: ArrayBuffer | Uint8Array, rows: number, layout: PageLayout = PLAIN_LAYOUT): void {
  const c = new Cursor(chunk instanceof Uint8Array ? chunk : new Uint8Array(chunk));
  let values = 0;
  while (values < rows) {
    if (c.at >= c.bytes.length) throw new Error(`the column chunk ends after ${values} of its ${rows} rows`);
    const h = readStruct(c, 0);
    const type = intField(h, 1);
    const uncompressed = intField(h, 2);
    const compressed = intField(h, 3);
    if (compressed < 0 || compressed > c.bytes.length - c.at) throw new Error(`a page claims ${compressed} bytes, more than the column chunk holds`);
    if (uncompressed < 0 || uncompressed > MAX_PAGE_BYTES) throw new Error(`a page claims ${uncompressed} bytes uncompressed (limit ${MAX_PAGE_BYTES})`);
    const body = c.bytes.subarray(c.at, c.at + compressed);
    if (type === PAGE_DATA || type === PAGE_DATA_V2) {
      const page = dataPageHeader(h, type, compressed);
      if (page.values > rows - values) throw new Error(`a data page claims ${page.values} values, more than the ${rows - values} rows left in the row group`);
      checkDataPageRuns(body, uncompressed, page, layout);
      values += page.values;
    } else if (type === PAGE_DICTIONARY) {
      const [n] = intFields(structField(h, 7), [1, 2]); // num_values, encoding
      if (n < 0 || n > uncompressed / 4) throw new Error(`a dictionary page claims ${n} strings in ${uncompressed} bytes`);
    } else if (type !== PAGE_INDEX) {
      throw new Error(`unknown page type ${type}`);
    }
    c.skip(compressed);
  }
}

interface DataPageFacts {
  v2: boolean;
  values: number;
  encoding: number;
  /** v2 only: byte lengths of the (never compressed) levels, and whether the values are compressed. */
  repBytes: number;
  defBytes: number;
  compressedValues: boolean;
}

/** A data page's own header (DataPageHeader / DataPageHeaderV2), every field hyparquet reads required. */
function dataPageHeader(h: Fields, type: number, compressed: number): DataPageFacts {
  if (type === PAGE_DATA) {
    const [n, encoding] = intFields(structField(h, 5), [1, 2, 3, 4]); // num_values, encoding, def / rep level encodings
    if (n < 0) throw new Error(`a data page claims ${n} values`);
    return { v2: false, values: n, encoding, repBytes: 0, defBytes: 0, compressedValues: true };
  }
  const v2 = structField(h, 8);
  // num_values, num_nulls, num_rows, encoding, definition / repetition levels byte lengths
  const [n, nulls, , encoding, defBytes, repBytes] = intFields(v2, [1, 2, 3, 4, 5, 6]);
  if (n < 0 || nulls < 0 || nulls > n) throw new Error(`a data page claims ${n} values of which ${nulls} null`);
  if (defBytes < 0 || repBytes < 0 || defBytes + repBytes > compressed) throw new Error(`a data page claims ${defBytes} + ${repBytes} bytes of levels in ${compressed}`);
  return { v2: true, values: n, encoding, repBytes, defBytes, compressedValues: v2.get(7) !== false };
}

/** The hybrid streams hyparquet decodes in one data page (datapage.js readDataPage / readDataPageV2), walked. */
function checkDataPageRuns(body: Uint8Array, uncompressed: number, p: DataPageFacts, layout: PageLayout): void {
  const dictionary = p.encoding === ENCODING_PLAIN_DICTIONARY || p.encoding === ENCODING_RLE_DICTIONARY;
  if (p.v2) {
    if (layout.optional) checkHybridRuns(body, p.repBytes, 1, p.values, "definition levels");
    const size = uncompressed - p.defBytes - p.repBytes;
    let data = body.subarray(p.repBytes + p.defBytes);
    if (p.compressedValues && size) data = decompressed(layout, data, size);
    if (p.encoding === ENCODING_RLE) checkHybridRuns(data, 0, 1, p.values, "values");
    else if (dictionary && data.length > 0) checkHybridRuns(data, 1, data[0], p.values, "dictionary indices");
    return;
  }
  const page = decompressed(layout, body, uncompressed);
  let at = 0;
  if (layout.optional) {
    if (page.length < 4) return; // hyparquet fails reading the length
    checkHybridRuns(page, 4, 1, p.values, "definition levels");
    at = 4 + new DataView(page.buffer, page.byteOffset, page.byteLength).getUint32(0, true);
  }
  // v1, not BOOLEAN: a bit-width byte, then the stream; width 0 means no stream.
  if ((dictionary || p.encoding === ENCODING_RLE) && at < page.length && page[at] !== 0) checkHybridRuns(page, at + 1, page[at], p.values, "dictionary indices");
}

function decompressed(layout: PageLayout, bytes: Uint8Array, size: number): Uint8Array {
  const out = layout.decompress(bytes, size);
  if (out.length !== size) throw new Error(`a page decompresses to ${out.length} bytes, its header says ${size}`);
  return out;
}

/**
 * Walks an RLE / bit-packing hybrid stream from `at` as hyparquet's readRleBitPackedHybrid reads it (32-bit
 * varint headers; it stops at `total` values or where the bytes end), refusing a run that would write past
 * `total` values or loop without reading. Running out of bytes is left to hyparquet to report.
 */
export function checkHybridRuns(b: Uint8Array, at: number, width: number, total: number, what: string): void {
  for (let seen = 0; seen < total && at < b.length; ) {
    let header = 0;
    for (let shift = 0, byte = 0x80; byte & 0x80; shift += 7) {
      if (at >= b.length) return;
      byte = b[at++];
      header |= (byte & 0x7f) << shift;
    }
    if (header & 1) {
      const count = (header >> 1) << 3;
      if (count < 0 || (width === 0 && count > total - seen + 7)) throw new Error(`${what}: a bit-packed run of ${count} values at width ${width} in a page of ${total}`);
      seen = Math.min(seen + count, total);
      at += (header >> 1) * width;
    } else {
      const count = header >>> 1;
      if (count > total - seen) throw new Error(`${what}: a run of ${count} values where ${total - seen} are left of the page's ${total}`);
      seen += count;
      at += (width + 7) >> 3;
    }
  }
}

class Cursor {
  at = 0;
  constructor(readonly bytes: Uint8Array) {}
  byte(): number {
    if (this.at >= this.bytes.length) throw new Error("a page header runs past the column chunk");
    return this.bytes[this.at++];
  }
  skip(n: number): void {
    if (!(n >= 0 && n <= this.bytes.length - this.at)) throw new Error("a page header runs past the column chunk");
    this.at += n;
  }
  varint(): number {
    let v = 0;
    for (let mul = 1, i = 0; i < 10; i++, mul *= 128) {
      const b = this.byte();
      v += (b & 0x7f) * mul;
      if (b < 0x80) return v;
    }
    throw new Error("a page header holds a malformed integer");
  }
  zigzag(): number {
    const v = this.varint();
    return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
  }
}

type Fields = Map<number, unknown>;

/** A compact-protocol struct: integer and struct fields kept by id, everything else skipped. */
function readStruct(c: Cursor, depth: number): Fields {
  if (depth > 8) throw new Error("a page header nests too deeply");
  const fields: Fields = new Map();
  for (let id = 0; ; ) {
    const h = c.byte();
    if (h === 0) return fields;
    id = h >> 4 ? id + (h >> 4) : c.zigzag();
    fields.set(id, readValue(c, h & 0x0f, depth));
  }
}

function readValue(c: Cursor, type: number, depth: number): unknown {
  switch (type) {
    case 1: // bool true (in a field header)
      return true;
    case 2: // bool false
      return false;
    case 3: // byte
      return c.skip(1);
    case 4: // i16
    case 5: // i32
    case 6: // i64
      return c.zigzag();
    case 7: // double
      return c.skip(8);
    case 8: // binary
      return c.skip(c.varint());
    case 9: // list
    case 10: {
      // set
      const h = c.byte();
      const n = h >> 4 === 15 ? c.varint() : h >> 4;
      for (let i = 0; i < n; i++) readElement(c, h & 0x0f, depth + 1);
      return undefined;
    }
    case 11: {
      // map
      const n = c.varint();
      const kv = n > 0 ? c.byte() : 0;
      for (let i = 0; i < n; i++) {
        readElement(c, kv >> 4, depth + 1);
        readElement(c, kv & 0x0f, depth + 1);
      }
      return undefined;
    }
    case 12:
      return readStruct(c, depth + 1);
    default:
      throw new Error(`a page header holds an unknown thrift type ${type}`);
  }
}

/** A list / set / map element: a bool takes one byte there. */
function readElement(c: Cursor, type: number, depth: number): void {
  if (type === 1 || type === 2) c.skip(1);
  else readValue(c, type, depth);
}

function intFields(f: Fields, ids: number[]): number[] {
  return ids.map((id) => intField(f, id));
}

function intField(f: Fields, id: number): number {
  const v = f.get(id);
  if (typeof v !== "number") throw new Error(`a page header lacks field ${id}`);
  return v;
}

function structField(f: Fields, id: number): Fields {
  const v = f.get(id);
  if (!(v instanceof Map)) throw new Error(`a page header lacks its field ${id} (the page's own header)`);
  return v;
}
