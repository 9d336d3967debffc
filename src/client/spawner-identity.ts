// Which spawners this process has talked protocol v2 to, so that a later
// request may go out right behind its HELLO (no round trip). A request must
// never be pipelined into anything else: a C exec-portal spawner would read
// it as its own records. So the cache names one spawner process: the one
// its HELLO_ACK said it was, which must also be the process the kernel
// names as our peer (not a service manager holding the socket for it) and
// still the same process (its start time), on the same socket path.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { peerCredentials } from "../libc/socket.ts";
import { processStartTicks } from "../process/start-time.ts";
import type { HelloAck } from "../protocol/v2.ts";

const known = new Map<string, HelloAck>();

/** The limits of the spawner now answering on `path`, if it is one we know for sure. */
export function knownSpawner(path: string, sock: OwnedFd): HelloAck | null {
  const ack = known.get(path);
  if (!ack?.spawner) return null;
  const peer = peerCredentials(sock).pid;
  // (A pidfd kept per spawner would save this /proc read, but a library must not hold fds it was never asked to.)
  if (peer !== ack.spawner.pid || processStartTicks(peer) !== ack.spawner.startTicks) {
    known.delete(path);
    return null;
  }
  return ack;
}

export function rememberSpawner(path: string, ack: HelloAck): void {
  if (ack.spawner) known.set(path, ack);
}
