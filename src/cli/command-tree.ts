// portal's own subcommands (demo, overlay build, overlay run) on citty, with
// the conventions of every command here. citty's runMain would show help for
// a --help even after "--", ignore unknown options and surplus arguments, and
// answer a mistake with its coloured usage on stdout and exit 1. Here:
// - --help or -h before any "--" shows the usage of the command it follows;
// - --version prints "NAME VERSION";
// - an unknown command or option, a missing value or argument, or one too
//   many, is a UsageError: one line saying what is wrong, one naming the
//   command's --help, and the tree's one usage exit code.
import { runCommand, type ArgDef, type ArgsDef, type CommandDef, type Resolvable } from "citty";
import { UsageError, exitForUsage } from "./usage-error.ts";
import { HELP_ARGS, VERSION_ARGS, showUsage } from "./usage.ts";
import { printVersion } from "./version.ts";

/** What a command may add to its citty definition. */
export interface CommandExtras {
  /** Paragraphs for the end of its --help. */
  helpNotes?: string;
  /** What follows "--" goes to another program as it is, not to this command's arguments. */
  passesOn?: boolean;
}

export type Command = CommandDef<any> & CommandExtras;

async function resolve<T>(value: Resolvable<T> | undefined): Promise<T | undefined> {
  return typeof value === "function" ? (value as () => T | Promise<T>)() : value;
}

const BUILTIN: ArgsDef = { ...HELP_ARGS, ...VERSION_ARGS };

/** The option of `args` that `token` names (--NAME, -ALIAS, or --no-NAME of a boolean), or undefined. */
function optionNamed(args: ArgsDef, token: string): { key: string; def: ArgDef } | undefined {
  const long = token.startsWith("--");
  const name = token.slice(long ? 2 : 1).split("=")[0]!;
  for (const [key, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const aliases = ([] as string[]).concat((def as { alias?: string | string[] }).alias ?? []);
    if (long ? key === name || (def.type === "boolean" && name === `no-${key}`) : aliases.includes(name)) return { key, def };
  }
  return undefined;
}

const takesValue = (def: ArgDef) => def.type === "string" || def.type === "enum";
const isOption = (token: string) => token.startsWith("-") && token !== "-";

interface Scan {
  /** Index of the first argument that is not an option (or the length). */
  stop: number;
  help: boolean;
  version: boolean;
  /** The options given, by their names in the definition. */
  given: Set<string>;
}

/** Checks the options in `tokens` from `start` up to the first non-option. */
function scanOptions(args: ArgsDef, tokens: readonly string[], start: number, scan: Scan = newScan()): Scan {
  for (let i = start; i < tokens.length; i++) {
    const token = tokens[i]!;
    if (!isOption(token)) return { ...scan, stop: i };
    const found = optionNamed(args, token) ?? optionNamed(BUILTIN, token);
    if (!found) throw new UsageError(`unknown option '${token}'`);
    const { key, def } = found;
    scan.given.add(key);
    if (def === BUILTIN.help) scan.help = true;
    else if (def === BUILTIN.version) scan.version = true;
    else if (takesValue(def) && !token.includes("=")) {
      if (i + 1 >= tokens.length) throw new UsageError(`option '${token}' needs a value`);
      i++;
    } else if (!takesValue(def) && token.includes("=")) {
      throw new UsageError(`option '${token.split("=")[0]}' takes no value`);
    }
  }
  return { ...scan, stop: tokens.length };
}

const newScan = (): Scan => ({ stop: 0, help: false, version: false, given: new Set() });

/** Options and positionals of a command without subcommands, as its definition declares them. */
function checkLeaf(args: ArgsDef, before: readonly string[], after: readonly string[], passesOn: boolean): Scan {
  const positionals: string[] = [];
  let scan = newScan();
  for (let i = 0; i < before.length; i = scan.stop + 1) {
    scan = scanOptions(args, before, i, scan);
    if (scan.stop < before.length) positionals.push(before[scan.stop]!);
  }
  if (scan.help || scan.version) return scan;
  if (!passesOn) positionals.push(...after);
  const declared = Object.entries(args).filter(([, def]) => def.type === "positional");
  if (positionals.length > declared.length) throw new UsageError(`unexpected argument '${positionals[declared.length]}'`);
  for (const [name, def] of declared.slice(positionals.length)) {
    if (def.required !== false && def.default === undefined) throw new UsageError(`missing ${def.valueHint ?? name.toUpperCase()}`);
  }
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional" || !def.required || def.default !== undefined) continue;
    if (!scan.given.has(name)) throw new UsageError(`missing option --${name}`);
  }
  return scan;
}

/**
 * Runs the command of `root` that `argv` names. `name` is how the tree's
 * root is called ("portal"); mistakes exit with `usageExit`.
 */
export async function runCommandTree(root: Command, argv: readonly string[], { name, usageExit }: { name: string; usageExit: number }): Promise<void> {
  const cut = argv.indexOf("--");
  const before = cut < 0 ? [...argv] : argv.slice(0, cut);
  const after = cut < 0 ? [] : argv.slice(cut + 1);
  const path = [name];
  let command = root;
  let start = 0;
  try {
    for (;;) {
      const args = (await resolve(command.args)) ?? {};
      const subCommands = await resolve(command.subCommands);
      if (!subCommands || Object.keys(subCommands).length === 0) {
        const scan = checkLeaf(args, before.slice(start), after, command.passesOn === true);
        if (scan.help) return await showCommandUsage(command, path);
        if (scan.version) return printVersion(name);
        await runCommand(command, { rawArgs: argv.slice(start) });
        return;
      }
      const scan = scanOptions(args, before, start);
      if (scan.help) return await showCommandUsage(command, path);
      if (scan.version) return printVersion(name);
      const word = before[scan.stop];
      const names = Object.keys(subCommands);
      if (word === undefined) throw new UsageError(`missing command (${names.join(", ")})`);
      if (!(word in subCommands)) throw new UsageError(`unknown command '${word}' (${names.join(", ")})`);
      command = (await resolve(subCommands[word])) as Command;
      path.push(word);
      start = scan.stop + 1;
    }
  } catch (error) {
    // citty's own checks (a required argument) throw CLIError.
    if (error instanceof UsageError || (error instanceof Error && error.name === "CLIError")) exitForUsage(path.join(" "), error.message, usageExit);
    throw error;
  }
}

/** The usage of `command` with the built-in options listed too (--version only at the root, where it belongs). */
async function showCommandUsage(command: Command, path: readonly string[]): Promise<void> {
  const builtins = path.length === 1 ? BUILTIN : HELP_ARGS;
  const shown = { ...command, args: { ...(await resolve(command.args)), ...builtins } };
  await showUsage(shown, { parentName: path.slice(0, -1).join(" ") || undefined, notes: command.helpNotes });
}
