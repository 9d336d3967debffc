// Resolving a program name the way execvp(3) does, but against the PATH of
// the environment the program will get (not the spawner's own), and with
// relative PATH entries (".", "bin", an empty one) taken from the program's
// cwd, not the spawner's.
import { statSync } from "node:fs";
import { accessReal } from "../libc/file.ts";
import { EACCES, ENOENT } from "../libc/errno-values.ts";
import { X_OK } from "../libc/constants.ts";

export const DEFAULT_PATH = new TextEncoder().encode("/usr/local/bin:/usr/bin:/bin");
const SLASH = 0x2f;
const COLON = 0x3a;
const PATH_PREFIX = new TextEncoder().encode("PATH=");

export type Lookup = { found: true; path: Uint8Array } | { found: false; errno: number };

/**
 * Finds `name` (bytes) in the PATH of `env`; a name containing '/' is used
 * as it is. A relative entry gives a relative result, which exec resolves
 * from the program's cwd; `base` is where the spawner finds that cwd to
 * check the candidate (its path, or /proc/self/fd/N for a directory fd).
 */
export function lookupProgram(name: Uint8Array, env: readonly Uint8Array[], base: Uint8Array | null = null): Lookup {
  if (name.length === 0) return { found: false, errno: ENOENT };
  if (name.includes(SLASH)) return { found: true, path: name };
  let sawEacces = false;
  for (const dir of splitPath(pathOf(env))) {
    const candidate = new Uint8Array(dir.length + 1 + name.length + (dir.length > 0 ? 0 : -1));
    let offset = 0;
    if (dir.length > 0) {
      candidate.set(dir);
      candidate[dir.length] = SLASH;
      offset = dir.length + 1;
    }
    candidate.set(name, offset);
    const code = accessExecutable(candidate[0] === SLASH || !base ? candidate : joinPath(base, candidate));
    if (code === 0) return { found: true, path: candidate };
    if (code === EACCES) sawEacces = true;
  }
  return { found: false, errno: sawEacces ? EACCES : ENOENT };
}

function joinPath(base: Uint8Array, rest: Uint8Array): Uint8Array {
  const out = new Uint8Array(base.length + 1 + rest.length);
  out.set(base);
  out[base.length] = SLASH;
  out.set(rest, base.length + 1);
  return out;
}

function pathOf(env: readonly Uint8Array[]): Uint8Array {
  for (const entry of env) {
    if (entry.length >= PATH_PREFIX.length && PATH_PREFIX.every((b, i) => entry[i] === b)) {
      return entry.subarray(PATH_PREFIX.length);
    }
  }
  return DEFAULT_PATH;
}

function* splitPath(path: Uint8Array): Generator<Uint8Array> {
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    if (i === path.length || path[i] === COLON) {
      // An empty PATH element means the current directory, as in execvp.
      yield path.subarray(start, i);
      start = i + 1;
    }
  }
}

/** 0 if `path` is an executable non-directory, else the errno that says why not. */
function accessExecutable(path: Uint8Array): number {
  const denied = accessReal(path, X_OK);
  if (denied !== 0) return denied;
  // access(X_OK) is true for searchable directories; execvp skips those too.
  try {
    const stat = statSync(Buffer.from(path));
    return stat.isDirectory() ? EACCES : 0;
  } catch {
    return ENOENT;
  }
}
