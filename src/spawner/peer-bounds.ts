// What a request may ask of the program's process (resource limits,
// scheduling) is bounded by what its client process really has, as the
// kernel shows it: a forged CONTEXT or SCHEDULING gets no more.
import { limitsOf } from "../libc/process.ts";
import { currentScheduling } from "../libc/scheduling.ts";
import type { ProcessContext } from "../protocol/context.ts";
import { boundScheduling } from "../protocol/scheduling.ts";
import { Refusal } from "./request.ts";

/**
 * The program gets no more than its client process has, as the kernel sees
 * it, whatever the request says (a forged CONTEXT or SCHEDULING, or none):
 * each hard limit at most the client's (the soft one at most that), and
 * scheduling (nice value, CPUs, I/O priority, policy, OOM adjustment) no
 * more favoured than the client's own. Without CONTEXT (revision 2, v1)
 * both come from the client process. `otherUser`: the program runs as another user
 * than its caller (the spawner's, without --sandbox), so the personality
 * flags a setuid exec clears (PER_CLEAR_ON_SETID) are cleared.
 */
export function withinPeer(context: ProcessContext | null, pid: number, otherUser = false): ProcessContext {
  const peerLimits = limitsOf(pid);
  if (!peerLimits) throw new Refusal("client went away before its program started");
  const bounded = boundScheduling(context?.scheduling ?? null, currentScheduling(pid));
  const scheduling = otherUser ? { ...bounded, personality: bounded.personality & ~PER_CLEAR_ON_SETID } : bounded;
  const base: ProcessContext = context ?? {
    umask: process.umask(), blocked: 0n, ignored: 0n, closed: 0, listenPid: false,
    limits: peerLimits.map((limit, resource) => ({ resource, ...limit })),
  };
  const limits = base.limits.map((limit) => {
    const peerHard = peerLimits[limit.resource]?.hard ?? limit.hard;
    const hard = limit.hard < peerHard ? limit.hard : peerHard;
    return { resource: limit.resource, soft: limit.soft < hard ? limit.soft : hard, hard };
  });
  return { ...base, limits, scheduling };
}

/** READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO (linux/personality.h). */
const PER_CLEAR_ON_SETID = 0x0400000 | 0x0040000 | 0x0200000 | 0x0100000;
