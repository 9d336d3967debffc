// One client connection: check the peer, read the request, hand it to the
// handler, forward the client's signals and hang-up while it runs, send how
// it ended.
import { closeAll, type OwnedFd } from "../libc/owned-fd.ts";
import { RecordReader } from "../fdpass/record-reader.ts";
import { WatchCancelled } from "../fdwatch/fd-watcher.ts";
import { peerCredentials, sendRecord, type PeerCredentials } from "../fdpass/seqpacket.ts";
import { MAX_FDS_PER_RECORD, MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { toWaitStatus, type Outcome } from "../protocol/outcome.ts";
import {
  decodeRecord, decodeSignal, encodeHelloAck, encodeOutcome, encodeRefused, encodeStarted, RecordType, RefusalCode,
  VERSION,
} from "../protocol/v2.ts";
import { encodeV1Status } from "../protocol/v1.ts";
import { signalName, SIGRTMAX } from "../process/signals.ts";
import { readRequest, RequestRefused, type RequestLimits } from "./read-request.ts";
import { PortalRequest, Refusal, type Handler, type HandlerResult } from "./request.ts";
import { checkPeer, type AccessPolicy } from "./access-policy.ts";
import type { Logger } from "./logger.ts";

/** Counts programs running at once; `tryAcquire` fails when all slots are taken. */
export interface RunSlots {
  readonly max: number;
  tryAcquire(): boolean;
  release(): void;
}

export interface ConnectionOptions extends RequestLimits {
  handler: Handler;
  log: Logger;
  access: AccessPolicy;
  slots: RunSlots;
  /** A client must deliver its whole request within this many ms. */
  requestTimeoutMs: number;
}

export async function serveConnection(sock: OwnedFd, options: ConnectionOptions): Promise<void> {
  const reader = new RecordReader(sock);
  const started = performance.now();
  let peer: PeerCredentials = { pid: 0, uid: -1, gid: -1 };
  let protocol: 1 | 2 = 1;
  let timedOut = false;
  let holdsSlot = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    reader.cancel();
  }, options.requestTimeoutMs);
  try {
    peer = peerCredentials(sock);
    const denied = checkPeer(options.access, peer);
    const raw = await readRequest(reader, options, {
      admit: (p) => {
        protocol = p;
        if (denied) throw new Refusal(denied);
      },
      sendAck: () =>
        send(sock, encodeHelloAck({ version: VERSION, maxRecordBytes: MAX_RECORD_BYTES, maxRequestBytes: options.maxRequestBytes, maxFds: options.maxFds })),
    });
    clearTimeout(deadline);
    const request = new PortalRequest(raw.protocol, raw.args, raw.env, raw.cwd, raw.fds, peer, raw.grants);
    if (!options.slots.tryAcquire()) {
      closeAll([...raw.fds.values(), ...raw.grants.map((g) => g.fd)]);
      throw new RequestRefused(`busy: ${options.slots.max} programs are running (the spawner's --max-children)`, true);
    }
    holdsSlot = true;
    const outcome = await runHandler(sock, reader, request, options);
    const what = request.argStrings().join(" ");
    const ms = (performance.now() - started).toFixed(1);
    if (request.disconnected.aborted) {
      options.log.debug(`peer pid ${peer.pid}: '${what}' ${describe(outcome)} after the client went away (${ms} ms)`);
      return;
    }
    send(sock, raw.protocol === 2 ? encodeOutcome(outcome) : encodeV1Status(toWaitStatus(outcome)));
    options.log.debug(`peer pid ${peer.pid}: '${what}' ${describe(outcome)} (${ms} ms, protocol v${raw.protocol})`);
  } catch (error) {
    if (error instanceof WatchCancelled && !timedOut) return;
    const reason = timedOut
      ? `request not complete within ${options.requestTimeoutMs} ms`
      : error instanceof Error
        ? error.message
        : String(error);
    options.log.warn(`refused peer pid ${peer.pid} uid ${peer.uid}: ${reason}`);
    // A v1 client has no refusal record: it just sees the connection close.
    if (protocol === 2) send(sock, encodeRefused(refusalCode(error, timedOut), reason));
  } finally {
    clearTimeout(deadline);
    if (holdsSlot) options.slots.release();
    reader.cancel();
    sock.close();
  }
}

function refusalCode(error: unknown, timedOut: boolean): RefusalCode {
  if (timedOut) return RefusalCode.Limit;
  if (error instanceof Refusal) return RefusalCode.NotAllowed;
  if (error instanceof RequestRefused) return error.limit ? RefusalCode.Limit : RefusalCode.Protocol;
  return RefusalCode.Unavailable;
}

/**
 * Runs the handler while a second loop keeps reading the connection: SIGNAL
 * records go to the request, and end-of-file (or anything malformed) means
 * the client is gone. Fds the handler did not take are closed afterwards.
 */
async function runHandler(sock: OwnedFd, reader: RecordReader, request: PortalRequest, options: ConnectionOptions): Promise<Outcome> {
  request._wire((pid) => {
    if (request.protocol === 2) send(sock, encodeStarted(pid));
  });
  let handlerDone = false;
  const watching = (async () => {
    while (!handlerDone) {
      const result = await reader.next(MAX_RECORD_BYTES, MAX_FDS_PER_RECORD);
      if (result.kind === "record") closeAll(result.fds);
      if (result.kind === "eof") return request._disconnect("client hung up");
      if (result.kind === "truncated") return request._disconnect("client sent an oversized record");
      if (request.protocol === 1) return request._disconnect("v1 client sent data after its request");
      let signal: number;
      try {
        const record = decodeRecord(result.data);
        if (record.type !== RecordType.Signal) throw new Error(`record type 0x${record.type.toString(16)}`);
        signal = decodeSignal(record.payload);
        if (signal < 1 || signal > SIGRTMAX) throw new Error(`signal ${signal}`);
      } catch (error) {
        options.log.warn(`peer pid ${request.peer.pid} broke the protocol while its program ran (${(error as Error).message}); treating it as gone`);
        return request._disconnect("client broke the protocol");
      }
      options.log.debug(`peer pid ${request.peer.pid}: forwarding ${signalName(signal)}`);
      request._signal(signal);
    }
  })().catch((error) => {
    if (!(error instanceof WatchCancelled)) request._disconnect(`connection failed: ${(error as Error).message}`);
  });
  try {
    return normalize(await options.handler(request));
  } catch (error) {
    if (error instanceof Refusal) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new Refusal(`handler failed: ${message}`);
  } finally {
    handlerDone = true;
    reader.cancel();
    await watching;
    closeAll([...request.fds.values(), ...request.grants.map((g) => g.fd)]);
  }
}

function normalize(result: HandlerResult): Outcome {
  if (typeof result === "number") {
    if (!Number.isInteger(result) || result < 0 || result > 255) throw new Refusal(`handler returned exit code ${result} (must be 0..255)`);
    return { kind: "exited", code: result };
  }
  return result;
}

/** Sends a reply record; a client that is gone or not reading is not an error worth more than a log line. */
function send(sock: OwnedFd, record: Uint8Array): void {
  try {
    sendRecord(sock, record);
  } catch {
    // EPIPE / ECONNRESET: the client went away; the caller learns it from the reader.
  }
}

export function describe(outcome: Outcome): string {
  switch (outcome.kind) {
    case "exited":
      return `exited with ${outcome.code}`;
    case "signaled":
      return `killed by ${signalName(outcome.signal)}${outcome.coreDumped ? " (core dumped)" : ""}`;
    case "spawn-failed":
      return `failed to start: ${outcome.message}`;
  }
}
