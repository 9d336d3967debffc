// A spawner: a listening socket, an accept loop that admits or refuses each
// peer at once, and a connection task per admitted client, all on the JS
// thread (the FdWatcher does the waiting).
import { chmodSync, existsSync, mkdirSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { peerCredentials, peerGroups } from "../libc/socket.ts";
import { acceptSeqpacket, listenSeqpacket } from "../fdpass/seqpacket.ts";
import { FdWatcher, WatchCancelled } from "../fdwatch/fd-watcher.ts";
import { DEFAULT_MAX_FDS, DEFAULT_MAX_REQUEST_BYTES } from "../protocol/limits.ts";
import { defaultSocketPath } from "../protocol/socket-name.ts";
import type { LaunchedProgram } from "../launch/launcher.ts";
import { serveConnection } from "./connection.ts";
import { programRunner } from "./run-program.ts";
import { claimSocketPath, listeningOn, SocketPathInUse } from "./socket-path.ts";
import { silentLogger, type Logger } from "./logger.ts";
import { compileEnvPolicy, defaultAccessPolicy, type AccessPolicy, type EnvPolicy } from "./access-policy.ts";
import { Admission } from "./admission.ts";
import { oneUidsShare, RunQueue } from "./run-queue.ts";
import { RefusalLog, refuseAtAccept } from "./refuse-at-accept.ts";
import { openSocketLock, OrphanGuard, waitForLock } from "./orphan-guard.ts";
import { tryLockExclusive } from "../libc/file.ts";
import type { Handler } from "./request.ts";

export { defaultSocketPath };

export const DEFAULT_MAX_CHILDREN = 64;
export const DEFAULT_MAX_QUEUE = 1024;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_CONNECTIONS_PER_UID = 256;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
export const DEFAULT_KILL_GRACE_MS = 1000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;
/** setTimeout takes a signed 32-bit count of ms; anything longer would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface ServeOptions {
  /** Socket path. Default: env PORTAL_NAME, else ./portal.sock. Ignored with `listener`. */
  socket?: string;
  /** An already listening SEQPACKET socket to serve instead (socket activation); the server owns it. */
  listener?: OwnedFd;
  /** Socket file mode. Default 0o600. */
  mode?: number;
  /** The spawner's own PROGRAM ARGS (default handler only). Clients can only add arguments. */
  program?: readonly (string | Uint8Array)[];
  /** SIGTERM-to-SIGKILL grace for groups whose client went away, in ms. Default 1000. */
  killGraceMs?: number;
  /** Who may connect. Default: root and the spawner's own uid. */
  access?: AccessPolicy;
  /** Which client variables reach programs (default handler only). Default: all. */
  env?: EnvPolicy;
  /** Run every program in a sandbox that sees only what its client grants, as the client's user (default handler only; needs root). */
  sandbox?: boolean;
  maxRequestBytes?: number;
  maxFds?: number;
  /** Programs (handler runs) at once; more wait their turn. Default 64. */
  maxChildren?: number;
  /** Programs of one uid at once (root is exempt); its further requests wait, and other uids' go first. Default: maxChildren less an eighth of it (at least 1), but at least 1. */
  maxChildrenPerUid?: number;
  /** Complete requests that may wait for a slot; more are refused. Default 1024. */
  maxQueue?: number;
  /** Connections at once (being read, waiting or running); more are refused at once. Default 1024. */
  maxConnections?: number;
  /** Connections one uid may have open at once (root is exempt). Default 256. */
  maxConnectionsPerUid?: number;
  /** A client must send its whole request within this many ms. Default 5000. */
  requestTimeoutMs?: number;
  backlog?: number;
  /**
   * End every program group with the spawner, SIGKILL included, through a
   * small watchdog process (default handler only). Default true.
   */
  orphanGuard?: boolean;
  /**
   * Collect garbage once the server has been idle this long (ms). Off by
   * default; the CLI turns it on so a device's spawner gives back the heap
   * a burst of requests grew.
   */
  idleGcMs?: number;
  log?: Logger;
  /** Called if the server can no longer accept connections (its poll thread died). */
  onFatal?: (error: Error) => void;
}

export interface PortalServer {
  /** The socket path the server listens on ("" for a handed-in socket). */
  readonly path: string;
  /** Connections being served right now. */
  readonly activeConnections: number;
  /** Resolves once the server accepts connections (a restarted spawner may first wait for its predecessor's programs to end). */
  readonly listening: Promise<void>;
  /**
   * Stops accepting and removes the socket; lets running programs finish for
   * up to `graceMs` (default 0), then sends their groups SIGTERM and, after
   * the kill grace, SIGKILL. Resolves once every connection has finished.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** Throws RangeError for options that cannot be honoured (a timer past 2^31-1 ms would fire at once). */
export function checkServeOptions(options: ServeOptions): void {
  const timers: Array<[string, number | undefined]> = [
    ["killGraceMs", options.killGraceMs],
    ["requestTimeoutMs", options.requestTimeoutMs],
    ["idleGcMs", options.idleGcMs],
  ];
  for (const [name, value] of timers) {
    if (value !== undefined && !(value >= 0 && value <= MAX_TIMER_MS)) {
      throw new RangeError(`${name} must be between 0 and ${MAX_TIMER_MS} ms (about 24.8 days), got ${value}`);
    }
  }
  const counts: Array<[string, number | undefined, number]> = [
    ["maxChildren", options.maxChildren, 1],
    ["maxChildrenPerUid", options.maxChildrenPerUid, 1],
    ["maxQueue", options.maxQueue, 0],
    ["maxConnections", options.maxConnections, 1],
    ["maxConnectionsPerUid", options.maxConnectionsPerUid, 1],
    ["maxFds", options.maxFds, 0],
    ["maxRequestBytes", options.maxRequestBytes, 1],
  ];
  for (const [name, value, min] of counts) {
    if (value !== undefined && !(Number.isInteger(value) && value >= min)) throw new RangeError(`${name} must be an integer >= ${min}, got ${value}`);
  }
}

export function serve(options: ServeOptions = {}, handler?: Handler): PortalServer {
  checkServeOptions(options);
  if (options.sandbox && !handler && process.getuid?.() !== 0) {
    throw new RangeError("sandbox needs root: every program gets mount and pid namespaces of its own");
  }
  const log = options.log ?? silentLogger;
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const programs = new Set<LaunchedProgram>();
  const path = options.listener ? "" : (options.socket ?? defaultSocketPath());
  let guard: OrphanGuard | null = null;
  const effectiveHandler =
    handler ??
    programRunner({
      prefix: (options.program ?? []).map((a) => (typeof a === "string" ? new TextEncoder().encode(a) : a)),
      killGraceMs,
      keepEnv: options.env ? compileEnvPolicy(options.env) : undefined,
      sandbox: options.sandbox ?? false,
      track: (program) => {
        programs.add(program);
        void program.exited.finally(() => programs.delete(program)).catch(() => {});
      },
      groups: { onGroup: (pgid) => guard?.add(pgid), onGroupGone: (pgid) => guard?.remove(pgid) },
      log,
    });

  const watcher = FdWatcher.shared();
  const connections = new Set<Promise<void>>();
  const maxChildren = options.maxChildren ?? DEFAULT_MAX_CHILDREN;
  const queue = new RunQueue(maxChildren, options.maxQueue ?? DEFAULT_MAX_QUEUE, options.maxChildrenPerUid ?? oneUidsShare(maxChildren));
  const admission = new Admission(options.access ?? defaultAccessPolicy(), {
    maxConnections: options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    maxConnectionsPerUid: options.maxConnectionsPerUid ?? DEFAULT_MAX_CONNECTIONS_PER_UID,
  });
  const refusals = new RefusalLog();
  let idleGc: ReturnType<typeof setTimeout> | undefined;
  let closing = false;
  let listener: OwnedFd | null = null;
  const connectionOptions = {
    maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    maxFds: options.maxFds ?? DEFAULT_MAX_FDS,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    queue,
    handler: effectiveHandler,
    log,
    peerGroups,
    wantPeerGroups: options.sandbox === true,
  };

  const serveOne = (sock: OwnedFd) => {
    const peer = peerCredentials(sock);
    const verdict = admission.admit(peer);
    if ("code" in verdict) {
      const line = refusals.line(peer.uid, `refused peer pid ${peer.pid} uid ${peer.uid}: ${verdict.message}`);
      if (line) log.warn(line);
      return void refuseAtAccept(sock, verdict, watcher);
    }
    const task = serveConnection(sock, peer, connectionOptions)
      .catch((error) => log.error(`connection failed: ${error instanceof Error ? error.stack : String(error)}`))
      .finally(() => verdict.release());
    connections.add(task);
    clearTimeout(idleGc);
    void task.finally(() => {
      connections.delete(task);
      if (connections.size === 0 && options.idleGcMs !== undefined) {
        idleGc = setTimeout(() => Bun.gc(true), options.idleGcMs);
        idleGc.unref();
      }
    });
  };

  const acceptLoop = async (sock: OwnedFd) => {
    while (!closing) {
      let conn: OwnedFd | null;
      try {
        conn = acceptSeqpacket(sock);
      } catch (error) {
        // EMFILE/ENFILE/ENOMEM: keep serving the connections we have; retry shortly.
        log.warn(`accept failed: ${(error as Error).message}`);
        await Bun.sleep(100);
        continue;
      }
      if (conn) serveOne(conn);
      else await watcher.readable(sock.fd);
    }
  };

  // A path-bound spawner first takes its socket's lock, which a predecessor's
  // watchdog holds while it ends that spawner's programs. Usually it is free
  // and everything below happens before serve() returns.
  const begin = (lock: OwnedFd | null) => {
    if (options.orphanGuard !== false && !handler) guard = new OrphanGuard(killGraceMs, lock, log);
    else lock?.close();
    listener = options.listener ?? bindSocket(path, options.mode ?? 0o600, options.backlog);
  };
  let listening: Promise<void>;
  if (path) {
    const dir = dirname(path);
    if (!existsSync(dir)) createSocketDirectory(dir, options.mode ?? 0o600);
    warnIfOthersMayWrite(dir, log);
    // A live spawner there is an error at once, not a wait for its lock (which it holds for good).
    if (listeningOn(path)) throw new SocketPathInUse(`another spawner is already listening on '${path}'`);
    const lock = openSocketLock(path);
    if (tryLockExclusive(lock.fd)) {
      begin(lock);
      listening = Promise.resolve();
    } else {
      listening = waitForLock(lock, path, killGraceMs + 5000, log).then(begin);
    }
  } else {
    begin(null);
    listening = Promise.resolve();
  }
  const running = listening
    .then(() => acceptLoop(listener!))
    .catch((error) => {
      if (error instanceof WatchCancelled) return;
      log.error(`the spawner stopped accepting: ${String(error)}`);
      options.onFatal?.(error instanceof Error ? error : new Error(String(error)));
    });

  let closed: Promise<void> | null = null;
  return {
    path,
    listening,
    get activeConnections() {
      return connections.size;
    },
    close({ graceMs = 0 } = {}) {
      closed ??= (async () => {
        closing = true;
        clearTimeout(idleGc);
        await listening.catch(() => {});
        listener?.close();
        await running;
        if (path && listener) removeSocket(path);
        queue.close("the spawner is shutting down");
        if (connections.size > 0 && graceMs > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([Promise.all(connections), new Promise((r) => (timer = setTimeout(r, Math.min(graceMs, MAX_TIMER_MS))))]);
          clearTimeout(timer);
        }
        for (const program of programs) program.terminate(killGraceMs);
        await Promise.all(connections);
        await guard?.stop();
      })();
      return closed;
    },
  };
}

/** A missing parent directory is created private: 0700, plus search permission for the classes the socket mode lets in. */
function createSocketDirectory(dir: string, mode: number): void {
  const dirMode = 0o700 | (mode & 0o060 ? 0o010 : 0) | (mode & 0o006 ? 0o001 : 0);
  mkdirSync(dir, { recursive: true, mode: dirMode });
  chmodSync(dir, dirMode);
}

/** Anyone who may write the socket's directory may replace the socket with their own. */
function warnIfOthersMayWrite(dir: string, log: Logger): void {
  try {
    const { mode } = statSync(dir);
    if ((mode & 0o002) !== 0 && (mode & 0o1000) === 0) {
      log.warn(`the socket's directory '${dir}' is writable by everyone and not sticky: anyone could replace the socket`);
    }
  } catch {
    // bind() will report a directory we cannot stat.
  }
}

/** Binds and listens at `path` with exactly `mode`. */
function bindSocket(path: string, mode: number, backlog?: number): OwnedFd {
  claimSocketPath(path);
  // bind() creates the file as 0777 & ~umask: make that exactly our mode, so
  // the socket never listens with another one (until the chmod below, a
  // client allowed by --mode 0660 would get EACCES and give up).
  const oldUmask = process.umask(0o777 & ~mode);
  let listener: OwnedFd;
  try {
    listener = listenSeqpacket(Buffer.from(path), { backlog });
  } finally {
    process.umask(oldUmask);
  }
  try {
    chmodSync(path, mode);
  } catch (error) {
    listener.close();
    removeSocket(path);
    throw error;
  }
  return listener;
}

function removeSocket(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone (someone removed it): nothing to clean up.
  }
}
