// fds a spawner inherits from whoever started it (a leaked pipe, a readiness
// fd) must never reach the programs it runs. posix_spawn closes everything
// above the highest target fd; marking inherited fds close-on-exec once at
// start-up covers the numbers below it.
import { readdirSync } from "node:fs";
import { libc } from "../libc/libc.ts";
import { FD_CLOEXEC, F_GETFD, F_SETFD } from "../libc/constants.ts";

export function markInheritedFdsCloseOnExec(): number[] {
  const marked: number[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    if (fd < 3) continue;
    const flags = libc.fcntl(fd, F_GETFD, 0);
    if (flags >= 0 && (flags & FD_CLOEXEC) === 0) {
      libc.fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
      marked.push(fd);
    }
  }
  return marked;
}
