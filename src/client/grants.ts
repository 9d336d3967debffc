// Grants for a sandboxing spawner (pola-run's model): the client opens each
// path itself, so a program can only be granted what this caller can reach,
// and passes an O_PATH fd the spawner binds into the sandbox. O_PATH alone
// needs no read permission, so read (and, for read-write, write) access is
// checked here, as this caller, through the opened fd.
import { strerror } from "../libc/system-error.ts";
import { closeAll, type OwnedFd } from "../libc/owned-fd.ts";
import { accessAs, readLinkAt, tryOpenFile } from "../libc/file.ts";
import { O_NOFOLLOW, O_PATH, R_OK, W_OK } from "../libc/constants.ts";
import { isNormalAbsolutePath, type GrantSpec } from "../protocol/v2.ts";
import { PortalError } from "./errors.ts";
import { toBytes, type Bytes } from "./request-input.ts";

export interface GrantInput {
  /** What to grant, as this process names it (relative paths start at its cwd). Symlinks are followed. */
  path: Bytes;
  /** Where the program sees it. Default: the absolute form of `path`. */
  dest?: Bytes;
  /** Read-write; default read-only. */
  writable?: boolean;
  /** Read-write access to the object only, never its slot: for a device such as /dev/null (pola-run's `objrw`). */
  objectWritable?: boolean;
  /** A unix socket to connect to, or a directory of them, without write access to anything (pola-run's `socket`). */
  socket?: boolean;
  /**
   * Grant the symbolic link `path` names itself (re-created at `dest` with
   * the same target text), not what it points to. Grant the target too for
   * the link to lead anywhere (pola-run's `l`).
   */
  symlink?: boolean;
}

export interface OpenGrant extends GrantSpec {
  fd: OwnedFd;
}

/**
 * `path` made absolute against this process's cwd, with "." and ".."
 * resolved by name (as pola-run does), byte for byte. (No node:path: the
 * client's start-up pays for every module it loads.)
 */
export function absoluteGrantPath(path: Bytes): Uint8Array {
  const bytes = toBytes(path);
  const latin1 = Buffer.from(bytes).toString("latin1");
  const joined = latin1.startsWith("/") ? latin1 : `${Buffer.from(process.cwd()).toString("latin1")}/${latin1}`;
  const parts: string[] = [];
  for (const part of joined.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return Buffer.from(`/${parts.join("/")}`, "latin1");
}

/** Opens every grant or none: the first that fails closes the others and throws. */
export function openGrants(inputs: readonly GrantInput[]): OpenGrant[] {
  const opened: OpenGrant[] = [];
  try {
    for (const input of inputs) opened.push(openGrant(input));
    return opened;
  } catch (error) {
    closeAll(opened.map((g) => g.fd));
    throw error;
  }
}

function openGrant(input: GrantInput): OpenGrant {
  const path = toBytes(input.path);
  const shown = new TextDecoder().decode(path);
  const dest = input.dest === undefined ? absoluteGrantPath(path) : toBytes(input.dest);
  if (!isNormalAbsolutePath(dest)) {
    throw new PortalError("usage", `cannot grant '${shown}' at '${new TextDecoder().decode(dest)}': the destination must be an absolute path other than /, without '.' or '..'`);
  }
  const fd = tryOpenFile(path, O_PATH | (input.symlink ? O_NOFOLLOW : 0));
  if (typeof fd === "number") throw new PortalError("usage", `cannot grant '${shown}': ${strerror(-fd)}`);
  if (input.symlink) {
    if (!isSymlink(fd)) {
      fd.close();
      throw new PortalError("usage", `cannot grant '${shown}' as a symbolic link: it is not one`);
    }
    return { fd, dest, writable: false, symlink: true };
  }
  const writable = input.writable ?? false;
  const objectWritable = input.objectWritable ?? false;
  const socket = input.socket ?? false;
  const via = `/proc/self/fd/${fd.fd}`;
  const writing = writable || objectWritable;
  // A socket is connected to with write permission; a directory of sockets is only walked (the spawner checks exactly).
  const code = socket && !writing && accessAs(via, W_OK) === 0 ? 0 : accessAs(via, R_OK | (writing ? W_OK : 0));
  if (code !== 0) {
    fd.close();
    throw new PortalError("usage", `cannot grant '${shown}'${writing ? " read-write" : ""}: ${strerror(code)}`);
  }
  return { fd, dest, writable, objectWritable, socket };
}

function isSymlink(fd: OwnedFd): boolean {
  try {
    readLinkAt(fd.fd);
    return true;
  } catch {
    return false;
  }
}
