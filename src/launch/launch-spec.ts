// What the spawner tells a helper process of its own (the exec step, the
// sandbox init, the terminal leader; see docs/launch.md): the program to run
// and everything about the process it must become. Internal, never on the
// wire: JSON, with byte strings in base64, passed in a memfd.
import type { ResourceLimit } from "../protocol/context.ts";
import type { Scheduling } from "../protocol/scheduling.ts";

export interface Credentials {
  uid: number;
  gid: number;
  groups: number[];
}

/** The program and the process attributes it gets, applied right before execve. */
export interface ProgramSpec {
  /** The executable: absolute, or relative to the program's cwd (execvp's PATH rules were applied already). */
  path: Uint8Array;
  argv: Uint8Array[];
  env: Uint8Array[];
  /** Directory to start in (path, in the program's view), or null to keep the current one. */
  cwd: Uint8Array | null;
  /** An fd (in the helper) on the same directory, used when `cwd` cannot be entered. */
  cwdFd: number | null;
  umask: number;
  /** Signals blocked in the program. */
  blocked: bigint;
  /** Signals ignored in the program; every other one gets its default action. */
  ignored: bigint;
  /** Every resource limit the program gets, soft and hard. */
  limits: ResourceLimit[];
  /** Set LISTEN_PID to the program's own pid. */
  listenPid: boolean;
  /** How the program is scheduled (nice, CPUs, ...), as its caller is; null: as this helper is. */
  scheduling?: Scheduling | null;
  /** Become this user before exec (a sandboxed program runs as its client). */
  credentials: Credentials | null;
  /** Drop every capability and set no_new_privs. */
  unprivileged: boolean;
  /** The fds the program keeps (their close-on-exec flag is cleared); every other fd of the helper is closed. */
  keepFds: number[];
  /** fds 0-2 that must be closed in the program (its client had them closed). */
  closeFds: number[];
  /** Look the program up in PATH at exec time (in a sandbox, only the sandbox's view can say). */
  searchPath?: boolean;
  /**
   * Execute the file this fd refers to rather than `path` (a sandbox's fixed
   * PROGRAM: its bind at `path` sits in a directory the client may have
   * granted, where a rename by the client would unmount it).
   */
  execFd?: number | null;
  /** Wait for one byte on this fd before becoming the program (the sandbox's root is being finished). */
  waitFd?: number | null;
}

type EncodedScheduling = Omit<Scheduling, "affinity"> & { affinity: string };
type Encoded<T> = { [K in keyof T]: T[K] extends Uint8Array ? string : T[K] extends Uint8Array | null ? string | null : T[K] extends Uint8Array[] ? string[] : T[K] extends bigint ? string : T[K] extends ResourceLimit[] ? Array<{ resource: number; soft: string; hard: string }> : T[K] extends Scheduling | null | undefined ? EncodedScheduling | null | undefined : T[K] };

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64"));

export function encodeProgramSpec(spec: ProgramSpec): Encoded<ProgramSpec> {
  const { scheduling, ...rest } = spec;
  return {
    ...rest,
    path: b64(spec.path),
    argv: spec.argv.map(b64),
    env: spec.env.map(b64),
    cwd: spec.cwd ? b64(spec.cwd) : null,
    blocked: spec.blocked.toString(),
    ignored: spec.ignored.toString(),
    limits: spec.limits.map((l) => ({ resource: l.resource, soft: l.soft.toString(), hard: l.hard.toString() })),
    ...(scheduling === undefined ? {} : { scheduling: scheduling && { ...scheduling, affinity: b64(scheduling.affinity) } }),
  };
}

export function decodeProgramSpec(value: Encoded<ProgramSpec>): ProgramSpec {
  const { scheduling, ...rest } = value;
  return {
    ...rest,
    path: unb64(value.path),
    argv: value.argv.map(unb64),
    env: value.env.map(unb64),
    cwd: value.cwd === null ? null : unb64(value.cwd),
    blocked: BigInt(value.blocked),
    ignored: BigInt(value.ignored),
    limits: value.limits.map((l) => ({ resource: l.resource, soft: BigInt(l.soft), hard: BigInt(l.hard) })),
    ...(scheduling === undefined ? {} : { scheduling: scheduling && { ...scheduling, affinity: unb64(scheduling.affinity) } }),
  };
}

export type EncodedProgramSpec = Encoded<ProgramSpec>;
