// The CONTEXT record (revision 3): what a program inherits from its caller
// beyond argv, env, cwd and fds, so that running it through the portal is
// the same as running it directly. Little-endian:
//   u32 flags | u32 umask | u64 blocked | u64 ignored | u32 closed | u32 n |
//   n x (u32 resource, u32 zero, u64 soft, u64 hard)
import { ProtocolError } from "./errors.ts";
import { MAX_CONTEXT_BYTES } from "./limits.ts";
import type { Scheduling } from "./scheduling.ts";

/** CONTEXT flag: set LISTEN_PID to the program's own pid (systemd socket activation passes through). */
export const CONTEXT_LISTEN_PID = 1;
const FLAGS_KNOWN = CONTEXT_LISTEN_PID;
const FIXED_BYTES = 32;
const LIMIT_BYTES = 24;
/** Linux has 16 resource limits (RLIMIT_CPU .. RLIMIT_RTTIME). */
export const RESOURCE_COUNT = 16;

export interface ResourceLimit {
  /** RLIMIT_* number. */
  resource: number;
  soft: bigint;
  hard: bigint;
}

export interface ProcessContext {
  /** The file mode creation mask. */
  umask: number;
  /** Blocked signals: bit n-1 for signal n. */
  blocked: bigint;
  /** Signals whose disposition is SIG_IGN. */
  ignored: bigint;
  /** Which of fds 0, 1, 2 were closed (bit n for fd n): they stay closed in the program. */
  closed: number;
  /** Every resource limit the caller has. */
  limits: ResourceLimit[];
  /** LISTEN_PID becomes the program's pid (the caller was the socket-activated process). */
  listenPid: boolean;
  /** How the caller is scheduled (nice, CPUs, ...): the SCHEDULING record of revision 4, not part of CONTEXT's payload. */
  scheduling?: Scheduling | null;
}

export function encodeContextPayload(context: ProcessContext): Uint8Array {
  const bytes = new Uint8Array(FIXED_BYTES + LIMIT_BYTES * context.limits.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, context.listenPid ? CONTEXT_LISTEN_PID : 0, true);
  view.setUint32(4, context.umask, true);
  view.setBigUint64(8, context.blocked, true);
  view.setBigUint64(16, context.ignored, true);
  view.setUint32(24, context.closed, true);
  view.setUint32(28, context.limits.length, true);
  context.limits.forEach((limit, i) => {
    const at = FIXED_BYTES + LIMIT_BYTES * i;
    view.setUint32(at, limit.resource, true);
    view.setBigUint64(at + 8, limit.soft, true);
    view.setBigUint64(at + 16, limit.hard, true);
  });
  return bytes;
}

export function decodeContextPayload(payload: Uint8Array): ProcessContext {
  if (payload.length < FIXED_BYTES || payload.length > MAX_CONTEXT_BYTES || (payload.length - FIXED_BYTES) % LIMIT_BYTES !== 0) {
    throw new ProtocolError(`CONTEXT payload of ${payload.length} bytes is malformed`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const flags = view.getUint32(0, true);
  if ((flags & ~FLAGS_KNOWN) !== 0) throw new ProtocolError(`CONTEXT has unknown flags 0x${flags.toString(16)}`);
  const umask = view.getUint32(4, true);
  if (umask > 0o777) throw new ProtocolError(`CONTEXT umask ${umask.toString(8)} is not a mode`);
  const closed = view.getUint32(24, true);
  if (closed > 7) throw new ProtocolError(`CONTEXT closed-fd bits 0x${closed.toString(16)} name fds above 2`);
  const count = view.getUint32(28, true);
  if (FIXED_BYTES + LIMIT_BYTES * count !== payload.length) throw new ProtocolError(`CONTEXT says ${count} limits but carries ${(payload.length - FIXED_BYTES) / LIMIT_BYTES}`);
  const limits: ResourceLimit[] = [];
  const seen = new Set<number>();
  for (let i = 0; i < count; i++) {
    const at = FIXED_BYTES + LIMIT_BYTES * i;
    const resource = view.getUint32(at, true);
    if (resource >= RESOURCE_COUNT || seen.has(resource)) throw new ProtocolError(`CONTEXT limit ${resource} is unknown or given twice`);
    seen.add(resource);
    const soft = view.getBigUint64(at + 8, true);
    const hard = view.getBigUint64(at + 16, true);
    if (soft > hard) throw new ProtocolError(`CONTEXT limit ${resource} has a soft value above its hard one`);
    limits.push({ resource, soft, hard });
  }
  return {
    listenPid: (flags & CONTEXT_LISTEN_PID) !== 0,
    umask,
    blocked: view.getBigUint64(8, true),
    ignored: view.getBigUint64(16, true),
    closed,
    limits,
  };
}
