// errno must be read right after the failing call, before any other FFI call
// could overwrite it.
import { CString, read } from "bun:ffi";
import { libc } from "./libc.ts";

export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EBADF = 9;
export const ECHILD = 10;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EEXIST = 17;
export const ENOTDIR = 20;
export const EISDIR = 21;
export const EINVAL = 22;
export const EMFILE = 24;
export const ENOEXEC = 8;
export const EPIPE = 32;
export const ENAMETOOLONG = 36;
export const ELOOP = 40;
export const ENOTSOCK = 88;
export const EMSGSIZE = 90;
export const EPROTOTYPE = 91;
export const EADDRINUSE = 98;
export const ECONNRESET = 104;
export const ECONNREFUSED = 111;
export const EINPROGRESS = 115;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM", 2: "ENOENT", 3: "ESRCH", 4: "EINTR", 8: "ENOEXEC", 9: "EBADF", 10: "ECHILD",
  11: "EAGAIN", 12: "ENOMEM", 13: "EACCES", 17: "EEXIST", 20: "ENOTDIR", 21: "EISDIR",
  22: "EINVAL", 24: "EMFILE", 26: "ETXTBSY", 32: "EPIPE", 36: "ENAMETOOLONG", 40: "ELOOP",
  88: "ENOTSOCK", 90: "EMSGSIZE", 91: "EPROTOTYPE", 98: "EADDRINUSE", 104: "ECONNRESET",
  111: "ECONNREFUSED", 115: "EINPROGRESS",
};

export function errno(): number {
  return read.i32(libc.__errno_location()!, 0);
}

export function errnoName(code: number): string {
  return ERRNO_NAMES[code] ?? `errno ${code}`;
}

/** The C library's own wording, e.g. "No such file or directory". */
export function strerror(code: number): string {
  const p = libc.strerror(code);
  return p ? new CString(p).toString() : `errno ${code}`;
}

/** A failed system call: keeps the call's name and errno for callers to branch on. */
export class SystemError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    detail?: string,
  ) {
    super(`${syscall}${detail ? ` ${detail}` : ""}: ${strerror(errno)} (${errnoName(errno)})`);
    this.name = "SystemError";
  }
}

/** Throws SystemError when a libc call returned -1; returns the result otherwise. */
export function check<T extends number | bigint>(result: T, syscall: string, detail?: string): T {
  if (Number(result) === -1) throw new SystemError(syscall, errno(), detail);
  return result;
}
