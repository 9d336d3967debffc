// A peer refused at accept() never gets a connection slot. If its first
// record is a v2 HELLO, it is told why (REFUSED) before the close; a v1
// client, or one that stays silent, just sees the connection close, as with
// the C spawner. A client usually connects and sends HELLO in one breath,
// but the spawner may accept in between: so a refused peer gets a short,
// fixed wait for its first record, and only a bounded number of refused
// peers wait at once (the rest are closed at once). Nothing else is read.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { MSG_DONTWAIT } from "../libc/constants.ts";
import { receiveRecord, sendRecord } from "../fdpass/seqpacket.ts";
import type { FdWatcher } from "../fdwatch/fd-watcher.ts";
import { encodeRefused, HELLO_BYTES, isHello } from "../protocol/v2.ts";
import type { Refusal } from "./refusal.ts";

/** How long a refused peer's first record is waited for. */
export const REFUSED_HELLO_WAIT_MS = 200;
/** How many refused peers may wait for that at once. */
export const MAX_REFUSED_WAITING = 32;

let waiting = 0;

/** Tells a v2 peer why and closes the connection. Never throws. */
export async function refuseAtAccept(sock: OwnedFd, refusal: Refusal, watcher: FdWatcher): Promise<void> {
  try {
    // No fds accepted: whatever a first record carried is closed by the kernel (MSG_CTRUNC).
    let first = receiveRecord(sock, HELLO_BYTES, 0);
    if (first.kind === "again" && waiting < MAX_REFUSED_WAITING) {
      waiting++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([watcher.readable(sock.fd), new Promise((resolve) => (timer = setTimeout(resolve, REFUSED_HELLO_WAIT_MS)))]);
      } finally {
        clearTimeout(timer);
        waiting--;
      }
      first = receiveRecord(sock, HELLO_BYTES, 0);
    }
    if (first.kind === "record" && isHello(first.data)) sendRecord(sock, encodeRefused(refusal.code, refusal.message), [], MSG_DONTWAIT);
  } catch {
    // The peer is gone already (or its wait was cancelled): nothing to tell.
  } finally {
    sock.close();
  }
}

/** At most one log line per uid and interval for refused connections, with a count of the rest. */
export class RefusalLog {
  readonly #last = new Map<number, { at: number; suppressed: number }>();

  constructor(private readonly intervalMs = 10_000) {}

  /** The line to log for this refusal now, or null to stay quiet. */
  line(uid: number, text: string): string | null {
    const now = performance.now();
    const last = this.#last.get(uid);
    if (last && now - last.at < this.intervalMs) {
      last.suppressed++;
      return null;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#last.set(uid, { at: now, suppressed: 0 });
    if (this.#last.size > 1024) this.#last.delete(this.#last.keys().next().value!);
    return suppressed > 0 ? `${text} (and ${suppressed} more from uid ${uid} in the last ${this.intervalMs / 1000} s)` : text;
  }
}
