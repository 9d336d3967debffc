// The SCHEDULING record (revision 4): how the kernel schedules the caller
// and treats its process, which a direct run would inherit too. Little-endian:
//   i32 nice | u32 I/O priority | u32 policy | u32 priority |
//   i32 OOM score adjustment | u32 personality | u32 n | n bytes CPU mask
import { ProtocolError } from "./errors.ts";

export interface Scheduling {
  /** -20 (most favoured) .. 19. */
  nice: number;
  /** As ioprio_get(2) gives it: class << 13 | data. */
  ioPriority: number;
  /** SCHED_OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, maybe with SCHED_RESET_ON_FORK (0x40000000). */
  policy: number;
  /** The static priority of FIFO and RR (1..99), else 0. */
  priority: number;
  /** The CPUs it may run on: bit n%8 of byte n/8 for CPU n. */
  affinity: Uint8Array;
  /** /proc/self/oom_score_adj: -1000 .. 1000. */
  oomScoreAdjust: number;
  /** The execution domain and its flags (ADDR_NO_RANDOMIZE 0x40000, ...). */
  personality: number;
}

const FIXED_BYTES = 28;
/** 1024 CPUs (glibc's cpu_set_t). */
export const MAX_AFFINITY_BYTES = 128;
export const SCHED_OTHER = 0;
export const SCHED_FIFO = 1;
export const SCHED_RR = 2;
export const SCHED_BATCH = 3;
export const SCHED_IDLE = 5;
const POLICIES = new Set([SCHED_OTHER, SCHED_FIFO, SCHED_RR, SCHED_BATCH, SCHED_IDLE]);
const RESET_ON_FORK = 0x40000000;
const IOPRIO_CLASS_RT = 1;
const IOPRIO_CLASS_BE = 2;
const IOPRIO_CLASS_IDLE = 3;

export function encodeSchedulingPayload(scheduling: Scheduling): Uint8Array {
  const bytes = new Uint8Array(FIXED_BYTES + scheduling.affinity.length);
  const view = new DataView(bytes.buffer);
  view.setInt32(0, scheduling.nice, true);
  view.setUint32(4, scheduling.ioPriority, true);
  view.setUint32(8, scheduling.policy, true);
  view.setUint32(12, scheduling.priority, true);
  view.setInt32(16, scheduling.oomScoreAdjust, true);
  view.setUint32(20, scheduling.personality, true);
  view.setUint32(24, scheduling.affinity.length, true);
  bytes.set(scheduling.affinity, FIXED_BYTES);
  return bytes;
}

export function decodeSchedulingPayload(payload: Uint8Array): Scheduling {
  if (payload.length < FIXED_BYTES || payload.length > FIXED_BYTES + MAX_AFFINITY_BYTES) {
    throw new ProtocolError(`SCHEDULING payload of ${payload.length} bytes is malformed`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const scheduling: Scheduling = {
    nice: view.getInt32(0, true),
    ioPriority: view.getUint32(4, true),
    policy: view.getUint32(8, true),
    priority: view.getUint32(12, true),
    oomScoreAdjust: view.getInt32(16, true),
    personality: view.getUint32(20, true),
    affinity: payload.slice(FIXED_BYTES),
  };
  const count = view.getUint32(24, true);
  if (count !== scheduling.affinity.length) throw new ProtocolError(`SCHEDULING says ${count} mask bytes but carries ${scheduling.affinity.length}`);
  if (scheduling.nice < -20 || scheduling.nice > 19) throw new ProtocolError(`SCHEDULING nice value ${scheduling.nice} is outside -20..19`);
  if (!POLICIES.has(scheduling.policy & ~RESET_ON_FORK)) throw new ProtocolError(`SCHEDULING policy ${scheduling.policy} is unknown`);
  if (scheduling.priority > 99) throw new ProtocolError(`SCHEDULING priority ${scheduling.priority} is outside 0..99`);
  if (scheduling.oomScoreAdjust < -1000 || scheduling.oomScoreAdjust > 1000) throw new ProtocolError(`SCHEDULING OOM score adjustment ${scheduling.oomScoreAdjust} is outside -1000..1000`);
  if (scheduling.ioPriority > 0xffff) throw new ProtocolError(`SCHEDULING I/O priority 0x${scheduling.ioPriority.toString(16)} is not one`);
  return scheduling;
}

/**
 * What `asked` asks for where it asks for no more than `has` (a caller may
 * ask for less: a higher nice value or OOM adjustment, fewer CPUs, the idle
 * policy or I/O class), else what `has` has. The personality is as asked.
 */
export function boundScheduling(asked: Scheduling | null, has: Scheduling): Scheduling {
  if (!asked) return has;
  const cpus = asked.affinity.map((byte, i) => byte & (has.affinity[i] ?? 0));
  return {
    nice: Math.max(asked.nice, has.nice),
    oomScoreAdjust: Math.max(asked.oomScoreAdjust, has.oomScoreAdjust),
    affinity: cpus.some((byte) => byte !== 0) ? cpus : has.affinity,
    ...(policyRank(asked) <= policyRank(has) ? { policy: asked.policy, priority: asked.priority } : { policy: has.policy, priority: has.priority }),
    ioPriority: ioRank(asked.ioPriority) <= ioRank(has.ioPriority) ? asked.ioPriority : has.ioPriority,
    personality: asked.personality,
  };
}

/** How favoured a policy is: idle below the normal ones, real-time above them by priority. */
function policyRank({ policy, priority }: Scheduling): number {
  const base = policy & ~RESET_ON_FORK;
  if (base === SCHED_IDLE) return 0;
  return base === SCHED_FIFO || base === SCHED_RR ? 2 + priority : 1;
}

/** How favoured an I/O priority is: idle, then best effort (level 0 first; none counts as level 4), then real time. */
function ioRank(ioPriority: number): number {
  const kind = ioPriority >> 13;
  const level = ioPriority & 7;
  if (kind === IOPRIO_CLASS_IDLE) return 0;
  if (kind === IOPRIO_CLASS_RT) return 200 - level;
  return 100 - (kind === IOPRIO_CLASS_BE ? level : 4);
}
