// C struct layouts for LP64 Linux (x86-64 and aarch64 agree on all of them).
// Each builder returns the bytes plus whatever must stay referenced until the
// syscall returns: bun:ffi passes raw pointers, and a buffer the GC frees or
// moves mid-call would be a use-after-free.
import { ptr } from "bun:ffi";
import { AF_UNIX, SCM_RIGHTS, SOL_SOCKET } from "./constants.ts";

export const MSGHDR_SIZE = 56; // name@0 namelen@8 iov@16 iovlen@24 control@32 controllen@40 flags@48
export const IOVEC_SIZE = 16; // base@0 len@8
export const CMSG_HEADER = 16; // len u64@0, level i32@8, type i32@12
export const SOCKADDR_UN_SIZE = 110; // family u16@0, path[108]@2
export const SUN_PATH_MAX = 108;
export const POLLFD_SIZE = 8; // fd i32@0, events i16@4, revents i16@6
export const SIGINFO_SIZE = 128; // signo@0 errno@4 code@8 pid@16 uid@20 status@24
export const UCRED_SIZE = 12; // pid@0 uid@4 gid@8
export const SIGSET_SIZE = 128;
// glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336;
// musl's are smaller. Over-allocate so either fits.
export const SPAWN_FILE_ACTIONS_SIZE = 256;
export const SPAWNATTR_SIZE = 512;

export const cmsgLen = (dataBytes: number) => CMSG_HEADER + dataBytes;
export const cmsgSpace = (dataBytes: number) => CMSG_HEADER + ((dataBytes + 7) & ~7);

/** A sockaddr_un for a filesystem path, or an abstract name when it starts with NUL. */
export function sockaddrUn(path: Uint8Array): { bytes: Uint8Array; length: number } {
  if (path.length === 0 || path.length >= SUN_PATH_MAX) {
    throw new RangeError(`socket path must be 1..${SUN_PATH_MAX - 1} bytes, got ${path.length}`);
  }
  const bytes = new Uint8Array(SOCKADDR_UN_SIZE);
  new DataView(bytes.buffer).setUint16(0, AF_UNIX, true);
  bytes.set(path, 2);
  // Abstract names are length-delimited; filesystem paths are NUL-terminated.
  const length = path[0] === 0 ? 2 + path.length : 2 + path.length + 1;
  return { bytes, length };
}

export interface MessageBuffers {
  msghdr: Uint8Array;
  iov: Uint8Array;
  data: Uint8Array;
  control: Uint8Array | null;
}

/** A msghdr pointing at one data buffer and an optional control buffer. */
export function buildMsghdr(data: Uint8Array, control: Uint8Array | null): MessageBuffers {
  const iov = new Uint8Array(IOVEC_SIZE);
  const iovView = new DataView(iov.buffer);
  // A zero-length buffer has no stable address; pass NULL with length 0.
  iovView.setBigUint64(0, data.length > 0 ? BigInt(ptr(data)) : 0n, true);
  iovView.setBigUint64(8, BigInt(data.length), true);
  const msghdr = new Uint8Array(MSGHDR_SIZE);
  const view = new DataView(msghdr.buffer);
  view.setBigUint64(16, BigInt(ptr(iov)), true);
  view.setBigUint64(24, 1n, true);
  if (control && control.length > 0) {
    view.setBigUint64(32, BigInt(ptr(control)), true);
    view.setBigUint64(40, BigInt(control.length), true);
  }
  return { msghdr, iov, data, control };
}

/** A control buffer with one SCM_RIGHTS message carrying `fds`. */
export function rightsControl(fds: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(cmsgSpace(4 * fds.length));
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(cmsgLen(4 * fds.length)), true);
  view.setInt32(8, SOL_SOCKET, true);
  view.setInt32(12, SCM_RIGHTS, true);
  fds.forEach((fd, i) => view.setInt32(CMSG_HEADER + 4 * i, fd, true));
  return bytes;
}

/**
 * Every fd in every SCM_RIGHTS message of a received control buffer.
 * All of them are returned, even from unexpected messages, so the caller can
 * close what it does not want instead of leaking it.
 */
export function parseRights(control: Uint8Array, controlLength: number): { fds: number[]; foreign: boolean } {
  const view = new DataView(control.buffer, control.byteOffset, control.byteLength);
  const fds: number[] = [];
  let foreign = false;
  let offset = 0;
  while (offset + CMSG_HEADER <= controlLength) {
    const len = Number(view.getBigUint64(offset, true));
    if (len < CMSG_HEADER || offset + len > controlLength) break;
    const level = view.getInt32(offset + 8, true);
    const type = view.getInt32(offset + 12, true);
    if (level === SOL_SOCKET && type === SCM_RIGHTS) {
      for (let p = offset + CMSG_HEADER; p + 4 <= offset + len; p += 4) fds.push(view.getInt32(p, true));
    } else {
      foreign = true;
    }
    offset += (len + 7) & ~7;
  }
  return { fds, foreign };
}
