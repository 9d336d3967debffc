// Ownership of a file descriptor as a value: whoever holds an OwnedFd closes
// it exactly once. take() hands the number over (to another owner or to a
// child process) and makes any later close() a no-op. An FdScope owns many:
// a unit of work (a request, a spawn) adopts every fd it receives the moment
// it arrives and releases whatever is left in one place, on every path.
import { FFIType } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { EBADF } from "./errno-values.ts";
import { lastErrno, SystemError } from "./system-error.ts";

const c = lazySymbols({ close: { args: [FFIType.i32], returns: FFIType.i32 } });

let openCount = 0;
const closeListeners = new Set<(fd: number) => void>();

export class OwnedFd {
  #fd: number;

  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 0) throw new RangeError(`not an fd: ${fd}`);
    this.#fd = fd;
    openCount++;
  }

  /** The fd number, for passing to a syscall. Throws once closed or taken. */
  get fd(): number {
    if (this.#fd < 0) throw new Error("fd used after close");
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Gives up ownership and returns the raw number; the caller must close it. */
  take(): number {
    const fd = this.fd;
    this.#fd = -1;
    openCount--;
    return fd;
  }

  close(): void {
    if (this.#fd < 0) return;
    const fd = this.#fd;
    this.#fd = -1;
    openCount--;
    // Whoever waits on this number must stop before the number is reused.
    for (const listener of closeListeners) listener(fd);
    // Linux always releases the fd, even when close reports EINTR: never retry.
    if (c().close(fd) === -1) {
      const code = lastErrno();
      if (code === EBADF) throw new SystemError("close", code, `fd ${fd} (closed by someone else: an ownership bug)`);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Called with the number of every OwnedFd right before it is closed (the
 * FdWatcher drops its watches on it), so no wait outlives its fd.
 */
export function onFdClose(listener: (fd: number) => void): () => void {
  closeListeners.add(listener);
  return () => closeListeners.delete(listener);
}

/** How many OwnedFds are open in this process (a leak check for tests). */
export function ownedFdCount(): number {
  return openCount;
}

/** Closes every fd in the list, even if one of the closes throws. */
export function closeAll(fds: Iterable<OwnedFd>): void {
  let first: unknown;
  for (const fd of fds) {
    try {
      fd.close();
    } catch (error) {
      first ??= error;
    }
  }
  if (first) throw first;
}

/**
 * The owner of a unit of work's fds. Every fd is adopted the moment it
 * arrives; one that moves on (to a child, to a caller) is released from the
 * scope; disposing the scope closes the rest, once.
 */
export class FdScope {
  readonly #fds = new Set<OwnedFd>();

  /** Takes ownership of `fds` and returns them. */
  adopt<T extends OwnedFd | readonly OwnedFd[]>(fds: T): T {
    for (const fd of Array.isArray(fds) ? fds : [fds as OwnedFd]) this.#fds.add(fd);
    return fds;
  }

  /** Hands `fd` out of the scope: closing it is now the receiver's job. */
  release(fd: OwnedFd): OwnedFd {
    this.#fds.delete(fd);
    return fd;
  }

  /** Closes `fd` now (it must belong to the scope). */
  close(fd: OwnedFd): void {
    this.#fds.delete(fd);
    fd.close();
  }

  get size(): number {
    return this.#fds.size;
  }

  /** Closes every fd still in the scope. */
  closeAll(): void {
    const fds = [...this.#fds];
    this.#fds.clear();
    closeAll(fds);
  }

  [Symbol.dispose](): void {
    this.closeAll();
  }
}
