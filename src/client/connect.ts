// Connecting to a spawner, waiting for its socket to appear if asked to.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { ECONNREFUSED, ENOENT } from "../libc/errno-values.ts";
import { SystemError } from "../libc/system-error.ts";
import { connectSeqpacket } from "../fdpass/seqpacket.ts";
import { PortalError } from "./errors.ts";

export interface ConnectOptions {
  path: string;
  /** false fails at once; true waits; a number waits that many ms. */
  wait: boolean | number;
  onWaiting?: () => void;
}

export async function connectToSpawner(options: ConnectOptions): Promise<OwnedFd> {
  const { path, wait } = options;
  const deadline = wait === true ? Infinity : wait === false ? 0 : performance.now() + wait;
  let announced = false;
  for (;;) {
    try {
      return connectSeqpacket(new TextEncoder().encode(path));
    } catch (error) {
      const retryable = error instanceof SystemError && (error.errno === ENOENT || error.errno === ECONNREFUSED);
      if (!retryable || performance.now() >= deadline) {
        const why = error instanceof Error ? error.message : String(error);
        const waited = retryable && typeof wait === "number" ? ` (gave up after waiting ${wait / 1000} s)` : "";
        throw new PortalError(retryable && wait !== false ? "timeout" : "connect", `cannot connect to spawner at '${path}': ${why}${waited}`, { cause: error });
      }
      if (!announced) {
        announced = true;
        options.onWaiting?.();
      }
      await Bun.sleep(Math.min(100, Math.max(1, deadline - performance.now())));
    }
  }
}
