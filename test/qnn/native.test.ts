// The native QNN addon (native/, src/qnn/native.ts) against the stand-in QNN libraries
// (test/native/stand-in): provider selection, binary info of every structure version, execution of the
// ADD and TABLE stand-in graphs on buffers the test owns, error propagation (QNN call and code), and
// cleanup proven by the stand-ins' handle trace (every create matched by a free, in reverse order, also
// after failures). Skipped locally when the addon or a C compiler is missing; in CI that is a failure.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildStandIn } from "../helpers/stand-in.js";
import { expectUserError } from "../helpers/errors.js";
import { listQnnProviders, nativeAddonStatus, openQnnContext, qnnMinimumApiVersions, QnnUserError, readBinaryInfo, type QnnCallError, type QnnContext } from "../../src/qnn/native.js";
import { writeStandInBinary, type StandInBinary, type StandInGraph, type StandInTensor } from "../helpers/stand-in-binary.js";
import { UserError } from "../../src/util/errors.js";
import { concatBytes } from "../../src/util/binary.js";

const libs = buildStandIn();
const status = nativeAddonStatus();
const ready = libs !== undefined && status.available;
/** Why the addon tests skip: in their titles, and once in the test output. */
const SKIP = libs === undefined ? ` (skipped: needs a C compiler (${process.env.CC || "cc"}; not on Windows) to build the stand-in QNN libraries)` : !status.available ? ` (skipped: ${status.reason})` : "";
if (SKIP) console.info(`QNN addon tests${SKIP}`);
const CI_ONLY = process.env.CI ? "" : " (skipped: runs only in CI, where CI is set)";
if (CI_ONLY) console.info(`CI availability test${CI_ONLY}`);
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-native-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("availability", () => {
  it.runIf(process.env.CI)(`CI builds the addon and the stand-in libraries${CI_ONLY}`, () => {
    expect(libs).toBeDefined();
    expect(status).toMatchObject({ available: true });
  });
  it("nativeAddonStatus points at the built addon, or says how to build it", () => {
    if (status.available) expect(status.path).toMatch(/native[\\/]build[\\/]Release[\\/]lg_qnn\.node$/);
    else expect(status.reason).toContain("npm run build:native");
  });
});

// ---------------------------------------------------------------------------------------------- helpers

const ENV_KEYS = [
  "LG_STANDIN_TRACE",
  "LG_STANDIN_SOC",
  "LG_STANDIN_PROVIDERS",
  "LG_STANDIN_BAD",
  "LG_STANDIN_FAIL",
  "LG_STANDIN_BINARY_INFO_VERSION",
  "LG_STANDIN_GRAPH_INFO_VERSION",
  "LG_STANDIN_TENSOR_VERSION",
  "LG_STANDIN_SYSTEM_BAD",
  "LG_STANDIN_CORE_API",
  "LG_STANDIN_SYSTEM_API",
];
afterEach(() => {
  for (const k of ENV_KEYS) delete process.env[k];
});

let traceSerial = 0;
/** Runs f with the stand-ins tracing into a fresh file; returns f's result and the trace lines (f's errors propagate). */
function traced<T>(f: () => T): { result: T; lines: string[] } {
  const file = join(tmp, `trace-${traceSerial++}.txt`);
  writeFileSync(file, "");
  process.env.LG_STANDIN_TRACE = file;
  let result: T;
  try {
    result = f();
  } finally {
    delete process.env.LG_STANDIN_TRACE;
  }
  const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
  return { result, lines };
}

/** Every create is freed, frees come in exactly the reverse order of creates (a stack), no bad frees. */
function expectBalanced(lines: string[]): void {
  const stack: string[] = [];
  for (const l of lines) {
    const [op, kind, id] = l.split(" ");
    expect(op, l).not.toBe("bad-free");
    if (op === "create") stack.push(`${kind} ${id}`);
    else expect(`${kind} ${id}`, `free order at "${l}"`).toBe(stack.pop());
  }
  expect(stack, "handles never freed").toEqual([]);
}
const kinds = (lines: string[]) => lines.map((l) => l.split(" ").slice(0, 2).join(" "));

const f32 = (xs: number[]) => new Uint8Array(new Float32Array(xs).buffer);
const i32 = (xs: number[]) => new Uint8Array(new Int32Array(xs).buffer);
const u16 = (xs: number[]) => new Uint8Array(new Uint16Array(xs).buffer);

function tensor(id: number, name: string, tensorType: number, dataType: string, dims: number[], encoding: StandInTensor["encoding"] = { kind: "none" }): StandInTensor {
  return { id, name, tensorType, dataType, dims, encoding };
}

const addGraph = (name: string, dataType: "FLOAT_32" | "UFIXED_POINT_8", dims: number[]): StandInGraph => ({
  name,
  kind: "ADD",
  inputs: [tensor(1, "a", 0, dataType, dims), tensor(2, "b", 0, dataType, dims)],
  outputs: [tensor(3, "sum", 1, dataType, dims)],
});

// A TABLE graph keyed by (input_pos, tokens) — key order differs from input order on purpose.
const TABLE_OUT_A = { logits: [1, 2, 65535], h: [0.5, -1.25] };
const TABLE_OUT_B = { logits: [7, 0, 9], h: [3, 4] };
const tableGraph = (): StandInGraph => ({
  name: "kv_forward",
  kind: "TABLE",
  inputs: [
    tensor(10, "input_0_tokens_0", 0, "INT_32", [1, 1]),
    tensor(11, "input_1_atten_mask_0", 0, "UFIXED_POINT_16", [1, 4], { kind: "scale_offset", scale: Math.fround(255 / 65535), offset: -65535 }),
    tensor(12, "input_2_input_pos_0", 0, "INT_32", [1]),
  ],
  outputs: [
    tensor(20, "logits", 1, "UFIXED_POINT_16", [1, 3], { kind: "scale_offset", scale: Math.fround(0.0123), offset: -30000 }),
    tensor(21, "hidden", 1, "FLOAT_32", [2]),
  ],
  keyInputs: [2, 0],
  entries: [
    { key: concat(i32([0]), i32([5])), out: concat(u16(TABLE_OUT_A.logits), f32(TABLE_OUT_A.h)) },
    { key: concat(i32([1]), i32([7])), out: concat(u16(TABLE_OUT_B.logits), f32(TABLE_OUT_B.h)) },
  ],
});

const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts);

const binary = (b: StandInBinary) => writeStandInBinary(b);
const ADD_BIN = () => binary({ graphs: [addGraph("add_f32", "FLOAT_32", [2, 3]), addGraph("add_u8", "UFIXED_POINT_8", [4])] });

function open(bin: Uint8Array, extra: { provider?: string; logLevel?: "error" | "info" } = {}): QnnContext {
  return openQnnContext({ ...libs!, binary: bin, ...extra });
}

// ---------------------------------------------------------------------------------------------- tests

describe.skipIf(!ready)(`QNN addon with the stand-in libraries${SKIP}`, () => {
  describe("provider selection", () => {
    it("takes the first provider speaking core API 2.14 or newer by default, and a named one when asked", () => {
      const a = open(ADD_BIN());
      expect(a.provider).toEqual({ name: "STANDIN_HTP", coreApiVersion: "2.20.0", backendApiVersion: "5.20.0", backendId: 6 });
      a.close();
      const { result: b, lines } = traced(() => open(ADD_BIN(), { provider: "STANDIN_CPU" }));
      expect(b.provider).toEqual({ name: "STANDIN_CPU", coreApiVersion: "2.20.0", backendApiVersion: "1.1.0", backendId: 3 });
      b.close();
      // a backend without device support gets no device, as the SDK's own tools do
      expect(kinds(lines)).toEqual(["create sysctx", "create backend", "create context"]);
    });

    it("lists the providers of a library", () => {
      expect(listQnnProviders(libs!.backendLib).map((p) => `${p.name} ${p.coreApiVersion} ${p.backendId}`)).toEqual([
        "STANDIN_OLD 1.14.0 6",
        "STANDIN_HTP 2.20.0 6",
        "STANDIN_CPU 2.20.0 3",
      ]);
    });

    it("refuses a named provider of another core API major, an unknown name, and a library with none that fits", () => {
      const lines = traced(() => {
        expectUserError(() => open(ADD_BIN(), { provider: "STANDIN_OLD" }), /QNN provider STANDIN_OLD in .*libstandin_backend\.so has core API 1\.14\.0, this addon needs 2\.14 or newer \(2\.x\)/);
        expectUserError(
          () => open(ADD_BIN(), { provider: "HTP" }),
          /QNN provider HTP not found in .*; available: STANDIN_OLD \(core API 1\.14\.0, backend API 4\.0\.0, backend id 6\), STANDIN_HTP \(core API 2\.20\.0/,
        );
        process.env.LG_STANDIN_PROVIDERS = "STANDIN_OLD";
        expectUserError(() => open(ADD_BIN()), /no QNN interface provider in .* speaks core API 2\.14 or newer \(2\.x\); available: STANDIN_OLD \(core API 1\.14\.0/);
        process.env.LG_STANDIN_PROVIDERS = "NONE";
        expectUserError(() => open(ADD_BIN()), /speaks core API 2\.14 or newer \(2\.x\); available: none/);
      }).lines;
      expect(lines).toEqual([]); // chosen before anything is created
    });

    it("refuses a backend library older than core API 2.14 in one line naming both versions, before creating anything", () => {
      expect(qnnMinimumApiVersions()).toEqual({ core: "2.14", system: "1.2" });
      const tooOld = (version: string, provider = "STANDIN_HTP") => `${libs!.backendLib}: QNN core API ${version} (provider ${provider}) is older than the minimum 2.14 this addon is built for`;
      const { lines } = traced(() => {
        process.env.LG_STANDIN_CORE_API = "2.13";
        expect(expectUserError(() => open(ADD_BIN()))).toBe(tooOld("2.13.0"));
        expect(expectUserError(() => open(ADD_BIN(), { provider: "STANDIN_CPU" }))).toBe(tooOld("2.13.0", "STANDIN_CPU"));
        process.env.LG_STANDIN_CORE_API = "2.13.99";
        expect(expectUserError(() => open(ADD_BIN()))).toBe(tooOld("2.13.99"));
        process.env.LG_STANDIN_CORE_API = "2.7.2"; // QNN SDK 2.13's
        expect(expectUserError(() => open(ADD_BIN()))).toBe(tooOld("2.7.2"));
        process.env.LG_STANDIN_CORE_API = "3.0";
        expectUserError(() => open(ADD_BIN()), /no QNN interface provider in .* speaks core API 2\.14 or newer \(2\.x\); available: .*STANDIN_HTP \(core API 3\.0\.0/);
      });
      expect(lines).toEqual([]); // refused before a log, backend or system context exists
      let err: unknown;
      try {
        process.env.LG_STANDIN_CORE_API = "2.13";
        open(ADD_BIN());
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(QnnUserError);
      expect(err).toMatchObject({ qnnKind: "api", libraryUnusable: true });
      // the minimum itself is accepted
      process.env.LG_STANDIN_CORE_API = "2.14.0";
      const c = open(ADD_BIN());
      expect(c.provider.coreApiVersion).toBe("2.14.0");
      c.close();
    });

    it("refuses a system library older than system API 1.2 in one line naming both versions, before reading any graph info", () => {
      const tooOld = (version: string) => `${libs!.systemLib}: QNN system API ${version} is older than the minimum 1.2 this addon is built for`;
      const { lines } = traced(() => {
        process.env.LG_STANDIN_SYSTEM_API = "1.1";
        expect(expectUserError(() => readBinaryInfo(libs!.systemLib, ADD_BIN()))).toBe(tooOld("1.1.0"));
        expect(expectUserError(() => open(ADD_BIN()))).toBe(tooOld("1.1.0"));
        process.env.LG_STANDIN_SYSTEM_API = "2.0";
        expectUserError(() => readBinaryInfo(libs!.systemLib, ADD_BIN()), /no QNN system provider in .* speaks system API 1\.2 or newer with the context functions; available: STANDIN_SYSTEM \(system API 2\.0\.0\)/);
      });
      expect(lines).toEqual([]); // no system context, log or backend was created
      process.env.LG_STANDIN_SYSTEM_API = "1.2";
      expect(readBinaryInfo(libs!.systemLib, ADD_BIN()).graphs.map((g) => g.name)).toEqual(["add_f32", "add_u8"]);
    });

    it("survives a library that misbehaves while listing providers", () => {
      process.env.LG_STANDIN_BAD = "nulllist";
      expectUserError(() => open(ADD_BIN()), /returned a NULL provider list/);
      process.env.LG_STANDIN_BAD = "hugecount";
      expectUserError(() => open(ADD_BIN()), /reports 4294967295 providers/);
      process.env.LG_STANDIN_BAD = "nullname";
      expect(listQnnProviders(libs!.backendLib).map((p) => p.name)).toEqual([""]);
      const c = open(ADD_BIN());
      expect(c.provider.name).toBe("");
      c.close();
    });
  });

  describe("binary info", () => {
    const rich = (): StandInBinary => ({
      socModel: 57,
      graphs: [
        tableGraph(),
        {
          name: "prefill_forward",
          kind: "ADD",
          inputs: [
            tensor(7, "x", 0, "UFIXED_POINT_8", [1, 2, 3], { kind: "axis_scale_offset", axis: 2, scales: [0.5, 0.25, Math.fround(0.1)], offsets: [-128, 0, 7] }),
            tensor(8, "y", 0, "UFIXED_POINT_8", [1, 2, 3], { kind: "scale_offset", scale: Math.fround(1 / 3), offset: -2147483648 }),
          ],
          outputs: [tensor(9, "z", 2, "UFIXED_POINT_8", [1, 2, 3])],
        },
      ],
    });
    const expected = (socModel: boolean) => ({
      coreApiVersion: "2.20.0",
      backendApiVersion: "5.20.0",
      buildId: "v2.20.0.standin",
      socVersion: "standin",
      ...(socModel ? { socModel: 57 } : {}),
      graphs: [
        {
          name: "kv_forward",
          inputs: [
            { id: 10, name: "input_0_tokens_0", type: "APP_WRITE", dataType: "INT_32", dims: [1, 1], encoding: { kind: "none" } },
            { id: 11, name: "input_1_atten_mask_0", type: "APP_WRITE", dataType: "UFIXED_POINT_16", dims: [1, 4], encoding: { kind: "scale_offset", scale: Math.fround(255 / 65535), offset: -65535 } },
            { id: 12, name: "input_2_input_pos_0", type: "APP_WRITE", dataType: "INT_32", dims: [1], encoding: { kind: "none" } },
          ],
          outputs: [
            { id: 20, name: "logits", type: "APP_READ", dataType: "UFIXED_POINT_16", dims: [1, 3], encoding: { kind: "scale_offset", scale: Math.fround(0.0123), offset: -30000 } },
            { id: 21, name: "hidden", type: "APP_READ", dataType: "FLOAT_32", dims: [2], encoding: { kind: "none" } },
          ],
        },
        {
          name: "prefill_forward",
          inputs: [
            { id: 7, name: "x", type: "APP_WRITE", dataType: "UFIXED_POINT_8", dims: [1, 2, 3], encoding: { kind: "axis_scale_offset", axis: 2, scales: [0.5, 0.25, Math.fround(0.1)], offsets: [-128, 0, 7] } },
            { id: 8, name: "y", type: "APP_WRITE", dataType: "UFIXED_POINT_8", dims: [1, 2, 3], encoding: { kind: "scale_offset", scale: Math.fround(1 / 3), offset: -2147483648 } },
          ],
          outputs: [{ id: 9, name: "z", type: "APP_READWRITE", dataType: "UFIXED_POINT_8", dims: [1, 2, 3], encoding: { kind: "none" } }],
        },
      ],
    });

    it("reports names, ids, types, dims, data types and encodings exactly as written, for every structure version", () => {
      const bin = binary(rich());
      for (const bv of [1, 2, 3])
        for (const gv of [1, 2, 3])
          for (const tv of [1, 2]) {
            process.env.LG_STANDIN_BINARY_INFO_VERSION = String(bv);
            process.env.LG_STANDIN_GRAPH_INFO_VERSION = String(gv);
            process.env.LG_STANDIN_TENSOR_VERSION = String(tv);
            const { result, lines } = traced(() => readBinaryInfo(libs!.systemLib, bin));
            expect(result, `binary ${bv} graph ${gv} tensor ${tv}`).toEqual({ binaryInfoVersion: bv, ...expected(bv === 3) });
            expectBalanced(lines);
            expect(lines).toHaveLength(2);
          }
    });

    it("reports the bit-width encodings with their parameters and names every later encoding by its code", () => {
      const later = [4, 5, 6, 7, 8, 9, 10, 11, 12];
      const bin = binary({
        graphs: [
          {
            name: "weights",
            kind: "TABLE",
            keyInputs: [],
            entries: [],
            inputs: [
              tensor(1, "bw", 4, "SFIXED_POINT_8", [2, 2], { kind: "bw_scale_offset", bitwidth: 4, scale: 0.5, offset: -8 }),
              tensor(2, "bw_axis", 4, "SFIXED_POINT_8", [2, 2], { kind: "bw_axis_scale_offset", bitwidth: 4, axis: 0, scales: [0.25, 0.125], offsets: [-8, 3] }),
              tensor(3, "bw_axis_sym", 4, "SFIXED_POINT_8", [3, 2], { kind: "bw_axis_scale_offset", bitwidth: 4, axis: 0, scales: [1, 2, 4], offsets: [0, 0, 0] }),
              ...later.map((code, i) => tensor(10 + i, `enc_${code}`, 4, "UFIXED_POINT_8", [2, 2], { kind: "other", code })),
            ],
            outputs: [tensor(30, "out", 1, "FLOAT_32", [2, 2])],
          },
        ],
      });
      const g = readBinaryInfo(libs!.systemLib, bin).graphs[0];
      expect(g.inputs.map((t) => t.encoding)).toEqual([
        { kind: "bw_scale_offset", bitwidth: 4, scale: 0.5, offset: -8 },
        { kind: "bw_axis_scale_offset", bitwidth: 4, axis: 0, scales: [0.25, 0.125], offsets: [-8, 3] },
        { kind: "bw_axis_scale_offset", bitwidth: 4, axis: 0, scales: [1, 2, 4], offsets: [0, 0, 0] }, // NULL offsets: symmetric
        ...[
          "BLOCK",
          "BLOCKWISE_EXPANSION",
          "VECTOR",
          "FLOAT_BLOCK",
          "BW_AXIS_SCALE_OFFSET_MAPPED",
          "BW_BLOCK_MAPPED",
          "BW_BLOCKWISE_EXPANSION_MAPPED",
          "BW_FLOAT_BLOCK",
          "UNKNOWN_12",
        ].map((name, i) => ({ kind: "other", code: later[i], name })),
      ]);
    });

    it("the opened context carries the same info", () => {
      const c = open(binary(rich()));
      expect(c.info).toEqual({ binaryInfoVersion: 3, ...expected(true) });
      c.close();
    });

    it("refuses structure versions it does not know, naming them", () => {
      const bin = binary(rich());
      const cases: [string, string, RegExp][] = [
        ["LG_STANDIN_BINARY_INFO_VERSION", "4", /QNN context binary info version 4 is not supported \(this addon reads versions 1 to 3\)/],
        ["LG_STANDIN_GRAPH_INFO_VERSION", "7", /graph info 0 has version 7; this addon reads graph info versions 1 to 3/],
        ["LG_STANDIN_TENSOR_VERSION", "3", /graph kv_forward input tensor 0 has tensor version 3; this addon reads versions 1 and 2/],
      ];
      for (const [key, value, re] of cases) {
        process.env[key] = value;
        const { lines } = traced(() => {
          expectUserError(() => readBinaryInfo(libs!.systemLib, bin), re);
          expectUserError(() => open(bin), re);
        });
        expectBalanced(lines);
        expect(kinds(lines)).toEqual(["create sysctx", "free sysctx", "create sysctx", "free sysctx"]);
        delete process.env[key];
      }
    });

    it("never trusts the system library's pointers and counts", () => {
      const bin = binary(rich());
      const cases: [string, RegExp][] = [
        ["nullinfo", /QnnSystemContext_getBinaryInfo returned no info/],
        ["nullgraphs", /binary info has a NULL graph array/],
        ["hugeinputs", /graph kv_forward input: 4294967295 tensors/],
        ["nullname", /graph info 0 name is NULL/],
      ];
      for (const [bad, re] of cases) {
        process.env.LG_STANDIN_SYSTEM_BAD = bad;
        const { lines } = traced(() => expectUserError(() => readBinaryInfo(libs!.systemLib, bin), re));
        expectBalanced(lines);
      }
    });
  });

  describe("execution", () => {
    it("ADD on float32 buffers, also through unaligned views, several times", () => {
      const c = open(ADD_BIN());
      const g = c.graph("add_f32");
      expect(g.inputs.map((t) => t.name)).toEqual(["a", "b"]);
      const a = [1.5, -2, 3.25, 1e-7, 65504, -0];
      const b = [0.25, 2, -3.25, 3, 1, 1e30];
      const out = new Uint8Array(24);
      g.execute([f32(a), f32(b)], [out]);
      expect(Array.from(new Float32Array(out.buffer))).toEqual(a.map((x, i) => Math.fround(Math.fround(x) + Math.fround(b[i]))));
      // unaligned: views at odd byte offsets into larger buffers
      const backing = new Uint8Array(3 * 25);
      const va = backing.subarray(1, 25);
      const vb = backing.subarray(26, 50);
      const vo = backing.subarray(51, 75);
      va.set(f32([1, 2, 3, 4, 5, 6]));
      vb.set(f32([10, 20, 30, 40, 50, 60]));
      for (let k = 0; k < 3; k++) g.execute([va, vb], [vo]);
      expect(Array.from(new Float32Array(vo.slice().buffer))).toEqual([11, 22, 33, 44, 55, 66]);
      c.close();
    });

    it("ADD on uint8 codes saturates", () => {
      const c = open(ADD_BIN());
      const out = new Uint8Array(4);
      c.graph("add_u8").execute([Uint8Array.of(250, 3, 0, 128), Uint8Array.of(10, 4, 0, 127)], [out]);
      expect(Array.from(out)).toEqual([255, 7, 0, 255]);
      c.close();
    });

    it("TABLE looks up the key inputs in key order and copies the entry's bytes to the outputs", () => {
      const c = open(binary({ graphs: [tableGraph()] }));
      const g = c.graph("kv_forward");
      const logits = new Uint8Array(6);
      const hidden = new Uint8Array(8);
      const mask = u16([65535, 0, 0, 0]);
      g.execute([i32([5]), mask, i32([0])], [logits, hidden]);
      expect(Array.from(new Uint16Array(logits.buffer))).toEqual(TABLE_OUT_A.logits);
      expect(Array.from(new Float32Array(hidden.buffer))).toEqual(TABLE_OUT_A.h);
      g.execute([i32([7]), mask, i32([1])], [logits, hidden]);
      expect(Array.from(new Uint16Array(logits.buffer))).toEqual(TABLE_OUT_B.logits);
      expect(Array.from(new Float32Array(hidden.buffer))).toEqual(TABLE_OUT_B.h);
      // tokens and input_pos swapped: no entry -> the QNN call fails with its code, not a UserError
      let err: QnnCallError | undefined;
      try {
        g.execute([i32([0]), mask, i32([5])], [logits, hidden]);
      } catch (e) {
        err = e as QnnCallError;
      }
      expect(err).toBeInstanceOf(Error);
      expect(err).not.toBeInstanceOf(UserError);
      expect(err!.message).toMatch(/^QnnGraph_execute failed: error 1100 \(QNN_COMMON_ERROR_GENERAL: general error\) \(graph kv_forward\)$/);
      expect(err).toMatchObject({ qnnCall: "QnnGraph_execute", qnnCode: 1100, qnnKind: "qnn" });
      c.close();
    });

    it("checks buffer counts, types and byte sizes before any native call", () => {
      // the TABLE has no entries: had the call reached the library it would fail with error 1100 instead
      const empty = { ...tableGraph(), entries: [] } as StandInGraph;
      const c = open(binary({ graphs: [empty] }));
      const g = c.graph("kv_forward");
      const ok = () => [i32([5]), u16([0, 0, 0, 0]), i32([0])];
      const outs = () => [new Uint8Array(6), new Uint8Array(8)];
      expect(() => g.execute([i32([5]), new Uint8Array(7), i32([0])], outs())).toThrow(
        new RangeError("QNN graph kv_forward input 1 (input_1_atten_mask_0): buffer has 7 bytes, the tensor needs 8 ([1, 4] x UFIXED_POINT_16)"),
      );
      expect(() => g.execute(ok(), [new Uint8Array(6), new Uint8Array(9)])).toThrow(/output 1 \(hidden\): buffer has 9 bytes, the tensor needs 8/);
      expect(() => g.execute(ok().slice(0, 2), outs())).toThrow(/kv_forward: 3 inputs expected, got 2/);
      expect(() => g.execute([new Int32Array([5]) as unknown as Uint8Array, ...ok().slice(1)], outs())).toThrow(TypeError);
      expect(() => g.execute(ok(), outs())).toThrow(/QnnGraph_execute failed: error 1100/);
      c.close();
    });

    it("graph() retrieves a listed graph once and refuses unknown names with the list", () => {
      const c = open(ADD_BIN());
      expect(c.graph("add_u8")).toBe(c.graph("add_u8"));
      expectUserError(() => c.graph("kv_forward"), 'no graph named "kv_forward" in the QNN context binary; it has: add_f32, add_u8');
      c.close();
    });

    it("two contexts live side by side; closing one leaves the other working", () => {
      const { lines } = traced(() => {
        const a = open(ADD_BIN());
        const b = open(binary({ graphs: [tableGraph()] }));
        a.close();
        const logits = new Uint8Array(6);
        b.graph("kv_forward").execute([i32([7]), u16([0, 0, 0, 0]), i32([1])], [logits, new Uint8Array(8)]);
        expect(Array.from(new Uint16Array(logits.buffer))).toEqual(TABLE_OUT_B.logits);
        b.close();
      });
      expect(lines.filter((l) => l.startsWith("create")).length).toBe(8);
      expect(lines.filter((l) => l.startsWith("free")).length).toBe(8);
      expect(lines.some((l) => l.startsWith("bad-free"))).toBe(false);
    });
  });

  describe("errors from the binary and the device", () => {
    it("a foreign, truncated or wrongly versioned binary is refused by the system library with its code", () => {
      const good = binary({ graphs: [tableGraph()] });
      const bad: [string, Uint8Array][] = [
        ["foreign", new TextEncoder().encode("this is not a QNN context binary at all")],
        ["truncated", good.subarray(0, good.length - 5)],
        ["trailing bytes", concat(good, Uint8Array.of(0))],
        ["version 2", (() => {
          const b = good.slice();
          b[8] = 2;
          return b;
        })()],
      ];
      for (const [what, bytes] of bad) {
        const { lines } = traced(() => {
          expectUserError(() => readBinaryInfo(libs!.systemLib, bytes), /^QnnSystemContext_getBinaryInfo failed: error 30010 \(QNN_SYSTEM_CONTEXT_ERROR_MALFORMED_BINARY: not a readable context binary\)$/);
          expectUserError(() => open(bytes, { logLevel: "error" }), /QnnSystemContext_getBinaryInfo failed: error 30010/);
        });
        expectBalanced(lines);
        expect(kinds(lines), what).toEqual(["create sysctx", "free sysctx", "create sysctx", "free sysctx"]);
      }
    });

    it("a binary for another SoC fails QnnContext_createFromBinary with a clear error and frees everything", () => {
      const bin = binary({ socModel: 57, graphs: [tableGraph()] });
      process.env.LG_STANDIN_SOC = "69";
      const { lines } = traced(() =>
        expectUserError(
          () => open(bin, { logLevel: "error" }),
          /^QnnContext_createFromBinary failed: error 5004 \(QNN_CONTEXT_ERROR_BINARY_VERSION: binary incompatible with this backend, SoC or SDK\); the binary was prepared by QNN API 2\.20\.0 \(backend id 6, backend API 5\.20\.0\) for SoC model 57 \(standin\), the library is STANDIN_HTP \(core API 2\.20\.0/,
        ),
      );
      expectBalanced(lines);
      expect(kinds(lines)).toEqual(["create sysctx", "create log", "create backend", "create device", "free device", "free backend", "free log", "free sysctx"]);
      // the same SoC, a binary for any SoC (0), and a backend without devices all open
      process.env.LG_STANDIN_SOC = "57";
      open(bin).close();
      process.env.LG_STANDIN_SOC = "69";
      open(binary({ socModel: 0, graphs: [tableGraph()] })).close();
      open(bin, { provider: "STANDIN_CPU" }).close();
    });

    it("an empty binary is refused before any library call", () => {
      const { lines } = traced(() => {
        expectUserError(() => readBinaryInfo(libs!.systemLib, new Uint8Array(0)), "QNN context binary is empty");
        expectUserError(() => open(new Uint8Array(0)), "QNN context binary is empty");
      });
      expect(lines).toEqual([]);
    });

    it("missing, foreign and non-QNN libraries are one-line UserErrors", () => {
      expectUserError(() => openQnnContext({ backendLib: "/nonexistent/libQnnHtp.so", systemLib: libs!.systemLib, binary: ADD_BIN() }), "QNN backend library /nonexistent/libQnnHtp.so: no such file");
      expectUserError(() => readBinaryInfo(join(tmp, "nope", "libQnnSystem.so"), ADD_BIN()), /^QNN system library .*libQnnSystem\.so: no such file$/);
      expectUserError(() => openQnnContext({ backendLib: tmp, systemLib: libs!.systemLib, binary: ADD_BIN() }), /QNN backend library .*: not a file/);
      const text = join(tmp, "libfake.so");
      writeFileSync(text, "not an ELF file\n");
      expectUserError(() => openQnnContext({ backendLib: text, systemLib: libs!.systemLib, binary: ADD_BIN() }), /^cannot load QNN backend library .*libfake\.so: .*libfake\.so/);
      // the system library is a shared library, but not a backend
      expectUserError(() => openQnnContext({ backendLib: libs!.systemLib, systemLib: libs!.systemLib, binary: ADD_BIN() }), /libstandin_system\.so does not export QnnInterface_getProviders \(is it a QNN backend library such as libQnnHtp\?\)/);
      expectUserError(() => readBinaryInfo(libs!.backendLib, ADD_BIN()), /libstandin_backend\.so does not export QnnSystemInterface_getProviders/);
      expectUserError(() => open(ADD_BIN(), { logLevel: "loud" as "info" }), /QNN log level loud: expected one of error, warn, info, verbose, debug/);
    });
  });

  describe("cleanup", () => {
    it("frees context, device, backend, log and system context in reverse order; close is idempotent", () => {
      const { lines } = traced(() => {
        const c = open(ADD_BIN(), { logLevel: "info" });
        const g = c.graph("add_u8");
        c.close();
        c.close();
        expect(() => c.graph("add_u8")).toThrow(/QNN context is closed/);
        expect(() => g.execute([new Uint8Array(4), new Uint8Array(4)], [new Uint8Array(4)])).toThrow(/QNN context is closed/);
      });
      expect(kinds(lines)).toEqual([
        "create sysctx",
        "create log",
        "create backend",
        "create device",
        "create context",
        "free context",
        "free device",
        "free backend",
        "free log",
        "free sysctx",
      ]);
      expectBalanced(lines);
    });

    it("a failure at any step of opening frees what was created before it", () => {
      const cases: [string, RegExp, string[]][] = [
        ["logCreate", /^QnnLog_create failed: error 11002 \(QNN_LOG_ERROR_INITIALIZATION\)$/, ["create sysctx", "free sysctx"]],
        ["backendCreate", /^QnnBackend_create failed: error 4000 \(QNN_BACKEND_ERROR_CANNOT_INITIALIZE\)$/, ["create sysctx", "create log", "free log", "free sysctx"]],
        ["deviceCreate", /^QnnDevice_create failed: error 14002 \(QNN_DEVICE_ERROR_HARDWARE_UNAVAILABLE\)$/, ["create sysctx", "create log", "create backend", "free backend", "free log", "free sysctx"]],
      ];
      for (const [step, re, expected] of cases) {
        process.env.LG_STANDIN_FAIL = step;
        const { lines } = traced(() => expectUserError(() => open(ADD_BIN(), { logLevel: "error" }), re));
        expect(kinds(lines), step).toEqual(expected);
        expectBalanced(lines);
      }
    });

    it("a device that is not supported is skipped; a failing graph retrieve leaves the context closable", () => {
      process.env.LG_STANDIN_FAIL = "deviceUnsupported";
      const { lines } = traced(() => {
        const c = open(ADD_BIN());
        const out = new Uint8Array(4);
        c.graph("add_u8").execute([Uint8Array.of(1, 2, 3, 4), Uint8Array.of(1, 1, 1, 1)], [out]);
        expect(Array.from(out)).toEqual([2, 3, 4, 5]);
        process.env.LG_STANDIN_FAIL = "graphRetrieve";
        expectUserError(() => c.graph("add_f32"), /^QnnGraph_retrieve failed: error 6035 \(QNN_GRAPH_ERROR_DISABLED\) \(graph add_f32\)$/);
        c.close();
      });
      expect(kinds(lines)).toEqual(["create sysctx", "create backend", "create context", "free context", "free backend", "free sysctx"]);
    });

    it("a failing free is reported by close() after everything else was freed; a second close is silent", () => {
      process.env.LG_STANDIN_FAIL = "contextFree";
      const { lines } = traced(() => {
        const c = open(ADD_BIN());
        let err: QnnCallError | undefined;
        try {
          c.close();
        } catch (e) {
          err = e as QnnCallError;
        }
        expect(err?.message).toBe("QnnContext_free failed: error 1100 (QNN_COMMON_ERROR_GENERAL: general error)");
        expect(err).toMatchObject({ qnnCall: "QnnContext_free", qnnCode: 1100 });
        c.close();
      });
      expectBalanced(lines);
      expect(lines).toHaveLength(8);
    });

    it("a context the JavaScript side forgets is freed by the garbage collector", () => {
      const trace = join(tmp, "gc-trace.txt");
      writeFileSync(trace, "");
      const binFile = join(tmp, "add.bin");
      writeFileSync(binFile, ADD_BIN());
      const script = `
        const addon = require(${JSON.stringify(status.available ? status.path : "")});
        const bytes = new Uint8Array(require("fs").readFileSync(${JSON.stringify(binFile)}));
        (function () {
          for (let i = 0; i < 3; i++) addon.openContext(${JSON.stringify(libs!.backendLib)}, ${JSON.stringify(libs!.systemLib)}, bytes, "", 1).retrieveGraph("add_u8");
        })();
        let rounds = 0;
        const tick = () => {
          global.gc();
          const n = require("fs").readFileSync(${JSON.stringify(trace)}, "utf8").split("\\n").filter((l) => l.startsWith("free context")).length;
          if (n === 3 || ++rounds > 50) process.exit(n === 3 ? 0 : 3);
          setTimeout(tick, 10);
        };
        tick();`;
      const r = spawnSync(process.execPath, ["--expose-gc", "-e", script], { env: { ...process.env, LG_STANDIN_TRACE: trace }, encoding: "utf8", timeout: 30_000 });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      const lines = readFileSync(trace, "utf8").split("\n").filter(Boolean);
      expect(lines.filter((l) => l.startsWith("create")).length).toBe(15);
      expect(lines.filter((l) => l.startsWith("free")).length).toBe(15);
      expect(lines.some((l) => l.startsWith("bad-free"))).toBe(false);
    });
  });
});

describe("addon status when it is not usable", () => {
  const fakeRoot = (setup: (root: string) => void) => {
    const root = mkdtempSync(join(tmp, "pkg-"));
    const native = join(root, "native");
    mkdirSync(join(native, "build", "Release"), { recursive: true });
    writeFileSync(join(native, "binding.gyp"), "{}\n");
    setup(root);
    return root;
  };
  it("explains a missing, failed, skipped or foreign build, with the command that builds it", () => {
    const missing = nativeAddonStatus(fakeRoot(() => {}));
    expect(missing).toMatchObject({ available: false });
    expect((missing as { reason: string }).reason).toMatch(/^the QNN addon is not built \(no .*lg_qnn\.node\); build it with `npm run build:native`$/);

    const failed = nativeAddonStatus(fakeRoot((r) => writeFileSync(join(r, "native", "build", "lg-qnn-status.json"), JSON.stringify({ ok: false, state: "failed", reason: "node-gyp exited with 1: g++: not found" }))));
    expect((failed as { reason: string }).reason).toBe(
      "the QNN addon build failed (node-gyp exited with 1: g++: not found); see native/build/build.log, or build it with `npm run build:native` to see the errors",
    );

    const skipped = nativeAddonStatus(fakeRoot((r) => writeFileSync(join(r, "native", "build", "lg-qnn-status.json"), JSON.stringify({ ok: false, state: "skipped", reason: "LLAMA_GOLDEN_SKIP_NATIVE=1" }))));
    expect((skipped as { reason: string }).reason).toBe("the QNN addon was not built (LLAMA_GOLDEN_SKIP_NATIVE=1); build it with `npm run build:native`");

    // a 32-bit x86 shared object header: the loader refuses its class
    const elf32 = new Uint8Array(512);
    elf32.set([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]);
    new DataView(elf32.buffer).setUint16(16, 3, true); // ET_DYN
    new DataView(elf32.buffer).setUint16(18, 3, true); // EM_386
    new DataView(elf32.buffer).setUint32(20, 1, true);
    const foreign = nativeAddonStatus(fakeRoot((r) => writeFileSync(join(r, "native", "build", "Release", "lg_qnn.node"), elf32)));
    expect((foreign as { reason: string }).reason).toMatch(/^the QNN addon .*lg_qnn\.node was built for another platform, architecture or Node\.js \(.*ELF.*\); rebuild it with `npm run build:native`$/);

    const broken = nativeAddonStatus(fakeRoot((r) => writeFileSync(join(r, "native", "build", "Release", "lg_qnn.node"), "")));
    expect((broken as { reason: string }).reason).toMatch(/^the QNN addon .*lg_qnn\.node cannot be loaded \(.*\); build it with `npm run build:native`$/);
  });
});
