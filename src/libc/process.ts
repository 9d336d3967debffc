// Processes: pidfds, waiting, signalling, resource limits and the calls a
// process makes on itself right before exec.
import { FFIType, ptr, type Pointer } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { OwnedFd } from "./owned-fd.ts";
import { ESRCH } from "./errno-values.ts";
import { lastErrno, sys, sysOrErrno, SystemError } from "./system-error.ts";
import { SigInfo } from "./siginfo.ts";
import { P_PIDFD, SYS } from "./constants.ts";
import { readWholeFile } from "./file.ts";

const { i32, u32, i64, u64, ptr: p } = FFIType;
const c = lazySymbols({
  syscall: { args: [i64, i64, i64, i64, i64, i64], returns: i64 },
  getpid: { args: [], returns: i32 },
  getpgrp: { args: [], returns: i32 },
  getuid: { args: [], returns: u32 },
  kill: { args: [i32, i32], returns: i32 },
  waitid: { args: [i32, i32, p, i32], returns: i32 },
  getrlimit: { args: [i32, p], returns: i32 },
  setrlimit: { args: [i32, p], returns: i32 },
  prlimit: { args: [i32, i32, p, p], returns: i32 },
  prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
  execve: { args: [p, p, p], returns: i32 },
  fexecve: { args: [i32, p, p], returns: i32 },
  _exit: { args: [i32], returns: FFIType.void },
});

export function getPid(): number {
  return c().getpid();
}

export function getProcessGroup(): number {
  return c().getpgrp();
}

/** kill(2): false if no such process (group) exists any more; throws on anything else. */
export function sendSignal(pid: number, signal: number): boolean {
  const rc = sysOrErrno(() => c().kill(pid, signal));
  if (rc === 0) return true;
  if (rc === -ESRCH) return false;
  throw new SystemError("kill", -rc, pid < 0 ? `process group ${-pid}` : `pid ${pid}`);
}

/** Like sendSignal, but any failure is a value (a timer must never throw). */
export function trySendSignal(pid: number, signal: number): number {
  const rc = sysOrErrno(() => c().kill(pid, signal));
  return rc < 0 ? -rc : 0;
}

/** A pidfd for `pid` (Linux 5.3): pollable, readable once the process has exited. */
export function openPidFd(pid: number): OwnedFd {
  return new OwnedFd(Number(sys("pidfd_open", () => c().syscall(SYS.pidfd_open, pid, 0, 0, 0, 0), `pid ${pid}`)));
}

/** waitid(P_PIDFD, ...) with `options` (WEXITED, WSTOPPED, WNOHANG, ...); info.pid is 0 when nothing changed. */
export function waitPidFd(pidfd: OwnedFd, options: number, info: SigInfo): void {
  info.clear();
  sys("waitid", () => c().waitid(P_PIDFD, pidfd.fd, ptr(info.bytes), options));
}

/** waitid(idtype, id, ...); returns -errno (ECHILD: nothing to wait for) instead of throwing. */
export function tryWait(idType: number, id: number, options: number, info: SigInfo): number {
  info.clear();
  return sysOrErrno(() => c().waitid(idType, id, ptr(info.bytes), options));
}

export interface Limit {
  soft: bigint;
  hard: bigint;
}

/** RLIM_INFINITY */
export const UNLIMITED = (1n << 64n) - 1n;

/** The 16 resource limits of Linux, by RLIMIT_* number (generic ABI, x86-64 and aarch64 alike). */
export const RESOURCES = [
  "cpu", "fsize", "data", "stack", "core", "rss", "nproc", "nofile", "memlock", "as", "locks", "sigpending",
  "msgqueue", "nice", "rtprio", "rttime",
] as const;
export type Resource = (typeof RESOURCES)[number];
export const RLIMIT_CORE = 4;
export const RLIMIT_NOFILE = 7;

export function getLimit(resource: number): Limit {
  const limit = new BigUint64Array(2);
  sys("getrlimit", () => c().getrlimit(resource, ptr(limit)), RESOURCES[resource]);
  return { soft: limit[0]!, hard: limit[1]! };
}

/** setrlimit(2); returns 0 or the errno (EPERM: raising a hard limit needs CAP_SYS_RESOURCE). */
export function trySetLimit(resource: number, limit: Limit): number {
  const value = new BigUint64Array([limit.soft, limit.hard]);
  const rc = sysOrErrno(() => c().setrlimit(resource, ptr(value)));
  return rc < 0 ? -rc : 0;
}

/** Every resource limit of this process, indexed by RLIMIT_* number (one buffer, no per-call wrapping: a client pays this at every start). */
/**
 * Every resource limit of process `pid`, from /proc/PID/limits (readable by
 * anyone, where prlimit(2) on another user's process may be refused), or
 * null if it cannot be read (the process is gone).
 */
export function limitsOf(pid: number): Limit[] | null {
  let text: string;
  try {
    text = new TextDecoder().decode(readWholeFile(`/proc/${pid}/limits`));
  } catch {
    return null;
  }
  // "%-25s %-20s %-20s %-10s": name, soft, hard, units; one line per RLIMIT_* in order, after a heading.
  const lines = text.split("\n").slice(1, 1 + RESOURCES.length);
  const value = (word: string) => (word === "unlimited" ? UNLIMITED : BigInt(word));
  const limits = lines.map((line) => /^.{25} (\S+)\s+(\S+)/.exec(line));
  if (limits.length !== RESOURCES.length || limits.some((m) => !m || !/^(\d+|unlimited)$/.test(m[1]!) || !/^(\d+|unlimited)$/.test(m[2]!))) return null;
  return limits.map((m) => ({ soft: value(m![1]!), hard: value(m![2]!) }));
}

export function getAllLimits(): Limit[] {
  const buffer = new BigUint64Array(2 * RESOURCES.length);
  const base = ptr(buffer);
  const getrlimit = c().getrlimit;
  return RESOURCES.map((name, resource) => {
    if (getrlimit(resource, (base + 16 * resource) as Pointer) !== 0) throw new SystemError("getrlimit", lastErrno(), name);
    return { soft: buffer[2 * resource]!, hard: buffer[2 * resource + 1]! };
  });
}

/** prctl(2) with integer arguments; throws on failure. */
export function processControl(option: number, arg2 = 0n, arg3 = 0n, name = `prctl(${option})`): number {
  return sys(name, () => c().prctl(option, arg2, arg3, 0n, 0n));
}

/** prctl(2); returns 0 or the errno. */
export function tryProcessControl(option: number, arg2 = 0n, arg3 = 0n): number {
  const rc = sysOrErrno(() => c().prctl(option, arg2, arg3, 0n, 0n));
  return rc < 0 ? -rc : 0;
}

/** Real uid of this process. */
export function getUid(): number {
  return c().getuid();
}

/**
 * execve(2) with NUL-terminated path and NULL-terminated pointer arrays (see
 * pointerArray in spawn.ts). Returns only on failure, with the errno.
 */
export function execute(path: Uint8Array, argv: BigUint64Array, envp: BigUint64Array): number {
  const rc = sysOrErrno(() => c().execve(ptr(path), ptr(argv), ptr(envp)));
  return -rc;
}

/**
 * fexecve(3): execve of the file `fd` refers to (an O_PATH fd will do), so
 * no path is looked up at exec time. Returns only on failure, with the errno.
 */
export function executeFile(fd: number, argv: BigUint64Array, envp: BigUint64Array): number {
  const rc = sysOrErrno(() => c().fexecve(fd, ptr(argv), ptr(envp)));
  return -rc;
}

/** Ends this process at once with `code`, running no exit handlers. */
export function exitNow(code: number): never {
  c()._exit(code);
  throw new Error("_exit returned");
}

/** A raw system call with up to five integer arguments; -errno on failure. */
export function rawSyscall(number: number, ...args: Array<number | bigint>): number {
  const a = [...args, 0, 0, 0, 0, 0].slice(0, 5);
  return sysOrErrno(() => c().syscall(number, a[0]!, a[1]!, a[2]!, a[3]!, a[4]!));
}
