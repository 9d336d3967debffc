// When a process started, in clock ticks since boot (/proc/PID/stat field
// 22): with its pid, it names one process instance, never a later one that
// got the same pid.
import { readWholeFile } from "../libc/file.ts";

/** The start time of process `pid` ("self" for this one), or null if it does not exist (any more). */
export function processStartTicks(pid: number | "self"): bigint | null {
  let stat: string;
  try {
    stat = new TextDecoder().decode(readWholeFile(`/proc/${pid}/stat`));
  } catch {
    return null;
  }
  // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = fields[19];
  return ticks && /^\d+$/.test(ticks) ? BigInt(ticks) : null;
}
