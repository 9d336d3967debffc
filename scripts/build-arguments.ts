// The command line of the build scripts (overlay/build.ts, package/build.ts,
// scripts/build-client.ts), handled one way: -h/--help prints the usage and
// exits 0; an unknown option, a missing value, a stray argument or a bad
// value prints what is wrong and the usage on stderr and exits 2.
import { parseArgs } from "node:util";

/** Exit code of every build script for a command-line mistake. */
export const USAGE_EXIT = 2;

export interface BuildCommand {
  /** How the script names itself in messages ("overlay/build.ts"). */
  name: string;
  /** The usage text --help prints: first line "usage: ...", then the options. */
  usage: string;
}

type StringOptions = Record<string, { type: "string"; short?: string; default?: string }>;

/** Prints `message` and the usage on stderr and exits with USAGE_EXIT. */
export function usageError(command: BuildCommand, message: string): never {
  process.stderr.write(`${command.name}: ${message}\n${command.usage}\n`);
  process.exit(USAGE_EXIT);
}

/**
 * The script's string options, parsed strictly. With `rest`, arguments after
 * a `--` are returned as they are (for another tool); without, none are taken.
 */
export function parseBuildArguments<O extends StringOptions>(
  command: BuildCommand,
  options: O,
  { rest = false, args = process.argv.slice(2) }: { rest?: boolean; args?: string[] } = {},
): { values: { [K in keyof O]: O[K] extends { default: string } ? string : string | undefined }; rest: string[] } {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: rest, strict: true, tokens: true });
  } catch (error) {
    usageError(command, (error as Error).message);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(`${command.usage}\n`);
    process.exit(0);
  }
  const terminator = parsed.tokens.findIndex((token) => token.kind === "option-terminator");
  const stray = parsed.tokens.find((token, i) => token.kind === "positional" && (terminator < 0 || i < terminator));
  if (stray && stray.kind === "positional") usageError(command, `unexpected argument '${stray.value}' (arguments for another tool go after --)`);
  const { help: _, ...values } = parsed.values as { help?: boolean };
  return { values: values as never, rest: parsed.positionals };
}
