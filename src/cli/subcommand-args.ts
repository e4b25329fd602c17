// Owns the command line of subcommands that take the run command's model and flow flags plus their own
// (parity, quant-report): their own flags are split off, refused flags are named, the rest is parsed by
// parseRunArgs so both commands accept exactly the run command's flags.
import { UserError } from "../util/errors.js";
import { parseRunArgs, type RunArgs } from "./args.js";

export interface SubcommandArgs<F extends string> {
  help: boolean;
  own: Partial<Record<F, string>>;
  run: RunArgs;
}

/**
 * `command` names the subcommand in messages; `ownFlags` take a value (`--f v` or `--f=v`); `rejected` maps the
 * run flags that mean nothing to the subcommand to the reason they are refused with.
 */
export function parseSubcommandArgs<F extends string>(command: string, argv: string[], ownFlags: readonly F[], rejected: Readonly<Record<string, string>>): SubcommandArgs<F> {
  const own: Partial<Record<F, string>> = {};
  const rest: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h" || a === "--help") {
      help = true;
      continue;
    }
    const m = /^--([A-Za-z_]+)(?:=(.*))?$/s.exec(a);
    const name = m?.[1];
    if (name !== undefined && Object.hasOwn(rejected, name)) throw new UserError(`${command}: --${name} is not used by ${command} (${rejected[name]})`);
    if (name !== undefined && (ownFlags as readonly string[]).includes(name)) {
      let v = m![2];
      if (v === undefined) {
        if (i + 1 >= argv.length || (argv[i + 1].startsWith("-") && !/^-(\d|\.\d)/.test(argv[i + 1])))
          throw new UserError(`${command}: --${name} needs a value (see ${command} --help)`);
        v = argv[++i];
      }
      if (own[name as F] !== undefined) throw new UserError(`${command}: --${name} given twice`);
      own[name as F] = v;
      continue;
    }
    rest.push(a);
  }
  try {
    const run = parseRunArgs(rest);
    if (run.prompts.length > 1) throw new UserError(`--prompt given ${run.prompts.length} times; ${command} takes one prompt`);
    return { help, own, run };
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${command}: ${e.message.replace(/\(see --help\)/, `(see ${command} --help)`)}`);
    throw e;
  }
}
