// The long-lived servers a benchmark talks to, each in its own process (as a
// user would run them): portal-spawner, and s6-ipcserver + s6-sudod as the
// peer. Every process started here is stopped by its pid.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { exec } from "../src/client/exec.ts";

export const ROOT = join(import.meta.dir, "..");
export const BUN = process.execPath;

export interface Server {
  readonly name: string;
  readonly pid: number;
  readonly socket: string;
  readonly logFile: string;
  stop(): Promise<void>;
}

async function stopProcess(proc: Subprocess, graceMs = 3000): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

function describeExit(proc: Subprocess, logFile: string): string {
  return `exited with ${proc.exitCode ?? proc.signalCode} (log: ${logFile})`;
}

/**
 * Starts `portal-spawner --socket <dir>/portal.sock` from the source tree and
 * resolves once a request has gone through (so it is listening and warm).
 */
export async function startPortalSpawner(dir: string, extraArgs: string[] = []): Promise<Server> {
  const socket = join(dir, "portal.sock");
  const logFile = join(dir, "portal-spawner.log");
  const proc = Bun.spawn([BUN, ...(process.env.BENCH_SMOL ? ["--smol"] : []), join(ROOT, "src/cli/portal-spawner.ts"), "--socket", socket, "--log-level", "warn", ...extraArgs], {
    stdio: ["ignore", "ignore", Bun.file(logFile)],
  });
  try {
    const first = exec({ socket, args: ["/bin/true"], fds: [], waitForSocket: 30_000 });
    const exited = proc.exited.then(() => {
      throw new Error(`portal-spawner ${describeExit(proc, logFile)}`);
    });
    await Promise.race([first, exited]);
  } catch (error) {
    await stopProcess(proc);
    throw error;
  }
  return { name: "portal-spawner", pid: proc.pid, socket, logFile, stop: () => stopProcess(proc) };
}

/**
 * Starts `s6-ipcserver -1 <dir>/s6.sock s6-sudod`: a forking server, one
 * s6-sudod per connection, which runs the client's argv. `-1` writes a
 * newline to stdout once it listens.
 */
export async function startS6Sudod(dir: string): Promise<Server> {
  const socket = join(dir, "s6.sock");
  const logFile = join(dir, "s6-ipcserver.log");
  const proc = Bun.spawn(["s6-ipcserver", "-1", socket, "s6-sudod"], { stdio: ["ignore", "pipe", Bun.file(logFile)] });
  const reader = proc.stdout.getReader();
  const ready = await reader.read();
  reader.releaseLock();
  if (ready.done) {
    await stopProcess(proc);
    throw new Error(`s6-ipcserver ${describeExit(proc, logFile)}`);
  }
  return { name: "s6-ipcserver", pid: proc.pid, socket, logFile, stop: () => stopProcess(proc) };
}

/**
 * Resident set size (and its private anonymous part: RSS also counts the
 * pages of Bun's own executable it has touched, ~35 MiB, shared with every
 * other Bun process) and the open fd count of a running process, from /proc.
 */
export function processFootprint(pid: number): { rssKiB: number; anonKiB: number; hwmKiB: number; fds: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssKiB: field("VmRSS"), anonKiB: field("RssAnon"), hwmKiB: field("VmHWM"), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/**
 * CPU time used so far by a process, its threads and its reaped children
 * (utime + stime + cutime + cstime), in ms. Clock ticks are 10 ms: only
 * differences over thousands of requests mean anything.
 */
export function processCpuMs(pid: number | "self"): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which may itself contain spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = (i: number) => Number(fields[i]) * 10;
  return { own: ticks(11) + ticks(12), children: ticks(13) + ticks(14) };
}
