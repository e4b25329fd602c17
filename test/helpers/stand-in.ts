// Test helper: builds the stand-in QNN libraries (test/native/stand-in/*.c) with the system C compiler
// into a cache directory keyed by the sources' hash (node_modules/.cache/llama-golden-stand-in/<hash>),
// reusing a previous build; parallel test workers race safely (each writes a private file, then renames).
// Returns undefined (tests skip) only when there is no C compiler and process.env.CI is unset; in CI a
// missing compiler or a failed build is an error.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./fixtures.js";

export interface StandInLibraries {
  backendLib: string;
  systemLib: string;
}

export const STAND_IN_DIR = join(ROOT, "test", "native", "stand-in");
const API_HEADER = join(ROOT, "native", "include", "lg_qnn_api.h");

function compiler(): string | undefined {
  const cc = process.env.CC || "cc";
  const probe = spawnSync(cc, ["--version"], { encoding: "utf8" });
  return probe.status === 0 ? cc : undefined;
}

function sourcesHash(files: string[]): string {
  const h = createHash("sha256");
  for (const f of files) h.update(f).update("\0").update(readFileSync(f)).update("\0");
  h.update(process.platform).update(process.arch);
  return h.digest("hex").slice(0, 16);
}

export function buildStandIn(): StandInLibraries | undefined {
  if (process.platform === "win32") {
    if (process.env.CI) throw new Error("stand-in QNN libraries: building them on Windows is not supported by this helper");
    return undefined;
  }
  const cc = compiler();
  if (cc === undefined) {
    if (process.env.CI) throw new Error(`stand-in QNN libraries: no C compiler (${process.env.CC || "cc"}) in CI`);
    return undefined;
  }
  const common = readdirSync(STAND_IN_DIR)
    .filter((f) => f.endsWith(".c") || f.endsWith(".h"))
    .sort()
    .map((f) => join(STAND_IN_DIR, f));
  const hash = sourcesHash([...common, API_HEADER]);
  const dir = join(ROOT, "node_modules", ".cache", "llama-golden-stand-in", hash);
  const ext = process.platform === "darwin" ? "dylib" : "so";
  const libs: StandInLibraries = { backendLib: join(dir, `libstandin_backend.${ext}`), systemLib: join(dir, `libstandin_system.${ext}`) };
  if (existsSync(libs.backendLib) && existsSync(libs.systemLib)) return libs;
  mkdirSync(dir, { recursive: true });
  const build = (out: string, main: string) => {
    const tmp = `${out}.${process.pid}.${Date.now()}.tmp`;
    const args = ["-shared", "-fPIC", "-O2", "-std=c11", "-Wall", "-Wextra", "-fvisibility=hidden", "-I", join(ROOT, "native", "include"), "-o", tmp, join(STAND_IN_DIR, main), join(STAND_IN_DIR, "standin_format.c")];
    const r = spawnSync(cc, args, { encoding: "utf8" });
    if (r.status !== 0) throw new Error(`stand-in QNN library ${main} failed to compile:\n${r.stderr || r.stdout || r.error}`);
    renameSync(tmp, out);
  };
  if (!existsSync(libs.backendLib)) build(libs.backendLib, "standin_backend.c");
  if (!existsSync(libs.systemLib)) build(libs.systemLib, "standin_system.c");
  return libs;
}
