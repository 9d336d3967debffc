// Whether text for a terminal may keep its colours: only when it goes to a
// terminal, unless the environment says otherwise. FORCE_COLOR wins when set
// ("0" or "false" turn colour off, anything else on), as in Node.js; then
// NO_COLOR (set and not empty: off, https://no-color.org); then TERM=dumb
// (off). Output for a file or a pipe is plain: no escape sequences and no
// padding at the ends of lines.
import { isTerminal } from "../libc/tty.ts";

type Environment = Record<string, string | undefined>;

export function colourWanted(fd: number, env: Environment = process.env): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== "0" && force !== "false";
  if (env.NO_COLOR) return false;
  if (env.TERM === "dumb") return false;
  return isTerminal(fd);
}

// SGR sequences (colour, bold, underline): all that citty and consola emit.
const SGR = /\x1b\[[0-9;]*m/g;
const TRAILING_BLANKS = /[ \t]+$/gm;

/**
 * `text` as it should reach `fd`: colours kept or stripped by colourWanted(),
 * and in either case no blanks at the ends of lines (citty pads every column
 * of its tables, the last one too).
 */
export function styledFor(fd: number, text: string, env: Environment = process.env): string {
  const plain = colourWanted(fd, env) ? text : text.replace(SGR, "");
  return plain.replace(TRAILING_BLANKS, "");
}
