// Replies read through the FdWatcher's poll thread: what a client embedded
// in a longer-lived Bun program uses (the library's exec/start), so waiting
// never blocks the program's own event loop. Replies may carry an fd (a pty
// master), which a plain read(2) would drop: every read is a recvmsg.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { ECONNRESET } from "../libc/errno-values.ts";
import { SystemError } from "../libc/system-error.ts";
import { RecordReader } from "../fdpass/record-reader.ts";
import { WatchCancelled } from "../fdwatch/fd-watcher.ts";
import { MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { ReplyTimeout, restOf, type RawReply, type ReplySource } from "./reply-source.ts";

/** Replies carry at most this many fds (PTY_MASTER carries one). */
const MAX_REPLY_FDS = 4;

export class WatchedReplies implements ReplySource {
  readonly #reader: RecordReader;
  #ended = false;

  constructor(sock: OwnedFd) {
    this.#reader = new RecordReader(sock);
  }

  async nextRaw(timeoutMs?: number): Promise<RawReply | null> {
    if (this.#ended) return null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let timedOut = false;
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        timedOut = true;
        this.#reader.cancel();
      }, timeoutMs);
    }
    try {
      for (;;) {
        let result;
        try {
          result = await this.#reader.next(MAX_RECORD_BYTES, MAX_REPLY_FDS);
        } catch (error) {
          // The spawner closed with part of our request unread: the kernel
          // reports that once, ahead of the replies still queued. Read on.
          if (error instanceof SystemError && error.errno === ECONNRESET) continue;
          if (error instanceof WatchCancelled && timedOut) throw new ReplyTimeout(timeoutMs!);
          throw error;
        }
        if (result.kind === "eof") {
          this.#ended = true;
          return null;
        }
        if (result.kind === "truncated") throw new ProtocolError(`the spawner sent a record of ${result.bytes} bytes`);
        return { data: result.data, fds: result.fds };
      }
    } finally {
      clearTimeout(timer);
      // A cancelled reader stays cancelled: a timed-out wait ends the conversation.
    }
  }

  rest(limit: number): Promise<Uint8Array> {
    return restOf(this, limit);
  }

  close(): void {
    this.#ended = true;
    this.#reader.cancel();
  }
}
