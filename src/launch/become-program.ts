// The last steps of a launch, in a helper process that then replaces itself
// with the program: every attribute a direct run would have inherited is set
// exactly (execvp's rules, the caller's cwd, user, umask, signal
// dispositions and mask, resource limits, LISTEN_PID), then execve. The
// limits come last: once they are lowered the helper itself must not need
// more memory, files or time.
import { OwnedFd } from "../libc/owned-fd.ts";
import { changeDirectory, changeDirectoryTo, readInto, setCloseOnExec, setUmask } from "../libc/file.ts";
import { execute, executeFile, getPid, trySetLimit, getLimit } from "../libc/process.ts";
import { changeBlockedSignals, setDisposition } from "../libc/signal.ts";
import { hasSignal } from "../libc/sigset.ts";
import { pointerArray } from "../libc/spawn.ts";
import { cString } from "../libc/c-string.ts";
import { becomeUser, clearCapabilities, limitCapabilities, setNoNewPrivileges } from "../libc/credentials.ts";
import { applyScheduling } from "../libc/scheduling.ts";
import { SystemError } from "../libc/system-error.ts";
import { ECANCELED, ENOEXEC, EPERM } from "../libc/errno-values.ts";
import { SIG_SETMASK } from "../libc/constants.ts";
import type { StepFailure } from "./step-report.ts";
import { SIGNALS } from "../process/signals.ts";
import { lookupProgram } from "../process/path-lookup.ts";
import { withListenPid } from "./listen-pid.ts";
import type { ProgramSpec } from "./launch-spec.ts";

/** Becomes the program; returns only if that failed, saying where. */
export function becomeProgram(spec: ProgramSpec): StepFailure {
  if (spec.waitFd !== undefined && spec.waitFd !== null) {
    using wait = new OwnedFd(spec.waitFd);
    // The word; end of file instead means our supervisor gave up or died: the program must not run.
    if (readInto(wait.fd, new Uint8Array(1)) !== 1) return { stage: "setup", errno: ECANCELED };
  }
  try {
    // The caller's own scheduling (the spawner bounded it by the client process's), while setting it
    // may still need a capability: a sandboxed program could not lower a spawner's nice value itself.
    if (spec.scheduling) applyScheduling(spec.scheduling);
    // Bounds first (that needs a capability), then the user (so does that), then whatever is left.
    if (spec.unprivileged) limitCapabilities();
    if (spec.credentials) becomeUser(spec.credentials.uid, spec.credentials.gid, spec.credentials.groups);
    if (spec.unprivileged) {
      clearCapabilities();
      setNoNewPrivileges();
    }
  } catch (error) {
    return { stage: "setup", errno: (error as SystemError).errno ?? EPERM };
  }
  try {
    // As the user the program runs as: the kernel checks the search permission on every directory of the way.
    enterDirectory(spec);
  } catch (error) {
    return { stage: "chdir", errno: (error as SystemError).errno ?? 2 };
  }
  try {
    setUmask(spec.umask);
    for (let signal = 1; signal <= 64; signal++) {
      if (signal === SIGNALS.SIGKILL || signal === SIGNALS.SIGSTOP) continue;
      // The C library's own signals (32, 33) cannot be set; exec resets their handlers anyway.
      setDisposition(signal, hasSignal(spec.ignored, signal) ? "ignore" : "default");
    }
    for (const fd of spec.keepFds) setCloseOnExec(fd, false);
    // The program does not keep the fd it is executed from (an executable runs from it all the same).
    if (spec.execFd !== undefined && spec.execFd !== null) setCloseOnExec(spec.execFd, true);
    for (const fd of spec.closeFds) new OwnedFd(fd).close();
  } catch (error) {
    return { stage: "setup", errno: (error as SystemError).errno ?? EPERM };
  }
  const env = spec.listenPid ? withListenPid(spec.env, getPid()) : spec.env;
  let path = spec.path;
  if (spec.searchPath) {
    const lookup = lookupProgram(spec.path, env, spec.cwd);
    if (!lookup.found) return { stage: "exec", errno: lookup.errno };
    path = lookup.path;
  }
  const keep: Uint8Array[] = [];
  const argv = pointerArray(spec.argv, keep);
  const envp = pointerArray(env, keep);
  const z = cString(path);
  applyLimits(spec);
  changeBlockedSignals(SIG_SETMASK, spec.blocked);
  let errno = spec.execFd !== undefined && spec.execFd !== null ? executeFile(spec.execFd, argv, envp) : execute(z, argv, envp);
  if (errno === ENOEXEC) {
    // execvp's rule: a file without #! runs under /bin/sh.
    const shellArgv = pointerArray([new TextEncoder().encode("/bin/sh"), path, ...spec.argv.slice(1)], keep);
    errno = execute(cString("/bin/sh"), shellArgv, envp);
  }
  void keep;
  return { stage: "exec", errno };
}

function enterDirectory(spec: ProgramSpec): void {
  if (spec.cwd) {
    try {
      changeDirectory(spec.cwd);
      return;
    } catch (error) {
      if (spec.cwdFd === null) throw error;
    }
  }
  if (spec.cwdFd !== null) changeDirectoryTo(spec.cwdFd);
  if (spec.cwdFd !== null) new OwnedFd(spec.cwdFd).close();
}

/**
 * Every limit exactly as the caller had it. A hard limit this process may
 * not raise (no CAP_SYS_RESOURCE) stays where it is, and the soft one is
 * capped to it; the spawner already said so in its log.
 */
function applyLimits(spec: ProgramSpec): void {
  for (const limit of spec.limits) {
    if (trySetLimit(limit.resource, limit) === 0) continue;
    const { hard } = getLimit(limit.resource);
    trySetLimit(limit.resource, { soft: limit.soft < hard ? limit.soft : hard, hard: limit.hard < hard ? limit.hard : hard });
  }
}
