// Corruption fuzzing of every checkpoint format through `loadModel` (the loaders' acceptance test): a few hundred
// seeded random corruptions of each fixture — truncation, 1–8 flipped bytes anywhere or in the header / metadata,
// 0xFFFFFFFF or 0x7FFFFFFF written over 4 bytes (huge sizes), a zeroed range, plus two structured ones that get
// past the checksums and the JSON syntax: bytes of the zip's data.pkl flipped with its CRC-32 fixed up (so the
// unpickler and the state-dict checks see them), and a safetensors header that is valid JSON with one field
// changed — must each end in either a successful load whose weights are all finite and of the right lengths, or a
// UserError whose message is one line naming the file. Anything else (another exception type, a multi-line or
// anonymous message, an attempt taking seconds) fails with the seed and iteration: each attempt draws from its own
// PRNG seeded by (format seed, iteration), so a failing case reruns alone.
//
// LLAMA_GOLDEN_FUZZ_ITERS=5000 runs a longer campaign, LLAMA_GOLDEN_FUZZ_SEED=n other seeds, and
// LLAMA_GOLDEN_FUZZ_VERBOSE=1 prints how the attempts of each format ended (to see what the corruptions reach).
import { afterAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/loaders/index.js";
import { crc32 } from "../../src/loaders/zip.js";
import { weightShapes, type Model } from "../../src/engine/weights.js";
import { UserError } from "../../src/util/errors.js";
import { FIXTURES, MODEL_BIN } from "../helpers/fixtures.js";

/** Attempts per format (~2 ms each on the ~1 MB fixtures). */
const ITERS = Number(process.env.LLAMA_GOLDEN_FUZZ_ITERS ?? 300);
const SEED_OVERRIDE = process.env.LLAMA_GOLDEN_FUZZ_SEED === undefined ? undefined : Number(process.env.LLAMA_GOLDEN_FUZZ_SEED) >>> 0;
const VERBOSE = !!process.env.LLAMA_GOLDEN_FUZZ_VERBOSE;
/** One attempt slower than this is reported as a (near) hang; a clean load of these fixtures takes milliseconds. */
const SLOW_MS = 3000;

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-fuzz-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---- seeded PRNG ----

/** mulberry32-style 32-bit generator: small, fast, deterministic for a seed. */
function prng(seed: number) {
  let s = seed >>> 0;
  const u32 = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
  /** Uniform integer in [0, n). */
  const int = (n: number): number => (n <= 0 ? 0 : Math.floor((u32() / 2 ** 32) * n));
  return { u32, int, pick: <T,>(a: readonly T[]): T => a[int(a.length)] };
}
type Rng = ReturnType<typeof prng>;

// ---- the formats ----

/** A byte range [start, end) where a format keeps its structure (headers, sizes, names, offsets). */
type Region = [number, number];

interface Corrupted {
  bytes: Uint8Array;
  /** What was done, for failure messages. */
  what: string;
}

interface Format {
  name: string;
  seed: number;
  original: Uint8Array;
  /** Header / metadata ranges the targeted corruptions aim at. */
  regions: Region[];
  /** Format-specific corruptions that get past a checksum or the header's syntax. */
  special?: { kind: string; apply(orig: Uint8Array, rng: Rng): Corrupted };
  /** The path the corrupted file is written to; every error must name it. */
  file: string;
  load(): Model;
}

const u16le = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32le = (b: Uint8Array, o: number) => new DataView(b.buffer, b.byteOffset).getUint32(o, true);

interface ZipFacts {
  cdOffset: number;
  /** data.pkl: where its bytes are and where the central directory keeps its CRC-32. */
  pkl: { start: number; size: number; cdCrcAt: number; localCrcAt: number };
}

/** Just enough zip reading (for well-formed fixtures) to aim corruptions: the directory and data.pkl. */
function zipFacts(b: Uint8Array): ZipFacts {
  let eocd = -1;
  for (let i = b.length - 22; i >= 0 && eocd < 0; i--) if (u32le(b, i) === 0x06054b50) eocd = i;
  const count = u16le(b, eocd + 10);
  const cdOffset = u32le(b, eocd + 16);
  for (let i = 0, p = cdOffset; i < count; i++) {
    const nameLen = u16le(b, p + 28);
    const name = new TextDecoder().decode(b.subarray(p + 46, p + 46 + nameLen));
    if (name.endsWith("/data.pkl")) {
      const lho = u32le(b, p + 42);
      const start = lho + 30 + u16le(b, lho + 26) + u16le(b, lho + 28);
      return { cdOffset, pkl: { start, size: u32le(b, p + 20), cdCrcAt: p + 16, localCrcAt: lho + 14 } };
    }
    p += 46 + nameLen + u16le(b, p + 30) + u16le(b, p + 32);
  }
  throw new Error("fixture has no data.pkl");
}

/** First 4 KB (local header and data.pkl) and the central directory + end record (at least the last 1 KB). */
const zipRegions = (b: Uint8Array, z: ZipFacts): Region[] => [
  [0, Math.min(4096, b.length)],
  [Math.max(0, Math.min(z.cdOffset, b.length - 1024)), b.length],
];

/** Flips 1–8 bytes of data.pkl and stores the new CRC-32 in both headers, so the unpickler gets the bytes. */
const picklePatch = (z: ZipFacts) => ({
  kind: "pickle (CRC fixed)",
  apply(orig: Uint8Array, rng: Rng): Corrupted {
    const b = orig.slice();
    const at: string[] = [];
    for (let k = 1 + rng.int(8); k > 0; k--) {
      const o = rng.int(z.pkl.size);
      const x = 1 + rng.int(255);
      b[z.pkl.start + o] ^= x;
      at.push(`${o}^0x${x.toString(16)}`);
    }
    const crc = crc32(b.subarray(z.pkl.start, z.pkl.start + z.pkl.size));
    const dv = new DataView(b.buffer);
    dv.setUint32(z.pkl.cdCrcAt, crc, true);
    dv.setUint32(z.pkl.localCrcAt, crc, true);
    return { bytes: b, what: `data.pkl bytes ${at.join(" ")}, CRC fixed` };
  },
});

/** Odd values for one field of a tensor entry. */
const ODD_NUMBERS = [0, 1, -1, 2, 95, 97, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 64, 1e308, "96", null, true];

/** Re-serializes the header as valid JSON with one thing changed; the data section is kept as it is. */
function safetensorsHeaderPatch(orig: Uint8Array) {
  const n = Number(new DataView(orig.buffer, orig.byteOffset).getBigUint64(0, true));
  const data = orig.subarray(8 + n);
  const header = JSON.parse(new TextDecoder().decode(orig.subarray(8, 8 + n))) as Record<string, unknown>;
  const names = Object.keys(header).filter((k) => k !== "__metadata__");
  return {
    kind: "header JSON field",
    apply(_orig: Uint8Array, rng: Rng): Corrupted {
      let h: unknown = structuredClone(header);
      const o = h as Record<string, Record<string, unknown>>;
      const name = rng.pick(names);
      const e = o[name];
      const shape = e.shape as unknown[];
      const offs = e.data_offsets as number[];
      let what: string;
      switch (rng.int(9)) {
        case 0:
          e.dtype = rng.pick(["F32", "F16", "BF16", "I64", "F64", "U8", "bf16", "", null, 7, ["BF16"]]);
          what = `${name}.dtype = ${JSON.stringify(e.dtype)}`;
          break;
        case 1: {
          const i = rng.int(shape.length + 1);
          shape[i] = rng.pick(ODD_NUMBERS);
          what = `${name}.shape[${i}] = ${JSON.stringify(shape[i])}`;
          break;
        }
        case 2:
          e.shape = rng.pick([[], null, "x", {}, [96, 96, 96], [shape[1], shape[0]], [shape.reduce((a: number, b) => a * (b as number), 1)]]);
          what = `${name}.shape = ${JSON.stringify(e.shape)}`;
          break;
        case 3: {
          const i = rng.int(2);
          const v = rng.pick([...ODD_NUMBERS, offs[i] + 2, offs[i] - 2, offs[1 - i], 1_000_000]);
          e.data_offsets = i ? [offs[0], v] : [v, offs[1]];
          what = `${name}.data_offsets = ${JSON.stringify(e.data_offsets)}`;
          break;
        }
        case 4:
          e.data_offsets = rng.pick([[offs[1], offs[0]], [offs[0]], [...offs, offs[1]], null, {}, [offs[0] + 2, offs[1] + 2], [0, offs[1] - offs[0]]]);
          what = `${name}.data_offsets = ${JSON.stringify(e.data_offsets)}`;
          break;
        case 5: {
          const to = name + rng.pick([".bias", "x", "\n", '"', "\u0000", "\u2028"]);
          o[to] = e;
          delete o[name];
          what = `rename ${name} to ${JSON.stringify(to)}`;
          break;
        }
        case 6:
          delete o[name];
          what = `delete ${name}`;
          break;
        case 7: {
          const v = rng.pick([null, 5, "x", [], {}, { dtype: "BF16" }]);
          o[name] = v as Record<string, unknown>;
          what = `${name} = ${JSON.stringify(v)}`;
          break;
        }
        default:
          h = rng.pick([[], null, 5, "x", { __metadata__: 5 }, { ...o, __metadata__: { format: ["pt"] } }]);
          what = `header = ${JSON.stringify(h).slice(0, 60)}`;
      }
      const json = new TextEncoder().encode(JSON.stringify(h));
      const b = new Uint8Array(8 + json.length + data.length);
      new DataView(b.buffer).setBigUint64(0, BigInt(json.length), true);
      b.set(json, 8);
      b.set(data, 8 + json.length);
      return { bytes: b, what };
    },
  };
}

function formats(): Format[] {
  const bin = new Uint8Array(readFileSync(MODEL_BIN));
  const pt = new Uint8Array(readFileSync(join(FIXTURES, "stories260K.pt")));
  const pth = new Uint8Array(readFileSync(join(FIXTURES, "tiny_llama3", "consolidated.00.pth")));
  const st = new Uint8Array(readFileSync(join(FIXTURES, "tiny_llama3", "hf", "model.safetensors")));
  const stHeaderEnd = 8 + Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
  const ptZip = zipFacts(pt);
  const pthZip = zipFacts(pth);

  const binFile = join(tmp, "fuzz.bin");
  const ptFile = join(tmp, "fuzz.pt");
  const pthFile = join(tmp, "fuzz.pth");
  const pthParams = join(FIXTURES, "tiny_llama3", "params.json");
  const stDir = join(tmp, "hf");
  const stFile = join(stDir, "model.safetensors");
  mkdirSync(stDir, { recursive: true });
  // config.json beside the file, as save_pretrained writes it; loadModel picks it up from there.
  copyFileSync(join(FIXTURES, "tiny_llama3", "hf", "config.json"), join(stDir, "config.json"));

  return [
    { name: "llama2.c .bin", seed: 0x6c32632e, original: bin, regions: [[0, 28]], file: binFile, load: () => loadModel({ checkpoint: binFile }).model },
    {
      name: "stories260K.pt",
      seed: 0x70740001,
      original: pt,
      regions: zipRegions(pt, ptZip),
      special: picklePatch(ptZip),
      file: ptFile,
      load: () => loadModel({ checkpoint: ptFile }).model,
    },
    {
      name: "tiny_llama3 .pth + params.json",
      seed: 0x70746802,
      original: pth,
      regions: zipRegions(pth, pthZip),
      special: picklePatch(pthZip),
      file: pthFile,
      load: () => loadModel({ checkpoint: pthFile, params: pthParams }).model,
    },
    {
      name: "tiny_llama3 safetensors + config.json",
      seed: 0x73740003,
      original: st,
      regions: [[0, stHeaderEnd]],
      special: safetensorsHeaderPatch(st),
      file: stFile,
      load: () => loadModel({ checkpoint: stFile }).model,
    },
  ];
}

// ---- the generic corruptions ----

const KINDS = ["truncate", "flip", "flip-header", "huge", "zero-range"] as const;

const inRegion = (rng: Rng, regions: Region[]): number => {
  const [a, b] = rng.pick(regions);
  return a + rng.int(b - a);
};

function corrupt(orig: Uint8Array, regions: Region[], kind: (typeof KINDS)[number], rng: Rng): Corrupted {
  const n = orig.length;
  switch (kind) {
    case "truncate": {
      // Half anywhere, half inside a structural region (cutting through a header or the directory).
      const len = rng.int(2) ? rng.int(n) : Math.min(n - 1, inRegion(rng, regions));
      return { bytes: orig.slice(0, len), what: `truncate to ${len} bytes` };
    }
    case "flip":
    case "flip-header": {
      const b = orig.slice();
      const at: string[] = [];
      for (let k = 1 + rng.int(8); k > 0; k--) {
        const o = kind === "flip" ? rng.int(n) : inRegion(rng, regions);
        const x = 1 + rng.int(255);
        b[o] ^= x;
        at.push(`${o}^0x${x.toString(16)}`);
      }
      return { bytes: b, what: `${kind} ${at.join(" ")}` };
    }
    case "huge": {
      const b = orig.slice();
      const o = rng.int(2) ? rng.int(n - 3) : Math.min(n - 4, inRegion(rng, regions));
      const v = rng.int(2) ? 0xffffffff : 0x7fffffff;
      new DataView(b.buffer).setUint32(o, v, true);
      return { bytes: b, what: `write 0x${v.toString(16)} at ${o}` };
    }
    case "zero-range": {
      const b = orig.slice();
      const start = rng.int(2) ? rng.int(n) : inRegion(rng, regions);
      const end = Math.min(n, start + 1 + rng.int(rng.int(2) ? 64 : 8192));
      b.fill(0, start, end);
      return { bytes: b, what: `zero [${start}, ${end})` };
    }
  }
}

/** Why a successfully loaded model is not acceptable, or undefined when every weight is finite and of the right length. */
function badModel(m: Model): string | undefined {
  const shapes = weightShapes(m.config);
  const check = (name: string, key: string, a: Float32Array): string | undefined => {
    const want = shapes[key].reduce((x, y) => x * y, 1);
    if (!(a instanceof Float32Array) || a.length !== want) return `${name}: ${a?.length} values, expected ${want}`;
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return `${name}[${i}] = ${a[i]}`;
    return undefined;
  };
  const w = m.weights;
  if (w.layers.length !== m.config.nLayers) return `${w.layers.length} layers, but the config says ${m.config.nLayers}`;
  let why = check("tokEmbeddings", "tokEmbeddings", w.tokEmbeddings) ?? check("norm", "norm", w.norm) ?? check("output", "output", w.output);
  w.layers.forEach((l, i) => {
    for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"] as const) why ??= check(`layers.${i}.${k}`, k, l[k]);
  });
  return why;
}

/** A refusal message with the variable parts blanked, for the VERBOSE summary. */
const messageShape = (msg: string, file: string) =>
  msg.replaceAll(file, "FILE").replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/0x[0-9a-f]+/g, "0x…").replace(/\d+/g, "N");

describe("corrupted checkpoints end in a clean error or a good load, never a crash or a hang", () => {
  for (const [index, base] of formats().entries()) {
    const f = SEED_OVERRIDE === undefined ? base : { ...base, seed: (SEED_OVERRIDE + index) >>> 0 };
    const kinds: string[] = [...KINDS, ...(f.special ? [f.special.kind] : [])];
    it(`${f.name}: ${ITERS} seeded corruptions (seed 0x${f.seed.toString(16)})`, () => {
      // The intact file loads, so every refusal below is the corruption's doing.
      writeFileSync(f.file, f.original);
      expect(badModel(f.load())).toBeUndefined();

      const failures: string[] = [];
      const tally = { loaded: 0, refused: 0 };
      const outcomes = new Map<string, number>();
      let slowest = 0;
      for (let iter = 0; iter < ITERS; iter++) {
        const rng = prng(f.seed ^ Math.imul(iter + 1, 0x9e3779b1));
        const kind = kinds[iter % kinds.length];
        const { bytes, what } = f.special && kind === f.special.kind ? f.special.apply(f.original, rng) : corrupt(f.original, f.regions, kind as (typeof KINDS)[number], rng);
        const tag = `${f.name}, seed 0x${f.seed.toString(16)} iteration ${iter} (${what})`;
        writeFileSync(f.file, bytes);
        let outcome: string;
        const t0 = performance.now();
        try {
          const why = badModel(f.load());
          if (why) failures.push(`${tag}: loaded a bad model: ${why}`);
          tally.loaded++;
          outcome = "loaded";
        } catch (e) {
          if (!(e instanceof UserError)) failures.push(`${tag}: threw ${(e as Error)?.name ?? typeof e}: ${String((e as Error)?.message ?? e).split("\n")[0]}`);
          // One line, and no other control characters (a corrupt name or V8's quote of bad JSON must come out escaped).
          else if (/[\x00-\x1f]/.test(e.message)) failures.push(`${tag}: message with a line break or control character ${JSON.stringify(e.message)}`);
          else if (!e.message.includes(f.file)) failures.push(`${tag}: the message does not name ${f.file}: ${e.message}`);
          tally.refused++;
          outcome = e instanceof Error ? messageShape(e.message, f.file) : String(e);
        }
        const ms = performance.now() - t0;
        slowest = Math.max(slowest, ms);
        if (ms > SLOW_MS) failures.push(`${tag}: took ${ms.toFixed(0)} ms`);
        const key = `${kind}: ${outcome}`;
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }
      if (VERBOSE)
        console.log([`${f.name}: slowest attempt ${slowest.toFixed(1)} ms`, ...[...outcomes].sort().map(([k, n]) => `${String(n).padStart(5)}  ${k}`)].join("\n"));
      expect(failures, failures.slice(0, 20).join("\n")).toEqual([]);
      // Every truncation is refused, so a run without refusals corrupted nothing.
      expect(tally.refused).toBeGreaterThan(ITERS / 6);
    });
  }
});
