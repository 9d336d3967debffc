// Starting a process with byte-exact argv, env and cwd and an exact fd table.
//
// Bun.spawn takes JS strings (non-UTF-8 bytes would be mangled), so this
// calls posix_spawn(3) directly. glibc and musl implement it with
// clone(CLONE_VFORK), which is safe in a multi-threaded runtime, and report
// exec errors back as a return value.
import { statSync } from "node:fs";
import { EBADF, ENOENT, ENOEXEC, ENOTDIR } from "../libc/errno-values.ts";
import { strerror, SystemError } from "../libc/system-error.ts";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { O_RDWR } from "../libc/constants.ts";
import { canCloseFrom, canSetForeground, SpawnPlan } from "../libc/spawn.ts";
import { getLimit, RLIMIT_NOFILE, trySetLimit, type Limit } from "../libc/process.ts";
import { setUmask } from "../libc/file.ts";
import type { SpawnStage } from "../protocol/outcome.ts";
import { openNamespace } from "../libc/namespace.ts";

export interface SpawnSpec {
  /** The executable to run, already resolved (see path-lookup.ts); a relative one is found from `cwd`. */
  path: Uint8Array;
  argv: readonly Uint8Array[];
  env: readonly Uint8Array[];
  /** Directory to start in; null keeps the spawner's own. */
  cwd: Uint8Array | null;
  /** The same directory as an fd, entered when `cwd` does not resolve here (deleted, or on a mount we cannot see). */
  cwdFd?: OwnedFd | null;
  /** target fd number -> fd to put there. The caller keeps ownership. */
  fds: ReadonlyMap<number, OwnedFd>;
  /** fds 0-2 that stay closed; the others of 0-2 not in `fds` get /dev/null. */
  closed?: readonly number[];
  /** More fds for a helper process, put right above every target; their numbers come back. The caller keeps ownership. */
  extraFds?: readonly OwnedFd[];
  /** Signals that get their default action (the rest keep the spawner's SIG_IGN; handlers are reset by exec). */
  defaultSignals: bigint;
  /** The blocked-signal mask the process starts with. */
  signalMask: bigint;
  /** umask for the new process: set around the spawn (umask is per process), then restored. */
  umask?: number;
  /** A lower soft open-file limit for the new process, set around the spawn like the umask (see launch/launch-plan.ts). */
  nofileSoft?: bigint | null;
  /** "session": setsid (the default); "group": its own process group in the spawner's session. */
  detach?: "session" | "group";
  /** Run a file without #! under /bin/sh, as execvp does (for the program itself, not a helper). */
  shellFallback?: boolean;
  /** With detach "group": make the new group the foreground group of the terminal at this target fd (where the C library can). */
  foregroundFd?: number;
  /** The process is pid 1 of a new pid namespace (a sandbox's init). */
  newPidNamespace?: boolean;
}

/** The program could not be started; `stage` says which step failed. */
export class SpawnError extends Error {
  constructor(
    readonly stage: SpawnStage,
    readonly errno: number,
    message: string,
  ) {
    super(message);
    this.name = "SpawnError";
  }
}

export interface Spawned {
  pid: number;
  /** Where each of `extraFds` landed in the new process. */
  extraTargets: number[];
}

/**
 * Starts the process with exactly the fds of `spec.fds` (0-2 that are
 * neither given nor closed get /dev/null) and returns its pid; the caller
 * must reap it (see child.ts). Throws SpawnError when it cannot start.
 */
export function spawnProcess(spec: SpawnSpec): Spawned {
  const shown = new TextDecoder().decode(spec.path);
  const directory = chooseDirectory(spec);
  const targets = [...spec.fds.keys()];
  const highestTarget = Math.max(2, ...targets);
  const extras = spec.extraFds ?? [];
  const extraTargets = extras.map((_, i) => highestTarget + 1 + i);
  const sources = [...spec.fds.values(), ...extras].map((fd) => fd.fd);
  checkFdLimit(Math.max(highestTarget + extras.length, ...sources) + targets.length + extras.length + 1);

  const attempt = (path: Uint8Array, argv: readonly Uint8Array[]) => {
    const plan = new SpawnPlan().defaultSignals(spec.defaultSignals).signalMask(spec.signalMask);
    try {
      if (spec.detach === "group") plan.processGroup(0);
      else plan.newSession();
      // The directory first: its fd is one of ours, which the fd actions then close.
      if (directory.kind === "path") plan.changeDirectory(directory.path);
      if (directory.kind === "fd") plan.changeDirectoryToFd(directory.fd);
      addFdActions(plan, spec, highestTarget, extraTargets);
      if (spec.foregroundFd !== undefined && canSetForeground()) plan.foregroundOf(spec.foregroundFd);
      if (spec.newPidNamespace) plan.newPidNamespace(ownPidNamespace().fd);
    } catch (error) {
      plan[Symbol.dispose]();
      throw new SpawnError("setup", error instanceof SystemError ? error.errno : EBADF, (error as Error).message);
    }
    // umask is per process: set it only for the moment of the clone (the
    // JS thread is the only one that creates files here).
    let oldNofile: Limit | null = null;
    try {
      oldNofile = spec.nofileSoft == null ? null : lowerNofile(spec.nofileSoft);
    } catch (error) {
      plan[Symbol.dispose]();
      throw error;
    }
    const oldUmask = spec.umask === undefined ? null : setUmask(spec.umask);
    try {
      return plan.spawn(path, argv, spec.env);
    } finally {
      if (oldUmask !== null) setUmask(oldUmask);
      if (oldNofile !== null) trySetLimit(RLIMIT_NOFILE, oldNofile);
    }
  };
  let pid = attempt(spec.path, spec.argv);
  if (pid === -ENOEXEC && spec.shellFallback) {
    // execvp's rule: a file without #! runs under /bin/sh.
    const shell = new TextEncoder().encode("/bin/sh");
    pid = attempt(shell, [shell, spec.path, ...spec.argv.slice(1)]);
  }
  if (pid < 0) throw new SpawnError("exec", -pid, `cannot run '${shown}': ${strerror(-pid)}`);
  return { pid, extraTargets };
}

let pidNamespace: OwnedFd | null = null;

/** This process's own pid namespace, opened once: where the thread that spawns returns to after a new one. */
function ownPidNamespace(): OwnedFd {
  return (pidNamespace ??= openNamespace("pid"));
}

/** Sets the soft open-file limit to `soft` (keeping the hard one); returns the old limit to restore. */
function lowerNofile(soft: bigint): Limit {
  const old = getLimit(RLIMIT_NOFILE);
  const errno = trySetLimit(RLIMIT_NOFILE, { soft, hard: old.hard });
  if (errno !== 0) throw new SpawnError("setup", errno, `cannot set the open-file limit to ${soft}: ${strerror(errno)}`);
  return old;
}

type Directory = { kind: "none" } | { kind: "path"; path: Uint8Array } | { kind: "fd"; fd: number };

/** The cwd path when it is a directory here, else the directory fd, else a SpawnError saying why. */
function chooseDirectory(spec: SpawnSpec): Directory {
  if (!spec.cwd) return spec.cwdFd ? { kind: "fd", fd: spec.cwdFd.fd } : { kind: "none" };
  const shown = new TextDecoder().decode(spec.cwd);
  let errno: number;
  try {
    if (statSync(Buffer.from(spec.cwd)).isDirectory()) return { kind: "path", path: spec.cwd };
    errno = ENOTDIR;
  } catch (error) {
    const code = (error as { errno?: number }).errno;
    errno = typeof code === "number" ? Math.abs(code) : ENOENT;
  }
  if (spec.cwdFd) return { kind: "fd", fd: spec.cwdFd.fd };
  throw new SpawnError("chdir", errno, `cannot change to directory '${shown}': ${strerror(errno)}`);
}

/**
 * Puts each source fd at its target without clobbering a source that sits
 * on another target's number: first every source is copied above all of
 * them, then the copies are moved into place, then everything above the
 * last target is closed. Copies made by dup2 are not close-on-exec, so
 * this also works when a source already has its target number.
 */
/**
 * The highest fd number the child needs while its fds are put in place: the
 * fds are first copied above every source and target ("staging"), so that
 * no target overwrites a source still to be copied.
 */
export function highestFdNeeded(spec: Pick<SpawnSpec, "fds" | "extraFds">): number {
  const targets = [...spec.fds.keys()];
  const highestTarget = Math.max(2, ...targets);
  const extras = spec.extraFds ?? [];
  const sources = [...spec.fds.values(), ...extras].map((fd) => fd.fd);
  const last = highestTarget + extras.length;
  return Math.max(last, ...sources) + targets.length + extras.length;
}

function addFdActions(plan: SpawnPlan, spec: SpawnSpec, highestTarget: number, extraTargets: readonly number[]): void {
  const entries: Array<[number, OwnedFd]> = [...spec.fds, ...(spec.extraFds ?? []).map((fd, i): [number, OwnedFd] => [extraTargets[i]!, fd])];
  const sources = entries.map(([, fd]) => fd.fd);
  const last = Math.max(highestTarget, ...extraTargets);
  const staging = Math.max(last, ...sources) + 1;
  entries.forEach(([, fd], i) => plan.dup2(fd.fd, staging + i));
  const closed = new Set(spec.closed ?? []);
  for (let target = 0; target <= 2; target++) {
    if (!spec.fds.has(target) && !closed.has(target)) plan.open(target, "/dev/null", O_RDWR);
  }
  entries.forEach(([target], i) => plan.dup2(staging + i, target));
  for (const target of closed) if (!spec.fds.has(target)) plan.close(target);
  if (canCloseFrom()) plan.closeFrom(last + 1);
  else for (let i = 0; i < entries.length; i++) plan.close(staging + i);
}

function checkFdLimit(needed: number): void {
  const { soft } = getLimit(RLIMIT_NOFILE);
  if (BigInt(needed) > soft) {
    throw new SpawnError("setup", EBADF, `fd numbers up to ${needed} exceed the spawner's open-file limit (${soft})`);
  }
}
