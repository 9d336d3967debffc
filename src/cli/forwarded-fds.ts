// Which of the client's fds an exec would hand on: the ones it inherited.
// Bun marks every inherited fd above 3 close-on-exec as it starts
// (close_range(4, ~0, CLOSE_RANGE_CLOEXEC)), so above 3 the flag cannot tell
// an inherited fd from the runtime's own; there, everything counts except the
// runtime's event loop (its epoll fd and eventfd: all it has open before our
// code runs). An inherited epoll fd or eventfd above 3 needs --fd.
//
// No node:fs here (see process-bytes.ts): every open fd is below the fd
// table's size, which /proc/self/status reports as FDSize (64 or 256 unless
// the process once held more), and one poll(2) over all those numbers marks
// the closed ones POLLNVAL.
import { closeOnExec, isOpen, readLink, readWholeFile } from "../libc/file.ts";
import { openFdsBelow } from "../libc/poll.ts";

const EVENTPOLL = "anon_inode:[eventpoll]";
const EVENTFD = "anon_inode:[eventfd]";
const RUNTIME_FD_KINDS = new Set([EVENTPOLL, EVENTFD]);

export function inheritableFds(status?: string | null): number[] {
  return scanFds(status).inherited;
}

/**
 * The fds an exec would hand on, and the runtime's event-loop (epoll) fd,
 * which a client that waits in poll(2) on its own thread also waits on.
 * `status`: the text of /proc/self/status, when the caller has read it already.
 */
export function scanFds(status?: string | null): { inherited: number[]; eventLoop: number | null } {
  const inherited: number[] = [];
  let eventLoop: number | null = null;
  for (const fd of openFds(fdTableSize(status))) {
    const cloexec = closeOnExec(fd);
    if (cloexec === null) continue;
    if (!cloexec) {
      inherited.push(fd);
      continue;
    }
    if (fd < 3) continue;
    const kind = fdKind(fd);
    if (kind === EVENTPOLL) eventLoop ??= fd;
    // Up to 3 the flag tells: a close-on-exec fd there is the runtime's own.
    else if (fd > 3 && !RUNTIME_FD_KINDS.has(kind)) inherited.push(fd);
  }
  return { inherited, eventLoop };
}

/** The open fds below `tableSize`: one syscall instead of an fcntl per number. */
function openFds(tableSize: number): number[] {
  const open = openFdsBelow(tableSize);
  if (open) return open;
  // EINVAL: more numbers than RLIMIT_NOFILE allows in one poll; ask one by one.
  const each: number[] = [];
  for (let fd = 0; fd < tableSize; fd++) if (isOpen(fd)) each.push(fd);
  return each;
}

function fdTableSize(given?: string | null): number {
  const status = given ?? new TextDecoder().decode(readWholeFile("/proc/self/status"));
  const size = /^FDSize:\s*(\d+)$/m.exec(status);
  if (!size) throw new Error("/proc/self/status has no FDSize line");
  return Number(size[1]);
}

/** What the kernel names the fd ("anon_inode:[eventpoll]", "pipe:[12]", a path); a runtime kind if it cannot say. */
function fdKind(fd: number): string {
  try {
    return new TextDecoder().decode(readLink(`/proc/self/fd/${fd}`));
  } catch {
    return EVENTFD;
  }
}

export { isOpen };
