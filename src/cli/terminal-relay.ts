// portal-exec's side of a program's terminal: the spawner made a pty in its
// own environment and handed the master back; bytes now flow between the
// caller's terminal and the master directly, never through the spawner.
// The caller's terminal is put in raw mode while this client is in its
// foreground (the pty's own line discipline does the editing, echo and
// Ctrl-C/Ctrl-Z), and put back on every way out. In the background the
// client does not read the terminal at all: the program, not in its pty's
// foreground then, stops with SIGTTIN if it reads, as a background job does.
import { OwnedFd } from "../libc/owned-fd.ts";
import { readLink, setNonBlocking, tryRead, tryWrite } from "../libc/file.ts";
import { getProcessGroup } from "../libc/process.ts";
import { foregroundGroup, isTerminal, rawMode, setTerminalAttributes, setWindowSize, terminalAttributes, windowSize, type WindowSize } from "../libc/tty.ts";
import { EAGAIN, EINTR } from "../libc/errno-values.ts";
import { POLLERR, POLLHUP, POLLIN, POLLOUT, TCSADRAIN } from "../libc/constants.ts";
import type { PollPump } from "../client/poll-pump.ts";
import { PollList } from "../libc/poll.ts";

const CHUNK = 16 * 1024;
/** c_cc[VEOF] in glibc's struct termios (c_cc starts at byte 17; VEOF is index 4). */
const VEOF_OFFSET = 17 + 4;

export class TerminalRelay implements PollPump {
  #master: OwnedFd | null = null;
  /** The caller's terminal settings before raw mode; null while not raw. */
  #saved: Uint8Array | null = null;
  #toMaster = new Uint8Array(0);
  #toOutput = new Uint8Array(0);
  #inputEnded = false;
  #masterEnded = false;
  readonly #buffer = new Uint8Array(CHUNK);
  #lastWatched: ReadonlyArray<{ fd: number; events: number }> = [];

  /**
   * `input`: where the caller types (its fd 0); `output`: where the program's
   * terminal output goes (the caller's terminal, or its stdout for --pty
   * without a terminal); `terminal`: the caller's terminal fd, or null.
   */
  constructor(
    private readonly input: number,
    private readonly output: number,
    private readonly terminal: number | null,
  ) {}

  /** The caller's terminal size (24x80 when there is none). */
  size(): WindowSize {
    return (this.terminal !== null ? windowSize(this.terminal) : null) ?? { rows: 24, cols: 80, xpixel: 0, ypixel: 0 };
  }

  /** True when this client is in the foreground of its terminal (or has none). */
  inForeground(): boolean {
    if (this.terminal === null) return true;
    const group = foregroundGroup(this.terminal);
    return group < 0 || group === getProcessGroup();
  }

  get active(): boolean {
    return this.#master !== null;
  }

  /** The master arrived: relay from now on (it is ours to close). */
  attach(master: OwnedFd): void {
    this.#master = master;
    setNonBlocking(master.fd, true);
    this.resume();
  }

  /** In the foreground: raw mode and the current size (a resize while we were stopped or in the background). */
  resume(): void {
    if (!this.#master || !this.inForeground()) return;
    this.enterRaw();
    this.resize();
  }

  /**
   * SIGWINCH: the pty gets the caller's new size (the kernel tells the
   * program's foreground group). Returns false when the size was the same
   * (the kernel then tells no one).
   */
  resize(): boolean {
    if (!this.#master || this.terminal === null) return false;
    try {
      const before = windowSize(this.#master.fd);
      const size = this.size();
      setWindowSize(this.#master.fd, size);
      return !before || before.rows !== size.rows || before.cols !== size.cols || before.xpixel !== size.xpixel || before.ypixel !== size.ypixel;
    } catch {
      // The master is gone: nothing to resize.
      return false;
    }
  }

  enterRaw(): void {
    if (this.terminal === null || this.#saved) return;
    const saved = terminalAttributes(this.terminal);
    if (!saved) return;
    if (setTerminalAttributes(this.terminal, rawMode(saved), TCSADRAIN) === 0) this.#saved = saved;
  }

  /** Puts the caller's terminal back as it was. Safe to call on every way out, and more than once. */
  restore(): void {
    if (this.terminal === null || !this.#saved) return;
    setTerminalAttributes(this.terminal, this.#saved, TCSADRAIN);
    this.#saved = null;
  }

  watched(): ReadonlyArray<{ fd: number; events: number }> {
    const master = this.#master;
    if (!master) return [];
    const list: Array<{ fd: number; events: number }> = [];
    const readInput = !this.#inputEnded && this.#toMaster.length === 0 && this.inForeground();
    if (readInput) list.push({ fd: this.input, events: POLLIN });
    const masterEvents = (this.#masterEnded || this.#toOutput.length > 0 ? 0 : POLLIN) | (this.#toMaster.length > 0 ? POLLOUT : 0);
    if (masterEvents) list.push({ fd: master.fd, events: masterEvents });
    if (this.#toOutput.length > 0) list.push({ fd: this.output, events: POLLOUT });
    this.#lastWatched = list;
    return list;
  }

  ready(revents: readonly number[]): void {
    const master = this.#master;
    if (!master) return;
    const watched = this.#lastWatched.map((entry, i) => ({ ...entry, got: revents[i] ?? 0 }));
    // The pty first: once its other side is closed (the program is gone), typing is the caller's shell's again.
    for (const { fd, got } of watched) {
      if (fd !== master.fd || got === 0) continue;
      if (got & POLLOUT) this.#writeMaster();
      if (got & (POLLIN | POLLHUP | POLLERR)) this.#readMaster();
    }
    for (const { fd, events, got } of watched) {
      if (got === 0) continue;
      if (fd === this.input && events === POLLIN && !this.#masterEnded) this.#readInput();
      else if (fd === this.output && fd !== master.fd) this.#writeOutput();
    }
  }

  /** After the program ended: what it wrote last, still in the pty, goes out too. */
  drain(): void {
    while (this.#master && !this.#masterEnded) {
      if (this.#toOutput.length > 0) this.#writeOutput(true);
      if (!this.#readMaster()) break;
    }
    if (this.#toOutput.length > 0) this.#writeOutput(true);
  }

  /** Relays what the pty still has until its other side is closed (every holder gone), or `timeoutMs`. */
  drainUntilClosed(timeoutMs: number): void {
    const master = this.#master;
    if (!master) return;
    const list = new PollList(1);
    const deadline = performance.now() + timeoutMs;
    while (!this.#masterEnded && performance.now() < deadline) {
      if (this.#readMaster()) {
        this.#writeOutput(true);
        continue;
      }
      list.clear();
      list.add(master.fd, POLLIN);
      list.wait(Math.max(1, Math.ceil(deadline - performance.now())));
    }
    this.#writeOutput(true);
  }

  close(): void {
    this.restore();
    this.#master?.close();
    this.#master = null;
  }

  #readInput(): void {
    const got = tryRead(this.input, this.#buffer);
    if (got === -EINTR || got === -EAGAIN) return;
    if (got <= 0) {
      // End of input (--pty with a pipe or file): the program reads end of file, as after Ctrl-D.
      this.#inputEnded = true;
      const eof = this.#saved ?? (this.terminal !== null ? terminalAttributes(this.terminal) : null);
      this.#toMaster = new Uint8Array([eof?.[VEOF_OFFSET] || 0x04]);
      this.#writeMaster();
      return;
    }
    this.#toMaster = this.#buffer.slice(0, got);
    this.#writeMaster();
  }

  #writeMaster(): void {
    if (!this.#master || this.#toMaster.length === 0) return;
    const wrote = tryWrite(this.#master.fd, this.#toMaster);
    if (wrote === -EAGAIN || wrote === -EINTR) return;
    // The pty is gone (EIO): what was typed has nowhere to go.
    this.#toMaster = wrote < 0 ? new Uint8Array(0) : this.#toMaster.subarray(wrote);
  }

  /** Reads what the pty has; false when there is nothing (now, or any more). */
  #readMaster(): boolean {
    if (!this.#master || this.#masterEnded) return false;
    const got = tryRead(this.#master.fd, this.#buffer);
    if (got === -EAGAIN || got === -EINTR) return false;
    if (got <= 0) {
      // EIO: every holder of the pty's other side has closed it.
      this.#masterEnded = true;
      return false;
    }
    this.#toOutput = this.#buffer.slice(0, got);
    this.#writeOutput();
    return true;
  }

  /** Terminal output; `all` blocks until written (the end, when nothing else waits). */
  #writeOutput(all = false): void {
    while (this.#toOutput.length > 0) {
      const wrote = tryWrite(this.output, this.#toOutput);
      if (wrote === -EINTR) continue;
      if (wrote === -EAGAIN && !all) return;
      if (wrote < 0) {
        // The caller's terminal is gone (EIO, EPIPE): drop the output, keep the program's status.
        this.#toOutput = new Uint8Array(0);
        return;
      }
      this.#toOutput = this.#toOutput.subarray(wrote);
      if (!all) return;
    }
  }
}

/** Whether fds `a` and `b` are the same terminal (by the path the kernel names: no node:fs in the client's start). */
export function sameTerminal(a: number, b: number): boolean {
  if (!isTerminal(a) || !isTerminal(b)) return false;
  try {
    const name = (fd: number) => new TextDecoder().decode(readLink(`/proc/self/fd/${fd}`));
    return name(a) === name(b);
  } catch {
    return false;
  }
}
