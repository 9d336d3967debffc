// Telling a supervisor the spawner is listening: s6-style (a newline on a
// given fd, then close it) and systemd-style (READY=1 to $NOTIFY_SOCKET).
import { OwnedFd } from "../libc/owned-fd.ts";
import { writeAll } from "../libc/file.ts";
import { connectUnix, unixSocket } from "../libc/socket.ts";
import { SOCK_DGRAM } from "../libc/constants.ts";
import { sendRecord } from "../fdpass/seqpacket.ts";

/** Writes "\n" to `fd` and closes it (the fd is consumed). */
export function notifyReadyFd(fd: number): void {
  using owned = new OwnedFd(fd);
  writeAll(owned.fd, new Uint8Array([0x0a]));
}

/** Sends one sd_notify datagram (e.g. "READY=1\nSTATUS=...") to `socketPath` ('@' = abstract). */
export function sdNotify(socketPath: string, message: string): void {
  using sock = unixSocket(SOCK_DGRAM);
  connectUnix(sock, Buffer.from(socketPath.startsWith("@") ? `\0${socketPath.slice(1)}` : socketPath));
  sendRecord(sock, new TextEncoder().encode(message));
}
