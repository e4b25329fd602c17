#!/usr/bin/env node
// Owns the process entry point of the `llama-golden` bin: real stdout/stderr and the exit code.
import { main } from "./cli.js";

main(process.argv.slice(2), {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  stderrIsTTY: process.stderr.isTTY === true,
}).then((code) => {
  process.exitCode = code;
});
