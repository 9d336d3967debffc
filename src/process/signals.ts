// Linux signal numbers (x86-64 and aarch64 share them) and their names.
export const SIGNALS = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8,
  SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15,
  SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19, SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22,
  SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28, SIGIO: 29,
  SIGPWR: 30, SIGSYS: 31,
} as const;

export type SignalName = keyof typeof SIGNALS;

const NAMES = new Map<number, SignalName>(Object.entries(SIGNALS).map(([name, n]) => [n, name as SignalName]));

export const SIGRTMAX = 64;

export function signalName(signal: number): string {
  return NAMES.get(signal) ?? (signal >= 34 && signal <= SIGRTMAX ? `SIGRTMIN+${signal - 34}` : `signal ${signal}`);
}

/** Accepts "TERM", "SIGTERM", "sigterm" or "15". */
export function parseSignal(text: string): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n >= 1 && n <= SIGRTMAX) return n;
  } else {
    const upper = text.toUpperCase();
    const name = (upper.startsWith("SIG") ? upper : `SIG${upper}`) as SignalName;
    if (name in SIGNALS) return SIGNALS[name];
  }
  throw new RangeError(`unknown signal '${text}'`);
}

/** Signals whose default action ends the process (so a client can die "the same way"). */
export function isFatalByDefault(signal: number): boolean {
  const harmless: number[] = [SIGNALS.SIGCHLD, SIGNALS.SIGCONT, SIGNALS.SIGURG, SIGNALS.SIGWINCH, SIGNALS.SIGSTOP,
    SIGNALS.SIGTSTP, SIGNALS.SIGTTIN, SIGNALS.SIGTTOU];
  return signal >= 1 && signal <= SIGRTMAX && !harmless.includes(signal);
}
