// Direct or through the exec step: posix_spawn alone sets fds, cwd, signal
// defaults, the signal mask and (around the call) the umask. It cannot set
// resource limits, except one: the soft open-file limit, which the runtime
// raises in every Bun process (so a caller's shell usually has a lower one
// than the spawner). That one is lowered around the call as the umask is,
// when the hard limit agrees and no fd target lies above it; anything else
// that differs needs the step. An fd limit lowered for the moment only
// stops new fds above it, and the JS thread is the only one that makes fds.
import { RESOURCES, RLIMIT_NOFILE, type Limit } from "../libc/process.ts";
import { sameScheduling, type Scheduling } from "../libc/scheduling.ts";
import type { ResourceLimit } from "../protocol/context.ts";

export interface Wanted {
  limits: readonly ResourceLimit[];
  ignored: bigint;
  listenPid: boolean;
  scheduling?: Scheduling | null;
}

export interface Own {
  /** Indexed by RLIMIT_* number. */
  limits: readonly Limit[];
  ignored: bigint;
  /** Asked only when the caller's is known. */
  scheduling: () => Scheduling;
}

export type LaunchPlan = { step: string } | { step: null; nofileSoft: bigint | null };

export function planLaunch(wanted: Wanted, own: Own, highestTarget: number): LaunchPlan {
  if (wanted.listenPid) return { step: "LISTEN_PID" };
  if ((wanted.ignored & ~own.ignored) !== 0n) return { step: "ignored signals" };
  if (wanted.scheduling && !sameScheduling(wanted.scheduling, own.scheduling())) return { step: "scheduling" };
  let nofileSoft: bigint | null = null;
  for (const limit of wanted.limits) {
    const mine = own.limits[limit.resource];
    if (mine && mine.soft === limit.soft && mine.hard === limit.hard) continue;
    const lowerable = limit.resource === RLIMIT_NOFILE && mine && mine.hard === limit.hard && limit.soft < mine.soft && BigInt(highestTarget) < limit.soft;
    if (!lowerable) return { step: `RLIMIT_${RESOURCES[limit.resource]?.toUpperCase()}` };
    nofileSoft = limit.soft;
  }
  return { step: null, nofileSoft };
}
