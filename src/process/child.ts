// A started program: its exit is observed through a pidfd (pollable, so the
// FdWatcher can wait for it) and reaped with waitid(P_PIDFD), which only ever
// touches this child: Bun's own children are never reaped by mistake.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { openPidFd, sendSignal, trySendSignal, tryWait, waitPidFd } from "../libc/process.ts";
import { SigInfo } from "../libc/siginfo.ts";
import { SystemError } from "../libc/system-error.ts";
import { CLD_DUMPED, CLD_EXITED, CLD_KILLED, P_PID, WEXITED, WNOHANG } from "../libc/constants.ts";
import { FdWatcher } from "../fdwatch/fd-watcher.ts";
import type { Outcome } from "../protocol/outcome.ts";
import { SIGNALS } from "./signals.ts";

export class ChildProcess {
  readonly pid: number;
  readonly exited: Promise<Outcome>;
  #pidfd: OwnedFd;
  #reaped = false;
  #graceTimer: ReturnType<typeof setTimeout> | null = null;

  private constructor(pid: number, pidfd: OwnedFd, private readonly watcher: FdWatcher) {
    this.pid = pid;
    this.#pidfd = pidfd;
    this.exited = this.#waitForExit();
  }

  /**
   * Takes charge of child `pid`, just started. If it cannot be supervised
   * (no pidfd: EMFILE, say) it is killed and reaped here, and the error
   * thrown: a program must never run with nobody watching it.
   */
  static adopt(pid: number, watcher = FdWatcher.shared()): ChildProcess {
    let pidfd: OwnedFd;
    try {
      pidfd = openPidFd(pid);
    } catch (error) {
      trySendSignal(pid, SIGNALS.SIGKILL);
      tryWait(P_PID, pid, WEXITED, new SigInfo());
      throw error instanceof SystemError ? error : new Error(String(error));
    }
    return new ChildProcess(pid, pidfd, watcher);
  }

  get running(): boolean {
    return !this.#reaped;
  }

  /**
   * Sends `signal` to the program's whole process group (it leads its own,
   * see spawn.ts). The group id cannot be reused before the leader is reaped,
   * so this never reaches a stranger while the program runs.
   */
  signalGroup(signal: number): boolean {
    return sendSignal(-this.pid, signal);
  }

  /** To the whole group (as a terminal would), or to the program alone. Never throws (the program may be gone). */
  signal(signal: number, group = true): boolean {
    return trySendSignal(group ? -this.pid : this.pid, signal) === 0;
  }

  /**
   * SIGTERM (and SIGCONT, so a stopped group can act on it) to the group now,
   * SIGKILL to the group after `graceMs`: background grandchildren included.
   */
  terminateGroup(graceMs: number): void {
    if (this.#graceTimer) return;
    this.signalGroup(SIGNALS.SIGTERM);
    this.signalGroup(SIGNALS.SIGCONT);
    this.#graceTimer = setTimeout(() => {
      this.#graceTimer = null;
      // A timer must never throw: an EPERM here would be an uncaught exception in the spawner.
      trySendSignal(-this.pid, SIGNALS.SIGKILL);
    }, graceMs);
  }

  async #waitForExit(): Promise<Outcome> {
    try {
      for (;;) {
        const outcome = this.#tryReap();
        if (outcome) return outcome;
        await this.watcher.readable(this.#pidfd.fd);
      }
    } finally {
      this.#pidfd.close();
    }
  }

  #tryReap(): Outcome | null {
    const info = new SigInfo();
    waitPidFd(this.#pidfd, WEXITED | WNOHANG, info);
    // si_pid stays 0 while the child is still running.
    if (info.pid === 0) return null;
    this.#reaped = true;
    // Once the leader is reaped and its group is empty, the group id is free
    // for the kernel to hand out again: a pending SIGKILL must not outlive it.
    if (this.#graceTimer && trySendSignal(-this.pid, 0) !== 0) this.clearGrace();
    const siCode = info.code;
    const status = info.status;
    if (siCode === CLD_EXITED) return { kind: "exited", code: status & 0xff };
    if (siCode === CLD_KILLED || siCode === CLD_DUMPED) {
      return { kind: "signaled", signal: status, coreDumped: siCode === CLD_DUMPED };
    }
    throw new Error(`waitid reported si_code ${siCode} for pid ${this.pid}`);
  }

  /** Stops the pending SIGKILL. */
  clearGrace(): void {
    if (this.#graceTimer) clearTimeout(this.#graceTimer);
    this.#graceTimer = null;
  }
}

