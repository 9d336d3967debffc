// `portal demo` is the product in one run: it must succeed, say so, check
// the shared buffer, and leave no socket, temp dir or process behind.
import { test, expect } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { BUN, PORTAL, Scratch, processExists } from "./helpers/harness.ts";

/** Pids of live processes whose command line mentions `needle`. */
function processesMentioning(needle: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`).includes(needle) && processExists(Number(name))) found.push(Number(name));
    } catch {
      // Gone while we looked.
    }
  }
  return found;
}

test("portal demo exits 0, checks the buffer, and leaves nothing behind", async () => {
  const scratch = new Scratch();
  try {
    // The demo makes its temp dir under TMPDIR: give it one of its own to inspect afterwards.
    const tmp = scratch.path("tmp");
    mkdirSync(tmp);
    const proc = scratch.track(
      Bun.spawn([BUN, PORTAL, "demo"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, TMPDIR: tmp } }),
    );
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    const spawnerLine = /^spawner: pid (\d+) on (\S+)$/m.exec(stdout);
    const rendererLine = /^renderer: ready \S+ pid (\d+)$/m.exec(stdout);
    for (const match of [spawnerLine, rendererLine]) if (match) scratch.trackPid(Number(match[1]));

    // stderr carries the spawner's log lines; show it only when the demo failed.
    expect({ code, stderr: code === 0 ? "" : stderr }).toEqual({ code: 0, stderr: "" });
    expect(stdout).toMatch(/^demo: OK$/m);
    expect(stdout).toMatch(/^buffer check: all \d+ bytes match frame 20$/m);
    expect(spawnerLine).not.toBeNull();
    expect(rendererLine).not.toBeNull();

    const socket = spawnerLine![2]!;
    expect(socket.startsWith(`${tmp}/`)).toBe(true);
    expect(existsSync(socket)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
    expect(processExists(Number(spawnerLine![1]))).toBe(false);
    expect(processExists(Number(rendererLine![1]))).toBe(false);
    // Anything the demo started was given a path under our TMPDIR (spawner socket, clients' --socket).
    expect(processesMentioning(tmp)).toEqual([]);
  } finally {
    await scratch.cleanup();
  }
}, 120_000);
