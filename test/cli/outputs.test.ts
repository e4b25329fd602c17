// Output safety (issue 13, rows 1-6): every output path is checked before any work — never one of the run's
// inputs, never two flags on one file, never empty, its folder present — devices are written directly and
// symlinks followed, so nothing a user owns is overwritten or replaced.
import { createHash } from "node:crypto";
import { closeSync, copyFileSync, existsSync, lstatSync, mkdtempSync, openSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cli } from "../helpers/cli.js";
import { MODEL_BIN, TOKENIZER_BIN } from "../helpers/fixtures.js";

const SMALL = ["--kv_seq_len", "24", "--prefill_seq_len", "12"];
const sha = (p: string) => createHash("sha256").update(readFileSync(p)).digest("hex");

function expectOneLineExit2(r: { code: number; stderr: string }, ...parts: RegExp[]) {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const p of parts) expect(r.stderr).toMatch(p);
}

describe("output safety", () => {
  const tmp = mkdtempSync(join(tmpdir(), "llama-golden-outputs-"));
  const ckpt = join(tmp, "model.bin");
  copyFileSync(MODEL_BIN, ckpt);
  const base = ["--checkpoint", ckpt, "--tokenizer_bin", TOKENIZER_BIN, ...SMALL];
  const before = sha(ckpt);

  it("1: --dump_logits naming the checkpoint is refused and the checkpoint is intact", async () => {
    expectOneLineExit2(await cli(...base, "--dump_logits", ckpt), /--dump_logits/, /input of this run/);
    expectOneLineExit2(await cli(...base, "--dump_prompt_logits", TOKENIZER_BIN), /--dump_prompt_logits/, /input of this run/);
    expect(sha(ckpt)).toBe(before);
  });

  it("2: /dev/null is written directly and stays a device (also for two flags at once)", async () => {
    const r = await cli(...base, "--dump_logits", "/dev/null", "--dump_prompt_logits", "/dev/null");
    expect(r.code, r.stderr).toBe(0);
    expect(statSync("/dev/null").isCharacterDevice()).toBe(true);
  });

  it("2: /dev/fd/N writes to the process's own descriptor (as /dev/stdout does), never replacing it", async () => {
    const sink = join(tmp, "fd-sink.f32");
    const fd = openSync(sink, "w");
    try {
      const r = await cli(...base, "--dump_logits", `/dev/fd/${fd}`);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(statSync(sink).size).toBeGreaterThan(0);
    expect(statSync(sink).size % 4).toBe(0);
  });

  it("3: a symlink is written through and stays a link", async () => {
    const real = join(tmp, "real.f32");
    writeFileSync(real, "old");
    const link = join(tmp, "link.f32");
    symlinkSync(real, link);
    const r = await cli(...base, "--dump_logits", link);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(statSync(real).size).toBeGreaterThan(3);
    expect(statSync(real).size % 4).toBe(0);
  });

  it("4: two outputs on one file are refused before anything is written", async () => {
    const dir = mkdtempSync(join(tmp, "same-"));
    const same = join(dir, "same.f32");
    expectOneLineExit2(await cli(...base, "--dump_logits", same, "--dump_prompt_logits", same), /--dump_prompt_logits/, /also the output of --dump_logits/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("5: an empty path is refused", async () => {
    expectOneLineExit2(await cli(...base, "--dump_logits", ""), /--dump_logits ""/, /empty path/);
  });

  it("6: a report or dump into a missing folder is refused before the run", async () => {
    const missing = join(tmp, "no-such-dir", "q.html");
    expectOneLineExit2(await cli("quant-report", "--ptq", "16a4w", "--checkpoint", ckpt, "--tokenizer_bin", TOKENIZER_BIN, "--html", missing), /--html/, /does not exist/);
    expectOneLineExit2(await cli("parity", "--backend", "reference", ...base, "--html", missing), /--html/, /does not exist/);
    expectOneLineExit2(await cli(...base, "--ptq", "16a4w", "--dump_encodings", join(tmp, "no-such-dir", "e.json")), /--dump_encodings/, /does not exist/);
    expectOneLineExit2(await cli(...base, "--dump_logits", tmp), /--dump_logits/, /is a directory/);
    expect(existsSync(join(tmp, "no-such-dir"))).toBe(false);
    expect(sha(ckpt)).toBe(before);
  });
});
