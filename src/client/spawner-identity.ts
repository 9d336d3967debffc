// Which spawners this process has talked protocol v2 to, so that a later
// request may go out right behind its HELLO (no round trip). A request must
// never be pipelined into anything else: a C exec-portal spawner would read
// it as its own records. So the cache names one spawner process: the one
// its HELLO_ACK said it was, which must also be the process the kernel
// names as our peer (not a service manager holding the socket for it) and
// still the same process (its start time), on the same socket path.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { peerCredentials } from "../libc/socket.ts";
import { openPidFd } from "../libc/process.ts";
import { PollList } from "../libc/poll.ts";
import { POLLIN } from "../libc/constants.ts";
import { processStartTicks } from "../process/start-time.ts";
import type { HelloAck } from "../protocol/v2.ts";

/**
 * The spawners we know, by socket path: the HELLO_ACK, and a pidfd of the
 * process it named (opened once its start time matched), which turns
 * readable when that process ends. A pid alone could name a later process;
 * the pidfd cannot, and asking it costs one poll, not a /proc read.
 */
const known = new Map<string, { ack: HelloAck; process: OwnedFd }>();

/** The limits of the spawner now answering on `path`, if it is one we know for sure. */
export function knownSpawner(path: string, sock: OwnedFd): HelloAck | null {
  const entry = known.get(path);
  if (!entry) return null;
  if (peerCredentials(sock).pid === entry.ack.spawner!.pid && isAlive(entry.process)) return entry.ack;
  forget(path);
  return null;
}

export function rememberSpawner(path: string, ack: HelloAck): void {
  if (known.get(path)?.ack === ack) return;
  forget(path);
  if (!ack.spawner || processStartTicks(ack.spawner.pid) !== ack.spawner.startTicks) return;
  try {
    known.set(path, { ack, process: openPidFd(ack.spawner.pid) });
  } catch {
    // No pidfd (an old kernel, or the process just ended): no pipelining.
  }
}

function forget(path: string): void {
  known.get(path)?.process.close();
  known.delete(path);
}

function isAlive(pidfd: OwnedFd): boolean {
  const list = new PollList(1);
  list.add(pidfd.fd, POLLIN);
  return list.wait(0) === 0;
}
