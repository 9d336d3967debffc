// portal-spawner [options] [--] [PROGRAM [ARGS...]]
import { defineCommand, parseArgs, type ArgsDef } from "citty";
import {
  serve, defaultSocketPath, DEFAULT_KILL_GRACE_MS, DEFAULT_MAX_CHILDREN, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_UID,
  DEFAULT_MAX_QUEUE, DEFAULT_REQUEST_TIMEOUT_MS, DEFAULT_SHUTDOWN_GRACE_MS, MAX_TIMER_MS,
} from "../spawner/serve.ts";
import { activatedSocket } from "../spawner/socket-activation.ts";
import { handedOverSocket, HandoverError } from "../spawner/socket-handover.ts";
import { unixSocketName } from "../libc/socket.ts";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { notifyReadyFd, sdNotify } from "../spawner/readiness.ts";
import { defaultAccessPolicy } from "../spawner/access-policy.ts";
import { markInheritedFdsCloseOnExec } from "../spawner/inherited-fds.ts";
import { resolveId } from "./user-names.ts";
import { oneUidsShare } from "../spawner/run-queue.ts";
import { DEFAULT_MAX_FDS, DEFAULT_MAX_REQUEST_BYTES } from "../protocol/limits.ts";
import { createLogger, parseLogLevel, SYSLOG, writeLines } from "./log.ts";
import { argumentBytes } from "./process-bytes.ts";
import { repeated, splitAtCommand } from "./split-command.ts";
import { optionNumber } from "./option-number.ts";
import { UsageError, usageMessage } from "./usage-error.ts";
import { HELP_ARGS, VERSION_ARGS, showUsage } from "./usage.ts";
import { printVersion } from "./version.ts";

/** portal-spawner's exit code for a mistake on its command line (README "Exit codes"). */
export const SPAWNER_USAGE_EXIT = 2;

export const spawnerArgs = {
  socket: { type: "string", alias: "s", description: "Socket path (default: $PORTAL_NAME, else ./portal.sock)", valueHint: "PATH" },
  mode: { type: "string", description: "Socket file mode, octal (default 0600)", valueHint: "MODE" },
  "kill-grace": { type: "string", description: `Seconds between SIGTERM and SIGKILL when a client goes away (default ${DEFAULT_KILL_GRACE_MS / 1000})`, valueHint: "SECONDS" },
  "shutdown-grace": { type: "string", description: `On SIGTERM/SIGINT, seconds running programs may finish before their groups are terminated (default ${DEFAULT_SHUTDOWN_GRACE_MS / 1000})`, valueHint: "SECONDS" },
  "allow-uid": { type: "string", description: "Allow peers with this uid, name or number (repeatable; default: root and the spawner's own uid)", valueHint: "USER" },
  "allow-gid": { type: "string", description: "Allow peers with this primary gid, name or number (repeatable)", valueHint: "GROUP" },
  "allow-env": { type: "string", description: "Pass only client variables matching this pattern, e.g. 'LC_*' (repeatable)", valueHint: "PATTERN" },
  "deny-env": { type: "string", description: "Drop client variables matching this pattern, e.g. 'LD_*' (repeatable)", valueHint: "PATTERN" },
  "max-children": { type: "string", description: `Programs running at once; more requests wait their turn (default ${DEFAULT_MAX_CHILDREN})`, valueHint: "N" },
  "max-children-per-uid": { type: "string", description: "Programs of one uid running at once, so the rest of the slots stay for other uids; root is exempt (default: --max-children less an eighth of it, at least 1)", valueHint: "N" },
  "max-queue": { type: "string", description: `Requests that may wait for a free slot; more are refused (default ${DEFAULT_MAX_QUEUE})`, valueHint: "N" },
  "max-connections": { type: "string", description: `Connections open at once, including clients still sending or waiting; more are refused at once (default ${DEFAULT_MAX_CONNECTIONS})`, valueHint: "N" },
  "max-connections-per-uid": { type: "string", description: `Connections one uid may have open at once; root is exempt (default ${DEFAULT_MAX_CONNECTIONS_PER_UID})`, valueHint: "N" },
  "request-timeout": { type: "string", description: `Seconds a client may take to send its whole request (default ${DEFAULT_REQUEST_TIMEOUT_MS / 1000})`, valueHint: "SECONDS" },
  sandbox: { type: "boolean", description: "Run every program in its own sandbox as the client's user, seeing only the files its client grants (portal-exec --grant ...); needs root" },
  "ready-fd": { type: "string", description: "Write a newline to this fd and close it once listening (s6 readiness)", valueHint: "FD" },
  "socket-fd": { type: "string", description: "Serve this inherited AF_UNIX SEQPACKET socket instead of binding one (D-Bus containers hand-over)", valueHint: "N" },
  "ready-notifier-fd": { type: "string", description: "With --socket-fd: accept only once this pipe or FIFO polls readable (then close it); the socket may be bound and listening by then only", valueHint: "M" },
  "max-request-bytes": { type: "string", description: `Largest argv+env+cwd of one request (default ${DEFAULT_MAX_REQUEST_BYTES})`, valueHint: "BYTES" },
  "max-fds": { type: "string", description: `Most fds in one request (default ${DEFAULT_MAX_FDS})`, valueHint: "N" },
  "log-level": { type: "string", description: "error, warn, info or debug ($PORTAL_LOG_LEVEL; default info)", valueHint: "LEVEL" },
} as const satisfies ArgsDef;

/** --sandbox makes mount and pid namespaces: say at start-up, before anything listens, if it cannot. */
function checkSandbox(): true {
  if (process.getuid?.() !== 0) throw new UsageError("--sandbox needs root (every program gets mount and pid namespaces of its own)");
  return true;
}

function resolveOrFail(value: string, kind: "user" | "group"): number {
  try {
    return resolveId(value, kind);
  } catch (error) {
    throw new UsageError(`--allow-${kind === "user" ? "uid" : "gid"}: ${(error as Error).message}`);
  }
}

function number(text: string | undefined, what: string, fallback: number, { min = 0, integer = false } = {}): number {
  if (text === undefined) return fallback;
  const n = optionNumber(text, { min, integer });
  if (n === null) throw new UsageError(`--${what} must be a number >= ${min}, got '${text}'`);
  return n;
}

/** Seconds as ms; refuses what a timer cannot wait for (setTimeout wraps past 2^31-1 ms to 1 ms). */
function seconds(text: string | undefined, what: string, fallbackMs: number): number {
  const ms = number(text, what, fallbackMs / 1000) * 1000;
  if (ms > MAX_TIMER_MS) throw new UsageError(`--${what} must be at most ${Math.floor(MAX_TIMER_MS / 1000)} seconds (about 24.8 days), got '${text}'`);
  return ms;
}

export async function runSpawnerCommand(args: Uint8Array[]): Promise<void> {
  const { options, command, unknown, missingValue } = splitAtCommand(args, { ...spawnerArgs, ...HELP_ARGS, ...VERSION_ARGS });
  if (options.includes("--help") || options.includes("-h")) {
    await showUsage(spawnerDefinition, { notes: SPAWNER_HELP_NOTES });
    process.exit(0);
  }
  if (options.includes("--version")) {
    printVersion("portal-spawner");
    process.exit(0);
  }
  if (unknown.length > 0) throw new UsageError(`unknown option '${unknown[0]}'`);
  if (missingValue.length > 0) throw new UsageError(`option '${missingValue[0]}' needs a value`);
  const parsed = parseArgs(options, spawnerArgs);
  const log = createLogger("portal-spawner", parseLogLevel(parsed["log-level"] ?? process.env.PORTAL_LOG_LEVEL));
  const mode = parsed.mode === undefined ? 0o600 : parseInt(parsed.mode, 8);
  if (Number.isNaN(mode) || mode < 0 || mode > 0o777 || !/^[0-7]+$/.test(parsed.mode ?? "0")) {
    throw new UsageError(`--mode must be an octal mode such as 0660, got '${parsed.mode}'`);
  }
  const killGraceMs = seconds(parsed["kill-grace"], "kill-grace", DEFAULT_KILL_GRACE_MS);
  const shutdownGraceMs = seconds(parsed["shutdown-grace"], "shutdown-grace", DEFAULT_SHUTDOWN_GRACE_MS);
  const requestTimeoutMs = seconds(parsed["request-timeout"], "request-timeout", DEFAULT_REQUEST_TIMEOUT_MS);
  const maxChildren = number(parsed["max-children"], "max-children", DEFAULT_MAX_CHILDREN, { min: 1, integer: true });
  const readyFd = parsed["ready-fd"] === undefined ? null : number(parsed["ready-fd"], "ready-fd", 0, { integer: true });
  const access = defaultAccessPolicy();
  const allowUids = repeated(options, "allow-uid");
  const allowGids = repeated(options, "allow-gid");
  if (allowUids.length > 0 || allowGids.length > 0) {
    // Explicit rules replace the default; root stays allowed (it can bypass a socket mode anyway).
    access.uids = new Set([0, ...allowUids.map((u) => resolveOrFail(u, "user"))]);
    access.gids = new Set(allowGids.map((g) => resolveOrFail(g, "group")));
  }
  const handover = handoverOptions(parsed, readyFd);
  markInheritedFdsCloseOnExec();
  let listener: OwnedFd | null;
  if (handover) {
    listener = await handedOverSocket({
      ...handover,
      onWaiting: () => log.info(`waiting for the ready notifier on fd ${handover.readyNotifierFd} before accepting on fd ${handover.socketFd}`),
    });
  } else {
    listener = activatedSocket();
  }
  const server = serve({
    socket: parsed.socket ?? defaultSocketPath(),
    listener: listener ?? undefined,
    mode,
    program: command,
    killGraceMs,
    access,
    env: { allow: repeated(options, "allow-env"), deny: repeated(options, "deny-env") },
    sandbox: parsed.sandbox ? checkSandbox() : false,
    maxChildren,
    maxChildrenPerUid: number(parsed["max-children-per-uid"], "max-children-per-uid", oneUidsShare(maxChildren), { min: 1, integer: true }),
    maxQueue: number(parsed["max-queue"], "max-queue", DEFAULT_MAX_QUEUE, { min: 0, integer: true }),
    maxConnectionsPerUid: number(parsed["max-connections-per-uid"], "max-connections-per-uid", DEFAULT_MAX_CONNECTIONS_PER_UID, { min: 1, integer: true }),
    idleGcMs: 1000,
    // A spawner that cannot accept any more must exit, so its supervisor restarts it.
    onFatal: () => process.exit(1),
    maxConnections: number(parsed["max-connections"], "max-connections", DEFAULT_MAX_CONNECTIONS, { min: 1, integer: true }),
    requestTimeoutMs,
    maxRequestBytes: number(parsed["max-request-bytes"], "max-request-bytes", DEFAULT_MAX_REQUEST_BYTES, { min: 1, integer: true }),
    maxFds: number(parsed["max-fds"], "max-fds", DEFAULT_MAX_FDS, { min: 0, integer: true }),
    log,
  });
  await server.listening;
  const shown = command.map((c) => new TextDecoder().decode(c)).join(" ");
  const where = !listener ? server.path : handover ? `socket fd ${listener.fd} (handed over${boundAt(listener)})` : `socket fd ${listener.fd} (socket activation)`;
  log.info(`listening on ${where}${shown ? ` (program: ${shown})` : ""}`);
  // Handlers first: a supervisor may send SIGTERM as soon as it hears we are ready.
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping (running programs get ${shutdownGraceMs / 1000} s)`);
    if (process.env.NOTIFY_SOCKET) sdNotify(process.env.NOTIFY_SOCKET, "STOPPING=1\n");
    await server.close({ graceMs: shutdownGraceMs });
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // A promise nobody awaited that failed is a bug of ours, but never a reason to drop every client: say so and serve on.
  process.on("unhandledRejection", (reason) => log.error(`internal error, kept serving: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`));
  if (readyFd !== null) notifyReadyFd(readyFd);
  if (process.env.NOTIFY_SOCKET) {
    sdNotify(process.env.NOTIFY_SOCKET, `READY=1\nSTATUS=listening on ${where}\nMAINPID=${process.pid}\n`);
  }
  // Keep running: the FdWatcher's wait on the listening socket holds the loop.
}

/** --socket-fd and --ready-notifier-fd, checked against the options they exclude. */
function handoverOptions(parsed: Record<string, unknown>, readyFd: number | null): { socketFd: number; readyNotifierFd: number | null } | null {
  const socketText = parsed["socket-fd"] as string | undefined;
  const notifierText = parsed["ready-notifier-fd"] as string | undefined;
  if (socketText === undefined) {
    if (notifierText !== undefined) throw new UsageError("--ready-notifier-fd needs --socket-fd: it says when that socket is ready");
    return null;
  }
  const socketFd = number(socketText, "socket-fd", 0, { integer: true });
  const readyNotifierFd = notifierText === undefined ? null : number(notifierText, "ready-notifier-fd", 0, { integer: true });
  if (parsed.socket !== undefined) throw new UsageError("--socket-fd hands over a socket and --socket would bind another: give one of them");
  if (process.env.LISTEN_FDS && process.env.LISTEN_PID === String(process.pid)) {
    throw new UsageError("--socket-fd hands over a socket and socket activation (LISTEN_FDS) hands over another: give one of them");
  }
  const fds = [socketFd, readyNotifierFd, readyFd].filter((fd) => fd !== null);
  if (new Set(fds).size !== fds.length) throw new UsageError("--socket-fd, --ready-notifier-fd and --ready-fd must be different fds");
  return { socketFd, readyNotifierFd };
}

/** ", bound at PATH" for a handed-over socket with a name, else "". */
function boundAt(listener: OwnedFd): string {
  const name = unixSocketName(listener.fd);
  if (!name) return "";
  return name[0] === 0 ? `, bound at @${new TextDecoder().decode(name.subarray(1))}` : `, bound at ${new TextDecoder().decode(name)}`;
}

const SPAWNER_HELP_NOTES = [
  "Our options end at the first argument that is not one of them, or at --.",
  "Exit: 0 after SIGTERM or SIGINT; 2 a bad option; 1 anything else that stops it serving.",
].join("\n");

export const spawnerDefinition = defineCommand({
  meta: { name: "portal-spawner", description: "Serve exec requests on a unix socket: run PROGRAM (or the client's first argument) with the client's argv, env, cwd and fds" },
  args: {
    ...spawnerArgs,
    ...HELP_ARGS,
    ...VERSION_ARGS,
    program: { type: "positional", required: false, description: "Program to run for every request; clients' arguments are appended", valueHint: "PROGRAM [ARGS...]" },
  },
  async run() {
    await runSpawnerCommand(argumentBytes());
  },
});

export async function spawnerMain(args: Uint8Array[]): Promise<void> {
  try {
    await runSpawnerCommand(args);
  } catch (error) {
    // Before the logger exists, or instead of it: the reason it will not serve, as an error.
    // A handed-over socket that fails a check is a usage error too: the caller passed the wrong fd.
    const usage = error instanceof UsageError;
    const message = error instanceof Error ? error.message : String(error);
    writeLines(usage ? usageMessage("portal-spawner", message) : `portal-spawner: ${message}`, SYSLOG.err);
    process.exit(usage || error instanceof HandoverError ? SPAWNER_USAGE_EXIT : 1);
  }
}
