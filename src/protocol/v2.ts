// Protocol v2 records (docs/protocol.md is the normative description).
// All integers are little-endian. Every record but HELLO is
//   u16 type | u16 reserved (0) | u32 payload length | payload
// Revision 3 (negotiated in HELLO) adds CONTEXT, PTY, PTY_MASTER, STOPPED,
// SIGNAL targets, a CWD directory fd and more GRANT kinds; revision 4 adds
// SCHEDULING.
import { HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_RECORD_BYTES } from "./limits.ts";
import { SPAWN_STAGES, type Outcome, type SpawnStage } from "./outcome.ts";
import { ProtocolError } from "./errors.ts";
import { u32s } from "./bytes.ts";

export { ProtocolError };
export { joinNulTerminated, splitNulTerminated } from "./nul-strings.ts";

/** The revisions of v2 this implementation speaks; HELLO offers both, HELLO_ACK names one. */
export const VERSION_MIN = 2;
export const VERSION = 4;

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
  Context = 0x08,
  Pty = 0x09,
  Scheduling = 0x0a,
  // spawner -> client
  HelloAck = 0x81,
  Started = 0x82,
  Exited = 0x83,
  SpawnFailed = 0x84,
  Refused = 0x85,
  PtyMaster = 0x86,
  Stopped = 0x87,
}

/** Record types that exist only from revision 3 on. */
export const REVISION_3_TYPES: ReadonlySet<number> = new Set([RecordType.Context, RecordType.Pty, RecordType.PtyMaster, RecordType.Stopped]);
/** Record types that exist only from revision 4 on. */
export const REVISION_4_TYPES: ReadonlySet<number> = new Set([RecordType.Scheduling]);

/** Bits of START's flags word. Unknown bits are refused. */
export const START_FLAGS_KNOWN = 0;

export function encodeHello(min = VERSION_MIN, max = VERSION): Uint8Array {
  const bytes = new Uint8Array(HELLO_BYTES);
  bytes.set(HELLO_MAGIC);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, min, true);
  view.setUint32(12, max, true);
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

/** The highest revision both sides speak, or null if the ranges do not meet. */
export function chooseVersion(offer: { min: number; max: number }): number | null {
  const chosen = Math.min(offer.max, VERSION);
  return chosen >= Math.max(offer.min, VERSION_MIN) ? chosen : null;
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

/** One decoded v2 record: its type and payload. */
export interface WireRecord {
  type: number;
  payload: Uint8Array;
}

/** Parses one whole SEQPACKET record; the length field must match exactly. */
export function decodeRecord(bytes: Uint8Array): WireRecord {
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

  push(chunk: Uint8Array): WireRecord[] {
    const joined = new Uint8Array(this.#buffer.length + chunk.length);
    joined.set(this.#buffer);
    joined.set(chunk, this.#buffer.length);
    const records: WireRecord[] = [];
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
}

// ---- payloads ------------------------------------------------------------

export interface HelloAck {
  version: number;
  maxRecordBytes: number;
  maxRequestBytes: number;
  maxFds: number;
  /**
   * Revision 3: which process answered (its pid as it sees itself, and its
   * start time in clock ticks since boot), so a client can tell whether the
   * same spawner is still listening before it pipelines a request.
   */
  spawner?: { pid: number; startTicks: bigint };
}

export function encodeHelloAck(ack: HelloAck): Uint8Array {
  const fixed = u32s([ack.version, ack.maxRecordBytes, ack.maxRequestBytes, ack.maxFds]);
  if (ack.version < 3 || !ack.spawner) return encodeRecord(RecordType.HelloAck, fixed);
  const payload = new Uint8Array(28);
  payload.set(fixed);
  const view = new DataView(payload.buffer);
  view.setUint32(16, ack.spawner.pid, true);
  view.setBigUint64(20, ack.spawner.startTicks, true);
  return encodeRecord(RecordType.HelloAck, payload);
}

export function decodeHelloAck(payload: Uint8Array): HelloAck {
  const [version, maxRecordBytes, maxRequestBytes, maxFds] = readU32s(payload.subarray(0, 16), 4, "HELLO_ACK");
  const ack: HelloAck = { version: version!, maxRecordBytes: maxRecordBytes!, maxRequestBytes: maxRequestBytes!, maxFds: maxFds! };
  if (payload.length === 28 && version! >= 3) {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    ack.spawner = { pid: view.getUint32(16, true), startTicks: view.getBigUint64(20, true) };
  } else if (payload.length !== 16) {
    throw new ProtocolError(`HELLO_ACK payload must be 16 or 28 bytes, got ${payload.length}`);
  }
  return ack;
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

/** GRANT flag bits. */
export const GrantFlag = {
  /** Bind the granted object read-write (default read-only). */
  Writable: 1,
  /** (revision 3) The fd is a symlink (O_PATH|O_NOFOLLOW): bind the link itself; its target comes as its own GRANT. */
  Symlink: 2,
  /** (revision 3) Read-write access to the object only (a device such as /dev/null), never to its slot. */
  ObjectWritable: 4,
  /** (revision 3) A unix socket the program may connect to, without write access to anything else. */
  Socket: 8,
} as const;
const GRANT_FLAGS_V2 = GrantFlag.Writable;
const GRANT_FLAGS_V3 = GrantFlag.Writable | GrantFlag.Symlink | GrantFlag.ObjectWritable | GrantFlag.Socket;

export interface GrantSpec {
  /** Where the sandboxed program sees the granted object: an absolute, normalised path. */
  dest: Uint8Array;
  writable: boolean;
  /** Revision 3 kinds; all false in revision 2. */
  symlink?: boolean;
  objectWritable?: boolean;
  socket?: boolean;
}

/** GRANT: u32 flags | destination path (no NUL). The record carries exactly one fd, the granted object. */
export function encodeGrant(grant: GrantSpec): Uint8Array {
  const flags =
    (grant.writable ? GrantFlag.Writable : 0) | (grant.symlink ? GrantFlag.Symlink : 0) |
    (grant.objectWritable ? GrantFlag.ObjectWritable : 0) | (grant.socket ? GrantFlag.Socket : 0);
  const payload = new Uint8Array(4 + grant.dest.length);
  payload.set(u32s([flags]));
  payload.set(grant.dest, 4);
  return encodeRecord(RecordType.Grant, payload);
}

export function decodeGrant(payload: Uint8Array, version = VERSION): GrantSpec {
  if (payload.length < 5) throw new ProtocolError("GRANT needs flags and a destination path");
  const flags = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0, true);
  const known = version >= 3 ? GRANT_FLAGS_V3 : GRANT_FLAGS_V2;
  if ((flags & ~known) !== 0) throw new ProtocolError(`GRANT has unknown flags 0x${flags.toString(16)}`);
  const dest = payload.slice(4);
  if (!isNormalAbsolutePath(dest)) throw new ProtocolError("GRANT destination must be an absolute path without '.', '..', '//' or a trailing '/', and not '/'");
  return {
    dest,
    writable: (flags & GrantFlag.Writable) !== 0,
    symlink: (flags & GrantFlag.Symlink) !== 0,
    objectWritable: (flags & GrantFlag.ObjectWritable) !== 0,
    socket: (flags & GrantFlag.Socket) !== 0,
  };
}

/** "/a/b" yes; "/", "a", "/a/", "/a//b", "/a/./b", "/a/../b" and anything with NUL no. */
export function isNormalAbsolutePath(path: Uint8Array): boolean {
  if (path.length < 2 || path[0] !== 0x2f || path[path.length - 1] === 0x2f || path.includes(0)) return false;
  const text = new TextDecoder().decode(path);
  return text.slice(1).split("/").every((part) => part !== "" && part !== "." && part !== "..");
}

/** SIGNAL flag: deliver to the program's process only, not its whole process group (revision 3). */
export const SIGNAL_PROCESS_ONLY = 1;
/**
 * SIGNAL flag, with SIGCONT for a program on a terminal (revision 3): its
 * client is in the background of the caller's terminal, so the program
 * continues without its terminal's foreground (reading it stops the program
 * with SIGTTIN, as a background job's read would).
 */
export const SIGNAL_BACKGROUND = 2;

export interface SignalRequest {
  signal: number;
  /** The whole process group (default), as a terminal would, or the program alone. */
  group: boolean;
  /** See SIGNAL_BACKGROUND. */
  background: boolean;
}

export function encodeSignal(signal: number, options: { group?: boolean; background?: boolean } = {}): Uint8Array {
  const flags = (options.group === false ? SIGNAL_PROCESS_ONLY : 0) | (options.background ? SIGNAL_BACKGROUND : 0);
  if (flags !== 0) return encodeRecord(RecordType.Signal, u32s([signal, flags]));
  return encodeRecord(RecordType.Signal, u32s([signal]));
}

export function decodeSignal(payload: Uint8Array): SignalRequest {
  if (payload.length === 4) return { signal: readU32s(payload, 1, "SIGNAL")[0]!, group: true, background: false };
  const [signal, flags] = readU32s(payload, 2, "SIGNAL");
  if ((flags! & ~(SIGNAL_PROCESS_ONLY | SIGNAL_BACKGROUND)) !== 0) throw new ProtocolError(`SIGNAL has unknown flags 0x${flags!.toString(16)}`);
  return { signal: signal!, group: (flags! & SIGNAL_PROCESS_ONLY) === 0, background: (flags! & SIGNAL_BACKGROUND) !== 0 };
}

export function encodeStarted(pid: number): Uint8Array {
  return encodeRecord(RecordType.Started, u32s([pid]));
}

export function decodeStarted(payload: Uint8Array): number {
  return readU32s(payload, 1, "STARTED")[0]!;
}

/** STOPPED (revision 3): the program was stopped by `signal`; the client stops itself the same way. */
export function encodeStopped(signal: number): Uint8Array {
  return encodeRecord(RecordType.Stopped, u32s([signal]));
}

export function decodeStopped(payload: Uint8Array): number {
  return readU32s(payload, 1, "STOPPED")[0]!;
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
      const text = limitedText(outcome.message);
      const payload = new Uint8Array(8 + text.length);
      payload.set(u32s([SPAWN_STAGES.indexOf(outcome.stage) + 1, outcome.errno]));
      payload.set(text, 8);
      return encodeRecord(RecordType.SpawnFailed, payload);
    }
  }
}

export function decodeOutcome(record: WireRecord): Outcome {
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

/** REFUSED codes: what a client should do about a refusal (docs/protocol.md has the table). */
export const RefusalCode = {
  /** The request broke the protocol: fix the client. */
  Protocol: 1,
  /** Over a limit (size, fds, time, queue, connections): retry later or ask for less. */
  Limit: 2,
  /** This peer may not do this (access control, grants, a handler's refusal). */
  NotAllowed: 3,
  /** The spawner cannot serve now (shutting down). */
  Unavailable: 4,
  /** The spawner itself failed (a handler threw): a bug to report. */
  Internal: 5,
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

export function encodeRefused(code: RefusalCode, reason: string): Uint8Array {
  const text = limitedText(reason);
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

/** PTY_MASTER (revision 3): no payload; the record carries one fd, the pty's master side. */
export function encodePtyMaster(): Uint8Array {
  return encodeRecord(RecordType.PtyMaster);
}

/** Cuts cut-off message text at MAX_MESSAGE_BYTES without splitting a UTF-8 character. */
function limitedText(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= MAX_MESSAGE_BYTES) return bytes;
  let end = MAX_MESSAGE_BYTES - 3;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  const out = new Uint8Array(end + 3);
  out.set(bytes.subarray(0, end));
  out.set([0x2e, 0x2e, 0x2e], end);
  return out;
}

/** Cuts a byte stream into payloads that each fit one record. */
export function* chunks(bytes: Uint8Array, size = MAX_RECORD_BYTES - HEADER_BYTES): Generator<Uint8Array> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

export function readU32s(payload: Uint8Array, count: number, what: string): number[] {
  if (payload.length !== 4 * count) throw new ProtocolError(`${what} payload must be ${4 * count} bytes, got ${payload.length}`);
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return Array.from({ length: count }, (_, i) => view.getUint32(4 * i, true));
}
