// Taking over a socket path safely: replace a stale socket, never anything else.
import { lstatSync, readFileSync, unlinkSync } from "node:fs";
import { connectSeqpacket } from "../fdpass/seqpacket.ts";
import { ECONNREFUSED } from "../libc/errno-values.ts";
import { SystemError } from "../libc/system-error.ts";

export class SocketPathInUse extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SocketPathInUse";
  }
}

/**
 * Makes `path` free for bind(): nothing there is fine; a socket nobody
 * listens on is removed; a live socket or anything that is not a socket is
 * an error (a regular file is never deleted).
 */
export function claimSocketPath(path: string): void {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket()) throw new SocketPathInUse(`refusing to replace '${path}': it exists and is not a socket`);
  const listening = listeningOn(path);
  if (listening === true) throw new SocketPathInUse(`another spawner is already listening on '${path}'`);
  if (listening === false) {
    unlinkSync(path);
    return;
  }
  // No /proc: ask by connecting (the spawner there, if any, logs a client that hung up).
  try {
    connectSeqpacket(Buffer.from(path)).close();
  } catch (error) {
    if (error instanceof SystemError && error.errno === ECONNREFUSED) {
      unlinkSync(path);
      return;
    }
    if (error instanceof SystemError) throw new SocketPathInUse(`cannot check socket '${path}': ${error.message}`);
    throw error;
  }
  throw new SocketPathInUse(`another spawner is already listening on '${path}'`);
}

/** __SO_ACCEPTCON in /proc/net/unix's Flags column: the socket listens. */
const ACCEPTING = 0x10000;

/**
 * Whether a unix socket bound at `path` (as it was given to bind) listens,
 * per /proc/net/unix, without connecting to it; null when /proc cannot say.
 */
export function listeningOn(path: string): boolean | null {
  let table: string;
  try {
    table = readFileSync("/proc/net/unix", "latin1");
  } catch {
    return null;
  }
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length >= 8 && fields.slice(7).join(" ") === path && (parseInt(fields[3]!, 16) & ACCEPTING) !== 0) return true;
  }
  return false;
}
