// Reading one request off a fresh connection, in either protocol. Every
// refusal closes whatever fds arrived so far; nothing here runs anything.
import { closeAll, type OwnedFd } from "../libc/owned-fd.ts";
import type { RecordReader, ReadResult } from "../fdpass/record-reader.ts";
import {
  MAX_CWD_BYTES, MAX_FDS_PER_RECORD, MAX_RECORD_BYTES, MAX_TARGET_FD, V1_MAX_FDS, V1_MAX_RECORD_BYTES,
} from "../protocol/limits.ts";
import {
  decodeFdTargets, decodeGrant, decodeHello, decodeRecord, decodeStart, isHello, ProtocolError, RecordType,
  splitNulTerminated, START_FLAGS_KNOWN, VERSION,
} from "../protocol/v2.ts";
import { decodeV1FdNumbers, decodeV1Strings, V1_FD_RECORD_BYTES } from "../protocol/v1.ts";
import type { Grant } from "./request.ts";

export interface RequestLimits {
  maxRequestBytes: number;
  maxFds: number;
}

export interface RawRequest {
  protocol: 1 | 2;
  args: Uint8Array[];
  env: Uint8Array[];
  cwd: Uint8Array | null;
  fds: Map<number, OwnedFd>;
  /** GRANT records (v2): objects to bind into a sandbox, in the order sent. */
  grants: Grant[];
}

/** A request the spawner will not run; `limit` marks refusals for exceeding a limit. */
export class RequestRefused extends Error {
  constructor(
    message: string,
    readonly limit = false,
  ) {
    super(message);
    this.name = "RequestRefused";
  }
}

/**
 * Reads the first record and tells v1 from v2 by the HELLO magic (a v1 env
 * record never starts with NUL). `admit` may throw to refuse the peer before
 * anything more is read; for v2, `sendAck` is called once the HELLO is
 * accepted, before the rest is read.
 */
export async function readRequest(
  reader: RecordReader,
  limits: RequestLimits,
  hooks: { admit: (protocol: 1 | 2) => void; sendAck: () => void },
): Promise<RawRequest> {
  const fds = new Map<number, OwnedFd>();
  const grants: Grant[] = [];
  try {
    const first = await reader.next(Math.max(MAX_RECORD_BYTES, V1_MAX_RECORD_BYTES), MAX_FDS_PER_RECORD);
    const firstData = expectNoFds(first, "the first record");
    if (firstData && isHello(firstData)) {
      hooks.admit(2);
      const { min, max } = decodeHello(firstData);
      if (min > VERSION || max < VERSION) throw new ProtocolError(`client speaks versions ${min}..${max}, this spawner speaks ${VERSION}`);
      hooks.sendAck();
      return await readV2(reader, limits, fds, grants);
    }
    hooks.admit(1);
    return await readV1(reader, firstData ?? new Uint8Array(0), limits, fds);
  } catch (error) {
    closeAll([...fds.values(), ...grants.map((g) => g.fd)]);
    throw error instanceof ProtocolError ? new RequestRefused(`protocol error: ${error.message}`) : error;
  }
}

async function readV2(reader: RecordReader, limits: RequestLimits, fds: Map<number, OwnedFd>, grants: Grant[]): Promise<RawRequest> {
  const args: Uint8Array[] = [];
  const env: Uint8Array[] = [];
  let cwd: Uint8Array | null = null;
  let bytes = 0;
  for (;;) {
    const result = await reader.next(MAX_RECORD_BYTES, MAX_FDS_PER_RECORD);
    if (result.kind === "eof") throw new RequestRefused("client hung up before the request was complete");
    if (result.kind === "truncated") {
      throw new ProtocolError(result.what === "fds" ? "record carried more fds than one message may" : `record of ${result.bytes} bytes is too long`);
    }
    const record = decodeRecordOrClose(result);
    if (record.type === RecordType.Fds) {
      const targets = decodeFdTargetsOrClose(record.payload, result.fds);
      if (targets.length !== result.fds.length) {
        closeAll(result.fds);
        throw new ProtocolError(`FDS record names ${targets.length} targets but carries ${result.fds.length} fds`);
      }
      if (fds.size + grants.length + targets.length > limits.maxFds) {
        closeAll(result.fds);
        throw new RequestRefused(`request passes more than ${limits.maxFds} fds`, true);
      }
      targets.forEach((target, i) => {
        const fd = result.fds[i]!;
        if (target > MAX_TARGET_FD || fds.has(target)) {
          closeAll(result.fds.slice(i));
          throw new ProtocolError(fds.has(target) ? `fd target ${target} is given twice` : `fd target ${target} is above ${MAX_TARGET_FD}`);
        }
        fds.set(target, fd);
      });
      continue;
    }
    if (record.type === RecordType.Grant) {
      bytes += readGrant(record.payload, result.fds, grants, fds.size, limits);
      if (bytes > limits.maxRequestBytes) throw new RequestRefused(`request is larger than ${limits.maxRequestBytes} bytes`, true);
      continue;
    }
    if (result.fds.length > 0) {
      closeAll(result.fds);
      throw new ProtocolError(`record type 0x${record.type.toString(16)} must not carry fds`);
    }
    // The limit is on argv + env + cwd (as HELLO_ACK tells the client); START's counts are not part of it.
    if (record.type !== RecordType.Start) bytes += record.payload.length;
    if (bytes > limits.maxRequestBytes) throw new RequestRefused(`request is larger than ${limits.maxRequestBytes} bytes`, true);
    switch (record.type) {
      case RecordType.Args:
        args.push(record.payload.slice());
        break;
      case RecordType.Env:
        env.push(record.payload.slice());
        break;
      case RecordType.Cwd:
        if (cwd) throw new ProtocolError("CWD is given twice");
        if (record.payload.length === 0 || record.payload.length > MAX_CWD_BYTES || record.payload.includes(0)) {
          throw new ProtocolError(`CWD must be 1..${MAX_CWD_BYTES} bytes without NUL`);
        }
        cwd = record.payload.slice();
        break;
      case RecordType.Start: {
        const counts = decodeStart(record.payload);
        if ((counts.flags & ~START_FLAGS_KNOWN) !== 0) throw new ProtocolError(`START has unknown flags 0x${counts.flags.toString(16)}`);
        const argList = splitNulTerminated(concat(args), "ARGS");
        const envList = splitNulTerminated(concat(env), "ENV");
        if (argList.length !== counts.argc || envList.length !== counts.envc || fds.size !== counts.fdCount) {
          throw new ProtocolError(
            `START counts (${counts.argc} args, ${counts.envc} env, ${counts.fdCount} fds) do not match what was sent ` +
              `(${argList.length}, ${envList.length}, ${fds.size})`,
          );
        }
        return { protocol: 2, args: argList, env: envList, cwd, fds, grants };
      }
      default:
        throw new ProtocolError(`unexpected record type 0x${record.type.toString(16)} before START`);
    }
  }
}

async function readV1(reader: RecordReader, envRecord: Uint8Array, limits: RequestLimits, fds: Map<number, OwnedFd>): Promise<RawRequest> {
  // Zero-length records are legal in v1 (empty env, no args) and look like
  // EOF; a vanished client is caught by the fd record, which is never empty.
  const argsRecord = expectNoFds(await reader.next(V1_MAX_RECORD_BYTES, MAX_FDS_PER_RECORD), "the v1 args record") ?? new Uint8Array(0);
  if (envRecord.length + argsRecord.length > limits.maxRequestBytes) {
    throw new RequestRefused(`request is larger than ${limits.maxRequestBytes} bytes`, true);
  }
  const numbersRecord = expectNoFds(await reader.next(4 * V1_MAX_FDS, MAX_FDS_PER_RECORD), "the v1 fd-number record") ?? new Uint8Array(0);
  const numbers = decodeV1FdNumbers(numbersRecord);
  if (numbers.length > limits.maxFds) throw new RequestRefused(`request passes more than ${limits.maxFds} fds`, true);
  const fdRecord = await reader.next(V1_FD_RECORD_BYTES, MAX_FDS_PER_RECORD);
  if (fdRecord.kind === "eof") throw new RequestRefused("client hung up before the request was complete");
  if (fdRecord.kind === "truncated") throw new ProtocolError(`v1 fd record is ${fdRecord.what === "fds" ? "carrying too many fds" : "too long"}`);
  if (fdRecord.fds.length !== numbers.length) {
    closeAll(fdRecord.fds);
    // The C spawner ran the program anyway; a missing fd is a refusal here.
    throw new ProtocolError(`v1 request lists ${numbers.length} fds but ${fdRecord.fds.length} arrived`);
  }
  numbers.forEach((target, i) => fds.set(target, fdRecord.fds[i]!));
  return { protocol: 1, args: decodeV1Strings(argsRecord), env: decodeV1Strings(envRecord), cwd: null, fds, grants: [] };
}

/**
 * Takes one GRANT (its fd joins `grants`, or is closed on refusal) and
 * returns how many bytes it adds to the request. Grants count as fds.
 */
function readGrant(payload: Uint8Array, received: OwnedFd[], grants: Grant[], fdCount: number, limits: RequestLimits): number {
  if (received.length !== 1) {
    closeAll(received);
    throw new ProtocolError(`GRANT must carry exactly one fd, got ${received.length}`);
  }
  const fd = received[0]!;
  try {
    const spec = decodeGrant(payload);
    if (spec.dest.length > MAX_CWD_BYTES) throw new ProtocolError(`GRANT destination is longer than ${MAX_CWD_BYTES} bytes`);
    if (grants.some((g) => Buffer.from(g.dest).equals(spec.dest))) throw new ProtocolError("a GRANT destination is given twice");
    if (fdCount + grants.length + 1 > limits.maxFds) throw new RequestRefused(`request passes more than ${limits.maxFds} fds`, true);
    grants.push({ ...spec, fd });
    return spec.dest.length;
  } catch (error) {
    fd.close();
    throw error;
  }
}

/** The record's bytes (null for "eof"); a record with fds attached is a protocol error. */
function expectNoFds(result: ReadResult, what: string): Uint8Array | null {
  if (result.kind === "eof") return null;
  if (result.kind === "truncated") throw new ProtocolError(`${what} is too long (${result.bytes} bytes)`);
  if (result.fds.length > 0) {
    closeAll(result.fds);
    throw new ProtocolError(`${what} must not carry fds`);
  }
  return result.data;
}

function decodeRecordOrClose(result: Extract<ReadResult, { kind: "record" }>) {
  try {
    return decodeRecord(result.data);
  } catch (error) {
    closeAll(result.fds);
    throw error;
  }
}

function decodeFdTargetsOrClose(payload: Uint8Array, received: OwnedFd[]): number[] {
  try {
    return decodeFdTargets(payload);
  } catch (error) {
    closeAll(received);
    throw error;
  }
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
