// The behaviour lock of the runner redesign (issue 12): every recorded command-line output and every
// counted-clock run must come out exactly as recorded before the redesign (see cases.ts, timed-runs.ts).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { behaviourCases, RECORDED, runCase, type BehaviourResult } from "./cases.js";
import { timedRuns, type TimedRun } from "./timed-runs.js";
import { FIXTURES, loadStories260K } from "../helpers/fixtures.js";
import { loadModel } from "../../src/loaders/index.js";
import { TINY_PARAMS, TINY_PTH } from "../helpers/tiny-llama3.js";

const RECORD = process.env.RECORD_BEHAVIOUR === "1";
const TIMED = join(FIXTURES, "behaviour", "timed-runs.json");

async function timedModels() {
  const tiny = loadModel({ checkpoint: TINY_PTH, params: TINY_PARAMS }).model;
  return [
    { name: "s260", model: loadStories260K(), prompt: [1, 403, 407, 261, 378, 429] },
    { name: "tiny", model: tiny, prompt: [1, 9, 511, 300, 12] },
  ];
}

describe("behaviour lock (issue 12)", () => {
  const cases = behaviourCases();
  if (RECORD) {
    it("records every case", async () => {
      const rec: Record<string, BehaviourResult> = {};
      for (const c of cases) rec[c.id] = await runCase(c);
      writeFileSync(RECORDED, JSON.stringify({ cases: Object.fromEntries(cases.map((c) => [c.id, { argv: c.argv, ...rec[c.id] }])) }, null, 1) + "\n");
      const timed = await timedRuns(await timedModels());
      writeFileSync(TIMED, JSON.stringify({ runs: timed }, null, 1) + "\n");
    }, 600_000);
    return;
  }
  const recorded: Record<string, BehaviourResult & { argv: string[] }> = existsSync(RECORDED) ? JSON.parse(readFileSync(RECORDED, "utf8")).cases : {};

  it("the recording covers every case", () => {
    expect(Object.keys(recorded).sort()).toEqual(cases.map((c) => c.id).sort());
  });

  it.each(cases.map((c) => [c.id, c] as const))("%s is byte-identical to the recording", async (id, c) => {
    const want = recorded[id];
    expect(want, `no recording for ${id}`).toBeDefined();
    expect(c.argv).toEqual(want.argv);
    const got = await runCase(c);
    expect(got.code).toBe(want.code);
    expect(got.stdout).toBe(want.stdout);
    expect(got.files).toEqual(want.files);
  });

  it("counted-clock runs: tokens, final position, stop flag and every timing stamp as recorded", async () => {
    const want: TimedRun[] = JSON.parse(readFileSync(TIMED, "utf8")).runs;
    const got = await timedRuns(await timedModels());
    expect(got.map((r) => r.id)).toEqual(want.map((r) => r.id));
    for (let i = 0; i < want.length; i++) expect(got[i], want[i].id).toEqual(want[i]);
  }, 300_000);
});
