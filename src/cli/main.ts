#!/usr/bin/env node
// Owns the process entry point of the `llama-golden` bin: real stdout/stderr and the exit code, and the one
// process-level setting that loading needs (below).
//
// Loading a checkpoint is dominated by making fresh memory resident (see docs/performance.md: 3–6 s per GB of
// 4 KiB page faults on the reference VM). glibc's `glibc.malloc.hugetlb=1` tunable makes large allocations
// madvise(MADV_HUGEPAGE) on kernels whose transparent huge pages are in "madvise" mode, which cuts a Llama 3.2 1B
// bf16 load from ~21 s to ~7 s there. A tunable is read only at process start, so on Linux the entry point
// re-executes itself once with it set (inheriting stdio, forwarding signals and the exit code). Opt out with
// LLAMA_GOLDEN_NO_REEXEC=1; nothing numerical depends on it. SIGINT / SIGTERM end a run with 130 / 143 after
// removing its temporary files and partial recordings (src/util/interrupts.ts).
import { spawn } from "node:child_process";
import { constants as osConstants } from "node:os";
import { createInterrupts, installInterruptHandlers } from "../util/interrupts.js";
import { main } from "./cli.js";

/**
 * Re-executes this process with the tunable and waits for the child, forwarding SIGINT / SIGTERM to it and
 * exiting as it did; the child is told this process's pid and exits by itself if this process is killed.
 * undefined: run here instead (not Linux, opted out, already the child, or the spawn failed).
 */
function reexecWithHugePages(): Promise<number> | undefined {
  if (process.platform !== "linux" || process.env.LLAMA_GOLDEN_NO_REEXEC === "1") return undefined;
  const tunables = process.env.GLIBC_TUNABLES ?? "";
  if (/glibc\.malloc\.hugetlb=/.test(tunables)) return undefined;
  const env = {
    ...process.env,
    GLIBC_TUNABLES: tunables ? `${tunables}:glibc.malloc.hugetlb=1` : "glibc.malloc.hugetlb=1",
    LLAMA_GOLDEN_NO_REEXEC: "1",
    LLAMA_GOLDEN_PARENT_PID: String(process.pid),
  };
  let child;
  try {
    child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", env });
  } catch {
    return undefined;
  }
  const forward = (signal: NodeJS.Signals) => () => void child.kill(signal);
  process.on("SIGINT", forward("SIGINT"));
  process.on("SIGTERM", forward("SIGTERM"));
  return new Promise((resolve) => {
    child.on("error", () => resolve(1));
    child.on("exit", (code, signal) => resolve(signal ? 128 + (osConstants.signals[signal] ?? 0) : (code ?? 1)));
  });
}

const reexec = reexecWithHugePages();
if (reexec !== undefined) {
  reexec.then((code) => {
    process.exitCode = code;
  });
} else {
  // A closed pipe on stdout (`llama-golden --help | head`) ends the output, not the program with a stack trace.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(process.exitCode ?? 0);
  });
  const interrupts = createInterrupts();
  const parent = Number(process.env.LLAMA_GOLDEN_PARENT_PID);
  installInterruptHandlers(interrupts, Number.isInteger(parent) && parent > 0 ? parent : undefined);
  main(process.argv.slice(2), {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    stderrIsTTY: process.stderr.isTTY === true,
    interrupts,
  }).then((c) => {
    process.exitCode = c;
  });
}
