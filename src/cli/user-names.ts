// Resolving --allow-uid/--allow-gid values: numbers as they are, names
// through the C library (NSS on glibc: /etc/passwd, systemd-userdb, LDAP, ...
// as /etc/nsswitch.conf says). Only where the C library cannot look names up
// at all are /etc/passwd and /etc/group read here.
import { readFileSync } from "node:fs";
import { groupByName, hasUserDatabase, userByName } from "../libc/user-database.ts";

/** The third field of the line of /etc/passwd or /etc/group whose first field is `name`. */
function idFromFile(file: string, name: string): number | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return null;
  }
  for (const line of text.split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name && fields[2] !== undefined && /^\d+$/.test(fields[2])) return Number(fields[2]);
  }
  return null;
}

export type IdKind = "user" | "group";

/** The uid or gid of `name` from the files alone (for C libraries without lookups). */
export function idFromFiles(name: string, kind: IdKind): number | null {
  return idFromFile(kind === "user" ? "/etc/passwd" : "/etc/group", name);
}

function idFromLibc(name: string, kind: IdKind): number | null {
  return kind === "user" ? (userByName(name)?.uid ?? null) : groupByName(name);
}

/** A uid or gid given as a number or a name; an unknown name throws. */
export function resolveId(value: string, kind: IdKind): number {
  if (/^\d+$/.test(value)) return Number(value);
  const id = hasUserDatabase() ? idFromLibc(value, kind) : idFromFiles(value, kind);
  if (id === null) throw new Error(`unknown ${kind} '${value}'`);
  return id;
}
