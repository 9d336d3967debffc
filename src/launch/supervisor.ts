// A helper that stays for the program's whole life, as its parent: the init
// of a sandbox (pid 1 of the program's pid namespace), and/or the leader of
// the session of a terminal made for the program. It reports to the spawner
// over a control socket: the pty master, the program's pid (as a pidfd),
// stops, and the exact wait status (which a pid 1 or a session leader in
// between would otherwise hide); and it takes signals, "resume" and
// "terminate" from it. docs/launch.md has the whole design.
import { closeAll, FdScope, OwnedFd } from "../libc/owned-fd.ts";
import { memFd, pipe, writeAll } from "../libc/file.ts";
import { openPidFd, trySendSignal, tryWait, getAllLimits } from "../libc/process.ts";
import { SigInfo } from "../libc/siginfo.ts";
import { currentScheduling } from "../libc/scheduling.ts";
import { openPty, setForegroundGroup, setTerminalAttributes, setWindowSize, takeControllingTerminal } from "../libc/tty.ts";
import { unshareNamespaces } from "../libc/namespace.ts";
import { canSetForeground } from "../libc/spawn.ts";
import { ALL_SIGNALS, signalBit } from "../libc/sigset.ts";
import { currentAction, setDisposition } from "../libc/signal.ts";
import {
  CLD_CONTINUED, CLD_DUMPED, CLD_EXITED, CLD_KILLED, CLD_STOPPED, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNS, CLONE_NEWUTS, O_NONBLOCK,
  P_ALL, P_PID, TCSANOW, WCONTINUED, WEXITED, WNOHANG, WSTOPPED,
} from "../libc/constants.ts";
import { RecordReader } from "../fdpass/record-reader.ts";
import { FdWatcher } from "../fdwatch/fd-watcher.ts";
import { sendRecord } from "../fdpass/seqpacket.ts";
import { highestFdNeeded, spawnProcess, SpawnError } from "../process/spawn.ts";
import { SIGNALS } from "../process/signals.ts";
import { termiosFromWire } from "../process/termios-wire.ts";
import { decodeProgramSpec, encodeProgramSpec, type EncodedProgramSpec, type ProgramSpec } from "./launch-spec.ts";
import { cloneGrantTrees, SandboxRoot, type SandboxBind } from "./sandbox-root.ts";
import { StepReportReader } from "./step-report.ts";
import { planLaunch } from "./launch-plan.ts";

export interface SupervisorSpec {
  program: EncodedProgramSpec;
  /** target -> fd number in the supervisor, for the program's fds (terminal ones excluded). */
  fds: Array<[number, number]>;
  /** How to start the exec step (argv, from the spawner's view). */
  step: string[];
  stepEnv: string[];
  sandbox: {
    binds: Array<{ fd: number; dest: string; kind: SandboxBind["kind"] }>;
    /** A pidfd of the client (or its mount namespace): grants from another mount namespace are copied there. */
    clientNamespace: number | null;
    /** The fixed PROGRAM, which the exec step executes through this fd (launch-spec.ts, execFd). */
    program: number | null;
  } | null;
  pty: { fds: number; background: boolean; size: { rows: number; cols: number; xpixel: number; ypixel: number }; termios: string | null } | null;
}

/** Messages to the spawner. */
export type SupervisorEvent =
  | { event: "pty" }
  | { event: "started" }
  | { event: "failed"; stage: "exec" | "chdir" | "setup"; errno: number; message: string }
  | { event: "stopped"; signal: number }
  | { event: "exited"; status: number };

/** Messages from the spawner. */
export type SupervisorCommand =
  | { command: "signal"; signal: number; group: boolean }
  | { command: "resume"; foreground: boolean }
  | { command: "terminate"; graceMs: number };

/** Runs the supervisor; `control` is its end of the control socket (the REPORT-FD argument). */
export async function supervise(spec: SupervisorSpec, control: OwnedFd): Promise<void> {
  const tell = (event: SupervisorEvent, fds: number[] = []) => {
    try {
      sendRecord(control, new TextEncoder().encode(JSON.stringify(event)), fds);
    } catch {
      // The spawner is gone: the loop below sees it and ends the program.
    }
  };
  // We hand the terminal's foreground back and forth (fg, bg) from a group that is not always in it:
  // a background tcsetpgrp would stop us with SIGTTOU.
  setDisposition(SIGNALS.SIGTTOU, "ignore");
  const program = decodeProgramSpec(spec.program);
  const owned = spec.fds.map(([, fd]) => new OwnedFd(fd));
  const programFile = spec.sandbox?.program != null ? new OwnedFd(spec.sandbox.program) : null;
  let slave: OwnedFd | null = null;
  let pid: number;
  try {
    let root: SandboxRoot | null = null;
    if (spec.sandbox) {
      // We are pid 1 of a new pid namespace; the rest is ours to make.
      const binds = spec.sandbox.binds.map((b) => ({ ...b, dest: Buffer.from(b.dest, "base64").toString("latin1") }));
      const grants = binds.map((bind) => new OwnedFd(bind.fd));
      try {
        const clientNamespace = spec.sandbox.clientNamespace === null ? null : new OwnedFd(spec.sandbox.clientNamespace);
        const trees = (() => {
          try {
            return cloneGrantTrees(binds, clientNamespace);
          } finally {
            clientNamespace?.close();
          }
        })();
        try {
          unshareNamespaces(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS);
          tryUnshare(CLONE_NEWCGROUP);
          root = new SandboxRoot(spec.step.slice(0, 2));
          // /dev first: a grant under it (pola-run's -fl,objrw /dev/null) joins the sandbox's own devices.
          root.mountSystemDirectories();
          root.bindGrants(binds, trees);
        } finally {
          closeAll(trees.values());
        }
      } finally {
        closeAll(grants);
      }
    }
    let master: OwnedFd | null = null;
    if (spec.pty) {
      ({ master, slave } = openPty(root ? root.ptmx : "/dev/ptmx"));
      if (spec.pty.termios) setTerminalAttributes(slave.fd, termiosFromWire(Buffer.from(spec.pty.termios, "base64")), TCSANOW);
      setWindowSize(slave.fd, spec.pty.size);
      // The session leader (the spawner started us with setsid) takes the terminal.
      takeControllingTerminal(slave.fd);
      tell({ event: "pty" }, [master.fd]);
      master.close();
    }
    const fds = new Map<number, OwnedFd>(spec.fds.map(([target], i) => [target, owned[i]!]));
    if (slave && spec.pty) for (const target of [0, 1, 2]) if (spec.pty.fds & (1 << target)) fds.set(target, slave);
    pid = await startProgram(program, fds, spec, root, slave, programFile);
  } catch (error) {
    const failure = error instanceof SpawnError ? error : null;
    tell({ event: "failed", stage: failure?.stage ?? "setup", errno: failure?.errno ?? 1, message: (error as Error).message });
    return process.exit(1);
  } finally {
    closeAll(owned);
    programFile?.close();
  }
  {
    using pidfd = openPidFd(pid);
    tell({ event: "started" }, [pidfd.fd]);
  }
  await superviseRun(pid, control, slave, tell);
}

/**
 * Starts the program as our child in a process group of its own (the
 * terminal's foreground group, with a pty). Directly when our own process
 * is already what it should inherit; else through the exec step, which in
 * a sandbox starts before the old root goes away and waits for the word.
 */
async function startProgram(
  program: ProgramSpec, fds: Map<number, OwnedFd>, spec: SupervisorSpec, root: SandboxRoot | null, slave: OwnedFd | null, programFile: OwnedFd | null,
): Promise<number> {
  const plan = root || program.credentials || program.unprivileged ? null : planLaunch(program, { limits: getAllLimits(), ignored: ownIgnored(), scheduling: currentScheduling }, Math.max(2, ...fds.keys()));
  if (plan && plan.step === null && (plan.nofileSoft === null || BigInt(highestFdNeeded({ fds })) < plan.nofileSoft)) {
    const { pid } = spawnProcess({
      path: program.path, argv: program.argv, env: program.env, cwd: program.cwd, fds, closed: program.closeFds,
      defaultSignals: ALL_SIGNALS & ~program.ignored, signalMask: program.blocked, umask: program.umask, nofileSoft: plan.nofileSoft,
      detach: slave ? "group" : "session", shellFallback: true, foregroundFd: terminalTarget(spec),
    });
    if (slave && terminalTarget(spec) !== undefined) makeForeground(slave, pid);
    return pid;
  }
  // The step: it gets the program's fds, its spec, a pipe to report on and, in a sandbox, one to wait on.
  using scope = new FdScope();
  const specFd = scope.adopt(memFd("portal-step-spec"));
  const [reportRead, reportWrite] = scope.adopt(pipe(O_NONBLOCK));
  const [goRead, goWrite] = root ? scope.adopt(pipe()) : [null, null];
  const highest = Math.max(2, ...fds.keys());
  // After the program's fds: the spec, the report pipe, then those present of the go pipe and the PROGRAM.
  const extraFds = [specFd, reportWrite, ...(goRead ? [goRead] : []), ...(programFile ? [programFile] : [])];
  const stepSpec: ProgramSpec = {
    ...program,
    keepFds: [...fds.keys()],
    waitFd: goRead ? highest + 3 : null,
    execFd: programFile ? highest + extraFds.length : null,
  };
  writeAll(specFd.fd, new TextEncoder().encode(JSON.stringify(encodeProgramSpec(stepSpec))));
  const encode = (text: string) => new TextEncoder().encode(text);
  const { pid } = spawnProcess({
    path: encode(spec.step[0]!),
    argv: [...spec.step, String(highest + 1), String(highest + 2)].map(encode),
    env: spec.stepEnv.map(encode),
    cwd: null,
    fds,
    closed: program.closeFds,
    extraFds,
    defaultSignals: ALL_SIGNALS,
    signalMask: 0n,
    detach: slave ? "group" : "session",
    foregroundFd: terminalTarget(spec),
  });
  scope.close(reportWrite);
  if (goRead) scope.close(goRead);
  if (slave && terminalTarget(spec) !== undefined) makeForeground(slave, pid);
  const report = new StepReportReader(reportRead);
  if (root && goWrite) {
    // Nothing may be loaded from a file once the old root is gone: the step
    // says when it has all its code, our watcher thread is started now.
    if (await report.waiting()) {
      await FdWatcher.shared().ready;
      root.enter();
      // Go: the step may exec now, in the new root.
      writeAll(goWrite.fd, new Uint8Array([1]));
    }
    scope.close(goWrite);
  }
  const failure = await report.result();
  if (failure) {
    tryWait(P_PID, pid, WEXITED, new SigInfo());
    throw new SpawnError(failure.stage, failure.errno, "");
  }
  return pid;
}

/** The first of fds 0-2 that gets the terminal, where the program's group is made foreground (not for a client in the background). */
function terminalTarget(spec: SupervisorSpec): number | undefined {
  if (!spec.pty || spec.pty.background) return undefined;
  return [0, 1, 2].find((fd) => (spec.pty!.fds & (1 << fd)) !== 0) ?? undefined;
}

/**
 * Where the C library could not do it in the child (before glibc 2.35, musl),
 * the group becomes foreground only now; if the program already tried the
 * terminal and stopped (SIGTTIN/SIGTTOU), it is continued.
 */
function makeForeground(slave: OwnedFd, pid: number): void {
  if (canSetForeground()) return;
  setForegroundGroup(slave.fd, pid);
  trySendSignal(-pid, SIGNALS.SIGCONT);
}

/** The signals we ignore ourselves (a program may keep those ignored without the step). */
function ownIgnored(): bigint {
  let set = 0n;
  for (let signal = 1; signal <= 64; signal++) if (currentAction(signal)?.disposition === "ignore") set |= signalBit(signal);
  return set;
}

/**
 * Until the program ends: its stops and its end go to the spawner (SIGCHLD
 * wakes us; as pid 1 we also reap whatever else ends in the sandbox), the
 * spawner's commands come in on the control socket, and if the spawner goes
 * away the program's group is ended.
 */
async function superviseRun(pid: number, control: OwnedFd, slave: OwnedFd | null, tell: (event: SupervisorEvent) => void): Promise<never> {
  let terminating: ReturnType<typeof setTimeout> | null = null;
  const terminate = (graceMs: number) => {
    if (terminating) return;
    trySendSignal(-pid, SIGNALS.SIGTERM);
    trySendSignal(-pid, SIGNALS.SIGCONT);
    terminating = setTimeout(() => trySendSignal(-pid, SIGNALS.SIGKILL), graceMs);
  };
  const finished = new Promise<number>((resolve) => {
    const reap = () => {
      const info = new SigInfo();
      for (;;) {
        if (tryWait(P_ALL, 0, WEXITED | WSTOPPED | WCONTINUED | WNOHANG, info) < 0 || info.pid === 0) return;
        if (info.pid !== pid) continue;
        if (info.code === CLD_STOPPED) tell({ event: "stopped", signal: info.status });
        else if (info.code === CLD_EXITED) resolve((info.status & 0xff) << 8);
        else if (info.code === CLD_KILLED || info.code === CLD_DUMPED) resolve((info.status & 0x7f) | (info.code === CLD_DUMPED ? 0x80 : 0));
        else if (info.code === CLD_CONTINUED) continue;
      }
    };
    process.on("SIGCHLD", reap);
    reap();
  });
  const reader = new RecordReader(control);
  // Once the program has ended, whatever it left running in its group stays, as after a direct run.
  let ended = false;
  const commands = (async () => {
    for (;;) {
      const result = await reader.next(4096, 0);
      if (result.kind !== "record") return ended ? undefined : terminate(1000);
      const command = JSON.parse(new TextDecoder().decode(result.data)) as SupervisorCommand;
      if (command.command === "signal") trySendSignal(command.group ? -pid : pid, command.signal);
      else if (command.command === "terminate") terminate(command.graceMs);
      else if (command.command === "resume") {
        // fg gives the program its terminal; bg leaves it with us, so a read stops the program (SIGTTIN).
        if (slave) setForegroundGroup(slave.fd, command.foreground ? pid : process.pid);
        trySendSignal(-pid, SIGNALS.SIGCONT);
      }
    }
  })().catch(() => (ended ? undefined : terminate(1000)));
  const status = await finished;
  ended = true;
  // Our exit (we lead the pty's session) and the client's closing of the master hang up the pty's
  // foreground group: take the foreground first, before the client hears of the end, so a job the
  // program left in the background of its terminal is not hung up (nor was it in a direct run).
  if (slave) setForegroundGroup(slave.fd, process.pid);
  tell({ event: "exited", status });
  reader.cancel();
  await commands;
  return process.exit(0);
}

function tryUnshare(flags: number): void {
  try {
    unshareNamespaces(flags);
  } catch {
    // An older kernel without cgroup namespaces: the sandbox just shares the cgroup view.
  }
}

