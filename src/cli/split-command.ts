// citty parses options anywhere in argv (and treats --help even after --), but
// our commands take a program after their options: options end at the first
// argument that is not an option of ours, or at "--".
import type { ArgsDef } from "citty";

export function splitAtCommand(
  args: readonly Uint8Array[],
  def: ArgsDef,
): { options: string[]; command: Uint8Array[]; unknown: string[] } {
  const takesValue = new Set<string>();
  const known = new Set<string>();
  for (const [name, spec] of Object.entries(def)) {
    if (spec.type === "positional") continue;
    const names = [name, ...([] as string[]).concat((spec as { alias?: string | string[] }).alias ?? [])];
    for (const n of names) {
      known.add(n);
      if (spec.type === "string" || spec.type === "enum") takesValue.add(n);
    }
  }
  const options: string[] = [];
  const unknown: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const text = new TextDecoder().decode(args[i]!);
    if (text === "--") {
      i++;
      break;
    }
    if (!text.startsWith("-") || text === "-") break;
    const name = text.replace(/^--?/, "").split("=")[0]!;
    options.push(text);
    if (!known.has(name) && !known.has(name.replace(/^no-/, ""))) {
      unknown.push(text);
      continue;
    }
    if (takesValue.has(name) && !text.includes("=") && i + 1 < args.length) options.push(new TextDecoder().decode(args[++i]!));
  }
  return { options, command: args.slice(i), unknown };
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
