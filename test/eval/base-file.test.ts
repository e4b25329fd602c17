// The eval base-run file (src/eval/base-file.ts): a round trip that decodes to the same rows, and refusals of bad
// files — wrong magic, other version, truncated at every row boundary, a size that does not add up, a target outside
// the vocabulary, a non-finite scale — and of a base made for another comparison, each one line naming the file.
import { describe, expect, it } from "vitest";
import { checkBaseMatches, decodeBaseFile, encodeBaseFile, tokensSha256, type BaseHeader } from "../../src/eval/base-file.js";
import { logSoftmax, packLogProbs } from "../../src/eval/kl-stats.js";
import { expectUserError } from "../helpers/errors.js";
import { rng } from "../helpers/rng.js";

const V = 37;
const r = rng(5);
const targets = [3, 0, 36, 12, 7];
const rows = targets.map((target) => ({ target, packed: packLogProbs(logSoftmax(Array.from({ length: V }, () => 8 * r() - 4))) }));
const header: BaseHeader = { vocab: V, positions: rows.length, dataset_sha256: "d".repeat(64), tokens_sha256: tokensSha256(targets), windowing: "kv:96", context_len: 96, model: "test" };

describe("base file", () => {
  it("round-trips header and rows exactly", () => {
    const bytes = encodeBaseFile(header, rows);
    expect(bytes.length % 8).toBe(0);
    const back = decodeBaseFile(bytes, "b.bin");
    expect(back.header).toEqual(header);
    back.rows.forEach((row, i) => {
      expect(row.target).toBe(rows[i].target);
      expect(row.packed.min).toBe(rows[i].packed.min);
      expect(row.packed.scale).toBe(rows[i].packed.scale);
      expect(Array.from(row.packed.codes)).toEqual(Array.from(rows[i].packed.codes));
    });
  });

  it("refuses bad files in one line naming the path", () => {
    const good = encodeBaseFile(header, rows);
    expectUserError(() => decodeBaseFile(new TextEncoder().encode("not a base file at all"), "x.bin"), "base file x.bin", "not an eval base file");
    const v2 = good.slice();
    new DataView(v2.buffer).setUint32(8, 2, true);
    expectUserError(() => decodeBaseFile(v2, "x.bin"), "format version 2");
    for (let cut = 16; cut < good.length; cut += 13) expectUserError(() => decodeBaseFile(good.subarray(0, cut), "x.bin"), "base file x.bin");
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(12, 1 << 30, true);
    expectUserError(() => decodeBaseFile(huge, "x.bin"), /the header claims \d+ bytes/);
    const tgt = good.slice();
    const head = good.length - rows.length * (24 + 2 * V + ((8 - ((24 + 2 * V) % 8)) % 8));
    new DataView(tgt.buffer).setUint32(head, V, true);
    expectUserError(() => decodeBaseFile(tgt, "x.bin"), `position 0: target token ${V} is outside the vocabulary`);
    const sc = good.slice();
    new DataView(sc.buffer).setFloat64(head + 16, NaN, true);
    expectUserError(() => decodeBaseFile(sc, "x.bin"), "position 0: min");
  });

  it("refuses a base made for another comparison", () => {
    const want = { vocab: V, dataset_sha256: header.dataset_sha256, tokens_sha256: header.tokens_sha256, windowing: "kv:96", context_len: 96 };
    checkBaseMatches(header, want, "b.bin");
    expectUserError(() => checkBaseMatches(header, { ...want, vocab: 40 }, "b.bin"), 'base file b.bin: made with vocab 37, this run has 40');
    expectUserError(() => checkBaseMatches(header, { ...want, tokens_sha256: tokensSha256([1, 2]) }, "b.bin"), "made with tokens_sha256");
    expectUserError(() => checkBaseMatches(header, { ...want, windowing: "prefill:32" }, "b.bin"), 'made with windowing "kv:96"');
  });
});
