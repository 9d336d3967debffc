// Protocol v2 codecs (src/protocol/v2.ts) against docs/protocol.md: layouts,
// the revision handshake, and every malformed input refused.
import { describe, expect, test } from "bun:test";
import { HEADER_BYTES, MAX_MESSAGE_BYTES, MAX_RECORD_BYTES } from "../../../src/protocol/limits.ts";
import {
  chooseVersion, chunks, decodeFdTargets, decodeGrant, decodeHello, decodeHelloAck, decodeOutcome, decodeRecord, decodeRefused,
  decodeSignal, decodeStart, decodeStarted, decodeStopped, encodeFdTargets, encodeGrant, encodeHello, encodeHelloAck, encodeOutcome,
  encodePtyMaster, encodeRecord, encodeRefused, encodeSignal, encodeStart, encodeStarted, encodeStopped, GrantFlag, HELLO_BYTES,
  isHello, isNormalAbsolutePath, joinNulTerminated, ProtocolError, RecordStreamDecoder, RecordType, RefusalCode, splitNulTerminated,
  VERSION, VERSION_MIN,
} from "../../../src/protocol/v2.ts";
import { u32s } from "../../../src/protocol/bytes.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const bytes = (...values: number[]) => new Uint8Array(values);
const payloadOf = (record: Uint8Array) => decodeRecord(record).payload;

describe("record header", () => {
  test("is u16 type, u16 zero, u32 payload length, little-endian", () => {
    expect(encodeRecord(RecordType.Args, enc("ab"))).toEqual(bytes(0x01, 0, 0, 0, 2, 0, 0, 0, 0x61, 0x62));
    expect(encodeRecord(RecordType.Start)).toEqual(bytes(0x05, 0, 0, 0, 0, 0, 0, 0));
  });

  test("decodes type and payload", () => {
    const record = decodeRecord(encodeRecord(RecordType.Env, enc("A=1\0")));
    expect(record.type).toBe(RecordType.Env);
    expect(record.payload).toEqual(enc("A=1\0"));
  });

  test("a record shorter than its header, with reserved bits, or whose length field lies is a ProtocolError", () => {
    expect(() => decodeRecord(bytes(1, 0, 0, 0, 0, 0, 0))).toThrow(ProtocolError);
    expect(() => decodeRecord(bytes(1, 0, 1, 0, 0, 0, 0, 0))).toThrow(/reserved/);
    expect(() => decodeRecord(bytes(1, 0, 0, 0, 3, 0, 0, 0, 0x61, 0x62))).toThrow(/says 3 payload bytes but carries 2/);
    expect(() => decodeRecord(bytes(1, 0, 0, 0, 1, 0, 0, 0, 0x61, 0x62))).toThrow(ProtocolError);
  });

  test("a record of exactly 64 KiB can be made; one byte more cannot", () => {
    expect(encodeRecord(RecordType.Args, new Uint8Array(MAX_RECORD_BYTES - HEADER_BYTES)).length).toBe(MAX_RECORD_BYTES);
    expect(() => encodeRecord(RecordType.Args, new Uint8Array(MAX_RECORD_BYTES - HEADER_BYTES + 1))).toThrow(RangeError);
  });
});

describe("RecordStreamDecoder", () => {
  test("gives back the records of a byte stream, whatever the chunks", () => {
    const stream = new Uint8Array([
      ...encodeStarted(7), ...encodeOutcome({ kind: "exited", code: 3 }), ...encodeRefused(RefusalCode.Limit, "busy"),
    ]);
    for (const size of [1, 3, 8, 13, stream.length]) {
      const decoder = new RecordStreamDecoder();
      const records = [];
      for (let at = 0; at < stream.length; at += size) records.push(...decoder.push(stream.subarray(at, at + size)));
      expect(records.map((r) => r.type)).toEqual([RecordType.Started, RecordType.Exited, RecordType.Refused]);
      expect(decodeStarted(records[0]!.payload)).toBe(7);
    }
  });

  test("a length field past the record limit is an error at once, before the bytes arrive", () => {
    const header = new Uint8Array(HEADER_BYTES);
    new DataView(header.buffer).setUint32(4, MAX_RECORD_BYTES, true);
    expect(() => new RecordStreamDecoder().push(header)).toThrow(/too long/);
  });
});

describe("HELLO and the revision handshake", () => {
  test("HELLO is the 16 bytes magic, lowest, highest, with no record header", () => {
    expect(encodeHello(2, 3)).toEqual(bytes(0, 0x70, 0x6f, 0x72, 0x74, 0x61, 0x6c, 0, 2, 0, 0, 0, 3, 0, 0, 0));
    expect(encodeHello().length).toBe(HELLO_BYTES);
    expect(decodeHello(encodeHello(2, 9))).toEqual({ min: 2, max: 9 });
  });

  test("isHello looks at the magic only; decodeHello also wants exactly 16 bytes", () => {
    expect(isHello(encodeHello())).toBe(true);
    expect(isHello(new Uint8Array([...encodeHello(), 0]))).toBe(true);
    expect(() => decodeHello(new Uint8Array([...encodeHello(), 0]))).toThrow(/16 bytes, got 17/);
    expect(isHello(enc("PATH=/bin\0"))).toBe(false);
    expect(isHello(new Uint8Array(0))).toBe(false);
    expect(isHello(encodeHello().subarray(0, 7))).toBe(false);
  });

  test("the spawner picks the highest revision both speak (docs: min(max, 4) if >= max(min, 2))", () => {
    expect([VERSION_MIN, VERSION]).toEqual([2, 4]);
    expect(chooseVersion({ min: 2, max: 2 })).toBe(2);
    expect(chooseVersion({ min: 2, max: 3 })).toBe(3);
    expect(chooseVersion({ min: 2, max: 4 })).toBe(4);
    expect(chooseVersion({ min: 3, max: 9 })).toBe(4);
    expect(chooseVersion({ min: 1, max: 3 })).toBe(3);
    expect(chooseVersion({ min: 0, max: 2 })).toBe(2);
    expect(chooseVersion({ min: 5, max: 6 })).toBeNull();
    expect(chooseVersion({ min: 1, max: 1 })).toBeNull();
    expect(chooseVersion({ min: 3, max: 2 })).toBeNull();
  });

  test("HELLO_ACK is 16 bytes in revision 2 and 28 in revision 3 (the spawner's pid and start time)", () => {
    const limits = { maxRecordBytes: 65536, maxRequestBytes: 8 << 20, maxFds: 4096 };
    const two = encodeHelloAck({ version: 2, ...limits, spawner: { pid: 5, startTicks: 6n } });
    expect(payloadOf(two)).toEqual(u32s([2, 65536, 8 << 20, 4096]));
    expect(decodeHelloAck(payloadOf(two))).toEqual({ version: 2, ...limits });
    const three = encodeHelloAck({ version: 3, ...limits, spawner: { pid: 812, startTicks: 2n ** 40n + 1n } });
    expect(payloadOf(three).length).toBe(28);
    expect(decodeHelloAck(payloadOf(three))).toEqual({ version: 3, ...limits, spawner: { pid: 812, startTicks: 2n ** 40n + 1n } });
  });

  test("a HELLO_ACK of another size, or a 28-byte one claiming revision 2, is refused", () => {
    expect(() => decodeHelloAck(new Uint8Array(12))).toThrow(ProtocolError);
    expect(() => decodeHelloAck(new Uint8Array([...u32s([3, 1, 2, 3]), 0, 0, 0, 0]))).toThrow(/16 or 28 bytes/);
    expect(() => decodeHelloAck(new Uint8Array([...u32s([2, 1, 2, 3, 4]), 0, 0, 0, 0, 0, 0, 0, 0]))).toThrow(/16 or 28 bytes/);
  });
});

describe("request records", () => {
  test("START is four u32s and round-trips", () => {
    const counts = { argc: 2, envc: 1, fdCount: 3, flags: 0 };
    expect(payloadOf(encodeStart(counts))).toEqual(u32s([2, 1, 3, 0]));
    expect(decodeStart(payloadOf(encodeStart(counts)))).toEqual(counts);
    expect(() => decodeStart(u32s([1, 2, 3]))).toThrow(/START payload must be 16 bytes, got 12/);
  });

  test("FDS is a list of u32 targets", () => {
    expect(decodeFdTargets(payloadOf(encodeFdTargets([0, 1, 2, 1 << 20])))).toEqual([0, 1, 2, 1 << 20]);
    expect(decodeFdTargets(new Uint8Array(0))).toEqual([]);
    expect(() => decodeFdTargets(new Uint8Array(6))).toThrow(/not a list of u32/);
  });

  test("SIGNAL: 4 bytes to the group, 8 bytes with flag 1 to the process alone, flag 2 for a client in the background, unknown flags refused", () => {
    expect(payloadOf(encodeSignal(15))).toEqual(u32s([15]));
    expect(decodeSignal(payloadOf(encodeSignal(15)))).toEqual({ signal: 15, group: true, background: false });
    expect(payloadOf(encodeSignal(2, { group: false }))).toEqual(u32s([2, 1]));
    expect(decodeSignal(u32s([2, 1]))).toEqual({ signal: 2, group: false, background: false });
    expect(decodeSignal(u32s([2, 0]))).toEqual({ signal: 2, group: true, background: false });
    expect(payloadOf(encodeSignal(18, { background: true }))).toEqual(u32s([18, 2]));
    expect(decodeSignal(u32s([18, 2]))).toEqual({ signal: 18, group: true, background: true });
    expect(() => decodeSignal(u32s([2, 4]))).toThrow(/unknown flags 0x4/);
    expect(() => decodeSignal(new Uint8Array(6))).toThrow(ProtocolError);
  });

  test("GRANT round-trips every kind in revision 3", () => {
    const grant = { dest: enc("/srv/data"), writable: true, symlink: true, objectWritable: true, socket: true };
    const record = encodeGrant(grant);
    expect(payloadOf(record).subarray(0, 4)).toEqual(u32s([GrantFlag.Writable | GrantFlag.Symlink | GrantFlag.ObjectWritable | GrantFlag.Socket]));
    expect(decodeGrant(payloadOf(record), 3)).toEqual(grant);
    expect(decodeGrant(payloadOf(encodeGrant({ dest: enc("/a"), writable: false })), 3)).toEqual({
      dest: enc("/a"), writable: false, symlink: false, objectWritable: false, socket: false,
    });
  });

  test("GRANT: revision 2 knows only Writable; bits no revision knows are refused", () => {
    expect(decodeGrant(payloadOf(encodeGrant({ dest: enc("/a"), writable: true })), 2).writable).toBe(true);
    for (const flag of [GrantFlag.Symlink, GrantFlag.ObjectWritable, GrantFlag.Socket]) {
      const payload = new Uint8Array([...u32s([flag]), ...enc("/a")]);
      expect(() => decodeGrant(payload, 2)).toThrow(/unknown flags/);
      expect(() => decodeGrant(payload, 3)).not.toThrow();
    }
    expect(() => decodeGrant(new Uint8Array([...u32s([16]), ...enc("/a")]), 3)).toThrow(/unknown flags 0x10/);
    expect(() => decodeGrant(u32s([0]), 3)).toThrow(/destination/);
  });

  test("grant destinations must be absolute and normalised, and not /", () => {
    for (const good of ["/a", "/a/b", "/dev/null", "/a/.b", "/a/b..c"]) expect({ good, ok: isNormalAbsolutePath(enc(good)) }).toEqual({ good, ok: true });
    for (const bad of ["/", "", "a", "a/b", "/a/", "/a//b", "/./a", "/a/.", "/a/../b", "/..", "/a\0b"]) {
      expect({ bad, ok: isNormalAbsolutePath(enc(bad)) }).toEqual({ bad, ok: false });
    }
    expect(() => decodeGrant(new Uint8Array([...u32s([0]), ...enc("/a/../etc")]), 3)).toThrow(ProtocolError);
  });

  test("argument streams: each item ends in NUL; pieces may split anywhere; a stream must end in NUL", () => {
    const items = [enc("echo"), enc(""), new Uint8Array([0xff, 0xfe])];
    const stream = joinNulTerminated(items, "argument");
    expect(stream).toEqual(bytes(0x65, 0x63, 0x68, 0x6f, 0, 0, 0xff, 0xfe, 0));
    expect(splitNulTerminated(stream, "ARGS")).toEqual(items);
    expect(splitNulTerminated(new Uint8Array(0), "ARGS")).toEqual([]);
    expect(() => splitNulTerminated(enc("a\0b"), "ARGS")).toThrow(/ARGS does not end with NUL/);
    expect(() => joinNulTerminated([enc("a\0b")], "argument")).toThrow(/contains a NUL/);
  });

  test("chunks() cuts a stream into payloads that fit one record, and back", () => {
    const stream = new Uint8Array(150_000).map((_, i) => i % 251);
    const pieces = [...chunks(stream)];
    expect(pieces.map((p) => p.length)).toEqual([65528, 65528, 150_000 - 2 * 65528]);
    for (const piece of pieces) expect(encodeRecord(RecordType.Args, piece).length).toBeLessThanOrEqual(MAX_RECORD_BYTES);
    expect(new Uint8Array(pieces.flatMap((p) => [...p]))).toEqual(stream);
    expect([...chunks(new Uint8Array(0))]).toEqual([]);
  });
});

describe("replies", () => {
  test("STARTED and STOPPED carry one u32; PTY_MASTER is empty", () => {
    expect(decodeStarted(payloadOf(encodeStarted(12345)))).toBe(12345);
    expect(decodeStopped(payloadOf(encodeStopped(20)))).toBe(20);
    expect(decodeRecord(encodeStopped(20)).type).toBe(RecordType.Stopped);
    expect(encodePtyMaster()).toEqual(bytes(0x86, 0, 0, 0, 0, 0, 0, 0));
    expect(() => decodeStarted(new Uint8Array(8))).toThrow(ProtocolError);
  });

  test("EXITED: kind 1 with the code, kind 2 with the signal and the core flag", () => {
    expect(payloadOf(encodeOutcome({ kind: "exited", code: 255 }))).toEqual(u32s([1, 255, 0]));
    expect(payloadOf(encodeOutcome({ kind: "signaled", signal: 11, coreDumped: true }))).toEqual(u32s([2, 11, 1]));
    for (const outcome of [{ kind: "exited", code: 0 }, { kind: "signaled", signal: 64, coreDumped: false }] as const) {
      expect(decodeOutcome(decodeRecord(encodeOutcome(outcome)))).toEqual(outcome);
    }
  });

  test("EXITED outside its ranges (code > 255, signal 0 or > 64, kind 3) is a ProtocolError", () => {
    for (const values of [[1, 256, 0], [2, 0, 0], [2, 65, 0], [3, 1, 0], [0, 0, 0]]) {
      expect(() => decodeOutcome(decodeRecord(encodeRecord(RecordType.Exited, u32s(values))))).toThrow(ProtocolError);
    }
    expect(() => decodeOutcome(decodeRecord(encodeRecord(RecordType.Exited, u32s([1, 0]))))).toThrow(ProtocolError);
  });

  test("SPAWN_FAILED: stage 1..3, errno, message", () => {
    for (const [stage, number] of [["exec", 1], ["chdir", 2], ["setup", 3]] as const) {
      const outcome = { kind: "spawn-failed", stage, errno: 2, message: "cannot run 'x': No such file or directory" } as const;
      const record = encodeOutcome(outcome);
      expect(payloadOf(record).subarray(0, 8)).toEqual(u32s([number, 2]));
      expect(decodeOutcome(decodeRecord(record))).toEqual(outcome);
    }
    expect(() => decodeOutcome(decodeRecord(encodeRecord(RecordType.SpawnFailed, u32s([4, 2]))))).toThrow(/unknown stage 4/);
    expect(() => decodeOutcome(decodeRecord(encodeRecord(RecordType.SpawnFailed, u32s([1]))))).toThrow(/too short/);
  });

  test("a missing program with a 70 KB name still gets SPAWN_FAILED: the message is cut to 4000 bytes, ending in '...'", () => {
    const name = "x".repeat(70_000);
    const record = encodeOutcome({ kind: "spawn-failed", stage: "exec", errno: 2, message: `cannot run '${name}': No such file or directory` });
    expect(record.length).toBe(HEADER_BYTES + 8 + MAX_MESSAGE_BYTES);
    const outcome = decodeOutcome(decodeRecord(record));
    expect(outcome).toMatchObject({ kind: "spawn-failed", stage: "exec", errno: 2 });
    const message = (outcome as { message: string }).message;
    expect(message.startsWith("cannot run 'xxx")).toBe(true);
    expect(message.endsWith("...")).toBe(true);
  });

  test("REFUSED: code and reason; a long reason is cut without splitting a UTF-8 character", () => {
    const record = encodeRefused(RefusalCode.NotAllowed, "uid 1000 (gid 1000) is not allowed");
    expect(decodeRefused(payloadOf(record))).toEqual({ code: 3, reason: "uid 1000 (gid 1000) is not allowed" });
    const long = "é".repeat(3000); // 6000 bytes of two-byte characters
    const cut = decodeRefused(payloadOf(encodeRefused(RefusalCode.Limit, long)));
    expect(new TextEncoder().encode(cut.reason).length).toBeLessThanOrEqual(MAX_MESSAGE_BYTES);
    expect(cut.reason).toBe(`${"é".repeat(1998)}...`);
    const exact = "a".repeat(MAX_MESSAGE_BYTES);
    expect(decodeRefused(payloadOf(encodeRefused(RefusalCode.Limit, exact))).reason).toBe(exact);
    expect(() => decodeRefused(new Uint8Array(3))).toThrow(/too short/);
  });

  test("the refusal codes are the documented ones", () => {
    expect(RefusalCode).toEqual({ Protocol: 1, Limit: 2, NotAllowed: 3, Unavailable: 4, Internal: 5 });
  });

  test("record type numbers are the documented ones: client 0x01..0x09, spawner 0x81..0x87", () => {
    const types = [
      RecordType.Args, RecordType.Env, RecordType.Cwd, RecordType.Fds, RecordType.Start, RecordType.Signal, RecordType.Grant,
      RecordType.Context, RecordType.Pty, RecordType.HelloAck, RecordType.Started, RecordType.Exited, RecordType.SpawnFailed,
      RecordType.Refused, RecordType.PtyMaster, RecordType.Stopped,
    ];
    expect(types).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87]);
  });
});
