// Running the real CLI binaries (portal-spawner, portal-exec) as processes and
// watching what they print, for the CLI, v1 and signal tests. Everything is
// started through a Scratch so its cleanup ends it even when a test fails.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { BUN, EXEC, SPAWNER, signalOf, waitFor, type Scratch } from "./harness.ts";
import { isListening, catchesSignal, envWithoutPortal as cleanEnv, startProcess, TextCollector, type Proc, type StartOptions } from "./harness.ts";
export { isListening, catchesSignal, cleanEnv, TextCollector };

const V1_SPAWNER = join(import.meta.dir, "v1-spawner.ts");

/** Generous: the machine is shared and loaded. */
export const DEADLINE_MS = 20_000;

export type Running = Proc;
export type { StartOptions };

function start(script: string, args: string[], options: StartOptions, scratch: Scratch): Running {
  return startProcess(scratch, [BUN, script, ...args], options);
}

/** Starts portal-exec with `args` (nothing added: pass --socket yourself). */
export function startExec(scratch: Scratch, args: string[], options: StartOptions = {}): Running {
  return start(EXEC, args, options, scratch);
}

export interface Finished {
  /** Exit code, or null when it died by a signal. */
  code: number | null;
  /** Signal name ("SIGSEGV") when it died by one. */
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** Waits for a started process to end and for all of its output. */
export async function finish(run: Running, timeoutMs = DEADLINE_MS): Promise<Finished> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`process ${run.proc.pid} did not end within ${timeoutMs} ms; stdout ${JSON.stringify(run.stdout.text)}, stderr ${JSON.stringify(run.stderr.text)}`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([Promise.all([run.proc.exited, run.stdout.done, run.stderr.done]), timedOut]);
  } finally {
    clearTimeout(timer);
  }
  return { code: run.proc.signalCode ? null : run.proc.exitCode, signal: signalOf(run.proc), stdout: run.stdout.text, stderr: run.stderr.text };
}

/** Runs portal-exec to the end. */
export async function runExec(scratch: Scratch, args: string[], options: StartOptions = {}): Promise<Finished> {
  return finish(startExec(scratch, args, options));
}

/** Starts portal-spawner with exactly `args` without waiting for anything. */
export function launchSpawner(scratch: Scratch, args: string[], options: StartOptions = {}): Running {
  return start(SPAWNER, args, options, scratch);
}

export interface SpawnerOptions extends StartOptions {
  /** Where the socket is expected (to wait for it); default <scratch>/portal.sock. */
  expectSocket?: string;
  /** The path as the spawner binds it, when relative (as /proc/net/unix shows it); default expectSocket. */
  boundAs?: string;
}

export interface RunningSpawner extends Running {
  socket: string;
}

/**
 * Starts portal-spawner with exactly `args` and resolves once its socket
 * listens; rejects if it exits first.
 */
export async function startSpawner(scratch: Scratch, args: string[], options: SpawnerOptions = {}): Promise<RunningSpawner> {
  const socket = options.expectSocket ?? scratch.path("portal.sock");
  const bound = options.boundAs ?? socket;
  const run = launchSpawner(scratch, args, options);
  const ready = () => isListening(bound) && existsSync(socket);
  await waitFor(() => ready() || run.proc.exitCode !== null || run.proc.signalCode !== null, `spawner listening on ${socket}`, DEADLINE_MS);
  if (!ready()) {
    await run.stderr.done;
    throw new Error(`portal-spawner ${args.join(" ")} ended (${run.proc.exitCode ?? run.proc.signalCode}) before listening: ${run.stderr.text}`);
  }
  return { ...run, socket };
}

/** Starts the v1 spawner double (v1-spawner.ts) on `socket` and resolves once it listens. */
export async function startV1Spawner(scratch: Scratch, socket: string, program: string[] = [], options: StartOptions = {}): Promise<RunningSpawner> {
  const run = start(V1_SPAWNER, [socket, ...program], options, scratch);
  await waitFor(() => isListening(socket) || run.proc.exitCode !== null || run.proc.signalCode !== null, `v1 spawner listening on ${socket}`, DEADLINE_MS);
  if (!isListening(socket)) {
    await run.stderr.done;
    throw new Error(`v1-spawner ended before listening: ${run.stderr.text}`);
  }
  return { ...run, socket };
}

/** The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z', ...), or null if the process is gone. */
export function processState(pid: number): string | null {
  try {
    return /^\d+ \(.*\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, "utf8"))?.[1] ?? null;
  } catch {
    return null;
  }
}

/** The command name of `pid` (/proc/PID/comm), or null if it is gone. */
export function commandName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trimEnd();
  } catch {
    return null;
  }
}

/**
 * Waits until `pid` runs `name`: a shell's freshly forked child still has the
 * shell's signal handlers until it execs, so a signal sent earlier is not
 * what the test means to check.
 */
export async function waitForExec(pid: number, name: string): Promise<void> {
  await waitFor(() => commandName(pid) === name, `pid ${pid} to exec ${name} (it runs ${commandName(pid)})`, DEADLINE_MS);
}

/**
 * Process groups started by a spawner for a test (the programs lead their own
 * groups): killAll() ends whatever is left, grandchildren included.
 */
export class ProgramGroups {
  readonly #groups = new Set<number>();

  add(...pgids: number[]): void {
    for (const pgid of pgids) this.#groups.add(pgid);
  }

  killAll(): void {
    for (const pgid of this.#groups) {
      for (const target of [-pgid, pgid]) {
        try {
          process.kill(target, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    this.#groups.clear();
  }
}
