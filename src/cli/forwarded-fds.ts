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
import { ptr } from "bun:ffi";
import { libc } from "../libc/libc.ts";
import { F_GETFD, FD_CLOEXEC, POLLNVAL } from "../libc/constants.ts";
import { POLLFD_SIZE } from "../libc/structs.ts";
import { readLink, readWholeFile } from "./process-bytes.ts";

const RUNTIME_FD_KINDS = new Set(["anon_inode:[eventpoll]", "anon_inode:[eventfd]"]);

export function inheritableFds(): number[] {
  const fds: number[] = [];
  for (const fd of openFds(fdTableSize())) {
    const flags = libc.fcntl(fd, F_GETFD, 0);
    if (flags < 0) continue;
    if ((flags & FD_CLOEXEC) === 0 || (fd > 3 && !isRuntimeFd(fd))) fds.push(fd);
  }
  return fds;
}

/** The open fds below `tableSize`: one syscall instead of an fcntl per number. */
function openFds(tableSize: number): number[] {
  const pollfds = new Int32Array((tableSize * POLLFD_SIZE) / 4);
  // struct pollfd { int fd; short events; short revents; }: events 0, just "is it valid".
  for (let fd = 0; fd < tableSize; fd++) pollfds[fd * 2] = fd;
  const open: number[] = [];
  if (libc.poll(ptr(pollfds), tableSize, 0) < 0) {
    // EINVAL: more numbers than RLIMIT_NOFILE allows in one poll; ask one by one.
    for (let fd = 0; fd < tableSize; fd++) if (libc.fcntl(fd, F_GETFD, 0) >= 0) open.push(fd);
    return open;
  }
  for (let fd = 0; fd < tableSize; fd++) if (((pollfds[fd * 2 + 1]! >>> 16) & POLLNVAL) === 0) open.push(fd);
  return open;
}

function fdTableSize(): number {
  const status = new TextDecoder().decode(readWholeFile("/proc/self/status"));
  const size = /^FDSize:\s*(\d+)$/m.exec(status);
  if (!size) throw new Error("/proc/self/status has no FDSize line");
  return Number(size[1]);
}

function isRuntimeFd(fd: number): boolean {
  try {
    return RUNTIME_FD_KINDS.has(new TextDecoder().decode(readLink(`/proc/self/fd/${fd}`)));
  } catch {
    return true;
  }
}

export function isOpen(fd: number): boolean {
  return libc.fcntl(fd, F_GETFD, 0) >= 0;
}
