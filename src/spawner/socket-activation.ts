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
  const failed = failedSocketCheck(fd, true);
  if (!failed) return;
  switch (failed.check) {
    case "fstat":
      throw new ActivationError(failed.kind === "not open" ? `passed fd ${fd} is not open` : `passed fd ${fd} is not a socket`);
    case "SO_DOMAIN":
      throw new ActivationError(`passed fd ${fd} is not an AF_UNIX socket (domain ${failed.domain})`);
    case "SO_TYPE":
      throw new ActivationError(`passed fd ${fd} is not SOCK_SEQPACKET (type ${failed.type}); use ListenSequentialPacket=`);
    case "SO_ACCEPTCONN":
      throw new ActivationError(`passed fd ${fd} is not listening`);
  }
}

/** The first check a server socket handed in as fd `fd` fails, in the D-Bus containers design's order. */
export type SocketCheckFailure =
  | { check: "fstat"; kind: string }
  | { check: "SO_DOMAIN"; domain: number }
  | { check: "SO_TYPE"; type: number }
  | { check: "SO_ACCEPTCONN" };

/**
 * Checks that `fd` is an AF_UNIX SOCK_SEQPACKET socket (fstat S_IFSOCK,
 * SO_DOMAIN, SO_TYPE) and, with `listening`, that it listens
 * (SO_ACCEPTCONN); null when it passes.
 */
export function failedSocketCheck(fd: number, listening: boolean): SocketCheckFailure | null {
  let stat: ReturnType<typeof fstatSync>;
  try {
    stat = fstatSync(fd);
  } catch {
    return { check: "fstat", kind: "not open" };
  }
  if (!stat.isSocket()) return { check: "fstat", kind: fileKind(stat) };
  const domain = intSocketOption(fd, SO_DOMAIN);
  if (domain !== AF_UNIX) return { check: "SO_DOMAIN", domain };
  const type = intSocketOption(fd, SO_TYPE);
  if (type !== SOCK_SEQPACKET) return { check: "SO_TYPE", type };
  if (listening && intSocketOption(fd, SO_ACCEPTCONN) !== 1) return { check: "SO_ACCEPTCONN" };
  return null;
}

/** What an fd that is not a socket is, in words. */
export function fileKind(stat: { isFIFO(): boolean; isFile(): boolean; isDirectory(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean; isSymbolicLink(): boolean }): string {
  if (stat.isSocket()) return "a socket";
  if (stat.isFIFO()) return "a pipe or FIFO";
  if (stat.isFile()) return "a regular file";
  if (stat.isDirectory()) return "a directory";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  return "an anonymous or special file";
}
