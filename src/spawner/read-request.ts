// Reading one request off a fresh connection, in either protocol. Every fd
// that arrives belongs to the connection's FdScope from that moment, so a
// refusal anywhere here is just a throw: the scope closes what came. Nothing
// here runs anything.
import type { FdScope, OwnedFd } from "../libc/owned-fd.ts";
import type { RecordReader, ReadResult } from "../fdpass/record-reader.ts";
import {
  MAX_CWD_BYTES, MAX_FDS_PER_RECORD, MAX_RECORD_BYTES, MAX_TARGET_FD, V1_MAX_FDS, V1_MAX_RECORD_BYTES,
} from "../protocol/limits.ts";
import {
  chooseVersion, decodeFdTargets, decodeGrant, decodeHello, decodeRecord, decodeStart, isHello, RecordType,
  REVISION_3_TYPES, REVISION_4_TYPES, splitNulTerminated, START_FLAGS_KNOWN, VERSION_MIN, VERSION, type WireRecord,
} from "../protocol/v2.ts";
import { ProtocolError } from "../protocol/errors.ts";
import { decodeV1FdNumbers, decodeV1Strings, V1_FD_RECORD_BYTES } from "../protocol/v1.ts";
import { decodeContextPayload, type ProcessContext } from "../protocol/context.ts";
import { decodePtyPayload, type PtyRequest } from "../protocol/pty.ts";
import { decodeSchedulingPayload, type Scheduling } from "../protocol/scheduling.ts";
import { bytesEqual, concatBytes } from "../protocol/bytes.ts";
import { limitRefusal, protocolRefusal, Refusal, RefusalCode } from "./refusal.ts";
import type { Grant, RequestFields } from "./request.ts";

export interface RequestLimits {
  maxRequestBytes: number;
  maxFds: number;
}

export type ReadFields = Omit<RequestFields, "peer" | "peerGroups" | "peerNamespace">;

export interface HelloHooks {
  /** The first record starts with the HELLO magic: a v2 client, which can read a refusal even if its HELLO is bad. */
  helloSeen(): void;
  /** The HELLO is accepted with this revision: sent before the rest is read. */
  ack(version: number): void;
}

/**
 * Reads the first record and tells v1 from v2 by the HELLO magic (a v1 env
 * record never starts with NUL).
 */
export async function readRequest(reader: RecordReader, limits: RequestLimits, scope: FdScope, hello: HelloHooks): Promise<ReadFields> {
  try {
    const first = await reader.next(Math.max(MAX_RECORD_BYTES, V1_MAX_RECORD_BYTES), MAX_FDS_PER_RECORD);
    if (first.kind === "record" && isHello(first.data)) hello.helloSeen();
    const firstData = withoutFds(first, scope, "the first record");
    if (firstData && isHello(firstData)) {
      const offer = decodeHello(firstData);
      const version = chooseVersion(offer);
      if (version === null) throw new ProtocolError(`client speaks versions ${offer.min}..${offer.max}, this spawner speaks ${VERSION_MIN}..${VERSION}`);
      hello.ack(version);
      return await new V2RequestReader(reader, limits, scope, version as 2 | 3).read();
    }
    return await readV1(reader, firstData ?? new Uint8Array(0), limits, scope);
  } catch (error) {
    throw error instanceof ProtocolError ? protocolRefusal(error.message, error) : error;
  }
}

/** The records of one v2 request, from HELLO_ACK to START, checked as they come. */
class V2RequestReader {
  readonly #args: Uint8Array[] = [];
  readonly #env: Uint8Array[] = [];
  readonly #fds = new Map<number, OwnedFd>();
  readonly #grants: Grant[] = [];
  #cwd: Uint8Array | null = null;
  #cwdFd: OwnedFd | null = null;
  #context: ProcessContext | null = null;
  #pty: PtyRequest | null = null;
  #scheduling: Scheduling | null = null;
  #bytes = 0;

  constructor(
    private readonly reader: RecordReader,
    private readonly limits: RequestLimits,
    private readonly scope: FdScope,
    private readonly version: 2 | 3,
  ) {}

  async read(): Promise<ReadFields> {
    for (;;) {
      const { record, fds } = await this.#next();
      if (record.type === RecordType.Start) return this.#finish(record, fds);
      this.#take(record, fds);
    }
  }

  async #next(): Promise<{ record: WireRecord; fds: OwnedFd[] }> {
    const result = await this.reader.next(MAX_RECORD_BYTES, MAX_FDS_PER_RECORD);
    if (result.kind === "eof") throw new Refusal("client hung up before the request was complete", { code: RefusalCode.Protocol });
    if (result.kind === "truncated") {
      throw new ProtocolError(result.what === "fds" ? "record carried more fds than one message may" : `record of ${result.bytes} bytes is too long`);
    }
    const fds = this.scope.adopt(result.fds);
    const record = decodeRecord(result.data);
    const needs = REVISION_4_TYPES.has(record.type) ? 4 : REVISION_3_TYPES.has(record.type) ? 3 : 2;
    if (this.version < needs) {
      throw new ProtocolError(`record type 0x${record.type.toString(16)} needs protocol revision ${needs} (this connection agreed on ${this.version})`);
    }
    return { record, fds };
  }

  #take(record: WireRecord, fds: OwnedFd[]): void {
    switch (record.type) {
      case RecordType.Fds:
        return this.#takeFds(record.payload, fds);
      case RecordType.Grant:
        return this.#takeGrant(record.payload, fds);
      case RecordType.Cwd:
        return this.#takeCwd(record.payload, fds);
    }
    if (fds.length > 0) throw new ProtocolError(`record type 0x${record.type.toString(16)} must not carry fds`);
    switch (record.type) {
      case RecordType.Args:
        this.#count(record.payload.length);
        this.#args.push(record.payload.slice());
        return;
      case RecordType.Env:
        this.#count(record.payload.length);
        this.#env.push(record.payload.slice());
        return;
      case RecordType.Context:
        if (this.#context) throw new ProtocolError("CONTEXT is given twice");
        this.#context = decodeContextPayload(record.payload);
        return;
      case RecordType.Scheduling:
        if (this.#scheduling) throw new ProtocolError("SCHEDULING is given twice");
        this.#scheduling = decodeSchedulingPayload(record.payload);
        return;
      case RecordType.Pty:
        if (this.#pty) throw new ProtocolError("PTY is given twice");
        this.#pty = decodePtyPayload(record.payload);
        return;
      default:
        throw new ProtocolError(`unexpected record type 0x${record.type.toString(16)} before START`);
    }
  }

  /** The limit is on argv + env + cwd + grant paths (as HELLO_ACK tells the client). */
  #count(bytes: number): void {
    this.#bytes += bytes;
    if (this.#bytes > this.limits.maxRequestBytes) throw limitRefusal(`request is larger than ${this.limits.maxRequestBytes} bytes`);
  }

  #checkFdCount(adding: number): void {
    if (this.#fds.size + this.#grants.length + adding > this.limits.maxFds) throw limitRefusal(`request passes more than ${this.limits.maxFds} fds`);
  }

  #takeFds(payload: Uint8Array, fds: OwnedFd[]): void {
    const targets = decodeFdTargets(payload);
    if (targets.length !== fds.length) throw new ProtocolError(`FDS record names ${targets.length} targets but carries ${fds.length} fds`);
    this.#checkFdCount(targets.length);
    targets.forEach((target, i) => {
      if (target > MAX_TARGET_FD) throw new ProtocolError(`fd target ${target} is above ${MAX_TARGET_FD}`);
      if (this.#fds.has(target)) throw new ProtocolError(`fd target ${target} is given twice`);
      this.#fds.set(target, fds[i]!);
    });
  }

  #takeGrant(payload: Uint8Array, fds: OwnedFd[]): void {
    if (fds.length !== 1) throw new ProtocolError(`GRANT must carry exactly one fd, got ${fds.length}`);
    const spec = decodeGrant(payload, this.version);
    if (spec.dest.length > MAX_CWD_BYTES) throw new ProtocolError(`GRANT destination is longer than ${MAX_CWD_BYTES} bytes`);
    if (this.#grants.some((g) => bytesEqual(g.dest, spec.dest))) throw new ProtocolError("a GRANT destination is given twice");
    this.#checkFdCount(1);
    this.#count(spec.dest.length);
    this.#grants.push({ ...spec, fd: fds[0]! });
  }

  #takeCwd(payload: Uint8Array, fds: OwnedFd[]): void {
    if (this.#cwd) throw new ProtocolError("CWD is given twice");
    if (payload.length === 0 || payload.length > MAX_CWD_BYTES || payload.includes(0)) {
      throw new ProtocolError(`CWD must be 1..${MAX_CWD_BYTES} bytes without NUL`);
    }
    if (fds.length > (this.version >= 3 ? 1 : 0)) throw new ProtocolError(`CWD carries ${fds.length} fds`);
    this.#count(payload.length);
    this.#cwd = payload.slice();
    this.#cwdFd = fds[0] ?? null;
  }

  #finish(record: WireRecord, fds: OwnedFd[]): ReadFields {
    if (fds.length > 0) throw new ProtocolError("START must not carry fds");
    const counts = decodeStart(record.payload);
    if ((counts.flags & ~START_FLAGS_KNOWN) !== 0) throw new ProtocolError(`START has unknown flags 0x${counts.flags.toString(16)}`);
    const args = splitNulTerminated(concatBytes(this.#args), "ARGS");
    const env = splitNulTerminated(concatBytes(this.#env), "ENV");
    if (args.length !== counts.argc || env.length !== counts.envc || this.#fds.size !== counts.fdCount) {
      throw new ProtocolError(
        `START counts (${counts.argc} args, ${counts.envc} env, ${counts.fdCount} fds) do not match what was sent ` +
          `(${args.length}, ${env.length}, ${this.#fds.size})`,
      );
    }
    if (this.#scheduling && !this.#context) throw new ProtocolError("SCHEDULING comes with CONTEXT or not at all");
    return {
      protocol: this.version, args, env, cwd: this.#cwd, cwdFd: this.#cwdFd, fds: this.#fds, grants: this.#grants,
      context: this.#context && { ...this.#context, scheduling: this.#scheduling }, pty: this.#pty,
    };
  }
}

async function readV1(reader: RecordReader, envRecord: Uint8Array, limits: RequestLimits, scope: FdScope): Promise<ReadFields> {
  // Zero-length records are legal in v1 (empty env, no args) and look like
  // EOF; a vanished client is caught by the fd record, which is never empty.
  const argsRecord = withoutFds(await reader.next(V1_MAX_RECORD_BYTES, MAX_FDS_PER_RECORD), scope, "the v1 args record") ?? new Uint8Array(0);
  if (envRecord.length + argsRecord.length > limits.maxRequestBytes) throw limitRefusal(`request is larger than ${limits.maxRequestBytes} bytes`);
  const numbersRecord = withoutFds(await reader.next(4 * V1_MAX_FDS, MAX_FDS_PER_RECORD), scope, "the v1 fd-number record") ?? new Uint8Array(0);
  const numbers = decodeV1FdNumbers(numbersRecord);
  if (numbers.length > limits.maxFds) throw limitRefusal(`request passes more than ${limits.maxFds} fds`);
  const fdRecord = await reader.next(V1_FD_RECORD_BYTES, MAX_FDS_PER_RECORD);
  if (fdRecord.kind === "eof") throw new Refusal("client hung up before the request was complete", { code: RefusalCode.Protocol });
  if (fdRecord.kind === "truncated") throw new ProtocolError(`v1 fd record is ${fdRecord.what === "fds" ? "carrying too many fds" : "too long"}`);
  const received = scope.adopt(fdRecord.fds);
  // The C spawner ran the program anyway; a missing fd is a refusal here.
  if (received.length !== numbers.length) throw new ProtocolError(`v1 request lists ${numbers.length} fds but ${received.length} arrived`);
  const fds = new Map(numbers.map((target, i) => [target, received[i]!]));
  return {
    protocol: 1, args: decodeV1Strings(argsRecord), env: decodeV1Strings(envRecord), cwd: null, cwdFd: null, fds, grants: [],
    context: null, pty: null,
  };
}

/** The record's bytes (null for "eof"); fds attached to it are a protocol error (and the scope closes them). */
function withoutFds(result: ReadResult, scope: FdScope, what: string): Uint8Array | null {
  if (result.kind === "eof") return null;
  if (result.kind === "truncated") throw new ProtocolError(`${what} is too long (${result.bytes} bytes)`);
  if (scope.adopt(result.fds).length > 0) throw new ProtocolError(`${what} must not carry fds`);
  return result.data;
}
