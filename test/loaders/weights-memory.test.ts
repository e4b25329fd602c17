// Issue 8's loader work: weights in SharedArrayBuffers (one buffer with views for llama2.c .bin, alignment and
// non-shared inputs falling back to one copy), the native CRC-32 against the JavaScript one, the non-finite check
// fused into conversion (every dtype and path, chunk offsets past the first chunk), storages shared by several
// views (zero-copy subarrays, CRC checked even for partial views), sharded safetensors kept apart, one 64-byte
// aligned arena per model, and HF's q/k rows put back in place or, for shared storages, in copies.
import { describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadModel } from "../../src/loaders/index.js";
import { loadLlama2cBin } from "../../src/loaders/llama2c-bin.js";
import { CRC32_IMPLEMENTATION, crc32, crc32Js } from "../../src/loaders/zip.js";
import { firstNonFinite, halfToFloat, toFloat32, type StoredDType } from "../../src/loaders/dtype.js";
import { isShared } from "../../src/loaders/tensors.js";
import { readTorchCheckpoint } from "../../src/loaders/pytorch.js";
import { bufferSource } from "../../src/loaders/byte-source.js";
import { picklePlain, torchOrderedDict, torchTensor, type WritableValue } from "../../src/loaders/pickle-writer.js";
import { zipToBytes } from "../../src/loaders/zip-writer.js";
import type { Model } from "../../src/engine/weights.js";
import { unpermuteHfRows } from "../../src/loaders/state-dict.js";
import { FIXTURES, MODEL_BIN, bitsEqual } from "../helpers/fixtures.js";
import { expectUserError } from "../helpers/errors.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-wm-"));

/** Every weight array of a model (the tied head once). */
function arrays(m: Model): Float32Array[] {
  const w = m.weights;
  const out = new Set<Float32Array>([w.tokEmbeddings, w.norm, w.output]);
  for (const l of w.layers) for (const a of Object.values(l)) out.add(a);
  return [...out];
}

/** Deterministic bytes (xorshift32). */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed | 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

describe("CRC-32", () => {
  it("uses Node's zlib.crc32 where Node has it (>= 20.15), and both give the standard check value", () => {
    const [major, minor] = process.versions.node.split(".").map(Number);
    const hasNative = major > 20 || (major === 20 && minor >= 15);
    expect(CRC32_IMPLEMENTATION).toBe(hasNative ? "zlib" : "js");
    const check = new TextEncoder().encode("123456789");
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32Js(check)).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it("native and JavaScript agree on random data of every length mod 8, with seeds, on shared memory too", () => {
    for (let len = 0; len < 200; len += 7) {
      const b = noise(len, len + 11);
      expect(crc32(b)).toBe(crc32Js(b));
      const cut = len >> 1;
      expect(crc32(b.subarray(cut), crc32(b.subarray(0, cut)))).toBe(crc32Js(b));
    }
    const big = noise(3 << 20, 99);
    const shared = new Uint8Array(new SharedArrayBuffer(big.length + 5)).subarray(5);
    shared.set(big);
    expect(crc32(shared)).toBe(crc32Js(big));
    expect(crc32(big.subarray(1, big.length - 3), 0xdeadbeef)).toBe(crc32Js(big.subarray(1, big.length - 3), 0xdeadbeef));
  });
});

describe("conversion finds the first non-finite value in the same pass", () => {
  const f32 = (v: number[]) => new Uint8Array(new Float32Array(v).buffer);
  const hi16 = (v: number[]) => {
    const u = new Uint32Array(new Float32Array(v).buffer);
    const out = new Uint8Array(2 * v.length);
    u.forEach((x, i) => {
      out[2 * i] = (x >>> 16) & 0xff;
      out[2 * i + 1] = x >>> 24;
    });
    return out;
  };
  const halves = (h: number[]) => new Uint8Array(new Uint16Array(h).buffer);
  /** The same bytes at an odd offset: the unaligned (byte-wise) paths. */
  const shifted = (b: Uint8Array) => {
    const s = new Uint8Array(b.length + 1);
    s.set(b, 1);
    return s;
  };
  const cases: [StoredDType, Uint8Array, number][] = [
    ["F32", f32([1, 2, 3, 4]), -1],
    ["F32", f32([1, 2, NaN, Infinity]), 2],
    ["F32", f32([1, -Infinity]), 1],
    ["BF16", hi16([1, 2, 3, 4]), -1],
    ["BF16", hi16([0, 3e38, Infinity, NaN]), 2],
    ["BF16", hi16([-Infinity, 1]), 0],
    ["F16", halves([0x3c00, 0x7bff, 0xfc00, 0x7e00]), 2],
    ["F16", halves([0x3c00, 0x0001, 0x8000]), -1],
  ];
  it.each(cases)("%s: first non-finite index on aligned and unaligned input", (dtype, bytes, want) => {
    const n = bytes.length / (dtype === "F32" ? 4 : 2);
    const a = new Float32Array(n);
    expect(toFloat32(dtype, bytes, 0, n, a, 0)).toBe(want);
    const b = new Float32Array(n + 2);
    expect(toFloat32(dtype, shifted(bytes), 1, n, b, 2)).toBe(want);
    expect(bitsEqual(a, b.subarray(2))).toBe(true);
    expect(firstNonFinite(a)).toBe(want);
  });

  it("float16 through the table equals halfToFloat for all 65536 values", () => {
    const all = new Uint16Array(65536).map((_, i) => i);
    const out = new Float32Array(65536);
    toFloat32("F16", new Uint8Array(all.buffer), 0, 65536, out, 0);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const want = Math.fround(halfToFloat(h));
      if (!(Object.is(out[h], want) || (Number.isNaN(out[h]) && Number.isNaN(want)))) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
});

describe("llama2.c .bin: one shared buffer, views into it", () => {
  it("loadModel's weights are SharedArrayBuffer views into a single buffer", () => {
    const m = loadModel({ checkpoint: MODEL_BIN }).model;
    const all = arrays(m);
    expect(all.every(isShared)).toBe(true);
    const buffers = new Set(all.map((a) => a.buffer));
    expect(buffers.size).toBe(1);
    expect(m.weights.tokEmbeddings.byteOffset).toBe(28); // right after the header: no copy
  });

  it("bytes at an unaligned offset, or not in shared memory, are copied once into a SharedArrayBuffer", () => {
    const file = new Uint8Array(readFileSync(MODEL_BIN));
    const ref = loadLlama2cBin(file, "ref.bin").model;
    // A plain ArrayBuffer (aligned): one copy, into shared memory.
    expect(isShared(ref.weights.layers[0].wq)).toBe(true);
    expect(ref.weights.tokEmbeddings.buffer).not.toBe(file.buffer);
    // Odd offset in shared memory: the fp32 data is not 4-byte aligned, so it must be copied too.
    const odd = new Uint8Array(new SharedArrayBuffer(file.length + 1)).subarray(1);
    odd.set(file);
    const m = loadLlama2cBin(odd, "odd.bin").model;
    expect(m.weights.tokEmbeddings.buffer).not.toBe(odd.buffer);
    expect(isShared(m.weights.tokEmbeddings)).toBe(true);
    // Aligned shared memory: views, no copy.
    const aligned = new Uint8Array(new SharedArrayBuffer(file.length));
    aligned.set(file);
    const v = loadLlama2cBin(aligned, "aligned.bin").model;
    expect(v.weights.tokEmbeddings.buffer).toBe(aligned.buffer);
    for (const x of [m, v]) {
      expect(bitsEqual(x.weights.tokEmbeddings, ref.weights.tokEmbeddings)).toBe(true);
      expect(bitsEqual(x.weights.layers[4].w3, ref.weights.layers[4].w3)).toBe(true);
      expect(bitsEqual(x.weights.norm, ref.weights.norm)).toBe(true);
    }
  });

  it("a non-finite weight is still refused, naming its index", () => {
    const file = new Uint8Array(readFileSync(MODEL_BIN));
    new DataView(file.buffer).setFloat32(28 + 4 * 1000, NaN, true);
    const p = join(tmp, "nan.bin");
    writeFileSync(p, file);
    expectUserError(() => loadModel({ checkpoint: p }), "nan.bin", /weight 1000 is not finite \(NaN\)/);
  });

  it("a file whose size disagrees with its header is refused before it is read whole", () => {
    const file = new Uint8Array(readFileSync(MODEL_BIN));
    const p = join(tmp, "grown.bin");
    writeFileSync(p, new Uint8Array(file.length + 4096).fill(7).map((x, i) => (i < file.length ? file[i] : x)));
    expectUserError(() => loadModel({ checkpoint: p }), "grown.bin", /needs 1056540/);
  });
});

describe("PyTorch and safetensors weights live in SharedArrayBuffers", () => {
  it("stories260K.pt (fp32 storages read straight into place) and tiny_llama3 (.pth and HF safetensors)", () => {
    const pt = loadModel({ checkpoint: join(FIXTURES, "stories260K.pt") }).model;
    const bin = loadModel({ checkpoint: MODEL_BIN }).model;
    expect(arrays(pt).every(isShared)).toBe(true);
    expect(bitsEqual(pt.weights.layers[2].wv, bin.weights.layers[2].wv)).toBe(true);
    const meta = loadModel({ checkpoint: join(FIXTURES, "tiny_llama3", "consolidated.00.pth"), params: join(FIXTURES, "tiny_llama3", "params.json") }).model;
    const hf = loadModel({ checkpoint: join(FIXTURES, "tiny_llama3", "hf") }).model;
    expect(arrays(meta).every(isShared)).toBe(true);
    expect(arrays(hf).every(isShared)).toBe(true); // q/k rows un-permuted into shared memory too
  });
});

// ---- hand-built torch.save archives ----

function torchZip(entries: [string, WritableValue][], storages: Record<string, Uint8Array>): Uint8Array {
  const top = torchOrderedDict(new Map(entries));
  return zipToBytes([
    { name: "m/data.pkl", data: picklePlain(top) },
    ...Object.entries(storages).map(([k, data]) => ({ name: `m/data/${k}`, data })),
    { name: "m/version", data: new TextEncoder().encode("3\n") },
  ]);
}
const tensor = (key: string, type: string, numel: number, sizes: number[], offset = 0, strides?: number[]) =>
  torchTensor({ storageType: `torch.${type}`, key, storageNumel: numel, sizes, offset, strides });
/** Offset of the first occurrence of `needle` in `hay`. */
function find(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe("torch storages", () => {
  const values = new Float32Array(24).map((_, i) => i - 3.5);
  const storage = new Uint8Array(values.buffer);

  it("views of one storage share it: contiguous views are subarrays of one shared buffer, strided ones copies", () => {
    const ck = readTorchCheckpoint(
      bufferSource(
        torchZip(
          [
            ["a", tensor("0", "FloatStorage", 24, [2, 4])],
            ["b", tensor("0", "FloatStorage", 24, [4, 4], 8)],
            ["t", tensor("0", "FloatStorage", 24, [3, 2], 2, [1, 3])],
          ],
          { "0": storage },
        ),
        "views.pt",
        "checkpoint",
      ),
    );
    const a = ck.tensors.get("a")!.loadChecked();
    const b = ck.tensors.get("b")!.loadChecked();
    const t = ck.tensors.get("t")!.loadChecked();
    expect(Array.from(a.data)).toEqual(Array.from(values.subarray(0, 8)));
    expect(Array.from(b.data)).toEqual(Array.from(values.subarray(8, 24)));
    expect(Array.from(t.data)).toEqual([-1.5, 1.5, -0.5, 2.5, 0.5, 3.5]);
    expect(a.data.buffer).toBe(b.data.buffer); // zero copy
    expect(b.data.byteOffset).toBe(32);
    expect(t.data.buffer).not.toBe(a.data.buffer);
    expect([a, b, t].every((x) => isShared(x.data) && x.firstNonFinite === -1)).toBe(true);
  });

  it("a damaged byte outside the part a view uses still fails the storage's CRC-32", () => {
    const bytes = torchZip([["part", tensor("0", "FloatStorage", 24, [4], 0)]], { "0": storage });
    const at = find(bytes, storage);
    bytes[at + 4 * 20] ^= 0x01; // element 20: not in the view [0, 4)
    const ck = readTorchCheckpoint(bufferSource(bytes, "part.pt", "checkpoint"));
    expect(() => ck.tensors.get("part")!.load()).toThrow(/part\.pt: tensor "part": storage "0" fails its CRC-32 check/);
  });

  it("bf16 storages over several 1 MiB chunks: values, CRC and the non-finite index past the first chunk", () => {
    const n = 1_300_000; // 2.6 MB of bf16: three chunks
    const src = new Uint16Array(n);
    for (let i = 0; i < n; i++) src[i] = 0x3f80 + (i % 97); // 1.0 and up
    const bad = 1_234_567;
    src[bad] = 0x7fc0; // NaN
    const bytes = torchZip([["x", tensor("0", "BFloat16Storage", n, [n])]], { "0": new Uint8Array(src.buffer) });
    const { data, firstNonFinite } = readTorchCheckpoint(bufferSource(bytes, "bf.pt", "checkpoint")).tensors.get("x")!.loadChecked();
    expect(firstNonFinite).toBe(bad);
    expect(isShared(data)).toBe(true);
    const u = new Uint32Array(data.buffer, data.byteOffset, n);
    for (const i of [0, 524_287, 524_288, 1_000_001, n - 1]) expect(u[i]).toBe(src[i] << 16);
    const flipped = bytes.slice();
    flipped[find(bytes, new Uint8Array(src.buffer, 2 * 600_000, 64)) + 3] ^= 0x10;
    expect(() => readTorchCheckpoint(bufferSource(flipped, "bf.pt", "checkpoint")).tensors.get("x")!.load()).toThrow(/fails its CRC-32 check/);
  });

  it("fp32 storages read in place report a non-finite value in a later chunk at its index", () => {
    const n = 600_000; // 2.4 MB: three 1 MiB chunks
    const v = new Float32Array(n).fill(0.25);
    v[400_000] = -Infinity;
    const bytes = torchZip([["x", tensor("0", "FloatStorage", n, [n])]], { "0": new Uint8Array(v.buffer) });
    const r = readTorchCheckpoint(bufferSource(bytes, "f.pt", "checkpoint")).tensors.get("x")!.loadChecked();
    expect(r.firstNonFinite).toBe(400_000);
    expect(bitsEqual(r.data, v)).toBe(true);
  });
});

describe("sharded safetensors", () => {
  /** A safetensors file whose header is padded to exactly `headerLen` bytes, so two shards line up. */
  function shard(tensors: { name: string; dtype: string; bytes: Uint8Array; shape: number[] }[], headerLen: number): Uint8Array {
    const header: Record<string, unknown> = {};
    let off = 0;
    for (const t of tensors) {
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.length] };
      off += t.bytes.length;
    }
    let json = JSON.stringify({ __metadata__: { pad: "" }, ...header });
    json = json.replace('"pad":""', `"pad":"${"x".repeat(headerLen - json.length)}"`);
    expect(json.length).toBe(headerLen);
    const out = new Uint8Array(8 + headerLen + off);
    new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
    out.set(new TextEncoder().encode(json), 8);
    off = 8 + headerLen;
    for (const t of tensors) {
      out.set(t.bytes, off);
      off += t.bytes.length;
    }
    return out;
  }

  it("tensors at the same offset and size in different shards stay distinct", () => {
    const single = loadModel({ checkpoint: join(FIXTURES, "tiny_llama3", "hf") }).model;
    // Re-read the single file's tensors through their names, then put layer 0 and layer 1 of the same kind at
    // the same place in two shards whose headers have equal length.
    const st = readFileSync(join(FIXTURES, "tiny_llama3", "hf", "model.safetensors"));
    const n = Number(new DataView(st.buffer, st.byteOffset).getBigUint64(0, true));
    const header = JSON.parse(st.subarray(8, 8 + n).toString("utf8")) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
    const names = Object.keys(header).filter((k) => k !== "__metadata__");
    const get = (name: string) => {
      const e = header[name];
      return { name, dtype: e.dtype, shape: e.shape, bytes: new Uint8Array(st.subarray(8 + n + e.data_offsets[0], 8 + n + e.data_offsets[1])) };
    };
    const one = names.filter((k) => !k.startsWith("model.layers.1."));
    const two = names.filter((k) => k.startsWith("model.layers.1."));
    const order = (list: string[], layer: number) => [`model.layers.${layer}.mlp.down_proj.weight`, ...list.filter((k) => k !== `model.layers.${layer}.mlp.down_proj.weight`)];
    const dir = join(tmp, "shards");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "a.safetensors"), shard(order(one, 0).map(get), 4000));
    writeFileSync(join(dir, "b.safetensors"), shard(order(two, 1).map(get), 4000));
    writeFileSync(join(dir, "config.json"), readFileSync(join(FIXTURES, "tiny_llama3", "hf", "config.json")));
    writeFileSync(
      join(dir, "model.safetensors.index.json"),
      JSON.stringify({ weight_map: Object.fromEntries([...one.map((k) => [k, "a.safetensors"]), ...two.map((k) => [k, "b.safetensors"])]) }),
    );
    const sharded = loadModel({ checkpoint: dir }).model;
    expect(bitsEqual(sharded.weights.layers[0].w2, single.weights.layers[0].w2)).toBe(true);
    expect(bitsEqual(sharded.weights.layers[1].w2, single.weights.layers[1].w2)).toBe(true);
    expect(sharded.weights.layers[1].w2).not.toBe(sharded.weights.layers[0].w2);
  });
});

describe("one arena per model", () => {
  it("PyTorch and safetensors weights are 64-byte-aligned views of a single SharedArrayBuffer", () => {
    for (const m of [
      loadModel({ checkpoint: join(FIXTURES, "stories260K.pt") }).model,
      loadModel({ checkpoint: join(FIXTURES, "tiny_llama3", "consolidated.00.pth"), params: join(FIXTURES, "tiny_llama3", "params.json") }).model,
      loadModel({ checkpoint: join(FIXTURES, "tiny_llama3", "hf") }).model,
    ]) {
      const all = arrays(m);
      expect(new Set(all.map((a) => a.buffer)).size).toBe(1);
      expect(all.every((a) => a.byteOffset % 64 === 0)).toBe(true);
      // No two arrays overlap.
      const spans = all.map((a) => [a.byteOffset, a.byteOffset + a.byteLength]).sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < spans.length; i++) expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
    }
  });

  it("unpermuteHfRows (in place) matches HF's row map, row for row", () => {
    const nHeads = 3;
    const hd = 6;
    const dim = 5;
    const w = new Float32Array(nHeads * hd * dim).map((_, i) => i);
    const hfRowOf = (h: number, j: number, i: number) => h * hd + j * (hd / 2) + i; // where HF stores Meta row h*hd+2i+j
    const out = unpermuteHfRows(w.slice(), nHeads, hd, dim);
    for (let h = 0; h < nHeads; h++)
      for (let i = 0; i < hd / 2; i++)
        for (let j = 0; j < 2; j++)
          for (let c = 0; c < dim; c++) expect(out[(h * hd + 2 * i + j) * dim + c]).toBe(w[hfRowOf(h, j, i) * dim + c]);
  });

  it("HF q/k views of a shared storage, or arrays serving two names, are un-permuted in copies, each exactly once", () => {
    // A tiny HF-named torch.save archive: q_proj and k_proj of layer 0 are two views of one storage "qk".
    const dim = 8;
    const hd = 4;
    const vocab = 10;
    const hidden = 16;
    const f = (n: number, seed: number) => new Float32Array(n).map((_, i) => Math.sin(seed * 1000 + i) * 0.1);
    const q = f(dim * dim, 1);
    const k = f(dim * dim, 2);
    const qk = new Float32Array(2 * dim * dim);
    qk.set(q);
    qk.set(k, dim * dim);
    const plain: Record<string, Float32Array> = {
      "model.embed_tokens.weight": f(vocab * dim, 3),
      "model.norm.weight": f(dim, 4).map((x) => 1 + x),
      "model.layers.0.input_layernorm.weight": f(dim, 5).map((x) => 1 + x),
      "model.layers.0.post_attention_layernorm.weight": f(dim, 6).map((x) => 1 + x),
      "model.layers.0.self_attn.v_proj.weight": f(dim * dim, 7),
      "model.layers.0.self_attn.o_proj.weight": f(dim * dim, 8),
      "model.layers.0.mlp.gate_proj.weight": f(hidden * dim, 9),
      "model.layers.0.mlp.down_proj.weight": f(dim * hidden, 10),
      "model.layers.0.mlp.up_proj.weight": f(hidden * dim, 11),
    };
    const shapes: Record<string, number[]> = {
      "model.embed_tokens.weight": [vocab, dim],
      "model.norm.weight": [dim],
      "model.layers.0.input_layernorm.weight": [dim],
      "model.layers.0.post_attention_layernorm.weight": [dim],
      "model.layers.0.self_attn.v_proj.weight": [dim, dim],
      "model.layers.0.self_attn.o_proj.weight": [dim, dim],
      "model.layers.0.mlp.gate_proj.weight": [hidden, dim],
      "model.layers.0.mlp.down_proj.weight": [dim, hidden],
      "model.layers.0.mlp.up_proj.weight": [hidden, dim],
    };
    const entries: [string, WritableValue][] = [
      ["model.layers.0.self_attn.q_proj.weight", tensor("qk", "FloatStorage", 2 * dim * dim, [dim, dim], 0)],
      ["model.layers.0.self_attn.k_proj.weight", tensor("qk", "FloatStorage", 2 * dim * dim, [dim, dim], dim * dim)],
    ];
    const storages: Record<string, Uint8Array> = { qk: new Uint8Array(qk.buffer) };
    Object.keys(plain).forEach((name, i) => {
      entries.push([name, tensor(`s${i}`, "FloatStorage", plain[name].length, shapes[name])]);
      storages[`s${i}`] = new Uint8Array(plain[name].buffer);
    });
    // Layer 1 is tied to layer 0: every tensor the very same view (the same array serves two names).
    for (const [name, value] of [...entries]) if (name.startsWith("model.layers.0.")) entries.push([name.replace("layers.0.", "layers.1."), value]);
    const dir = join(tmp, "hf-shared");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "pytorch_model.bin"), torchZip(entries, storages));
    writeFileSync(
      join(dir, "config.json"),
      JSON.stringify({ hidden_size: dim, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 2, intermediate_size: hidden, vocab_size: vocab, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true }),
    );
    const m = loadModel({ checkpoint: join(dir, "pytorch_model.bin"), params: join(dir, "config.json") }).model;
    const expectUnpermuted = (got: Float32Array, src: Float32Array, heads: number) => {
      for (let h = 0; h < heads; h++)
        for (let i = 0; i < hd / 2; i++)
          for (let j = 0; j < 2; j++)
            for (let c = 0; c < dim; c++) expect(got[(h * hd + 2 * i + j) * dim + c]).toBe(src[(h * hd + j * (hd / 2) + i) * dim + c]);
    };
    for (const l of [0, 1]) {
      expectUnpermuted(m.weights.layers[l].wq, q, 2); // once, not twice, although the array serves both layers
      expectUnpermuted(m.weights.layers[l].wk, k, 2);
    }
    expect(isShared(m.weights.layers[0].wq) && isShared(m.weights.layers[0].wk)).toBe(true);
    expect(bitsEqual(m.weights.layers[0].wv, plain["model.layers.0.self_attn.v_proj.weight"])).toBe(true);
  });
});
