// `llama-golden qnn extract | inspect` end to end on program files written by test/helpers/pte-writer.ts:
// extract writes the exact context bytes (a shared context once) and a manifest whose sha256 the test computes
// itself; bad input exits 2 with one line and leaves no directory behind; inspect lists delegates always and
// graphs through the native layer when it is there (a fake one, to check what is asked and printed, and the
// real addon over the stand-in QNN libraries when both are built).
import { afterAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli } from "../helpers/cli.js";
import { buildPte } from "../helpers/pte-writer.js";
import { wrapQnnContext } from "../../src/qnn/context-header.js";
import { qnnCommand, type QnnBinaryInfoLike, type QnnCommandDeps } from "../../src/cli/qnn-command.js";
import { UserError } from "../../src/util/errors.js";
import { buildStandIn } from "../helpers/stand-in.js";
import { nativeAddonStatus } from "../../src/qnn/native.js";
import { writeStandInBinary, type StandInTensor } from "../helpers/stand-in-binary.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-qnn-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const bin = (seed: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 17 + ((i * i) >> 3)) & 0xff);
const BIN_A = bin(1, 3000);
const BIN_B = bin(2, 1500);
const sha = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

const LLAMA = buildPte({
  plans: [
    {
      name: "prefill_forward",
      delegates: [
        { id: "QnnBackend", data: wrapQnnContext(BIN_A, 11n), storage: "segment" },
        { id: "QnnBackend", data: wrapQnnContext(BIN_B, 12n), storage: "segment" },
      ],
    },
    {
      name: "kv_forward",
      delegates: [
        { id: "QnnBackend", data: wrapQnnContext(BIN_A, 11n), storage: "segment" },
        { id: "QnnBackend", data: wrapQnnContext(BIN_B, 12n), storage: "segment" },
        { id: "XnnpackBackend", data: bin(3, 100), storage: "inline" },
      ],
    },
  ],
});
const LLAMA_PTE = join(tmp, "llama.pte");
writeFileSync(LLAMA_PTE, LLAMA);

const oneErrorLine = (r: { code: number; stderr: string }, re: RegExp): void => {
  expect(r.code).toBe(2);
  expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(/^llama-golden: error: /);
  expect(r.stderr).toMatch(re);
};

/** Directory entries left beside an output (a staging directory would show up here). */
const leftovers = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith(".tmp"));

describe("qnn extract", () => {
  it("writes each distinct context binary exactly once, and a manifest", async () => {
    const out = join(tmp, "ctx");
    const r = await cli("qnn", "extract", "--pte", LLAMA_PTE, "--out", out);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["manifest.json", "prefill_forward.0.bin", "prefill_forward.1.bin"]);
    expect(Buffer.from(readFileSync(join(out, "prefill_forward.0.bin"))).equals(Buffer.from(BIN_A))).toBe(true);
    expect(Buffer.from(readFileSync(join(out, "prefill_forward.1.bin"))).equals(Buffer.from(BIN_B))).toBe(true);
    const m = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    expect(m.identifier).toBe("ET12");
    expect(m.pte_bytes).toBe(LLAMA.length);
    expect(m.delegates.map((d: Record<string, unknown>) => [d.plan, d.index, d.storage, d.file, d.bytes, d.sha256])).toEqual([
      ["prefill_forward", 0, "segment", "prefill_forward.0.bin", 3000, sha(BIN_A)],
      ["prefill_forward", 1, "segment", "prefill_forward.1.bin", 1500, sha(BIN_B)],
      ["kv_forward", 0, "segment", "prefill_forward.0.bin", 3000, sha(BIN_A)],
      ["kv_forward", 1, "segment", "prefill_forward.1.bin", 1500, sha(BIN_B)],
    ]);
    expect(m.delegates[0].stored_bytes).toBe(3000 + 256);
    expect(m.delegates[0].header).toEqual({ layout: "padded-256", header_bytes: 256, signature: "11", binary_bytes: 3000 });
    expect(r.stdout).toContain(`sha256 ${sha(BIN_A)}  (prefill_forward[0], kv_forward[0])`);
    expect(leftovers(tmp)).toEqual([]);
  });

  it("names files after the plan (made file-safe) and accepts an existing empty directory", async () => {
    const pte = join(tmp, "odd.pte");
    writeFileSync(pte, buildPte({ plans: [{ name: "../we ird/plan", delegates: [{ id: "QnnBackend", data: wrapQnnContext(BIN_B), storage: "inline" }] }] }));
    const out = join(tmp, "empty");
    mkdirSync(out);
    const r = await cli("qnn", "extract", "--pte", pte, "--out", out);
    expect(r.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["__we_ird_plan.0.bin", "manifest.json"]);
  });

  it("bad input exits 2 with one line and leaves no directory behind", async () => {
    const out = join(tmp, "never");
    const cut = join(tmp, "cut.pte");
    writeFileSync(cut, LLAMA.subarray(0, LLAMA.length - 10));
    oneErrorLine(await cli("qnn", "extract", "--pte", cut, "--out", out), /--pte .*cut\.pte: truncated/);
    const dlc = join(tmp, "dlc.pte");
    writeFileSync(dlc, buildPte({ plans: [{ name: "forward", delegates: [{ id: "QnnBackend", data: bin(4, 600), storage: "segment" }] }] }));
    oneErrorLine(await cli("qnn", "extract", "--pte", dlc, "--out", out), /plan "forward" delegate 0: QNN delegate data does not start with QNN's context header \(magic 0x5678ABCD/);
    const cpu = join(tmp, "cpu.pte");
    writeFileSync(cpu, buildPte({ plans: [{ name: "forward", delegates: [{ id: "XnnpackBackend", data: bin(5, 60), storage: "inline" }] }] }));
    oneErrorLine(await cli("qnn", "extract", "--pte", cpu, "--out", out), /no QnnBackend delegates in the program \(delegates: XnnpackBackend\)/);
    oneErrorLine(await cli("qnn", "extract", "--pte", join(tmp, "missing.pte"), "--out", out), /--pte .*missing\.pte: no such file/);
    oneErrorLine(await cli("qnn", "extract", "--pte", join(tmp, "..", "..", "..", "..", "..", "..", "etc", "hostname"), "--out", out), /not an ExecuTorch program|too short/);
    expect(existsSync(out)).toBe(false);
    expect(leftovers(tmp)).toEqual([]);
  });

  it("refuses a non-empty output directory, a missing parent, and missing or misplaced flags", async () => {
    const full = join(tmp, "full");
    mkdirSync(full);
    writeFileSync(join(full, "keep.txt"), "x");
    oneErrorLine(await cli("qnn", "extract", "--pte", LLAMA_PTE, "--out", full), /--out .*full: exists and is not empty/);
    expect(readdirSync(full)).toEqual(["keep.txt"]);
    oneErrorLine(await cli("qnn", "extract", "--pte", LLAMA_PTE, "--out", join(tmp, "no", "such", "dir")), /--out .*: directory .* does not exist/);
    oneErrorLine(await cli("qnn", "extract", "--pte", LLAMA_PTE), /--out DIR is required/);
    oneErrorLine(await cli("qnn", "extract", "--out", full), /--pte FILE is required/);
    oneErrorLine(await cli("qnn", "extract", "--pte", LLAMA_PTE, "--out", full, "--json"), /--json is an inspect flag/);
    oneErrorLine(await cli("qnn", "extract", "--pte", LLAMA_PTE, "--bogus", "1"), /qnn extract: unknown flag --bogus \(see qnn --help\)\n$/);
    oneErrorLine(await cli("qnn", "frobnicate"), /unknown command "frobnicate"/);
    oneErrorLine(await cli("qnn"), /give a command, extract or inspect/);
  });

  it("an unknown flag, a flag without its value and a stray argument of every qnn subcommand: one line naming it", async () => {
    const exact = async (argv: string[], message: string) => {
      const r = await cli(...argv);
      oneErrorLine(r, /./);
      expect(r.stderr).toBe(`llama-golden: error: ${message}\n`);
      expect(r.stdout).toBe("");
    };
    for (const action of ["inspect", "extract"]) {
      const out = action === "extract" ? ["--out", join(tmp, "never2")] : [];
      await exact(["qnn", action, "--pte", LLAMA_PTE, ...out, "--foo"], `qnn ${action}: unknown flag --foo (see qnn --help)`);
      await exact(["qnn", action, "--pte", LLAMA_PTE, ...out, "--foo", "1"], `qnn ${action}: unknown flag --foo (see qnn --help)`);
      await exact(["qnn", action, "--pte", LLAMA_PTE, ...out, "-z"], `qnn ${action}: unknown flag -z (see qnn --help)`);
      await exact(["qnn", action, "--pte", LLAMA_PTE, ...out, "stray"], `qnn ${action}: unexpected argument "stray" (see qnn --help)`);
      await exact(["qnn", action, ...out, "--pte"], `qnn ${action}: --pte needs a value (see qnn --help)`);
      await exact(["qnn", action, "--pte", LLAMA_PTE, ...out, "--help=yes"], `qnn ${action}: --help takes no value (see qnn --help)`);
    }
    await exact(["qnn", "inspect", "--pte", LLAMA_PTE, "--json=1"], "qnn inspect: --json takes no value (see qnn --help)");
    await exact(["qnn", "--foo", "inspect"], "qnn inspect: unknown flag --foo (see qnn --help)");
    await exact(["qnn", "--foo"], "qnn: unknown flag --foo (see qnn --help)");
    expect(existsSync(join(tmp, "never2"))).toBe(false);
  });

  it("--help", async () => {
    const r = await cli("qnn", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/llama-golden qnn extract --pte FILE --out DIR/);
    expect(r.stdout).toMatch(/llama-golden qnn inspect --pte FILE/);
  });
});

// ---- inspect ----

const capture = async (argv: string[], deps: QnnCommandDeps) => {
  let stdout = "";
  const code = await qnnCommand(argv, { stdout: (s) => (stdout += s), stderr: () => undefined }, deps);
  return { code, stdout };
};

const FAKE_INFO: QnnBinaryInfoLike = {
  binaryInfoVersion: 2,
  coreApiVersion: "2.20.0",
  backendApiVersion: "5.20.0",
  socModel: 57,
  hwArch: 73,
  graphs: [
    {
      name: "kv_forward",
      inputs: [
        { id: 1, name: "input_0_tokens", type: "APP_WRITE", dataType: "INT_32", dims: [1, 1], encoding: { kind: "none" } },
        { id: 2, name: "input_2_k_cache_0", type: "APP_WRITE", dataType: "UFIXED_POINT_8", dims: [1, 64, 127], encoding: { kind: "scale_offset", scale: 0.0625, offset: -128 } },
      ],
      outputs: [{ id: 3, name: "output_0_logits", type: "APP_READ", dataType: "UFIXED_POINT_16", dims: [1, 1, 512], encoding: { kind: "scale_offset", scale: 0.001, offset: -30000 } }],
    },
  ],
};

describe("qnn inspect", () => {
  it("lists plans and delegates, and says in one line why graphs are not listed", async () => {
    const r = await cli("qnn", "inspect", "--pte", LLAMA_PTE);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("ExecuTorch program ET12, schema version 0");
    expect(r.stdout).toMatch(/plan prefill_forward: 2 delegate\(s\)\n  \[0\] QnnBackend  segment 0  3256 bytes  context prefill_forward\.0: 3000 bytes, header 256 bytes \(padded-256\), magic 0x5678ABCD, signature 11/);
    expect(r.stdout).toContain("  [0] QnnBackend  segment 0  3256 bytes  same context as prefill_forward[0] (prefill_forward.0)");
    expect(r.stdout).toContain("  [2] XnnpackBackend  inline 0  100 bytes\n");
    // Depends on the machine (no addon / no SDK here): one line either way.
    expect(r.stdout).toMatch(/\ngraphs: not listed \([^\n]+\)\n$|graphs not readable/);
  });

  it("lists the graphs and tensors through the native layer, given exactly the unwrapped binary", async () => {
    const lib = join(tmp, "libQnnSystem.so");
    writeFileSync(lib, "");
    const calls: { lib: string; binary: string }[] = [];
    const deps: QnnCommandDeps = {
      loadNative: async () => ({
        nativeAddonStatus: () => ({ available: true, path: "/x/lg_qnn.node" }),
        readBinaryInfo: (systemLib, binary) => {
          calls.push({ lib: systemLib, binary: sha(binary) });
          if (binary.length === BIN_B.length) throw new UserError("QnnSystemContext_getBinaryInfo failed: error 1 (bad binary)");
          return FAKE_INFO;
        },
      }),
    };
    const r = await capture(["inspect", "--pte", LLAMA_PTE, "--qnn_system_lib", lib], deps);
    expect(r.code).toBe(0);
    expect(calls).toEqual([
      { lib, binary: sha(BIN_A) },
      { lib, binary: sha(BIN_B) },
    ]);
    expect(r.stdout).toContain(
      "context prefill_forward.0 (prefill_forward[0], kv_forward[0]): binary info v2, core API 2.20.0, backend API 5.20.0, SoC model 57, HTP arch 73, 1 graph(s)\n" +
        "  graph kv_forward: 2 input(s), 1 output(s)\n" +
        "    in  input_0_tokens  APP_WRITE  INT_32  [1, 1]  none\n" +
        "    in  input_2_k_cache_0  APP_WRITE  UFIXED_POINT_8  [1, 64, 127]  scale_offset(scale=0.0625, offset=-128)\n" +
        "    out output_0_logits  APP_READ  UFIXED_POINT_16  [1, 1, 512]  scale_offset(scale=0.001, offset=-30000)\n",
    );
    expect(r.stdout).toContain("context prefill_forward.1 (prefill_forward[1], kv_forward[1]): graphs not readable: QnnSystemContext_getBinaryInfo failed: error 1 (bad binary)\n");

    const j = JSON.parse((await capture(["inspect", "--pte", LLAMA_PTE, "--qnn_system_lib", lib, "--json"], deps)).stdout);
    expect(j.graph_listing).toEqual({ available: true, system_lib: lib });
    expect(j.contexts[0].info).toEqual(FAKE_INFO);
    expect(j.contexts[1].error).toMatch(/bad binary/);
  });

  it("reasons when the native layer is missing, unavailable, or finds no system library; a bad --qnn_system_lib is an error", async () => {
    const missing = Object.assign(new Error("Cannot find module"), { code: "ERR_MODULE_NOT_FOUND" });
    let r = await capture(["inspect", "--pte", LLAMA_PTE], { loadNative: async () => Promise.reject(missing) });
    expect(r.stdout).toMatch(/\ngraphs: not listed \(this build has no native QNN layer \(src\/qnn\/native\)\)\n$/);
    const unavailable = { nativeAddonStatus: () => ({ available: false as const, reason: "addon not built (no C++ compiler)" }), readBinaryInfo: () => FAKE_INFO };
    r = await capture(["inspect", "--pte", LLAMA_PTE], { loadNative: async () => unavailable });
    expect(r.stdout).toMatch(/\ngraphs: not listed \(native addon not available: addon not built \(no C\+\+ compiler\)\)\n$/);
    const available = { ...unavailable, nativeAddonStatus: () => ({ available: true as const, path: "x" }) };
    r = await capture(["inspect", "--pte", LLAMA_PTE], {
      loadNative: async () => available,
      resolveSystemLib: async () => {
        throw new UserError("set QNN_SDK_ROOT or --qnn_system_lib");
      },
    });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\ngraphs: not listed \(QNN system library not found: set QNN_SDK_ROOT or --qnn_system_lib\)\n$/);
    const j = JSON.parse((await capture(["inspect", "--pte", LLAMA_PTE, "--json"], { loadNative: async () => Promise.reject(missing) })).stdout);
    expect(j.graph_listing.available).toBe(false);
    expect(j.plans.map((p: { name: string; delegates: unknown[] }) => [p.name, p.delegates.length])).toEqual([
      ["prefill_forward", 2],
      ["kv_forward", 3],
    ]);
    expect(j.contexts.map((c: { label: string; used_by: unknown }) => [c.label, c.used_by])).toEqual([
      ["prefill_forward.0", [{ plan: "prefill_forward", index: 0 }, { plan: "kv_forward", index: 0 }]],
      ["prefill_forward.1", [{ plan: "prefill_forward", index: 1 }, { plan: "kv_forward", index: 1 }]],
    ]);
    oneErrorLine(await cli("qnn", "inspect", "--pte", LLAMA_PTE, "--qnn_system_lib", join(tmp, "nope.so")), /--qnn_system_lib .*nope\.so: no such file/);
  });

  it("shows a QnnBackend delegate that is no context binary instead of failing, and errors on a bad program", async () => {
    const dlc = join(tmp, "dlc2.pte");
    writeFileSync(dlc, buildPte({ plans: [{ name: "forward", delegates: [{ id: "QnnBackend", data: bin(4, 600), storage: "inline" }] }] }));
    const r = await cli("qnn", "inspect", "--pte", dlc);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\[0\] QnnBackend  inline 0  600 bytes  not a context binary: .*magic 0x5678ABCD/);
    expect(r.stdout).toMatch(/graphs: not listed \(no QNN context binaries in the program\)/);
    const cut = join(tmp, "cut2.pte");
    writeFileSync(cut, LLAMA.subarray(0, 100));
    oneErrorLine(await cli("qnn", "inspect", "--pte", cut), /--pte .*cut2\.pte: truncated/);
  });
});

describe("qnn inspect through the native addon and the stand-in QNN libraries", () => {
  const libs = buildStandIn();
  const status = nativeAddonStatus();
  const ready = libs !== undefined && status.available;
  /** Why the test skips: in its title, and once in the test output. */
  const SKIP = libs === undefined ? ` (skipped: needs a C compiler (${process.env.CC || "cc"}; not on Windows) to build the stand-in QNN libraries)` : !status.available ? ` (skipped: ${status.reason})` : "";
  if (SKIP) console.info(`qnn inspect test through the addon${SKIP}`);
  const t = (id: number, name: string, tensorType: number, scale: number): StandInTensor => ({
    id,
    name,
    tensorType,
    dataType: "UFIXED_POINT_8",
    dims: [1, 4],
    encoding: { kind: "scale_offset", scale, offset: -128 },
  });

  it.runIf(ready)(`lists the graphs and tensors QnnSystemContext_getBinaryInfo reports for the program's context${SKIP}`, async () => {
    const binary = writeStandInBinary({
      graphs: [{ name: "kv_forward", kind: "ADD", inputs: [t(1, "input_0_x_0", 0, 0.5), t(2, "input_1_y_0", 0, 0.25)], outputs: [t(3, "output_aten_add_tensor", 1, 0.125)] }],
    });
    const pte = join(tmp, "standin.pte");
    writeFileSync(
      pte,
      buildPte({
        plans: [
          { name: "prefill_forward", delegates: [{ id: "QnnBackend", data: wrapQnnContext(binary), storage: "segment" }] },
          { name: "kv_forward", delegates: [{ id: "QnnBackend", data: wrapQnnContext(binary), storage: "segment" }] },
        ],
      }),
    );
    const r = await cli("qnn", "inspect", "--pte", pte, "--qnn_system_lib", libs!.systemLib);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\ncontext prefill_forward\.0 \(prefill_forward\[0\], kv_forward\[0\]\): binary info v\d+, core API [^\n]+, 1 graph\(s\)\n/);
    expect(r.stdout).toContain(
      "  graph kv_forward: 2 input(s), 1 output(s)\n" +
        "    in  input_0_x_0  APP_WRITE  UFIXED_POINT_8  [1, 4]  scale_offset(scale=0.5, offset=-128)\n" +
        "    in  input_1_y_0  APP_WRITE  UFIXED_POINT_8  [1, 4]  scale_offset(scale=0.25, offset=-128)\n" +
        "    out output_aten_add_tensor  APP_READ  UFIXED_POINT_8  [1, 4]  scale_offset(scale=0.125, offset=-128)\n",
    );
    // The system library found through the environment, as a user without the flag would have it.
    const viaEnv = await qnnCommand(["inspect", "--pte", pte, "--json"], { stdout: () => undefined, stderr: () => undefined }, { env: { QNN_SYSTEM_LIB: libs!.systemLib } });
    expect(viaEnv).toBe(0);
    let out = "";
    await qnnCommand(["inspect", "--pte", pte, "--json"], { stdout: (x) => (out += x), stderr: () => undefined }, { env: { QNN_SYSTEM_LIB: libs!.systemLib } });
    const j = JSON.parse(out);
    expect(j.graph_listing).toEqual({ available: true, system_lib: libs!.systemLib });
    expect(j.contexts[0].info.graphs.map((g: { name: string }) => g.name)).toEqual(["kv_forward"]);
  });

  const standInPte = (file: string, tensors: StandInTensor[]): string => {
    const binary = writeStandInBinary({ graphs: [{ name: "kv_forward", kind: "TABLE", keyInputs: [], entries: [], inputs: tensors, outputs: [t(99, "output_0", 1, 0.5)] }] });
    const pte = join(tmp, file);
    writeFileSync(pte, buildPte({ plans: [{ name: "kv_forward", delegates: [{ id: "QnnBackend", data: wrapQnnContext(binary), storage: "inline" }] }] }));
    return pte;
  };

  it.runIf(ready)(`reports the bit-width encodings with their parameters and names the later ones (LPBQ's BLOCKWISE_EXPANSION)${SKIP}`, async () => {
    const w = (id: number, name: string, encoding: StandInTensor["encoding"]): StandInTensor => ({ id, name, tensorType: 4, dataType: "SFIXED_POINT_8", dims: [4, 2], encoding });
    const pte = standInPte("encodings.pte", [
      w(1, "w_bw", { kind: "bw_scale_offset", bitwidth: 4, scale: 0.5, offset: -8 }),
      w(2, "w_bw_axis", { kind: "bw_axis_scale_offset", bitwidth: 4, axis: 0, scales: [1, 2, 4, 8], offsets: [0, 0, 0, 0] }),
      w(3, "w_bw_axis_asym", { kind: "bw_axis_scale_offset", bitwidth: 4, axis: 1, scales: [1, 2], offsets: [-8, 3] }),
      w(4, "w_lpbq", { kind: "other", code: 5 }),
      w(5, "w_block", { kind: "other", code: 4 }),
      w(6, "w_bw_float_block", { kind: "other", code: 11 }),
    ]);
    const r = await cli("qnn", "inspect", "--pte", pte, "--qnn_system_lib", libs!.systemLib);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "    in  w_bw  STATIC  SFIXED_POINT_8  [4, 2]  bw_scale_offset(bitwidth=4, scale=0.5, offset=-8)\n" +
        "    in  w_bw_axis  STATIC  SFIXED_POINT_8  [4, 2]  bw_axis_scale_offset(bitwidth=4, axis=0, 4 channels, symmetric)\n" +
        "    in  w_bw_axis_asym  STATIC  SFIXED_POINT_8  [4, 2]  bw_axis_scale_offset(bitwidth=4, axis=1, 2 channels)\n" +
        "    in  w_lpbq  STATIC  SFIXED_POINT_8  [4, 2]  BLOCKWISE_EXPANSION (encoding 5; parameters not read)\n" +
        "    in  w_block  STATIC  SFIXED_POINT_8  [4, 2]  BLOCK (encoding 4; parameters not read)\n" +
        "    in  w_bw_float_block  STATIC  SFIXED_POINT_8  [4, 2]  BW_FLOAT_BLOCK (encoding 11; parameters not read)\n",
    );
    let out = "";
    await qnnCommand(["inspect", "--pte", pte, "--json", "--qnn_system_lib", libs!.systemLib], { stdout: (x) => (out += x), stderr: () => undefined });
    const inputs = JSON.parse(out).contexts[0].info.graphs[0].inputs;
    expect(inputs[0].encoding).toEqual({ kind: "bw_scale_offset", bitwidth: 4, scale: 0.5, offset: -8 });
    expect(inputs[3].encoding).toEqual({ kind: "other", code: 5, name: "BLOCKWISE_EXPANSION" });
  });

  it.runIf(ready)(`a system library older than system API 1.2: exit 2, one line naming its version and the minimum${SKIP}`, async () => {
    const pte = standInPte("old-system.pte", [t(1, "input_0_x_0", 0, 0.5)]);
    process.env.LG_STANDIN_SYSTEM_API = "1.1";
    try {
      for (const json of [[], ["--json"]]) {
        const r = await cli("qnn", "inspect", "--pte", pte, "--qnn_system_lib", libs!.systemLib, ...json);
        expect(r.code).toBe(2);
        expect(r.stdout).toBe("");
        expect(r.stderr).toBe(`llama-golden: error: ${libs!.systemLib}: QNN system API 1.1.0 is older than the minimum 1.2 this addon is built for\n`);
      }
    } finally {
      delete process.env.LG_STANDIN_SYSTEM_API;
    }
    expect((await cli("qnn", "inspect", "--pte", pte, "--qnn_system_lib", libs!.systemLib)).code).toBe(0);
  });
});
