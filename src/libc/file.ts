// Files and fds: opening returns an OwnedFd; reads and writes report "again"
// as a value on non-blocking fds; flags are read and set by name.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { cString } from "./c-string.ts";
import { OwnedFd } from "./owned-fd.ts";
import { EAGAIN } from "./errno-values.ts";
import { sys, sysOrErrno, SystemError } from "./system-error.ts";
import {
  AT_EACCESS, AT_FDCWD, EFD_CLOEXEC, EFD_NONBLOCK, FD_CLOEXEC, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL,
  MFD_CLOEXEC, O_CLOEXEC, O_NONBLOCK,
} from "./constants.ts";

const { i32, u32, i64, u64, ptr: p } = FFIType;
const c = lazySymbols({
  open: { args: [p, i32, u32], returns: i32 },
  read: { args: [i32, p, u64], returns: i64 },
  pread: { args: [i32, p, u64, i64], returns: i64 },
  pwrite: { args: [i32, p, u64, i64], returns: i64 },
  write: { args: [i32, p, u64], returns: i64 },
  fcntl: { args: [i32, i32, i64], returns: i32 },
  pipe2: { args: [p, i32], returns: i32 },
  eventfd: { args: [u32, i32], returns: i32 },
  memfd_create: { args: [p, u32], returns: i32 },
  dup3: { args: [i32, i32, i32], returns: i32 },
  readlink: { args: [p, p, u64], returns: i64 },
  readlinkat: { args: [i32, p, p, u64], returns: i64 },
  faccessat: { args: [i32, p, i32, i32], returns: i32 },
  chdir: { args: [p], returns: i32 },
  fchdir: { args: [i32], returns: i32 },
  umask: { args: [u32], returns: u32 },
  flock: { args: [i32, i32], returns: i32 },
});

const LOCK_EX = 2;
const LOCK_NB = 4;

export function openFile(path: string | Uint8Array, flags: number, mode = 0): OwnedFd {
  const z = cString(path);
  return new OwnedFd(sys("open", () => c().open(ptr(z), flags | O_CLOEXEC, mode), display(path)));
}

/** Like openFile, but -errno instead of a throw (a path that may legitimately be missing). */
export function tryOpenFile(path: string | Uint8Array, flags: number, mode = 0): OwnedFd | number {
  const z = cString(path);
  const fd = sysOrErrno(() => c().open(ptr(z), flags | O_CLOEXEC, mode));
  return fd >= 0 ? new OwnedFd(fd) : fd;
}

/** [read end, write end], both close-on-exec. */
export function pipe(flags = 0): [OwnedFd, OwnedFd] {
  const ends = new Int32Array(2);
  sys("pipe2", () => c().pipe2(ptr(ends), O_CLOEXEC | flags));
  return [new OwnedFd(ends[0]!), new OwnedFd(ends[1]!)];
}

export function eventFd(): OwnedFd {
  return new OwnedFd(sys("eventfd", () => c().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
}

/** An anonymous memory file (memfd), close-on-exec. */
export function memFd(name: string): OwnedFd {
  const z = cString(name);
  return new OwnedFd(sys("memfd_create", () => c().memfd_create(ptr(z), MFD_CLOEXEC)));
}

/** Bytes read into `buffer` at `offset`, 0 at end of file, or "again" on an empty non-blocking fd. */
export function readInto(fd: number, buffer: Uint8Array, offset = 0): number | "again" {
  const n = sysOrErrno(() => c().read(fd, ptr(buffer, offset), buffer.length - offset));
  if (n === -EAGAIN) return "again";
  if (n < 0) throw new SystemError("read", -n, `fd ${fd}`);
  return n;
}

/** Like readInto, but -errno comes back as a value (EIO from a hung-up terminal is an answer). */
export function tryRead(fd: number, buffer: Uint8Array, offset = 0): number {
  return sysOrErrno(() => c().read(fd, ptr(buffer, offset), buffer.length - offset));
}

/** Reads at file position `position` (the fd's own offset is left alone). */
export function readAt(fd: number, buffer: Uint8Array, position: number): number {
  return Number(sys("pread", () => c().pread(fd, ptr(buffer), buffer.length, position), `fd ${fd}`));
}

/** Writes all of `bytes` at file position `position` (the fd's own offset is left alone). */
export function writeAt(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length; ) {
    done += Number(sys("pwrite", () => c().pwrite(fd, ptr(bytes, done), bytes.length - done, position + done), `fd ${fd}`));
  }
}

/** Bytes written, or "again" on a full non-blocking fd. */
export function writeFrom(fd: number, bytes: Uint8Array, offset = 0): number | "again" {
  if (bytes.length - offset === 0) return 0;
  const n = sysOrErrno(() => c().write(fd, ptr(bytes, offset), bytes.length - offset));
  if (n === -EAGAIN) return "again";
  if (n < 0) throw new SystemError("write", -n, `fd ${fd}`);
  return n;
}

/** Like writeFrom, but -errno comes back as a value (EPIPE, EIO). */
export function tryWrite(fd: number, bytes: Uint8Array, offset = 0): number {
  if (bytes.length - offset === 0) return 0;
  return sysOrErrno(() => c().write(fd, ptr(bytes, offset), bytes.length - offset));
}

/** Writes all of `bytes` to a blocking fd. */
export function writeAll(fd: number, bytes: Uint8Array): void {
  for (let done = 0; done < bytes.length; ) {
    const n = writeFrom(fd, bytes, done);
    if (n === "again") throw new SystemError("write", EAGAIN, `fd ${fd}`);
    done += n;
  }
}

/** The whole content of a small file (a /proc file, whose size is unknown up front). */
export function readWholeFile(path: string): Uint8Array {
  using fd = openFile(path, 0);
  let buffer = new Uint8Array(16 * 1024);
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      const bigger = new Uint8Array(buffer.length * 2);
      bigger.set(buffer);
      buffer = bigger;
    }
    const got = readInto(fd.fd, buffer, length);
    if (got === "again") throw new SystemError("read", EAGAIN, path);
    if (got === 0) return buffer.subarray(0, length);
    length += got;
  }
}

/** The target of a symbolic link (a /proc magic link), as bytes. */
export function readLink(path: string | Uint8Array): Uint8Array {
  const name = cString(path);
  for (let size = 4096; ; size *= 4) {
    const buffer = new Uint8Array(size);
    const got = Number(sys("readlink", () => c().readlink(ptr(name), ptr(buffer), size), display(path)));
    // A full buffer may mean a cut-off target: retry with more room.
    if (got < size) return buffer.slice(0, got);
  }
}

/** The target of the symbolic link that `fd` (opened with O_PATH | O_NOFOLLOW) is. */
export function readLinkAt(fd: number): Uint8Array {
  const empty = new Uint8Array(1);
  for (let size = 4096; ; size *= 4) {
    const buffer = new Uint8Array(size);
    const got = Number(sys("readlinkat", () => c().readlinkat(fd, ptr(empty), ptr(buffer), size), `fd ${fd}`));
    if (got < size) return buffer.slice(0, got);
  }
}

/** A new close-on-exec fd for the same open file, numbered `min` or above. */
export function duplicate(fd: number, min = 0): OwnedFd {
  return new OwnedFd(sys("fcntl(F_DUPFD_CLOEXEC)", () => c().fcntl(fd, F_DUPFD_CLOEXEC, min), `fd ${fd}`));
}

/** Puts the open file of `fd` at number `target` (replacing what was there), close-on-exec if asked. */
export function duplicateTo(fd: number, target: number, closeOnExec: boolean): void {
  sys("dup3", () => c().dup3(fd, target, closeOnExec ? O_CLOEXEC : 0), `${fd} -> ${target}`);
}

/** FD_CLOEXEC of `fd`, or null if `fd` is not open. */
export function closeOnExec(fd: number): boolean | null {
  const flags = sysOrErrno(() => c().fcntl(fd, F_GETFD, 0));
  return flags < 0 ? null : (flags & FD_CLOEXEC) !== 0;
}

export function isOpen(fd: number): boolean {
  return closeOnExec(fd) !== null;
}

export function setCloseOnExec(fd: number, on: boolean): void {
  const flags = sys("fcntl(F_GETFD)", () => c().fcntl(fd, F_GETFD, 0), `fd ${fd}`);
  sys("fcntl(F_SETFD)", () => c().fcntl(fd, F_SETFD, on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC), `fd ${fd}`);
}

/** The open file's status flags (O_ACCMODE, O_NONBLOCK, ...). */
export function statusFlags(fd: number): number {
  return sys("fcntl(F_GETFL)", () => c().fcntl(fd, F_GETFL, 0), `fd ${fd}`);
}

export function setNonBlocking(fd: number, on: boolean): void {
  const flags = statusFlags(fd);
  sys("fcntl(F_SETFL)", () => c().fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK), `fd ${fd}`);
}

/**
 * Whether this thread's credentials allow `mode` (R_OK, W_OK, X_OK) on
 * `path`: 0, or the errno that says why not. Uses the effective (and, on
 * Linux, filesystem) ids, so a thread that switched its fsuid asks as that user.
 */
export function accessAs(path: string | Uint8Array, mode: number, dirFd = AT_FDCWD): number {
  const z = cString(path);
  const rc = sysOrErrno(() => c().faccessat(dirFd, ptr(z), mode, AT_EACCESS));
  return rc < 0 ? -rc : 0;
}

/** 0 if `path` passes access(2) for `mode` with the real ids, else the errno. */
export function accessReal(path: string | Uint8Array, mode: number): number {
  const z = cString(path);
  const rc = sysOrErrno(() => c().faccessat(AT_FDCWD, ptr(z), mode, 0));
  return rc < 0 ? -rc : 0;
}

export function changeDirectory(path: string | Uint8Array): void {
  const z = cString(path);
  sys("chdir", () => c().chdir(ptr(z)), display(path));
}

/**
 * Takes an exclusive flock(2) on `fd` without waiting: false if another
 * open file holds it. The lock belongs to the open file, so it lasts while
 * any process (a child that inherited the fd) keeps that file open.
 */
export function tryLockExclusive(fd: number): boolean {
  const rc = sysOrErrno(() => c().flock(fd, LOCK_EX | LOCK_NB));
  if (rc === 0) return true;
  if (rc === -EAGAIN) return false;
  throw new SystemError("flock", -rc, `fd ${fd}`);
}

/** Changes the working directory to the directory open at `fd`. */
export function changeDirectoryTo(fd: number): void {
  sys("fchdir", () => c().fchdir(fd), `fd ${fd}`);
}

/** Sets the process's umask and returns the previous one. */
export function setUmask(mask: number): number {
  return c().umask(mask & 0o777);
}

function display(path: string | Uint8Array): string {
  return `'${typeof path === "string" ? path : new TextDecoder().decode(path)}'`;
}
