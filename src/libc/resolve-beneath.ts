// Names looked up, made and linked beneath a directory fd, never through a
// symbolic link: openat2(2) with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
// (Linux 5.6), mkdirat(2) and symlinkat(2) of one component. A tree being
// built as root from what a client sent cannot be steered elsewhere by a
// link, not even by one swapped in between two calls.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { cString } from "./c-string.ts";
import { OwnedFd } from "./owned-fd.ts";
import { rawSyscall } from "./process.ts";
import { sys, sysOrErrno } from "./system-error.ts";
import { O_CLOEXEC, SYS } from "./constants.ts";

const { i32, u32, ptr: p } = FFIType;
const c = lazySymbols({
  mkdirat: { args: [i32, p, u32], returns: i32 },
  symlinkat: { args: [p, i32, p], returns: i32 },
});

const RESOLVE_NO_MAGICLINKS = 0x02;
const RESOLVE_NO_SYMLINKS = 0x04;
const RESOLVE_BENEATH = 0x08;

/**
 * `name` (one or more components) beneath `dir`, opened with `flags`;
 * -errno when it cannot be: ELOOP if any component is a symbolic link,
 * EXDEV if it would leave `dir` (an absolute name, or "..").
 */
export function tryOpenBeneath(dir: OwnedFd, name: string | Uint8Array, flags: number, mode = 0): OwnedFd | number {
  const z = cString(name);
  // struct open_how { u64 flags, u64 mode, u64 resolve }
  const how = new BigUint64Array([BigInt(flags | O_CLOEXEC), BigInt(mode), BigInt(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)]);
  const fd = rawSyscall(SYS.openat2, dir.fd, BigInt(ptr(z)), BigInt(ptr(how)), how.byteLength);
  return fd < 0 ? fd : new OwnedFd(fd);
}

/** mkdirat(2) of one component in `dir`: 0, or -errno (EEXIST when something, a link included, is there). */
export function tryMakeDirectoryAt(dir: OwnedFd, name: string | Uint8Array, mode: number): number {
  const z = cString(name);
  return sysOrErrno(() => c().mkdirat(dir.fd, ptr(z), mode));
}

/** symlinkat(2): a link named `name` in `dir` whose target text is `target`. */
export function makeSymlinkAt(target: Uint8Array, dir: OwnedFd, name: string | Uint8Array): void {
  const t = cString(target);
  const z = cString(name);
  sys("symlinkat", () => c().symlinkat(ptr(t), dir.fd, ptr(z)), `'${typeof name === "string" ? name : new TextDecoder().decode(name)}'`);
}
