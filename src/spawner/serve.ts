// A spawner: a listening socket, an accept loop, and a connection task per
// client, all on the JS thread (the FdWatcher does the waiting).
import { chmodSync, unlinkSync } from "node:fs";
import { OwnedFd } from "../libc/owned-fd.ts";
import { acceptSeqpacket, listenSeqpacket } from "../fdpass/seqpacket.ts";
import { FdWatcher, WatchCancelled } from "../fdpass/fd-watcher.ts";
import { DEFAULT_MAX_FDS, DEFAULT_MAX_REQUEST_BYTES } from "../protocol/limits.ts";
import type { ChildProcess } from "../process/child.ts";
import { serveConnection } from "./connection.ts";
import { programRunner } from "./run-program.ts";
import { claimSocketPath } from "./socket-path.ts";
import { silentLogger, type Logger } from "./logger.ts";
import type { Handler } from "./request.ts";

export interface ServeOptions {
  /** Socket path. Default: env PORTAL_NAME, else ./portal.sock. */
  socket?: string;
  /** Socket file mode. Default 0o600. */
  mode?: number;
  /** The spawner's own PROGRAM ARGS (default handler only). */
  program?: readonly (string | Uint8Array)[];
  /** SIGTERM-to-SIGKILL grace for groups whose client went away, in ms. Default 1000. */
  killGraceMs?: number;
  maxRequestBytes?: number;
  maxFds?: number;
  backlog?: number;
  log?: Logger;
}

export interface PortalServer {
  /** The socket path the server listens on. */
  readonly path: string;
  /** Connections being served right now. */
  readonly activeConnections: number;
  /**
   * Stops accepting and removes the socket. Running programs get SIGTERM and,
   * after `graceMs` (default: the kill grace), SIGKILL; resolves once every
   * connection has finished.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

export function defaultSocketPath(env: Record<string, string | undefined> = process.env): string {
  return env.PORTAL_NAME || "./portal.sock";
}

export function serve(options: ServeOptions = {}, handler?: Handler): PortalServer {
  const path = options.socket ?? defaultSocketPath();
  const log = options.log ?? silentLogger;
  const killGraceMs = options.killGraceMs ?? 1000;
  const children = new Set<ChildProcess>();
  const effectiveHandler =
    handler ??
    programRunner({
      prefix: (options.program ?? []).map((a) => (typeof a === "string" ? new TextEncoder().encode(a) : a)),
      killGraceMs,
      onChild: (child) => {
        children.add(child);
        void child.exited.finally(() => children.delete(child));
      },
    });

  claimSocketPath(path);
  // bind() creates the file with the umask's mode: narrow it until chmod sets ours.
  const oldUmask = process.umask(0o177);
  let listener: OwnedFd;
  try {
    listener = listenSeqpacket(Buffer.from(path), { backlog: options.backlog });
  } finally {
    process.umask(oldUmask);
  }
  try {
    chmodSync(path, options.mode ?? 0o600);
  } catch (error) {
    listener.close();
    unlinkSync(path);
    throw error;
  }

  const watcher = FdWatcher.shared();
  const connections = new Set<Promise<void>>();
  let closing = false;
  const limits = {
    maxRequestBytes: options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES,
    maxFds: options.maxFds ?? DEFAULT_MAX_FDS,
  };

  const acceptLoop = (async () => {
    while (!closing) {
      const sock = acceptSeqpacket(listener);
      if (!sock) {
        await watcher.readable(listener.fd);
        continue;
      }
      const task = serveConnection(sock, { ...limits, handler: effectiveHandler, log }).catch((error) =>
        log.error(`connection failed: ${error instanceof Error ? error.stack : String(error)}`),
      );
      connections.add(task);
      void task.finally(() => connections.delete(task));
    }
  })().catch((error) => {
    if (!(error instanceof WatchCancelled)) log.error(`accept loop failed: ${String(error)}`);
  });

  let closed: Promise<void> | null = null;
  return {
    path,
    get activeConnections() {
      return connections.size;
    },
    close({ graceMs = killGraceMs } = {}) {
      closed ??= (async () => {
        closing = true;
        watcher.cancel(listener.fd);
        await acceptLoop;
        listener.close();
        try {
          unlinkSync(path);
        } catch {
          // Already gone (someone removed it): nothing to clean up.
        }
        for (const child of children) child.terminateGroup(graceMs);
        await Promise.all(connections);
      })();
      return closed;
    },
  };
}
