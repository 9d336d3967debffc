// SOCK_SEQPACKET unix sockets with fd passing. Every function here is
// synchronous and never blocks on a non-blocking socket: it reports "again"
// and the caller waits for readiness (see fd-watcher.ts).
import { ptr } from "bun:ffi";
import { libc } from "../libc/libc.ts";
import { check, errno, EAGAIN, EINTR, SystemError } from "../libc/errno.ts";
import { OwnedFd } from "../libc/owned-fd.ts";
import {
  AF_UNIX, MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_TRUNC,
  SCM_MAX_FD, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_SEQPACKET, SOL_SOCKET, SO_PEERCRED,
} from "../libc/constants.ts";
import { buildMsghdr, cmsgSpace, parseRights, rightsControl, sockaddrUn, UCRED_SIZE } from "../libc/structs.ts";

export interface ListenOptions {
  backlog?: number;
}

/** Binds a new non-blocking SEQPACKET socket at `path` and listens on it. */
export function listenSeqpacket(path: Uint8Array, options: ListenOptions = {}): OwnedFd {
  const sock = new OwnedFd(check(libc.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), "socket"));
  try {
    const addr = sockaddrUn(path);
    check(libc.bind(sock.fd, ptr(addr.bytes), addr.length), "bind", display(path));
    check(libc.listen(sock.fd, options.backlog ?? 128), "listen");
    return sock;
  } catch (error) {
    sock.close();
    throw error;
  }
}

/** Accepts one pending connection (non-blocking, close-on-exec), or null if none is waiting. */
export function acceptSeqpacket(listener: OwnedFd): OwnedFd | null {
  for (;;) {
    const fd = libc.accept4(listener.fd, null, null, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) return new OwnedFd(fd);
    const code = errno();
    if (code === EINTR) continue;
    if (code === EAGAIN) return null;
    throw new SystemError("accept4", code);
  }
}

/** Connects a blocking, close-on-exec SEQPACKET socket to `path`. */
export function connectSeqpacket(path: Uint8Array): OwnedFd {
  const sock = new OwnedFd(check(libc.socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), "socket"));
  try {
    const addr = sockaddrUn(path);
    for (;;) {
      if (libc.connect(sock.fd, ptr(addr.bytes), addr.length) === 0) return sock;
      const code = errno();
      if (code !== EINTR) throw new SystemError("connect", code, display(path));
    }
  } catch (error) {
    sock.close();
    throw error;
  }
}

/**
 * Sends one record, with `fds` attached via SCM_RIGHTS (at most 253).
 * Returns false if a non-blocking socket (or a send with MSG_DONTWAIT in
 * `flags`) has no room now.
 */
export function sendRecord(sock: OwnedFd, data: Uint8Array, fds: readonly number[] = [], flags = 0): boolean {
  if (fds.length > SCM_MAX_FD) throw new RangeError(`at most ${SCM_MAX_FD} fds fit in one message, got ${fds.length}`);
  const control = fds.length > 0 ? rightsControl(fds) : null;
  const msg = buildMsghdr(data, control);
  for (;;) {
    const sent = Number(libc.sendmsg(sock.fd, ptr(msg.msghdr), MSG_NOSIGNAL | flags));
    if (sent >= 0) {
      // SEQPACKET sends are atomic: a short count would mean a broken kernel contract.
      if (sent !== data.length) throw new Error(`sendmsg sent ${sent} of ${data.length} bytes`);
      return true;
    }
    const code = errno();
    if (code === EINTR) continue;
    if (code === EAGAIN) return false;
    throw new SystemError("sendmsg", code);
  }
}

export type Received =
  | { kind: "record"; data: Uint8Array; fds: OwnedFd[] }
  | { kind: "again" }
  | { kind: "eof" }
  /** The record or its fds did not fit: whatever arrived is already closed. */
  | { kind: "truncated"; what: "data" | "fds"; bytes: number };

/**
 * Receives one record of at most `maxBytes` bytes and `maxFds` fds. Received
 * fds are close-on-exec and owned by the caller. A record that did not fit is
 * reported as truncated (never silently shortened), with its fds closed.
 *
 * SEQPACKET cannot tell a zero-length record from end-of-file; callers whose
 * records may be empty (protocol v1) must not rely on "eof" alone.
 */
export function receiveRecord(sock: OwnedFd, maxBytes: number, maxFds: number, flags = 0): Received {
  // One byte more than allowed, so an over-long record shows as MSG_TRUNC or as length > max.
  const data = scratch("data", maxBytes + 1);
  const control = maxFds > 0 ? scratch("control", cmsgSpace(4 * maxFds)) : null;
  const msg = buildMsghdr(data, control);
  for (;;) {
    const got = Number(libc.recvmsg(sock.fd, ptr(msg.msghdr), MSG_CMSG_CLOEXEC | MSG_DONTWAIT | flags));
    if (got < 0) {
      const code = errno();
      if (code === EINTR) continue;
      if (code === EAGAIN) return { kind: "again" };
      throw new SystemError("recvmsg", code);
    }
    const view = new DataView(msg.msghdr.buffer);
    const msgFlags = view.getInt32(48, true);
    const controlLength = Number(view.getBigUint64(40, true));
    const fds = control ? parseRights(control, controlLength).fds.map((fd) => new OwnedFd(fd)) : [];
    if (msgFlags & MSG_CTRUNC) {
      for (const fd of fds) fd.close();
      return { kind: "truncated", what: "fds", bytes: got };
    }
    if (msgFlags & MSG_TRUNC || got > maxBytes) {
      for (const fd of fds) fd.close();
      return { kind: "truncated", what: "data", bytes: got };
    }
    if (got === 0 && fds.length === 0) return { kind: "eof" };
    return { kind: "record", data: data.slice(0, got), fds };
  }
}

/**
 * Receive buffers shared by every call (calls are synchronous, so never at
 * the same time): a fresh zeroed 64 KiB buffer per recvmsg, most of them for
 * an EAGAIN or a 20-byte record, was the spawner's largest cost per request
 * (docs/performance.md). Records are copied out at their real size.
 */
const scratchBuffers = { data: new Uint8Array(0), control: new Uint8Array(0) };

function scratch(which: keyof typeof scratchBuffers, size: number): Uint8Array {
  if (scratchBuffers[which].length < size) scratchBuffers[which] = new Uint8Array(size);
  return scratchBuffers[which].subarray(0, size);
}

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The credentials the kernel recorded for the other end at connect time. */
export function peerCredentials(sock: OwnedFd): PeerCredentials {
  const cred = new Uint8Array(UCRED_SIZE);
  const len = new Uint32Array([UCRED_SIZE]);
  check(libc.getsockopt(sock.fd, SOL_SOCKET, SO_PEERCRED, ptr(cred), ptr(len)), "getsockopt(SO_PEERCRED)");
  const view = new DataView(cred.buffer);
  return { pid: view.getInt32(0, true), uid: view.getUint32(4, true), gid: view.getUint32(8, true) };
}

function display(path: Uint8Array): string {
  return `'${new TextDecoder().decode(path[0] === 0 ? path.subarray(1) : path)}'`;
}
