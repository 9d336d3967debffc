// Starting a request's program so that it gets exactly its caller's
// context, the cheapest way that is still exact (docs/launch.md):
//   direct  posix_spawn from the spawner: the fds, cwd, umask (around the
//           spawn), signal defaults and mask are all it can set;
//   step    a helper process that applies the rest (resource limits,
//           signals to ignore, LISTEN_PID) and then becomes the program;
//   supervised  a helper that stays: the sandbox's init, or the leader of a
//           terminal session (supervisor.ts).
import { closeAll, FdScope, type OwnedFd } from "../libc/owned-fd.ts";
import { duplicate, memFd, pipe, readWholeFile, writeAll } from "../libc/file.ts";
import { unixSocketPair } from "../libc/socket.ts";
import { getAllLimits, RESOURCES, UNLIMITED, type Limit } from "../libc/process.ts";
import { currentScheduling } from "../libc/scheduling.ts";
import { currentAction } from "../libc/signal.ts";
import { ALL_SIGNALS, signalBit } from "../libc/sigset.ts";
import { strerror } from "../libc/system-error.ts";
import { O_NONBLOCK, SOCK_SEQPACKET } from "../libc/constants.ts";
import { RecordReader } from "../fdpass/record-reader.ts";
import { sendRecord } from "../fdpass/seqpacket.ts";
import type { ProcessContext } from "../protocol/context.ts";
import { fromWaitStatus, type Outcome, type SpawnStage } from "../protocol/outcome.ts";
import type { PtyRequest } from "../protocol/pty.ts";
import { ChildProcess } from "../process/child.ts";
import { signalName, SIGNALS } from "../process/signals.ts";
import { highestFdNeeded, spawnProcess, SpawnError } from "../process/spawn.ts";
import { encodeProgramSpec, type ProgramSpec } from "./launch-spec.ts";
import { helperCommand, helperEnvironment } from "./self-command.ts";
import { StepReportReader } from "./step-report.ts";
import { planLaunch, type LaunchPlan } from "./launch-plan.ts";
import type { SupervisorCommand, SupervisorEvent, SupervisorSpec } from "./supervisor.ts";

/** What to run, as the spawner resolved it. */
export interface ProgramToRun {
  path: Uint8Array;
  argv: Uint8Array[];
  env: Uint8Array[];
  cwd: Uint8Array | null;
  cwdFd: OwnedFd | null;
  /** target -> fd; the caller keeps ownership (closes them once the program has its copies). */
  fds: ReadonlyMap<number, OwnedFd>;
  /** The caller's context; null for clients that send none (protocol v1): the spawner's own applies. */
  context: ProcessContext | null;
}

/** A running (or failed) program, owned: whoever launched it must await `exited`. */
export interface LaunchedProgram {
  /** Resolves once the program runs, with its pid; or with the outcome if it never ran. */
  readonly started: Promise<{ pid: number } | { outcome: Outcome }>;
  readonly exited: Promise<Outcome>;
  /** `background`: a SIGCONT that continues a terminal program without its terminal's foreground. */
  signal(signal: number, group: boolean, background?: boolean): void;
  /** SIGTERM and SIGCONT to the program's group now, SIGKILL after `graceMs`. */
  terminate(graceMs: number): void;
}

export interface LaunchHooks {
  /** Called with the process (group) ids the watchdog must end if the spawner dies, as they become known. */
  onGroup(pgid: number): void;
  onGroupGone(pgid: number): void;
  /** Warnings for the spawner's log (a limit it could not raise). */
  warn(message: string): void;
  /** Details for the spawner's debug log (why the exec step was needed). */
  debug?(message: string): void;
}

/** How to start `program`: through the exec step (and why), or directly (see launch-plan.ts). */
export function launchPlan(program: Pick<ProgramToRun, "context" | "fds">): LaunchPlan {
  const { context } = program;
  if (!context) return { step: null, nofileSoft: null };
  return planLaunch(context, { limits: ownLimits(), ignored: ownIgnored(), scheduling: currentScheduling }, Math.max(2, ...program.fds.keys()));
}

/** Launches `program` directly or through the exec step, as its context needs. */
export function launch(program: ProgramToRun, hooks: LaunchHooks): LaunchedProgram {
  const context = program.context;
  for (const warning of limitWarnings(context)) hooks.warn(warning);
  const plan = launchPlan(program);
  // A lowered open-file limit must still leave room for the fds while they are put in place.
  const fits = plan.step === null && (plan.nofileSoft === null || BigInt(highestFdNeeded({ fds: program.fds })) < plan.nofileSoft);
  if (plan.step === null && fits) return launchDirect(program, plan.nofileSoft, hooks);
  hooks.debug?.(`through the exec step, for ${plan.step ?? "RLIMIT_NOFILE (the fds need numbers above it while they are placed)"}`);
  return launchStep(program, hooks);
}

function launchDirect(program: ProgramToRun, nofileSoft: bigint | null, hooks: LaunchHooks): LaunchedProgram {
  const context = program.context;
  const { pid } = spawnProcess({
    path: program.path,
    argv: program.argv,
    env: program.env,
    cwd: program.cwd,
    cwdFd: program.cwdFd,
    fds: program.fds,
    closed: closedStd(context),
    // What the caller ignores and the spawner ignores too stays ignored; everything else gets its default.
    defaultSignals: context ? ALL_SIGNALS & ~(context.ignored & ownIgnored()) : ALL_SIGNALS,
    signalMask: context?.blocked ?? 0n,
    umask: context?.umask,
    nofileSoft,
    shellFallback: true,
  });
  const child = supervise(pid, hooks);
  return {
    started: Promise.resolve({ pid }),
    exited: child.exited,
    signal: (signal, group) => child.signal(signal, group),
    terminate: (graceMs) => child.terminateGroup(graceMs),
  };
}

/**
 * The exec step: a helper gets the program's fds at their numbers, the
 * program spec in a memfd and a pipe it writes to only if exec fails (the
 * pipe is close-on-exec, so end-of-file means the program runs).
 */
function launchStep(program: ProgramToRun, hooks: LaunchHooks): LaunchedProgram {
  using scope = new FdScope();
  const context = program.context!;
  const [reportRead, reportWrite] = scope.adopt(pipe(O_NONBLOCK));
  const specFd = scope.adopt(memFd("portal-launch-spec"));
  const targets = [...program.fds.keys()];
  const extras = [specFd, reportWrite, ...(program.cwdFd ? [program.cwdFd] : [])];
  const highest = Math.max(2, ...targets);
  const spec: ProgramSpec = {
    path: program.path,
    argv: program.argv,
    env: program.env,
    cwd: program.cwd,
    cwdFd: program.cwdFd ? highest + 3 : null,
    umask: context.umask,
    blocked: context.blocked,
    ignored: context.ignored,
    limits: context.limits,
    listenPid: context.listenPid,
    scheduling: context.scheduling ?? null,
    credentials: null,
    unprivileged: false,
    keepFds: targets,
    closeFds: closedStd(context),
  };
  writeAll(specFd.fd, new TextEncoder().encode(JSON.stringify(encodeProgramSpec(spec))));
  const command = helperCommand("step");
  const enc = new TextEncoder();
  const { pid } = spawnProcess({
    path: enc.encode(command[0]!),
    argv: [...command, String(highest + 1), String(highest + 2)].map((a) => enc.encode(a)),
    env: helperEnvironment(),
    cwd: null,
    fds: program.fds,
    closed: closedStd(context),
    extraFds: extras,
    defaultSignals: ALL_SIGNALS,
    signalMask: 0n,
  });
  scope.close(reportWrite);
  const child = supervise(pid, hooks);
  const report = scope.release(reportRead);
  const started = readStepReport(report, program.path).finally(() => report.close());
  const exited = Promise.all([started, child.exited]).then(([start, outcome]) => ("outcome" in start ? start.outcome : outcome));
  return {
    started: started.then((start) => ("outcome" in start ? start : { pid })),
    exited,
    signal: (signal, group) => child.signal(signal, group),
    terminate: (graceMs) => child.terminateGroup(graceMs),
  };
}

/** End of file: the program runs. A JSON failure: it never did. */
async function readStepReport(report: OwnedFd, path: Uint8Array): Promise<{ ok: true } | { outcome: Outcome }> {
  const failure = await new StepReportReader(report).result();
  return failure ? { outcome: spawnFailed(failure.stage, failure.errno, "", path) } : { ok: true };
}

/** The outcome of a program that never ran; `message` when the launcher had a better one than errno's. */
function spawnFailed(stage: SpawnStage, errno: number, message: string, path: Uint8Array): Outcome {
  const shown = new TextDecoder().decode(path);
  const text = message || (stage === "exec" ? `cannot run '${shown}': ${strerror(errno)}` : `cannot start '${shown}' (${stage}): ${strerror(errno)}`);
  return { kind: "spawn-failed", stage, errno, message: text };
}

function supervise(pid: number, hooks: LaunchHooks): ChildProcess {
  const child = ChildProcess.adopt(pid);
  hooks.onGroup(pid);
  void child.exited.finally(() => hooks.onGroupGone(pid)).catch(() => {});
  return child;
}

function closedStd(context: ProcessContext | null): number[] {
  if (!context) return [];
  return [0, 1, 2].filter((fd) => (context.closed & (1 << fd)) !== 0);
}

let ownLimitsCache: Limit[] | null = null;
/** The spawner's own limits: what a directly spawned program inherits. */
function ownLimits(): Limit[] {
  return (ownLimitsCache ??= getAllLimits());
}

let ownIgnoredCache: bigint | null = null;
/** Signals the spawner ignores (SIGPIPE and SIGXFSZ: the runtime ignores them). */
function ownIgnored(): bigint {
  if (ownIgnoredCache === null) {
    let set = 0n;
    for (let signal = 1; signal <= 64; signal++) if (currentAction(signal)?.disposition === "ignore") set |= signalBit(signal);
    ownIgnoredCache = set;
  }
  return ownIgnoredCache;
}

/** Hard limits above the spawner's own, which only a privileged spawner may raise. */
function limitWarnings(context: ProcessContext | null): string[] {
  if (!context || process.getuid?.() === 0) return [];
  const own = ownLimits();
  return context.limits.flatMap((limit) => {
    const mine = own[limit.resource];
    if (!mine || limit.hard <= mine.hard) return [];
    const name = `RLIMIT_${RESOURCES[limit.resource]?.toUpperCase()}`;
    const show = (v: bigint) => (v === UNLIMITED ? "unlimited" : String(v));
    return [`cannot raise the program's ${name} hard limit to ${show(limit.hard)} (the spawner's is ${show(mine.hard)}); it runs with ${show(mine.hard)}`];
  });
}

export { SpawnError };

/** What a supervised launch adds: a sandbox (grants to bind, the user to become) and/or a terminal. */
export interface Supervision {
  sandbox: {
    binds: Array<{ fd: OwnedFd; dest: Uint8Array; kind: "ro" | "rw" | "symlink" }>;
    /** A pidfd of the client, or its mount namespace: where grants from another namespace are copied. */
    clientNamespace: OwnedFd | null;
    credentials: { uid: number; gid: number; groups: number[] };
    /** Look the program up in the sandbox's PATH (no fixed PROGRAM). */
    searchPath: boolean;
    /** The fixed PROGRAM (an executable, not a script), executed through this fd rather than by path. */
    program: OwnedFd | null;
  } | null;
  pty: PtyRequest | null;
}

/** What the supervisor reports that the request's client must hear. */
export interface SupervisionReplies {
  ptyMaster(master: OwnedFd): void;
  stopped(signal: number): void;
}

/**
 * A supervised launch: a helper (supervisor.ts) that is the sandbox's init
 * (started in a new pid namespace: pid 1 there) and/or the terminal
 * session's leader, and the program's parent. It speaks over a control
 * socket; the spawner holds the other end.
 */
export function launchSupervised(program: ProgramToRun, supervision: Supervision, hooks: LaunchHooks, replies: SupervisionReplies): LaunchedProgram {
  using scope = new FdScope();
  const context = program.context;
  const [control, theirs] = scope.adopt(unixSocketPair(SOCK_SEQPACKET));
  const specFd = scope.adopt(memFd("portal-supervisor-spec"));
  const terminalFds = supervision.pty?.fds ?? 0;
  const programFds = [...program.fds].filter(([target]) => target > 2 || (terminalFds & (1 << target)) === 0);
  const binds = supervision.sandbox?.binds ?? [];
  const clientNamespace = supervision.sandbox?.clientNamespace ?? null;
  const programFile = supervision.sandbox?.program ?? null;
  const extras = [
    specFd, theirs, ...programFds.map(([, fd]) => fd), ...binds.map((b) => b.fd), ...(program.cwdFd ? [program.cwdFd] : []),
    ...(clientNamespace ? [clientNamespace] : []), ...(programFile ? [programFile] : []),
  ];
  // The supervisor's own 0-2 are /dev/null: each extra lands at 3 + its index.
  const at = (i: number) => 3 + i;
  const firstProgramFd = 2;
  const firstBind = firstProgramFd + programFds.length;
  const cwdIndex = firstBind + binds.length;
  const namespaceIndex = cwdIndex + (program.cwdFd ? 1 : 0);
  const programFileIndex = namespaceIndex + (clientNamespace ? 1 : 0);
  const programSpec: ProgramSpec = {
    path: program.path, argv: program.argv, env: program.env, cwd: program.cwd,
    cwdFd: program.cwdFd ? at(cwdIndex) : null,
    umask: context?.umask ?? currentUmask(),
    blocked: context?.blocked ?? 0n,
    ignored: context?.ignored ?? 0n,
    limits: context?.limits ?? ownLimits().map((limit, resource) => ({ resource, ...limit })),
    listenPid: context?.listenPid ?? false,
    scheduling: context?.scheduling ?? null,
    credentials: supervision.sandbox?.credentials ?? null,
    unprivileged: supervision.sandbox !== null,
    keepFds: [],
    closeFds: closedStd(context).filter((fd) => (terminalFds & (1 << fd)) === 0),
    searchPath: supervision.sandbox?.searchPath ?? false,
  };
  const spec: SupervisorSpec = {
    program: encodeProgramSpec(programSpec),
    fds: programFds.map(([target], i) => [target, at(firstProgramFd + i)]),
    step: helperCommand("step"),
    stepEnv: helperEnvironment().map((e) => new TextDecoder().decode(e)),
    sandbox: supervision.sandbox
      ? {
          binds: binds.map((b, i) => ({ fd: at(firstBind + i), dest: Buffer.from(b.dest).toString("base64"), kind: b.kind })),
          clientNamespace: clientNamespace ? at(namespaceIndex) : null,
          program: programFile ? at(programFileIndex) : null,
        }
      : null,
    pty: supervision.pty
      ? { fds: supervision.pty.fds, background: supervision.pty.background ?? false, size: supervision.pty.size, termios: supervision.pty.termios ? Buffer.from(supervision.pty.termios).toString("base64") : null }
      : null,
  };
  writeAll(specFd.fd, new TextEncoder().encode(JSON.stringify(spec)));
  const command = helperCommand("supervise");
  const enc = new TextEncoder();
  const start = () =>
    spawnProcess({
      path: enc.encode(command[0]!),
      argv: [...command, String(at(0)), String(at(1))].map((a) => enc.encode(a)),
      env: helperEnvironment(),
      cwd: null,
      // The supervisor's own messages (a crash) go to the spawner's stderr when debugging helpers.
      fds: process.env.PORTAL_DEBUG_HELPERS ? new Map([[2, stderrFd()]]) : new Map(),
      extraFds: extras,
      defaultSignals: ALL_SIGNALS,
      signalMask: 0n,
      // In a sandbox the supervisor is pid 1 of the program's own pid namespace.
      newPidNamespace: supervision.sandbox !== null,
    });
  const { pid } = start();
  scope.close(theirs);
  const supervisor = supervise(pid, hooks);
  return followSupervisor(scope.release(control), supervisor, hooks, replies, { terminal: supervision.pty !== null, path: program.path });
}

/**
 * The supervisor's reports become the program's: its pid (sent as a pidfd,
 * read back in our own pid namespace), its stops, its exact wait status. If
 * the supervisor itself dies, that is the outcome.
 */
function followSupervisor(
  control: OwnedFd, supervisor: ChildProcess, hooks: LaunchHooks, replies: SupervisionReplies, { terminal, path }: { terminal: boolean; path: Uint8Array },
): LaunchedProgram {
  let resolveStarted!: (value: { pid: number } | { outcome: Outcome }) => void;
  const started = new Promise<{ pid: number } | { outcome: Outcome }>((resolve) => (resolveStarted = resolve));
  let programPid: number | null = null;
  let programStarted = false;
  let failure: Outcome | null = null;
  const send = (command: SupervisorCommand) => {
    try {
      sendRecord(control, new TextEncoder().encode(JSON.stringify(command)));
    } catch {
      // The supervisor is gone; its exit is the outcome.
    }
  };
  const reader = new RecordReader(control);
  const exited = (async (): Promise<Outcome> => {
    try {
      for (;;) {
        // A supervisor that died with our command unread resets the socket (ECONNRESET): that too ends its reports.
        const result = await reader.next(64 * 1024, 4).catch(() => null);
        if (result?.kind !== "record") break;
        let event: SupervisorEvent;
        try {
          event = JSON.parse(new TextDecoder().decode(result.data)) as SupervisorEvent;
        } catch {
          closeAll(result.fds);
          break;
        }
        const [fd] = result.fds;
        switch (event.event) {
          case "pty":
            if (fd) replies.ptyMaster(fd);
            break;
          case "started":
            programStarted = true;
            programPid = fd ? pidOfPidFd(fd) : null;
            if (programPid !== null) hooks.onGroup(programPid);
            resolveStarted({ pid: programPid ?? supervisor.pid });
            break;
          case "failed":
            failure = spawnFailed(event.stage, event.errno, event.message, path);
            resolveStarted({ outcome: failure });
            break;
          case "stopped":
            replies.stopped(event.signal);
            break;
          case "exited":
            return fromWaitStatus(event.status);
        }
        closeAll(result.fds);
      }
    } finally {
      reader.cancel();
      control.close();
      if (programPid !== null) hooks.onGroupGone(programPid);
    }
    // No report: the supervisor died (or never got going). After the program started, its own end is
    // the program's (it kills the program's namespace or hangs up its terminal); before, nothing ran.
    const ended = await supervisor.exited;
    if (failure) return failure;
    if (!programStarted) {
      const how = ended.kind === "exited" ? `with status ${ended.code}` : ended.kind === "signaled" ? `by ${signalName(ended.signal)}` : "";
      return { kind: "spawn-failed", stage: "setup", errno: 0, message: `the program's supervisor ended ${how} before the program started` };
    }
    return ended;
  })();
  // (exited never rejects; the catch keeps any future path from crashing the spawner on an unhandled rejection.)
  void exited.then((outcome) => resolveStarted({ outcome })).catch(() => {});
  return {
    started,
    exited,
    signal: (signal, group, background = false) => {
      // With a terminal, SIGCONT also gives the program its terminal back (fg), unless its client is in the background (bg).
      if (terminal && signal === SIGNALS.SIGCONT) send({ command: "resume", foreground: !background });
      else send({ command: "signal", signal, group });
    },
    terminate: (graceMs) => {
      send({ command: "terminate", graceMs });
      // Should the supervisor not act on it, its own group goes (in a sandbox, with its pid namespace).
      supervisor.terminateGroup(graceMs + 1000);
    },
  };
}

/** The pid (in our pid namespace) of the process a pidfd refers to, from /proc/self/fdinfo. */
function pidOfPidFd(fd: OwnedFd): number | null {
  try {
    const info = new TextDecoder().decode(readWholeFile(`/proc/self/fdinfo/${fd.fd}`));
    const pid = /^Pid:\s*(-?\d+)$/m.exec(info)?.[1];
    return pid && Number(pid) > 0 ? Number(pid) : null;
  } finally {
    fd.close();
  }
}

let stderrCopy: OwnedFd | null = null;
function stderrFd(): OwnedFd {
  return (stderrCopy ??= duplicate(2));
}

function currentUmask(): number {
  return process.umask();
}
