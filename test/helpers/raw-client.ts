// A client that sends whatever bytes and fds a test gives it, in whatever
// order, with none of the real client's checks: for refusals, fuzzing and
// faults. Built on the project's own seqpacket layer; replies are awaited
// through the FdWatcher, so many raw clients can run at once in one test.
import { ECONNRESET, EPIPE } from "../../src/libc/errno-values.ts";
import { SystemError } from "../../src/libc/system-error.ts";
import { closeAll, type OwnedFd } from "../../src/libc/owned-fd.ts";
import { setSendTimeout, shutdownWrite } from "../../src/libc/socket.ts";
import { connectSeqpacket, sendRecord } from "../../src/fdpass/seqpacket.ts";
import { RecordReader } from "../../src/fdpass/record-reader.ts";
import {
  decodeOutcome, decodeRecord, decodeRefused, encodeFdTargets, encodeHello, encodeRecord, encodeStart, joinNulTerminated, RecordType,
  type WireRecord,
} from "../../src/protocol/v2.ts";
import type { Outcome } from "../../src/protocol/outcome.ts";

export type SendResult = "sent" | "closed";

export type Reply =
  | { kind: "record"; data: Uint8Array }
  | { kind: "eof" }
  /**
   * The spawner closed while our records were still unread on its side. The
   * kernel says so once, ahead of any replies still queued: read on.
   */
  | { kind: "reset" }
  | { kind: "timeout" };

export class RawClient {
  readonly #reader: RecordReader;
  /** How often a read reported ECONNRESET (the spawner closed with our records unread). */
  resets = 0;

  private constructor(readonly sock: OwnedFd) {
    this.#reader = new RecordReader(sock);
  }

  /** Connects (blocking) and bounds every later send to `sendTimeoutMs`, so a spawner that stops reading fails the test instead of hanging it. */
  static connect(path: string, sendTimeoutMs = 20_000): RawClient {
    const sock = connectSeqpacket(Buffer.from(path));
    setSendTimeout(sock, sendTimeoutMs);
    return new RawClient(sock);
  }

  /** One record with `fds` attached. "closed" when the spawner has already hung up. */
  send(data: Uint8Array, fds: readonly number[] = []): SendResult {
    try {
      if (!sendRecord(this.sock, data, fds)) throw new Error("send timed out: the spawner stopped reading");
      return "sent";
    } catch (error) {
      if (error instanceof SystemError && (error.errno === EPIPE || error.errno === ECONNRESET)) return "closed";
      throw error;
    }
  }

  /** Half-closes: the spawner reads end-of-file, we can still read its replies. */
  hangUp(): void {
    shutdownWrite(this.sock);
  }

  /** The next reply record, end of file, or "timeout" after `timeoutMs`. */
  async next(timeoutMs: number): Promise<Reply> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
    try {
      const result = await Promise.race([this.#reader.next(64 * 1024, 0), timeout]);
      if (result === "timeout") {
        this.#reader.cancel();
        return { kind: "timeout" };
      }
      if (result.kind === "record") {
        closeAll(result.fds);
        return { kind: "record", data: result.data };
      }
      if (result.kind === "truncated") throw new Error(`spawner sent a reply of ${result.bytes} bytes`);
      return { kind: "eof" };
    } catch (error) {
      if (error instanceof SystemError && error.errno === ECONNRESET) return { kind: "reset" };
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Every reply until the spawner closes; throws if it does not close within `timeoutMs`. */
  async repliesUntilClose(timeoutMs: number): Promise<Uint8Array[]> {
    const deadline = performance.now() + timeoutMs;
    const records: Uint8Array[] = [];
    for (;;) {
      const reply = await this.next(Math.max(1, deadline - performance.now()));
      if (reply.kind === "record") records.push(reply.data);
      else if (reply.kind === "timeout") throw new Error(`spawner did not close the connection within ${timeoutMs} ms (got ${records.length} replies)`);
      // The kernel reports the reset before records still queued for us; reading on delivers them.
      else if (reply.kind === "reset") this.resets++;
      else return records;
    }
  }

  close(): void {
    this.#reader.cancel();
    this.sock.close();
  }
}

/** v2 replies decoded; throws on anything that is not a well-formed record. */
export function decodeReplies(replies: readonly Uint8Array[]): WireRecord[] {
  return replies.map((r) => decodeRecord(r));
}

export interface V2Ending {
  ack: boolean;
  startedPid: number | null;
  outcome: Outcome | null;
  refused: { code: number; reason: string } | null;
}

/**
 * What a v2 conversation came to. Throws when the replies break the protocol:
 * unknown types, a record after the final one, or two final records.
 */
export function summarizeV2(replies: readonly Uint8Array[]): V2Ending {
  const ending: V2Ending = { ack: false, startedPid: null, outcome: null, refused: null };
  let final = false;
  for (const record of decodeReplies(replies)) {
    if (final) throw new Error(`record type 0x${record.type.toString(16)} after the final reply`);
    switch (record.type) {
      case RecordType.HelloAck:
        if (ending.ack || ending.startedPid !== null) throw new Error("HELLO_ACK out of place");
        ending.ack = true;
        break;
      case RecordType.Started:
        if (!ending.ack || ending.startedPid !== null) throw new Error("STARTED out of place");
        ending.startedPid = new DataView(record.payload.buffer, record.payload.byteOffset).getUint32(0, true);
        break;
      case RecordType.Exited:
      case RecordType.SpawnFailed:
        ending.outcome = decodeOutcome(record);
        final = true;
        break;
      case RecordType.Refused:
        ending.refused = decodeRefused(record.payload);
        final = true;
        break;
      default:
        throw new Error(`unknown reply type 0x${record.type.toString(16)}`);
    }
  }
  return ending;
}

/**
 * Sends one complete v2 request and reads until the spawner closes, so when
 * it resolves the spawner has released everything the connection held.
 */
export async function completeRequest(socket: string, argv: readonly string[], fds: readonly number[] = [], timeoutMs = 30_000): Promise<V2Ending> {
  const enc = (s: string) => new TextEncoder().encode(s);
  const client = RawClient.connect(socket);
  try {
    client.send(encodeHello());
    client.send(encodeRecord(RecordType.Args, joinNulTerminated(argv.map(enc), "args")));
    if (fds.length > 0) client.send(encodeFdTargets(fds.map((_, i) => i)), fds);
    client.send(encodeStart({ argc: argv.length, envc: 0, fdCount: fds.length, flags: 0 }));
    return summarizeV2(await client.repliesUntilClose(timeoutMs));
  } finally {
    client.close();
  }
}
