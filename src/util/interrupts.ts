// Owns what an interrupted run undoes: the temporary files and partial recordings registered while it works are
// removed when SIGINT or SIGTERM arrives (or when the parent that re-executed this process is gone), before the
// process exits with 128 + the signal number (130, 143). The registry is made once per process by the entry
// point (src/cli/main.ts) and handed to the commands through RunIO; code run in-process (tests) passes none.
export interface Interrupts {
  /** Registers an undo step; the returned function unregisters it (call it once the step is no longer needed). */
  add(undo: () => void): () => void;
  /** Runs every registered undo step once (errors ignored: this is best effort on the way out). */
  runAll(): void;
}

export function createInterrupts(): Interrupts {
  const steps = new Set<() => void>();
  return {
    add(undo) {
      steps.add(undo);
      return () => void steps.delete(undo);
    },
    runAll() {
      for (const undo of [...steps].reverse()) {
        try {
          undo();
        } catch {
          // keep undoing the rest
        }
      }
      steps.clear();
    },
  };
}

export const SIGNAL_EXIT_CODES = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Installs the handlers: on SIGINT / SIGTERM undo and exit 130 / 143. With `parentPid`, also exit (143) when
 * that parent is gone, so a re-executed child never outlives the process the user started.
 */
export function installInterruptHandlers(interrupts: Interrupts, parentPid?: number): void {
  for (const [signal, code] of Object.entries(SIGNAL_EXIT_CODES)) {
    process.on(signal, () => {
      interrupts.runAll();
      process.exit(code);
    });
  }
  if (parentPid !== undefined) {
    const watch = setInterval(() => {
      if (process.ppid !== parentPid) {
        interrupts.runAll();
        process.exit(SIGNAL_EXIT_CODES.SIGTERM);
      }
    }, 250);
    watch.unref();
  }
}
