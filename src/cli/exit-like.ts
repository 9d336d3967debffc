// Ending the client the way the program ended: same exit code, or death by
// the same signal (without a core dump), 128+N only if that is impossible.
import { exitNow, getPid, getProcessGroup, sendSignal, trySetLimit, RLIMIT_CORE } from "../libc/process.ts";
import { foregroundGroup, isTerminal } from "../libc/tty.ts";
import { changeBlockedSignals, setDisposition } from "../libc/signal.ts";
import { signalBit } from "../libc/sigset.ts";
import { SIG_UNBLOCK } from "../libc/constants.ts";
import { isFatalByDefault } from "../process/signals.ts";

export function dieBySignal(signal: number): never {
  if (isFatalByDefault(signal)) {
    // No core file for a death that only mirrors the program's.
    trySetLimit(RLIMIT_CORE, { soft: 0n, hard: 0n });
    // Bun installs handlers for some signals (SIGSEGV for crash reports, and
    // any we listened to): restore the default action, unblock, and raise.
    setDisposition(signal, "default");
    changeBlockedSignals(SIG_UNBLOCK, signalBit(signal));
    sendSignal(getPid(), signal);
  }
  // Still here: the signal does not end a process by default.
  exitWith(128 + signal);
}

/**
 * process.exit(code), except in the background of a terminal (a job sent
 * there by Ctrl-Z and `bg`): on its way out the runtime puts back the
 * terminal settings it found at start-up, which there are no longer its own
 * to set and would undo the shell's (its line editor's) mode. There the
 * client leaves at once; what it wrote is already written (writes to a
 * terminal or a file are synchronous, and the relay's are its own).
 */
export function exitWith(code: number): never {
  if (inBackgroundOfTerminal()) exitNow(code);
  process.exit(code);
}

function inBackgroundOfTerminal(): boolean {
  for (const fd of [0, 1, 2]) {
    if (!isTerminal(fd)) continue;
    const group = foregroundGroup(fd);
    if (group > 0 && group !== getProcessGroup()) return true;
  }
  return false;
}
