// What kind of file an fd refers to, without node:fs (its import costs a
// client ~3 ms of start-up): the target of its /proc/self/fd link.
import { readLink } from "../libc/file.ts";

/** True when `fd` is an ordinary file (not a pipe, socket, terminal, device or anonymous inode). */
export function isRegularFile(fd: number): boolean {
  let target: string;
  try {
    target = new TextDecoder().decode(readLink(`/proc/self/fd/${fd}`));
  } catch {
    return false;
  }
  return target.startsWith("/") && !target.startsWith("/dev/") && !target.endsWith(" (deleted)");
}
