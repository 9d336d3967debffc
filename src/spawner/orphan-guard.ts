// Nothing outlives its spawner. A tiny watchdog (a /bin/sh script, started
// once per server) holds the read end of a pipe nobody writes to: when it
// reaches end-of-file, because the spawner is gone (SIGKILL and crashes
// included) or closed it, the watchdog reads the list of program groups
// still running from a memfd the spawner keeps up to date, sends each
// SIGTERM and SIGCONT, waits the kill grace, then SIGKILL.
// docs/lifetime.md explains why this design and not pdeathsig or cgroups.
//
// The list is one fixed-width line per slot ("   12345\n", blank when free),
// each written in place with one pwrite: no wake-up of the watchdog per
// program (a pipe line per start and end cost the spawner ~0.1 ms of CPU a
// request), and a spawner killed at any moment leaves whole lines.
//
// The watchdog also holds the spawner's lock file open (fd 3): a restarted
// spawner on the same socket waits for that lock, so it never starts next to
// programs of its predecessor that are still being ended.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { duplicate, memFd, openFile, pipe, tryLockExclusive, writeAt } from "../libc/file.ts";
import { SpawnPlan, canCloseFrom } from "../libc/spawn.ts";
import { ALL_SIGNALS } from "../libc/sigset.ts";
import { O_CREAT, O_RDWR, O_WRONLY } from "../libc/constants.ts";
import { ChildProcess } from "../process/child.ts";
import type { Logger } from "./logger.ts";

// stdin: the pipe (end of file: the spawner is gone); fd 4: the list, read
// from its start (the spawner writes with pwrite, so the shared offset is 0).
// kill -15 -PGID signals a whole group in dash and busybox alike.
const WATCHDOG = `
while read -r _; do :; done
groups=
while read -r pg; do [ -n "$pg" ] && groups="$groups $pg"; done <&4
[ -z "$groups" ] && exit 0
for pg in $groups; do kill -15 -$pg; kill -18 -$pg; done 2>/dev/null
sleep "$1"
for pg in $groups; do kill -9 -$pg; done 2>/dev/null
exit 0
`;

/** One slot of the list: a pgid right-aligned in 11 characters, and a newline. */
const SLOT_BYTES = 12;
const BLANK = new TextEncoder().encode(`${" ".repeat(SLOT_BYTES - 1)}\n`);

export class OrphanGuard {
  /** pgid -> its slot in the list. */
  readonly #slots = new Map<number, number>();
  readonly #free: number[] = [];
  #nextSlot = 0;
  readonly #list: OwnedFd = memFd("portal-groups");
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
    if (this.#slots.has(pgid)) return;
    const slot = this.#free.pop() ?? this.#nextSlot++;
    this.#slots.set(pgid, slot);
    this.#write(slot, new TextEncoder().encode(`${String(pgid).padStart(SLOT_BYTES - 1)}\n`));
  }

  remove(pgid: number): void {
    const slot = this.#slots.get(pgid);
    if (slot === undefined) return;
    this.#slots.delete(pgid);
    this.#write(slot, BLANK);
    this.#free.push(slot);
  }

  /** Ends the watchdog: it terminates whatever groups are still listed, then exits. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#pipe?.close();
    this.#pipe = null;
    await this.#watchdog?.exited.catch(() => {});
    this.#list.close();
    this.lock?.close();
  }

  #write(slot: number, line: Uint8Array): void {
    try {
      writeAt(this.#list.fd, line, slot * SLOT_BYTES);
    } catch (error) {
      // A memfd write fails only without memory: the group goes untracked.
      this.log.warn(`the watchdog's list: ${(error as Error).message}; a program group may not be tracked`);
    }
  }

  #start(): void {
    const [readEnd, writeEnd] = pipe();
    try {
      // Above every target first, so that no dup2 below overwrites a source still to be copied.
      using lock = this.lock ? duplicate(this.lock.fd, 10) : null;
      using list = duplicate(this.#list.fd, 10);
      const plan = new SpawnPlan().newSession().defaultSignals(ALL_SIGNALS).signalMask(0n);
      plan.dup2(readEnd.fd, 0).open(1, "/dev/null", O_WRONLY).open(2, "/dev/null", O_WRONLY);
      if (lock) plan.dup2(lock.fd, 3);
      else plan.open(3, "/dev/null", O_WRONLY);
      plan.dup2(list.fd, 4);
      if (canCloseFrom()) plan.closeFrom(5);
      const grace = String(Math.max(1, Math.ceil(this.graceMs / 1000)));
      const pid = plan.spawn(Buffer.from("/bin/sh"), ["sh", "-c", WATCHDOG, "portal-watchdog", grace].map((s) => Buffer.from(s)), [Buffer.from("PATH=/usr/bin:/bin")]);
      if (pid < 0) throw new Error(`cannot start the watchdog (/bin/sh): errno ${-pid}`);
      const watchdog = ChildProcess.adopt(pid);
      this.#watchdog = watchdog;
      this.#pipe = writeEnd;
      void watchdog.exited.catch(() => {}).then(() => this.#onExit(watchdog));
    } catch (error) {
      writeEnd.close();
      throw error;
    } finally {
      readEnd.close();
    }
  }

  #onExit(watchdog: ChildProcess): void {
    if (this.#stopped || this.#watchdog !== watchdog) return;
    this.log.warn(`the watchdog (pid ${watchdog.pid}) ended; starting a new one`);
    this.#pipe?.close();
    this.#pipe = null;
    this.#start();
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
