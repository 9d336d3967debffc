// The spawner's footprint over a long life: RSS and open fds idle, after a
// short warm-up, and after many requests. A fresh spawner process is used so
// earlier benchmarks do not count.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../src/client/exec.ts";
import { processFootprint, startPortalSpawner } from "./servers.ts";

export interface MemoryFigures {
  requests: number;
  /** Right after start-up (one request: the readiness probe). */
  idle: Footprint;
  /** After a warm-up of `warmup` requests, before the long run. */
  warm: Footprint;
  /** After all requests and `settleMs` of quiet. */
  after: Footprint;
  settleMs: number;
  seconds: number;
}

export interface Footprint {
  rssMiB: number;
  peakMiB: number;
  fds: number;
}

function footprint(pid: number): Footprint {
  const f = processFootprint(pid);
  return { rssMiB: f.rssKiB / 1024, peakMiB: f.hwmKiB / 1024, fds: f.fds };
}

async function run(socket: string, total: number, concurrency: number): Promise<void> {
  let started = 0;
  const lane = async () => {
    while (started < total) {
      started++;
      const result = await exec({ socket, args: ["/bin/true"] });
      if (result.exitCode !== 0) throw new Error(`request failed: ${result.outcome.kind}`);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

export async function measureSpawnerMemory(options: { requests: number; warmup: number; concurrency: number; settleMs: number }): Promise<MemoryFigures> {
  const dir = mkdtempSync(join(tmpdir(), "portal-bench-mem-"));
  const spawner = await startPortalSpawner(dir);
  try {
    await Bun.sleep(options.settleMs);
    const idle = footprint(spawner.pid);
    await run(spawner.socket, options.warmup, options.concurrency);
    await Bun.sleep(options.settleMs);
    const warm = footprint(spawner.pid);
    const begin = performance.now();
    await run(spawner.socket, options.requests, options.concurrency);
    const seconds = (performance.now() - begin) / 1000;
    await Bun.sleep(options.settleMs);
    const after = footprint(spawner.pid);
    return { requests: options.requests, idle, warm, after, settleMs: options.settleMs, seconds };
  } finally {
    await spawner.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
