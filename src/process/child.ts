// A started program: its exit is observed through a pidfd (pollable, so the
// FdWatcher can wait for it) and reaped with waitid(P_PIDFD), which only ever
// touches this child: Bun's own children are never reaped by mistake.
import { ptr } from "bun:ffi";
import { libc } from "../libc/libc.ts";
import { check, errno, EINTR, ESRCH, SystemError } from "../libc/errno.ts";
import { OwnedFd } from "../libc/owned-fd.ts";
import { CLD_DUMPED, CLD_EXITED, CLD_KILLED, P_PIDFD, WEXITED, WNOHANG } from "../libc/constants.ts";
import { SIGINFO_SIZE } from "../libc/structs.ts";
import { FdWatcher } from "../fdpass/fd-watcher.ts";
import type { Outcome } from "../protocol/outcome.ts";
import { SIGNALS } from "./signals.ts";

export class ChildProcess {
  readonly pid: number;
  readonly exited: Promise<Outcome>;
  #pidfd: OwnedFd;
  #reaped = false;
  #graceTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(pid: number, private readonly watcher = FdWatcher.shared()) {
    this.pid = pid;
    this.#pidfd = new OwnedFd(check(libc.pidfd_open(pid, 0), "pidfd_open", `pid ${pid}`));
    this.exited = this.#waitForExit();
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
    if (libc.kill(-this.pid, signal) === 0) return true;
    const code = errno();
    if (code === ESRCH) return false;
    throw new SystemError("kill", code, `process group ${this.pid}`);
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
      this.signalGroup(SIGNALS.SIGKILL);
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
    const info = new Int32Array(SIGINFO_SIZE / 4);
    for (;;) {
      if (libc.waitid(P_PIDFD, this.#pidfd.fd, ptr(info), WEXITED | WNOHANG) === 0) break;
      const code = errno();
      if (code !== EINTR) throw new SystemError("waitid", code, `pid ${this.pid}`);
    }
    // si_pid stays 0 while the child is still running.
    if (info[4] === 0) return null;
    this.#reaped = true;
    // Once the leader is reaped and its group is empty, the group id is free
    // for the kernel to hand out again: a pending SIGKILL must not outlive it.
    if (this.#graceTimer && !this.signalGroup(0)) this.clearGrace();
    const siCode = info[2]!;
    const status = info[6]!;
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

