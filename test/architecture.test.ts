// The layering of src (docs/architecture.md): every relative import goes from a folder to one of the same or
// a lower layer — engine/kvcache/tokenizer/loaders (with compute, golden, util) → runner → parity/quant/eval →
// qnn (device access) → backends → cli. A new folder must be given a layer here.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./helpers/fixtures.js";

const LAYERS: Record<string, number> = {
  util: 0,
  types: 0,
  engine: 1,
  kvcache: 1,
  tokenizer: 1,
  loaders: 1,
  compute: 1,
  golden: 1,
  runner: 2,
  parity: 3,
  quant: 3,
  eval: 3,
  qnn: 4,
  backends: 5,
  cli: 6,
};

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

const SRC = join(ROOT, "src");
const folderOf = (file: string) => relative(SRC, file).split(sep)[0];

describe("architecture", () => {
  const files = sources(SRC);

  it("every src folder has a layer", () => {
    expect(files.map(folderOf).filter((f) => !(f in LAYERS))).toEqual([]);
  });

  it("no import runs from a lower layer to a higher one", () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = folderOf(file);
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)) {
        const target = resolve(dirname(file), m[1]);
        const to = folderOf(target);
        if (LAYERS[to] > LAYERS[from]) upward.push(`${relative(ROOT, file)} imports ${m[1]} (${from} -> ${to})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("the runner control flow lives in one file: nothing else in src steps the graphs or moves the caches", () => {
    const steppers = /\.(updateAfterKvStep|handOverFromPrefill|startKv)\(|\b(kvForward|prefillForward|quantKvForward|quantPrefillForward)\(/;
    const allowed = new Set(["runner/session.ts", "engine/engine-backend.ts", "engine/kv-graph.ts", "engine/prefill-graph.ts", "quant/quantized-backend.ts", "quant/qgraph.ts"]);
    const offenders = files
      .map((f) => relative(SRC, f).split(sep).join("/"))
      .filter((f) => !f.startsWith("kvcache/") && !allowed.has(f))
      .filter((f) => steppers.test(readFileSync(join(SRC, f), "utf8")));
    expect(offenders).toEqual([]);
  });
});
