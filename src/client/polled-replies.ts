// Replies read by waiting in poll(2) on the JS thread: for a client process
// that has nothing else to do while its program runs (portal-exec). It saves
// the ~0.5-1 ms that starting the FdWatcher's thread costs a fresh process.
//
// Signals still get through at once: a signal sent to the process lands on
// its main thread, which makes poll return EINTR; the loop then yields to the
// event loop so process.on handlers run (and forward the signal) before it
// waits again. Each wait is capped at WAIT_SLICE_MS in case a signal is ever
// taken by another thread. A PollPump's fds are waited on in the same poll.
import { ECONNRESET } from "../libc/errno-values.ts";
import { SystemError } from "../libc/system-error.ts";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { PollList } from "../libc/poll.ts";
import { POLLIN } from "../libc/constants.ts";
import { receiveRecord } from "../fdpass/seqpacket.ts";
import { MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { ReplyTimeout, restOf, type RawReply, type ReplySource } from "./reply-source.ts";
import type { PollPump } from "./poll-pump.ts";

const WAIT_SLICE_MS = 250;
/** Replies carry at most this many fds (PTY_MASTER carries one). */
const MAX_REPLY_FDS = 4;

export class PolledReplies implements ReplySource {
  readonly #poll = new PollList(4);
  #ended = false;

  /**
   * `eventLoopFd`: the runtime's own epoll fd (see ExecOptions.eventLoopFd).
   * It turns readable when the runtime has work for this thread, such as a
   * signal handler to run after the signal landed on another of its threads
   * or just before the wait began: the wait then ends at once, instead of
   * after its time slice.
   */
  constructor(
    private readonly sock: OwnedFd,
    private readonly pump: PollPump | null = null,
    private readonly eventLoopFd: number | null = null,
  ) {}

  async nextRaw(timeoutMs?: number): Promise<RawReply | null> {
    const deadline = timeoutMs === undefined ? Infinity : performance.now() + timeoutMs;
    for (;;) {
      if (this.#ended) return null;
      let result;
      try {
        result = receiveRecord(this.sock, MAX_RECORD_BYTES, MAX_REPLY_FDS);
      } catch (error) {
        // The spawner closed with part of our request unread: the kernel
        // reports that once, ahead of the replies still queued. Read on.
        if (error instanceof SystemError && error.errno === ECONNRESET) continue;
        throw error;
      }
      if (result.kind === "record") return { data: result.data, fds: result.fds };
      if (result.kind === "eof") {
        this.#ended = true;
        return null;
      }
      if (result.kind === "truncated") throw new ProtocolError(`the spawner sent a record of ${result.bytes} bytes`);
      const left = deadline - performance.now();
      if (left <= 0) throw new ReplyTimeout(timeoutMs!);
      this.#poll.clear();
      this.#poll.add(this.sock.fd, POLLIN);
      const extra = this.pump?.watched() ?? [];
      for (const { fd, events } of extra) this.#poll.add(fd, events);
      if (this.eventLoopFd !== null) this.#poll.add(this.eventLoopFd, POLLIN);
      const ready = this.#poll.wait(Math.ceil(Math.min(WAIT_SLICE_MS, left)));
      if (this.pump && extra.length > 0) this.pump.ready(extra.map((_, i) => (ready === "interrupted" ? 0 : this.#poll.revents(i + 1))));
      // Let signal handlers (and anything else queued) run before waiting again.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  rest(limit: number): Promise<Uint8Array> {
    return restOf(this, limit);
  }

  close(): void {
    this.#ended = true;
  }
}
