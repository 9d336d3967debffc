// Which of the client's fds an exec would hand on: open and not close-on-exec.
// The runtime's own fds (epoll, eventfd, ...) are all close-on-exec, so they
// are never forwarded.
import { readdirSync } from "node:fs";
import { libc } from "../libc/libc.ts";
import { F_GETFD, FD_CLOEXEC } from "../libc/constants.ts";

export function inheritableFds(): number[] {
  const fds: number[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    const flags = libc.fcntl(fd, F_GETFD, 0);
    // -1: the directory fd readdir used, already closed again.
    if (flags >= 0 && (flags & FD_CLOEXEC) === 0) fds.push(fd);
  }
  return fds.sort((a, b) => a - b);
}

export function isOpen(fd: number): boolean {
  return libc.fcntl(fd, F_GETFD, 0) >= 0;
}
