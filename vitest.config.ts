import { availableParallelism } from "node:os";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 120_000,
    pool: "forks",
    // At least two test files at a time: on a 2-core machine vitest's default ran them one by one (measured: ~500 s of
    // wall time, ~300 s with two workers). Tests assert no timings, so contention changes no result.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    // The JSON report lets .ci/run print the plain "N passed, N failed" line CI reads.
    reporters: ["default", "json"],
    outputFile: { json: ".test-results/vitest.json" },
  },
});
