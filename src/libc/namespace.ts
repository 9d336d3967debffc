// Namespaces and mounts, for the per-request sandbox (src/launch/sandbox-root.ts).
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { cString } from "./c-string.ts";
import { OwnedFd } from "./owned-fd.ts";
import { sys, SystemError } from "./system-error.ts";
import { rawSyscall } from "./process.ts";
import { AT_EMPTY_PATH, AT_FDCWD, AT_RECURSIVE, O_CLOEXEC, O_RDONLY, SYS } from "./constants.ts";

const { i32, u32, u64, ptr: p } = FFIType;
const c = lazySymbols({
  unshare: { args: [i32], returns: i32 },
  setns: { args: [i32, i32], returns: i32 },
  mount: { args: [p, p, p, u64, p], returns: i32 },
  umount2: { args: [p, i32], returns: i32 },
  open: { args: [p, i32, u32], returns: i32 },
});

/** Gives the calling thread new namespaces of the kinds in `flags` (CLONE_NEW*). */
export function unshareNamespaces(flags: number): void {
  sys("unshare", () => c().unshare(flags), `0x${flags.toString(16)}`);
}

/** This process's namespace of `kind` ("pid", "mnt", ...) as an fd, to return to it later. */
export function openNamespace(kind: string): OwnedFd {
  const z = cString(`/proc/self/ns/${kind}`);
  return new OwnedFd(sys("open", () => c().open(ptr(z), O_RDONLY | O_CLOEXEC, 0), `/proc/self/ns/${kind}`));
}

/** Moves the calling thread into the namespace `fd` refers to (for a pid namespace: its future children). */
export function enterNamespace(fd: OwnedFd, kind: number): void {
  sys("setns", () => c().setns(fd.fd, kind));
}

export function mount(source: string | Uint8Array | null, target: string | Uint8Array, type: string | null, flags: number, data: string | null = null): void {
  const s = source === null ? null : cString(source);
  const t = cString(target);
  const ty = type === null ? null : cString(type);
  const d = data === null ? null : cString(data);
  sys("mount", () => c().mount(s ? ptr(s) : null, ptr(t), ty ? ptr(ty) : null, BigInt(flags), d ? ptr(d) : null), `${display(source)} on ${display(target)}`);
}

export function unmount(target: string, flags: number): void {
  const t = cString(target);
  sys("umount2", () => c().umount2(ptr(t), flags), target);
}

/** pivot_root(2): `newRoot` becomes / and the old root is moved to `putOld`. */
export function pivotRoot(newRoot: string, putOld: string): void {
  const a = cString(newRoot);
  const b = cString(putOld);
  const rc = rawSyscall(SYS.pivot_root, BigInt(ptr(a)), BigInt(ptr(b)));
  if (rc < 0) throw new SystemError("pivot_root", -rc, `${newRoot} ${putOld}`);
}

/**
 * mount_setattr(2) (Linux 5.12) on `path` and every mount below it: sets
 * the MOUNT_ATTR_* bits in `set`. One call makes a whole bound tree
 * read-only, submounts included, which a bind remount cannot.
 */
export function setMountAttributes(path: string, set: number): void {
  const z = cString(path);
  // struct mount_attr { u64 attr_set, attr_clr, propagation, userns_fd }
  const attr = new BigUint64Array([BigInt(set), 0n, 0n, 0n]);
  const rc = rawSyscall(SYS.mount_setattr, AT_FDCWD, BigInt(ptr(z)), AT_RECURSIVE, BigInt(ptr(attr)), 32);
  if (rc < 0) throw new SystemError("mount_setattr", -rc, path);
}

const OPEN_TREE_CLONE = 1;
const MOVE_MOUNT_F_EMPTY_PATH = 4;
const MOVE_MOUNT_T_EMPTY_PATH = 0x40;

/**
 * A detached copy of the mount tree at the object `fd` refers to (open_tree
 * with OPEN_TREE_CLONE, Linux 5.2), submounts included: what bind mounting
 * that very object needs, whatever its path means elsewhere. Works only in
 * the mount namespace the object belongs to: -errno (EINVAL) otherwise.
 */
export function tryCloneTree(fd: number): OwnedFd | number {
  const empty = cString("");
  const rc = rawSyscall(SYS.open_tree, fd, BigInt(ptr(empty)), OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  return rc < 0 ? rc : new OwnedFd(rc);
}

/**
 * mount_setattr(2) on a detached tree (from tryCloneTree) and every mount in
 * it, before it is attached anywhere: no path is looked up.
 */
export function setTreeAttributes(tree: OwnedFd, set: number): void {
  const empty = cString("");
  const attr = new BigUint64Array([BigInt(set), 0n, 0n, 0n]);
  const rc = rawSyscall(SYS.mount_setattr, tree.fd, BigInt(ptr(empty)), AT_EMPTY_PATH | AT_RECURSIVE, BigInt(ptr(attr)), 32);
  if (rc < 0) throw new SystemError("mount_setattr", -rc, `fd ${tree.fd}`);
}

/**
 * Attaches a detached tree on the very file or directory `target` is an fd
 * of (an O_PATH fd from tryOpenBeneath): no path is looked up, so no
 * symbolic link can move the mount elsewhere.
 */
export function attachTreeAt(tree: OwnedFd, target: OwnedFd, shown: string): void {
  const empty = cString("");
  const rc = rawSyscall(SYS.move_mount, tree.fd, BigInt(ptr(empty)), target.fd, BigInt(ptr(empty)), MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  if (rc < 0) throw new SystemError("move_mount", -rc, shown);
}

function display(value: string | Uint8Array | null): string {
  if (value === null) return "none";
  return `'${typeof value === "string" ? value : new TextDecoder().decode(value)}'`;
}
