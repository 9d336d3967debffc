// A spawner: a listening socket, an accept loop, and a connection task per
// client, all on the JS thread (the FdWatcher does the waiting).
import { chmodSync, mkdirSync, unlinkSync, existsSync } from "node:fs";
import { dirname } from "node:path";
import { OwnedFd } from "../libc/owned-fd.ts";
import { acceptSeqpacket, listenSeqpacket } from "../fdpass/seqpacket.ts";
import { FdWatcher, WatchCancelled } from "../fdwatch/fd-watcher.ts";
import { DEFAULT_MAX_FDS, DEFAULT_MAX_REQUEST_BYTES } from "../protocol/limits.ts";
import type { ChildProcess } from "../process/child.ts";
import { serveConnection, type RunSlots } from "./connection.ts";
import { programRunner } from "./run-program.ts";
import { claimSocketPath } from "./socket-path.ts";
import { silentLogger, type Logger } from "./logger.ts";
import { compileEnvPolicy, defaultAccessPolicy, type AccessPolicy, type EnvPolicy } from "./access-policy.ts";
import type { Handler } from "./request.ts";

export const DEFAULT_MAX_CHILDREN = 64;
export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;
export const DEFAULT_KILL_GRACE_MS = 1000;
export const DEFAULT_SHUTDOWN_GRACE_MS = 5000;

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
  /** Run every program under bubblewrap (this path), seeing only what its client grants (default handler only). */
  sandbox?: { bwrap: string };
  maxRequestBytes?: number;
  maxFds?: number;
  /** Programs (handler runs) at once; more are refused. Default 64. */
  maxChildren?: number;
  /** Connections at once (running or still sending); more are closed at once. Default 1024. */
  maxConnections?: number;
  /** A client must send its whole request within this many ms. Default 5000. */
  requestTimeoutMs?: number;
  backlog?: number;
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
  /**
   * Stops accepting and removes the socket; lets running programs finish for
   * up to `graceMs` (default 0), then sends their groups SIGTERM and, after
   * the kill grace, SIGKILL. Resolves once every connection has finished.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export function defaultSocketPath(env: Record<string, string | undefined> = process.env): string {
  return env.PORTAL_NAME || "./portal.sock";
}

export function serve(options: ServeOptions = {}, handler?: Handler): PortalServer {
  const log = options.log ?? silentLogger;
  const killGraceMs = options.killGraceMs ?? DEFAULT_KILL_GRACE_MS;
  const children = new Set<ChildProcess>();
  const effectiveHandler =
    handler ??
    programRunner({
      prefix: (options.program ?? []).map((a) => (typeof a === "string" ? new TextEncoder().encode(a) : a)),
      killGraceMs,
      keepEnv: options.env ? compileEnvPolicy(options.env) : undefined,
      sandbox: options.sandbox ? { bwrap: new TextEncoder().encode(options.sandbox.bwrap) } : undefined,
      onChild: (child) => {
        children.add(child);
        void child.exited.finally(() => children.delete(child));
      },
    });
  const path = options.listener ? "" : (options.socket ?? defaultSocketPath());
  const listener = options.listener ?? bindSocket(path, options.mode ?? 0o600, options.backlog);

  const watcher = FdWatcher.shared();
  const connections = new Set<Promise<void>>();
  let idleGc: ReturnType<typeof setTimeout> | undefined;
  let closing = false;
  let running = 0;
  const maxChildren = options.maxChildren ?? DEFAULT_MAX_CHILDREN;
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const slots: RunSlots = {
    max: maxChildren,
    tryAcquire: () => (running < maxChildren ? (running++, true) : false),
    release: () => void running--,
  };
  const connectionOptions = {
    maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    maxFds: options.maxFds ?? DEFAULT_MAX_FDS,
    requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    access: options.access ?? defaultAccessPolicy(),
    slots,
    handler: effectiveHandler,
    log,
  };

  const acceptLoop = (async () => {
    while (!closing) {
      let sock: OwnedFd | null;
      try {
        sock = acceptSeqpacket(listener);
      } catch (error) {
        // EMFILE/ENFILE/ENOMEM: keep serving the connections we have; retry shortly.
        log.warn(`accept failed: ${(error as Error).message}`);
        await Bun.sleep(100);
        continue;
      }
      if (!sock) {
        await watcher.readable(listener.fd);
        continue;
      }
      if (connections.size >= maxConnections) {
        // Silent or slow clients must not exhaust the fd table: shed the newest.
        log.warn(`closing a new connection: ${maxConnections} connections are open (--max-connections)`);
        sock.close();
        continue;
      }
      const task = serveConnection(sock, connectionOptions).catch((error) =>
        log.error(`connection failed: ${error instanceof Error ? error.stack : String(error)}`),
      );
      connections.add(task);
      clearTimeout(idleGc);
      void task.finally(() => {
        connections.delete(task);
        if (connections.size === 0 && options.idleGcMs !== undefined) {
          idleGc = setTimeout(() => Bun.gc(true), options.idleGcMs);
          idleGc.unref();
        }
      });
    }
  })().catch((error) => {
    if (error instanceof WatchCancelled) return;
    log.error(`accept loop failed: ${String(error)}`);
    options.onFatal?.(error instanceof Error ? error : new Error(String(error)));
  });

  let closed: Promise<void> | null = null;
  return {
    path,
    get activeConnections() {
      return connections.size;
    },
    close({ graceMs = 0 } = {}) {
      closed ??= (async () => {
        closing = true;
        clearTimeout(idleGc);
        watcher.cancel(listener.fd);
        await acceptLoop;
        listener.close();
        if (path) removeSocket(path);
        if (connections.size > 0 && graceMs > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await Promise.race([Promise.all(connections), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
          clearTimeout(timer);
        }
        for (const child of children) child.terminateGroup(killGraceMs);
        await Promise.all(connections);
      })();
      return closed;
    },
  };
}

/**
 * Binds and listens at `path` with exactly `mode`. A missing parent
 * directory is created private (0700, plus search permission for the
 * classes the socket mode lets in).
 */
function bindSocket(path: string, mode: number, backlog?: number): OwnedFd {
  const dir = dirname(path);
  if (!existsSync(dir)) {
    const dirMode = 0o700 | (mode & 0o060 ? 0o010 : 0) | (mode & 0o006 ? 0o001 : 0);
    mkdirSync(dir, { recursive: true, mode: dirMode });
    chmodSync(dir, dirMode);
  }
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
