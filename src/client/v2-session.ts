// One request in protocol v2: the handshake (or a pipelined start, for a
// spawner this process already knows), the request records, then the
// replies until the program's outcome.
import { closeAll, type OwnedFd } from "../libc/owned-fd.ts";
import { MAX_FDS_PER_RECORD } from "../protocol/limits.ts";
import type { Outcome } from "../protocol/outcome.ts";
import { encodeContextPayload, type ProcessContext } from "../protocol/context.ts";
import { encodeSchedulingPayload } from "../protocol/scheduling.ts";
import { encodePtyPayload, type PtyRequest } from "../protocol/pty.ts";
import {
  chunks, decodeHelloAck, decodeOutcome, decodeRefused, decodeStarted, decodeStopped, encodeFdTargets, encodeGrant, encodeHello,
  encodeRecord, encodeStart, joinNulTerminated, ProtocolError, RecordType, VERSION, VERSION_MIN, type HelloAck, type WireRecord,
} from "../protocol/v2.ts";
import type { OpenGrant } from "./grants.ts";
import { PortalError } from "./errors.ts";
import { recordSender, type RecordSender } from "./record-sender.ts";
import { nextRecord, ReplyTimeout, type ReplySource } from "./reply-source.ts";
import { knownSpawner, rememberSpawner } from "./spawner-identity.ts";

export interface V2Request {
  path: string;
  args: Uint8Array[];
  env: Uint8Array[];
  cwd: Uint8Array | null;
  /** The same directory as an fd (revision 3), for a spawner that cannot reach `cwd` by path. */
  cwdFd: OwnedFd | null;
  /** target -> source */
  fds: ReadonlyMap<number, number>;
  grants: readonly OpenGrant[];
  /** Revision 3: what else the program inherits; dropped for a revision 2 spawner. */
  context: ProcessContext | null;
  /** Revision 3: ask for a terminal. */
  pty: PtyRequest | null;
  handshakeTimeoutMs: number;
}

export interface V2Events {
  /** The request is complete: signals may be sent from now on. */
  sent(version: number): void;
  started(pid: number): void;
  stopped(signal: number): void;
  ptyMaster(master: OwnedFd): void;
}

/**
 * One v2 conversation. `body` is called once HELLO is out, so that whatever
 * the caller still has to gather for the request overlaps the spawner's
 * answer.
 */
export async function runV2(
  sock: OwnedFd, replies: ReplySource, head: Pick<V2Request, "path" | "handshakeTimeoutMs">, body: () => Omit<V2Request, "path" | "handshakeTimeoutMs">, events: V2Events,
): Promise<{ outcome: Outcome; pid: number | null }> {
  const send = recordSender(sock, head.handshakeTimeoutMs);
  // A spawner this process already talked to gets the request right behind
  // the HELLO: no round trip. A first contact waits for HELLO_ACK, because a
  // v1 spawner would read a pipelined request as its own records.
  const known = knownSpawner(head.path, sock);
  await send(encodeHello());
  const request: V2Request = { ...head, ...body() };
  const ack = known ?? (await readAck(replies, request.handshakeTimeoutMs));
  rememberSpawner(request.path, ack);
  checkLimits(ack, request);
  if (request.pty && ack.version < 3) throw new PortalError("usage", "this spawner is too old for a terminal (it speaks protocol revision 2)");
  try {
    await sendBody(send, request, ack.version);
  } catch (error) {
    // Pipelined into a spawner that had already refused us: its reason is queued ahead.
    if (known && error instanceof PortalError && error.failure === "gone") await readAck(replies, request.handshakeTimeoutMs);
    throw error;
  }
  if (known) await readAck(replies, request.handshakeTimeoutMs);
  events.sent(ack.version);

  let pid: number | null = null;
  for (;;) {
    const reply = await nextRecord(replies);
    if (!reply) throw new PortalError("gone", "the spawner closed the connection before the program ended");
    const { record, fds } = reply;
    try {
      switch (record.type) {
        case RecordType.Started:
          pid = decodeStarted(record.payload);
          events.started(pid);
          continue;
        case RecordType.Stopped:
          events.stopped(decodeStopped(record.payload));
          continue;
        case RecordType.PtyMaster: {
          const master = fds.shift();
          if (!master) throw new ProtocolError("PTY_MASTER carries no fd");
          events.ptyMaster(master);
          continue;
        }
        case RecordType.Refused:
          throw refused(record.payload);
        default:
          return { outcome: decodeOutcome(record), pid };
      }
    } catch (error) {
      if (error instanceof ProtocolError) throw new PortalError("protocol", `bad reply from spawner: ${error.message}`, { cause: error });
      throw error;
    } finally {
      closeAll(fds);
    }
  }
}

async function readAck(replies: ReplySource, handshakeMs: number): Promise<HelloAck> {
  let reply: { record: WireRecord; fds: OwnedFd[] } | null;
  try {
    reply = await nextRecord(replies, handshakeMs);
  } catch (error) {
    if (error instanceof ReplyTimeout) {
      throw new PortalError(
        "protocol",
        `the spawner did not answer protocol v2 within ${handshakeMs} ms; if it is the C exec-portal spawner, use --protocol 1 (or PORTAL_PROTOCOL=1)`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!reply) throw new PortalError("gone", "the spawner closed the connection during the handshake");
  closeAll(reply.fds);
  const { record } = reply;
  if (record.type === RecordType.Refused) throw refused(record.payload);
  if (record.type !== RecordType.HelloAck) throw new PortalError("protocol", `expected HELLO_ACK, got record type 0x${record.type.toString(16)}`);
  const ack = decodeHelloAck(record.payload);
  if (ack.version < VERSION_MIN || ack.version > VERSION) throw new PortalError("protocol", `spawner chose protocol version ${ack.version}`);
  return ack;
}

function checkLimits(ack: HelloAck, request: V2Request): void {
  if (ack.version < 3 && request.grants.some((g) => g.symlink || g.objectWritable || g.socket)) {
    throw new PortalError("usage", `symbolic link, object and socket grants need protocol revision 3; the spawner speaks ${ack.version}`);
  }
  const fdCount = request.fds.size + request.grants.length;
  if (fdCount > ack.maxFds) {
    const which = request.grants.length > 0 ? ` (${request.grants.length} of them grants)` : "";
    throw new PortalError("refused", `the spawner accepts at most ${ack.maxFds} fds, this request has ${fdCount}${which}`, { code: 2 });
  }
  let bytes = request.cwd?.length ?? 0;
  for (const item of [...request.args, ...request.env]) bytes += item.length + 1;
  if (bytes > ack.maxRequestBytes) {
    throw new PortalError("refused", `the request has ${bytes} bytes of arguments and environment; the spawner accepts at most ${ack.maxRequestBytes}`, { code: 2 });
  }
}

/** Everything after HELLO: ARGS, ENV, CWD, FDS, GRANT, CONTEXT and PTY records, then START. */
async function sendBody(send: RecordSender, request: V2Request, version: number): Promise<void> {
  for (const part of chunks(joinNulTerminated(request.args, "argument"))) await send(encodeRecord(RecordType.Args, part));
  for (const part of chunks(joinNulTerminated(request.env, "environment"))) await send(encodeRecord(RecordType.Env, part));
  if (request.cwd) await send(encodeRecord(RecordType.Cwd, request.cwd), version >= 3 && request.cwdFd ? [request.cwdFd.fd] : []);
  const entries = [...request.fds];
  for (let i = 0; i < entries.length; i += MAX_FDS_PER_RECORD) {
    const batch = entries.slice(i, i + MAX_FDS_PER_RECORD);
    await send(encodeFdTargets(batch.map(([target]) => target)), batch.map(([, source]) => source));
  }
  for (const grant of request.grants) await send(encodeGrant(grant), [grant.fd.fd]);
  if (version >= 3 && request.context) await send(encodeRecord(RecordType.Context, encodeContextPayload(request.context)));
  if (version >= 4 && request.context?.scheduling) await send(encodeRecord(RecordType.Scheduling, encodeSchedulingPayload(request.context.scheduling)));
  if (version >= 3 && request.pty) await send(encodeRecord(RecordType.Pty, encodePtyPayload(request.pty)));
  await send(encodeStart({ argc: request.args.length, envc: request.env.length, fdCount: request.fds.size, flags: 0 }));
}

function refused(payload: Uint8Array): PortalError {
  const { code, reason } = decodeRefused(payload);
  return new PortalError("refused", `the spawner refused the request: ${reason}`, { code });
}
