// What a program started directly by this process would inherit besides
// argv, env, cwd and fds: umask, blocked and ignored signals, resource
// limits, closed stdio, and whether it takes over socket activation. Read
// once, before the client changes any of it (signal handlers).
//
// The Bun runtime changes three things before any of our code runs: it
// raises the soft RLIMIT_NOFILE to the hard limit, ignores SIGPIPE and
// SIGXFSZ, and reopens closed fds 0-2 on /dev/null (close-on-exec, which no
// inherited fd can be). The last is recognised; for the first two the
// bin/portal-exec launcher, which runs before Bun, passes what it inherited
// in PORTAL_EXEC_INHERITED; without it (the compiled client) they are taken
// to be the usual defaults: SIGPIPE and SIGXFSZ not ignored, and the soft
// open-file limit as it is now.
import { closeOnExec } from "../libc/file.ts";
import { getAllLimits, getPid, RLIMIT_NOFILE } from "../libc/process.ts";
import { blockedSignals, currentAction } from "../libc/signal.ts";
import { signalBit } from "../libc/sigset.ts";
import type { ProcessContext } from "../protocol/context.ts";

const SIGPIPE = 13;
const SIGXFSZ = 25;
/** Signals the runtime ignores for itself: unknown whether the caller did. */
const RUNTIME_IGNORED = signalBit(SIGPIPE) | signalBit(SIGXFSZ);

/** What bin/portal-exec saw before Bun started: "nofile=SOFT;ignored=HEX". */
export const INHERITED_VARIABLE = "PORTAL_EXEC_INHERITED";

export interface Inherited {
  nofileSoft: bigint | null;
  ignored: bigint | null;
}

export function parseInherited(text: string | undefined): Inherited {
  const out: Inherited = { nofileSoft: null, ignored: null };
  for (const part of (text ?? "").split(";")) {
    const [key, value] = part.split("=");
    if (!value) continue;
    if (key === "nofile" && /^\d+$/.test(value)) out.nofileSoft = BigInt(value);
    if (key === "nofile" && value === "unlimited") out.nofileSoft = (1n << 64n) - 1n;
    if (key === "ignored" && /^[0-9a-fA-F]{1,16}$/.test(value)) out.ignored = BigInt(`0x${value}`);
  }
  return out;
}

/**
 * This process's context as a program it ran would inherit it.
 * `closedStd`: fds 0-2 the runtime reopened because they were closed
 * (pass false for a library caller, whose 0-2 are whatever it has now).
 */
export function callerContext(options: { inherited?: Inherited; detectClosedStd?: boolean } = {}): ProcessContext {
  const inherited = options.inherited ?? { nofileSoft: null, ignored: null };
  let ignored = 0n;
  for (let signal = 1; signal <= 64; signal++) if (currentAction(signal)?.disposition === "ignore") ignored |= signalBit(signal);
  ignored &= ~RUNTIME_IGNORED;
  if (inherited.ignored !== null) ignored |= inherited.ignored & RUNTIME_IGNORED;
  const limits = getAllLimits().map((limit, resource) => {
    if (resource === RLIMIT_NOFILE && inherited.nofileSoft !== null && inherited.nofileSoft <= limit.hard) {
      return { resource, soft: inherited.nofileSoft, hard: limit.hard };
    }
    return { resource, ...limit };
  });
  let closed = 0;
  if (options.detectClosedStd) for (const fd of [0, 1, 2]) if (closeOnExec(fd) === true) closed |= 1 << fd;
  const umask = process.umask();
  return {
    umask,
    blocked: blockedSignals(),
    ignored,
    closed,
    limits,
    listenPid: process.env.LISTEN_FDS !== undefined && process.env.LISTEN_PID === String(getPid()),
  };
}
