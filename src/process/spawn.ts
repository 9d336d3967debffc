// Starting a program with byte-exact argv, env and cwd and an exact fd table.
//
// Bun.spawn takes JS strings (non-UTF-8 bytes would be mangled), so this
// calls posix_spawn(3) directly. glibc implements it with clone(CLONE_VFORK),
// which is safe in a multi-threaded runtime, and reports exec errors back as
// a return value.
import { ptr } from "bun:ffi";
import { statSync } from "node:fs";
import { libc } from "../libc/libc.ts";
import { check, ENOENT, ENOTDIR, EBADF, strerror } from "../libc/errno.ts";
import { OwnedFd } from "../libc/owned-fd.ts";
import {
  O_RDWR, POSIX_SPAWN_SETSID, POSIX_SPAWN_SETSIGDEF, POSIX_SPAWN_SETSIGMASK, RLIMIT_NOFILE,
} from "../libc/constants.ts";
import { SIGSET_SIZE, SPAWNATTR_SIZE, SPAWN_FILE_ACTIONS_SIZE } from "../libc/structs.ts";
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

  const actions = new Uint8Array(SPAWN_FILE_ACTIONS_SIZE);
  const attr = new Uint8Array(SPAWNATTR_SIZE);
  const allSignals = new Uint8Array(SIGSET_SIZE);
  const noSignals = new Uint8Array(SIGSET_SIZE);
  const keep: Uint8Array[] = [];
  check(libc.posix_spawn_file_actions_init(ptr(actions)) === 0 ? 0 : -1, "posix_spawn_file_actions_init");
  try {
    check(libc.posix_spawnattr_init(ptr(attr)) === 0 ? 0 : -1, "posix_spawnattr_init");
    try {
      libc.sigfillset(ptr(allSignals));
      libc.sigemptyset(ptr(noSignals));
      libc.posix_spawnattr_setsigdefault(ptr(attr), ptr(allSignals));
      libc.posix_spawnattr_setsigmask(ptr(attr), ptr(noSignals));
      libc.posix_spawnattr_setflags(ptr(attr), POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
      addFdActions(actions, spec.fds, highestTarget);
      if (spec.cwd) {
        const cwd = nulTerminated(spec.cwd);
        keep.push(cwd);
        spawnCheck(libc.posix_spawn_file_actions_addchdir_np(ptr(actions), ptr(cwd)), "setup", "addchdir");
      }
      const path = nulTerminated(spec.path);
      const argv = pointerArray(spec.argv, keep);
      const envp = pointerArray(spec.env, keep);
      const pid = new Int32Array(1);
      const rc = libc.posix_spawn(ptr(pid), ptr(path), ptr(actions), ptr(attr), ptr(argv), ptr(envp));
      if (rc !== 0) throw new SpawnError("exec", rc, `cannot run '${shown}': ${strerror(rc)}`);
      return pid[0]!;
    } finally {
      libc.posix_spawnattr_destroy(ptr(attr));
    }
  } finally {
    libc.posix_spawn_file_actions_destroy(ptr(actions));
    keep.length = 0;
  }
}

/**
 * Puts each source fd at its target without clobbering a source that sits
 * on another target's number: first every source is copied above all of
 * them, then the copies are moved into place, then everything above the
 * highest target is closed. Copies made by dup2 are not close-on-exec, so
 * this also works when a source already has its target number.
 */
function addFdActions(actions: Uint8Array, fds: ReadonlyMap<number, OwnedFd>, highestTarget: number): void {
  const entries = [...fds];
  const sources = entries.map(([, fd]) => fd.fd);
  const staging = Math.max(highestTarget, ...sources) + 1;
  entries.forEach(([, fd], i) => {
    spawnCheck(libc.posix_spawn_file_actions_adddup2(ptr(actions), fd.fd, staging + i), "setup", "adddup2");
  });
  for (let target = 0; target <= 2; target++) {
    if (fds.has(target)) continue;
    spawnCheck(libc.posix_spawn_file_actions_addopen(ptr(actions), target, ptr(DEV_NULL), O_RDWR, 0), "setup", "addopen");
  }
  entries.forEach(([target], i) => {
    spawnCheck(libc.posix_spawn_file_actions_adddup2(ptr(actions), staging + i, target), "setup", "adddup2");
  });
  spawnCheck(libc.posix_spawn_file_actions_addclosefrom_np(ptr(actions), highestTarget + 1), "setup", "addclosefrom_np");
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
  const limit = new BigUint64Array(2);
  check(libc.getrlimit(RLIMIT_NOFILE, ptr(limit)), "getrlimit");
  if (BigInt(needed) > limit[0]!) {
    throw new SpawnError("setup", EBADF, `fd numbers up to ${needed} exceed the spawner's open-file limit (${limit[0]})`);
  }
}

function spawnCheck(rc: number, stage: SpawnStage, what: string): void {
  if (rc !== 0) throw new SpawnError(stage, rc, `posix_spawn_file_actions_${what}: ${strerror(rc)}`);
}

function nulTerminated(bytes: Uint8Array): Uint8Array {
  const z = new Uint8Array(bytes.length + 1);
  z.set(bytes);
  return z;
}

/** A NULL-terminated char*[] whose strings are kept alive in `keep`. */
function pointerArray(items: readonly Uint8Array[], keep: Uint8Array[]): BigUint64Array {
  const array = new BigUint64Array(items.length + 1);
  items.forEach((item, i) => {
    const z = nulTerminated(item);
    keep.push(z);
    array[i] = BigInt(ptr(z));
  });
  keep.push(new Uint8Array(array.buffer));
  return array;
}
