// errno handled once: every wrapper in this folder calls libc through one of
// the helpers below, which read errno right after the failing call (before
// any other FFI call could overwrite it), retry EINTR, and either throw a
// SystemError that keeps the call's name and errno, or hand the errno back
// as a value when failure is an ordinary answer (EAGAIN, ESRCH, ...).
import { CString, FFIType, read } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { EINTR, errnoName } from "./errno-values.ts";

const c = lazySymbols({
  __errno_location: { args: [], returns: FFIType.ptr },
  strerror: { args: [FFIType.i32], returns: FFIType.ptr },
});

/** errno of the call that just failed (read it before any other FFI call). */
export function lastErrno(): number {
  return read.i32(c().__errno_location()!, 0);
}

/** The C library's own wording, e.g. "No such file or directory". */
export function strerror(code: number): string {
  const p = c().strerror(code);
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

/**
 * Runs a libc call that returns -1 and sets errno on failure, retrying when
 * a signal interrupted it. Returns the result; throws SystemError otherwise.
 */
export function sys<T extends number | bigint>(name: string, call: () => T, detail?: string): T {
  for (;;) {
    const result = call();
    if (Number(result) !== -1) return result;
    const code = lastErrno();
    if (code !== EINTR) throw new SystemError(name, code, detail);
  }
}

/** Like sys(), but a failure comes back as -errno instead of a throw. */
export function sysOrErrno(call: () => number | bigint): number {
  for (;;) {
    const result = Number(call());
    if (result !== -1) return result;
    const code = lastErrno();
    if (code !== EINTR) return -code;
  }
}

/** For calls that return an error number instead of setting errno (posix_spawn and its helpers). */
export function checkReturned(name: string, rc: number, detail?: string): void {
  if (rc !== 0) throw new SystemError(name, rc, detail);
}

/** One attempt, no retry: -errno on failure (EINTR included, for waits a signal must be able to end). */
export function sysOnce(call: () => number | bigint): number {
  const result = Number(call());
  return result === -1 ? -lastErrno() : result;
}
