// Awaitable records from a non-blocking SEQPACKET socket: try recvmsg, and
// only when it says EAGAIN wait (through the FdWatcher) and try again.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { FdWatcher, WatchCancelled } from "../fdwatch/fd-watcher.ts";
import { receiveRecord, type Received } from "./seqpacket.ts";

export type ReadResult = Exclude<Received, { kind: "again" }>;

export class RecordReader {
  #waiting = false;
  #cancelled = false;

  constructor(
    private readonly sock: OwnedFd,
    private readonly watcher: FdWatcher = FdWatcher.shared(),
  ) {}

  /** The next record; rejects with WatchCancelled once cancel() has been called. */
  async next(maxBytes: number, maxFds: number): Promise<ReadResult> {
    for (;;) {
      if (this.#cancelled) throw new WatchCancelled(this.sock.fd);
      const result = receiveRecord(this.sock, maxBytes, maxFds);
      if (result.kind !== "again") return result;
      this.#waiting = true;
      try {
        await this.watcher.readable(this.sock.fd);
      } finally {
        this.#waiting = false;
      }
    }
  }

  /** Stops a pending next() and every later one; required before the socket is closed. */
  cancel(): void {
    this.#cancelled = true;
    if (this.#waiting) this.watcher.cancel(this.sock.fd);
  }
}
