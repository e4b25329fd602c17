// Test helper: asserts that a call fails with a UserError whose message is one line matching every part.
import { expect } from "vitest";
import { UserError } from "../../src/util/errors.js";

export function expectUserError(f: () => unknown, ...parts: (string | RegExp)[]): string {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(UserError);
  const msg = (err as Error).message;
  expect(msg).not.toContain("\n");
  for (const p of parts) expect(msg).toMatch(p);
  return msg;
}
