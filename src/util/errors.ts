// Owns the project's user-facing error type: a mistake in what the user gave us (a bad file, a bad flag),
// reported by the CLI as one line and exit code 2, never as a stack trace.

/** An error caused by user input: the CLI prints `error: <message>` and exits with code 2. */
export class UserError extends Error {
  override readonly name = "UserError";
  constructor(message: string) {
    super(message);
  }
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}

/** Collapses line breaks, runs of white space and control characters: an error message stays one line. */
export function oneLine(s: string): string {
  return s.replace(/[\s\x00-\x1f\x7f]+/g, " ");
}
