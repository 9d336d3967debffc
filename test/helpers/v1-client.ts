// A protocol v1 client built from the spec page (exec-portal-v1.md), not
// from src/protocol: it sends the four records the C portal-exec sends and
// reads back the 4-byte wait status, so tests can check our spawner against
// the original wire format byte by byte. Only the socket primitives come
// from src/fdpass.
import { connectSeqpacket, sendRecord } from "../../src/fdpass/seqpacket.ts";
import { RecordReader } from "../../src/fdpass/record-reader.ts";
import { WatchCancelled } from "../../src/fdwatch/fd-watcher.ts";
import type { OwnedFd } from "../../src/libc/owned-fd.ts";

export type Text = string | Uint8Array;

const encoder = new TextEncoder();
const bytesOf = (item: Text) => (typeof item === "string" ? encoder.encode(item) : item);

/** The env and args records: every item followed by one NUL byte, concatenated. */
export function nulTerminatedRecord(items: readonly Text[]): Uint8Array {
  const parts = items.map(bytesOf);
  const record = new Uint8Array(parts.reduce((n, p) => n + p.length + 1, 0));
  let offset = 0;
  for (const part of parts) {
    record.set(part, offset);
    offset += part.length + 1;
  }
  return record;
}

/** The fd-number record: C ints in the machine's own byte order. */
export function fdNumberRecord(numbers: readonly number[]): Uint8Array {
  return new Uint8Array(Int32Array.from(numbers).buffer);
}

/** The fd record's data: two bytes whose content does not matter. */
export const FD_RECORD_DATA = new Uint8Array([0x66, 0x64]);

/** The C environment limit: the env record stays below this. */
export const MAX_ENV_RECORD_BYTES = 65536;

export interface V1Request {
  /** KEY=VALUE entries; the C client sends its whole environment minus PORTAL_NAME and PORTAL_ONE_SHOT. */
  env: readonly Text[];
  /** The C client's argv[1..]. */
  args: readonly Text[];
  /** fd number the program gets -> fd of this process attached for it (the C client uses the same number). */
  fds: ReadonlyMap<number, number>;
  /** Attach only the first `attach` fds while listing all of them (a broken client). Default: all. */
  attach?: number;
}

/** The wait status fields, as WIFEXITED/WEXITSTATUS/WTERMSIG read them. */
export function exitStatusOf(status: number): number | null {
  return (status & 0x7f) === 0 ? (status >> 8) & 0xff : null;
}

export function termSignalOf(status: number): number | null {
  const signal = status & 0x7f;
  return signal !== 0 && signal !== 0x7f ? signal : null;
}

export class V1Client {
  readonly #sock: OwnedFd;
  readonly #reader: RecordReader;

  private constructor(sock: OwnedFd) {
    this.#sock = sock;
    this.#reader = new RecordReader(sock);
  }

  static connect(path: string): V1Client {
    return new V1Client(connectSeqpacket(Buffer.from(path)));
  }

  /** Sends the four records, each as one SEQPACKET message. */
  send(request: V1Request): void {
    const env = nulTerminatedRecord(request.env);
    if (env.length >= MAX_ENV_RECORD_BYTES) throw new RangeError(`v1 env record of ${env.length} bytes is too long`);
    // The C client probes fds upwards, so its list is ascending.
    const entries = [...request.fds].sort(([a], [b]) => a - b);
    const attached = entries.slice(0, request.attach ?? entries.length).map(([, source]) => source);
    this.#send(env);
    this.#send(nulTerminatedRecord(request.args));
    this.#send(fdNumberRecord(entries.map(([number]) => number)));
    this.#send(FD_RECORD_DATA, attached);
  }

  /**
   * The raw wait status the spawner sends, or null if it closed the
   * connection without one (how a v1 spawner refuses).
   */
  async status(): Promise<number | null> {
    const reply = await this.#reader.next(64, 0);
    if (reply.kind === "eof") return null;
    if (reply.kind === "truncated") throw new Error(`v1 status record too long (${reply.bytes} bytes)`);
    if (reply.data.length !== 4) throw new Error(`v1 status record must be 4 bytes, got ${reply.data.length}`);
    return new Int32Array(reply.data.slice().buffer)[0]!;
  }

  /** Hangs up (mid-run: the spawner must kill the program). */
  close(): void {
    this.#reader.cancel();
    this.#sock.close();
  }

  #send(data: Uint8Array, fds: readonly number[] = []): void {
    if (!sendRecord(this.#sock, data, fds)) throw new Error("v1 client: spawner is not reading");
  }
}

/** Connects, sends `request`, and resolves with the wait status (null: closed without one). */
export async function v1Exec(socket: string, request: V1Request): Promise<number | null> {
  const client = V1Client.connect(socket);
  try {
    client.send(request);
    return await client.status();
  } catch (error) {
    if (error instanceof WatchCancelled) return null;
    throw error;
  } finally {
    client.close();
  }
}
