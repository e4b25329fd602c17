// Test helper: runs the command line in-process and captures its output and exit code.
import { expect } from "vitest";
import { main } from "../../src/cli/cli.js";

export async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

/** Runs the command line and asserts a user error: exit code 2 and one stderr line matching `re`. */
export async function expectCliRefusal(argv: string[], re: RegExp): Promise<void> {
  const r = await cli(...argv);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(re);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
}
