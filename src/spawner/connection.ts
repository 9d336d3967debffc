// One admitted connection: read the request, wait for a slot, hand it to the
// handler, forward the client's signals and hang-up while it waits and runs,
// send how it ended. Every fd the request brought belongs to one FdScope,
// released in one place when the connection ends, on every path.
import { FdScope, type OwnedFd } from "../libc/owned-fd.ts";
import { peerPidFd, type PeerCredentials } from "../libc/socket.ts";
import { openFile } from "../libc/file.ts";
import { O_RDONLY } from "../libc/constants.ts";
import { RecordReader } from "../fdpass/record-reader.ts";
import { sendRecord } from "../fdpass/seqpacket.ts";
import { WatchCancelled } from "../fdwatch/fd-watcher.ts";
import { MAX_FDS_PER_RECORD, MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { toWaitStatus, type Outcome } from "../protocol/outcome.ts";
import {
  decodeRecord, decodeSignal, encodeHelloAck, encodeOutcome, encodePtyMaster, encodeRefused, encodeStarted, encodeStopped,
  RecordType,
} from "../protocol/v2.ts";
import { encodeV1Status } from "../protocol/v1.ts";
import { isFatalByDefault, signalName, SIGRTMAX } from "../process/signals.ts";
import { readRequest, type RequestLimits } from "./read-request.ts";
import { processStartTicks } from "../process/start-time.ts";
import { createRequest, type Handler, type HandlerResult, type RequestController, type RequestReplies } from "./request.ts";
import { limitRefusal, Refusal, RefusalCode } from "./refusal.ts";
import type { RunQueue } from "./run-queue.ts";
import type { Logger } from "./logger.ts";

export interface ConnectionOptions extends RequestLimits {
  handler: Handler;
  log: Logger;
  queue: RunQueue;
  /** A client must deliver its whole request within this many ms. */
  requestTimeoutMs: number;
  /** Reads the peer's supplementary groups (a sandboxed program runs with them). */
  peerGroups: (sock: OwnedFd) => number[];
  /** Whether requests need the peer's groups (--sandbox). */
  wantPeerGroups: boolean;
}

/** Which process this spawner is (HELLO_ACK, revision 3): a client pipelines later requests only to the same one. */
const SELF = { pid: process.pid, startTicks: processStartTicks("self") ?? 0n };

/** The client asked, before its program started, to deliver a signal that ends a program. */
class EndedBeforeStart extends Error {
  constructor(readonly signal: number) {
    super(`client sent ${signalName(signal)} before its program started`);
  }
}

export async function serveConnection(sock: OwnedFd, peer: PeerCredentials, options: ConnectionOptions): Promise<void> {
  using scope = new FdScope();
  const reader = new RecordReader(sock);
  const began = performance.now();
  let version: 1 | 2 | 3 | null = null;
  let timedOut = false;
  let watching: Promise<void> = Promise.resolve();
  const deadline = setTimeout(() => {
    timedOut = true;
    reader.cancel();
  }, options.requestTimeoutMs);
  try {
    const fields = await readRequest(reader, options, scope, {
      // A bad HELLO is still answered with REFUSED, in revision 2's framing (which every v2 client reads).
      helloSeen: () => (version = 2),
      ack: (agreed) => {
        version = agreed as 2 | 3;
        send(sock, encodeHelloAck({ version: agreed, maxRecordBytes: MAX_RECORD_BYTES, maxRequestBytes: options.maxRequestBytes, maxFds: options.maxFds, spawner: SELF }));
      },
    });
    clearTimeout(deadline);
    version = fields.protocol;
    const peerGroups = options.wantPeerGroups ? options.peerGroups(sock) : [];
    const peerNamespace = options.wantPeerGroups ? scope.adopt(peerNamespaceOf(sock, peer)) : null;
    const state = { queued: false };
    const controller = createRequest({ ...fields, peer, peerGroups, peerNamespace }, replies(sock, fields.protocol));
    const beforeStart = new AbortController();
    watching = watchConnection(reader, controller, fields.protocol, options.log, beforeStart, state);
    const outcome = await runWhenSlotFree(controller, beforeStart, options, state);
    const what = controller.request.argStrings().join(" ");
    const ms = (performance.now() - began).toFixed(1);
    if (controller.request.disconnected.aborted) {
      options.log.debug(`peer pid ${peer.pid}: '${what}' ${describe(outcome)} after the client went away (${ms} ms)`);
      return;
    }
    send(sock, fields.protocol === 1 ? encodeV1Status(toWaitStatus(outcome)) : encodeOutcome(outcome));
    options.log.debug(`peer pid ${peer.pid}: '${what}' ${describe(outcome)} (${ms} ms, protocol ${fields.protocol === 1 ? "v1" : `v2 revision ${fields.protocol}`})`);
  } catch (error) {
    if (error instanceof WatchCancelled && !timedOut) {
      options.log.debug(`peer pid ${peer.pid}: connection ended before a reply (${error.message})`);
      return;
    }
    const refusal = timedOut ? limitRefusal(`request not complete within ${options.requestTimeoutMs} ms`) : asRefusal(error);
    if (refusal.code === RefusalCode.Internal) options.log.error(`peer pid ${peer.pid}: ${refusal.message}: ${(refusal.cause as Error | undefined)?.stack ?? ""}`);
    else options.log.warn(`refused peer pid ${peer.pid} uid ${peer.uid}: ${refusal.message}`);
    // A v1 client has no refusal record: it just sees the connection close.
    if (version !== null && version !== 1) send(sock, encodeRefused(refusal.code, refusal.message));
  } finally {
    clearTimeout(deadline);
    reader.cancel();
    await watching;
    sock.close();
  }
}

/**
 * Waits for a run slot (in arrival order), then runs the handler. A client
 * that hangs up while waiting leaves the queue; one that sends a signal
 * that would end a program gets that death as its outcome, and nothing runs.
 */
async function runWhenSlotFree(
  controller: RequestController,
  beforeStart: AbortController,
  options: ConnectionOptions,
  state: { queued: boolean },
): Promise<Outcome> {
  const { request } = controller;
  request.disconnected.addEventListener("abort", () => beforeStart.abort(request.disconnected.reason), { once: true });
  let release: () => void;
  const { queue } = options;
  if (queue.mustWait(request.peer.uid)) {
    options.log.debug(`peer pid ${request.peer.pid}: waiting for a slot (${queue.running} running, ${queue.waiting} waiting before it)`);
  }
  try {
    state.queued = true;
    release = await queue.acquire(beforeStart.signal, request.peer.uid);
  } catch (error) {
    if (error instanceof EndedBeforeStart) return { kind: "signaled", signal: error.signal, coreDumped: false };
    if (request.disconnected.aborted) throw new WatchCancelled(-1);
    throw error;
  } finally {
    state.queued = false;
  }
  try {
    // A fatal signal that came while the slot was being handed over (after
    // acquire resolved, before we resumed) ends the request just the same.
    const reason: unknown = beforeStart.signal.reason;
    if (beforeStart.signal.aborted && reason instanceof EndedBeforeStart) return { kind: "signaled", signal: reason.signal, coreDumped: false };
    if (request.disconnected.aborted) throw new WatchCancelled(-1);
    return await runHandler(controller, options.handler);
  } finally {
    release();
  }
}

async function runHandler(controller: RequestController, handler: Handler): Promise<Outcome> {
  try {
    return normalize(await handler(controller.request));
  } catch (error) {
    throw asRefusal(error, "handler failed");
  }
}

/**
 * Keeps reading the connection once the request is complete: SIGNAL records
 * go to the request, and end-of-file (or anything malformed) means the
 * client is gone. Before the program starts, a signal that would end it
 * cancels the request instead.
 */
async function watchConnection(
  reader: RecordReader,
  controller: RequestController,
  protocol: 1 | 2 | 3,
  log: Logger,
  beforeStart: AbortController,
  state: { queued: boolean },
): Promise<void> {
  const { request } = controller;
  try {
    for (;;) {
      const result = await reader.next(MAX_RECORD_BYTES, MAX_FDS_PER_RECORD);
      if (result.kind === "record") for (const fd of result.fds) fd.close();
      if (result.kind === "eof") return controller.disconnect("client hung up");
      if (result.kind === "truncated") return controller.disconnect("client sent an oversized record");
      if (protocol === 1) return controller.disconnect("v1 client sent data after its request");
      let signal: number;
      let group: boolean;
      let background: boolean;
      try {
        const record = decodeRecord(result.data);
        if (record.type !== RecordType.Signal) throw new Error(`record type 0x${record.type.toString(16)}`);
        ({ signal, group, background } = decodeSignal(record.payload));
        if (signal < 1 || signal > SIGRTMAX) throw new Error(`signal ${signal}`);
        if ((!group || background) && protocol < 3) throw new Error("SIGNAL flags need revision 3");
      } catch (error) {
        log.warn(`peer pid ${request.peer.pid} broke the protocol while its request was open (${(error as Error).message}); treating it as gone`);
        return controller.disconnect("client broke the protocol");
      }
      log.debug(`peer pid ${request.peer.pid}: forwarding ${signalName(signal)}${group ? "" : " to the program alone"}`);
      // A request still waiting for a slot that gets a fatal signal is as good as killed by it.
      if (state.queued && isFatalByDefault(signal)) beforeStart.abort(new EndedBeforeStart(signal));
      else controller.signal(signal, group, background);
    }
  } catch (error) {
    if (!(error instanceof WatchCancelled)) controller.disconnect(`connection failed: ${(error as Error).message}`);
  }
}

/** A pidfd of the peer (Linux 6.5), else its mount namespace by /proc (it is connected, so its pid is still its own). */
function peerNamespaceOf(sock: OwnedFd, peer: PeerCredentials): OwnedFd {
  return peerPidFd(sock) ?? openFile(`/proc/${peer.pid}/ns/mnt`, O_RDONLY);
}

function replies(sock: OwnedFd, protocol: 1 | 2 | 3): RequestReplies {
  return {
    started(pid) {
      if (protocol !== 1) send(sock, encodeStarted(pid));
    },
    stopped(signal) {
      if (protocol >= 3) send(sock, encodeStopped(signal));
    },
    ptyMaster(master) {
      if (protocol >= 3) send(sock, encodePtyMaster(), [master.fd]);
    },
  };
}

function normalize(result: HandlerResult): Outcome {
  if (typeof result === "number") {
    if (!Number.isInteger(result) || result < 0 || result > 255) throw new Refusal(`handler returned exit code ${result} (must be 0..255)`, { code: RefusalCode.Internal });
    return { kind: "exited", code: result };
  }
  return result;
}

/** Anything thrown becomes a Refusal: our own keep their code; anything else is an internal error. */
function asRefusal(error: unknown, what = "internal error"): Refusal {
  if (error instanceof Refusal) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new Refusal(`${what}: ${message}`, { code: RefusalCode.Internal, cause: error });
}

/** Sends a reply record; a client that is gone or not reading is not an error worth more than a log line. */
function send(sock: OwnedFd, record: Uint8Array, fds: readonly number[] = []): void {
  try {
    sendRecord(sock, record, fds);
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
