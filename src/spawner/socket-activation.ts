// Serving a listening socket handed in by a supervisor (systemd's
// LISTEN_FDS protocol). A handed-in fd is checked before use, as the D-Bus
// containers design does: it must be a listening AF_UNIX SEQPACKET socket.
import { fstatSync } from "node:fs";
import { OwnedFd } from "../libc/owned-fd.ts";
import { setCloseOnExec, setNonBlocking } from "../libc/file.ts";
import { intSocketOption } from "../libc/socket.ts";
import { AF_UNIX, SOCK_SEQPACKET, SO_ACCEPTCONN, SO_DOMAIN, SO_TYPE } from "../libc/constants.ts";

export const SD_LISTEN_FDS_START = 3;

export class ActivationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ActivationError";
  }
}

/**
 * The listening socket passed by the supervisor, or null when the
 * environment does not hand one to this process. With several fds, the one
 * named `name` in LISTEN_FDNAMES is used.
 */
export function activatedSocket(env: Record<string, string | undefined> = process.env, name = "portal"): OwnedFd | null {
  if (!env.LISTEN_FDS) return null;
  if (env.LISTEN_PID !== String(process.pid)) return null;
  const count = Number(env.LISTEN_FDS);
  if (!Number.isInteger(count) || count < 1) throw new ActivationError(`LISTEN_FDS='${env.LISTEN_FDS}' is not a positive count`);
  let index = 0;
  if (count > 1) {
    const names = (env.LISTEN_FDNAMES ?? "").split(":");
    index = names.indexOf(name);
    if (index < 0) throw new ActivationError(`${count} sockets were passed; none is named '${name}' in LISTEN_FDNAMES`);
  }
  const fd = SD_LISTEN_FDS_START + index;
  validateListeningSeqpacket(fd);
  // Close-on-exec so no program ever inherits the listening socket; non-blocking for the accept loop.
  setCloseOnExec(fd, true);
  setNonBlocking(fd, true);
  // The variables describe this process only; children must not act on them.
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  return new OwnedFd(fd);
}

export function validateListeningSeqpacket(fd: number): void {
  let isSocket: boolean;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch {
    throw new ActivationError(`passed fd ${fd} is not open`);
  }
  if (!isSocket) throw new ActivationError(`passed fd ${fd} is not a socket`);
  const domain = intSocketOption(fd, SO_DOMAIN);
  if (domain !== AF_UNIX) throw new ActivationError(`passed fd ${fd} is not an AF_UNIX socket (domain ${domain})`);
  const type = intSocketOption(fd, SO_TYPE);
  if (type !== SOCK_SEQPACKET) throw new ActivationError(`passed fd ${fd} is not SOCK_SEQPACKET (type ${type}); use ListenSequentialPacket=`);
  if (intSocketOption(fd, SO_ACCEPTCONN) !== 1) throw new ActivationError(`passed fd ${fd} is not listening`);
}
