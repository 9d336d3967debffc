// Users and groups by name, as the C library finds them: through NSS on
// glibc (files, systemd-userdb, LDAP, ... as /etc/nsswitch.conf says), from
// /etc/passwd and /etc/group on musl. The reentrant calls write the strings
// into a buffer we own; a buffer too small is ERANGE, and we try a larger one.
//
// LP64 layouts (glibc and musl, x86-64 and aarch64 alike):
//   struct passwd { char *pw_name@0, *pw_passwd@8; uid_t pw_uid@16; gid_t pw_gid@20;
//                   char *pw_gecos@24, *pw_dir@32, *pw_shell@40; }   48 bytes
//   struct group  { char *gr_name@0, *gr_passwd@8; gid_t gr_gid@16; char **gr_mem@24; }   32 bytes
import { FFIType, ptr } from "bun:ffi";
import { optionalSymbol } from "./library.ts";
import { cString } from "./c-string.ts";
import { SystemError } from "./system-error.ts";
import { EBADF, EINTR, ENOENT, EPERM, ERANGE, ESRCH } from "./errno-values.ts";

const { i32, u64, ptr: p } = FFIType;
// (name, struct *out, char *buf, size_t buflen, struct **result) -> 0 or an error number
const getpwnam_r = optionalSymbol("getpwnam_r", { args: [p, p, p, u64, p], returns: i32 });
const getgrnam_r = optionalSymbol("getgrnam_r", { args: [p, p, p, u64, p], returns: i32 });

const PASSWD = { bytes: 48, uid: 16, gid: 20 } as const;
const GROUP = { bytes: 32, gid: 16 } as const;

/** Where the strings go: glibc's own suggestion (sysconf _SC_GETPW_R_SIZE_MAX) is 1 KiB; a group with many members needs more. */
const FIRST_BUFFER_BYTES = 1024;
const LAST_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * Errors that mean "no such entry": glibc answers ENOENT when a database
 * (an NSS module's file) does not exist at all, and getpwnam(3) lists the
 * others as what some systems say for a name they do not know.
 */
const NOT_FOUND = new Set([ENOENT, ESRCH, EBADF, EPERM]);

export interface UserEntry {
  uid: number;
  /** The primary group. */
  gid: number;
}

/** False where this C library cannot look names up (no getpwnam_r/getgrnam_r): read the files then. */
export function hasUserDatabase(): boolean {
  return getpwnam_r() !== undefined && getgrnam_r() !== undefined;
}

type Lookup = (name: Uint8Array, entry: Uint8Array, buffer: Uint8Array, result: BigUint64Array) => number;

/** Runs a get*nam_r call with ever larger buffers; true if an entry was found (then `entry` holds it). */
function lookUp(call: string, lookup: Lookup, name: string, entry: Uint8Array): boolean {
  const cName = cString(name);
  const result = new BigUint64Array(1);
  for (let bytes = FIRST_BUFFER_BYTES; ; ) {
    const buffer = new Uint8Array(bytes);
    const rc = lookup(cName, entry, buffer, result);
    if (rc === 0) return result[0] !== 0n;
    if (rc === EINTR) continue;
    if (rc === ERANGE && bytes < LAST_BUFFER_BYTES) {
      bytes *= 2;
      continue;
    }
    if (NOT_FOUND.has(rc)) return false;
    throw new SystemError(call, rc, `'${name}'`);
  }
}

function symbol<T>(load: () => T | undefined, name: string): T {
  const f = load();
  if (!f) throw new Error(`this C library has no ${name}: check hasUserDatabase() first`);
  return f;
}

/** The user called `name`, or null if there is none. */
export function userByName(name: string): UserEntry | null {
  if (name.includes("\0")) return null;
  const f = symbol(getpwnam_r, "getpwnam_r");
  const entry = new Uint8Array(PASSWD.bytes);
  const found = lookUp("getpwnam_r", (n, e, b, r) => f(ptr(n), ptr(e), ptr(b), b.length, ptr(r)), name, entry);
  if (!found) return null;
  const fields = new DataView(entry.buffer);
  return { uid: fields.getUint32(PASSWD.uid, true), gid: fields.getUint32(PASSWD.gid, true) };
}

/** The gid of the group called `name`, or null if there is none. */
export function groupByName(name: string): number | null {
  if (name.includes("\0")) return null;
  const f = symbol(getgrnam_r, "getgrnam_r");
  const entry = new Uint8Array(GROUP.bytes);
  const found = lookUp("getgrnam_r", (n, e, b, r) => f(ptr(n), ptr(e), ptr(b), b.length, ptr(r)), name, entry);
  return found ? new DataView(entry.buffer).getUint32(GROUP.gid, true) : null;
}
