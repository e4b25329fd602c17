// The zip reader, byte sources and the PyTorch-style zip writer: the real torch.save archives (checked against
// numbers Python's zipfile gave), writer round trips (ZIP64 included), deflate, and damaged or hostile archives.
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../../src/util/errors.js";
import { bufferSource, openFileSource, type ByteSource } from "../../src/loaders/byte-source.js";
import { crc32, isZip, openZip, readEntry, readEntryChunks, type ZipArchive } from "../../src/loaders/zip.js";
import { createZipWriter, zipToBytes } from "../../src/loaders/zip-writer.js";
import { expectUserError } from "../helpers/errors.js";
import { rng } from "../helpers/rng.js";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "..", "fixtures");
const STORIES_PT = join(FIXTURES, "stories260K.pt");
const TINY_PTH = join(FIXTURES, "tiny_llama3", "consolidated.00.pth");
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-zip-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true })); // includes the 50 MB performance archive
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const FAKE = "/x/a.pth";

const openBytes = (b: Uint8Array): ZipArchive => openZip(bufferSource(b, FAKE, "checkpoint"));

/** Opens and reads every entry; returns normally or throws whatever the reader throws. */
function openAndReadAll(b: Uint8Array): void {
  const zip = openBytes(b);
  for (const e of zip.entries) readEntry(zip, e);
}

// Little-endian patching of a copy, independent of the reader's own parsing.
const le16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const le32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
function put16(b: Uint8Array, o: number, v: number) {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}
function put32(b: Uint8Array, o: number, v: number) {
  new DataView(b.buffer, b.byteOffset).setUint32(o, v >>> 0, true);
}
function put64(b: Uint8Array, o: number, v: number) {
  put32(b, o, v % 2 ** 32);
  put32(b, o + 4, Math.floor(v / 2 ** 32));
}
function patched(b: Uint8Array, f: (c: Uint8Array) => void): Uint8Array {
  const c = b.slice();
  f(c);
  return c;
}
/** Offsets of the central directory headers, found through the end record (and the ZIP64 one when present). */
function centralOffsets(b: Uint8Array): number[] {
  let eocd = b.length - 22;
  while (le32(b, eocd) !== 0x06054b50) eocd--;
  let count = le16(b, eocd + 10);
  let p = le32(b, eocd + 16);
  if (eocd >= 20 && le32(b, eocd - 20) === 0x07064b50) {
    const rec = le32(b, eocd - 12);
    count = le32(b, rec + 32);
    p = le32(b, rec + 48);
  }
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    out.push(p);
    p += 46 + le16(b, p + 28) + le16(b, p + 30) + le16(b, p + 32);
  }
  return out;
}


// Expected contents from Python 3 `zipfile` (an independent reader), computed once:
// [name, uncompressed size, CRC-32, local header offset, data offset (from the local header's name/extra lengths)].
type Row = [string, number, number, number, number];
const STORIES_ROWS: Row[] = [
  ["stories260K/data.pkl", 5336, 0x7b5c208b, 0, 64],
  ["stories260K/data/0", 131072, 0x297f3ba4, 5416, 5504],
  ["stories260K/data/1", 16384, 0x35612d27, 136592, 136704],
  ["stories260K/data/10", 16384, 0xce97627a, 153104, 153216],
  ["stories260K/data/11", 8192, 0xc8093137, 169616, 169728],
  ["stories260K/data/12", 8192, 0x6f3bdd33, 177936, 178048],
  ["stories260K/data/13", 16384, 0x1fc3eb4d, 186256, 186368],
  ["stories260K/data/14", 44032, 0x5408ac69, 202768, 202880],
  ["stories260K/data/15", 44032, 0x253141bf, 246928, 247040],
  ["stories260K/data/16", 44032, 0xe48171fd, 291088, 291200],
  ["stories260K/data/17", 256, 0x734dfa42, 335248, 335360],
  ["stories260K/data/18", 256, 0x434bc4ce, 335632, 335744],
  ["stories260K/data/19", 16384, 0x3fed4aef, 336016, 336128],
  ["stories260K/data/2", 8192, 0xf0738007, 352528, 352640],
  ["stories260K/data/20", 8192, 0xd9ce56f7, 360848, 360960],
  ["stories260K/data/21", 8192, 0x013c87ea, 369168, 369280],
  ["stories260K/data/22", 16384, 0x229208ce, 377488, 377600],
  ["stories260K/data/23", 44032, 0x9a879316, 394000, 394112],
  ["stories260K/data/24", 44032, 0x59318324, 438160, 438272],
  ["stories260K/data/25", 44032, 0x170cf294, 482320, 482432],
  ["stories260K/data/26", 256, 0x95dde69a, 526480, 526592],
  ["stories260K/data/27", 256, 0xebea7847, 526864, 526976],
  ["stories260K/data/28", 16384, 0xe171bc44, 527248, 527360],
  ["stories260K/data/29", 8192, 0x7ee23a2f, 543760, 543872],
  ["stories260K/data/3", 8192, 0x41ebbc6b, 552080, 552192],
  ["stories260K/data/30", 8192, 0x58d10588, 560400, 560512],
  ["stories260K/data/31", 16384, 0x8175c667, 568720, 568832],
  ["stories260K/data/32", 44032, 0x92acfafc, 585232, 585344],
  ["stories260K/data/33", 44032, 0xd0093640, 629392, 629504],
  ["stories260K/data/34", 44032, 0x97d0a79f, 673552, 673664],
  ["stories260K/data/35", 256, 0xd88f7c8b, 717712, 717824],
  ["stories260K/data/36", 256, 0x7ad444e6, 718096, 718208],
  ["stories260K/data/37", 16384, 0xaf5de7b5, 718480, 718592],
  ["stories260K/data/38", 8192, 0xc98e638b, 734992, 735104],
  ["stories260K/data/39", 8192, 0xca7b7c23, 743312, 743424],
  ["stories260K/data/4", 16384, 0xd014accb, 751632, 751744],
  ["stories260K/data/40", 16384, 0xe84e1662, 768144, 768256],
  ["stories260K/data/41", 44032, 0x76f717a5, 784656, 784768],
  ["stories260K/data/42", 44032, 0x4a6ea81f, 828816, 828928],
  ["stories260K/data/43", 44032, 0x19662abf, 872976, 873088],
  ["stories260K/data/44", 256, 0xd03465cd, 917136, 917248],
  ["stories260K/data/45", 256, 0x338be486, 917520, 917632],
  ["stories260K/data/46", 256, 0xd4ab65d9, 917904, 918016],
  ["stories260K/data/5", 44032, 0xdb14fe4b, 918288, 918400],
  ["stories260K/data/6", 44032, 0xbdd86a3e, 962448, 962560],
  ["stories260K/data/7", 44032, 0xd33827d4, 1006608, 1006720],
  ["stories260K/data/8", 256, 0x5f686997, 1050768, 1050880],
  ["stories260K/data/9", 256, 0xe910fed5, 1051152, 1051264],
  ["stories260K/version", 2, 0x55679ed1, 1051536, 1051648],
];
const TINY_ROWS: Row[] = [
  ["consolidated.00/data.pkl", 2764, 0x9d748dd1, 0, 64],
  ["consolidated.00/.format_version", 1, 0x83dcefb7, 2844, 2944],
  ["consolidated.00/.storage_alignment", 2, 0xe971773f, 2961, 3072],
  ["consolidated.00/byteorder", 6, 0x19e33d85, 3090, 3200],
  ["consolidated.00/data/0", 147456, 0x2482846f, 3222, 3328],
  ["consolidated.00/data/1", 18432, 0x42cdc45c, 150800, 150912],
  ["consolidated.00/data/2", 6144, 0x142603d3, 169360, 169472],
  ["consolidated.00/data/3", 6144, 0x64f4858c, 175632, 175744],
  ["consolidated.00/data/4", 18432, 0x1c35ff38, 181904, 182016],
  ["consolidated.00/data/5", 73728, 0xa0bf873e, 200464, 200576],
  ["consolidated.00/data/6", 73728, 0xf379aa6f, 274320, 274432],
  ["consolidated.00/data/7", 73728, 0x8c16345e, 348176, 348288],
  ["consolidated.00/data/8", 192, 0xa949a87a, 422032, 422144],
  ["consolidated.00/data/9", 192, 0x5da7472a, 422352, 422464],
  ["consolidated.00/data/10", 18432, 0x11d38481, 422672, 422784],
  ["consolidated.00/data/11", 6144, 0xa98d0aee, 441232, 441344],
  ["consolidated.00/data/12", 6144, 0x5fc63a85, 447504, 447616],
  ["consolidated.00/data/13", 18432, 0x932b28e6, 453776, 453888],
  ["consolidated.00/data/14", 73728, 0x7c83581e, 472336, 472448],
  ["consolidated.00/data/15", 73728, 0x38d4ecfe, 546192, 546304],
  ["consolidated.00/data/16", 73728, 0xbbc619ce, 620048, 620160],
  ["consolidated.00/data/17", 192, 0x2f762408, 693904, 694016],
  ["consolidated.00/data/18", 192, 0x6d157bc5, 694224, 694336],
  ["consolidated.00/data/19", 18432, 0x1e20f37c, 694544, 694656],
  ["consolidated.00/data/20", 6144, 0xab9ce48f, 713104, 713216],
  ["consolidated.00/data/21", 6144, 0x735f5151, 719376, 719488],
  ["consolidated.00/data/22", 18432, 0xb65f6dc7, 725648, 725760],
  ["consolidated.00/data/23", 73728, 0x53d75c08, 744208, 744320],
  ["consolidated.00/data/24", 73728, 0x7be3fdfc, 818064, 818176],
  ["consolidated.00/data/25", 73728, 0x3f31e728, 891920, 892032],
  ["consolidated.00/data/26", 192, 0x0ea3ddf5, 965776, 965888],
  ["consolidated.00/data/27", 192, 0xfa1ec87f, 966096, 966208],
  ["consolidated.00/data/28", 192, 0x1f85e3ea, 966416, 966528],
  ["consolidated.00/data/29", 147456, 0x2482846f, 966736, 966848],
  ["consolidated.00/version", 2, 0x55679ed1, 1114320, 1114432],
  ["consolidated.00/.data/serialization_id", 40, 0xdedc64d8, 1114450, 1114560],
];

// Written once by Python 3 zipfile to an unseekable stream (so both entries use data descriptors, flag bit 3), with
// an archive comment: "pkg/text.txt" deflated ("hello zip " * 300, CRC 0x1b485ba0, 36 compressed bytes) and
// "pkg/raw.bin" stored (bytes 0..255, CRC 0x29058c73).
const PY_DEFLATE_ZIP_B64 =
  "UEsDBBQACAAIAIMYIlgAAAAAAAAAAAAAAAAMAAAAcGtnL3RleHQudHh0y0jNyclXqMosUMgYZY2yRlmjrFHWKGuUNcoaZY2yRlmDlAUAUEsHCKBbSBskAAAAuAsAAFBLAwQUAAgAAACDGCJYAAAAAAAAAAAAAAAACwAAAHBrZy9yYXcuYmluAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKztLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/1BLBwhzjAUpAAEAAAABAABQSwECFAMUAAgACACDGCJYoFtIGyQAAAC4CwAADAAAAAAAAAAAAAAAgAEAAAAAcGtnL3RleHQudHh0UEsBAhQDFAAIAAAAgxgiWHOMBSkAAQAAAAEAAAsAAAAAAAAAAAAAAIABXgAAAHBrZy9yYXcuYmluUEsFBgAAAAACAAIAcwAAAJcBAAAWAG1hZGUgYnkgcHl0aG9uIHppcGZpbGU=";
const pyDeflateZip = () => new Uint8Array(Buffer.from(PY_DEFLATE_ZIP_B64, "base64"));

function checkAgainstPython(zip: ZipArchive, rows: Row[]) {
  expect(zip.entries.map((e) => e.name)).toEqual(rows.map((r) => r[0]));
  for (const [name, size, crc, lho, dataOffset] of rows) {
    const e = zip.byName.get(name)!;
    expect(e, name).toMatchObject({ method: 0, size, compressedSize: size, crc32: crc, localHeaderOffset: lho, dataOffset });
    expect(e.dataOffset % 64, name).toBe(0); // PyTorch aligns storage data to 64 bytes
    expect(crc32(readEntry(zip, e))).toBe(crc);
  }
}

describe("crc32", () => {
  const slowCrc = (b: Uint8Array) => {
    let c = 0xffffffff;
    for (const x of b) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };

  it("matches the standard check value and a bitwise reference at every length mod 8", () => {
    expect(crc32(enc("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    const r = rng(7);
    for (let n = 0; n < 70; n++) {
      const b = Uint8Array.from({ length: n * 3 + (n % 8) }, () => Math.floor(r() * 256));
      expect(crc32(b)).toBe(slowCrc(b));
      const cut = Math.floor(b.length / 3);
      expect(crc32(b.subarray(cut), crc32(b.subarray(0, cut)))).toBe(crc32(b)); // seed continues a CRC
    }
  });
});

describe("isZip", () => {
  it("accepts a local header or an empty-archive end record, nothing else", () => {
    expect(isZip(enc("PK\x03\x04rest"))).toBe(true);
    expect(isZip(enc("PK\x05\x06"))).toBe(true);
    expect(isZip(enc("PK\x01\x02"))).toBe(false);
    expect(isZip(enc("PK"))).toBe(false);
    expect(isZip(new Uint8Array([0x80, 2, 0x7d]))).toBe(false);
  });
});

describe("real PyTorch archives", () => {
  it("stories260K.pt (PyTorch 1.13): names, sizes, CRCs and offsets agree with Python's zipfile", () => {
    const src = openFileSource(STORIES_PT, "checkpoint");
    try {
      const zip = openZip(src);
      checkAgainstPython(zip, STORIES_ROWS);
      const names = new Set(zip.entries.map((e) => e.name));
      for (let k = 0; k <= 46; k++) expect(names.has(`stories260K/data/${k}`)).toBe(true);
      expect(zip.entries.filter((e) => e.name.startsWith("stories260K/data/")).length).toBe(47);
      expect(names.has("stories260K/byteorder")).toBe(false); // older torch: no byteorder / serialization_id
      expect(dec(readEntry(zip, zip.byName.get("stories260K/version")!))).toBe("3\n");
      expect(readEntry(zip, zip.byName.get("stories260K/data.pkl")!)[0]).toBe(0x80); // a pickle (PROTO)
    } finally {
      src.close();
    }
  });

  it("consolidated.00.pth (PyTorch 2.11): byteorder, .format_version, .storage_alignment, serialization_id", () => {
    const src = openFileSource(TINY_PTH, "checkpoint");
    try {
      const zip = openZip(src);
      checkAgainstPython(zip, TINY_ROWS);
      const text = (n: string) => dec(readEntry(zip, zip.byName.get(`consolidated.00/${n}`)!));
      expect(text("byteorder")).toBe("little");
      expect(text("version")).toBe("3\n");
      expect(text(".format_version")).toBe("1");
      expect(text(".storage_alignment")).toBe("64");
      expect(text(".data/serialization_id")).toMatch(/^\d{40}$/);
    } finally {
      src.close();
    }
  });

  it("a buffer source gives the same entries as the file source; chunked reads equal whole reads", () => {
    const bytes = new Uint8Array(readFileSync(STORIES_PT));
    const zip = openBytes(bytes);
    checkAgainstPython(zip, STORIES_ROWS);
    const e = zip.byName.get("stories260K/data/0")!;
    const whole = readEntry(zip, e);
    const got = new Uint8Array(e.size);
    const offsets: number[] = [];
    readEntryChunks(zip, e, 1000, (chunk, off) => {
      got.set(chunk, off);
      offsets.push(off);
    });
    expect(offsets.length).toBe(Math.ceil(e.size / 1000));
    expect(offsets[1]).toBe(1000);
    expect(Buffer.from(got).equals(Buffer.from(whole))).toBe(true);
    expect(Buffer.from(whole).equals(Buffer.from(bytes.subarray(e.dataOffset, e.dataOffset + e.size)))).toBe(true);
  });
});

describe("deflate entries (archive written by Python's zipfile)", () => {
  it("reads a deflated and a stored entry behind data descriptors and an archive comment", () => {
    const zip = openBytes(pyDeflateZip());
    const t = zip.byName.get("pkg/text.txt")!;
    expect(t).toMatchObject({ method: 8, size: 3000, compressedSize: 36, crc32: 0x1b485ba0 });
    expect(dec(readEntry(zip, t))).toBe("hello zip ".repeat(300));
    const r = zip.byName.get("pkg/raw.bin")!;
    expect(r).toMatchObject({ method: 0, size: 256, crc32: 0x29058c73 });
    expect(Array.from(readEntry(zip, r))).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  it("refuses chunked reads of compressed data, corrupt deflate streams and wrong declared sizes", () => {
    const b = pyDeflateZip();
    const zip = openBytes(b);
    const t = zip.byName.get("pkg/text.txt")!;
    expectUserError(() => readEntryChunks(zip, t, 1024, () => {}), FAKE, /compressed tensor data is not supported/);
    // Garbage in the deflate stream.
    const bad = patched(b, (c) => c.fill(0xff, t.dataOffset, t.dataOffset + 8));
    expectUserError(() => readEntry(openBytes(bad), t), FAKE, /deflate data is corrupt|inflates/);
    // Declared uncompressed size smaller / larger than what the stream inflates to.
    const cd = centralOffsets(b)[0];
    expectUserError(() => openAndReadAll(patched(b, (c) => put32(c, cd + 24, 2999))), FAKE, /more than its declared 2999/);
    expectUserError(() => openAndReadAll(patched(b, (c) => put32(c, cd + 24, 3001))), FAKE, /inflates to 3000 bytes, expected 3001/);
    // A claim of ~4 GB from 36 compressed bytes is refused before anything is allocated.
    expectUserError(() => openBytes(patched(b, (c) => put32(c, cd + 24, 0xfffffffe))), FAKE, /deflate cannot produce/);
    // Unknown method.
    const m = patched(b, (c) => put16(c, cd + 10, 12));
    expectUserError(() => openAndReadAll(m), FAKE, /compression method 12/);
  });
});

describe("zip writer round trips", () => {
  const sample = () => [
    { name: "arch/data.pkl", data: enc("pickle bytes") },
    { name: "arch/data/0", data: Uint8Array.from({ length: 1000 }, (_, i) => (i * 7) & 255) },
    { name: "arch/data/empty", data: new Uint8Array(0) },
    { name: "arch/ünïcode", data: enc("utf-8 name") },
    { name: "arch/version", data: enc("3\n") },
  ];

  for (const opts of [{}, { zip64: true }, { align: 4096 }, { align: 1 }, { align: 4096, zip64: true }]) {
    it(`zipToBytes ${JSON.stringify(opts)}: entries, alignment, CRCs`, () => {
      const entries = sample();
      const bytes = zipToBytes(entries, opts);
      expect(isZip(bytes)).toBe(true);
      const zip = openBytes(bytes);
      expect(zip.entries.map((e) => e.name)).toEqual(entries.map((e) => e.name));
      const align = (opts as { align?: number }).align ?? 64;
      for (const { name, data } of entries) {
        const e = zip.byName.get(name)!;
        expect(e).toMatchObject({ method: 0, size: data.length, compressedSize: data.length, crc32: crc32(data) });
        expect(e.dataOffset % align).toBe(0);
        expect(Array.from(readEntry(zip, e))).toEqual(Array.from(data));
        const chunks: number[] = [];
        readEntryChunks(zip, e, 7, (c) => chunks.push(...c));
        expect(chunks).toEqual(Array.from(data));
      }
    });
  }

  it("forced zip64 really writes the ZIP64 records and saturated classic fields", () => {
    const bytes = zipToBytes(sample(), { zip64: true });
    const eocd = bytes.length - 22;
    expect(le32(bytes, eocd)).toBe(0x06054b50);
    expect(le16(bytes, eocd + 10)).toBe(0xffff);
    expect(le32(bytes, eocd + 12)).toBe(0xffffffff);
    expect(le32(bytes, eocd + 16)).toBe(0xffffffff);
    expect(le32(bytes, eocd - 20)).toBe(0x07064b50); // locator
    expect(le32(bytes, eocd - 20 - 56)).toBe(0x06064b50); // ZIP64 end record
    expect(le32(bytes, 18)).toBe(0xffffffff); // local header sizes moved to the ZIP64 extra field
    expect(le16(bytes, 30 + "arch/data.pkl".length)).toBe(0x0001);
  });

  it("an empty archive opens with no entries", () => {
    for (const zip64 of [false, true]) {
      const bytes = zipToBytes([], { zip64 });
      if (!zip64) expect(isZip(bytes)).toBe(true); // "PK\x05\x06": nothing but the end record
      expect(openBytes(bytes).entries).toEqual([]);
    }
  });

  it("createZipWriter streams chunked entries (reused chunk buffer) to a file", () => {
    const path = join(tmp, "stream.pt");
    const w = createZipWriter(path);
    const buf = new Uint8Array(777);
    const expected: number[] = [];
    function* chunks() {
      for (let k = 0; k < 10; k++) {
        buf.fill(k);
        for (let i = 0; i < buf.length; i++) expected.push(k);
        yield buf;
      }
    }
    w.addEntryChunks("m/data/0", 7770, chunks());
    w.addEntry("m/version", enc("3\n"));
    w.addEntry("m/empty", new Uint8Array(0));
    w.close();
    const src = openFileSource(path, "checkpoint");
    try {
      const zip = openZip(src);
      expect(zip.entries.map((e) => [e.name, e.size, e.dataOffset % 64])).toEqual([
        ["m/data/0", 7770, 0],
        ["m/version", 2, 0],
        ["m/empty", 0, 0],
      ]);
      expect(Array.from(readEntry(zip, zip.entries[0]))).toEqual(expected);
      expect(zip.entries[0].crc32).toBe(crc32(Uint8Array.from(expected)));
    } finally {
      src.close();
    }
    expect(() => createZipWriter(path).addEntryChunks("m/x", 10, [new Uint8Array(5)])).toThrow(/5 of its 10 bytes/);
    expect(() => zipToBytes([{ name: "a", data: enc("1") }, { name: "a", data: enc("2") }])).toThrow(/duplicate/);
  });
});

describe("byte sources", () => {
  it("file source: missing file, directory, reads past the end", () => {
    expectUserError(() => openFileSource(join(tmp, "nope.pth"), "checkpoint"), "checkpoint", "nope.pth", /no such file/);
    const dir = join(tmp, "a-dir");
    mkdirSync(dir, { recursive: true });
    expectUserError(() => openFileSource(dir, "checkpoint"), dir, /is a directory/);
    const p = join(tmp, "ten.bin");
    writeFileSync(p, Uint8Array.from({ length: 10 }, (_, i) => i));
    const src = openFileSource(p, "checkpoint");
    try {
      expect(src.size).toBe(10);
      expect(Array.from(src.read(7, 3))).toEqual([7, 8, 9]);
      expect(src.read(10, 0).length).toBe(0);
      const t = new Uint8Array(4);
      src.readInto(2, t);
      expect(Array.from(t)).toEqual([2, 3, 4, 5]);
      expectUserError(() => src.read(8, 3), p, /unexpected end of file at offset 10 \(truncated\?\)/);
      expectUserError(() => src.read(11, 0), p, /unexpected end of file/);
      expectUserError(() => src.read(-1, 2), p);
      expectUserError(() => src.readInto(9, new Uint8Array(2)), p, /unexpected end of file/);
    } finally {
      src.close();
      src.close(); // idempotent
    }
  });

  it("buffer source: fresh copies and the same bounds checks", () => {
    const bytes = Uint8Array.from([1, 2, 3, 4]);
    const src: ByteSource = bufferSource(bytes, FAKE, "checkpoint");
    const r = src.read(1, 2);
    r[0] = 99;
    expect(bytes[1]).toBe(2);
    expectUserError(() => src.read(3, 2), FAKE, /unexpected end of file at offset 4/);
    expectUserError(() => src.read(0.5, 1), FAKE);
  });
});

describe("damaged and hostile archives", () => {
  const stories = new Uint8Array(readFileSync(STORIES_PT));
  const tiny = new Uint8Array(readFileSync(TINY_PTH));
  const written = zipToBytes(
    [
      { name: "w/data.pkl", data: enc("pickle") },
      { name: "w/data/0", data: Uint8Array.from({ length: 3000 }, (_, i) => i & 255) },
      { name: "w/version", data: enc("3\n") },
    ],
    {},
  );
  const written64 = zipToBytes(
    [
      { name: "w/data.pkl", data: enc("pickle") },
      { name: "w/data/0", data: Uint8Array.from({ length: 3000 }, (_, i) => i & 255) },
    ],
    { zip64: true },
  );

  it("truncation at every 1/50th of each archive is a UserError", () => {
    for (const b of [stories, tiny, written, written64, pyDeflateZip()]) {
      for (let k = 0; k < 50; k++) {
        const cut = Math.floor((b.length * k) / 50);
        expectUserError(() => openAndReadAll(b.subarray(0, cut)), FAKE);
      }
      expectUserError(() => openAndReadAll(b.subarray(0, b.length - 1)), FAKE);
    }
    expectUserError(() => openBytes(new Uint8Array(0)), FAKE, /no zip end of central directory record/);
    expectUserError(() => openBytes(enc("just some text, not a zip at all")), FAKE, /no zip end of central directory record/);
  });

  it("end of central directory damage", () => {
    const eocd = stories.length - 22;
    expectUserError(() => openBytes(patched(stories, (c) => (c[eocd] = 0))), FAKE, /no zip end of central directory record/);
    // The classic record disagreeing with torch's (always present) ZIP64 record.
    expectUserError(() => openBytes(patched(stories, (c) => put16(c, eocd + 10, 48))), FAKE, /entry counts|disagrees/);
    expectUserError(() => openBytes(patched(stories, (c) => put32(c, eocd + 16, le32(c, eocd + 16) + 1))), FAKE, /disagrees/);
    // Without a ZIP64 record: counts that cannot fit, offsets past the end.
    const we = written.length - 22;
    expectUserError(() => openBytes(patched(written, (c) => (put16(c, we + 8, 5000), put16(c, we + 10, 5000)))), FAKE, /claims 5000 entries, which cannot fit/);
    expectUserError(() => openBytes(patched(written, (c) => put32(c, we + 16, 0x7fffffff))), FAKE, /past the end of the file/);
    expectUserError(() => openBytes(patched(written, (c) => put16(c, we + 4, 1))), FAKE, /multi-disk/);
    // Saturated classic fields but no locator.
    expectUserError(() => openBytes(patched(written, (c) => put32(c, we + 16, 0xffffffff))), FAKE, /zip64 locator/);
  });

  it("ZIP64 locator and record damage", () => {
    const loc = tiny.length - 22 - 20;
    expect(le32(tiny, loc)).toBe(0x07064b50);
    expectUserError(() => openBytes(patched(tiny, (c) => put64(c, loc + 8, 2 ** 40))), FAKE, /locator points outside the file/);
    expectUserError(() => openBytes(patched(tiny, (c) => put64(c, loc + 8, tiny.length - 30))), FAKE, /locator points outside the file/);
    expectUserError(() => openBytes(patched(tiny, (c) => put32(c, loc + 16, 2))), FAKE, /multi-disk/);
    const rec = le32(tiny, loc + 8);
    expectUserError(() => openBytes(patched(tiny, (c) => (c[rec] = 0))), FAKE, /no zip64 end of central directory record/);
    expectUserError(() => openBytes(patched(tiny, (c) => put64(c, rec + 4, 2 ** 50))), FAKE, /bad size/);
    // Forced-ZIP64 archive: the ZIP64 record is the only source of the directory's place and size.
    const l64 = written64.length - 22 - 20;
    const r64 = le32(written64, l64 + 8);
    expectUserError(() => openBytes(patched(written64, (c) => put64(c, r64 + 48, 2 ** 50))), FAKE, /past the end of the file/);
    expectUserError(() => openBytes(patched(written64, (c) => (put64(c, r64 + 24, 2 ** 52), put64(c, r64 + 32, 2 ** 52)))), FAKE, /cannot fit/);
  });

  it("central directory and local header damage", () => {
    const cds = centralOffsets(stories);
    const cd3 = cds[3];
    expectUserError(() => openBytes(patched(stories, (c) => (c[cd3] = 0x51))), FAKE, /central directory entry 3 has a bad signature/);
    expectUserError(() => openBytes(patched(stories, (c) => put16(c, cd3 + 28, 0xffff))), FAKE, /entry 3: name or extra field runs past/);
    expectUserError(() => openBytes(patched(stories, (c) => put32(c, cd3 + 42, 0x7fffff00))), FAKE, /"stories260K\/data\/10" points past the end of the file \(truncated\?\)/);
    expectUserError(() => openBytes(patched(stories, (c) => put32(c, cd3 + 42, 1054000))), FAKE, /overlaps the central directory|past the central directory/);
    // Local header signature and name.
    const lho = STORIES_ROWS[3][3];
    expectUserError(() => openBytes(patched(stories, (c) => (c[lho + 1] = 0))), FAKE, /no local header at offset 153104/);
    expectUserError(() => openBytes(patched(stories, (c) => put16(c, lho + 26, le16(c, lho + 26) - 1))), FAKE, /local header name differs/);
    expectUserError(() => openBytes(patched(stories, (c) => (c[lho + 30] = 0x58))), FAKE, /local header name differs/);
    // Local extra length pushing the data past the central directory (last entry).
    const lastLho = STORIES_ROWS[48][3];
    expectUserError(() => openBytes(patched(stories, (c) => put16(c, lastLho + 28, 0xffff))), FAKE, /runs past the central directory/);
    // A name with a newline (UTF-8 flag set) still gives a one-line message.
    expectUserError(() => openBytes(patched(stories, (c) => ((c[cd3 + 46] = 0x0a), put16(c, cd3 + 42, 0x7fff), put16(c, cd3 + 44, 0x7fff)))), FAKE, /\\u000a/);
    // Invalid UTF-8 under the UTF-8 flag.
    expectUserError(() => openBytes(patched(stories, (c) => (c[cd3 + 46] = 0xff))), FAKE, /not valid UTF-8/);
  });

  it("entry sizes of 2^50 are refused before any allocation", () => {
    const cd1 = centralOffsets(written64)[1];
    const nameLen = le16(written64, cd1 + 28);
    const z = cd1 + 46 + nameLen; // ZIP64 extra: id, len, size, compressed size, offset
    expect(le16(written64, z)).toBe(0x0001);
    expectUserError(() => openBytes(patched(written64, (c) => (put64(c, z + 4, 2 ** 50), put64(c, z + 12, 2 ** 50)))), FAKE, /run past the central directory or the end of the file/);
    expectUserError(() => openBytes(patched(written64, (c) => put64(c, z + 4, 2 ** 50))), FAKE, /stored but its sizes disagree/);
    expectUserError(() => openBytes(patched(written64, (c) => (put64(c, z + 4, 2 ** 50), put16(c, cd1 + 10, 8)))), FAKE, /deflate cannot produce/);
    expectUserError(() => openBytes(patched(written64, (c) => put64(c, z + 20, 2 ** 50))), FAKE, /points past the end of the file/);
    // The ZIP64 extra field too short (length cut to 4), or absent (id changed), while the classic fields say 0xFFFFFFFF.
    expectUserError(() => openBytes(patched(written64, (c) => put16(c, z + 2, 4))), FAKE, /zip64 extra field is too short/);
    expectUserError(() => openBytes(patched(written64, (c) => put16(c, z, 0x9999))), FAKE, /need a zip64 extra field/);
  });

  it("CRC mismatch, encryption, duplicate names, overlapping entries", () => {
    const e0 = STORIES_ROWS[1];
    const flipped = patched(stories, (c) => (c[e0[4] + 100] ^= 1));
    const zip = openBytes(flipped);
    const entry = zip.byName.get(e0[0])!;
    expectUserError(() => readEntry(zip, entry), FAKE, /"stories260K\/data\/0": CRC-32 mismatch \(stored 0x297f3ba4/);
    expectUserError(() => readEntryChunks(zip, entry, 4096, () => {}), FAKE, /CRC-32 mismatch/);

    const cds = centralOffsets(stories);
    expectUserError(() => openBytes(patched(stories, (c) => (c[cds[5] + 8] |= 1))), FAKE, /"stories260K\/data\/12" is encrypted/);
    expectUserError(() => openBytes(patched(stories, (c) => (c[STORIES_ROWS[5][3] + 6] |= 1))), FAKE, /is encrypted/);

    // Two entries renamed to the same name in both the local headers and the central directory.
    const two = zipToBytes([
      { name: "d/x", data: enc("one") },
      { name: "d/y", data: enc("two") },
    ]);
    const dup = patched(two, (c) => {
      for (let i = 0; i + 3 <= c.length; i++) if (c[i] === 0x64 && c[i + 1] === 0x2f && c[i + 2] === 0x79) c[i + 2] = 0x78;
    });
    expectUserError(() => openBytes(dup), FAKE, /duplicate zip entry name "d\/x"/);

    // Entry 0 grown so its data runs into entry 1's local header.
    const w0 = centralOffsets(written)[0];
    const grow = patched(written, (c) => (put32(c, w0 + 20, 200), put32(c, w0 + 24, 200)));
    expectUserError(() => openBytes(grow), FAKE, /"w\/data.pkl" and "w\/data\/0" overlap/);
  });

  it("seeded fuzz: random truncations and byte flips either read cleanly or give a one-line UserError", () => {
    const r = rng(20240601);
    const bases = [stories, tiny, written64];
    const headers = bases.map((b) => openBytes(b).entries.map((e) => e.localHeaderOffset));
    let ok = 0;
    let refused = 0;
    for (let iter = 0; iter < 300; iter++) {
      const base = bases[iter % bases.length];
      const lhos = headers[iter % bases.length];
      let b: Uint8Array;
      if (r() < 0.3) {
        b = base.subarray(0, Math.floor(r() * base.length));
      } else {
        b = base.slice();
        const flips = 1 + Math.floor(r() * 4);
        for (let k = 0; k < flips; k++) {
          // Mostly hit structure: the directory/end records, or the start of a local header.
          const where = r();
          let pos: number;
          if (where < 0.45) pos = b.length - 1 - Math.floor(r() * Math.min(b.length, 4096));
          else if (where < 0.9) pos = lhos[Math.floor(r() * lhos.length)] + Math.floor(r() * 64);
          else pos = Math.floor(r() * b.length);
          b[Math.min(pos, b.length - 1)] ^= 1 << Math.floor(r() * 8);
        }
      }
      try {
        openAndReadAll(b);
        ok++;
      } catch (e) {
        if (!(e instanceof UserError)) throw new Error(`iteration ${iter}: ${String(e)}`);
        expect(e.message).toContain(FAKE);
        expect(e.message).not.toContain("\n");
        refused++;
      }
    }
    console.log(`fuzz: ${ok} read cleanly, ${refused} refused with a UserError`);
    expect(refused).toBeGreaterThan(100);
    expect(ok + refused).toBe(300);
  });
});

describe("performance", () => {
  it("streams a 50 MB stored entry in 4 MB chunks with its CRC checked", () => {
    const path = join(tmp, "big.pt");
    const size = 50 * 1024 * 1024 + 123;
    const chunk = new Uint8Array(4 * 1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    function* chunks() {
      for (let done = 0; done < size; done += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, size - done));
    }
    const w = createZipWriter(path);
    w.addEntry("big/data.pkl", enc("x"));
    w.addEntryChunks("big/data/0", size, chunks());
    w.close();
    const src = openFileSource(path, "checkpoint");
    try {
      const zip = openZip(src);
      const e = zip.byName.get("big/data/0")!;
      expect(e.dataOffset % 64).toBe(0);
      let total = 0;
      let sample = -1;
      const t0 = performance.now();
      readEntryChunks(zip, e, 4 * 1024 * 1024, (c, off) => {
        if (off === 4 * 1024 * 1024) sample = c[12345];
        total += c.length;
      });
      const ms = performance.now() - t0;
      expect(total).toBe(size);
      expect(sample).toBe(chunk[12345]);
      console.log(`readEntryChunks: ${(size / 1e6).toFixed(1)} MB in ${ms.toFixed(0)} ms (${(size / 1e3 / ms).toFixed(0)} MB/s) incl. CRC-32`);
    } finally {
      src.close();
    }
  });
});
