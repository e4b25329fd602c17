// Shard specs and the append-only results file: parsing, the Slurm / Kubernetes environment, round-robin items;
// create / resume / torn last line cut off / another run or shard refused without touching the file / exact round trip
// of awkward doubles; merge's checks (missing, duplicate, incomplete, torn, other run).
import { describe, expect, it } from "vitest";
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { itemsOfShard, parseShardSpec, shardFromEnv } from "../../src/eval/shard.js";
import { openResultsStore, readShardFiles, type ResultsHeader } from "../../src/eval/results-store.js";

const tmp = mkdtempSync(join(tmpdir(), "llama-golden-results-"));
let n = 0;
const fresh = () => join(tmp, `r${n++}.jsonl`);
const quiet = { stderr: () => {} };
const header = (index: number, count: number, key = "k1", items = 7): ResultsHeader => ({ key: { key, items, description: "test run" }, shard: { index, count }, meta: { m: 1 } });

describe("shards", () => {
  it("parse K/N with K from 0, refusing the rest in one line", () => {
    expect(parseShardSpec("0/3", "--shard")).toEqual({ index: 0, count: 3 });
    expect(parseShardSpec(" 2/3 ", "--shard")).toEqual({ index: 2, count: 3 });
    for (const bad of ["3/3", "3/2", "a/b", "1/0", "-1/3", "1.5/3", "", "1", "1/2/3", "0x1/2"])
      expect(() => parseShardSpec(bad, "--shard"), bad).toThrow(/--shard/);
  });
  it("come from Slurm arrays and Kubernetes Indexed Jobs", () => {
    expect(shardFromEnv({})).toBeUndefined();
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_MIN: "3" })).toEqual({ index: 2, count: 4 });
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "4" })).toEqual({ index: 1, count: 4 });
    expect(shardFromEnv({ JOB_COMPLETION_INDEX: "3", LLAMA_GOLDEN_SHARD_COUNT: "8" })).toEqual({ index: 3, count: 8 });
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "1" })).toThrow(/SLURM_ARRAY_TASK_COUNT is not/);
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "3", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "5" })).toThrow(/not 3 consecutive ids/);
    expect(shardFromEnv({ SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "3", SLURM_ARRAY_TASK_MIN: "0", SLURM_ARRAY_TASK_MAX: "2" })).toEqual({ index: 2, count: 3 });
    expect(() => shardFromEnv({ SLURM_ARRAY_TASK_ID: "2", SLURM_ARRAY_TASK_COUNT: "4", SLURM_ARRAY_TASK_STEP: "2" })).toThrow(/stepped/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: "3" })).toThrow(/LLAMA_GOLDEN_SHARD_COUNT/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: "8", LLAMA_GOLDEN_SHARD_COUNT: "8" })).toThrow(/not below/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: "x", LLAMA_GOLDEN_SHARD_COUNT: "8" })).toThrow(/JOB_COMPLETION_INDEX="x"/);
    expect(() => shardFromEnv({ JOB_COMPLETION_INDEX: "1", SLURM_ARRAY_TASK_ID: "1", SLURM_ARRAY_TASK_COUNT: "2" })).toThrow(/both/);
  });
  it("deal items round-robin, each to exactly one shard", () => {
    expect(itemsOfShard(7, 1, 3)).toEqual([1, 4]);
    const all = [0, 1, 2].flatMap((k) => itemsOfShard(10, k, 3)).sort((a, b) => a - b);
    expect(all).toEqual([...Array(10).keys()]);
  });
});

describe("results file", () => {
  it("creates, appends, and resumes with the records bit for bit", async () => {
    const p = fresh();
    const s = await openResultsStore<{ item: number; x: number[] }>(p, header(1, 3), quiet);
    expect(s.done.size).toBe(0);
    const xs = [0.1 + 0.2, 1e-320, -0, 5e-324, 1.7976931348623157e308, -1 / 3];
    await s.append({ item: 1, x: xs });
    await s.append({ item: 4, x: [2] });
    s.close();
    const r = await openResultsStore<{ item: number; x: number[] }>(p, header(1, 3), quiet);
    expect([...r.done.keys()]).toEqual([1, 4]);
    const back = r.done.get(1)!.x;
    back.forEach((v, i) => expect(Object.is(v, xs[i]) || (v === 0 && xs[i] === 0)).toBe(true));
    expect(back.slice(0, 2)).toEqual(xs.slice(0, 2));
    r.close();
  });

  it("cuts off a torn last line and says so; resumes after it", async () => {
    const p = fresh();
    const s = await openResultsStore(p, header(0, 1), quiet);
    await s.append({ item: 0 });
    s.close();
    appendFileSync(p, '{"item": 1, "tok');
    let note = "";
    const r = await openResultsStore(p, header(0, 1), { stderr: (t) => (note += t) });
    expect([...r.done.keys()]).toEqual([0]);
    expect(note).toMatch(/cut off a torn last line/);
    await r.append({ item: 1 });
    r.close();
    expect(readFileSync(p, "utf8").split("\n").filter(Boolean)).toHaveLength(3);
  });

  it("refuses another run, another shard, corruption, duplicates and non-finite numbers, leaving the file as it was", async () => {
    const p = fresh();
    const s = await openResultsStore(p, header(0, 2), quiet);
    await s.append({ item: 0 });
    await expect(s.append({ item: 2, v: NaN } as { item: number })).rejects.toThrow(/NaN/);
    s.close();
    const before = readFileSync(p);
    await expect(openResultsStore(p, header(0, 2, "other"), quiet)).rejects.toThrow(/another run/);
    await expect(openResultsStore(p, header(1, 2), quiet)).rejects.toThrow(/holds shard 0\/2, this run is shard 1\/2/);
    await expect(openResultsStore(p, { ...header(0, 2), meta: { m: 2 } }, quiet)).rejects.toThrow(/description of the run differs/);
    const again = await openResultsStore(p, header(0, 2), quiet);
    await expect(again.append({ item: 0 })).rejects.toThrow(/not a new item/);
    await expect(again.append({ item: 1 })).rejects.toThrow(/not a new item/);
    again.close();
    expect(readFileSync(p)).toEqual(before);
    const bad = fresh();
    writeFileSync(bad, before.toString() + "not json\n" + '{"item": 2}\n');
    await expect(openResultsStore(bad, header(0, 2), quiet)).rejects.toThrow(/line 3 is not JSON/);
    const dup = fresh();
    writeFileSync(dup, before.toString() + '{"item": 0}\n');
    await expect(openResultsStore(dup, header(0, 2), quiet)).rejects.toThrow(/item 0 is there twice/);
    const alien = fresh();
    writeFileSync(alien, before.toString() + '{"item": 1}\n');
    await expect(openResultsStore(alien, header(0, 2), quiet)).rejects.toThrow(/does not belong to shard 0\/2/);
    const notOurs = fresh();
    writeFileSync(notOurs, "hello\n");
    await expect(openResultsStore(notOurs, header(0, 2), quiet)).rejects.toThrow(/not a llama-golden results file/);
    expect(readFileSync(notOurs, "utf8")).toBe("hello\n");
  });

  it("merge reads every shard once and every item once", async () => {
    const files: string[] = [];
    for (const k of [0, 1, 2]) {
      const p = fresh();
      files.push(p);
      const s = await openResultsStore(p, header(k, 3), quiet);
      for (const i of itemsOfShard(7, k, 3)) await s.append({ item: i });
      s.close();
    }
    const m = readShardFiles<{ item: number }>([files[2], files[0], files[1]]);
    expect(m.records.map((r) => r.item)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(m.meta).toEqual({ m: 1 });
    expect(() => readShardFiles([files[0], files[2]])).toThrow(/1 of 3 shards missing \(1\/3\)/);
    expect(() => readShardFiles([files[0], files[0], files[1], files[2]])).toThrow(/both hold shard 0\/3/);
    const part = fresh();
    const s = await openResultsStore(part, header(1, 3), quiet);
    await s.append({ item: 1 });
    s.close();
    expect(() => readShardFiles([files[0], part, files[2]])).toThrow(/shard 1\/3 is incomplete: 1 of 2 items missing \(first: 4\)/);
    appendFileSync(part, '{"item": 4');
    expect(() => readShardFiles([files[0], part, files[2]])).toThrow(/torn line/);
    const other = fresh();
    const o = await openResultsStore(other, header(1, 3, "k2"), quiet);
    o.close();
    expect(() => readShardFiles([files[0], other, files[2]])).toThrow(/from another run/);
  });
});
