// Owns the command-line program as a function: parse flags, run, and map failures to exit codes — a user
// mistake (UserError) prints one line and returns 2; anything else is a bug: its stack and 1.
import { isUserError } from "../util/errors.js";
import { HELP, parseRunArgs } from "./args.js";
import { runCommand, type RunIO } from "./run.js";
import { tokenizeCommand } from "./tokenize-command.js";
import { parityCommand } from "./parity-command.js";
import { quantReportCommand } from "./quant-report-command.js";
import { qnnCommand } from "./qnn-command.js";
import { evalCommand } from "./eval-command.js";
import { mergeCommand } from "./merge-command.js";

export async function main(argv: string[], io: RunIO): Promise<number> {
  try {
    if (argv[0] === "tokenize") return await tokenizeCommand(argv.slice(1), io);
    if (argv[0] === "parity") return await parityCommand(argv.slice(1), io);
    if (argv[0] === "quant-report") return await quantReportCommand(argv.slice(1), io);
    if (argv[0] === "qnn") return await qnnCommand(argv.slice(1), io);
    if (argv[0] === "eval") return await evalCommand(argv.slice(1), io);
    if (argv[0] === "merge") return await mergeCommand(argv.slice(1), io);
    const args = parseRunArgs(argv);
    if (args.help) {
      io.stdout(HELP);
      return 0;
    }
    await runCommand(args, io);
    return 0;
  } catch (e) {
    if (isUserError(e)) {
      io.stderr(`llama-golden: error: ${e.message}\n`);
      return 2;
    }
    io.stderr(`llama-golden: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
}
