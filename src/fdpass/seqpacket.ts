// SOCK_SEQPACKET unix sockets with fd passing. Every function here is
// synchronous and never blocks on a non-blocking socket: it reports "again"
// and the caller waits for readiness (see src/fdwatch/).
import { OwnedFd, closeAll } from "../libc/owned-fd.ts";
import {
  acceptConnection, bindUnix, connectUnix, listenOn, receiveMessage, sendMessage, unixSocket,
} from "../libc/socket.ts";
import { cmsgSpace, MessageBuffers, receivedRights, writeRights } from "../libc/msghdr.ts";
import { MSG_CMSG_CLOEXEC, MSG_CTRUNC, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_TRUNC, SCM_MAX_FD, SOCK_SEQPACKET } from "../libc/constants.ts";

export interface ListenOptions {
  backlog?: number;
}

/** Binds a new non-blocking SEQPACKET socket at `path` and listens on it. */
export function listenSeqpacket(path: Uint8Array, options: ListenOptions = {}): OwnedFd {
  const sock = unixSocket(SOCK_SEQPACKET, true);
  try {
    bindUnix(sock, path);
    listenOn(sock, options.backlog ?? 128);
    return sock;
  } catch (error) {
    sock.close();
    throw error;
  }
}

/** Accepts one pending connection (non-blocking, close-on-exec), or null if none is waiting. */
export const acceptSeqpacket = acceptConnection;

/** Connects a blocking, close-on-exec SEQPACKET socket to `path`. */
export function connectSeqpacket(path: Uint8Array): OwnedFd {
  const sock = unixSocket(SOCK_SEQPACKET);
  try {
    connectUnix(sock, path);
    return sock;
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
  const buffers = sending.prepare(data.length, fds.length > 0 ? cmsgSpace(4 * fds.length) : 0);
  buffers.data.set(data);
  if (fds.length > 0) writeRights(buffers.control, fds);
  const sent = sendMessage(sock, sending.header, MSG_NOSIGNAL | flags);
  if (sent === "again") return false;
  // SEQPACKET sends are atomic: a short count would mean a broken kernel contract.
  if (sent !== data.length) throw new Error(`sendmsg sent ${sent} of ${data.length} bytes`);
  return true;
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
  const { data, control } = receiving.prepare(maxBytes + 1, maxFds > 0 ? cmsgSpace(4 * maxFds) : 0);
  const got = receiveMessage(sock, receiving.header, MSG_CMSG_CLOEXEC | MSG_DONTWAIT | flags);
  if (got === "again") return { kind: "again" };
  const msg = receiving;
  const fds = maxFds > 0 ? receivedRights(control, msg.controlLength).map((fd) => new OwnedFd(fd)) : [];
  if (msg.flags & MSG_CTRUNC) {
    closeAll(fds);
    return { kind: "truncated", what: "fds", bytes: got };
  }
  if (msg.flags & MSG_TRUNC || got > maxBytes) {
    closeAll(fds);
    return { kind: "truncated", what: "data", bytes: got };
  }
  if (got === 0 && fds.length === 0) return { kind: "eof" };
  return { kind: "record", data: data.slice(0, got), fds };
}

/**
 * The buffers every send and every receive go through (calls are
 * synchronous, so never two at once): allocated once, so the kernel never
 * writes into memory the garbage collector has freed, and a receive does not
 * cost a fresh 64 KiB buffer (docs/performance.md). Records are copied out
 * at their real size.
 */
const sending = new MessageBuffers();
const receiving = new MessageBuffers();

export { peerCredentials, peerGroups, type PeerCredentials } from "../libc/socket.ts";
