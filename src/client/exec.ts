// The client as a library: connect, send one request, relay signals, and
// report how the program ended. The CLI (portal-exec) is a thin shell on this.
import { closeAll, type OwnedFd } from "../libc/owned-fd.ts";
import { readLink, tryOpenFile } from "../libc/file.ts";
import { O_DIRECTORY, O_PATH } from "../libc/constants.ts";
import { sendRecord } from "../fdpass/seqpacket.ts";
import { defaultSocketPath } from "../protocol/socket-name.ts";
import type { ProcessContext } from "../protocol/context.ts";
import type { PtyRequest } from "../protocol/pty.ts";
import type { PollPump } from "./poll-pump.ts";
import { encodeSignal } from "../protocol/v2.ts";
import { parseSignal } from "../process/signals.ts";
import { PortalError } from "./errors.ts";
import { connectToSpawner } from "./connect.ts";
import { openGrants, type GrantInput } from "./grants.ts";
import { envEntries, fdMap, isControlVariable, toBytes, type Bytes, type EnvInput, type FdInput } from "./request-input.ts";
import { callerContext } from "./caller-context.ts";
import type { ReplySource } from "./reply-source.ts";
import { WatchedReplies } from "./watched-replies.ts";
import { PolledReplies } from "./polled-replies.ts";
import { runV1 } from "./v1-session.ts";
import { runV2 } from "./v2-session.ts";
import { toResult, type ExecResult } from "./result.ts";

export type { ExecResult };

export interface ExecOptions {
  /** Socket path. Default: env PORTAL_NAME, else ./portal.sock. */
  socket?: string;
  /** Arguments for the spawner (appended to its own PROGRAM, if it has one). */
  args: readonly Bytes[];
  /** Environment for the program (a function: asked once the handshake is under way). Default: this process's, without the client's control variables. */
  env?: EnvInput | (() => EnvInput);
  /** Working directory for the program. Default: this process's. null sends none. */
  cwd?: Bytes | null;
  /** Fds to pass: target -> source (an array passes those numbers as they are). Default: 0, 1, 2. */
  fds?: FdInput;
  /**
   * What else the program inherits: umask, blocked and ignored signals,
   * resource limits, closed stdio, LISTEN_PID. Default: this process's own
   * (as a program it spawned itself would get them). null sends none (the
   * spawner's own apply). A function is asked once the handshake is under
   * way. Needs a spawner that speaks protocol revision 3.
   */
  context?: ProcessContext | null | (() => ProcessContext);
  /**
   * Files and directories to grant a sandboxing spawner (--sandbox): each is
   * opened here, as this caller, and passed as an fd; one this caller cannot
   * open (or read, or write for `writable`) fails before anything is sent.
   */
  grants?: readonly GrantInput[];
  /**
   * A terminal for the program, made by the spawner in its own environment:
   * the program gets it as its controlling terminal on fds 0-2 (those not
   * given in `fds`), and its master side comes back as `RemoteProcess.pty`
   * for the caller to drive. `true` for 80x24, or the size and settings.
   * Needs protocol revision 3.
   */
  pty?: PtyOption | null;
  /** 2 (default) or 1 to talk to the C exec-portal spawner. */
  protocol?: 1 | 2;
  /** Wait for the socket to appear: false (default) fails at once; true waits; a number waits that many ms. */
  waitForSocket?: boolean | number;
  /** Called once if the client has to wait for the socket. */
  onWaiting?: () => void;
  /**
   * Wait for replies in poll(2) on this thread instead of through the event
   * loop: ~0.5-1 ms faster to start, but timers and I/O of this thread wait
   * too (signal handlers still run at once). For a process that only runs
   * this one request, as portal-exec does. Default false.
   */
  waitInThread?: boolean;
  /** How long a v2 spawner may take to answer the handshake, in ms. Default 3000. */
  handshakeTimeoutMs?: number;
  /** Called once the program runs (v2). */
  onStarted?: (pid: number) => void;
  /** Called when the program was stopped (Ctrl-Z in its terminal; revision 3). */
  onStopped?: (signal: number) => void;
  /** Other fds to serve while waiting (with `waitInThread`): portal-exec's terminal relay. */
  pump?: PollPump;
  /**
   * With `waitInThread`: the runtime's own event-loop fd (Bun's epoll fd),
   * waited on too, so that a signal handler (or anything else the runtime
   * has to run) never waits out the time slice of a wait that began just
   * before the signal, or while another thread took it.
   */
  eventLoopFd?: number | null;
}

/** The terminal a program gets (see ExecOptions.pty). */
export type PtyOption =
  | boolean
  | {
      rows?: number;
      cols?: number;
      xpixel?: number;
      ypixel?: number;
      /** Terminal settings in wire form (protocol/pty.ts); default: the pty's own. */
      termios?: Uint8Array | null;
      /** Which of fds 0-2 get it (bit n: fd n); default: those not given in `fds`. */
      fds?: number;
      /** The caller is in the background of its own terminal (PTY_BACKGROUND). */
      background?: boolean;
    };

/** The PTY record for `option`, given the fd targets passed explicitly (those keep their fd). */
export function ptyRequest(option: PtyOption | null | undefined, explicitTargets: ReadonlySet<number> | null): PtyRequest | null {
  if (!option) return null;
  const o = option === true ? {} : option;
  const fds = o.fds ?? [0, 1, 2].reduce((bits, fd) => (explicitTargets?.has(fd) ? bits : bits | (1 << fd)), 0);
  return {
    fds,
    background: o.background ?? false,
    size: { rows: o.rows ?? 24, cols: o.cols ?? 80, xpixel: o.xpixel ?? 0, ypixel: o.ypixel ?? 0 },
    termios: o.termios ?? null,
  };
}

export interface RemoteProcess {
  /** Resolves with the pid once the program started (null for v1 or when it never started). */
  readonly pid: Promise<number | null>;
  readonly result: Promise<ExecResult>;
  /** The master side of the program's terminal (with `pty`), once the spawner sent it; null otherwise. */
  readonly pty: Promise<OwnedFd | null>;
  /** True from the moment the request is complete until the outcome arrives. */
  readonly running: boolean;
  /**
   * Forwards a signal to the program's process group (as a terminal would),
   * or with `{ group: false }` to the program alone (revision 3). With a
   * pty, SIGCONT also gives the program its terminal's foreground, unless
   * `{ background: true }` (the caller continues it as `bg` would). False if
   * it cannot be delivered now.
   */
  kill(signal?: number | string, options?: { group?: boolean; background?: boolean }): boolean;
}

/** Runs a program through the spawner and resolves with how it ended. */
export function exec(options: ExecOptions): Promise<ExecResult> {
  return start(options).result;
}

export function start(options: ExecOptions): RemoteProcess {
  let sock: OwnedFd | null = null;
  let version: number | null = null;
  let resolvePid!: (pid: number | null) => void;
  const pid = new Promise<number | null>((resolve) => (resolvePid = resolve));
  let resolvePty!: (master: OwnedFd | null) => void;
  const pty = new Promise<OwnedFd | null>((resolve) => (resolvePty = resolve));
  const begin = performance.now();
  const protocol = options.protocol ?? 2;

  const result = (async (): Promise<ExecResult> => {
    const grants = openGrants(options.grants ?? []);
    // The cwd's fd, opened once HELLO is out (see runV2); closed here, on every path.
    const opened: { cwdFd: OwnedFd | null } = { cwdFd: null };
    try {
      if (grants.length > 0 && protocol === 1) throw new PortalError("usage", "grants need protocol 2 (the C exec-portal spawner has no sandbox)");
      if (options.pty && protocol === 1) throw new PortalError("usage", "a terminal needs protocol 2");
      const path = options.socket ?? defaultSocketPath();
      sock = await connectToSpawner({ path, wait: options.waitForSocket ?? false, onWaiting: options.onWaiting });
      const replies: ReplySource = options.waitInThread ? new PolledReplies(sock, options.pump ?? null, options.eventLoopFd ?? null) : new WatchedReplies(sock);
      try {
        const args = options.args.map(toBytes);
        const environment = () => {
          const input = typeof options.env === "function" ? options.env() : options.env;
          return envEntries(input ?? (process.env as Record<string, string | undefined>)).filter((entry) => input !== undefined || !isControlVariable(entry));
        };
        const explicit = options.fds === undefined ? null : fdMap(options.fds);
        const pty = ptyRequest(options.pty, explicit ? new Set(explicit.keys()) : null);
        // The targets that get the pty are not forwarded.
        const fds = explicit ?? fdMap([0, 1, 2].filter((fd) => !pty || (pty.fds & (1 << fd)) === 0));
        if (protocol === 1) {
          const { outcome } = await runV1(sock, replies, { args, env: environment(), fds });
          return toResult(outcome, null, 1, performance.now() - begin);
        }
        const run = await runV2(
          sock,
          replies,
          { path, handshakeTimeoutMs: options.handshakeTimeoutMs ?? 3000 },
          // Gathered once HELLO is out: this work overlaps the spawner's answer.
          () => {
            // This process's cwd as the kernel names it (bytes, " (deleted)" if it is gone), and as an fd that works either way.
            const cwd = options.cwd === undefined ? readLink("/proc/self/cwd") : options.cwd === null ? null : toBytes(options.cwd);
            const cwdFd = (opened.cwdFd = cwd ? directoryFd(options.cwd === undefined ? "." : cwd) : null);
            const context = options.context === undefined ? callerContext() : typeof options.context === "function" ? options.context() : options.context;
            return { args, env: environment(), cwd, cwdFd, fds, grants, context, pty };
          },
          {
            sent: (agreed) => (version = agreed),
            started: (started) => {
              resolvePid(started);
              options.onStarted?.(started);
            },
            stopped: (signal) => options.onStopped?.(signal),
            ptyMaster: (master) => resolvePty(master),
          },
        );
        return toResult(run.outcome, run.pid, version === 4 ? 4 : version === 3 ? 3 : 2, performance.now() - begin);
      } finally {
        version = null;
        resolvePid(null);
        resolvePty(null);
        replies.close();
        sock.close();
      }
    } finally {
      opened.cwdFd?.close();
      closeAll(grants.map((g) => g.fd));
    }
  })();
  result.catch(() => {
    resolvePid(null);
    resolvePty(null);
  });

  return {
    pid,
    result,
    pty,
    get running() {
      return version !== null;
    },
    kill(signal: number | string = "SIGTERM", { group = true, background = false } = {}) {
      if (!sock || sock.closed || version === null) return false;
      if ((!group || background) && version < 3) return false;
      const number = typeof signal === "number" ? signal : parseSignal(signal);
      try {
        return sendRecord(sock, encodeSignal(number, { group, background }));
      } catch {
        return false;
      }
    },
  };
}

/** The directory as an O_PATH fd, or null when it cannot be opened (the path alone goes then). */
function directoryFd(path: Bytes): OwnedFd | null {
  const fd = tryOpenFile(path, O_PATH | O_DIRECTORY);
  return typeof fd === "number" ? null : fd;
}
