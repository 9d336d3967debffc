// Shared test plumbing: temp dirs, spawner processes, fd and child counts,
// waiting for events with a deadline. Everything started here is tracked and
// ended by pid in cleanup(), even when a test fails.
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { signalName } from "../../src/process/signals.ts";

export const ROOT = join(import.meta.dir, "..", "..");
export const BUN = process.execPath;
export const SPAWNER = join(ROOT, "src", "cli", "portal-spawner.ts");
export const EXEC = join(ROOT, "src", "cli", "portal-exec.ts");
export const PORTAL = join(ROOT, "src", "cli", "portal.ts");

type Truthy<T> = Exclude<T, false | null | undefined | 0 | "">;

/** Polls `predicate` until it is truthy; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(predicate: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<Truthy<T>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await predicate();
    if (value) return value as Truthy<T>;
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}

/** fd numbers open in process `pid`. */
export function openFds(pid: number | "self" = "self"): number[] {
  return readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
}

/** Direct children of `pid` (via /proc/PID/task/TID/children). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const text = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    if (text) out.push(...text.split(/\s+/).map(Number));
  }
  return out;
}

/** The spawner's watchdog (src/spawner/orphan-guard.ts): a child of every spawner, never a program. */
/** A subprocess's death signal as a name ("SIGTERM"), whatever form Bun reports it in. */
export function signalOf(proc: { signalCode: string | number | null }): string | null {
  const code = proc.signalCode;
  if (code === null) return null;
  return typeof code === "number" ? signalName(code) : code;
}

export function isWatchdog(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("portal-watchdog");
  } catch {
    return false;
  }
}

/** Children of a spawner that are programs it runs (its watchdog left out). */
export function programChildren(pid: number): number[] {
  return childPids(pid).filter((child) => !isWatchdog(child));
}

export function processExists(pid: number): boolean {
  try {
    // A zombie still has /proc/PID; count it as gone.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return false;
  }
}

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), "portal-test-"));
  readonly #processes: Subprocess[] = [];
  readonly #pids: number[] = [];

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Tracks a process started elsewhere so cleanup() ends it. */
  track<T extends Subprocess>(proc: T): T {
    this.#processes.push(proc);
    return proc;
  }

  /** Tracks a raw pid (e.g. a grandchild) so cleanup() SIGKILLs it if still alive. */
  trackPid(pid: number): void {
    this.#pids.push(pid);
  }

  /**
   * Starts `portal-spawner --socket <dir>/<name> ...args` and resolves once
   * its socket is listening.
   */
  async spawner(args: string[] = [], options: { name?: string; env?: Record<string, string | undefined>; stderr?: "inherit" | "pipe" } = {}) {
    const socket = this.path(options.name ?? "portal.sock");
    const proc = this.track(
      Bun.spawn([BUN, SPAWNER, "--socket", socket, ...args], {
        stdio: ["ignore", "ignore", options.stderr ?? "inherit"],
        env: options.env ?? process.env,
      }),
    );
    // The file appears at bind(), a moment before listen(): wait for the listening flag.
    await waitFor(() => isListening(socket) || proc.exitCode !== null, `spawner listening on ${socket}`);
    if (proc.exitCode !== null) throw new Error(`spawner exited with ${proc.exitCode} before listening`);
    return { proc, socket, pid: proc.pid };
  }

  async cleanup(): Promise<void> {
    for (const proc of this.#processes) {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    }
    await Promise.all(this.#processes.map((p) => p.exited.catch(() => {})));
    for (const pid of this.#pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * True once a unix socket bound at `path` is listening, per /proc/net/unix
 * (flag __SO_ACCEPTCON), without connecting to it. The socket file appears
 * at bind(), a moment before listen(): a client that connects in between
 * gets ECONNREFUSED.
 */
export function isListening(path: string): boolean {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "utf8");
  } catch {
    return false;
  }
  const SO_ACCEPTCON = 0x10000;
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && fields.slice(7).join(" ") === path && (parseInt(fields[3]!, 16) & SO_ACCEPTCON) !== 0) return true;
  }
  return false;
}

/** True once process `pid` has a handler installed for `signal` (SigCgt in /proc/PID/status). */
export function catchesSignal(pid: number, signal: number): boolean {
  try {
    const match = /^SigCgt:\s*([0-9a-f]+)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return match ? (BigInt(`0x${match[1]}`) & (1n << BigInt(signal - 1))) !== 0n : false;
  } catch {
    return false;
  }
}

/** This process's environment without the portal's control variables (PORTAL_*), plus `extra`. */
export function envWithoutPortal(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("PORTAL_")) env[key] = value;
  return { ...env, ...extra };
}

/** Collects a stream's text as it arrives, so a test can wait for a line. */
export class TextCollector {
  text = "";
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array> | null | undefined | number) {
    const decoder = new TextDecoder();
    this.done =
      stream && typeof stream === "object"
        ? (async () => {
            for await (const chunk of stream) this.text += decoder.decode(chunk, { stream: true });
          })().catch(() => {})
        : Promise.resolve();
  }

  /** Resolves with the first match of `pattern` once it has been printed. */
  async waitFor(pattern: RegExp, what = String(pattern), timeoutMs = 30_000): Promise<RegExpMatchArray> {
    return waitFor(() => this.text.match(pattern), `${what} (text so far: ${JSON.stringify(this.text.slice(-2000))})`, timeoutMs);
  }
}

export interface StartOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  stdin?: "ignore" | "pipe" | number;
  /** The child's fds 3, 4, ... */
  extraFds?: number[];
  /** Command put in front of the program (setpriv, prlimit, systemd-socket-activate, ...). */
  wrapper?: string[];
}

export interface Proc {
  proc: Subprocess<"ignore" | "pipe" | number, "pipe", "pipe">;
  stdout: TextCollector;
  stderr: TextCollector;
}

/** Starts `argv` (cwd: the scratch dir; env: without PORTAL_*) with stdout/stderr collected; cleanup() ends it. */
export function startProcess(scratch: Scratch, argv: string[], options: StartOptions = {}): Proc {
  const proc = scratch.track(
    Bun.spawn([...(options.wrapper ?? []), ...argv], {
      cwd: options.cwd ?? scratch.dir,
      env: options.env ?? envWithoutPortal(),
      stdio: [options.stdin ?? "ignore", "pipe", "pipe", ...(options.extraFds ?? [])],
    }),
  ) as Proc["proc"];
  return { proc, stdout: new TextCollector(proc.stdout), stderr: new TextCollector(proc.stderr) };
}

/**
 * Why a test cannot run `script` as user nobody here, or null if it can: it
 * needs root, setpriv, and a checkout nobody can read (a clone inside a
 * private directory, such as one made by mktemp -d, is not).
 */
export function whyNobodyCannotRun(script: string): string | null {
  if (process.getuid?.() !== 0) return "not running as root";
  if (Bun.which("setpriv") === null) return "setpriv is not installed";
  const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
  const env = { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0", HOME: "/nonexistent" };
  const runs = Bun.spawnSync([...asNobody, BUN, "--version"], { env, cwd: "/" }).exitCode === 0;
  const reads = Bun.spawnSync([...asNobody, "/bin/sh", "-c", 'test -r "$0"', script], { cwd: "/" }).exitCode === 0;
  return runs && reads ? null : `user nobody cannot run ${BUN} or read ${script}`;
}

/** Why a test cannot run programs as user nobody at all here (null: it can). */
export function whyNoNobody(): string | null {
  if (process.getuid?.() !== 0) return "not running as root";
  if (Bun.which("setpriv") === null) return "setpriv is not installed";
  return null;
}

/** setpriv's prefix for running as nobody (uid and gid 65534), with `groups` as supplementary groups. */
export function asNobody(groups: readonly number[] = []): string[] {
  return ["setpriv", "--reuid=65534", "--regid=65534", groups.length > 0 ? `--groups=${groups.join(",")}` : "--clear-groups"];
}

/**
 * `entry` compiled into one executable in the scratch dir (made reachable:
 * 0711), so user nobody can run it even where the checkout (and its Bun) is
 * private to root, as in a clone under /root.
 */
export async function nobodyExecutable(scratch: Scratch, entry: string, name: string): Promise<string> {
  const { buildExecutable } = await import("../../scripts/build-client.ts");
  const outfile = scratch.path(name);
  await buildExecutable(entry, outfile);
  chmodSync(scratch.dir, 0o711);
  return outfile;
}
