// Protocol v1 codecs (src/protocol/v1.ts): the C exec-portal's records, as
// docs/protocol.md ("Compatibility with v1") describes them.
import { describe, expect, test } from "bun:test";
import {
  decodeV1FdNumbers, decodeV1Status, decodeV1Strings, encodeV1FdNumbers, encodeV1Status, encodeV1Strings,
} from "../../../src/protocol/v1.ts";
import { ProtocolError } from "../../../src/protocol/errors.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("env and args records", () => {
  test("each item followed by NUL; zero-length for none", () => {
    expect(encodeV1Strings([enc("A=1"), enc("B=")], "env")).toEqual(enc("A=1\0B=\0"));
    expect(encodeV1Strings([], "args")).toEqual(new Uint8Array(0));
    expect(decodeV1Strings(new Uint8Array(0))).toEqual([]);
  });

  test("round-trips bytes that are not UTF-8, and empty items", () => {
    const items = [new Uint8Array([0xff, 0x80]), enc(""), enc("x")];
    expect(decodeV1Strings(encodeV1Strings(items, "args"))).toEqual(items);
  });

  test("a missing final NUL is tolerated: the last item runs to the end", () => {
    expect(decodeV1Strings(enc("a\0bc"))).toEqual([enc("a"), enc("bc")]);
  });

  test("an item containing NUL cannot be encoded", () => {
    expect(() => encodeV1Strings([enc("a\0b")], "args")).toThrow(ProtocolError);
  });
});

describe("fd-number record", () => {
  test("native ints, little-endian, in order", () => {
    expect(encodeV1FdNumbers([0, 1, 255])).toEqual(new Uint8Array([0, 0, 0, 0, 1, 0, 0, 0, 255, 0, 0, 0]));
    expect(decodeV1FdNumbers(encodeV1FdNumbers([0, 1, 2, 7]))).toEqual([0, 1, 2, 7]);
    expect(decodeV1FdNumbers(new Uint8Array(0))).toEqual([]);
  });

  test("numbers outside 0..255, repeated numbers, more than 256 and a ragged length are refused", () => {
    expect(() => decodeV1FdNumbers(encodeV1FdNumbers([256]))).toThrow(/out of range 0..255/);
    expect(() => decodeV1FdNumbers(encodeV1FdNumbers([-1]))).toThrow(/out of range/);
    expect(() => decodeV1FdNumbers(encodeV1FdNumbers([3, 3]))).toThrow(/listed twice/);
    expect(() => decodeV1FdNumbers(encodeV1FdNumbers(Array.from({ length: 257 }, (_, i) => i % 256)))).toThrow(/257 fds/);
    expect(() => decodeV1FdNumbers(new Uint8Array(6))).toThrow(/not a list of ints/);
  });
});

describe("status record", () => {
  test("exactly one 4-byte native int: exit(3) is 0x0300, SIGKILL is 9", () => {
    expect(encodeV1Status(0x0300)).toEqual(new Uint8Array([0, 3, 0, 0]));
    expect(encodeV1Status(9)).toEqual(new Uint8Array([9, 0, 0, 0]));
    expect(decodeV1Status(encodeV1Status(0x8b))).toBe(0x8b);
    expect(() => decodeV1Status(new Uint8Array(2))).toThrow(/4 bytes, got 2/);
  });
});
