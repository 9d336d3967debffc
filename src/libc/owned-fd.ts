// Ownership of a file descriptor as a value: whoever holds an OwnedFd closes
// it exactly once. take() hands the number over (to another owner or to a
// child process) and makes any later close() a no-op.
import { libc } from "./libc.ts";
import { errno, SystemError, EBADF } from "./errno.ts";

let openCount = 0;

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
    // Linux always releases the fd, even when close reports EINTR: never retry.
    if (libc.close(fd) === -1) {
      const code = errno();
      if (code === EBADF) throw new SystemError("close", code, `fd ${fd} (closed by someone else: an ownership bug)`);
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
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

/** How many OwnedFds are open in this process (a leak check for tests). */
export function ownedFdCount(): number {
  return openCount;
}
