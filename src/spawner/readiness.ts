// Telling a supervisor the spawner is listening: s6-style (a newline on a
// given fd, then close it) and systemd-style (READY=1 to $NOTIFY_SOCKET).
import { ptr } from "bun:ffi";
import { libc } from "../libc/libc.ts";
import { check } from "../libc/errno.ts";
import { OwnedFd } from "../libc/owned-fd.ts";
import { AF_UNIX, SOCK_CLOEXEC, SOCK_DGRAM } from "../libc/constants.ts";
import { sockaddrUn } from "../libc/structs.ts";
import { sendRecord } from "../fdpass/seqpacket.ts";

/** Writes "\n" to `fd` and closes it (the fd is consumed). */
export function notifyReadyFd(fd: number): void {
  const owned = new OwnedFd(fd);
  try {
    const newline = new Uint8Array([0x0a]);
    check(Number(libc.write(owned.fd, ptr(newline), 1)), "write", `ready fd ${fd}`);
  } finally {
    owned.close();
  }
}

/** Sends one sd_notify datagram (e.g. "READY=1\nSTATUS=...") to `socketPath` ('@' = abstract). */
export function sdNotify(socketPath: string, message: string): void {
  const sock = new OwnedFd(check(libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), "socket"));
  try {
    const name = Buffer.from(socketPath.startsWith("@") ? `\0${socketPath.slice(1)}` : socketPath);
    const addr = sockaddrUn(name);
    check(libc.connect(sock.fd, ptr(addr.bytes), addr.length), "connect", `NOTIFY_SOCKET '${socketPath}'`);
    sendRecord(sock, new TextEncoder().encode(message));
  } finally {
    sock.close();
  }
}
