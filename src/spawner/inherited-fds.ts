// fds a spawner inherits from whoever started it (a leaked pipe, a readiness
// fd) must never reach the programs it runs. posix_spawn closes everything
// above the highest target fd; marking inherited fds close-on-exec once at
// start-up covers the numbers below it.
import { readdirSync } from "node:fs";
import { closeOnExec, setCloseOnExec } from "../libc/file.ts";

export function markInheritedFdsCloseOnExec(): number[] {
  const marked: number[] = [];
  for (const name of readdirSync("/proc/self/fd")) {
    const fd = Number(name);
    if (fd < 3) continue;
    if (closeOnExec(fd) === false) {
      setCloseOnExec(fd, true);
      marked.push(fd);
    }
  }
  return marked;
}
