// Protocol v2 records (docs/protocol.md is the normative description).
// All integers are little-endian. Every record but HELLO is
//   u16 type | u16 reserved (0) | u32 payload length | payload
import { HEADER_BYTES, MAX_RECORD_BYTES } from "./limits.ts";
import { SPAWN_STAGES, type Outcome, type SpawnStage } from "./outcome.ts";
import { splitAtNul } from "./nul-strings.ts";

export const VERSION = 2;

/** First record of a v2 connection: "\0portal\0", u32 lowest and u32 highest version spoken. */
export const HELLO_MAGIC = new Uint8Array([0, 0x70, 0x6f, 0x72, 0x74, 0x61, 0x6c, 0]);
export const HELLO_BYTES = 16;

export const enum RecordType {
  // client -> spawner
  Args = 0x01,
  Env = 0x02,
  Cwd = 0x03,
  Fds = 0x04,
  Start = 0x05,
  Signal = 0x06,
  Grant = 0x07,
  // spawner -> client
  HelloAck = 0x81,
  Started = 0x82,
  Exited = 0x83,
  SpawnFailed = 0x84,
  Refused = 0x85,
}

/** Bits of START's flags word. Unknown bits are refused. */
export const START_FLAGS_KNOWN = 0;

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}

export function encodeHello(): Uint8Array {
  const bytes = new Uint8Array(HELLO_BYTES);
  bytes.set(HELLO_MAGIC);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, VERSION, true);
  view.setUint32(12, VERSION, true);
  return bytes;
}

export function isHello(record: Uint8Array): boolean {
  if (record.length < HELLO_MAGIC.length) return false;
  for (let i = 0; i < HELLO_MAGIC.length; i++) if (record[i] !== HELLO_MAGIC[i]) return false;
  return true;
}

/** The version range a HELLO offers; throws ProtocolError if it is malformed. */
export function decodeHello(record: Uint8Array): { min: number; max: number } {
  if (record.length !== HELLO_BYTES) throw new ProtocolError(`HELLO must be ${HELLO_BYTES} bytes, got ${record.length}`);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  return { min: view.getUint32(8, true), max: view.getUint32(12, true) };
}

export function encodeRecord(type: RecordType, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (HEADER_BYTES + payload.length > MAX_RECORD_BYTES) {
    throw new RangeError(`record of ${payload.length} bytes exceeds ${MAX_RECORD_BYTES - HEADER_BYTES}`);
  }
  const bytes = new Uint8Array(HEADER_BYTES + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, type, true);
  view.setUint32(4, payload.length, true);
  bytes.set(payload, HEADER_BYTES);
  return bytes;
}

export interface Record {
  type: number;
  payload: Uint8Array;
}

/** Parses one whole SEQPACKET record; the length field must match exactly. */
export function decodeRecord(bytes: Uint8Array): Record {
  if (bytes.length < HEADER_BYTES) throw new ProtocolError(`record of ${bytes.length} bytes is shorter than its header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const reserved = view.getUint16(2, true);
  const length = view.getUint32(4, true);
  if (reserved !== 0) throw new ProtocolError(`record header has reserved bits set (0x${reserved.toString(16)})`);
  if (length !== bytes.length - HEADER_BYTES) {
    throw new ProtocolError(`record says ${length} payload bytes but carries ${bytes.length - HEADER_BYTES}`);
  }
  return { type: view.getUint16(0, true), payload: bytes.subarray(HEADER_BYTES) };
}

/**
 * Splits a byte stream of records back into records (for a reader that sees
 * the socket as a stream, as Bun's own fd readers do). Feed chunks; complete
 * records come out.
 */
export class RecordStreamDecoder {
  #buffer = new Uint8Array(0);

  push(chunk: Uint8Array): Record[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const records: Record[] = [];
    let offset = 0;
    while (joined.length - offset >= HEADER_BYTES) {
      const view = new DataView(joined.buffer, offset);
      const length = view.getUint32(4, true);
      if (HEADER_BYTES + length > MAX_RECORD_BYTES) throw new ProtocolError(`record of ${length} bytes is too long`);
      if (joined.length - offset < HEADER_BYTES + length) break;
      records.push(decodeRecord(joined.slice(offset, offset + HEADER_BYTES + length)));
      offset += HEADER_BYTES + length;
    }
    this.#buffer = joined.slice(offset);
    return records;
  }

  get pendingBytes(): number {
    return this.#buffer.length;
  }
}

// ---- payloads ------------------------------------------------------------

export interface HelloAck {
  version: number;
  maxRecordBytes: number;
  maxRequestBytes: number;
  maxFds: number;
}

export function encodeHelloAck(ack: HelloAck): Uint8Array {
  return encodeRecord(RecordType.HelloAck, u32s([ack.version, ack.maxRecordBytes, ack.maxRequestBytes, ack.maxFds]));
}

export function decodeHelloAck(payload: Uint8Array): HelloAck {
  const [version, maxRecordBytes, maxRequestBytes, maxFds] = readU32s(payload, 4, "HELLO_ACK");
  return { version: version!, maxRecordBytes: maxRecordBytes!, maxRequestBytes: maxRequestBytes!, maxFds: maxFds! };
}

export interface StartCounts {
  argc: number;
  envc: number;
  fdCount: number;
  flags: number;
}

export function encodeStart(counts: StartCounts): Uint8Array {
  return encodeRecord(RecordType.Start, u32s([counts.argc, counts.envc, counts.fdCount, counts.flags]));
}

export function decodeStart(payload: Uint8Array): StartCounts {
  const [argc, envc, fdCount, flags] = readU32s(payload, 4, "START");
  return { argc: argc!, envc: envc!, fdCount: fdCount!, flags: flags! };
}

export function encodeFdTargets(targets: readonly number[]): Uint8Array {
  return encodeRecord(RecordType.Fds, u32s(targets));
}

export function decodeFdTargets(payload: Uint8Array): number[] {
  if (payload.length % 4 !== 0) throw new ProtocolError(`FDS payload of ${payload.length} bytes is not a list of u32`);
  return readU32s(payload, payload.length / 4, "FDS");
}

/** GRANT flag: bind the granted object read-write (default read-only). */
export const GRANT_WRITABLE = 1;
const GRANT_FLAGS_KNOWN = GRANT_WRITABLE;

export interface GrantSpec {
  /** Where the sandboxed program sees the granted object: an absolute, normalised path. */
  dest: Uint8Array;
  writable: boolean;
}

/** GRANT: u32 flags | destination path (no NUL). The record carries exactly one fd, the granted object. */
export function encodeGrant(grant: GrantSpec): Uint8Array {
  const payload = new Uint8Array(4 + grant.dest.length);
  payload.set(u32s([grant.writable ? GRANT_WRITABLE : 0]));
  payload.set(grant.dest, 4);
  return encodeRecord(RecordType.Grant, payload);
}

export function decodeGrant(payload: Uint8Array): GrantSpec {
  if (payload.length < 5) throw new ProtocolError("GRANT needs flags and a destination path");
  const flags = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, true);
  if ((flags & ~GRANT_FLAGS_KNOWN) !== 0) throw new ProtocolError(`GRANT has unknown flags 0x${flags.toString(16)}`);
  const dest = payload.slice(4);
  if (!isNormalAbsolutePath(dest)) throw new ProtocolError("GRANT destination must be an absolute path without '.', '..', '//' or a trailing '/', and not '/'");
  return { dest, writable: (flags & GRANT_WRITABLE) !== 0 };
}

/** "/a/b" yes; "/", "a", "/a/", "/a//b", "/a/./b", "/a/../b" and anything with NUL no. */
export function isNormalAbsolutePath(path: Uint8Array): boolean {
  if (path.length < 2 || path[0] !== 0x2f || path[path.length - 1] === 0x2f || path.includes(0)) return false;
  const text = new TextDecoder().decode(path);
  return text.slice(1).split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

export function encodeSignal(signal: number): Uint8Array {
  return encodeRecord(RecordType.Signal, u32s([signal]));
}

export function decodeSignal(payload: Uint8Array): number {
  return readU32s(payload, 1, "SIGNAL")[0]!;
}

export function encodeStarted(pid: number): Uint8Array {
  return encodeRecord(RecordType.Started, u32s([pid]));
}

export function decodeStarted(payload: Uint8Array): number {
  return readU32s(payload, 1, "STARTED")[0]!;
}

const EXIT_KIND_EXITED = 1;
const EXIT_KIND_SIGNALED = 2;

export function encodeOutcome(outcome: Outcome): Uint8Array {
  switch (outcome.kind) {
    case "exited":
      return encodeRecord(RecordType.Exited, u32s([EXIT_KIND_EXITED, outcome.code, 0]));
    case "signaled":
      return encodeRecord(RecordType.Exited, u32s([EXIT_KIND_SIGNALED, outcome.signal, outcome.coreDumped ? 1 : 0]));
    case "spawn-failed": {
      const text = new TextEncoder().encode(outcome.message);
      const payload = new Uint8Array(8 + text.length);
      payload.set(u32s([SPAWN_STAGES.indexOf(outcome.stage) + 1, outcome.errno]));
      payload.set(text, 8);
      return encodeRecord(RecordType.SpawnFailed, payload);
    }
  }
}

export function decodeOutcome(record: Record): Outcome {
  if (record.type === RecordType.Exited) {
    const [kind, value, core] = readU32s(record.payload, 3, "EXITED");
    if (kind === EXIT_KIND_EXITED && value! <= 255) return { kind: "exited", code: value! };
    if (kind === EXIT_KIND_SIGNALED && value! >= 1 && value! <= 64) {
      return { kind: "signaled", signal: value!, coreDumped: core === 1 };
    }
    throw new ProtocolError(`EXITED record has kind ${kind} value ${value}`);
  }
  if (record.type === RecordType.SpawnFailed) {
    if (record.payload.length < 8) throw new ProtocolError("SPAWN_FAILED record is too short");
    const view = new DataView(record.payload.buffer, record.payload.byteOffset);
    const stage: SpawnStage | undefined = SPAWN_STAGES[view.getUint32(0, true) - 1];
    if (!stage) throw new ProtocolError(`SPAWN_FAILED has unknown stage ${view.getUint32(0, true)}`);
    const message = new TextDecoder().decode(record.payload.subarray(8));
    return { kind: "spawn-failed", stage, errno: view.getUint32(4, true), message };
  }
  throw new ProtocolError(`expected EXITED or SPAWN_FAILED, got record type 0x${record.type.toString(16)}`);
}

export const enum RefusalCode {
  Protocol = 1,
  Limit = 2,
  NotAllowed = 3,
  Unavailable = 4,
}

export function encodeRefused(code: RefusalCode, reason: string): Uint8Array {
  const text = new TextEncoder().encode(reason.slice(0, 4000));
  const payload = new Uint8Array(4 + text.length);
  payload.set(u32s([code]));
  payload.set(text, 4);
  return encodeRecord(RecordType.Refused, payload);
}

export function decodeRefused(payload: Uint8Array): { code: number; reason: string } {
  if (payload.length < 4) throw new ProtocolError("REFUSED record is too short");
  const code = new DataView(payload.buffer, payload.byteOffset).getUint32(0, true);
  return { code, reason: new TextDecoder().decode(payload.subarray(4)) };
}

// ---- NUL-separated string lists (argv, env) --------------------------------

/** Concatenates byte strings, each followed by NUL. Rejects strings containing NUL. */
export function joinNulTerminated(items: readonly Uint8Array[], what: string): Uint8Array {
  let total = 0;
  for (const item of items) {
    if (item.includes(0)) throw new ProtocolError(`${what} item contains a NUL byte`);
    total += item.length + 1;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const item of items) {
    out.set(item, offset);
    offset += item.length + 1;
  }
  return out;
}

/** Inverse of joinNulTerminated; the stream must end with NUL (or be empty). */
export function splitNulTerminated(bytes: Uint8Array, what: string): Uint8Array[] {
  if (bytes.length > 0 && bytes[bytes.length - 1] !== 0) throw new ProtocolError(`${what} does not end with NUL`);
  return splitAtNul(bytes).map((item) => item.slice());
}

/** Cuts a byte stream into payloads that each fit one record. */
export function* chunks(bytes: Uint8Array, size = MAX_RECORD_BYTES - HEADER_BYTES): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

function u32s(values: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(4 * values.length);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setUint32(4 * i, v, true));
  return bytes;
}

function readU32s(payload: Uint8Array, count: number, what: string): number[] {
  if (payload.length !== 4 * count) throw new ProtocolError(`${what} payload must be ${4 * count} bytes, got ${payload.length}`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return Array.from({ length: count }, (_, i) => view.getUint32(4 * i, true));
}
