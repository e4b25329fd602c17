// Owns what the bench scripts share as command-line programs: the usage error (exit 2), reading a flag's value,
// and running `main` with the exit codes bench/README.md documents (0 ok, 1 failure, 2 bad command line).

export class UsageError extends Error {}

/** The value after flag argv[i - 1] (at argv[i]); a missing value or another flag is a UsageError with the usage text. */
export function flagValue(argv: string[], i: number, flag: string, usage: () => string): string {
  const v = argv[i];
  if (v === undefined || v.startsWith("--")) throw new UsageError(`${flag} needs a value\n${usage()}`);
  return v;
}

/** Runs a script's main: a UsageError prints its message and exits 2, any other error its stack and exits 1. */
export function runScript(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    if (e instanceof UsageError) {
      console.error(e.message);
      process.exit(2);
    }
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    process.exit(1);
  });
}
