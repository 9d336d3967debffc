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
// in PORTAL_EXEC_INHERITED. Without it (the compiled client, or
// `bun portal-exec.ts`) SIGPIPE and SIGXFSZ are taken as not ignored, and
// the soft open-file limit as the parent process's, when the parent has the
// same hard limit (limits pass from parent to child unchanged unless
// something lowered them in between, as `(ulimit -Sn 64; exec cmd)` would).
import { closeOnExec, readWholeFile } from "../libc/file.ts";
import { getAllLimits, getPid, RLIMIT_NOFILE, UNLIMITED, type Limit } from "../libc/process.ts";
import { blockedSignals, ignoredSignals as ignoredSignalsNow } from "../libc/signal.ts";
import { signalBit } from "../libc/sigset.ts";
import { currentScheduling } from "../libc/scheduling.ts";
import type { ProcessContext } from "../protocol/context.ts";

const SIGINT = 2;
const SIGPIPE = 13;
const SIGXFSZ = 25;
/** Signals the runtime ignores for itself: unknown whether the caller did. */
const RUNTIME_IGNORED = signalBit(SIGPIPE) | signalBit(SIGXFSZ);
/** What bin/portal-exec reports: those, and SIGINT, which the runtime sets back to its default when stdin is a terminal. */
const LAUNCHER_REPORTED = RUNTIME_IGNORED | signalBit(SIGINT);

/** What bin/portal-exec saw before Bun started: "nofile=SOFT;sigign=DECIMAL" (SIGINT, SIGPIPE and SIGXFSZ bits only). */
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
    if (key === "nofile" && value === "unlimited") out.nofileSoft = UNLIMITED;
    if (key === "sigign" && /^\d{1,20}$/.test(value)) out.ignored = BigInt(value) & LAUNCHER_REPORTED;
  }
  return out;
}

/** The inherited soft open-file limit, guessed from the parent process (see the top of this file). */
export function inheritedFromParent(own: Limit | undefined = getAllLimits()[RLIMIT_NOFILE]): Inherited {
  const none: Inherited = { nofileSoft: null, ignored: null };
  // A soft limit below the hard one is not the runtime's doing: it is what we inherited.
  if (own && own.soft !== own.hard) return none;
  const text = procText(`/proc/${process.ppid}/limits`);
  const line = text && /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!line) return none;
  const value = (field: string) => (field === "unlimited" ? UNLIMITED : /^\d+$/.test(field) ? BigInt(field) : null);
  const [soft, hard] = [value(line[1]!), value(line[2]!)];
  if (soft === null || hard === null || !own || hard !== own.hard || soft > hard) return none;
  return { nofileSoft: soft, ignored: null };
}

export function procText(path: string): string | null {
  try {
    return new TextDecoder().decode(readWholeFile(path));
  } catch {
    return null;
  }
}

/**
 * Ignored and blocked signals from /proc/self/status (64 sigaction calls
 * cost a fresh client ~0.5 ms). The blocked set there is the main
 * thread's: the thread that runs our JS and would spawn.
 */
function signalState(given: string | null | undefined): { ignored: bigint; blocked: bigint } {
  // A library caller asks at every request: a kept answer and one sigprocmask beat reading /proc.
  if (given === undefined) return { ignored: ignoredSignalsNow(), blocked: blockedSignals() };
  const field = (name: string) => given && new RegExp(`^${name}:\\s*([0-9a-f]{16})$`, "m").exec(given)?.[1];
  const ignored = field("SigIgn");
  const blocked = field("SigBlk");
  if (ignored && blocked) return { ignored: BigInt(`0x${ignored}`), blocked: BigInt(`0x${blocked}`) };
  return { ignored: ignoredSignalsNow(), blocked: blockedSignals() };
}

/** The signals a program this process ran would find ignored (see callerContext), from /proc/self/status. */
export function ignoredSignals(status: string | null, inherited: Inherited): bigint {
  return withInherited(signalState(status).ignored, inherited);
}

function withInherited(ignored: bigint, inherited: Inherited): bigint {
  if (inherited.ignored === null) return ignored & ~RUNTIME_IGNORED;
  return (ignored & ~LAUNCHER_REPORTED) | (inherited.ignored & LAUNCHER_REPORTED);
}

/**
 * This process's context as a program it ran would inherit it.
 * `closedStd`: fds 0-2 the runtime reopened because they were closed
 * (pass false for a library caller, whose 0-2 are whatever it has now).
 */
export function callerContext(options: { inherited?: Inherited; detectClosedStd?: boolean; limits?: Limit[]; status?: string | null } = {}): ProcessContext {
  const inherited = options.inherited ?? { nofileSoft: null, ignored: null };
  const signals = signalState(options.status);
  const ignored = withInherited(signals.ignored, inherited);
  const limits = (options.limits ?? getAllLimits()).map((limit, resource) => {
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
    blocked: signals.blocked,
    ignored,
    closed,
    limits,
    listenPid: process.env.LISTEN_FDS !== undefined && process.env.LISTEN_PID === String(getPid()),
    scheduling: currentScheduling(),
  };
}
