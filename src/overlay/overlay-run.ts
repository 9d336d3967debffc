// `portal overlay run`: mount a package's image once, layered over the host
// root, and start the spawner inside that view with its socket reachable
// from outside.
//
// Why this shape: the mounts are made in the host's namespace under a
// private staging directory, bubblewrap copies them into a new mount
// namespace whose root is the merged view, and as soon as the spawner
// listens the host-side copies are detached. From then on the spawner's
// namespace holds the only references: when its last process ends, the
// kernel unmounts everything and the loop device frees itself, so neither a
// clean exit nor a crash leaves mounts behind. Only a crash in the short
// window before the detach leaves a staging directory, which the next start
// cleans up (state-dir.ts).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Subprocess } from "bun";
import { parseSignal } from "../process/signals.ts";
import { findTool } from "./external-tool.ts";
import { hostSubmounts, mountLayeredRoot, type LayeredRoot } from "./layered-root.ts";
import { OverlayError } from "./overlay-error.ts";
import { cleanStaleStateDirs, DEFAULT_STATE_BASE, stateDirFor } from "./state-dir.ts";

/** The fd on which the spawner reports that it listens (its --ready-fd). */
const READY_FD = 3;

/** Where the build puts the spawner inside the image (overlay/build.ts). */
export function imageSpawnerPath(arch: string = process.arch): string {
  return `/opt/portal/linux-${arch}/portal-spawner`;
}

export interface OverlayRunOptions {
  image: string;
  /** The spawner's socket, a path on the host; its directory is shared with the view. */
  socket: string;
  /**
   * The spawner command, paths inside the merged view (e.g. [bun, script]).
   * Default: the executable in the image for this machine.
   */
  spawner?: readonly string[];
  /** Arguments after the spawner's own `--socket PATH`. */
  spawnerArgs?: readonly string[];
  /** Keep the writable layer in DIR/upper (default: a tmpfs that ends with the spawner). */
  upperDir?: string;
  /** Where staging directories live (default /run/portal-overlay). */
  stateBase?: string;
  /** How long the spawner may take to listen, in ms (default 30000). */
  readyTimeoutMs?: number;
  /** Progress lines for a log. */
  log?: (line: string) => void;
}

export interface RunningOverlay {
  /** The spawner's pid (host pid namespace). */
  readonly pid: number;
  readonly socket: string;
  /** The writable layer's directory while it can be seen from outside (an upper dir given), else null. */
  readonly upper: string | null;
  /** Resolves with the spawner's exit code (128+N for death by signal N) once the view is gone. */
  readonly exited: Promise<number>;
  /** SIGTERM to the spawner, SIGKILL after `graceMs` (default 10 s: the spawner's own shutdown grace is 5 s); resolves like `exited`. */
  stop(graceMs?: number): Promise<number>;
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new OverlayError(
      `${what} needs root: it makes kernel mounts (loop device, squashfs, overlayfs) and a mount namespace. ` +
        "Run it as root (the info-beamer service does), or see docs/overlay.md for running without root.",
    );
  }
}

export async function startOverlay(options: OverlayRunOptions): Promise<RunningOverlay> {
  requireRoot("portal overlay run");
  const log = options.log ?? (() => {});
  const bwrap = findTool("bwrap");
  const socket = resolve(options.socket);
  const socketDir = dirname(socket);
  mkdirSync(socketDir, { recursive: true });
  const stateBase = resolve(options.stateBase ?? DEFAULT_STATE_BASE);
  for (const dir of cleanStaleStateDirs(stateBase)) log(`cleaned up ${dir}, left by an overlay run that died`);

  const layered = mountLayeredRoot({ image: options.image, stateDir: stateDirFor(stateBase), upperDir: options.upperDir });
  let proc: Subprocess;
  try {
    const spawner = options.spawner ?? [imageSpawnerPath()];
    if (!spawner[0] || !existsSync(join(layered.root, spawner[0]))) {
      throw new OverlayError(`${spawner[0]} is not in the merged view of ${options.image}; build the image with overlay/build.ts or pass --spawner`);
    }
    const binds = hostSubmounts([stateBase]).flatMap((path) => ["--dev-bind", path, path]);
    proc = Bun.spawn(
      [
        bwrap, "--dev-bind", layered.root, "/", ...binds,
        // The socket's directory is the host's, so the socket can be reached from outside.
        "--bind", socketDir, socketDir,
        "--die-with-parent", "--chdir", existsSync(process.cwd()) ? process.cwd() : "/",
        "--", ...spawner, "--socket", socket, "--ready-fd", String(READY_FD), ...(options.spawnerArgs ?? []),
      ],
      { stdio: ["ignore", "inherit", "inherit", "pipe"] },
    );
  } catch (error) {
    layered.detach();
    throw error;
  }
  const exited = proc.exited.then((code) => {
    layered.detach();
    const signal = proc.signalCode;
    return signal === null ? code : 128 + (typeof signal === "number" ? signal : parseSignal(signal));
  });

  try {
    await waitUntilReady(proc, socket, options.readyTimeoutMs ?? 30_000);
  } catch (error) {
    proc.kill("SIGKILL");
    await exited;
    throw error;
  }
  // From here the spawner's namespace holds the mounts alone.
  layered.detach();
  const pid = childOf(proc.pid);
  log(`spawner pid ${pid} is listening on ${socket} inside ${options.image}`);

  let stopping: Promise<number> | null = null;
  return {
    pid,
    socket,
    upper: options.upperDir ? layered.upper : null,
    exited,
    stop(graceMs = 10_000) {
      stopping ??= (async () => {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          // Already gone.
        }
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
}

/**
 * The spawner writes a newline to its --ready-fd once it listens. bwrap
 * keeps its own copy of that pipe, so the end of the pipe means bwrap is
 * gone, not merely that the spawner closed it.
 */
async function waitUntilReady(proc: Subprocess, socket: string, timeoutMs: number): Promise<void> {
  const reader = Bun.file(proc.stdio[READY_FD] as number).stream().getReader();
  let timer: Timer | undefined;
  const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
  try {
    for (;;) {
      const chunk = await Promise.race([reader.read(), timeout]);
      if (chunk === "timeout") throw new OverlayError(`the spawner did not listen on ${socket} within ${timeoutMs} ms`);
      if (chunk.done) {
        const code = await proc.exited;
        throw new OverlayError(`the spawner exited (${proc.signalCode ?? `code ${code}`}) before it listened on ${socket}`);
      }
      if (chunk.value.includes(0x0a)) return;
    }
  } finally {
    clearTimeout(timer);
    void reader.cancel().catch(() => {});
  }
}

/** bwrap forks once: the spawner is its only child. */
function childOf(pid: number): number {
  const children = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  if (children.length !== 1) throw new OverlayError(`expected bwrap (pid ${pid}) to have one child, found ${children.length}`);
  return children[0]!;
}
