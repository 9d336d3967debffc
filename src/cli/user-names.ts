// Resolving --allow-uid/--allow-gid values: numbers, or names from
// /etc/passwd and /etc/group (no NSS on a minimal device: the files are it).
import { readFileSync } from "node:fs";

function lookup(file: string, name: string): number | null {
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

export function resolveId(value: string, kind: "user" | "group"): number {
  if (/^\d+$/.test(value)) return Number(value);
  const id = lookup(kind === "user" ? "/etc/passwd" : "/etc/group", value);
  if (id === null) throw new Error(`unknown ${kind} '${value}'`);
  return id;
}
