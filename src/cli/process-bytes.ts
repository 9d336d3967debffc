// This process's argv, environment and cwd as the kernel holds them: bytes,
// not the UTF-8-decoded strings of process.argv / process.env.
//
// Read with libc through bun:ffi, which the client loads anyway: importing
// node:fs costs a client ~3 ms of start-up, more than everything else it does
// before connecting (docs/performance.md).
import { readLink, readWholeFile } from "../libc/file.ts";
import { splitAtNul } from "../protocol/nul-strings.ts";

/** The user's arguments (what process.argv.slice(2) decodes), as bytes. */
export function argumentBytes(): Uint8Array[] {
  const all = splitAtNul(readWholeFile("/proc/self/cmdline"));
  const count = process.argv.length - 2;
  // The runtime's own arguments (bun, flags, script) come first; ours are the tail.
  return count > 0 ? all.slice(all.length - count) : [];
}

export function environmentBytes(): Uint8Array[] {
  return splitAtNul(readWholeFile("/proc/self/environ"));
}

export function cwdBytes(): Uint8Array {
  return readLink("/proc/self/cwd");
}
