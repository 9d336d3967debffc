// Ending the client the way the program ended: same exit code, or death by
// the same signal (without a core dump), 128+N only if that is impossible.
import { ptr } from "bun:ffi";
import { libc } from "../libc/libc.ts";
import { RLIMIT_CORE, SIG_UNBLOCK } from "../libc/constants.ts";
import { SIGSET_SIZE } from "../libc/structs.ts";
import { isFatalByDefault } from "../process/signals.ts";

export function dieBySignal(signal: number): never {
  if (isFatalByDefault(signal)) {
    // No core file for a death that only mirrors the program's.
    libc.setrlimit(RLIMIT_CORE, ptr(new BigUint64Array([0n, 0n])));
    // Bun installs handlers for some signals (SIGSEGV for crash reports, and
    // any we listened to): restore the default action, unblock, and raise.
    libc.signal(signal, null);
    const set = new Uint8Array(SIGSET_SIZE);
    libc.sigemptyset(ptr(set));
    libc.sigaddset(ptr(set), signal);
    libc.sigprocmask(SIG_UNBLOCK, ptr(set), null);
    libc.kill(libc.getpid(), signal);
  }
  // Still here: the signal does not end a process by default.
  process.exit(128 + signal);
}
