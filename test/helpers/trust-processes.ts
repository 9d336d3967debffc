// Spawner and client processes for the trust-* tests: start the real CLI,
// wait until its socket listens (read from /proc, so the check itself opens
// no connection the spawner would have to serve), collect what it logs, and
// count its fds and children. Everything is started through a Scratch, whose
// cleanup ends it by pid even when a test fails.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import type { Subprocess } from "bun";
import { BUN, EXEC, SPAWNER, programChildren, signalOf, waitFor, type Scratch } from "./harness.ts";
import { isListening, catchesSignal, envWithoutPortal as baseEnv, startProcess, TextCollector as Output, type Proc, type StartOptions } from "./harness.ts";
export { isListening, catchesSignal, baseEnv, Output };

/** Generous: the machine is shared with other test runs. */
export const DEADLINE_MS = 30_000;

export type { Proc, StartOptions };
export { startProcess };

export interface Finished {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export async function finish(run: Proc, timeoutMs = DEADLINE_MS): Promise<Finished> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`pid ${run.proc.pid} did not end within ${timeoutMs} ms; stdout ${JSON.stringify(run.stdout.text)} stderr ${JSON.stringify(run.stderr.text)}`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([Promise.all([run.proc.exited, run.stdout.done, run.stderr.done]), timedOut]);
  } finally {
    clearTimeout(timer);
  }
  return {
    code: run.proc.signalCode ? null : run.proc.exitCode,
    signal: signalOf(run.proc),
    stdout: run.stdout.text,
    stderr: run.stderr.text,
  };
}

/** portal-exec with exactly `args`, optionally wrapped (e.g. in setpriv). */
export function startExec(scratch: Scratch, args: string[], options: StartOptions = {}): Proc {
  return startProcess(scratch, [BUN, EXEC, ...args], options);
}

export async function runExec(scratch: Scratch, args: string[], options: StartOptions = {}): Promise<Finished> {
  return finish(startExec(scratch, args, options));
}

export interface SpawnerProc extends Proc {
  socket: string;
  pid: number;
}

/**
 * Starts portal-spawner (`args` exactly; pass --socket yourself) and resolves
 * once `socket` listens and the SIGTERM handler is in place; rejects with its
 * log if it exits first.
 */
export async function startSpawner(scratch: Scratch, socket: string, args: string[], options: StartOptions = {}): Promise<SpawnerProc> {
  const run = startProcess(scratch, [BUN, SPAWNER, ...args], options);
  const ended = () => run.proc.exitCode !== null || run.proc.signalCode !== null;
  await waitFor(() => (isListening(socket) && catchesSignal(run.proc.pid, 15)) || ended(), `spawner listening on ${socket}`, DEADLINE_MS);
  if (ended()) {
    await run.stderr.done;
    throw new Error(`portal-spawner ${args.join(" ")} ended (${run.proc.exitCode ?? run.proc.signalCode}) before listening: ${run.stderr.text}`);
  }
  return { ...run, socket, pid: run.proc.pid };
}

/** How many fds process `pid` has open. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** What each fd of `pid` refers to (for failure messages about leaks). */
export function fdTable(pid: number): string[] {
  const out: string[] = [];
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    try {
      out.push(`${name} -> ${readlinkSync(`/proc/${pid}/fd/${name}`)}`);
    } catch {
      // closed while we looked
    }
  }
  return out;
}

/** Direct children of spawner `pid` that are its programs (not its watchdog). */
export function liveChildren(pid: number): number[] {
  return programChildren(pid);
}

/**
 * Waits until the spawner is back to `fds` open fds and no children; throws
 * with its fd table if it does not get there.
 */
export async function waitForBaseline(pid: number, fds: number, what: string, timeoutMs = DEADLINE_MS): Promise<void> {
  try {
    await waitFor(() => fdCount(pid) === fds && liveChildren(pid).length === 0, what, timeoutMs);
  } catch (error) {
    throw new Error(
      `${(error as Error).message}: spawner has ${fdCount(pid)} fds (baseline ${fds}) and children [${liveChildren(pid).join(", ")}]\n${fdTable(pid).join("\n")}`,
    );
  }
}

/** SIGKILLs process groups a test's programs lead (they outlive a killed spawner). */
export class Groups {
  readonly #pgids = new Set<number>();

  add(pgid: number): void {
    this.#pgids.add(pgid);
  }

  killAll(): void {
    for (const pgid of this.#pgids) {
      try {
        process.kill(-pgid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    this.#pgids.clear();
  }
}
