// This process's argv, environment and cwd as the kernel holds them: bytes,
// not the UTF-8-decoded strings of process.argv / process.env.
import { readFileSync, readlinkSync } from "node:fs";

function splitNul(bytes: Uint8Array): Uint8Array[] {
  const items: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === 0) {
      items.push(bytes.subarray(start, i));
      start = i + 1;
    }
  }
  if (start < bytes.length) items.push(bytes.subarray(start));
  return items;
}

/** The user's arguments (what process.argv.slice(2) decodes), as bytes. */
export function argumentBytes(): Uint8Array[] {
  const all = splitNul(readFileSync("/proc/self/cmdline"));
  const count = process.argv.length - 2;
  // The runtime's own arguments (bun, flags, script) come first; ours are the tail.
  return count > 0 ? all.slice(all.length - count) : [];
}

export function environmentBytes(): Uint8Array[] {
  return splitNul(readFileSync("/proc/self/environ"));
}

export function cwdBytes(): Uint8Array {
  return readlinkSync("/proc/self/cwd", { encoding: "buffer" });
}
