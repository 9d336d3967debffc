// A server socket handed over by whoever started the spawner, as the D-Bus
// containers design (fd-passing creation) hands one to a message bus:
// `--socket-fd N`, an AF_UNIX SOCK_SEQPACKET socket, maybe not yet bound,
// and `--ready-notifier-fd M`, the read end of a pipe or FIFO. The caller
// binds and listens whenever it likes, then closes its write end (or
// writes to it): once M polls readable we close it and accept on N. Without
// a notifier N must listen already. Every check that fails is named.
import { fstatSync } from "node:fs";
import { OwnedFd } from "../libc/owned-fd.ts";
import { setCloseOnExec, setNonBlocking } from "../libc/file.ts";
import { FdWatcher } from "../fdwatch/fd-watcher.ts";
import { failedSocketCheck, fileKind, type SocketCheckFailure } from "./socket-activation.ts";

export class HandoverError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HandoverError";
  }
}

export interface Handover {
  /** The server socket's fd number. */
  socketFd: number;
  /** The ready notifier's fd number, or null when the socket listens already. */
  readyNotifierFd: number | null;
  /** Called once before waiting on the notifier. */
  onWaiting?: () => void;
}

/**
 * The handed-over socket, listening, close-on-exec and non-blocking, once
 * the notifier (if any) has fired; a HandoverError naming the failed check
 * otherwise. The notifier is closed either way.
 */
export async function handedOverSocket(handover: Handover, watcher: () => FdWatcher = () => FdWatcher.shared()): Promise<OwnedFd> {
  const { socketFd, readyNotifierFd } = handover;
  using notifier = readyNotifierFd === null ? null : new OwnedFd(readyNotifierFd);
  if (notifier) {
    let kind: string;
    try {
      const stat = fstatSync(notifier.fd);
      kind = stat.isFIFO() ? "" : fileKind(stat);
    } catch {
      kind = "not open";
    }
    if (kind) throw new HandoverError(`--ready-notifier-fd ${readyNotifierFd} failed the fstat check: ${kind === "not open" ? "it is not open" : `it is ${kind}, not a pipe or FIFO (S_IFIFO)`}`);
  }
  // What a socket is cannot change while we wait; whether it listens can.
  const early = failedSocketCheck(socketFd, false);
  if (early) throw new HandoverError(describe(socketFd, early, notifier !== null));
  if (notifier) {
    handover.onWaiting?.();
    await watcher().readable(notifier.fd);
    notifier.close();
  }
  const late = failedSocketCheck(socketFd, true);
  if (late) throw new HandoverError(describe(socketFd, late, notifier !== null));
  // Close-on-exec so no program inherits it; non-blocking for the accept loop.
  setCloseOnExec(socketFd, true);
  setNonBlocking(socketFd, true);
  return new OwnedFd(socketFd);
}

function describe(fd: number, failure: SocketCheckFailure, notified: boolean): string {
  const failed = `--socket-fd ${fd} failed the ${failure.check} check`;
  switch (failure.check) {
    case "fstat":
      return `${failed}: ${failure.kind === "not open" ? "it is not open" : `it is ${failure.kind}, not a socket (S_IFSOCK)`}`;
    case "SO_DOMAIN":
      return `${failed}: its domain is ${failure.domain}, not AF_UNIX (1)`;
    case "SO_TYPE":
      return `${failed}: its type is ${failure.type}${failure.type === 1 ? " (SOCK_STREAM)" : failure.type === 2 ? " (SOCK_DGRAM)" : ""}, not SOCK_SEQPACKET (5)`;
    case "SO_ACCEPTCONN":
      return notified
        ? `${failed}: it does not listen once the ready notifier fired (bind and listen before making the notifier readable)`
        : `${failed}: it does not listen (without --ready-notifier-fd it must listen already)`;
  }
}
