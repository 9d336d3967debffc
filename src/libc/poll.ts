// poll(2) over an array of struct pollfd { int fd; short events; short revents; }.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { sysOnce, SystemError } from "./system-error.ts";
import { EINTR } from "./errno-values.ts";

const c = lazySymbols({ poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 } });

const POLLFD = { size: 8, fd: 0, events: 4, revents: 6 } as const;

export class PollList {
  #bytes: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(capacity = 8) {
    this.#bytes = new Uint8Array(POLLFD.size * capacity);
    this.#view = new DataView(this.#bytes.buffer);
  }

  get length(): number {
    return this.#length;
  }

  clear(): void {
    this.#length = 0;
  }

  /** Appends an entry and returns its index. */
  add(fd: number, events: number): number {
    if (POLLFD.size * (this.#length + 1) > this.#bytes.length) {
      const bigger = new Uint8Array(this.#bytes.length * 2);
      bigger.set(this.#bytes);
      this.#bytes = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    const at = POLLFD.size * this.#length;
    this.#view.setInt32(at + POLLFD.fd, fd, true);
    this.#view.setInt16(at + POLLFD.events, events, true);
    this.#view.setInt16(at + POLLFD.revents, 0, true);
    return this.#length++;
  }

  fd(index: number): number {
    return this.#view.getInt32(POLLFD.size * index + POLLFD.fd, true);
  }

  revents(index: number): number {
    return this.#view.getUint16(POLLFD.size * index + POLLFD.revents, true);
  }

  /**
   * Waits up to `timeoutMs` (-1: forever). Returns how many entries are
   * ready, or "interrupted" when a signal arrived first.
   */
  wait(timeoutMs: number): number | "interrupted" {
    const n = sysOnce(() => c().poll(ptr(this.#bytes), this.#length, timeoutMs));
    if (n === -EINTR) return "interrupted";
    if (n < 0) throw new SystemError("poll", -n);
    return n;
  }

  /** Like wait, but -errno (EINVAL: more entries than RLIMIT_NOFILE allows) comes back as a value. */
  tryWait(timeoutMs: number): number {
    return sysOnce(() => c().poll(ptr(this.#bytes), this.#length, timeoutMs));
  }
}
