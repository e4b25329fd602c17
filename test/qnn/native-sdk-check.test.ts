// native/src/sdk-check.cc (compiled into the addon when QNN_SDK_ROOT is set) cannot meet the real SDK here.
// These tests compile it against a stand-in SDK include directory derived from our own declarations by
// renaming them to the SDK's spellings (QnnInterface.h, System/QnnSystemInterface.h): that proves the file
// is well-formed, names every SDK type, field, constant and macro it checks with the SDK's spelling as our
// header documents it, and passes when the layouts agree; then each of several single perturbations of the
// stand-in SDK (a field moved, an enum value changed, a table slot inserted, a field widened, a parameter
// changed) must fail the compilation with the static_assert that names it, and headers older than the
// minimum API versions the addon accepts (core 2.14, system 1.2) must stop it with the one #error naming them.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/fixtures.js";

const HEADER = join(ROOT, "native", "include", "lg_qnn_api.h");
const CHECK = join(ROOT, "native", "src", "sdk-check.cc");
const tmp = mkdtempSync(join(tmpdir(), "llama-golden-sdk-check-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cxx(): string | undefined {
  const c = process.env.CXX || "c++";
  return spawnSync(c, ["--version"]).status === 0 ? c : undefined;
}
const compiler = cxx();

/** Our header with the SDK's names: lg_Qnn* -> Qnn*, LG_QNN_* -> QNN_*, the versioned table types and union members. */
function sdkText(): string {
  let h = readFileSync(HEADER, "utf8");
  h = h
    .replace("lg_QnnInterface_FunctionTable_t functions;", "lg_QnnInterface_FunctionTable_t v2_32;")
    .replace("lg_QnnSystemInterface_FunctionTable_t functions;", "lg_QnnSystemInterface_FunctionTable_t v1_5;")
    // later API minors append entries after signalFree
    .replace("lg_QnnUnusedFn_t signalFree;", "lg_QnnUnusedFn_t signalFree;\n  lg_QnnUnusedFn_t errorGetMessage;\n  lg_QnnUnusedFn_t errorGetVerboseMessage;")
    .replace(/lg_QnnInterface_FunctionTable_t/g, "QnnInterface_ImplementationV2_32_t")
    .replace(/lg_QnnSystemInterface_FunctionTable_t/g, "QnnSystemInterface_ImplementationV1_5_t")
    .replace(/LG_QNN_ERROR_CODE/g, "QNN_GET_ERROR_CODE")
    .replace(/LG_QNN_/g, "QNN_")
    .replace(/lg_Qnn/g, "Qnn");
  expect(h).not.toMatch(/\blg_Qnn|\bLG_QNN/);
  return (
    h +
    `
#define QNN_API_VERSION_MINOR 32
#define QNN_SYSTEM_API_VERSION_MINOR 5
#define QNN_INTERFACE_VER_TYPE QnnInterface_ImplementationV2_32_t
#define QNN_INTERFACE_VER_NAME v2_32
#define QNN_SYSTEM_INTERFACE_VER_TYPE QnnSystemInterface_ImplementationV1_5_t
#define QNN_SYSTEM_INTERFACE_VER_NAME v1_5
#ifdef __cplusplus
extern "C" {
#endif
Qnn_ErrorHandle_t QnnInterface_getProviders(const QnnInterface_t*** providerList, uint32_t* numProviders);
Qnn_ErrorHandle_t QnnSystemInterface_getProviders(const QnnSystemInterface_t*** providerList, uint32_t* numProviders);
#ifdef __cplusplus
}
#endif
`
  );
}

let serial = 0;
function compileAgainst(text: string): { ok: boolean; output: string } {
  const dir = join(tmp, `sdk-${serial++}`);
  mkdirSync(join(dir, "System"), { recursive: true });
  writeFileSync(join(dir, "QnnInterface.h"), text);
  writeFileSync(join(dir, "System", "QnnSystemInterface.h"), '#include "QnnInterface.h"\n');
  const r = spawnSync(compiler!, ["-std=c++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-I", dir, "-I", join(ROOT, "native", "include"), CHECK], { encoding: "utf8" });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

function replaceOnce(text: string, from: string, to: string): string {
  expect(text.split(from).length - 1, `"${from}" occurs once`).toBe(1);
  return text.replace(from, to);
}

/** Why the tests skip: in their title, and once in the test output. */
const SKIP = compiler || process.env.CI ? "" : ` (skipped: needs a C++ compiler (${process.env.CXX || "c++"}) to compile sdk-check.cc)`;
if (SKIP) console.info(`sdk-check.cc tests${SKIP}`);

describe.skipIf(!compiler && !process.env.CI)(`sdk-check.cc against a stand-in SDK${SKIP}`, () => {
  it("compiles cleanly when the layouts agree", () => {
    const r = compileAgainst(sdkText());
    expect(r.output).toBe("");
    expect(r.ok).toBe(true);
  });

  const perturbations: [string, (t: string) => string, RegExp][] = [
    ["a tensor field moved", (t) => t.replace("  uint32_t rank;\n  uint32_t* dimensions;", "  uint32_t* dimensions;\n  uint32_t rank;"), /lg_Qnn_TensorV1_t\.rank: offset/],
    ["an enum value changed", (t) => replaceOnce(t, "QNN_DATATYPE_UFIXED_POINT_16 = 0x0416", "QNN_DATATYPE_UFIXED_POINT_16 = 0x0417"), /LG_QNN_DATATYPE_UFIXED_POINT_16 \/ QNN_DATATYPE_UFIXED_POINT_16: value/],
    ["a table slot inserted", (t) => replaceOnce(t, "QnnUnusedFn_t graphFinalize;", "QnnUnusedFn_t graphFinalize;\n  QnnUnusedFn_t graphExtra;"), /lg_QnnInterface_FunctionTable_t\.graphRetrieve: offset/],
    ["a field widened inside padding", (t) => replaceOnce(t, "uint32_t dataSize;", "uint64_t dataSize;"), /lg_Qnn_ClientBuffer_t\.dataSize: size/],
    ["a tensor grew", (t) => replaceOnce(t, "uint8_t isProduced;", "uint64_t isProduced;"), /lg_Qnn_Tensor_t \/ Qnn_Tensor_t: size/],
    ["a parameter changed", (t) => replaceOnce(t, "Qnn_SignalHandle_t signal);", "uint32_t signal);"), /lg_QnnGraph_ExecuteFn_t \/ QnnGraph_ExecuteFn_t: signature/],
    ["a binary info field moved", (t) => replaceOnce(t, "  uint32_t contextMetadataSize;\n  void* contextMetadata;\n  uint32_t socModel;", "  uint32_t socModel;\n  uint32_t contextMetadataSize;\n  void* contextMetadata;"), /lg_QnnSystemContext_BinaryInfoV3_t\.socModel: offset/],
    ["the core API major changed", (t) => replaceOnce(t, "#define QNN_API_VERSION_MAJOR 2u", "#define QNN_API_VERSION_MAJOR 3u"), /LG_QNN_API_VERSION_MAJOR \/ QNN_API_VERSION_MAJOR: value/],
    ["an LPBQ encoding value changed", (t) => replaceOnce(t, "QNN_QUANTIZATION_ENCODING_BLOCKWISE_EXPANSION = 5", "QNN_QUANTIZATION_ENCODING_BLOCKWISE_EXPANSION = 6"), /LG_QNN_QUANTIZATION_ENCODING_BLOCKWISE_EXPANSION \/ QNN_QUANTIZATION_ENCODING_BLOCKWISE_EXPANSION: value/],
  ];
  for (const [what, mutate, message] of perturbations)
    it(`fails when ${what}`, () => {
      const r = compileAgainst(mutate(sdkText()));
      expect(r.ok).toBe(false);
      expect(r.output).toMatch(message);
    });

  // Headers older than the addon's minimum: one #error naming the minimum, nothing else (the rest of the file is skipped).
  const tooOld: [string, (t: string) => string, RegExp][] = [
    ["core API 2.13", (t) => replaceOnce(t, "#define QNN_API_VERSION_MINOR 32\n", "#define QNN_API_VERSION_MINOR 13\n"), /#error "QNN SDK headers \(QNN_SDK_ROOT\) of core API older than 2\.14/],
    ["system API 1.1", (t) => replaceOnce(t, "#define QNN_SYSTEM_API_VERSION_MINOR 5\n", "#define QNN_SYSTEM_API_VERSION_MINOR 1\n"), /#error "QNN SDK headers \(QNN_SDK_ROOT\) of system API older than 1\.2/],
  ];
  for (const [what, mutate, message] of tooOld)
    it(`stops with one #error for headers of ${what}`, () => {
      const r = compileAgainst(mutate(sdkText()));
      expect(r.ok).toBe(false);
      expect(r.output).toMatch(message);
      expect(r.output.match(/error:/g)).toHaveLength(1);
    });
  it("accepts headers of exactly the minimum versions (core 2.14, system 1.2)", () => {
    const t = replaceOnce(replaceOnce(sdkText(), "#define QNN_API_VERSION_MINOR 32\n", "#define QNN_API_VERSION_MINOR 14\n"), "#define QNN_SYSTEM_API_VERSION_MINOR 5\n", "#define QNN_SYSTEM_API_VERSION_MINOR 2\n");
    const r = compileAgainst(t);
    expect(r.output).toBe("");
    expect(r.ok).toBe(true);
  });
});
