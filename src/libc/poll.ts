// poll(2) over an array of struct pollfd { int fd; short events; short revents; }.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { sysOnce, SystemError } from "./system-error.ts";
import { EINTR } from "./errno-values.ts";
import { POLLNVAL } from "./constants.ts";

const c = lazySymbols({ poll: { args: [FFIType.ptr, FFIType.u64, FFIType.i32], returns: FFIType.i32 } });

/** struct pollfd { int fd; short events; short revents; }: 8 bytes, read as an i32 (fd) and two i16 (events, revents). */
const POLLFD_BYTES = 8;

export class PollList {
  #bytes: Uint8Array;
  #ints: Int32Array;
  #shorts: Int16Array;
  #length = 0;

  constructor(capacity = 8) {
    this.#bytes = new Uint8Array(POLLFD_BYTES * capacity);
    this.#ints = new Int32Array(this.#bytes.buffer);
    this.#shorts = new Int16Array(this.#bytes.buffer);
  }

  get length(): number {
    return this.#length;
  }

  clear(): void {
    this.#length = 0;
  }

  /** Appends an entry and returns its index. */
  add(fd: number, events: number): number {
    if (POLLFD_BYTES * (this.#length + 1) > this.#bytes.length) {
      const bigger = new Uint8Array(this.#bytes.length * 2);
      bigger.set(this.#bytes);
      this.#bytes = bigger;
      this.#ints = new Int32Array(bigger.buffer);
      this.#shorts = new Int16Array(bigger.buffer);
    }
    const i = this.#length;
    this.#ints[2 * i] = fd;
    this.#shorts[4 * i + 2] = events;
    this.#shorts[4 * i + 3] = 0;
    return this.#length++;
  }

  fd(index: number): number {
    return this.#ints[2 * index]!;
  }

  revents(index: number): number {
    return this.#shorts[4 * index + 3]! & 0xffff;
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

/**
 * The open fds among 0..count-1, by one poll(2) with no events (a closed
 * number comes back POLLNVAL); null when count is more than RLIMIT_NOFILE
 * lets one poll take (EINVAL). A tight loop over one array: a fresh client
 * asks this at every start.
 */
export function openFdsBelow(count: number): number[] | null {
  const ints = new Int32Array(2 * count);
  for (let fd = 0; fd < count; fd++) ints[2 * fd] = fd;
  if (sysOnce(() => c().poll(ptr(ints), count, 0)) < 0) return null;
  const shorts = new Int16Array(ints.buffer);
  const open: number[] = [];
  for (let fd = 0; fd < count; fd++) if ((shorts[4 * fd + 3]! & POLLNVAL) === 0) open.push(fd);
  return open;
}
