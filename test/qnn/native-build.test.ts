// scripts/build-native.mjs, run on throw-away copies of the package layout: a failed or skipped build in
// optional mode (the package's "install" script) prints one warning line and exits 0, so `npm install`
// never fails because of the addon; `npm run build:native` exits 1 on failure; every outcome is recorded
// in native/build/lg-qnn-status.json for src/qnn/native.ts to explain.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-build-native-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let serial = 0;

/** A package copy holding only the build script and a native/ directory with the given files. */
function pkg(files: Record<string, string>): string {
  const root = join(tmp, `pkg-${serial++}`);
  mkdirSync(join(root, "scripts"), { recursive: true });
  mkdirSync(join(root, "native"), { recursive: true });
  copyFileSync(join(ROOT, "scripts", "build-native.mjs"), join(root, "scripts", "build-native.mjs"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(root, "native", name), text);
  return root;
}

function run(root: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(root, "scripts", "build-native.mjs"), ...args], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, LLAMA_GOLDEN_SKIP_NATIVE: "", ...env },
    timeout: 120_000,
  });
  const status = existsSync(join(root, "native", "build", "lg-qnn-status.json"))
    ? (JSON.parse(readFileSync(join(root, "native", "build", "lg-qnn-status.json"), "utf8")) as { ok: boolean; state: string; reason: string })
    : undefined;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, status };
}

const BROKEN = { "binding.gyp": JSON.stringify({ targets: [{ target_name: "lg_qnn", sources: ["missing.cc"] }] }) };

describe("scripts/build-native.mjs", () => {
  it("skips with one warning line and exit 0 when LLAMA_GOLDEN_SKIP_NATIVE=1", () => {
    const root = pkg(BROKEN);
    const r = run(root, ["--optional"], { LLAMA_GOLDEN_SKIP_NATIVE: "1" });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("llama-golden: warning: QNN addon not built (LLAMA_GOLDEN_SKIP_NATIVE=1); the qnn backend needs `npm run build:native`\n");
    expect(r.status).toMatchObject({ ok: false, state: "skipped", reason: "LLAMA_GOLDEN_SKIP_NATIVE=1" });
    expect(existsSync(join(root, "native", "build", "build.log"))).toBe(false);
  });

  it("a failed build: optional mode warns on one line and exits 0, keeping the log; build:native exits 1", () => {
    const root = pkg(BROKEN);
    const optional = run(root, ["--optional"]);
    expect(optional.code).toBe(0);
    expect(optional.stdout).toBe("");
    const lines = optional.stderr.split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^llama-golden: warning: QNN addon not built \(node-gyp exited with \d+: .*missing\.(cc|o).*\); details in native[\\/]build[\\/]build\.log; the qnn backend needs `npm run build:native`$/);
    expect(optional.status).toMatchObject({ ok: false, state: "failed" });
    expect(readFileSync(join(root, "native", "build", "build.log"), "utf8")).toMatch(/missing\.(cc|o)/);

    const direct = run(root, []);
    expect(direct.code).toBe(1);
    expect(direct.status).toMatchObject({ ok: false, state: "failed" });
  });

  it("a successful build records its status and prints nothing in optional mode", () => {
    const root = pkg({
      "binding.gyp": JSON.stringify({ targets: [{ target_name: "lg_qnn", sources: ["tiny.c"] }] }),
      "tiny.c": "int lg_tiny_symbol = 1;\n",
    });
    const r = run(root, ["--optional"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.status).toMatchObject({ ok: true, state: "built" });
    expect(existsSync(join(root, "native", "build", "Release", "lg_qnn.node"))).toBe(true);
  });
});
