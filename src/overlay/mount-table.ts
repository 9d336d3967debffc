// The mounts a process sees, from /proc/PID/mountinfo (proc(5)).
import { readFileSync } from "node:fs";

export interface MountEntry {
  id: number;
  parentId: number;
  /** Where it is mounted, as the reading process sees it. */
  mountPoint: string;
  fsType: string;
  source: string;
}

export function readMountTable(pid: number | "self" = "self"): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n")) {
    if (!line) continue;
    const fields = line.split(" ");
    // Optional fields run up to a lone "-"; fs type and source follow it.
    const dash = fields.indexOf("-", 6);
    entries.push({
      id: Number(fields[0]),
      parentId: Number(fields[1]),
      mountPoint: unescape(fields[4]!),
      fsType: fields[dash + 1]!,
      source: unescape(fields[dash + 2] ?? ""),
    });
  }
  return entries;
}

/** True if `path` is `dir` or lies below it. */
export function isAtOrBelow(path: string, dir: string): boolean {
  const base = dir.endsWith("/") ? dir : `${dir}/`;
  return path === dir || path.startsWith(base);
}

// The kernel writes space, tab, newline and backslash as \ooo.
function unescape(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
