// The client as a library: connect, send one request, relay signals, and
// report how the program ended. The CLI (portal-exec) is a thin shell on this.
import { defaultSocketPath } from "../protocol/socket-name.ts";
import { ECONNREFUSED, ENOENT, EPIPE, ECONNRESET } from "../libc/errno-values.ts";
import { SystemError } from "../libc/system-error.ts";
import type { OwnedFd } from "../libc/owned-fd.ts";
import { MSG_DONTWAIT } from "../libc/constants.ts";
import { connectSeqpacket, peerCredentials, sendRecord } from "../fdpass/seqpacket.ts";
import { MAX_FDS_PER_RECORD, V1_MAX_RECORD_BYTES } from "../protocol/limits.ts";
import { exitCodeForSpawnFailure, fromWaitStatus, type Outcome } from "../protocol/outcome.ts";
import {
  chunks, decodeHelloAck, decodeOutcome, decodeRefused, decodeStarted, encodeFdTargets, encodeHello, encodeRecord,
  encodeGrant, encodeSignal, encodeStart, joinNulTerminated, ProtocolError, RecordType, VERSION, VERSION_MIN, type HelloAck,
} from "../protocol/v2.ts";
import { closeAll } from "../libc/owned-fd.ts";
import { openGrants, type GrantInput, type OpenGrant } from "./grants.ts";
import { decodeV1Status, encodeV1FdNumbers, encodeV1Strings, V1_FD_RECORD_BYTES } from "../protocol/v1.ts";
import { parseSignal, signalName } from "../process/signals.ts";
import { PortalError } from "./errors.ts";
import { nextRecord, ReplyTimeout, type ReplySource } from "./reply-source.ts";
import { WatchedReplies } from "./watched-replies.ts";
import { PolledReplies } from "./polled-replies.ts";
import { envEntries, fdMap, isControlVariable, toBytes, type Bytes, type EnvInput, type FdInput } from "./request-input.ts";

// Not Buffer: its first use costs a cold client ~0.5 ms.
const encoder = new TextEncoder();

export interface ExecOptions {
  /** Socket path. Default: env PORTAL_NAME, else ./portal.sock. */
  socket?: string;
  /** Arguments for the spawner (appended to its own PROGRAM, if it has one). */
  args: readonly Bytes[];
  /** Environment for the program. Default: this process's, without PORTAL_* variables. */
  env?: EnvInput;
  /** Working directory for the program. Default: this process's. null sends none. */
  cwd?: Bytes | null;
  /** Fds to pass: target -> source (an array passes those numbers as they are). Default: 0, 1, 2. */
  fds?: FdInput;
  /**
   * Files and directories to grant a sandboxing spawner (--sandbox): each is
   * opened here, as this caller, and passed as an fd; one this caller cannot
   * open (or read, or write for `writable`) fails before anything is sent.
   */
  grants?: readonly GrantInput[];
  /** 2 (default) or 1 to talk to the C exec-portal spawner. */
  protocol?: 1 | 2;
  /** Wait for the socket to appear: false (default) fails at once; true waits; a number waits that many ms. */
  waitForSocket?: boolean | number;
  /** Called once if the client has to wait for the socket. */
  onWaiting?: () => void;
  /**
   * Wait for replies in poll(2) on this thread instead of through the event
   * loop: ~0.5-1 ms faster to start, but timers and I/O of this thread wait
   * too (signal handlers still run at once). For a process that only runs
   * this one request, as portal-exec does. Default false.
   */
  waitInThread?: boolean;
  /** How long a v2 spawner may take to answer the handshake, in ms. Default 3000. */
  handshakeTimeoutMs?: number;
}

export interface ExecResult {
  /** The program's exit code 0-255, or null if it was killed by a signal or never started. */
  exitCode: number | null;
  /** The name of the signal that killed it ("SIGTERM"), or null. */
  signal: string | null;
  signalNumber: number | null;
  /** The program could not be started (see `outcome.message`). */
  failed: boolean;
  /** The code a shell-style caller should exit with: code, 128+signal, 127/126/125 for spawn failures. */
  shellExitCode: number;
  outcome: Outcome;
  /** The program's pid inside the spawner's pid namespace (v2 only). */
  pid: number | null;
  protocol: 1 | 2;
  durationMs: number;
}

export interface RemoteProcess {
  /** Resolves with the pid once the program started (null for v1 or when it never started). */
  readonly pid: Promise<number | null>;
  readonly result: Promise<ExecResult>;
  /** True from the moment the request is complete until the outcome arrives. */
  readonly running: boolean;
  /** Forwards a signal to the program's process group. False if it cannot be delivered now. */
  kill(signal?: number | string): boolean;
}

/** Runs a program through the spawner and resolves with how it ended. */
export function exec(options: ExecOptions): Promise<ExecResult> {
  return start(options).result;
}

export function start(options: ExecOptions): RemoteProcess {
  let sock: OwnedFd | null = null;
  let running = false;
  let resolvePid!: (pid: number | null) => void;
  const pid = new Promise<number | null>((resolve) => (resolvePid = resolve));
  const begin = performance.now();
  const protocol = options.protocol ?? 2;

  const result = (async (): Promise<ExecResult> => {
    const grants = openGrants(options.grants ?? []);
    try {
      if (grants.length > 0 && protocol === 1) throw new PortalError("usage", "grants need protocol 2 (the C exec-portal spawner has no sandbox)");
      sock = await connect(options);
      const reader: ReplySource = options.waitInThread ? new PolledReplies(sock) : new WatchedReplies(sock);
      try {
        const outcomeAndPid =
          protocol === 1
            ? await runV1(sock, reader, options)
            : await runV2(sock, reader, options, grants, () => (running = true), resolvePid);
        return toResult(outcomeAndPid.outcome, outcomeAndPid.pid, protocol, performance.now() - begin);
      } finally {
        running = false;
        resolvePid(null);
        reader.close();
        sock.close();
      }
    } finally {
      closeAll(grants.map((g) => g.fd));
    }
  })();
  result.catch(() => resolvePid(null));

  return {
    pid,
    result,
    get running() {
      return running;
    },
    kill(signal: number | string = "SIGTERM") {
      if (!sock || sock.closed || !running) return false;
      const number = typeof signal === "number" ? signal : parseSignal(signal);
      try {
        return sendRecord(sock, encodeSignal(number));
      } catch {
        return false;
      }
    },
  };
}

async function connect(options: ExecOptions): Promise<OwnedFd> {
  const path = options.socket ?? defaultSocketPath();
  const wait = options.waitForSocket ?? false;
  const deadline = wait === true ? Infinity : wait === false ? 0 : performance.now() + wait;
  let announced = false;
  for (;;) {
    try {
      return connectSeqpacket(encoder.encode(path));
    } catch (error) {
      const retryable = error instanceof SystemError && (error.errno === ENOENT || error.errno === ECONNREFUSED);
      if (!retryable || performance.now() >= deadline) {
        const why = error instanceof Error ? error.message : String(error);
        throw new PortalError(retryable && wait !== false ? "timeout" : "connect", `cannot connect to spawner at '${path}': ${why}`);
      }
      if (!announced) {
        announced = true;
        options.onWaiting?.();
      }
      await Bun.sleep(Math.min(100, Math.max(1, deadline - performance.now())));
    }
  }
}

type RecordSender = (record: Uint8Array, fds?: readonly number[]) => Promise<void>;

interface RequestBody {
  argBytes: Uint8Array;
  envBytes: Uint8Array;
  cwd: Uint8Array | null;
  fds: ReadonlyMap<number, number>;
  grants: readonly OpenGrant[];
  argc: number;
  envc: number;
}

/** Everything after HELLO: ARGS, ENV, CWD, FDS, GRANT records, then START. */
async function sendRequestBody(send: RecordSender, body: RequestBody): Promise<void> {
  for (const part of chunks(body.argBytes)) await send(encodeRecord(RecordType.Args, part));
  for (const part of chunks(body.envBytes)) await send(encodeRecord(RecordType.Env, part));
  if (body.cwd) await send(encodeRecord(RecordType.Cwd, body.cwd));
  const entries = [...body.fds];
  for (let i = 0; i < entries.length; i += MAX_FDS_PER_RECORD) {
    const batch = entries.slice(i, i + MAX_FDS_PER_RECORD);
    await send(encodeFdTargets(batch.map(([target]) => target)), batch.map(([, source]) => source));
  }
  for (const grant of body.grants) await send(encodeGrant(grant), [grant.fd.fd]);
  await send(encodeStart({ argc: body.argc, envc: body.envc, fdCount: body.fds.size, flags: 0 }));
}

/** Limits of spawners that answered v2 in this process, by socket path and listening pid. */
const knownV2Spawners = new Map<string, HelloAck>();

async function readAck(reader: ReplySource, handshakeMs: number): Promise<HelloAck> {
  let reply;
  try {
    reply = await nextRecord(reader, handshakeMs);
  } catch (error) {
    if (error instanceof ReplyTimeout) {
      throw new PortalError(
        "protocol",
        `the spawner did not answer protocol v2 within ${handshakeMs} ms; if it is the C exec-portal spawner, use --protocol 1 (or PORTAL_PROTOCOL=1)`,
      );
    }
    throw error;
  }
  if (!reply) throw new PortalError("gone", "the spawner closed the connection during the handshake");
  closeAll(reply.fds);
  const ack = reply.record;
  if (ack.type === RecordType.Refused) throw refused(ack.payload);
  if (ack.type !== RecordType.HelloAck) throw new PortalError("protocol", `expected HELLO_ACK, got record type 0x${ack.type.toString(16)}`);
  const limits = decodeHelloAck(ack.payload);
  if (limits.version < VERSION_MIN || limits.version > VERSION) throw new PortalError("protocol", `spawner chose protocol version ${limits.version}`);
  return limits;
}

async function runV2(
  sock: OwnedFd,
  reader: ReplySource,
  options: ExecOptions,
  grants: readonly OpenGrant[],
  onStarted: () => void,
  resolvePid: (pid: number | null) => void,
): Promise<{ outcome: Outcome; pid: number | null }> {
  const handshakeMs = options.handshakeTimeoutMs ?? 3000;
  const send = requestSender(sock, handshakeMs);
  const args = (options.args ?? []).map(toBytes);
  const env = defaultEnv(options.env);
  const cwd = options.cwd === undefined ? encoder.encode(process.cwd()) : options.cwd === null ? null : toBytes(options.cwd);
  const fds = fdMap(options.fds ?? [0, 1, 2]);

  // A spawner that already answered v2 in this process (same path, same
  // listening pid) gets the request right behind the HELLO: no round trip.
  // A first contact waits for HELLO_ACK, because a v1 spawner would read a
  // pipelined request as its own records (docs/protocol.md).
  const spawnerKey = `${options.socket ?? defaultSocketPath()}\0${peerCredentials(sock).pid}`;
  const known = knownV2Spawners.get(spawnerKey);
  await send(encodeHello());
  const limits = known ?? (await readAck(reader, handshakeMs));
  knownV2Spawners.set(spawnerKey, limits);
  if (fds.size + grants.length > limits.maxFds) {
    const which = grants.length > 0 ? ` (${grants.length} of them grants)` : "";
    throw new PortalError("refused", `the spawner accepts at most ${limits.maxFds} fds, this request has ${fds.size + grants.length}${which}`);
  }

  const argBytes = joinNulTerminated(args, "argument");
  const envBytes = joinNulTerminated(env, "environment");
  const requestBytes = argBytes.length + envBytes.length + (cwd?.length ?? 0);
  if (requestBytes > limits.maxRequestBytes) {
    throw new PortalError("refused", `the request has ${requestBytes} bytes of arguments and environment; the spawner accepts at most ${limits.maxRequestBytes}`);
  }
  const body = { argBytes, envBytes, cwd, fds, grants, argc: args.length, envc: env.length };
  try {
    await sendRequestBody(send, body);
  } catch (error) {
    // Pipelined into a spawner that had already refused us: its reason is queued ahead.
    if (known && error instanceof PortalError && error.failure === "gone") await readAck(reader, handshakeMs);
    throw error;
  }
  if (known) await readAck(reader, handshakeMs);
  onStarted();

  let pid: number | null = null;
  for (;;) {
    const reply = await nextRecord(reader);
    if (!reply) throw new PortalError("gone", "the spawner closed the connection before the program ended");
    closeAll(reply.fds);
    const record = reply.record;
    try {
      switch (record.type) {
        case RecordType.Started:
          pid = decodeStarted(record.payload);
          resolvePid(pid);
          continue;
        case RecordType.Refused:
          throw refused(record.payload);
        default:
          return { outcome: decodeOutcome(record), pid };
      }
    } catch (error) {
      if (error instanceof ProtocolError) throw new PortalError("protocol", `bad reply from spawner: ${error.message}`);
      throw error;
    }
  }
}

async function runV1(sock: OwnedFd, reader: ReplySource, options: ExecOptions): Promise<{ outcome: Outcome; pid: null }> {
  const env = defaultEnv(options.env);
  const fds = fdMap(options.fds ?? [0, 1, 2]);
  if (fds.size > MAX_FDS_PER_RECORD) throw new PortalError("usage", `protocol v1 passes at most ${MAX_FDS_PER_RECORD} fds`);
  const envRecord = encodeV1Strings(env, "environment");
  if (envRecord.length >= V1_MAX_RECORD_BYTES) throw new PortalError("usage", `protocol v1 allows less than ${V1_MAX_RECORD_BYTES} bytes of environment`);
  const entries = [...fds].sort(([a], [b]) => a - b);
  // The C protocol has no handshake to time: wait as long as the spawner takes.
  const send = requestSender(sock, Infinity);
  const closed = new PortalError("gone", "portal-spawner closed connection without a status");
  try {
    await send(envRecord);
    await send(encodeV1Strings((options.args ?? []).map(toBytes), "argument"));
    await send(encodeV1FdNumbers(entries.map(([target]) => target)));
    await send(new Uint8Array(V1_FD_RECORD_BYTES), entries.map(([, source]) => source));
  } catch (error) {
    // v1 has no refusal record: a spawner that hangs up early (a refusal, as
    // after the env record for a peer it does not allow) reads the same as
    // one that hangs up after the request.
    if (error instanceof PortalError && error.failure === "gone") throw closed;
    throw error;
  }
  const reply = await reader.rest(4);
  if (reply.length === 0) throw closed;
  try {
    return { outcome: fromWaitStatus(decodeV1Status(reply)), pid: null };
  } catch (error) {
    throw new PortalError("protocol", `bad reply from v1 spawner: ${(error as Error).message}`);
  }
}

function defaultEnv(env: EnvInput | undefined): Uint8Array[] {
  return envEntries(env ?? process.env as Record<string, string | undefined>).filter((entry) => !isControlVariable(entry));
}

/**
 * Sends request records without ever blocking the JS thread: a blocked
 * thread would also stall a spawner this same process serves (serve() and
 * exec() in one program), so a request larger than the socket buffer could
 * never be read. A full socket is waited on instead, at most `timeoutMs` per
 * record (a stuck spawner).
 */
function requestSender(sock: OwnedFd, timeoutMs: number): RecordSender {
  return async (record, fds = []) => {
    for (;;) {
      try {
        if (sendRecord(sock, record, fds, MSG_DONTWAIT)) return;
      } catch (error) {
        if (error instanceof SystemError) {
          if (error.errno === EPIPE || error.errno === ECONNRESET) throw new PortalError("gone", "the spawner closed the connection while the request was sent");
          throw new PortalError("connect", `sending the request failed: ${error.message}`);
        }
        throw error;
      }
      await roomToWrite(sock, timeoutMs);
    }
  };
}

async function roomToWrite(sock: OwnedFd, timeoutMs: number): Promise<void> {
  // Loaded only now: a request rarely fills the socket buffer, and the
  // watcher's module (node:worker_threads) costs a thin client ~4 ms to load.
  const { FdWatcher } = await import("../fdwatch/fd-watcher.ts");
  const watcher = FdWatcher.shared();
  const ready = watcher.writable(sock.fd);
  // Cancelled below once the timeout won; that rejection is expected.
  ready.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    if (Number.isFinite(timeoutMs)) {
      timer = setTimeout(() => reject(new PortalError("timeout", "the spawner stopped reading the request")), timeoutMs);
    }
  });
  try {
    await Promise.race([ready, timeout]);
  } finally {
    clearTimeout(timer);
    watcher.cancel(sock.fd);
  }
}

function refused(payload: Uint8Array): PortalError {
  const { reason } = decodeRefused(payload);
  return new PortalError("refused", `the spawner refused the request: ${reason}`);
}

function toResult(outcome: Outcome, pid: number | null, protocol: 1 | 2, durationMs: number): ExecResult {
  const base = { outcome, pid, protocol, durationMs };
  switch (outcome.kind) {
    case "exited":
      return { ...base, exitCode: outcome.code, signal: null, signalNumber: null, failed: false, shellExitCode: outcome.code };
    case "signaled":
      return {
        ...base, exitCode: null, signal: signalName(outcome.signal), signalNumber: outcome.signal, failed: false,
        shellExitCode: 128 + outcome.signal,
      };
    case "spawn-failed":
      return { ...base, exitCode: null, signal: null, signalNumber: null, failed: true, shellExitCode: exitCodeForSpawnFailure(outcome) };
  }
}
