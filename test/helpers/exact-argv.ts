// Starting a process with byte-exact argv, environment and cwd. Bun.spawn
// takes JS strings, so bytes that are not UTF-8 would be mangled on the way;
// instead /bin/sh builds every item from octal escapes with its printf
// builtin and execs it, through `env -i` when the environment is given.
import { BUN, EXEC } from "./harness.ts";

const encoder = new TextEncoder();

export type ByteItem = string | Uint8Array;

function toBytes(item: ByteItem): Uint8Array {
  return typeof item === "string" ? encoder.encode(item) : item;
}

/** printf format that prints exactly `bytes` (every byte escaped, so no % or \ surprises). */
function octalFormat(bytes: Uint8Array): string {
  return [...bytes].map((b) => `\\${b.toString(8).padStart(3, "0")}`).join("");
}

/**
 * A command for Bun.spawn that runs `argv` with exactly these bytes. `env`
 * given: the program gets exactly these entries and nothing else. `cwd`
 * given: it starts there.
 */
export function exactCommand(argv: readonly ByteItem[], options: { env?: readonly ByteItem[]; cwd?: ByteItem } = {}): string[] {
  const lines: string[] = [];
  const words: string[] = [];
  // Command substitution strips trailing newlines: print a sentinel "x" after the bytes and cut it off.
  const define = (name: string, item: ByteItem) => {
    lines.push(`${name}=$(printf '${octalFormat(toBytes(item))}x'); ${name}=\${${name}%x}`);
  };
  if (options.cwd !== undefined) {
    define("dir", options.cwd);
    lines.push(`cd "$dir" || exit 99`);
  }
  if (options.env) {
    words.push("/usr/bin/env", "-i");
    options.env.forEach((entry, i) => {
      define(`e${i}`, entry);
      words.push(`"$e${i}"`);
    });
  }
  argv.forEach((item, i) => {
    define(`a${i}`, item);
    words.push(`"$a${i}"`);
  });
  lines.push(`exec ${words.join(" ")}`);
  return ["/bin/sh", "-c", lines.join("\n")];
}

/** argv for portal-exec: bun, the script, then `args`. */
export function portalExecArgv(args: readonly ByteItem[]): ByteItem[] {
  return [BUN, EXEC, ...args];
}

/** Items joined the way `printf '%s\0'` and `env -0` print them. */
export function nulJoined(items: readonly ByteItem[]): Buffer {
  return Buffer.concat(items.flatMap((item) => [Buffer.from(toBytes(item)), Buffer.from([0])]));
}

/** Splits `env -0` / `printf '%s\0'` output into its items. */
export function splitNul(bytes: Uint8Array): Buffer[] {
  const items: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      items.push(Buffer.from(bytes.subarray(start, i)));
      start = i + 1;
    }
  }
  if (start !== bytes.length) throw new Error(`output does not end with NUL: ${bytes.length - start} trailing bytes`);
  return items;
}
