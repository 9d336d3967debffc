// Terminals and pseudo-terminals. struct winsize is four u16s (rows, cols,
// xpixel, ypixel); glibc's struct termios is 60 bytes: u32 iflag@0 oflag@4
// cflag@8 lflag@12, u8 line@16, cc[32]@17, u32 ispeed@52 ospeed@56.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { cString } from "./c-string.ts";
import { OwnedFd } from "./owned-fd.ts";
import { sys, sysOrErrno } from "./system-error.ts";
import {
  O_CLOEXEC, O_NOCTTY, O_RDWR, TCSADRAIN, TIOCGPTPEER, TIOCGWINSZ, TIOCSCTTY, TIOCSPTLCK, TIOCSWINSZ,
} from "./constants.ts";

const { i32, u64, ptr: p } = FFIType;
const c = lazySymbols({
  open: { args: [p, i32, i32], returns: i32 },
  ioctl: { args: [i32, u64, p], returns: i32 },
  isatty: { args: [i32], returns: i32 },
  tcgetattr: { args: [i32, p], returns: i32 },
  tcsetattr: { args: [i32, i32, p], returns: i32 },
  cfmakeraw: { args: [p], returns: FFIType.void },
  tcgetpgrp: { args: [i32], returns: i32 },
  tcsetpgrp: { args: [i32, i32], returns: i32 },
  ptsname_r: { args: [i32, p, u64], returns: i32 },
});
// ioctl is variadic: requests whose argument is an int, not a pointer.
const withInt = lazySymbols({ ioctl: { args: [i32, u64, u64], returns: i32 } });

export const TERMIOS_BYTES = 60;

export interface WindowSize {
  rows: number;
  cols: number;
  xpixel: number;
  ypixel: number;
}

export function isTerminal(fd: number): boolean {
  return c().isatty(fd) === 1;
}

/** The terminal settings of `fd` as glibc's struct termios, or null if `fd` is not a terminal. */
export function terminalAttributes(fd: number): Uint8Array | null {
  const termios = new Uint8Array(TERMIOS_BYTES);
  return sysOrErrno(() => c().tcgetattr(fd, ptr(termios))) < 0 ? null : termios;
}

/** Applies `termios` to the terminal at `fd` once queued output is written (TCSADRAIN); returns 0 or the errno. */
export function setTerminalAttributes(fd: number, termios: Uint8Array, when = TCSADRAIN): number {
  const rc = sysOrErrno(() => c().tcsetattr(fd, when, ptr(termios)));
  return rc < 0 ? -rc : 0;
}

/**
 * `termios` changed to raw mode, as cfmakeraw(3) does it, except that output
 * processing (c_oflag: OPOST, ONLCR) stays as it was: other processes that
 * write to the same terminal meanwhile (the partner in `cmd | less`) keep
 * their newlines. A copy; the argument is left alone.
 */
export function rawMode(termios: Uint8Array): Uint8Array {
  const copy = termios.slice();
  c().cfmakeraw(ptr(copy));
  copy.set(termios.subarray(TERMIOS_OFLAG, TERMIOS_OFLAG + 4), TERMIOS_OFLAG);
  return copy;
}

/**
 * `termios` as a job started from a shell finds the terminal: seen from the
 * background, a terminal is in the shell's line-editor mode (readline turns
 * off ICANON, ECHO and ICRNL and disables the ^O and ^V characters), which
 * the shell sets back before it runs a foreground job. Everything else
 * (TOSTOP, the erase character, UTF-8 input, ...) is the user's, and kept.
 */
export function asAJobFindsIt(termios: Uint8Array): Uint8Array {
  const copy = termios.slice();
  const view = new DataView(copy.buffer);
  view.setUint32(TERMIOS_IFLAG, view.getUint32(TERMIOS_IFLAG, true) | ICRNL, true);
  view.setUint32(TERMIOS_LFLAG, view.getUint32(TERMIOS_LFLAG, true) | ICANON | ECHO, true);
  if (copy[TERMIOS_CC + VDISCARD] === 0) copy[TERMIOS_CC + VDISCARD] = CTRL_O;
  if (copy[TERMIOS_CC + VLNEXT] === 0) copy[TERMIOS_CC + VLNEXT] = CTRL_V;
  return copy;
}

// glibc's struct termios: c_iflag at 0, c_oflag at 4, c_lflag at 12, c_cc at 17; Linux's flag bits and c_cc indexes.
const TERMIOS_IFLAG = 0;
const TERMIOS_OFLAG = 4;
const TERMIOS_LFLAG = 12;
const TERMIOS_CC = 17;
const ICRNL = 0o400;
const ICANON = 0o2;
const ECHO = 0o10;
const VDISCARD = 13;
const VLNEXT = 15;
const CTRL_O = 0x0f;
const CTRL_V = 0x16;

export function windowSize(fd: number): WindowSize | null {
  const size = new Uint16Array(4);
  if (sysOrErrno(() => c().ioctl(fd, BigInt(TIOCGWINSZ), ptr(size))) < 0) return null;
  return { rows: size[0]!, cols: size[1]!, xpixel: size[2]!, ypixel: size[3]! };
}

/** Sets the window size; on a pty master this also sends SIGWINCH to the slave's foreground group. */
export function setWindowSize(fd: number, size: WindowSize): void {
  const bytes = new Uint16Array([size.rows, size.cols, size.xpixel, size.ypixel]);
  sys("ioctl(TIOCSWINSZ)", () => c().ioctl(fd, BigInt(TIOCSWINSZ), ptr(bytes)));
}

/** The foreground process group of the terminal at `fd`, or -errno (ENOTTY: not our controlling terminal). */
export function foregroundGroup(fd: number): number {
  return sysOrErrno(() => c().tcgetpgrp(fd));
}

/** Makes `pgid` the foreground group of the terminal at `fd`; returns 0 or the errno. */
export function setForegroundGroup(fd: number, pgid: number): number {
  const rc = sysOrErrno(() => c().tcsetpgrp(fd, pgid));
  return rc < 0 ? -rc : 0;
}

/** Makes the terminal at `fd` the controlling terminal of the calling session leader. */
export function takeControllingTerminal(fd: number): void {
  sys("ioctl(TIOCSCTTY)", () => withInt().ioctl(fd, BigInt(TIOCSCTTY), 0n));
}

/**
 * A new pseudo-terminal from the multiplexer at `ptmx` (default
 * /dev/ptmx): its master, unlocked, and its slave opened from the master
 * itself (TIOCGPTPEER, Linux 4.13), so no path lookup can hand us another
 * terminal. Neither becomes our controlling terminal.
 */
export function openPty(ptmx = "/dev/ptmx"): { master: OwnedFd; slave: OwnedFd } {
  const z = cString(ptmx);
  const master = new OwnedFd(sys("open", () => c().open(ptr(z), O_RDWR | O_NOCTTY | O_CLOEXEC, 0), ptmx));
  try {
    const unlock = new Int32Array([0]);
    sys("ioctl(TIOCSPTLCK)", () => c().ioctl(master.fd, BigInt(TIOCSPTLCK), ptr(unlock)));
    // TIOCGPTPEER takes the open flags as its (integer) argument.
    const slave = new OwnedFd(sys("ioctl(TIOCGPTPEER)", () => withInt().ioctl(master.fd, BigInt(TIOCGPTPEER), BigInt(O_RDWR | O_NOCTTY | O_CLOEXEC))));
    return { master, slave };
  } catch (error) {
    master.close();
    throw error;
  }
}

/** The path of the slave of the pty whose master is `fd` ("/dev/pts/3"). */
export function ptyName(fd: number): string {
  const buffer = new Uint8Array(128);
  const rc = c().ptsname_r(fd, ptr(buffer), buffer.length);
  if (rc !== 0) return "";
  return new TextDecoder().decode(buffer.subarray(0, buffer.indexOf(0)));
}
