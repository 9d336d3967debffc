// What a sandboxed program may see: the objects its client granted, each
// checked here as the client (its uid, gid and groups, as the kernel
// recorded them at connect time) with the access it asked for. The client
// sends O_PATH fds, which need no permission on the object at all: without
// this check any client could grant itself anything the spawner can reach.
import { accessAs } from "../libc/file.ts";
import { asUser } from "../libc/credentials.ts";
import { strerror } from "../libc/system-error.ts";
import { R_OK, W_OK, X_OK } from "../libc/constants.ts";
import { fstatSync, statSync } from "node:fs";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { Refusal } from "./refusal.ts";
import type { PortalRequest } from "./request.ts";

export interface CheckedGrant {
  fd: OwnedFd;
  dest: Uint8Array;
  kind: "ro" | "rw" | "symlink";
}

/** Where a grant may be placed, as the sandbox's file tree sees it: only `dest` and whether it is a link matter. */
export interface GrantPlace {
  dest: Uint8Array;
  symlink?: boolean;
}

const SLASH = 0x2f;
const decoder = new TextDecoder();
const show = (path: Uint8Array) => decoder.decode(path);

/** The sandbox's own directories: /dev holds its devices (grants may add to it), /proc its processes. */
const OWN_EXACTLY = ["/dev", "/dev/pts", "/proc"].map((p) => new TextEncoder().encode(p));
const OWN_TREES = ["/dev/pts", "/proc"].map((p) => new TextEncoder().encode(p));

/**
 * The request's grants, each checked, in order; a Refusal for the first one
 * the client could not have opened with the access it asks for, one placed
 * where the sandbox's tree cannot take it, or one that would replace or
 * shadow the spawner's fixed PROGRAM.
 */
export function checkGrants(request: PortalRequest, program: Uint8Array | null): CheckedGrant[] {
  const misplaced = placementRefusal(request.grants, program);
  if (misplaced) throw new Refusal(misplaced);
  const { uid, gid } = request.peer;
  const groups = request.peerGroups;
  return request.grants.map((grant) => {
    const dest = show(grant.dest);
    if (grant.symlink) {
      if (grant.writable || grant.objectWritable || grant.socket) {
        throw new Refusal(`the symbolic link granted at '${dest}' carries access flags: a link has no access of its own`);
      }
      if (!isSymlinkFd(grant.fd)) throw new Refusal(`the grant at '${dest}' is flagged as a symbolic link, but its fd is not one (open it with O_PATH | O_NOFOLLOW)`);
      return { fd: grant.fd, dest: grant.dest, kind: "symlink" };
    }
    const via = `/proc/self/fd/${grant.fd.fd}`;
    let object: "directory" | "socket" | "other";
    try {
      const stat = statSync(via);
      object = stat.isDirectory() ? "directory" : stat.isSocket() ? "socket" : "other";
    } catch {
      throw new Refusal(`the grant at '${dest}' names nothing the spawner can reach`);
    }
    const writing = Boolean(grant.writable || grant.objectWritable);
    const mode = accessMode(object, writing, grant.socket ?? false);
    const denied = asUser(uid, gid, groups, () => accessAs(via, mode));
    if (denied !== 0) {
      const what = writing ? "read and write" : grant.socket && object === "socket" ? "connect to" : "read";
      throw new Refusal(`uid ${uid} may not ${what} what it granted at '${dest}': ${strerror(denied)}`);
    }
    return { fd: grant.fd, dest: grant.dest, kind: writing ? "rw" : "ro" };
  });
}

/**
 * The access(2) mode a grant needs. A directory is read by listing and
 * walking it (r and x); a unix socket is connected to with w, so a socket
 * grant of one asks for w alone; a socket grant of a directory only walks
 * it (its sockets are checked by the kernel at connect, as the program's
 * user), and of anything else only reads it.
 */
function accessMode(object: "directory" | "socket" | "other", writing: boolean, socket: boolean): number {
  const walk = object === "directory" ? X_OK : 0;
  if (writing) return R_OK | W_OK | walk;
  if (socket && object === "socket") return W_OK;
  return R_OK | walk;
}

function isSymlinkFd(fd: OwnedFd): boolean {
  try {
    return fstatSync(fd.fd).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * Why these grants cannot all be placed in one tree, or null. The sandbox
 * builds every destination's directories as directories, never through a
 * symbolic link (pola-run's rule for -t): a grant below a granted link, or
 * a link above an earlier grant, is refused, whatever the order. /dev and
 * /proc themselves are the sandbox's own.
 */
export function placementRefusal(grants: readonly GrantPlace[], program: Uint8Array | null): string | null {
  for (const [i, grant] of grants.entries()) {
    const dest = show(grant.dest);
    if (OWN_EXACTLY.some((own) => bytesEqual(grant.dest, own)) || OWN_TREES.some((own) => isAtOrBelow(grant.dest, own))) {
      return `the grant at '${dest}' would cover the sandbox's own ${dest.startsWith("/proc") ? "/proc" : "/dev"} (grants may add files to /dev, not replace it)`;
    }
    // A grant at a directory above the program is fine: the program is bound on top of it, last.
    if (program && isAtOrBelow(grant.dest, program)) {
      return `the grant at '${dest}' would replace the spawner's program '${show(program)}'`;
    }
    if (program && grant.symlink && isAtOrBelow(program, grant.dest)) {
      return `the symbolic link granted at '${dest}' would replace a directory holding the spawner's program '${show(program)}'`;
    }
    for (const earlier of grants.slice(0, i)) {
      if (earlier.symlink && isAtOrBelow(grant.dest, earlier.dest)) {
        return `the grant at '${dest}' lies under the symbolic link granted at '${show(earlier.dest)}': a destination's directories must be directories, not links`;
      }
      if (grant.symlink && isAtOrBelow(earlier.dest, grant.dest)) {
        return `the symbolic link granted at '${dest}' would replace the directory holding the grant at '${show(earlier.dest)}'`;
      }
    }
  }
  return null;
}

/**
 * The program's cwd in the sandbox: the client's, when that path exists
 * there (inside a granted tree, or one of the directories made to hold a
 * grant); else /.
 */
export function sandboxCwd(cwd: Uint8Array | null, grants: readonly CheckedGrant[]): Uint8Array {
  if (cwd && grants.some((g) => (g.kind !== "symlink" && isAtOrBelow(cwd, g.dest)) || isBelow(g.dest, cwd))) return cwd;
  return new Uint8Array([SLASH]);
}

function isAtOrBelow(path: Uint8Array, dir: Uint8Array): boolean {
  if (path.length < dir.length || !dir.every((b, i) => path[i] === b)) return false;
  return path.length === dir.length || path[dir.length] === SLASH;
}

function isBelow(path: Uint8Array, dir: Uint8Array): boolean {
  if (dir.length === 1 && dir[0] === SLASH) return path.length > 1;
  return path.length > dir.length && isAtOrBelow(path, dir);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
