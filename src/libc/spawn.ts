// posix_spawn(3) as a value that collects attributes and file actions, then
// spawns once. glibc and musl implement it with clone(CLONE_VM|CLONE_VFORK),
// which is safe in a multi-threaded runtime. Its functions report errors by
// return value, not errno.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols, optionalSymbol } from "./library.ts";
import { cString } from "./c-string.ts";
import { checkReturned, lastErrno, SystemError } from "./system-error.ts";
import { sigsetBytes } from "./sigset.ts";
import {
  CLONE_NEWPID, POSIX_SPAWN_SETPGROUP, POSIX_SPAWN_SETSID, POSIX_SPAWN_SETSIGDEF, POSIX_SPAWN_SETSIGMASK,
} from "./constants.ts";

const { i32, u32, i16, ptr: p } = FFIType;
const c = lazySymbols({
  posix_spawn: { args: [p, p, p, p, p, p], returns: i32 },
  posix_spawn_file_actions_init: { args: [p], returns: i32 },
  posix_spawn_file_actions_destroy: { args: [p], returns: i32 },
  posix_spawn_file_actions_adddup2: { args: [p, i32, i32], returns: i32 },
  posix_spawn_file_actions_addopen: { args: [p, i32, p, i32, u32], returns: i32 },
  posix_spawn_file_actions_addclose: { args: [p, i32], returns: i32 },
  posix_spawn_file_actions_addchdir_np: { args: [p, p], returns: i32 },
  posix_spawnattr_init: { args: [p], returns: i32 },
  posix_spawnattr_destroy: { args: [p], returns: i32 },
  posix_spawnattr_setflags: { args: [p, i16], returns: i32 },
  posix_spawnattr_setpgroup: { args: [p, i32], returns: i32 },
  posix_spawnattr_setsigdefault: { args: [p, p], returns: i32 },
  posix_spawnattr_setsigmask: { args: [p, p], returns: i32 },
  unshare: { args: [i32], returns: i32 },
  setns: { args: [i32, i32], returns: i32 },
});
// GNU extensions (glibc 2.29 / 2.34 / 2.35; musl has the first two).
const addFchdir = optionalSymbol("posix_spawn_file_actions_addfchdir_np", { args: [p, i32], returns: i32 });
const addClosefrom = optionalSymbol("posix_spawn_file_actions_addclosefrom_np", { args: [p, i32], returns: i32 });
const addTcsetpgrp = optionalSymbol("posix_spawn_file_actions_addtcsetpgrp_np", { args: [p, i32], returns: i32 });

// glibc's posix_spawn_file_actions_t is 80 bytes and posix_spawnattr_t 336;
// musl's are smaller. Over-allocate so either fits.
const FILE_ACTIONS_BYTES = 256;
const ATTR_BYTES = 512;

export function canCloseFrom(): boolean {
  return addClosefrom() !== undefined;
}

export function canSetForeground(): boolean {
  return addTcsetpgrp() !== undefined;
}

export function canChangeDirectoryByFd(): boolean {
  return addFchdir() !== undefined;
}

/** A posix_spawn call being put together. Dispose it (or spawn, which does) to free the C objects. */
export class SpawnPlan {
  readonly #actions = new Uint8Array(FILE_ACTIONS_BYTES);
  readonly #attr = new Uint8Array(ATTR_BYTES);
  // Buffers the C objects point at; kept referenced until spawn returns.
  readonly #keep: Uint8Array[] = [];
  #flags = 0;
  #live = true;
  #pidNamespaceHome: number | null = null;

  constructor() {
    checkReturned("posix_spawn_file_actions_init", c().posix_spawn_file_actions_init(ptr(this.#actions)));
    const rc = c().posix_spawnattr_init(ptr(this.#attr));
    if (rc !== 0) {
      c().posix_spawn_file_actions_destroy(ptr(this.#actions));
      checkReturned("posix_spawnattr_init", rc);
    }
  }

  /**
   * The child is pid 1 of a new pid namespace. `home` is an fd of this
   * thread's own pid namespace, where its later children go again.
   */
  newPidNamespace(home: number): this {
    this.#pidNamespaceHome = home;
    return this;
  }

  /** The child starts a new session (and so leads its own process group). */
  newSession(): this {
    this.#flags |= POSIX_SPAWN_SETSID;
    return this;
  }

  /** The child joins process group `pgid` (0: a new group led by the child). */
  processGroup(pgid: number): this {
    this.#flags |= POSIX_SPAWN_SETPGROUP;
    checkReturned("posix_spawnattr_setpgroup", c().posix_spawnattr_setpgroup(ptr(this.#attr), pgid));
    return this;
  }

  /** Signals in `set` get their default action in the child (handlers are reset by exec anyway). */
  defaultSignals(set: bigint): this {
    this.#flags |= POSIX_SPAWN_SETSIGDEF;
    const bytes = this.#hold(sigsetBytes(set));
    checkReturned("posix_spawnattr_setsigdefault", c().posix_spawnattr_setsigdefault(ptr(this.#attr), ptr(bytes)));
    return this;
  }

  signalMask(set: bigint): this {
    this.#flags |= POSIX_SPAWN_SETSIGMASK;
    const bytes = this.#hold(sigsetBytes(set));
    checkReturned("posix_spawnattr_setsigmask", c().posix_spawnattr_setsigmask(ptr(this.#attr), ptr(bytes)));
    return this;
  }

  dup2(source: number, target: number): this {
    checkReturned("posix_spawn_file_actions_adddup2", c().posix_spawn_file_actions_adddup2(ptr(this.#actions), source, target), `${source} -> ${target}`);
    return this;
  }

  open(target: number, path: string | Uint8Array, flags: number, mode = 0): this {
    const z = this.#hold(cString(path));
    checkReturned("posix_spawn_file_actions_addopen", c().posix_spawn_file_actions_addopen(ptr(this.#actions), target, ptr(z), flags, mode));
    return this;
  }

  close(fd: number): this {
    checkReturned("posix_spawn_file_actions_addclose", c().posix_spawn_file_actions_addclose(ptr(this.#actions), fd));
    return this;
  }

  changeDirectory(path: Uint8Array): this {
    const z = this.#hold(cString(path));
    checkReturned("posix_spawn_file_actions_addchdir_np", c().posix_spawn_file_actions_addchdir_np(ptr(this.#actions), ptr(z)));
    return this;
  }

  changeDirectoryToFd(fd: number): this {
    const add = addFchdir();
    if (!add) throw new SystemError("posix_spawn_file_actions_addfchdir_np", 38 /* ENOSYS */, "(this C library has no fchdir action)");
    checkReturned("posix_spawn_file_actions_addfchdir_np", add(ptr(this.#actions), fd));
    return this;
  }

  /** Closes every fd from `lowest` up (where the C library supports it; the caller checks canCloseFrom). */
  closeFrom(lowest: number): this {
    const add = addClosefrom();
    if (!add) throw new SystemError("posix_spawn_file_actions_addclosefrom_np", 38, "(this C library has no closefrom action)");
    checkReturned("posix_spawn_file_actions_addclosefrom_np", add(ptr(this.#actions), lowest));
    return this;
  }

  /** Makes the child's process group the foreground group of the terminal at `fd` (glibc 2.35). */
  foregroundOf(fd: number): this {
    const add = addTcsetpgrp();
    if (!add) throw new SystemError("posix_spawn_file_actions_addtcsetpgrp_np", 38, "(this C library has no tcsetpgrp action)");
    checkReturned("posix_spawn_file_actions_addtcsetpgrp_np", add(ptr(this.#actions), fd));
    return this;
  }

  /**
   * Starts the program. Returns its pid, or the errno that made the start
   * fail (ENOENT, EACCES, ENOEXEC, E2BIG, or what a file action hit) as a
   * negative number. The plan is used up either way.
   */
  spawn(path: Uint8Array, argv: readonly Uint8Array[], env: readonly Uint8Array[]): number {
    if (!this.#live) throw new Error("SpawnPlan used twice");
    try {
      checkReturned("posix_spawnattr_setflags", c().posix_spawnattr_setflags(ptr(this.#attr), this.#flags));
      const z = cString(path);
      const argvPointers = pointerArray(argv, this.#keep);
      const envPointers = pointerArray(env, this.#keep);
      const pid = new Int32Array(1);
      const symbols = c();
      const [pidAt, pathAt, actionsAt, attrAt, argvAt, envAt] = [ptr(pid), ptr(z), ptr(this.#actions), ptr(this.#attr), ptr(argvPointers), ptr(envPointers)];
      let rc: number;
      const home = this.#pidNamespaceHome;
      if (home === null) {
        rc = symbols.posix_spawn(pidAt, pathAt, actionsAt, attrAt, argvAt, envAt);
      } else {
        // While this thread's children go to a new pid namespace, so would a
        // thread it starts, and the kernel refuses that (EINVAL): the
        // runtime starts helper threads on demand (a collector's, a
        // compiler's) and aborts when it cannot. So nothing runs here but
        // three C calls: no allocation (no collection), no JS call, no loop.
        if (symbols.unshare(CLONE_NEWPID) !== 0) throw new SystemError("unshare", lastErrno(), "CLONE_NEWPID");
        rc = symbols.posix_spawn(pidAt, pathAt, actionsAt, attrAt, argvAt, envAt);
        if (symbols.setns(home, CLONE_NEWPID) !== 0) throw new SystemError("setns", lastErrno(), "back to the spawner's own pid namespace");
      }
      return rc === 0 ? pid[0]! : -rc;
    } finally {
      this[Symbol.dispose]();
    }
  }

  [Symbol.dispose](): void {
    if (!this.#live) return;
    this.#live = false;
    c().posix_spawnattr_destroy(ptr(this.#attr));
    c().posix_spawn_file_actions_destroy(ptr(this.#actions));
    this.#keep.length = 0;
  }

  #hold(bytes: Uint8Array): Uint8Array {
    this.#keep.push(bytes);
    return bytes;
  }
}

/** A NULL-terminated char*[] whose strings are kept alive in `keep`. */
export function pointerArray(items: readonly Uint8Array[], keep: Uint8Array[]): BigUint64Array {
  const array = new BigUint64Array(items.length + 1);
  items.forEach((item, i) => {
    const z = cString(item);
    keep.push(z);
    array[i] = BigInt(ptr(z));
  });
  keep.push(new Uint8Array(array.buffer));
  return array;
}
