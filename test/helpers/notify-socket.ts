// The receiving end of sd_notify, as a service manager would hold it: an
// AF_UNIX datagram socket bound at a path (or an abstract name with '@').
import type { OwnedFd } from "../../src/libc/owned-fd.ts";
import { bindUnix, unixSocket } from "../../src/libc/socket.ts";
import { SOCK_DGRAM } from "../../src/libc/constants.ts";
import { RecordReader } from "../../src/fdpass/record-reader.ts";

export class NotifySocket {
  readonly #sock: OwnedFd;
  readonly #reader: RecordReader;

  /** `address` as NOTIFY_SOCKET spells it: a path, or '@name' for the abstract namespace. */
  constructor(readonly address: string) {
    this.#sock = unixSocket(SOCK_DGRAM);
    try {
      bindUnix(this.#sock, Buffer.from(address.startsWith("@") ? `\0${address.slice(1)}` : address));
    } catch (error) {
      this.#sock.close();
      throw error;
    }
    this.#reader = new RecordReader(this.#sock);
  }

  /** The next datagram as text; rejects after `timeoutMs`. */
  async next(timeoutMs: number): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no sd_notify datagram on ${this.address} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const result = await Promise.race([this.#reader.next(4096, 0), timeout]);
      if (result.kind !== "record") throw new Error(`unexpected ${result.kind} on the notify socket`);
      return new TextDecoder().decode(result.data);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#reader.cancel();
    this.#sock.close();
  }
}
