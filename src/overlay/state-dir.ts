// Where `portal overlay run` stages its mounts in the host's namespace while
// the spawner's namespace is being built: one directory per supervisor,
// named after its pid and that pid's start time, so a later start can tell a
// directory whose owner died (crashed before it could detach) from a live one
// even when the pid has been reused.
import { readdirSync, readFileSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import { isAtOrBelow, readMountTable } from "./mount-table.ts";
import { detachMounts } from "./layered-root.ts";

export const DEFAULT_STATE_BASE = "/run/portal-overlay";

const NAME = /^(\d+)-(\d+)$/;

export function stateDirFor(base: string, pid: number = process.pid): string {
  return join(base, `${pid}-${startTime(pid)}`);
}

/**
 * Unmounts and removes the state directories under `base` whose owner is
 * gone. Returns the directories cleaned.
 */
export function cleanStaleStateDirs(base: string): string[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch {
    return [];
  }
  const cleaned: string[] = [];
  for (const name of names) {
    const match = NAME.exec(name);
    if (!match) continue;
    const pid = Number(match[1]);
    if (startTime(pid) === match[2]) continue;
    const dir = join(base, name);
    if (readMountTable().some((m) => isAtOrBelow(m.mountPoint, dir))) detachMounts(dir);
    try {
      rmdirSync(dir);
    } catch {
      // Not empty or already gone: not ours to force.
    }
    cleaned.push(dir);
  }
  return cleaned;
}

/** Field 22 of /proc/PID/stat (clock ticks after boot), or "" if there is no such process. */
function startTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count from its end.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}
