// Unix sockets: creating, binding, connecting and accepting return OwnedFds;
// sendmsg/recvmsg report "again" as a value; peer credentials are read by
// field name.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { OwnedFd } from "./owned-fd.ts";
import { EAGAIN, ENOENT } from "./errno-values.ts";
import { sys, sysOrErrno, SystemError } from "./system-error.ts";
import { sockaddrUn, SUN_PATH_MAX } from "./sockaddr.ts";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_NONBLOCK, SOL_SOCKET, SO_PEERCRED, SO_PEERGROUPS, SO_PEERPIDFD } from "./constants.ts";

const SHUT_WR = 1;
const SO_SNDTIMEO = 21;

const { i32, u32, i64, ptr: p } = FFIType;
const c = lazySymbols({
  socket: { args: [i32, i32, i32], returns: i32 },
  socketpair: { args: [i32, i32, i32, p], returns: i32 },
  bind: { args: [i32, p, u32], returns: i32 },
  listen: { args: [i32, i32], returns: i32 },
  accept4: { args: [i32, p, p, i32], returns: i32 },
  connect: { args: [i32, p, u32], returns: i32 },
  sendmsg: { args: [i32, p, i32], returns: i64 },
  recvmsg: { args: [i32, p, i32], returns: i64 },
  getsockopt: { args: [i32, i32, i32, p, p], returns: i32 },
  getsockname: { args: [i32, p, p], returns: i32 },
  setsockopt: { args: [i32, i32, i32, p, u32], returns: i32 },
  shutdown: { args: [i32, i32], returns: i32 },
});

/** A new AF_UNIX socket of `type` (SOCK_SEQPACKET, SOCK_DGRAM, ...), close-on-exec. */
export function unixSocket(type: number, nonBlocking = false): OwnedFd {
  return new OwnedFd(sys("socket", () => c().socket(AF_UNIX, type | SOCK_CLOEXEC | (nonBlocking ? SOCK_NONBLOCK : 0), 0)));
}

/** A new socket of any `domain` (AF_INET, ...) and `type`, close-on-exec. */
export function anySocket(domain: number, type: number): OwnedFd {
  return new OwnedFd(sys("socket", () => c().socket(domain, type | SOCK_CLOEXEC, 0)));
}

/** A connected pair of AF_UNIX sockets, both close-on-exec. */
export function unixSocketPair(type: number): [OwnedFd, OwnedFd] {
  const fds = new Int32Array(2);
  sys("socketpair", () => c().socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, ptr(fds)));
  return [new OwnedFd(fds[0]!), new OwnedFd(fds[1]!)];
}

export function bindUnix(sock: OwnedFd, path: Uint8Array): void {
  const addr = sockaddrUn(path);
  sys("bind", () => c().bind(sock.fd, ptr(addr.bytes), addr.length), display(path));
}

export function listenOn(sock: OwnedFd, backlog: number): void {
  sys("listen", () => c().listen(sock.fd, backlog));
}

/** Connects `sock` to the unix socket at `path` (a leading NUL names an abstract socket). */
export function connectUnix(sock: OwnedFd, path: Uint8Array): void {
  const addr = sockaddrUn(path);
  sys("connect", () => c().connect(sock.fd, ptr(addr.bytes), addr.length), display(path));
}

/** One pending connection (non-blocking, close-on-exec), or null when none is waiting. */
export function acceptConnection(listener: OwnedFd): OwnedFd | null {
  const fd = sysOrErrno(() => c().accept4(listener.fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (fd >= 0) return new OwnedFd(fd);
  if (fd === -EAGAIN) return null;
  throw new SystemError("accept4", -fd);
}

/** sendmsg(2): bytes sent, or "again" when a non-blocking socket has no room. */
export function sendMessage(sock: OwnedFd, msghdr: Uint8Array, flags: number): number | "again" {
  const n = sysOrErrno(() => c().sendmsg(sock.fd, ptr(msghdr), flags));
  if (n === -EAGAIN) return "again";
  if (n < 0) throw new SystemError("sendmsg", -n);
  return n;
}

/** recvmsg(2): bytes received, or "again" when nothing is queued. */
export function receiveMessage(sock: OwnedFd, msghdr: Uint8Array, flags: number): number | "again" {
  const n = sysOrErrno(() => c().recvmsg(sock.fd, ptr(msghdr), flags));
  if (n === -EAGAIN) return "again";
  if (n < 0) throw new SystemError("recvmsg", -n);
  return n;
}

/** Half-closes: the other end reads end-of-file, this end can still read. */
export function shutdownWrite(sock: OwnedFd): void {
  sys("shutdown", () => c().shutdown(sock.fd, SHUT_WR));
}

/** Bounds how long a blocking send may wait for room (SO_SNDTIMEO). */
export function setSendTimeout(sock: OwnedFd, ms: number): void {
  const timeval = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)]);
  sys("setsockopt(SO_SNDTIMEO)", () => c().setsockopt(sock.fd, SOL_SOCKET, SO_SNDTIMEO, ptr(timeval), 16));
}

/** An int-valued socket option of any fd (SO_TYPE, SO_DOMAIN, SO_ACCEPTCONN, ...). */
export function intSocketOption(fd: number, option: number): number {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  sys("getsockopt", () => c().getsockopt(fd, SOL_SOCKET, option, ptr(value), ptr(length)), `fd ${fd}`);
  return value[0]!;
}

/**
 * Where an AF_UNIX socket is bound (getsockname): its path, an abstract name
 * with a leading NUL, or null when it is not bound.
 */
export function unixSocketName(fd: number): Uint8Array | null {
  const addr = new Uint8Array(SUN_PATH_MAX + 2);
  const length = new Uint32Array([addr.length]);
  sys("getsockname", () => c().getsockname(fd, ptr(addr), ptr(length)), `fd ${fd}`);
  // sun_family (2 bytes), then the path; an unbound socket has none.
  const path = addr.subarray(2, Math.min(length[0]!, addr.length));
  if (path.length === 0) return null;
  if (path[0] === 0) return path.slice();
  const nul = path.indexOf(0);
  return path.slice(0, nul < 0 ? path.length : nul);
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials the kernel recorded for the other end at connect time (struct ucred: pid@0 uid@4 gid@8). */
export function peerCredentials(sock: OwnedFd): PeerCredentials {
  const cred = new Uint8Array(12);
  const len = new Uint32Array([cred.length]);
  sys("getsockopt(SO_PEERCRED)", () => c().getsockopt(sock.fd, SOL_SOCKET, SO_PEERCRED, ptr(cred), ptr(len)));
  const view = new DataView(cred.buffer);
  return { pid: view.getInt32(0, true), uid: view.getUint32(4, true), gid: view.getUint32(8, true) };
}

/** The peer's supplementary groups as the kernel recorded them at connect time (SO_PEERGROUPS, Linux 4.13). */
export function peerGroups(sock: OwnedFd): number[] {
  for (let capacity = 64; ; capacity *= 4) {
    const groups = new Uint32Array(capacity);
    const len = new Uint32Array([groups.byteLength]);
    const rc = sysOrErrno(() => c().getsockopt(sock.fd, SOL_SOCKET, SO_PEERGROUPS, ptr(groups), ptr(len)));
    // ERANGE: too small a buffer; the kernel said how much it needs.
    if (rc === -34) continue;
    if (rc === -ENOENT || rc === -92 /* ENOPROTOOPT: older kernel */) return [];
    if (rc < 0) throw new SystemError("getsockopt(SO_PEERGROUPS)", -rc);
    return [...groups.subarray(0, len[0]! / 4)];
  }
}

/** A pidfd for the peer process (SO_PEERPIDFD, Linux 6.5), or null where the kernel has none. */
export function peerPidFd(sock: OwnedFd): OwnedFd | null {
  const value = new Int32Array(1);
  const length = new Uint32Array([4]);
  const rc = sysOrErrno(() => c().getsockopt(sock.fd, SOL_SOCKET, SO_PEERPIDFD, ptr(value), ptr(length)));
  return rc < 0 ? null : new OwnedFd(value[0]!);
}

function display(path: Uint8Array): string {
  return `'${new TextDecoder().decode(path[0] === 0 ? path.subarray(1) : path)}'`;
}
