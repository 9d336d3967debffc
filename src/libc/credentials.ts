// Users, groups and capabilities of the calling process (or, where Linux
// keeps them per thread, of the calling thread: capabilities, securebits and
// the filesystem ids; glibc changes uids, gids and groups for every thread).
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { sys, sysOrErrno, SystemError } from "./system-error.ts";
import { rawSyscall, processControl, tryProcessControl } from "./process.ts";
import { EINVAL } from "./errno-values.ts";
import {
  PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_SET_SECUREBITS, SECURE_NOROOT_LOCKED, SYS,
} from "./constants.ts";

const { i32, u32, ptr: p } = FFIType;
const c = lazySymbols({
  getuid: { args: [], returns: u32 },
  getgid: { args: [], returns: u32 },
  getgroups: { args: [i32, p], returns: i32 },
  setgroups: { args: [u32, p], returns: i32 },
  setresuid: { args: [u32, u32, u32], returns: i32 },
  setresgid: { args: [u32, u32, u32], returns: i32 },
  setfsuid: { args: [u32], returns: i32 },
  setfsgid: { args: [u32], returns: i32 },
  capset: { args: [p, p], returns: i32 },
});

/** The highest capability number Linux defines today, plus headroom for the bounding set loop. */
const LAST_CAPABILITY = 63;
const CAPABILITY_VERSION_3 = 0x20080522;

export function realUid(): number {
  return c().getuid();
}

export function realGid(): number {
  return c().getgid();
}

/** This process's supplementary groups. */
export function supplementaryGroups(): number[] {
  const count = sys("getgroups", () => c().getgroups(0, null));
  const groups = new Uint32Array(Math.max(count, 1));
  const got = sys("getgroups", () => c().getgroups(groups.length, ptr(groups)));
  return [...groups.subarray(0, got)];
}

/**
 * Becomes `uid`/`gid` with exactly `groups` as supplementary groups (real,
 * effective and saved ids alike), for every thread. From root to another
 * uid this also empties the capability sets.
 */
export function becomeUser(uid: number, gid: number, groups: readonly number[]): void {
  const list = new Uint32Array(groups.length > 0 ? groups : [0]);
  sys("setgroups", () => c().setgroups(groups.length, ptr(list)));
  sys("setresgid", () => c().setresgid(gid, gid, gid), `${gid}`);
  sys("setresuid", () => c().setresuid(uid, uid, uid), `${uid}`);
}

/**
 * The first half of dropping every capability for good: the bounding and
 * ambient sets are emptied and the root special case is switched off and
 * locked (SECBIT_NOROOT), so no exec, not even of a set-uid-root file,
 * gains any back. The effective set is left alone, so the user can still be
 * changed; clearCapabilities() is the second half. Both act on the calling
 * thread only: call them on the thread that will exec.
 */
export function limitCapabilities(): void {
  for (let cap = 0; cap <= LAST_CAPABILITY; cap++) {
    const errno = tryProcessControl(PR_CAPBSET_DROP, BigInt(cap));
    // EINVAL marks the first number past the kernel's last capability.
    if (errno === EINVAL) break;
    if (errno !== 0) throw new SystemError(`prctl(PR_CAPBSET_DROP, ${cap})`, errno);
  }
  const ambient = tryProcessControl(PR_CAP_AMBIENT, BigInt(PR_CAP_AMBIENT_CLEAR_ALL));
  if (ambient !== 0 && ambient !== EINVAL /* a kernel before ambient capabilities */) throw new SystemError("prctl(PR_CAP_AMBIENT)", ambient);
  const errno = tryProcessControl(PR_SET_SECUREBITS, BigInt(SECURE_NOROOT_LOCKED));
  if (errno !== 0) throw new SystemError("prctl(PR_SET_SECUREBITS)", errno);
}

/** Empties the effective, permitted and inheritable sets of the calling thread. */
export function clearCapabilities(): void {
  // struct __user_cap_header_struct { u32 version; i32 pid } and two empty data blocks.
  const header = new Uint32Array([CAPABILITY_VERSION_3, 0]);
  const data = new Uint32Array(6);
  sys("capset", () => c().capset(ptr(header), ptr(data)));
}

/** No exec from here on can grant privileges (set-uid bits, file capabilities). Inherited by children. */
export function setNoNewPrivileges(): void {
  processControl(PR_SET_NO_NEW_PRIVS, 1n, 0n, "prctl(PR_SET_NO_NEW_PRIVS)");
}

/**
 * Runs `check` with this thread's filesystem ids and supplementary groups
 * set to `uid`/`gid`/`groups`, then puts them back: the kernel answers
 * permission questions (open, faccessat with AT_EACCESS) as that user
 * would be answered. Only the calling thread changes (setfsuid, and the raw
 * setgroups system call, which glibc would broadcast to every thread).
 */
export function asUser<T>(uid: number, gid: number, groups: readonly number[], check: () => T): T {
  const ownGroups = supplementaryGroups();
  const list = new Uint32Array(groups.length > 0 ? groups : [0]);
  const rc = rawSyscall(SYS.setgroups, groups.length, BigInt(ptr(list)));
  if (rc < 0) throw new SystemError("setgroups (this thread)", -rc);
  const oldGid = c().setfsgid(gid);
  const oldUid = c().setfsuid(uid);
  try {
    return check();
  } finally {
    c().setfsuid(oldUid);
    c().setfsgid(oldGid);
    const own = new Uint32Array(ownGroups.length > 0 ? ownGroups : [0]);
    const back = rawSyscall(SYS.setgroups, ownGroups.length, BigInt(ptr(own)));
    // Running on with someone else's groups would be a privilege bug: stop.
    if (back < 0) throw new SystemError("setgroups (restoring this thread's groups)", -back);
    void list;
  }
}

export { sysOrErrno };
