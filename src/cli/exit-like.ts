// Ending the client the way the program ended: same exit code, or death by
// the same signal (without a core dump), 128+N only if that is impossible.
import { getPid, sendSignal, trySetLimit, RLIMIT_CORE } from "../libc/process.ts";
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
  process.exit(128 + signal);
}
