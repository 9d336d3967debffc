// Signal dispositions and masks. struct sigaction (glibc and musl, LP64):
// handler@0 (8 bytes), mask@8 (128), flags@136 (i32), restorer@144; 152 bytes.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { sys, sysOrErrno } from "./system-error.ts";
import { readSigset, sigsetBytes, SIGSET_BYTES } from "./sigset.ts";
import { SIG_SETMASK } from "./constants.ts";

const { i32, ptr: p } = FFIType;
const c = lazySymbols({
  sigaction: { args: [i32, p, p], returns: i32 },
  sigprocmask: { args: [i32, p, p], returns: i32 },
});

const SIGACTION = { size: 152, handler: 0, mask: 8, flags: 136 } as const;
const SIG_DFL = 0n;
const SIG_IGN = 1n;

export type Disposition = "default" | "ignore" | "handler";

/** A saved sigaction, to put back exactly as it was (flags and mask included). */
export class SavedAction {
  constructor(
    readonly signal: number,
    readonly bytes: Uint8Array,
  ) {}

  get disposition(): Disposition {
    const handler = new DataView(this.bytes.buffer).getBigUint64(SIGACTION.handler, true);
    return handler === SIG_DFL ? "default" : handler === SIG_IGN ? "ignore" : "handler";
  }
}

/** The current action for `signal`; null for numbers the C library reserves for itself (32, 33). */
export function currentAction(signal: number): SavedAction | null {
  const bytes = new Uint8Array(SIGACTION.size);
  return sysOrErrno(() => c().sigaction(signal, null, ptr(bytes))) < 0 ? null : new SavedAction(signal, bytes);
}

export function restoreAction(saved: SavedAction): void {
  ignoredCache = null;
  sys("sigaction", () => c().sigaction(saved.signal, ptr(saved.bytes), null), `signal ${saved.signal}`);
}

/**
 * Sets `signal` to its default action or to ignored. Returns false for the
 * signals that cannot be changed (SIGKILL, SIGSTOP, and the C library's own).
 */
export function setDisposition(signal: number, disposition: "default" | "ignore"): boolean {
  ignoredCache = null;
  const bytes = new Uint8Array(SIGACTION.size);
  new DataView(bytes.buffer).setBigUint64(SIGACTION.handler, disposition === "ignore" ? SIG_IGN : SIG_DFL, true);
  return sysOrErrno(() => c().sigaction(signal, ptr(bytes), null)) === 0;
}

/** This thread's blocked-signal mask. */
export function blockedSignals(): bigint {
  const old = new Uint8Array(SIGSET_BYTES);
  sys("sigprocmask", () => c().sigprocmask(SIG_SETMASK, null, ptr(old)));
  return readSigset(old);
}

/** Changes this thread's mask (SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK) and returns the old one. */
export function changeBlockedSignals(how: number, set: bigint): bigint {
  const bytes = sigsetBytes(set);
  const old = new Uint8Array(SIGSET_BYTES);
  sys("sigprocmask", () => c().sigprocmask(how, ptr(bytes), ptr(old)));
  return readSigset(old);
}

let ignoredCache: bigint | null = null;

/**
 * The signals this process ignores (SIG_IGN), bit n-1 for signal n. Asked
 * once (64 sigaction calls) and then kept: only a sigaction sets SIG_IGN,
 * and every one of ours goes through this module, which forgets the answer;
 * the runtime's own process.on() installs handlers, never SIG_IGN.
 */
export function ignoredSignals(): bigint {
  if (ignoredCache === null) {
    let set = 0n;
    for (let signal = 1; signal <= 64; signal++) if (currentAction(signal)?.disposition === "ignore") set |= 1n << BigInt(signal - 1);
    ignoredCache = set;
  }
  return ignoredCache;
}
