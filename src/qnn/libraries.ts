// Owns finding QNN's libraries: the backend library (libQnnHtp.so / QnnHtp.dll) and the system library
// (libQnnSystem.so / QnnSystem.dll). Each comes from, in order: the flag (--qnn_backend_lib /
// --qnn_system_lib), the environment (QNN_BACKEND_LIB / QNN_SYSTEM_LIB), or the SDK named by
// QNN_SDK_ROOT, under lib/<target>/ for this platform (the first of the SDK's target directories that
// holds the library). A path that does not exist is a UserError naming where it came from; a bare file
// name (no directory) is passed through for the system loader to find on its search path.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../util/errors.js";
import type { QnnLibraries } from "./native.js";

/** The SDK's lib/ target directories that can serve this platform, most likely first. */
export function sdkTargetDirs(platform: string = process.platform, arch: string = process.arch): string[] {
  if (platform === "win32") return arch === "arm64" ? ["aarch64-windows-msvc", "arm64x-windows-msvc"] : ["x86_64-windows-msvc", "arm64x-windows-msvc"];
  if (platform === "android") return ["aarch64-android"];
  if (platform === "linux" && arch === "arm64")
    return ["aarch64-oe-linux-gcc11.2", "aarch64-ubuntu-gcc9.4", "aarch64-oe-linux-gcc9.3", "aarch64-oe-linux-gcc8.2", "aarch64-android"];
  if (platform === "linux" && arch === "x64") return ["x86_64-linux-clang"];
  return [];
}

/** File names of the two libraries on this platform. */
export function libraryFileNames(platform: string = process.platform): { backend: string; system: string } {
  return platform === "win32" ? { backend: "QnnHtp.dll", system: "QnnSystem.dll" } : { backend: "libQnnHtp.so", system: "libQnnSystem.so" };
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function explicit(path: string, source: string): string {
  if (path === "") throw new UserError(`${source}: empty path`);
  if (/[\\/]/.test(path) && !isFile(path)) throw new UserError(`${source} ${path}: ${existsSync(path) ? "not a file" : "no such file"}`);
  return path;
}

function resolveOne(
  kind: "backend" | "system",
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  platform: string,
  arch: string,
): string {
  const flagName = kind === "backend" ? "--qnn_backend_lib" : "--qnn_system_lib";
  const envName = kind === "backend" ? "QNN_BACKEND_LIB" : "QNN_SYSTEM_LIB";
  if (flag !== undefined) return explicit(flag, flagName);
  const fromEnv = env[envName];
  if (fromEnv !== undefined && fromEnv !== "") return explicit(fromEnv, envName);
  const file = libraryFileNames(platform)[kind];
  const what = kind === "backend" ? `QNN backend library (${file})` : `QNN system library (${file})`;
  const how = `pass ${flagName} PATH, set ${envName}, or set QNN_SDK_ROOT to the QAIRT / QNN SDK`;
  const root = env.QNN_SDK_ROOT;
  if (root === undefined || root === "") throw new UserError(`no ${what}: ${how}`);
  if (!existsSync(root)) throw new UserError(`QNN_SDK_ROOT ${root}: no such directory`);
  const dirs = sdkTargetDirs(platform, arch);
  if (dirs.length === 0) throw new UserError(`no ${what}: the QNN SDK has no libraries for ${platform}/${arch}; ${how.replace(", or set QNN_SDK_ROOT to the QAIRT / QNN SDK", "")}`);
  for (const d of dirs) {
    const p = join(root, "lib", d, file);
    if (isFile(p)) return p;
  }
  throw new UserError(`no ${what} under QNN_SDK_ROOT ${root} (looked in lib/${dirs.join(", lib/")}); ${how}`);
}

/**
 * The backend and system libraries to use: flags, then QNN_BACKEND_LIB / QNN_SYSTEM_LIB, then
 * $QNN_SDK_ROOT/lib/<target>/. UserError saying how to set them when nothing is found.
 */
export function resolveQnnLibraries(
  flags: { backendLib?: string; systemLib?: string },
  env: NodeJS.ProcessEnv = process.env,
  platform: string = process.platform,
  arch: string = process.arch,
): QnnLibraries {
  return {
    backendLib: resolveOne("backend", flags.backendLib, env, platform, arch),
    systemLib: resolveOne("system", flags.systemLib, env, platform, arch),
  };
}
