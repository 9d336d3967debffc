// Walking a pathname in the caller's view the way pola-run's -f mirrors it
// into the program's: every symbolic link met on the way becomes a link of
// its own in the sandbox, at the same place with the same target text, and
// the walk goes on from its target, so the object ends up at its real
// place and the program's lookups take the same turns as the caller's.
import { lstatSync, readlinkSync } from "node:fs";
import { strerror } from "../libc/system-error.ts";
import { ELOOP } from "../libc/errno-values.ts";
import { PortalError } from "../client/errors.ts";
import { shown } from "./pola-run-options.ts";

/** As many links as Linux follows in one lookup before ELOOP. */
const MAX_LINKS = 40;

export interface LinkWalk {
  /** The links met, in order, by their real place (latin1 bytes). */
  links: string[];
  /** Where the walk ended: the object, or the final link when it was not followed. */
  object: string;
  /** True when `object` is a link (the last component, not followed). */
  objectIsLink: boolean;
}

/**
 * Walks `path` (absolute, normalised, latin1 bytes). Links in its directories
 * are always followed (and recorded); a link at its end only when
 * `followLast` (pola-run's `l`).
 */
export function walkLinks(path: string, followLast: boolean): LinkWalk {
  const links: string[] = [];
  const done: string[] = [];
  const pending = path.split("/").filter((part) => part !== "");
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (name === ".") continue;
    if (name === "..") {
      // `done` holds no link: its ".." is the real parent.
      done.pop();
      continue;
    }
    const here = `/${[...done, name].join("/")}`;
    const link = isLink(here, path);
    if (link && (pending.length > 0 || followLast)) {
      if (links.length === MAX_LINKS) throw new PortalError("usage", `cannot grant '${shown(path)}': ${strerror(ELOOP)}`);
      links.push(here);
      const target = Buffer.from(readlinkSync(Buffer.from(here, "latin1"), { encoding: "buffer" })).toString("latin1");
      if (target.startsWith("/")) done.length = 0;
      pending.unshift(...target.split("/").filter((part) => part !== ""));
      continue;
    }
    if (link) return { links, object: here, objectIsLink: true };
    done.push(name);
  }
  return { links, object: `/${done.join("/")}`, objectIsLink: false };
}

function isLink(here: string, path: string): boolean {
  try {
    return lstatSync(Buffer.from(here, "latin1")).isSymbolicLink();
  } catch (error) {
    const errno = Math.abs((error as { errno?: number }).errno ?? 0);
    throw new PortalError("usage", `cannot grant '${shown(path)}': ${errno ? strerror(errno) : String(error)}${here === path ? "" : ` ('${shown(here)}')`}`);
  }
}
