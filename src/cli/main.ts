#!/usr/bin/env node
// Owns the process entry point of the `llama-golden` bin: real stdout/stderr and the exit code, and the one
// process-level setting that loading needs (below).
//
// Loading a checkpoint is dominated by making fresh memory resident (see docs/performance.md: 3–6 s per GB of
// 4 KiB page faults on the reference VM). glibc's `glibc.malloc.hugetlb=1` tunable makes large allocations
// madvise(MADV_HUGEPAGE) on kernels whose transparent huge pages are in "madvise" mode, which cuts a Llama 3.2 1B
// bf16 load from ~21 s to ~7 s there. A tunable is read only at process start, so on Linux the entry point
// re-executes itself once with it set (inheriting stdio, forwarding the exit code). Opt out with
// LLAMA_GOLDEN_NO_REEXEC=1; nothing numerical depends on it.
import { spawnSync } from "node:child_process";
import { main } from "./cli.js";

function reexecWithHugePages(): number | undefined {
  if (process.platform !== "linux" || process.env.LLAMA_GOLDEN_NO_REEXEC === "1") return undefined;
  const tunables = process.env.GLIBC_TUNABLES ?? "";
  if (/glibc\.malloc\.hugetlb=/.test(tunables)) return undefined;
  const env = {
    ...process.env,
    GLIBC_TUNABLES: tunables ? `${tunables}:glibc.malloc.hugetlb=1` : "glibc.malloc.hugetlb=1",
    LLAMA_GOLDEN_NO_REEXEC: "1",
  };
  const r = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", env });
  if (r.error) return undefined; // could not spawn: run here, without the tunable
  if (r.signal) {
    process.kill(process.pid, r.signal);
    return 128;
  }
  return r.status ?? 1;
}

const code = reexecWithHugePages();
if (code !== undefined) {
  process.exitCode = code;
} else {
  main(process.argv.slice(2), {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    stderrIsTTY: process.stderr.isTTY === true,
  }).then((c) => {
    process.exitCode = c;
  });
}
