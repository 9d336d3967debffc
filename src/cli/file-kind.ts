// What kind of file an fd refers to, without node:fs (its import costs a
// client ~3 ms of start-up): the target of its /proc/self/fd link.
import { readLink } from "../libc/file.ts";

function linkTarget(fd: number): string | null {
  try {
    return new TextDecoder().decode(readLink(`/proc/self/fd/${fd}`));
  } catch {
    return null;
  }
}

/** True when `fd` is a pipe or a socket (its link reads `pipe:[N]`, `socket:[N]`). */
export function isPipeOrSocket(fd: number): boolean {
  const target = linkTarget(fd);
  return target !== null && (target.startsWith("pipe:[") || target.startsWith("socket:["));
}

/** True when `fd` is an ordinary file (not a pipe, socket, terminal, device or anonymous inode). */
export function isRegularFile(fd: number): boolean {
  const target = linkTarget(fd);
  return target !== null && target.startsWith("/") && !target.startsWith("/dev/") && !target.endsWith(" (deleted)");
}
