// portal-exec: forward this process's argv, env, cwd and fds to a spawner
// and end the way the program ended. Exit codes (README "Exit codes"):
// the program's own 0-255, death by the same signal, 127 not found,
// 126 not executable, 125 the portal failed.
import { defaultSocketPath } from "../protocol/socket-name.ts";
import { OwnedFd } from "../libc/owned-fd.ts";
import { accessReal, duplicateTo, openFile } from "../libc/file.ts";
import { getAllLimits, getPid, RLIMIT_NOFILE, sendSignal } from "../libc/process.ts";
import { currentAction, restoreAction, setDisposition } from "../libc/signal.ts";
import { hasSignal } from "../libc/sigset.ts";
import { asAJobFindsIt, isTerminal, terminalAttributes } from "../libc/tty.ts";
import { F_OK, O_RDWR } from "../libc/constants.ts";
import { start, type ExecResult, type PtyOption } from "../client/exec.ts";
import { PortalError } from "../client/errors.ts";
import { isControlVariable } from "../client/request-input.ts";
import { callerContext, ignoredSignals, INHERITED_VARIABLE, inheritedFromParent, parseInherited, procText } from "../client/caller-context.ts";
import { absoluteGrantPath } from "../client/grants.ts";
import { SIGNALS, isFatalByDefault } from "../process/signals.ts";
import { exitCodeForSpawnFailure } from "../protocol/outcome.ts";
import { dieBySignal, exitWith } from "./exit-like.ts";
import { isOpen, scanFds } from "./forwarded-fds.ts";
import { argumentBytes, environmentBytes } from "./process-bytes.ts";
import { isPipeOrSocket, isRegularFile } from "./file-kind.ts";
import { parseExecArgs, parseProtocol, UsageError, type ExecCliOptions } from "./exec-options.ts";
import type { TerminalRelay } from "./terminal-relay.ts";

export const PORTAL_FAILED = 125;

/** How long a client whose spawner died relays the program's last words (its watchdog's grace is 1 s by default). */
const PTY_CLOSE_WAIT_MS = 5000;

/**
 * Signals relayed to the program's process group while it runs: every one a
 * caller may send that the runtime lets us catch (not SIGPWR or SIGSYS,
 * which it uses itself; not SIGSTKFLT or the real-time ones, which it
 * cannot name).
 */
const FORWARDED = [
  "SIGHUP", "SIGINT", "SIGQUIT", "SIGTERM", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGCONT", "SIGALRM", "SIGVTALRM", "SIGPROF", "SIGURG", "SIGIO", "SIGXCPU",
] as const;

/** The program's terminal, when it has one (see terminal-relay.ts): put back before any way out. */
let relay: TerminalRelay | null = null;

function fail(message: string, code = PORTAL_FAILED): never {
  relay?.close();
  process.stderr.write(`portal-exec: ${message}\n`);
  exitWith(code);
}

export async function runExecCommand(args: Uint8Array[] = argumentBytes()): Promise<never> {
  // First, before this client changes any of it (its signal handlers): what
  // a program it ran itself would inherit.
  // Before this client changes any of it (its signal handlers): the signals as
  // they are, read once (the fd table's size below comes from the same read).
  const launcher = process.env[INHERITED_VARIABLE];
  const fromLauncher = parseInherited(launcher);
  const status = procText("/proc/self/status");
  const ignored = ignoredSignals(status, fromLauncher);
  // The runtime set SIGINT back to its default with a terminal on stdin: ignored by the caller, it stays so here too.
  if (hasSignal(ignored, SIGNALS.SIGINT)) setDisposition(SIGNALS.SIGINT, "ignore");
  // The rest of what a direct run would inherit is gathered once HELLO is out (it overlaps the spawner's answer).
  const context = () => {
    const limits = getAllLimits();
    const inherited = launcher === undefined ? inheritedFromParent(limits[RLIMIT_NOFILE]) : fromLauncher;
    return callerContext({ inherited, detectClosedStd: true, limits, status });
  };
  let options: ExecCliOptions;
  try {
    options = parseExecArgs(args);
    if (options.help || options.version) {
      const { showExecHelp, showExecVersion } = await import("./exec-help.ts");
      await (options.help ? showExecHelp() : showExecVersion());
      process.exit(0);
    }
    if (options.protocol === undefined && process.env.PORTAL_PROTOCOL) {
      options.protocol = parseProtocol(process.env.PORTAL_PROTOCOL, "PORTAL_PROTOCOL");
    }
  } catch (error) {
    if (error instanceof UsageError) fail(`${error.message}\nTry 'portal-exec --help'.`);
    throw error;
  }
  const grants = cliGrants(options);
  // pola-run's "a": a granted path can also become an argument, as the program will see it.
  const command = [...args.slice(options.commandIndex), ...grants.filter((g) => g.appendArg).map((g) => g.dest)];
  const fds = new Map<number, number>();
  const scan = scanFds(status);
  for (const { source, target } of options.fds.length > 0 ? options.fds : scan.inherited.map((fd) => ({ source: fd, target: fd }))) {
    if (!isOpen(source)) fail(`--fd ${source}: fd ${source} is not open`);
    if (fds.has(target)) fail(`--fd: target fd ${target} is given twice`);
    fds.set(target, source);
  }
  const socket = options.socket ?? defaultSocketPath();
  const oneShot = options.oneShot || Boolean(process.env.PORTAL_ONE_SHOT);
  // The terminal code loads only for a terminal (a client without one starts ~1 ms sooner).
  const terminal = options.pty === false || (options.pty === undefined && !isTerminal(fds.get(0) ?? -1)) ? null : chooseTerminal(options.pty, fds, await import("./terminal-relay.ts"));
  let pty: PtyOption | null = null;
  if (terminal) {
    const { TerminalRelay } = await import("./terminal-relay.ts");
    const { termiosToWire } = await import("../process/termios-wire.ts");
    relay = new TerminalRelay(terminal.input, terminal.output, terminal.terminal);
    // The caller's settings (erase character, UTF-8 input, tostop, ...). In the background the terminal is
    // in the shell's own editing mode (readline's -icanon -echo), not the one a job finds: that part is undone.
    const foreground = relay.inForeground();
    const found = terminal.terminal === null ? null : terminalAttributes(terminal.terminal);
    const attributes = found && !foreground ? asAJobFindsIt(found) : found;
    pty = { ...relay.size(), fds: terminal.fds, termios: attributes ? termiosToWire(attributes) : null, background: !foreground };
    // The fds that get the pty are not forwarded: the relay reads and writes them here.
    for (const target of [0, 1, 2]) if (terminal.fds & (1 << target)) fds.delete(target);
    process.on("exit", () => relay?.restore());
  }

  const remote = start({
    socket,
    args: command,
    env: () => buildEnv(options),
    cwd: options.cwd,
    fds,
    grants,
    context,
    protocol: options.protocol,
    waitForSocket: oneShot ? false : options.timeoutSeconds !== undefined ? options.timeoutSeconds * 1000 : true,
    onWaiting: () => process.stderr.write(`portal-exec: waiting for spawner at '${socket}'...\n`),
    handshakeTimeoutMs: options.handshakeSeconds !== undefined ? options.handshakeSeconds * 1000 : undefined,
    // This process has nothing else to do meanwhile: no poll thread.
    waitInThread: true,
    eventLoopFd: scan.eventLoop,
    onStarted: () => letGoOf(fds),
    onStopped: (signal) => stopLike(signal),
    pty,
    pump: relay ?? undefined,
  });
  if (relay) {
    const ours = relay;
    void remote.pty.then((master) => master && ours.attach(master));
  }
  relaySignals(remote, ignored);
  return endLikeProgram(remote, fail);
}

/** Waits for the program and ends this process the same way (or with 125 and a message when the portal failed). */
export async function endLikeProgram(remote: ReturnType<typeof start>, fail: (message: string, code?: number) => never): Promise<never> {
  let result: ExecResult;
  try {
    result = await remote.result;
  } catch (error) {
    // The spawner is gone, its watchdog ends the program: what the program says as it goes (vi leaving its
    // alternate screen) still comes through the pty, until its other side closes.
    if (error instanceof PortalError && error.failure === "gone") relay?.drainUntilClosed(PTY_CLOSE_WAIT_MS);
    if (error instanceof PortalError) fail(error.message);
    fail(`internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  // What the program wrote last is still in the pty: out with it, then the caller's terminal as it was.
  relay?.drain();
  relay?.close();
  switch (result.outcome.kind) {
    case "exited":
      exitWith(result.outcome.code);
    case "signaled":
      dieBySignal(result.outcome.signal);
    case "spawn-failed":
      fail(result.outcome.message, exitCodeForSpawnFailure(result.outcome));
  }
}

/** pola-run's -B: the installation, read-only (/lib64 too: the x86-64 loader lives there). */
const STANDARD_ENDOWMENT = ["/usr", "/bin", "/lib", "/lib64"];

function cliGrants(options: ExecCliOptions): Array<{ path: Uint8Array; dest: Uint8Array; writable: boolean; appendArg: boolean }> {
  const std = options.grantStd ? STANDARD_ENDOWMENT.filter(pathExists).map((p) => ({ path: encoder.encode(p), writable: false, appendArg: false })) : [];
  return [...std, ...options.grants].map((g) => ({ ...g, dest: "dest" in g && g.dest ? g.dest : absoluteGrantPath(g.path) }));
}

const encoder = new TextEncoder();

/** existsSync without node:fs, which costs every portal-exec start ~3 ms (docs/performance.md). */
function pathExists(path: string): boolean {
  return accessReal(path, F_OK) === 0;
}

function buildEnv(options: ExecCliOptions): Uint8Array[] {
  const decoder = new TextDecoder();
  const nameOf = (entry: Uint8Array) => {
    const eq = entry.indexOf(0x3d);
    return decoder.decode(eq < 0 ? entry : entry.subarray(0, eq));
  };
  let env = options.clearEnv ? [] : environmentBytes().filter((entry) => !isControlVariable(entry));
  const replaced = new Set([...options.setEnv.map(nameOf), ...options.unsetEnv]);
  // Decoding every name costs a fresh client time; skip it when nothing is replaced.
  if (replaced.size > 0) env = env.filter((entry) => !replaced.has(nameOf(entry)));
  return [...env, ...options.setEnv];
}

/**
 * While the program runs, the signals above go to its process group. Before
 * that (still connecting), a terminating signal ends this client as usual, so
 * the spawner sees the hang-up and never starts anything. A signal that was
 * ignored when the client started (nohup, `cmd &` in a script) is neither
 * relayed nor caught: it stays ignored here and in the program.
 */
export function relaySignals(remote: ReturnType<typeof start>, ignored: bigint): void {
  const continueProgram = () => {
    programStopped = false;
    if (!relay?.active) return void remote.kill(SIGNALS.SIGCONT);
    // fg: the terminal is ours again (raw, its current size), and the program gets its pty's foreground;
    // bg: the program runs on without it.
    relay.resume();
    remote.kill(SIGNALS.SIGCONT, { background: !relay.inForeground() });
  };
  for (const name of FORWARDED) {
    if (hasSignal(ignored, SIGNALS[name])) continue;
    process.on(name, () => {
      // A resize reaches the program from its pty; a SIGWINCH sent with kill (same size) is relayed as it is.
      if (relay?.active && name === "SIGWINCH" && relay.resize()) return;
      if (name === "SIGCONT") {
        // `kill %job` sends a signal, then SIGCONT, and the stopped program must have the signal before it
        // runs again (else it runs on, maybe into another stop, with the signal pending): what else came
        // with this SIGCONT is relayed first.
        if (programStopped) setTimeout(() => programStopped && continueProgram(), CONTINUE_AFTER_MS);
        else continueProgram();
        return;
      }
      if (remote.kill(SIGNALS[name])) {
        // We run, so our job was continued: the program gets its SIGCONT after this signal, as directly.
        if (programStopped && isFatalByDefault(SIGNALS[name])) continueProgram();
        return;
      }
      if (!remote.running && isFatalByDefault(SIGNALS[name])) {
        relay?.close();
        dieBySignal(SIGNALS[name]);
      }
    });
  }
  // Ctrl-Z: the program stops (SIGSTOP: its process group is orphaned, so
  // the kernel would discard a SIGTSTP there), then this client stops with
  // SIGTSTP, so the shell reports the job stopped (148) as for a direct run.
  // `fg` continues the client; its SIGCONT goes on to the program.
  if (!hasSignal(ignored, SIGNALS.SIGTSTP)) {
    process.on("SIGTSTP", () => {
      // With a terminal the program's group is not orphaned: it stops by SIGTSTP itself, and its STOPPED stops us.
      if (relay?.active) {
        remote.kill(SIGNALS.SIGTSTP);
        return;
      }
      remote.kill(SIGNALS.SIGSTOP);
      stopLike(SIGNALS.SIGTSTP);
    });
  }
}

/** The program stopped with this client (Ctrl-Z, or a stop of its own) and has not been continued since. */
let programStopped = false;
/** How long a SIGCONT waits for the signals sent with it (see relaySignals). */
const CONTINUE_AFTER_MS = 5;

/** Stops this process by `signal` with its default action, and takes back our handler once continued. */
export function stopLike(signal: number): void {
  programStopped = true;
  // The shell takes its terminal back as it was.
  relay?.restore();
  const saved = currentAction(signal);
  setDisposition(signal, "default");
  sendSignal(getPid(), signal);
  // Here again after SIGCONT.
  if (saved) restoreAction(saved);
}

/**
 * Once the program runs it holds its own copies of the forwarded fds: ours
 * would keep a pipe's reader from seeing end-of-file, and a writer from
 * getting SIGPIPE, until the client exits. So the client lets go: fds 0 and
 * 1 are pointed at /dev/null (their numbers stay taken, so nothing the
 * runtime opens later lands there), others are closed. fd 2 stays where it
 * carries the client's own messages to a terminal or a file.
 */
export function letGoOf(fds: ReadonlyMap<number, number>): void {
  const sources = new Set(fds.values());
  let devNull: OwnedFd | null = null;
  for (const fd of sources) {
    if (fd === 2 && (isTerminal(2) || isRegularFile(2))) continue;
    if (fd <= 2) {
      devNull ??= openFile("/dev/null", O_RDWR);
      duplicateTo(devNull.fd, fd, false);
    } else {
      new OwnedFd(fd).close();
    }
  }
  devNull?.close();
}
/**
 * Whether the program gets a terminal, and which. By default when its stdin
 * is the caller's terminal; then exactly those of its fds 0-2 that are that
 * terminal get the pty (`portal-exec ls > file` still writes the file
 * through the real fd). Except in a pipeline (its stdout a pipe or a socket:
 * `portal-exec cmd | less`): there the program gets the caller's fds as they
 * are, as a direct run would, since a relay would read keys meant for the
 * pager and take the terminal from the pipeline (docs/terminal.md). --pty
 * gives one anyway (on those fds, or on all three with no terminal at all,
 * fed from this client's stdin and read to its stdout, as ssh -tt does).
 */
function chooseTerminal(
  choice: boolean | undefined, fds: ReadonlyMap<number, number>, { sameTerminal }: typeof import("./terminal-relay.ts"),
): { fds: number; input: number; output: number; terminal: number | null } | null {
  if (choice === false) return null;
  const stdin = fds.get(0);
  if (stdin !== undefined && isTerminal(stdin)) {
    let bits = 1;
    for (const target of [1, 2]) {
      const source = fds.get(target);
      if (source !== undefined && sameTerminal(source, stdin)) bits |= 1 << target;
    }
    const stdout = fds.get(1);
    if (choice !== true && stdout !== undefined && (bits & 2) === 0 && isPipeOrSocket(stdout)) return null;
    const output = fds.get(bits & 2 ? 1 : bits & 4 ? 2 : 0)!;
    return { fds: bits, input: stdin, output, terminal: stdin };
  }
  if (choice !== true) return null;
  return { fds: 7, input: 0, output: 1, terminal: null };
}
