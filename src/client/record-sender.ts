// Sending request records without ever blocking the JS thread: a blocked
// thread would also stall a spawner this same process serves (serve() and
// exec() in one program), so a request larger than the socket buffer could
// never be read. A full socket is waited on instead, at most `timeoutMs`
// per record (a stuck spawner).
import type { OwnedFd } from "../libc/owned-fd.ts";
import { ECONNRESET, EPIPE } from "../libc/errno-values.ts";
import { SystemError } from "../libc/system-error.ts";
import { MSG_DONTWAIT } from "../libc/constants.ts";
import { sendRecord } from "../fdpass/seqpacket.ts";
import { PortalError } from "./errors.ts";

export type RecordSender = (record: Uint8Array, fds?: readonly number[]) => Promise<void>;

export function recordSender(sock: OwnedFd, timeoutMs: number): RecordSender {
  return async (record, fds = []) => {
    for (;;) {
      try {
        if (sendRecord(sock, record, fds, MSG_DONTWAIT)) return;
      } catch (error) {
        if (error instanceof SystemError) {
          if (error.errno === EPIPE || error.errno === ECONNRESET) throw new PortalError("gone", "the spawner closed the connection while the request was sent", { cause: error });
          throw new PortalError("connect", `sending the request failed: ${error.message}`, { cause: error });
        }
        throw error;
      }
      await roomToWrite(sock, timeoutMs);
    }
  };
}

async function roomToWrite(sock: OwnedFd, timeoutMs: number): Promise<void> {
  // Loaded only now: a request rarely fills the socket buffer, and the
  // watcher's module (node:worker_threads) costs a thin client ~4 ms to load.
  const { FdWatcher } = await import("../fdwatch/fd-watcher.ts");
  const watcher = FdWatcher.shared();
  const ready = watcher.writable(sock.fd);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => reject(new PortalError("timeout", "the spawner stopped reading the request")), timeoutMs);
    }
  });
  try {
    await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
    watcher.cancel(sock.fd);
  }
}
