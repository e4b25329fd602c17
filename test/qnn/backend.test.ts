// The qnn backend's TypeScript side: QNN encodings (quantize / dequantize, fp16, byte layout), the binding of
// a binary's tensors to SPEC §3 (tensor-map) with its one-line errors, the backend over in-memory graphs
// (what it hands the device, zero-copy device-native I/O from a QUANT_ENCODING cache manager), recorded
// stand-in binaries read back by an independent TypeScript reader, and — through the native addon and the
// stand-in QNN libraries — a Smart Mask manager driving the device's uint8 caches.
import { describe, expect, it } from "vitest";
import {
  dataTypeInfo,
  dequantizeFrom,
  f16BitsToF32,
  f32ToF16Bits,
  quantizeInto,
  quantizeValue,
  QNN_DATA_TYPES,
  type DeviceTensor,
} from "../../src/qnn/encoding.js";
import { bindGraph, deviceInputOrder, roleOfName, type DeviceGraphInfo, type DeviceTensorInfo } from "../../src/qnn/tensor-map.js";
import { createQnnBackendFromGraphs, type ExecutableGraph } from "../../src/backends/qnn.js";
import {
  kvEncoding,
  logitsEncoding,
  MASK_SCALE_OFFSET,
  recordStandIn,
  standInGraphs,
  writeStandInBinary,
  type StandInEncodings,
} from "../helpers/stand-in-binary.js";
import { createReferenceBackend } from "../../src/backends/reference.js";
import { runParity } from "../../src/parity/run-parity.js";
import { applyOverrides, defaultTolerance } from "../../src/parity/tolerances.js";
import { kvGraphSpec, prefillGraphSpec, allocKvOutputs } from "../../src/engine/graph-io.js";
import { createSmartMask } from "../../src/kvcache/smart-mask.js";
import { QUANT_ENCODING } from "../../src/kvcache/types.js";
import { quantize as affineQuantize, activationEncoding } from "../../src/quant/affine.js";
import { expectUserError } from "../helpers/errors.js";
import { loadStories260K } from "../helpers/fixtures.js";
import { f16round } from "../parity/faults.js";
import { buildStandIn } from "../helpers/stand-in.js";
import { nativeAddonStatus, openQnnContext } from "../../src/qnn/native.js";

const t = (dataType: string, dims: number[], encoding: DeviceTensor["encoding"] = { kind: "none" }, name = "x"): DeviceTensor => ({ name, dataType, dims, encoding });
const q = (vals: number[], tensor: DeviceTensor) => {
  const out = new Uint8Array(vals.length * dataTypeInfo(tensor.dataType).bytes);
  quantizeInto(vals, tensor, out);
  return out;
};
const dq = (bytes: Uint8Array, tensor: DeviceTensor, n: number) => {
  const out = new Float32Array(n);
  dequantizeFrom(bytes, tensor, out);
  return Array.from(out);
};

describe("QNN data types", () => {
  it("codes and sizes are QnnTypes.h's Qnn_DataType_t", () => {
    const code = (n: string) => dataTypeInfo(n).code;
    expect(code("INT_32")).toBe(0x0032);
    expect(code("UINT_16")).toBe(0x0116);
    expect(code("FLOAT_16")).toBe(0x0216);
    expect(code("FLOAT_32")).toBe(0x0232);
    expect(code("SFIXED_POINT_16")).toBe(0x0316);
    expect(code("QNN_DATATYPE_UFIXED_POINT_8")).toBe(0x0408);
    expect(code("UFIXED_POINT_16")).toBe(0x0416);
    expect(code("BOOL_8")).toBe(0x0508);
    for (const d of QNN_DATA_TYPES) expect(d.bytes * 8).toBe(d.name === "BOOL_8" ? 8 : Number(/_(\d+)$/.exec(d.name)![1]));
    expectUserError(() => dataTypeInfo("FLOAT_64", "where"), /^where: data type "FLOAT_64" is not supported/);
  });
});

describe("fp16 conversion", () => {
  const bits = (x: number) => f32ToF16Bits(x);
  it("edge cases: zero, max, overflow, subnormals, ties to even, NaN", () => {
    expect(bits(0)).toBe(0x0000);
    expect(bits(-0)).toBe(0x8000);
    expect(bits(1)).toBe(0x3c00);
    expect(bits(-2)).toBe(0xc000);
    expect(bits(65504)).toBe(0x7bff); // largest half
    expect(bits(65519.99)).toBe(0x7bff); // below the halfway point to 2^16
    expect(bits(65520)).toBe(0x7c00); // the tie rounds to even: Inf
    expect(bits(1e6)).toBe(0x7c00);
    expect(bits(-Infinity)).toBe(0xfc00);
    expect(bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(bits(2 ** -24)).toBe(0x0001); // smallest subnormal
    expect(bits(1023 * 2 ** -24)).toBe(0x03ff); // largest subnormal
    expect(bits(1023.5 * 2 ** -24)).toBe(0x0400); // tie between 1023 (odd) and 1024: even, the smallest normal
    expect(bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal: 0
    expect(bits(Math.fround(2 ** -25 * (1 + 2 ** -20)))).toBe(0x0001); // just above the tie
    expect(bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 subnormal units: 2
    expect(bits(1 + 2 ** -11)).toBe(0x3c00); // tie: stays at the even 1.0
    expect(bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: up to the even mantissa 2
    expect(bits(2 ** -26)).toBe(0x0000);
    expect(bits(NaN) & 0x7fff).toBe(0x7e00);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0xc000)).toBe(-2);
  });

  it("every half value round-trips, and rounding agrees with an independent value-domain rounding", () => {
    const bad: string[] = [];
    for (let h = 0; h < 0x10000; h++) {
      const x = f16BitsToF32(h);
      if (!Number.isNaN(x) && f32ToF16Bits(x) !== h) bad.push(`half ${h}`);
    }
    // Random fp32 values across the half range (and beyond), plus exact midpoints between neighbours.
    let s = 12345;
    const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
    let mids = 0;
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround((rnd() < 0.5 ? -1 : 1) * 2 ** (rnd() * 44 - 28) * (1 + rnd()));
      if (f16BitsToF32(f32ToF16Bits(x)) !== f16round(x)) bad.push(`x ${x}`);
      const h = Math.floor(rnd() * 0x7bff);
      const mid = (f16BitsToF32(h) + f16BitsToF32(h + 1)) / 2;
      if (Math.fround(mid) !== mid) continue;
      mids++;
      if (f16BitsToF32(f32ToF16Bits(mid)) !== f16round(mid)) bad.push(`mid ${mid}`);
    }
    expect(mids).toBeGreaterThan(10000);
    expect(bad.slice(0, 5)).toEqual([]);
  });

  it("FLOAT_16 tensors: little-endian half bits", () => {
    const b = q([1, -2, 65520], t("FLOAT_16", [3]));
    expect(Array.from(b)).toEqual([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c]);
    expect(dq(b, t("FLOAT_16", [3]), 3)).toEqual([1, -2, Infinity]);
  });
});

describe("fixed-point encodings (real = scale * (q + offset))", () => {
  const u8 = t("UFIXED_POINT_8", [8], { kind: "scale_offset", scale: 0.5, offset: -128 });
  it("rounds half to even, clamps, saturates infinities, refuses NaN", () => {
    const b = q([0.25, 0.75, -0.25, -0.75, 1000, -1000, Infinity, -Infinity], u8);
    // x/s = 0.5 -> 0, 1.5 -> 2, -0.5 -> 0, -1.5 -> -2; then - offset (+128), clamped to [0, 255].
    expect(Array.from(b)).toEqual([128, 130, 128, 126, 255, 0, 255, 0]);
    expect(dq(b, u8, 8)).toEqual([0, 1, 0, -1, 63.5, -64, 63.5, -64]);
    expect(() => q([NaN, 0, 0, 0, 0, 0, 0, 0], u8)).toThrow(/element 0 is NaN/);
    expect(quantizeValue(2.5, 1, 0, 0, 255)).toBe(2);
    expect(quantizeValue(3.5, 1, 0, 0, 255)).toBe(4);
  });

  it("agrees with src/quant/affine.ts's quantize (zeroPoint = -offset) on a 16-bit activation encoding", () => {
    const a = activationEncoding(-7.3, 12.9, 16);
    const tensor = t("UFIXED_POINT_16", [1], { kind: "scale_offset", scale: a.scale, offset: a.offset });
    for (let i = 0; i <= 1000; i++) {
      const x = -8 + (i * 22) / 1000;
      const b = q([x], tensor);
      expect(b[0] | (b[1] << 8)).toBe(affineQuantize(x, a));
    }
  });

  it("dequantize(quantize(x)) is within half a step inside the range", () => {
    const e = logitsEncoding(-20, 30);
    const tensor = t("UFIXED_POINT_16", [1001], { kind: "scale_offset", ...e });
    const xs = Array.from({ length: 1001 }, (_, i) => Math.fround(-20 + (i * 50) / 1000));
    const back = dq(q(xs, tensor), tensor, xs.length);
    const worst = Math.max(...xs.map((x, i) => Math.abs(back[i] - x)));
    expect(worst).toBeLessThanOrEqual(e.scale / 2 + 1e-6);
    expect(worst).toBeGreaterThan(e.scale / 4); // a real grid, not an identity
  });

  it("the quantized mask: 0 -> 65535, -255 -> 0 (and -inf -> 0), little-endian", () => {
    const m = t("UFIXED_POINT_16", [4], { kind: "scale_offset", ...MASK_SCALE_OFFSET });
    const b = q([0, -255, -Infinity, -127.5], m);
    expect(Array.from(b.subarray(0, 6))).toEqual([0xff, 0xff, 0, 0, 0, 0]);
    const back = dq(b, m, 4);
    expect(back[0]).toBe(0);
    expect(back[1]).toBeCloseTo(-255, 4);
    expect(back[3]).toBeCloseTo(-127.5, 2);
  });

  it("signed 16-bit codes and plain integers are little-endian two's complement", () => {
    const s16 = t("SFIXED_POINT_16", [2], { kind: "scale_offset", scale: 1, offset: 0 });
    expect(Array.from(q([-2, 300], s16))).toEqual([0xfe, 0xff, 0x2c, 0x01]);
    const i32 = t("INT_32", [2]);
    expect(Array.from(q([258, -1], i32))).toEqual([2, 1, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    expect(() => q([1.5, 0], i32)).toThrow(/not a INT_32 integer/);
    expect(dq(q([258, -1], i32), i32, 2)).toEqual([258, -1]);
  });

  it("per-axis encodings use each channel's scale and offset", () => {
    const enc = { kind: "axis_scale_offset" as const, axis: 0, scales: [1, 0.5], offsets: [0, -10] };
    const a0 = t("UFIXED_POINT_8", [2, 3], enc);
    expect(Array.from(q([1, 2, 3, 1, 2, 3], a0))).toEqual([1, 2, 3, 12, 14, 16]);
    const a1 = t("UFIXED_POINT_8", [2, 2], { kind: "axis_scale_offset", axis: 1, scales: [1, 0.5], offsets: [0, -10] });
    expect(Array.from(q([1, 1, 2, 2], a1))).toEqual([1, 12, 2, 14]);
    expect(dq(q([1, 1, 2, 2], a1), a1, 4)).toEqual([1, 1, 2, 2]);
    expectUserError(() => q([0, 0], t("UFIXED_POINT_8", [2], { kind: "axis_scale_offset", axis: 0, scales: [1], offsets: [0] })), /1 scales and 1 offsets for 2 channels/);
  });

  it("a fixed-point tensor without a usable encoding is a UserError", () => {
    expectUserError(() => q([0], t("UFIXED_POINT_8", [1])), /without a quantization encoding/);
    expectUserError(() => q([0], t("UFIXED_POINT_8", [1], { kind: "scale_offset", scale: 0, offset: 0 })), /scale 0 is not a positive finite number/);
    expectUserError(() => q([0], t("UFIXED_POINT_8", [1], { kind: "other", code: 7 })), /encoding FLOAT_BLOCK \(type 7\) is not supported/);
    expectUserError(() => q([0], t("UFIXED_POINT_8", [1], { kind: "other", code: 5, name: "BLOCKWISE_EXPANSION" })), /encoding BLOCKWISE_EXPANSION \(type 5\) is not supported/);
    expectUserError(() => q([0], t("SFIXED_POINT_8", [1], { kind: "bw_scale_offset", bitwidth: 4, scale: 1, offset: 0 })), /encoding BW_SCALE_OFFSET \(type 2\) is not supported/);
  });

  it("size mismatches are caught", () => {
    expect(() => quantizeInto([1, 2], t("FLOAT_32", [3]), new Uint8Array(12))).toThrow(/2 elements/);
    expect(() => quantizeInto([1, 2, 3], t("FLOAT_32", [3]), new Uint8Array(11))).toThrow(/11-byte buffer/);
  });
});

// ---- tensor-map ----

const model = loadStories260K();
const c = model.config;
const NLH = c.nLayers * c.nKvHeads;

/** Stand-in-style encodings (values do not matter for binding). */
const ENC: StandInEncodings = {
  logits: logitsEncoding(-10, 10),
  k: Array.from({ length: NLH }, () => kvEncoding(3)),
  v: Array.from({ length: NLH }, () => kvEncoding(2)),
  mask: MASK_SCALE_OFFSET,
};
const device = (kvSeqLen = 16, prefillSeqLen = 8) => standInGraphs(model, { kvSeqLen, prefillSeqLen }, ENC);
const clone = (g: DeviceGraphInfo): DeviceGraphInfo => JSON.parse(JSON.stringify(g));

describe("tensor-map", () => {
  it("binds the stand-in's mangled, reverse-listed tensors to SPEC §3 by ExecuTorch's input ids", () => {
    const g = device().kv!;
    expect(g.inputs[0].name).toBe(`input_${3 + 2 * NLH - 1}_args_${2 * NLH - 1}_0`);
    const b = bindGraph("kv", g, c, 16, "--pte x.pte");
    const spec = kvGraphSpec(c, 16);
    expect(b.inputs.map((x) => x.spec.name)).toEqual(spec.inputs.map((s) => s.name));
    expect(b.inputs.map((x) => x.deviceIndex)).toEqual(spec.inputs.map((_, i) => spec.inputs.length - 1 - i));
    expect(b.inputs[1].device.name).toBe("input_1_atten_mask_0");
    expect(b.inputs[1].bytes).toBe(16 * 2);
    expect(b.inputs[3].bytes).toBe(c.headDim * 15);
    expect(b.outputs[0].bytes).toBe(c.vocabSize * 2);
    const p = bindGraph("prefill", device().prefill!, c, 8, "--pte x.pte");
    expect(p.inputs.map((x) => x.deviceIndex)).toEqual([1, 0]);
  });

  it("accepts our own names in fp32, and leading-1 squeezes ([1, 1] vs [1])", () => {
    const spec = prefillGraphSpec(c, 8);
    const mk = (s: { name: string; shape: number[]; dtype: string }): DeviceTensorInfo => ({
      name: s.name,
      dataType: s.dtype === "int32" ? "INT_32" : "FLOAT_32",
      dims: s.shape,
      encoding: { kind: "none" },
    });
    const g: DeviceGraphInfo = { name: "prefill_forward", inputs: spec.inputs.map(mk), outputs: spec.outputs.map(mk) };
    g.inputs[0].dims = [7];
    g.outputs[0].dims = [1, 1, 7, c.vocabSize];
    expect(bindGraph("prefill", g, c, 8, "w").outputs.length).toBe(1 + 2 * NLH);
    expect(deviceInputOrder(g.inputs)).toEqual([0, 1]);
  });

  it("recognises roles in ExecuTorch-style names", () => {
    expect(roleOfName("input_0_tokens_0")).toBe("tokens");
    expect(roleOfName("input_2_input_pos_0")).toBe("input_pos");
    expect(roleOfName("input_1_atten_mask_0")).toBe("atten_mask");
    expect(roleOfName("input_7_k_cache_3_0")).toBe("k_cache");
    expect(roleOfName("output_aten_view_copy_default_3_0")).toBeUndefined();
    expect(roleOfName("output_aten_permute_copy_default_1_0")).toBeUndefined();
    expect(roleOfName("input_3_args_0_0")).toBeUndefined();
  });

  it("rejects wrong counts, dims, dtypes, sequence lengths and swapped tensors with one-line errors", () => {
    const base = device().kv!;
    let g = clone(base);
    g.outputs.pop();
    expectUserError(() => bindGraph("kv", g, c, 16, "--pte m.pte"), /^kv_forward in --pte m\.pte: 43 inputs and 40 outputs, SPEC §3 expects 43 and 41/);

    g = clone(base);
    g.outputs = g.outputs.slice(0, 1 + 2 * (NLH - 4));
    g.inputs = g.inputs.slice(8);
    expectUserError(() => bindGraph("kv", g, c, 16, "w"), /the binary has 16 K\/V heads \(layers x KV heads\), the model 5 x 4 = 20/);

    g = clone(base);
    const kc = g.inputs.find((x) => x.name === "input_3_args_0_0")!;
    kc.dims = [1, c.headDim, 14];
    expectUserError(
      () => bindGraph("kv", g, c, 16, "w"),
      /^kv_forward in w: input 3 \(k_cache_l0_h0, device "input_3_args_0_0"\): dims \[1, 8, 14\], expected \[1, 8, 15\]$/,
    );

    g = clone(base);
    g.inputs.find((x) => x.name === "input_0_tokens_0")!.dataType = "FLOAT_32";
    expectUserError(() => bindGraph("kv", g, c, 16, "w"), /input 0 \(tokens, device "input_0_tokens_0"\): data type FLOAT_32, expected one of INT_32, UINT_32, INT_64 for int32/);

    g = clone(base);
    g.inputs.find((x) => x.name === "input_1_atten_mask_0")!.encoding = { kind: "none" };
    expectUserError(() => bindGraph("kv", g, c, 16, "w"), /atten_mask.*UFIXED_POINT_16\): a fixed-point tensor without a quantization encoding/);

    g = clone(base);
    g.outputs[0].dataType = "BOOL_8";
    expectUserError(() => bindGraph("kv", g, c, 16, "w"), /output 0 \(logits, device "output_aten_view_copy_default_0"\): data type BOOL_8/);

    expectUserError(
      () => bindGraph("kv", base, c, 24, "--pte m.pte"),
      /^--kv_seq_len 24 does not match kv_forward in --pte m\.pte: its atten_mask is \[1, 16\], so it was compiled with kv_seq_len 16 \(pass --kv_seq_len 16\)$/,
    );
    expectUserError(
      () => bindGraph("prefill", device().prefill!, c, 12, "--pte m.pte"),
      /^--prefill_seq_len 12 does not match prefill_forward in --pte m\.pte: its tokens input is \[1, 7\], so it was compiled with prefill_seq_len 8/,
    );

    g = clone(base);
    const tok = g.inputs.find((x) => x.name === "input_0_tokens_0")!;
    const pos = g.inputs.find((x) => x.name === "input_2_input_pos_0")!;
    [tok.name, pos.name] = ["input_0_input_pos_0", "input_2_tokens_0"];
    expectUserError(() => bindGraph("kv", g, c, 16, "w"), /device input 0 "input_0_input_pos_0" looks like input_pos but SPEC §3 has tokens there/);

    const other = { ...c, vocabSize: 1000 };
    expectUserError(() => bindGraph("kv", base, other, 16, "w"), /logits have 512 columns, the model's vocabulary is 1000/);
    const wide = { ...c, headDim: 16 };
    expectUserError(() => bindGraph("kv", base, wide, 16, "w"), /\(head_dim 8\), the model's head_dim is 16/);
  });

  it("detects cache tensors out of layer-major, head order by their names", () => {
    const spec = kvGraphSpec(c, 16);
    const mk = (s: { name: string; shape: number[]; dtype: string }): DeviceTensorInfo => ({
      name: s.name,
      dataType: s.dtype === "int32" ? "INT_32" : "FLOAT_32",
      dims: s.shape,
      encoding: { kind: "none" },
    });
    const g: DeviceGraphInfo = { name: "kv_forward", inputs: spec.inputs.map(mk), outputs: spec.outputs.map(mk) };
    [g.inputs[3].name, g.inputs[4].name] = [g.inputs[4].name, g.inputs[3].name];
    expectUserError(() => bindGraph("kv", g, c, 16, "w"), /device input 3 "k_cache_l0_h1" is layer 0 head 1 but SPEC §3 has k_cache_l0_h0 there/);
  });
});

// ---- the backend over in-memory graphs ----

/** A kv graph that records what it is given and writes fixed output codes. */
function probeGraph(info: DeviceGraphInfo): ExecutableGraph & { seen: Uint8Array[][] } {
  const seen: Uint8Array[][] = [];
  return {
    ...info,
    seen,
    execute(inputs, outputs) {
      seen.push(inputs);
      outputs.forEach((o, i) => o.fill(i === 0 ? 7 : 128 + 3)); // logits code 0x0707; K/V code 131
    },
  };
}

describe("qnn backend over in-memory graphs", () => {
  const init = { model, kvSeqLen: 16 };

  it("quantizes the float inputs (mask 0/-255 -> 65535/0, int32 as is) and dequantizes the outputs", async () => {
    const g = probeGraph(device().kv!);
    const b = createQnnBackendFromGraphs(init, { kv: g }, { where: "test" });
    expect(b.supportsTaps).toBe(false);
    expect(b.name).toBe("qnn");
    const mask = new Float32Array(16).fill(-255);
    mask[15] = 0;
    mask[0] = 0;
    const kCaches = Array.from({ length: NLH }, () => new Float32Array(c.headDim * 15).fill(1.5));
    const vCaches = Array.from({ length: NLH }, () => new Float32Array(15 * c.headDim));
    const out = allocKvOutputs(c);
    await b.executeKv({ tokens: Int32Array.of(300), attnMask: mask, inputPos: Int32Array.of(1), kCaches, vCaches }, out);
    const ins = g.seen[0];
    const at = (name: string) => ins[g.inputs.findIndex((x) => x.name === name)];
    expect(Array.from(at("input_0_tokens_0"))).toEqual([44, 1, 0, 0]);
    expect(Array.from(at("input_2_input_pos_0"))).toEqual([1, 0, 0, 0]);
    const m = at("input_1_atten_mask_0");
    expect(new Uint16Array(m.buffer, m.byteOffset, 16)[0]).toBe(65535);
    expect(Array.from(new Uint16Array(m.buffer, m.byteOffset, 16).subarray(1, 15)).every((x) => x === 0)).toBe(true);
    expect(new Uint16Array(m.buffer, m.byteOffset, 16)[15]).toBe(65535);
    const k0 = at("input_3_args_0_0");
    expect(k0[0]).toBe(Math.round(1.5 / ENC.k[0].scale) + 128);
    expect(out.logits[0]).toBe(Math.fround(ENC.logits.scale * (0x0707 + ENC.logits.offset)));
    expect(out.kOut[0][0]).toBe(Math.fround(ENC.k[0].scale * 3));
    expect(out.vOut[NLH - 1][c.headDim - 1]).toBe(Math.fround(ENC.v[NLH - 1].scale * 3));
    // Buffers are allocated once: the second call hands over the same memory.
    await b.executeKv({ tokens: Int32Array.of(1), attnMask: mask, inputPos: Int32Array.of(2), kCaches, vCaches }, out);
    g.seen[1].forEach((buf, i) => expect(buf).toBe(ins[i]));
    b.dispose();
    await expect(b.executeKv({ tokens: Int32Array.of(1), attnMask: mask, inputPos: Int32Array.of(2), kCaches, vCaches }, out)).rejects.toThrow(/after dispose/);
  });

  it("executeKvCodes hands a QUANT_ENCODING Smart Mask manager's own buffers to the graph (no copy)", () => {
    const g = probeGraph(device().kv!);
    const b = createQnnBackendFromGraphs(init, { kv: g }, { where: "test" });
    const dims = { nLayers: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim, kvSeqLen: 16, prefillSeqLen: 8, mode: "kv" as const };
    const cache = createSmartMask(dims, QUANT_ENCODING);
    cache.startKv();
    const inp = cache.kvInputs();
    const outs = cache.kvOutputs();
    const logits = new Uint16Array(c.vocabSize);
    b.executeKvCodes({ tokens: Int32Array.of(1), attnMask: inp.attnMask, inputPos: Int32Array.of(0), kCaches: inp.kCaches, vCaches: inp.vCaches }, { logits, ...outs });
    const seen = g.seen[0];
    const at = (name: string) => seen[g.inputs.findIndex((x) => x.name === name)];
    expect(at("input_1_atten_mask_0").buffer).toBe(inp.attnMask.buffer);
    expect(at("input_3_args_0_0").buffer).toBe(inp.kCaches[0].buffer);
    expect(at("input_3_args_0_0").byteOffset).toBe(inp.kCaches[0].byteOffset);
    // The graph wrote K/V codes 131 straight into the manager's cache_out views, logits into ours.
    expect(outs.kOut[0][0]).toBe(131);
    expect(logits[0]).toBe(0x0707);
    cache.updateAfterKvStep(0);
    expect(Array.from(cache.readK(0, 0, 0))).toEqual(new Array(c.headDim).fill(131));
    // A float32 cache where the device holds uint8 is the KV bit-width pitfall.
    expectUserError(
      () =>
        b.executeKvCodes(
          { tokens: Int32Array.of(1), attnMask: inp.attnMask, inputPos: Int32Array.of(0), kCaches: inp.kCaches.map((k) => new Float32Array(k.length)), vCaches: inp.vCaches },
          { logits, ...outs },
        ),
      /k_cache_l0_h0 is UFIXED_POINT_8 on the device \(1-byte elements\) but the caller's buffer has 4-byte elements/,
    );
    expect(() => b.executeKvBytes([new Uint8Array(4)], [])).toThrow(/1 inputs, the graph has 43/);
  });
});

// ---- recorded stand-in binaries, read back by an independent reader of the LGQNNSB1 format ----

interface ReadGraph {
  name: string;
  inputs: DeviceTensorInfo[];
  outputs: DeviceTensorInfo[];
  keyInputs: number[];
  entries: { key: Uint8Array; out: Uint8Array }[];
}

/** Reads an LGQNNSB1 binary (layout in docs/qnn.md), restated here from the format, not from the writer. */
function readStandIn(b: Uint8Array): { socModel: number; graphs: ReadGraph[] } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 0;
  const u32 = () => ((at += 4), dv.getUint32(at - 4, true));
  const bytes = (n: number) => ((at += n), b.subarray(at - n, at));
  const name = () => new TextDecoder().decode(bytes(u32()));
  expect(new TextDecoder().decode(bytes(8))).toBe("LGQNNSB1");
  expect(u32()).toBe(1);
  const socModel = u32();
  const codes = new Map(QNN_DATA_TYPES.map((d) => [d.code, d]));
  const tensor = (): DeviceTensorInfo => {
    const id = u32();
    const n = name();
    const type = u32();
    const d = codes.get(u32())!;
    const dims = Array.from({ length: u32() }, u32);
    const kind = u32();
    const scale = dv.getFloat32(at, true);
    const offset = dv.getInt32(at + 4, true);
    at += 8;
    expect(kind).toBeLessThan(2);
    return { id, name: n, type: type === 0 ? "APP_WRITE" : "APP_READ", dataType: d.name, dims, encoding: kind === 1 ? { kind: "scale_offset", scale, offset } : { kind: "none" } };
  };
  const size = (t: DeviceTensorInfo) => t.dims.reduce((x, y) => x * y, 1) * dataTypeInfo(t.dataType).bytes;
  const graphs = Array.from({ length: u32() }, (): ReadGraph => {
    const gname = name();
    expect(u32()).toBe(2);
    const nIn = u32();
    const nOut = u32();
    const inputs = Array.from({ length: nIn }, tensor);
    const outputs = Array.from({ length: nOut }, tensor);
    const keyInputs = Array.from({ length: u32() }, u32);
    const keyBytes = keyInputs.reduce((s, i) => s + size(inputs[i]), 0);
    const outBytes = outputs.reduce((s, t) => s + size(t), 0);
    const entries = Array.from({ length: u32() }, () => ({ key: bytes(keyBytes), out: bytes(outBytes) }));
    return { name: gname, inputs, outputs, keyInputs, entries };
  });
  expect(at).toBe(b.length);
  return { socModel, graphs };
}

/** Executes a TABLE graph as the stand-in library does: the first entry whose key matches, else an error. */
function lookupGraph(g: ReadGraph): ExecutableGraph {
  return {
    name: g.name,
    inputs: g.inputs,
    outputs: g.outputs,
    execute(inputs, outputs) {
      const key = Buffer.concat(g.keyInputs.map((i) => inputs[i]));
      const e = g.entries.find((x) => Buffer.compare(Buffer.from(x.key), key) === 0);
      if (!e) throw new Error(`stand-in ${g.name}: no TABLE entry matches the key inputs`);
      let off = 0;
      for (const o of outputs) {
        o.set(e.out.subarray(off, off + o.length));
        off += o.length;
      }
    },
  };
}

describe("recorded stand-in binaries (read back in TypeScript)", () => {
  const PROMPT = [1, 403, 407, 261, 378];
  const run = (mode: "kv" | "prefill" | "hybrid") => ({ model, mode, kvUpdater: "shift_pointer" as const, kvSeqLen: 16, prefillSeqLen: 10, promptTokens: PROMPT, steps: 4 });
  const parityOver = async (mode: "kv" | "prefill" | "hybrid", binary: Uint8Array) => {
    const read = readStandIn(binary);
    const graph = (n: string) => {
      const g = read.graphs.find((x) => x.name === n);
      return g && lookupGraph(g);
    };
    const init = { model, kvSeqLen: mode !== "prefill" ? 16 : undefined, prefillSeqLen: mode !== "kv" ? 10 : undefined };
    const cand = createQnnBackendFromGraphs(init, { kv: graph("kv_forward"), prefill: graph("prefill_forward") }, { where: "test" });
    return runParity({ ...run(mode), reference: createReferenceBackend(init), candidate: cand, tolerance: applyOverrides(defaultTolerance("qnn"), { sqnrDb: 20, maxKl: 1e-4 }) });
  };

  it("kv mode: the table answers every call of the run; the fault shows at exactly its step", async () => {
    const clean = await recordStandIn(run("kv"));
    const read = readStandIn(clean.binary);
    expect(read.socModel).toBe(0);
    expect(read.graphs.map((g) => g.name)).toEqual(["kv_forward"]);
    // Calls: 4 prompt positions + 4 generated; free-running repeats the same keys, so 8 entries.
    expect(read.graphs[0].entries.length).toBe(8);
    const ok = await parityOver("kv", clean.binary);
    expect(ok.passed).toBe(true);
    expect(ok.freeRunning!.firstTokenMismatch).toBe(null);
    const faulty = await recordStandIn({ ...run("kv"), fault: { fromStep: 6, kind: "logits_offset" } });
    expect(faulty.encodings).toEqual(clean.encodings);
    const bad = await parityOver("kv", faulty.binary);
    expect(bad.firstDivergentStep).toBe(6);
    expect(bad.steps[6].failures.join(" ")).toMatch(/^logits: sqnrDb [0-9.]+ < 20$/);
    expect(bad.steps[6].top1).toBe(true); // a constant offset moves no argmax
  });

  it("prefill and hybrid modes: faults from a prefill step and from step 0", async () => {
    const p = await recordStandIn({ ...run("prefill"), fault: { fromStep: 2, kind: "k_noise" } });
    const rp = await parityOver("prefill", p.binary);
    expect(rp.steps.map((s) => s.graph)).toEqual(["prefill", "prefill", "prefill", "prefill"]);
    expect(rp.firstDivergentStep).toBe(2);
    const h = await recordStandIn({ ...run("hybrid"), fault: { fromStep: 0, kind: "swap_top2" } });
    const rh = await parityOver("hybrid", h.binary);
    expect(rh.firstDivergentStep).toBe(0);
    expect(rh.steps[0].graph).toBe("prefill");
    expect(rh.steps.every((s) => !s.top1)).toBe(true);
  });

  it("a wrongly quantized mask misses the table (the mask is part of the key)", async () => {
    const rec = await recordStandIn(run("kv"));
    const g = readStandIn(rec.binary).graphs[0];
    const maskAt = g.inputs.findIndex((x) => x.name === "input_1_atten_mask_0");
    const enc = g.inputs[maskAt].encoding as { kind: "scale_offset"; scale: number; offset: number };
    g.inputs[maskAt] = { ...g.inputs[maskAt], encoding: { ...enc, offset: enc.offset + 1 } }; // blocked -255 -> code 1, not 0
    const cand = createQnnBackendFromGraphs({ model, kvSeqLen: 16 }, { kv: lookupGraph(g) }, { where: "test" });
    await expect(
      runParity({ ...run("kv"), reference: createReferenceBackend({ model, kvSeqLen: 16 }), candidate: cand, tolerance: defaultTolerance("qnn") }),
    ).rejects.toThrow(/no TABLE entry matches/);
  });

  it("the writer refuses entries of the wrong size and unwritable encodings", () => {
    const g = device().kv!;
    expect(() => writeStandInBinary({ graphs: [{ ...g, entries: [{ key: new Uint8Array(3), out: new Uint8Array(1) }] }] })).toThrow(/entry 0: 3\/1 bytes/);
    const bad = { ...g, inputs: g.inputs.map((x, i) => (i === 0 ? { ...x, encoding: { kind: "scale_offset" as const, scale: 0.1, offset: 0 } } : x)) };
    expect(() => writeStandInBinary({ graphs: [bad] })).toThrow(/scale 0.1 is not an fp32 value/);
  });
});

// ---- through the native addon and the stand-in QNN libraries ----

const standIn = buildStandIn();
const addonStatus = nativeAddonStatus();
const nativeReady = standIn !== undefined && addonStatus.available;
/** Why the addon tests skip: in their titles, and once in the test output. */
const NATIVE_SKIP = standIn === undefined ? ` (skipped: needs a C compiler (${process.env.CC || "cc"}; not on Windows) to build the stand-in QNN libraries)` : !addonStatus.available ? ` (skipped: ${addonStatus.reason})` : "";
if (NATIVE_SKIP) console.info(`qnn backend tests through the addon${NATIVE_SKIP}`);

it("the stand-in libraries and the addon are available (required in CI)", () => {
  if (!process.env.CI && !nativeReady) return; // no C compiler / addon build on this machine: the native tests skip
  expect(standIn).toBeDefined();
  expect(addonStatus.available ? "" : addonStatus.reason).toBe("");
});

describe.skipIf(!nativeReady)(`qnn backend through the addon (stand-in libraries)${NATIVE_SKIP}`, () => {
  it("a QUANT_ENCODING Smart Mask manager drives the device's uint8 caches and uint16 mask directly", async () => {
    const PROMPT = [1, 403, 407, 261, 378];
    const kvSeqLen = 16;
    const steps = 6;
    const rec = await recordStandIn({ model, mode: "kv", kvUpdater: "smart_mask", kvSeqLen, prefillSeqLen: 10, promptTokens: PROMPT, steps });
    const ctx = openQnnContext({ ...standIn!, binary: rec.binary });
    const b = createQnnBackendFromGraphs({ model, kvSeqLen }, { kv: ctx.graph("kv_forward") }, { where: "stand-in", onDispose: () => ctx.close() });
    const dims = { nLayers: c.nLayers, nKvHeads: c.nKvHeads, headDim: c.headDim, kvSeqLen, prefillSeqLen: 10, mode: "kv" as const };

    // The device flow on codes: the caches start at the K/V zero point (code 128 = 0.0), tokens by argmax of the codes.
    const q = createSmartMask(dims, QUANT_ENCODING);
    for (const a of [...q.kvInputs().kCaches, ...q.kvInputs().vCaches]) a.fill(128);
    q.startKv();
    // The reference flow in fp32 with the same manager kind.
    const ref = createReferenceBackend({ model, kvSeqLen });
    const f = createSmartMask(dims);
    f.startKv();
    const logits = new Uint16Array(c.vocabSize);
    const refOut = allocKvOutputs(c);
    const argmax = (a: ArrayLike<number>) => {
      let m = 0;
      for (let i = 1; i < a.length; i++) if (a[i] > a[m]) m = i;
      return m;
    };
    let cur = PROMPT[0];
    let refCur = PROMPT[0];
    const generated: number[] = [];
    const refGenerated: number[] = [];
    const L = kvSeqLen - 1;
    for (let p = 0; p < PROMPT.length - 1 + steps; p++) {
      const qi = q.kvInputs();
      b.executeKvCodes({ tokens: Int32Array.of(cur), attnMask: qi.attnMask, inputPos: Int32Array.of(p), kCaches: qi.kCaches, vCaches: qi.vCaches }, { logits, ...q.kvOutputs() });
      const fi = f.kvInputs();
      await ref.executeKv({ tokens: Int32Array.of(refCur), attnMask: fi.attnMask, inputPos: Int32Array.of(p), kCaches: fi.kCaches, vCaches: fi.vCaches }, { logits: refOut.logits, ...f.kvOutputs() });
      const next = argmax(logits);
      const refNext = argmax(refOut.logits);
      if (p >= PROMPT.length - 1) {
        generated.push(next);
        refGenerated.push(refNext);
      }
      cur = p < PROMPT.length - 1 ? PROMPT[p + 1] : next;
      refCur = p < PROMPT.length - 1 ? PROMPT[p + 1] : refNext;
      q.updateAfterKvStep(p);
      f.updateAfterKvStep(p);
      expect(Array.from(q.kvInputs().attnMask)).toEqual(Array.from(f.kvInputs().attnMask, (m) => (m === 0 ? 65535 : 0)));
      expect(p).toBeLessThan(L);
    }
    b.dispose();
    expect(generated).toEqual(refGenerated);
    // Every cached K/V code, dequantized with its (layer, head) encoding, is within half a step of the reference.
    let worst = 0;
    for (let l = 0; l < c.nLayers; l++)
      for (let h = 0; h < c.nKvHeads; h++) {
        const i = l * c.nKvHeads + h;
        for (let p = 0; p < PROMPT.length - 1 + steps; p++) {
          for (const [codes, reals, e] of [
            [q.readK(l, h, p), f.readK(l, h, p), rec.encodings.k[i]],
            [q.readV(l, h, p), f.readV(l, h, p), rec.encodings.v[i]],
          ] as const) {
            for (let d = 0; d < c.headDim; d++) {
              const err = Math.abs(e.scale * (codes[d] + e.offset) - reals[d]) / e.scale;
              worst = Math.max(worst, err);
            }
          }
        }
      }
    expect(worst).toBeLessThanOrEqual(0.5 + 1e-4);
    expect(worst).toBeGreaterThan(0.3); // real 8-bit codes, not a pass-through
  });
});
