// Where a client's replies come from: the FdWatcher's poll thread
// (watched-replies.ts, for a client inside a longer-lived program) or
// poll(2) on the client's own thread (polled-replies.ts, for portal-exec).
import type { OwnedFd } from "../libc/owned-fd.ts";
import { closeAll } from "../libc/owned-fd.ts";
import { decodeRecord, type WireRecord } from "../protocol/v2.ts";
import { concatBytes } from "../protocol/bytes.ts";

export class ReplyTimeout extends Error {
  constructor(ms: number) {
    super(`no reply within ${ms} ms`);
    this.name = "ReplyTimeout";
  }
}

/** One record as it arrived, with the fds it carried (now the caller's). */
export interface RawReply {
  data: Uint8Array;
  fds: OwnedFd[];
}

export interface ReplySource {
  /** The next record, or null at end of file; rejects with ReplyTimeout after `timeoutMs`. */
  nextRaw(timeoutMs?: number): Promise<RawReply | null>;
  /** Everything until end of file, undecoded (protocol v1's 4-byte status). */
  rest(limit: number): Promise<Uint8Array>;
  close(): void;
}

/** The next v2 record and its fds, or null at end of file. A record that does not decode has its fds closed. */
export async function nextRecord(source: ReplySource, timeoutMs?: number): Promise<{ record: WireRecord; fds: OwnedFd[] } | null> {
  const reply = await source.nextRaw(timeoutMs);
  if (!reply) return null;
  try {
    return { record: decodeRecord(reply.data), fds: reply.fds };
  } catch (error) {
    closeAll(reply.fds);
    throw error;
  }
}

/** Everything until end of file (or past `limit` bytes), undecoded, with any fds closed: ReplySource.rest. */
export async function restOf(source: ReplySource, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (let reply = await source.nextRaw(); reply && total <= limit; reply = await source.nextRaw()) {
    closeAll(reply.fds);
    chunks.push(reply.data);
    total += reply.data.length;
  }
  return concatBytes(chunks);
}
