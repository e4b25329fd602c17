// src/qnn/libraries.ts: flags, then QNN_BACKEND_LIB / QNN_SYSTEM_LIB, then $QNN_SDK_ROOT/lib/<target>/,
// with one-line UserErrors naming the flag or variable and saying how to set them.
import { afterAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectUserError } from "../helpers/errors.js";
import { libraryFileNames, resolveQnnLibraries, sdkTargetDirs } from "../../src/qnn/libraries.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-qnn-libs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const touch = (p: string) => {
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, "");
  return p;
};

/** A fake SDK with the libraries of the given lib/<target> directories. */
function sdk(targets: string[], win = false): string {
  const root = mkdtempSync(join(tmp, "sdk-"));
  const names = libraryFileNames(win ? "win32" : "linux");
  for (const t of targets) {
    touch(join(root, "lib", t, names.backend));
    touch(join(root, "lib", t, names.system));
  }
  return root;
}

describe("resolveQnnLibraries", () => {
  it("takes flags first, then the environment, then the SDK", () => {
    const root = sdk(["x86_64-linux-clang"]);
    const flagged = touch(join(tmp, "flag", "libQnnHtp.so"));
    const fromEnv = touch(join(tmp, "env", "libQnnSystem.so"));
    expect(resolveQnnLibraries({ backendLib: flagged }, { QNN_SYSTEM_LIB: fromEnv, QNN_SDK_ROOT: root }, "linux", "x64")).toEqual({ backendLib: flagged, systemLib: fromEnv });
    expect(resolveQnnLibraries({}, { QNN_SDK_ROOT: root }, "linux", "x64")).toEqual({
      backendLib: join(root, "lib", "x86_64-linux-clang", "libQnnHtp.so"),
      systemLib: join(root, "lib", "x86_64-linux-clang", "libQnnSystem.so"),
    });
  });

  it("picks the first SDK target directory that holds the library for the platform", () => {
    const root = sdk(["aarch64-ubuntu-gcc9.4", "aarch64-oe-linux-gcc9.3"]);
    expect(resolveQnnLibraries({}, { QNN_SDK_ROOT: root }, "linux", "arm64").backendLib).toBe(join(root, "lib", "aarch64-ubuntu-gcc9.4", "libQnnHtp.so"));
    const android = sdk(["aarch64-android"]);
    expect(resolveQnnLibraries({}, { QNN_SDK_ROOT: android }, "android", "arm64").systemLib).toBe(join(android, "lib", "aarch64-android", "libQnnSystem.so"));
    const win = sdk(["aarch64-windows-msvc"], true);
    expect(resolveQnnLibraries({}, { QNN_SDK_ROOT: win }, "win32", "arm64")).toEqual({
      backendLib: join(win, "lib", "aarch64-windows-msvc", "QnnHtp.dll"),
      systemLib: join(win, "lib", "aarch64-windows-msvc", "QnnSystem.dll"),
    });
    expect(sdkTargetDirs("darwin", "arm64")).toEqual([]);
  });

  it("passes bare file names through for the system loader's search path", () => {
    expect(resolveQnnLibraries({ backendLib: "libQnnHtp.so" }, { QNN_SYSTEM_LIB: "libQnnSystem.so" })).toEqual({ backendLib: "libQnnHtp.so", systemLib: "libQnnSystem.so" });
  });

  it("names the flag or variable of a path that does not exist, and says how to set them when nothing is given", () => {
    expectUserError(() => resolveQnnLibraries({ backendLib: "/no/such/libQnnHtp.so" }, {}), "--qnn_backend_lib /no/such/libQnnHtp.so: no such file");
    expectUserError(() => resolveQnnLibraries({ backendLib: "libQnnHtp.so" }, { QNN_SYSTEM_LIB: "/no/libQnnSystem.so" }), "QNN_SYSTEM_LIB /no/libQnnSystem.so: no such file");
    expectUserError(() => resolveQnnLibraries({ systemLib: tmp, backendLib: "x.so" }, {}), /--qnn_system_lib .*: not a file/);
    expectUserError(() => resolveQnnLibraries({}, {}, "linux", "x64"), "no QNN backend library (libQnnHtp.so): pass --qnn_backend_lib PATH, set QNN_BACKEND_LIB, or set QNN_SDK_ROOT to the QAIRT / QNN SDK");
    expectUserError(() => resolveQnnLibraries({}, { QNN_SDK_ROOT: join(tmp, "nope") }, "linux", "x64"), /^QNN_SDK_ROOT .*nope: no such directory$/);
    const empty = sdk([]);
    expectUserError(
      () => resolveQnnLibraries({}, { QNN_SDK_ROOT: empty }, "linux", "arm64"),
      /^no QNN backend library \(libQnnHtp\.so\) under QNN_SDK_ROOT .* \(looked in lib\/aarch64-oe-linux-gcc11\.2, lib\/aarch64-ubuntu-gcc9\.4, .*\); pass --qnn_backend_lib PATH/,
    );
    expectUserError(() => resolveQnnLibraries({}, { QNN_SDK_ROOT: empty }, "darwin", "arm64"), /the QNN SDK has no libraries for darwin\/arm64; pass --qnn_backend_lib PATH, set QNN_BACKEND_LIB$/);
  });
});
