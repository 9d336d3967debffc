// A burst: many clients at once against a spawner that runs only a few
// programs at a time (--max-children). Every request must wait its turn in
// the queue and get its own program's status; none may be refused. The
// figures: the time to serve them all, and how long requests waited to start.
import { start } from "../src/client/exec.ts";
import { summarize } from "./stats.ts";

export interface BurstFigures {
  clients: number;
  maxChildren: number;
  totalMs: number;
  /** From the call to the program's start (the queue wait plus the spawn). */
  waitMs: ReturnType<typeof summarize>;
  wrongStatus: number;
  failed: number;
}

export async function measureBurst(socket: string, options: { clients: number; maxChildren: number }): Promise<BurstFigures> {
  const began = performance.now();
  const waits: number[] = [];
  let wrongStatus = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: options.clients }, async (_, i) => {
      const called = performance.now();
      const code = i % 100;
      try {
        const remote = start({ socket, args: ["/bin/sh", "-c", `exit ${code}`], fds: [] });
        void remote.pid.then(() => waits.push(performance.now() - called));
        const result = await remote.result;
        if (result.exitCode !== code) wrongStatus++;
      } catch {
        failed++;
      }
    }),
  );
  return { clients: options.clients, maxChildren: options.maxChildren, totalMs: performance.now() - began, waitMs: summarize(waits), wrongStatus, failed };
}
