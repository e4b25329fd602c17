// The load progress bar: silent for loads under a second, throttled, and cleared at the end.
import { describe, expect, it } from "vitest";
import { createProgress } from "../../src/cli/progress.js";

describe("progress bar", () => {
  it("draws nothing for a load that ends within a second", () => {
    let t = 0;
    let out = "";
    const p = createProgress((s) => (out += s), "loading", () => t);
    t = 500;
    p.update(50, 100);
    t = 999;
    p.update(100, 100);
    p.end();
    expect(out).toBe("");
  });

  it("after a second draws a bar with percentage and GB, at most every 100 ms, then clears the line", () => {
    let t = 0;
    const writes: string[] = [];
    const p = createProgress((s) => writes.push(s), "loading", () => t);
    t = 1200;
    p.update(1.25e9, 2.5e9);
    t = 1250;
    p.update(1.5e9, 2.5e9); // throttled
    t = 1400;
    p.update(2.5e9, 2.5e9);
    p.end();
    expect(writes).toHaveLength(3);
    expect(writes[0]).toBe(`\rloading [${"#".repeat(15)}${".".repeat(15)}]  50% 1.25/2.50 GB 1.2 s`);
    expect(writes[1]).toMatch(/100% 2\.50\/2\.50 GB 1\.4 s$/);
    expect(writes[2]).toBe("\r\x1b[2K");
  });
});
