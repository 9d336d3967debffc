// This process's argv, environment and cwd as the kernel holds them: bytes,
// not the UTF-8-decoded strings of process.argv / process.env.
//
// Read with libc through bun:ffi, which the client loads anyway: importing
// node:fs costs a client ~3 ms of start-up, more than everything else it does
// before connecting (docs/performance.md).
import { ptr } from "bun:ffi";
import { libc } from "../libc/libc.ts";
import { check, errno, EINTR, SystemError } from "../libc/errno.ts";
import { O_CLOEXEC, O_RDONLY } from "../libc/constants.ts";
import { splitAtNul } from "../protocol/nul-strings.ts";

const encoder = new TextEncoder();

function cPath(path: string): Uint8Array {
  return encoder.encode(`${path}\0`);
}

/** The whole content of a (small, /proc) file. Its size is unknown up front: read until EOF. */
export function readWholeFile(path: string): Uint8Array {
  const fd = check(libc.open(ptr(cPath(path)), O_RDONLY | O_CLOEXEC, 0), "open", path);
  try {
    let buffer = new Uint8Array(16 * 1024);
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const bigger = new Uint8Array(buffer.length * 2);
        bigger.set(buffer);
        buffer = bigger;
      }
      const got = Number(libc.read(fd, ptr(buffer, length), buffer.length - length));
      if (got === 0) return buffer.subarray(0, length);
      if (got < 0) {
        const code = errno();
        if (code !== EINTR) throw new SystemError("read", code, path);
        continue;
      }
      length += got;
    }
  } finally {
    libc.close(fd);
  }
}

/** The target of a symbolic link (a /proc magic link), as bytes. */
export function readLink(path: string): Uint8Array {
  const name = cPath(path);
  for (let size = 4096; ; size *= 4) {
    const buffer = new Uint8Array(size);
    const got = Number(check(libc.readlink(ptr(name), ptr(buffer), size), "readlink", path));
    // A full buffer may mean a cut-off target: retry with more room.
    if (got < size) return buffer.slice(0, got);
  }
}

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
