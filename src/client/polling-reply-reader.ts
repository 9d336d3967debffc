// Replies read by waiting in poll(2) on the JS thread: for a client process
// that has nothing else to do while its program runs (portal-exec). It saves
// the ~0.5-1 ms that starting Bun's own fd reader costs a fresh process.
//
// Signals still get through at once: a signal sent to the process lands on
// its main thread, which makes poll return EINTR; the loop then yields to the
// event loop so process.on handlers run (and forward the signal) before it
// waits again. Each wait is capped at WAIT_SLICE_MS in case a signal is ever
// taken by another thread.
import { ECONNRESET } from "../libc/errno-values.ts";
import { SystemError } from "../libc/system-error.ts";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { PollList } from "../libc/poll.ts";
import { POLLIN } from "../libc/constants.ts";
import { receiveRecord } from "../fdpass/seqpacket.ts";
import { MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { decodeRecord, ProtocolError, type Record } from "../protocol/v2.ts";
import { ReplyTimeout, type ReplySource } from "./reply-reader.ts";

const WAIT_SLICE_MS = 250;

export class PollingReplyReader implements ReplySource {
  readonly #poll = new PollList(1);
  #ended = false;

  constructor(private readonly sock: OwnedFd) {
    this.#poll.add(sock.fd, POLLIN);
  }

  async next(timeoutMs?: number): Promise<Record | null> {
    const data = await this.#receive(timeoutMs);
    if (!data) return null;
    try {
      return decodeRecord(data);
    } catch (error) {
      throw error instanceof ProtocolError ? error : new ProtocolError(String(error));
    }
  }

  async rest(limit: number): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (let data = await this.#receive(); data && total <= limit; data = await this.#receive()) {
      chunks.push(data);
      total += data.length;
    }
    const out = new Uint8Array(total);
    let offset = 0;
    for (const chunk of chunks) {
      out.set(chunk, offset);
      offset += chunk.length;
    }
    return out;
  }

  async close(): Promise<void> {
    this.#ended = true;
  }

  /** One record's bytes, or null at end of file. */
  async #receive(timeoutMs?: number): Promise<Uint8Array | null> {
    const deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      if (this.#ended) return null;
      let result;
      try {
        result = receiveRecord(this.sock, MAX_RECORD_BYTES, 0);
      } catch (error) {
        // The spawner closed with part of our request unread: the kernel
        // reports that once, ahead of the replies still queued. Read on.
        if (error instanceof SystemError && error.errno === ECONNRESET) continue;
        throw error;
      }
      if (result.kind === "record") return result.data.slice();
      if (result.kind === "eof") {
        this.#ended = true;
        return null;
      }
      if (result.kind === "truncated") throw new ProtocolError(`the spawner sent a record of ${result.bytes} bytes`);
      const left = deadline - performance.now();
      if (left <= 0) throw new ReplyTimeout(timeoutMs!);
      this.#poll.wait(Math.ceil(Math.min(WAIT_SLICE_MS, left)));
      // Let signal handlers (and anything else queued) run before waiting again.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
