// The page-touching worker (src/loaders/prefault.ts): it never changes a word the main thread wrote, however the
// two threads interleave; it is skipped for small buffers; and a model loaded with it is bit for bit the model
// loaded without it (an 80 MB checkpoint, so buildModel really starts the worker).
import { describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hugePagesLikely, PREFAULT_MIN_BYTES, startPrefault } from "../../src/loaders/prefault.js";
import { loadModel } from "../../src/loaders/index.js";
import { writeRandomLlama2cCheckpoint } from "../../bench/write-torch-checkpoint.js";
import type { Model } from "../../src/engine/weights.js";
import { bitsEqual } from "../helpers/fixtures.js";

describe("prefault worker", () => {
  it("runs by default only where huge pages back large allocations", () => {
    expect(hugePagesLikely({}, "always")).toBe(true);
    expect(hugePagesLikely({}, "madvise")).toBe(false);
    expect(hugePagesLikely({ GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" }, "madvise")).toBe(true);
    expect(hugePagesLikely({ GLIBC_TUNABLES: "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2" }, "madvise")).toBe(true);
    expect(hugePagesLikely({ GLIBC_TUNABLES: "glibc.malloc.hugetlb=0" }, "madvise")).toBe(false);
    expect(hugePagesLikely({ GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" }, "never")).toBe(false);
    expect(hugePagesLikely({ GLIBC_TUNABLES: "glibc.malloc.hugetlb=1" }, "")).toBe(false); // no sysfs (not Linux)
  });

  it("is not started for buffers under the threshold", () => {
    expect(startPrefault(new SharedArrayBuffer(1 << 20))).toBeUndefined();
    expect(PREFAULT_MIN_BYTES).toBeGreaterThanOrEqual(1 << 20);
  });

  it("never overwrites what the main thread writes while it runs", async () => {
    const bytes = 96 << 20;
    const buf = new SharedArrayBuffer(bytes);
    const words = new Int32Array(buf);
    const p = startPrefault(buf, 0)!;
    expect(p).toBeDefined();
    // Race the worker: write every page's first word (the word the worker touches) and a neighbour, front to back.
    for (let i = 0; i < words.length; i += 1024) {
      words[i] = (i >>> 10) + 1;
      words[i + 1] = -1;
    }
    await p.exited;
    let wrong = 0;
    for (let i = 0; i < words.length; i += 1024) if (words[i] !== (i >>> 10) + 1 || words[i + 1] !== -1) wrong++;
    expect(wrong).toBe(0);
    p.stop(); // after exit: harmless
  });

  it("stop() ends it early", async () => {
    const p = startPrefault(new SharedArrayBuffer(256 << 20), 0)!;
    p.stop();
    p.stop();
    await p.exited;
  });
});

describe("loading with and without the worker", () => {
  it("gives the same weights, bit for bit", () => {
    const dir = mkdtempSync(join(tmpdir(), "llama-golden-pf-"));
    const w = writeRandomLlama2cCheckpoint(dir, "m", { dim: 512, n_layers: 1, n_heads: 8, n_kv_heads: 4, vocab_size: 34000, multiple_of: 32, max_seq_len: 256 }, 5);
    expect(w.fp32Bytes).toBeGreaterThan(PREFAULT_MIN_BYTES);
    const a = loadModel({ checkpoint: w.checkpoint, prefault: true }).model;
    const b = loadModel({ checkpoint: w.checkpoint, prefault: false }).model;
    const all = (m: Model) => [m.weights.tokEmbeddings, m.weights.norm, ...m.weights.layers.flatMap((l) => Object.values(l))];
    const [xa, xb] = [all(a), all(b)];
    expect(xa.length).toBe(xb.length);
    xa.forEach((x, i) => expect(bitsEqual(x, xb[i])).toBe(true));
    expect(a.weights.output).toBe(a.weights.tokEmbeddings);
  });
});
