// How the kernel schedules a thread and treats its process: nice value, CPU
// affinity, I/O priority, scheduling policy, OOM score adjustment and
// execution domain (personality). All but the last two are per thread on
// Linux; these read and set the calling thread's, which is what a process
// it starts (or the process it execs into) inherits.
import { FFIType, ptr } from "bun:ffi";
import { lazySymbols } from "./library.ts";
import { rawSyscall } from "./process.ts";
import { readWholeFile, openFile, writeAll } from "./file.ts";
import { O_WRONLY, SYS } from "./constants.ts";
import type { Scheduling } from "../protocol/scheduling.ts";

export type { Scheduling };

const { i32, u32, u64, ptr: p } = FFIType;
const c = lazySymbols({
  getpriority: { args: [i32, u32], returns: i32 },
  setpriority: { args: [i32, u32, i32], returns: i32 },
  sched_getaffinity: { args: [i32, u64, p], returns: i32 },
  sched_setaffinity: { args: [i32, u64, p], returns: i32 },
  sched_getscheduler: { args: [i32], returns: i32 },
  sched_getparam: { args: [i32, p], returns: i32 },
  sched_setscheduler: { args: [i32, i32, p], returns: i32 },
  personality: { args: [u64], returns: i32 },
});

const PRIO_PROCESS = 0;
const IOPRIO_WHO_PROCESS = 1;
/** Room for 1024 CPUs, glibc's cpu_set_t (MAX_AFFINITY_BYTES of the record). */
const AFFINITY_BYTES = 128;
/** personality(0xffffffff) reads the current one without changing it. */
const PERSONALITY_QUERY = 0xffffffff;

/** The scheduling attributes of thread `pid` (0: the calling one; another process's: its main thread). */
export function currentScheduling(pid = 0): Scheduling {
  const affinity = new Uint8Array(AFFINITY_BYTES);
  // (getpriority returns the nice value itself; -1 is a value too, so a vanished pid reads as that.)
  const nice = c().getpriority(PRIO_PROCESS, pid);
  const param = new Int32Array(1);
  const policy = c().sched_getscheduler(pid);
  c().sched_getparam(pid, ptr(param));
  if (c().sched_getaffinity(pid, AFFINITY_BYTES, ptr(affinity)) < 0) affinity.fill(0xff);
  const ioPriority = rawSyscall(SYS.ioprio_get, IOPRIO_WHO_PROCESS, pid);
  return {
    nice,
    ioPriority: ioPriority < 0 ? 0 : ioPriority,
    policy: policy < 0 ? 0 : policy,
    priority: param[0]!,
    affinity,
    oomScoreAdjust: readOomScoreAdjust(pid),
    personality: pid === 0 ? c().personality(PERSONALITY_QUERY) >>> 0 : readPersonality(pid),
  };
}

function readOomScoreAdjust(pid: number): number {
  try {
    return Number(new TextDecoder().decode(readWholeFile(`/proc/${pid === 0 ? "self" : pid}/oom_score_adj`)).trim()) || 0;
  } catch {
    return 0;
  }
}

function readPersonality(pid: number): number {
  try {
    return Number.parseInt(new TextDecoder().decode(readWholeFile(`/proc/${pid}/personality`)).trim(), 16) || 0;
  } catch {
    return 0;
  }
}

export function sameScheduling(a: Scheduling, b: Scheduling): boolean {
  return a.nice === b.nice && a.ioPriority === b.ioPriority && a.policy === b.policy && a.priority === b.priority
    && a.oomScoreAdjust === b.oomScoreAdjust && a.personality === b.personality
    && a.affinity.length === b.affinity.length && a.affinity.every((byte, i) => byte === b.affinity[i]);
}

/**
 * Gives the calling thread (about to exec) `wanted`, each attribute on its
 * own: one the kernel refuses (a nice value below the current one without
 * CAP_SYS_NICE, a real-time policy, a lower OOM adjustment without
 * CAP_SYS_RESOURCE) stays as it is.
 */
export function applyScheduling(wanted: Scheduling): void {
  const now = currentScheduling();
  if (wanted.personality !== now.personality) c().personality(wanted.personality);
  if (!sameBytes(wanted.affinity, now.affinity)) c().sched_setaffinity(0, wanted.affinity.length, ptr(wanted.affinity));
  if (wanted.policy !== now.policy || wanted.priority !== now.priority) c().sched_setscheduler(0, wanted.policy, ptr(new Int32Array([wanted.priority])));
  // After the policy: setting SCHED_OTHER/BATCH resets nothing, but the nice value is the last word for them.
  if (wanted.nice !== currentNice()) c().setpriority(PRIO_PROCESS, 0, wanted.nice);
  if (wanted.ioPriority !== now.ioPriority) rawSyscall(SYS.ioprio_set, IOPRIO_WHO_PROCESS, 0, wanted.ioPriority);
  if (wanted.oomScoreAdjust !== now.oomScoreAdjust) writeOomScoreAdjust(wanted.oomScoreAdjust);
}

function currentNice(): number {
  return c().getpriority(PRIO_PROCESS, 0);
}

function writeOomScoreAdjust(value: number): void {
  try {
    using file = openFile("/proc/self/oom_score_adj", O_WRONLY);
    writeAll(file.fd, new TextEncoder().encode(`${value}\n`));
  } catch {
    // Refused (a lower value without CAP_SYS_RESOURCE): it stays as it is.
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}
