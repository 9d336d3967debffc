// The spawner's footprint over a long life: RSS and open fds when idle, after
// N requests and after N more. A fresh spawner process is used so earlier
// benchmarks do not count. The second N shows whether growth keeps going
// (a leak) or was the allocator and the JS heaps reaching their working size.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exec } from "../src/client/exec.ts";
import { processFootprint, startPortalSpawner } from "./servers.ts";

export interface Footprint {
  rssMiB: number;
  /** The private, anonymous part of the RSS (heaps), without Bun's executable pages. */
  anonMiB: number;
  peakMiB: number;
  fds: number;
}

export interface MemoryFigures {
  requests: number;
  concurrency: number;
  /** Right after start-up (one request: the readiness probe). */
  idle: Footprint;
  /** After `requests` requests and `settleMs` of quiet. */
  after: Footprint;
  /** After `requests` more. */
  afterTwice: Footprint;
  settleMs: number;
  seconds: number;
}

function footprint(pid: number): Footprint {
  const f = processFootprint(pid);
  const mib = (kib: number) => Math.round((kib / 1024) * 100) / 100;
  return { rssMiB: mib(f.rssKiB), anonMiB: mib(f.anonKiB), peakMiB: mib(f.hwmKiB), fds: f.fds };
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

export async function measureSpawnerMemory(options: { requests: number; concurrency: number; settleMs: number }): Promise<MemoryFigures> {
  const dir = mkdtempSync(join(tmpdir(), "portal-bench-mem-"));
  const spawner = await startPortalSpawner(dir);
  try {
    await Bun.sleep(options.settleMs);
    const idle = footprint(spawner.pid);
    const begin = performance.now();
    await run(spawner.socket, options.requests, options.concurrency);
    await Bun.sleep(options.settleMs);
    const after = footprint(spawner.pid);
    await run(spawner.socket, options.requests, options.concurrency);
    const seconds = Math.round((performance.now() - begin - options.settleMs) / 100) / 10;
    await Bun.sleep(options.settleMs);
    const afterTwice = footprint(spawner.pid);
    return { requests: options.requests, concurrency: options.concurrency, idle, after, afterTwice, settleMs: options.settleMs, seconds };
  } finally {
    await spawner.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
