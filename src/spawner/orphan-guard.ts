// Nothing outlives its spawner. A tiny watchdog (a /bin/sh script, started
// once per server) learns the process group of every running program over
// a pipe; when the pipe reaches end-of-file, because the spawner is gone
// (SIGKILL and crashes included) or closed it, the watchdog sends each group
// still listed SIGTERM and SIGCONT, waits the kill grace, then SIGKILL.
// docs/lifetime.md explains why this design and not pdeathsig or cgroups.
//
// The watchdog also holds the spawner's lock file open (fd 3): a restarted
// spawner on the same socket waits for that lock, so it never starts next to
// programs of its predecessor that are still being ended.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { openFile, pipe, setNonBlocking, tryLockExclusive, writeFrom } from "../libc/file.ts";
import { SpawnPlan, canCloseFrom } from "../libc/spawn.ts";
import { ALL_SIGNALS } from "../libc/sigset.ts";
import { O_CREAT, O_RDWR, O_WRONLY } from "../libc/constants.ts";
import { ChildProcess } from "../process/child.ts";
import type { Logger } from "./logger.ts";

// Groups are kept as " 12 34 " so a pgid is removed with two expansions and
// no fork. kill -15 -PGID signals a whole group in dash and busybox alike.
const WATCHDOG = `
groups=' '
while IFS=' ' read -r op pg; do
  case $op in
    +) groups="$groups$pg " ;;
    -) case $groups in *" $pg "*) groups="\${groups%%" $pg "*} \${groups#*" $pg "}" ;; esac ;;
  esac
done
[ "$groups" = ' ' ] && exit 0
for pg in $groups; do kill -15 -$pg; kill -18 -$pg; done 2>/dev/null
sleep "$1"
for pg in $groups; do kill -9 -$pg; done 2>/dev/null
exit 0
`;

export class OrphanGuard {
  readonly #groups = new Set<number>();
  #pipe: OwnedFd | null = null;
  #watchdog: ChildProcess | null = null;
  #stopped = false;

  constructor(
    private readonly graceMs: number,
    private readonly lock: OwnedFd | null,
    private readonly log: Logger,
  ) {
    this.#start();
  }

  add(pgid: number): void {
    this.#groups.add(pgid);
    this.#send(`+ ${pgid}\n`);
  }

  remove(pgid: number): void {
    if (!this.#groups.delete(pgid)) return;
    this.#send(`- ${pgid}\n`);
  }

  /** Ends the watchdog: it terminates whatever groups are still listed, then exits. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pipe?.close();
    this.#pipe = null;
    await this.#watchdog?.exited.catch(() => {});
    this.lock?.close();
  }

  #start(): void {
    const [readEnd, writeEnd] = pipe();
    try {
      // The script's read blocks; our end must never block the spawner.
      setNonBlocking(writeEnd.fd, true);
      const plan = new SpawnPlan().newSession().defaultSignals(ALL_SIGNALS).signalMask(0n);
      plan.dup2(readEnd.fd, 0).open(1, "/dev/null", O_WRONLY).open(2, "/dev/null", O_WRONLY);
      if (this.lock) plan.dup2(this.lock.fd, 3);
      if (canCloseFrom()) plan.closeFrom(this.lock ? 4 : 3);
      const grace = String(Math.max(1, Math.ceil(this.graceMs / 1000)));
      const pid = plan.spawn(Buffer.from("/bin/sh"), ["sh", "-c", WATCHDOG, "portal-watchdog", grace].map((s) => Buffer.from(s)), [Buffer.from("PATH=/usr/bin:/bin")]);
      if (pid < 0) throw new Error(`cannot start the watchdog (/bin/sh): errno ${-pid}`);
      const watchdog = ChildProcess.adopt(pid);
      this.#watchdog = watchdog;
      this.#pipe = writeEnd;
      void watchdog.exited.then(() => this.#onExit(watchdog));
    } catch (error) {
      writeEnd.close();
      throw error;
    } finally {
      readEnd.close();
    }
    for (const pgid of this.#groups) this.#send(`+ ${pgid}\n`);
  }

  #onExit(watchdog: ChildProcess): void {
    if (this.#stopped || this.#watchdog !== watchdog) return;
    this.log.warn(`the watchdog (pid ${watchdog.pid}) ended; starting a new one`);
    this.#pipe?.close();
    this.#pipe = null;
    this.#start();
  }

  #send(line: string): void {
    if (!this.#pipe) return;
    try {
      if (writeFrom(this.#pipe.fd, Buffer.from(line)) === "again") this.log.warn("the watchdog's pipe is full; a program group may not be tracked");
    } catch (error) {
      // EPIPE: the watchdog is gone; #onExit starts a new one with every group.
      this.log.debug(`watchdog pipe: ${(error as Error).message}`);
    }
  }
}

/** Opens (creating) the lock file next to the socket: `${socketPath}.lock`. */
export function openSocketLock(socketPath: string): OwnedFd {
  return openFile(`${socketPath}.lock`, O_RDWR | O_CREAT, 0o600);
}

/**
 * Waits up to `waitMs` for `lock` while a previous spawner's watchdog still
 * holds it (it is ending that spawner's programs), then resolves with it.
 */
export async function waitForLock(lock: OwnedFd, socketPath: string, waitMs: number, log: Logger): Promise<OwnedFd> {
  log.info(`waiting for the programs of a previous spawner on '${socketPath}' to end`);
  const deadline = performance.now() + waitMs;
  while (!tryLockExclusive(lock.fd)) {
    if (performance.now() > deadline) {
      log.warn(`a previous spawner's watchdog still holds '${socketPath}.lock' after ${waitMs} ms; starting anyway`);
      break;
    }
    await Bun.sleep(50);
  }
  return lock;
}
