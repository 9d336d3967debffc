// One request carrying N fds, end to end: the client sends them (253 per
// record), the spawner receives them, the program starts with all of them at
// their target numbers, exits, and the outcome comes back.
import { OwnedFd, closeAll } from "../src/libc/owned-fd.ts";
import { O_RDWR } from "../src/libc/constants.ts";
import { openFile } from "../src/libc/file.ts";
import { exec } from "../src/client/exec.ts";


function openDevNull(count: number): OwnedFd[] {
  const fds: OwnedFd[] = [];
  for (let i = 0; i < count; i++) fds.push(openFile("/dev/null", O_RDWR));
  return fds;
}

export async function measureFdCounts(socket: string, options: { counts: readonly number[]; iterations: number; warmup: number }) {
  const samples: Record<string, number[]> = Object.fromEntries(options.counts.map((n) => [String(n), []]));
  const opened = new Map(options.counts.map((n) => [n, openDevNull(n)]));
  try {
    for (let i = 0; i < options.warmup + options.iterations; i++) {
      for (const count of options.counts) {
        // Targets 3, 4, ... as a caller handing over extra descriptors would.
        const fds = new Map(opened.get(count)!.map((fd, k) => [3 + k, fd.fd]));
        const started = performance.now();
        const result = await exec({ socket, args: ["/bin/true"], fds });
        const ms = performance.now() - started;
        if (result.exitCode !== 0) throw new Error(`request with ${count} fds: ${result.outcome.kind} ${result.shellExitCode}`);
        if (i >= options.warmup) samples[String(count)]!.push(ms);
      }
    }
  } finally {
    for (const fds of opened.values()) closeAll(fds);
  }
  return samples;
}
