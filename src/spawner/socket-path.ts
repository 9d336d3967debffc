// Taking over a socket path safely: replace a stale socket, never anything else.
import { lstatSync, unlinkSync } from "node:fs";
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
