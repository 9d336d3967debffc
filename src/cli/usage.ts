// What --help prints, one way for the three commands: citty's usage of the
// command, then notes citty has no place for, plain unless stdout is a
// terminal (src/cli/colour.ts).
import { renderUsage, type ArgsDef, type CommandDef } from "citty";
import { styledFor } from "./colour.ts";

export const HELP_ARGS = {
  help: { type: "boolean", alias: "h", description: "Show this help" },
} as const satisfies ArgsDef;

export const VERSION_ARGS = {
  version: { type: "boolean", description: "Print the name and version, and exit" },
} as const satisfies ArgsDef;

export interface UsageOptions {
  /** The words before the command's own name ("portal overlay" for run). */
  parentName?: string;
  /** Paragraphs after the options. */
  notes?: string;
}

export async function usageText(command: CommandDef<any>, { parentName, notes }: UsageOptions = {}): Promise<string> {
  const usage = await renderUsage(command, parentName ? { meta: { name: parentName } } : undefined);
  return `${usage.trimEnd()}\n${notes ? `\n${notes.trimEnd()}\n` : ""}`;
}

export async function showUsage(command: CommandDef<any>, options: UsageOptions = {}): Promise<void> {
  process.stdout.write(styledFor(1, await usageText(command, options)));
}
