// One request in protocol v1 (info-beamer's C exec-portal): four records,
// one 4-byte wait status back.
import type { OwnedFd } from "../libc/owned-fd.ts";
import { MAX_FDS_PER_RECORD, V1_MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { fromWaitStatus, type Outcome } from "../protocol/outcome.ts";
import { decodeV1Status, encodeV1FdNumbers, encodeV1Strings, V1_FD_RECORD_BYTES } from "../protocol/v1.ts";
import { PortalError } from "./errors.ts";
import { recordSender } from "./record-sender.ts";
import type { ReplySource } from "./reply-source.ts";

export interface V1Request {
  args: Uint8Array[];
  env: Uint8Array[];
  /** target -> source */
  fds: ReadonlyMap<number, number>;
}

export async function runV1(sock: OwnedFd, replies: ReplySource, request: V1Request): Promise<{ outcome: Outcome; pid: null }> {
  if (request.fds.size > MAX_FDS_PER_RECORD) throw new PortalError("usage", `protocol v1 passes at most ${MAX_FDS_PER_RECORD} fds`);
  const envRecord = encodeV1Strings(request.env, "environment");
  if (envRecord.length >= V1_MAX_RECORD_BYTES) throw new PortalError("usage", `protocol v1 allows less than ${V1_MAX_RECORD_BYTES} bytes of environment`);
  const entries = [...request.fds].sort(([a], [b]) => a - b);
  // The C protocol has no handshake to time: wait as long as the spawner takes.
  const send = recordSender(sock, Infinity);
  const closed = new PortalError("gone", "portal-spawner closed connection without a status");
  try {
    await send(envRecord);
    await send(encodeV1Strings(request.args, "argument"));
    await send(encodeV1FdNumbers(entries.map(([target]) => target)));
    await send(new Uint8Array(V1_FD_RECORD_BYTES), entries.map(([, source]) => source));
  } catch (error) {
    // v1 has no refusal record: a spawner that hangs up early (a refusal, as
    // after the env record for a peer it does not allow) reads the same as
    // one that hangs up after the request.
    if (error instanceof PortalError && error.failure === "gone") throw closed;
    throw error;
  }
  const reply = await replies.rest(4);
  if (reply.length === 0) throw closed;
  try {
    return { outcome: fromWaitStatus(decodeV1Status(reply)), pid: null };
  } catch (error) {
    throw new PortalError("protocol", `bad reply from v1 spawner: ${(error as Error).message}`, { cause: error });
  }
}
