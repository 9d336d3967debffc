// What a sandboxed program may see: the objects its client granted, each
// checked here as the client (its uid, gid and groups, as the kernel
// recorded them at connect time) with the access it asked for. The client
// sends O_PATH fds, which need no permission on the object at all: without
// this check any client could grant itself anything the spawner can reach.
import { accessAs } from "../libc/file.ts";
import { asUser } from "../libc/credentials.ts";
import { strerror } from "../libc/system-error.ts";
import { R_OK, W_OK, X_OK } from "../libc/constants.ts";
import { statSync } from "node:fs";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { Refusal } from "./refusal.ts";
import type { PortalRequest } from "./request.ts";

export interface CheckedGrant {
  fd: OwnedFd;
  dest: Uint8Array;
  kind: "ro" | "rw" | "symlink";
}

const SLASH = 0x2f;

/**
 * The request's grants, each checked, in order; a Refusal for the first one
 * the client could not have opened with the access it asks for, or one that
 * would replace or shadow the spawner's fixed PROGRAM.
 */
export function checkGrants(request: PortalRequest, program: Uint8Array | null): CheckedGrant[] {
  const { uid, gid } = request.peer;
  const groups = request.peerGroups;
  return request.grants.map((grant) => {
    const dest = new TextDecoder().decode(grant.dest);
    // A grant at a directory above the program is fine: the program is bound on top of it, last.
    if (program && isAtOrBelow(grant.dest, program)) {
      throw new Refusal(`the grant at '${dest}' would replace the spawner's program '${new TextDecoder().decode(program)}'`);
    }
    if (grant.symlink) return { fd: grant.fd, dest: grant.dest, kind: "symlink" };
    const via = `/proc/self/fd/${grant.fd.fd}`;
    let directory = false;
    try {
      directory = statSync(via).isDirectory();
    } catch {
      throw new Refusal(`the grant at '${dest}' names nothing the spawner can reach`);
    }
    // A directory is read by listing and walking it (r and x); sockets are connected to with w.
    const writing = grant.writable || grant.objectWritable || grant.socket;
    const mode = (grant.socket ? 0 : R_OK) | (writing ? W_OK : 0) | (directory && !grant.socket ? X_OK : 0);
    const denied = asUser(uid, gid, groups, () => accessAs(via, mode));
    if (denied !== 0) {
      const what = grant.socket ? "connect to" : writing ? "read and write" : "read";
      throw new Refusal(`uid ${uid} may not ${what} what it granted at '${dest}': ${strerror(denied)}`);
    }
    const writable = grant.writable || grant.objectWritable;
    return { fd: grant.fd, dest: grant.dest, kind: writable ? "rw" : "ro" };
  });
}

/** The program's cwd in the sandbox: the client's, when it lies in a granted tree; else /. */
export function sandboxCwd(cwd: Uint8Array | null, grants: readonly CheckedGrant[]): Uint8Array {
  if (cwd && grants.some((g) => g.kind !== "symlink" && isAtOrBelow(cwd, g.dest))) return cwd;
  return new Uint8Array([SLASH]);
}

function isAtOrBelow(path: Uint8Array, dir: Uint8Array): boolean {
  if (path.length < dir.length || !dir.every((b, i) => path[i] === b)) return false;
  return path.length === dir.length || path[dir.length] === SLASH;
}
