// citty parses options anywhere in argv (and treats --help even after --), but
// our commands take a program after their options: options end at the first
// argument that is not an option of ours, or at "--".
import type { ArgsDef } from "citty";

/** One option as it stood: its name (aliases resolved), its text, and its value as bytes (exact). */
export interface OptionSeen {
  name: string;
  text: string;
  value: Uint8Array | undefined;
  /** The words it took from argv (itself, and its value when separate). */
  words: string[];
  /** It takes a value, and argv ended before one. */
  missingValue: boolean;
}

/**
 * The one option walker of our commands: options (as `def` names them,
 * with aliases, `--name=value` and `--name value`) end at the first
 * argument that is not one, or at "--". Values stay bytes. Returns where
 * the command starts; `unknown` says what to do with an option `def` lacks
 * (throw, or keep going).
 */
export function walkOptions(
  args: readonly Uint8Array[],
  def: ArgsDef,
  seen: (option: OptionSeen) => void,
  unknown: (text: string) => void,
  { negations = false }: { negations?: boolean } = {},
): number {
  const { known, takesValue } = optionNames(def);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  let i = 0;
  for (; i < args.length; i++) {
    const text = decode(args[i]!);
    if (text === "--") return i + 1;
    if (!text.startsWith("-") || text === "-") return i;
    const eq = text.startsWith("--") ? text.indexOf("=") : -1;
    const raw = text.startsWith("--") ? text.slice(2, eq > 0 ? eq : undefined) : text.slice(1);
    // citty reads --no-X as X false; walkers that hand options to citty accept that form.
    const name = known.get(raw) ?? (negations && raw.startsWith("no-") ? known.get(raw.slice(3)) : undefined);
    if (name === undefined) {
      unknown(text);
      continue;
    }
    let value: Uint8Array | undefined;
    const words = [text];
    if (takesValue.has(name) && eq > 0) value = args[i]!.subarray(new TextEncoder().encode(text.slice(0, eq + 1)).length);
    else if (takesValue.has(name) && i + 1 < args.length) {
      value = args[++i];
      words.push(decode(value!));
    }
    seen({ name, text, value, words, missingValue: takesValue.has(name) && value === undefined });
  }
  return i;
}

/** Every name and alias of `def`, mapped to its option's name; which of them take a value. */
function optionNames(def: ArgsDef): { known: Map<string, string>; takesValue: Set<string> } {
  const known = new Map<string, string>();
  const takesValue = new Set<string>();
  for (const [name, spec] of Object.entries(def)) {
    if (spec.type === "positional") continue;
    for (const n of [name, ...([] as string[]).concat((spec as { alias?: string | string[] }).alias ?? [])]) known.set(n, name);
    if (spec.type === "string" || spec.type === "enum") takesValue.add(name);
  }
  return { known, takesValue };
}

/** Options for citty's parseArgs, the command after them, the unknown ones, and those missing their value (walkOptions). */
export function splitAtCommand(
  args: readonly Uint8Array[],
  def: ArgsDef,
): { options: string[]; command: Uint8Array[]; unknown: string[]; missingValue: string[] } {
  const options: string[] = [];
  const unknown: string[] = [];
  const missingValue: string[] = [];
  const start = walkOptions(
    args,
    def,
    (option) => {
      options.push(...option.words);
      if (option.missingValue) missingValue.push(option.text);
    },
    (text) => {
      options.push(text);
      unknown.push(text);
    },
    { negations: true },
  );
  return { options, command: args.slice(start), unknown, missingValue };
}

/** Every value of a repeatable option (citty keeps only the last one). */
export function repeated(options: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const text = options[i]!;
    if (text === `--${name}` && i + 1 < options.length) values.push(options[++i]!);
    else if (text.startsWith(`--${name}=`)) values.push(text.slice(name.length + 3));
  }
  return values;
}
