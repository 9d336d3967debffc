// Starting a program with byte-exact argv, env and cwd and an exact fd table.
//
// Bun.spawn takes JS strings (non-UTF-8 bytes would be mangled), so this
// calls posix_spawn(3) directly. glibc implements it with clone(CLONE_VFORK),
// which is safe in a multi-threaded runtime, and reports exec errors back as
// a return value.
import { statSync } from "node:fs";
import { ENOENT, ENOTDIR, EBADF } from "../libc/errno-values.ts";
import { strerror } from "../libc/system-error.ts";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { O_RDWR } from "../libc/constants.ts";
import { SpawnPlan } from "../libc/spawn.ts";
import { ALL_SIGNALS } from "../libc/sigset.ts";
import { getLimit, RLIMIT_NOFILE } from "../libc/process.ts";
import type { SpawnStage } from "../protocol/outcome.ts";

export interface SpawnSpec {
  /** The executable to run, already resolved (see path-lookup.ts). */
  path: Uint8Array;
  argv: readonly Uint8Array[];
  env: readonly Uint8Array[];
  /** Directory to start in; null keeps the spawner's own. */
  cwd: Uint8Array | null;
  /** target fd number -> fd to put there. The caller keeps ownership. */
  fds: ReadonlyMap<number, OwnedFd>;
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

const DEV_NULL = new TextEncoder().encode("/dev/null\0");

/**
 * Starts the program in a new session (so it leads its own process group),
 * with default signal dispositions and an empty signal mask, and with exactly
 * the fds of `spec.fds` open (0-2 get /dev/null when not given).
 * Returns the pid; the caller must reap it (see child.ts).
 */
export function spawnProgram(spec: SpawnSpec): number {
  const shown = new TextDecoder().decode(spec.path);
  if (spec.cwd) checkDirectory(spec.cwd);
  const targets = [...spec.fds.keys()];
  const highestTarget = Math.max(2, ...targets);
  const sources = [...spec.fds.values()].map((fd) => fd.fd);
  checkFdLimit(Math.max(highestTarget, ...sources) + targets.length + 1);

  const plan = new SpawnPlan().newSession().defaultSignals(ALL_SIGNALS).signalMask(0n);
  try {
    addFdActions(plan, spec.fds, highestTarget);
    if (spec.cwd) plan.changeDirectory(spec.cwd);
  } catch (error) {
    plan[Symbol.dispose]();
    throw new SpawnError("setup", (error as { errno?: number }).errno ?? EBADF, (error as Error).message);
  }
  const pid = plan.spawn(spec.path, spec.argv, spec.env);
  if (pid < 0) throw new SpawnError("exec", -pid, `cannot run '${shown}': ${strerror(-pid)}`);
  return pid;
}

/**
 * Puts each source fd at its target without clobbering a source that sits
 * on another target's number: first every source is copied above all of
 * them, then the copies are moved into place, then everything above the
 * highest target is closed. Copies made by dup2 are not close-on-exec, so
 * this also works when a source already has its target number.
 */
function addFdActions(plan: SpawnPlan, fds: ReadonlyMap<number, OwnedFd>, highestTarget: number): void {
  const entries = [...fds];
  const sources = entries.map(([, fd]) => fd.fd);
  const staging = Math.max(highestTarget, ...sources) + 1;
  entries.forEach(([, fd], i) => plan.dup2(fd.fd, staging + i));
  for (let target = 0; target <= 2; target++) {
    if (!fds.has(target)) plan.open(target, "/dev/null", O_RDWR);
  }
  entries.forEach(([target], i) => plan.dup2(staging + i, target));
  plan.closeFrom(highestTarget + 1);
}

function checkDirectory(cwd: Uint8Array): void {
  const shown = new TextDecoder().decode(cwd);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(Buffer.from(cwd)).isDirectory();
  } catch (error) {
    const code = (error as { errno?: number }).errno;
    const errnoValue = typeof code === "number" ? Math.abs(code) : ENOENT;
    throw new SpawnError("chdir", errnoValue, `cannot change to directory '${shown}': ${strerror(errnoValue)}`);
  }
  if (!isDirectory) throw new SpawnError("chdir", ENOTDIR, `cannot change to directory '${shown}': ${strerror(ENOTDIR)}`);
}

function checkFdLimit(needed: number): void {
  const { soft } = getLimit(RLIMIT_NOFILE);
  if (BigInt(needed) > soft) {
    throw new SpawnError("setup", EBADF, `fd numbers up to ${needed} exceed the spawner's open-file limit (${soft})`);
  }
}
