#!/usr/bin/env node
// Builds the optional QNN addon (native/ -> native/build/Release/lg_qnn.node) with node-gyp and
// records the outcome in native/build/lg-qnn-status.json, which src/qnn/native.ts reads to explain
// why the addon is unavailable.
//
//   node scripts/build-native.mjs             (npm run build:native) output shown, exit 1 on failure
//   node scripts/build-native.mjs --optional  (the package's "install" script) output captured in
//                                             native/build/build.log; on failure or when
//                                             LLAMA_GOLDEN_SKIP_NATIVE=1 prints one warning line
//                                             and exits 0, so `npm install` / `npm ci` never fail
//                                             because of the addon
//
// Which node-gyp: the one npm runs lifecycle scripts with (npm exports its path as
// npm_config_node_gyp; it is npm's bundled copy, always matching npm), else a node-gyp installed
// in node_modules, else the copy bundled with the npm next to this Node, else `node-gyp` on PATH.
// Node headers: node-gyp's own rules (npm_config_nodedir, or its download cache); when neither is
// configured and this Node installation ships its headers (<prefix>/include/node), those are used
// so that no download is needed.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const NATIVE = join(ROOT, "native");
const BUILD = join(NATIVE, "build");
const STATUS = join(BUILD, "lg-qnn-status.json");
const LOG = join(BUILD, "build.log");
const ADDON = join(BUILD, "Release", "lg_qnn.node");
const optional = process.argv.includes("--optional");

function writeStatus(status) {
  try {
    mkdirSync(BUILD, { recursive: true });
    writeFileSync(STATUS, JSON.stringify({ ...status, at: new Date().toISOString() }, null, 2) + "\n");
  } catch {
    // the status file only improves an error message
  }
}

/** One line for the user; in optional mode the script then exits 0. */
function giveUp(reason, state) {
  writeStatus({ ok: false, state, reason });
  const fix = state === "skipped" ? "" : `; details in ${relative(process.cwd(), LOG) || LOG}`;
  console.warn(`llama-golden: warning: QNN addon not built (${reason})${fix}; the qnn backend needs \`npm run build:native\``);
  process.exit(optional ? 0 : 1);
}

function findNodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return { cmd: process.execPath, args: [fromNpm], via: fromNpm };
  try {
    const req = createRequire(join(ROOT, "package.json"));
    const local = join(dirname(req.resolve("node-gyp/package.json")), "bin", "node-gyp.js");
    if (existsSync(local)) return { cmd: process.execPath, args: [local], via: local };
  } catch {
    // not installed locally
  }
  const prefix = dirname(dirname(process.execPath));
  for (const npmDir of [join(prefix, "lib", "node_modules", "npm"), join(dirname(process.execPath), "node_modules", "npm")]) {
    const bundled = join(npmDir, "node_modules", "node-gyp", "bin", "node-gyp.js");
    if (existsSync(bundled)) return { cmd: process.execPath, args: [bundled], via: bundled };
  }
  return { cmd: process.platform === "win32" ? "node-gyp.cmd" : "node-gyp", args: [], via: "node-gyp on PATH" };
}

function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, "include", "node", "node_api.h")) ? [`--nodedir=${prefix}`] : [];
}

/** The most telling line of a failed build: a compiler error, then make's complaint, then any error. */
function lastErrorLine(text) {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  const own = lines.filter((l) => !l.startsWith("gyp "));
  const pick =
    own.find((l) => /\berror:/i.test(l)) ??
    own.find((l) => /No rule to make|Stop\.|not found|No such file/i.test(l)) ??
    lines.find((l) => /error/i.test(l) && !/^gyp ERR! (cwd|node -v|node-gyp -v|command|System|stack|not ok)/.test(l)) ??
    lines[lines.length - 1] ??
    "no output";
  return pick.slice(0, 200);
}

if (process.env.LLAMA_GOLDEN_SKIP_NATIVE === "1") giveUp("LLAMA_GOLDEN_SKIP_NATIVE=1", "skipped");

const gyp = findNodeGyp();
const args = [...gyp.args, "rebuild", ...nodedirArgs()];
const run = spawnSync(gyp.cmd, args, {
  cwd: NATIVE,
  stdio: optional ? "pipe" : "inherit",
  encoding: "utf8",
  env: process.env,
  shell: process.platform === "win32" && gyp.args.length === 0,
});
if (optional) {
  try {
    mkdirSync(BUILD, { recursive: true });
    writeFileSync(LOG, `$ ${gyp.cmd} ${args.join(" ")}\n${run.stdout ?? ""}${run.stderr ?? ""}`);
  } catch {
    // best effort
  }
}
if (run.error) giveUp(`cannot run node-gyp (${gyp.via}): ${run.error.message}`, "failed");
if (run.status !== 0 || !existsSync(ADDON)) {
  const text = optional ? `${run.stdout ?? ""}\n${run.stderr ?? ""}` : existsSync(LOG) ? readFileSync(LOG, "utf8") : "";
  giveUp(`node-gyp exited with ${run.status ?? run.signal}: ${lastErrorLine(text)}`, "failed");
}
writeStatus({ ok: true, state: "built", reason: "", nodeGyp: gyp.via });
if (!optional) console.log(`llama-golden: QNN addon built: ${relative(process.cwd(), ADDON) || ADDON}`);
