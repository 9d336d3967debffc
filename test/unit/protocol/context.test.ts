// The CONTEXT record (revision 3): layout, round trip, and refusals.
import { expect, test } from "bun:test";
import { CONTEXT_LISTEN_PID, decodeContextPayload, encodeContextPayload, type ProcessContext } from "../../../src/protocol/context.ts";
import { ProtocolError } from "../../../src/protocol/errors.ts";

const INFINITY = 2n ** 64n - 1n;
const context: ProcessContext = {
  listenPid: true,
  umask: 0o027,
  blocked: (1n << 1n) | (1n << 63n),
  ignored: 1n << 12n,
  closed: 0b101,
  limits: [
    { resource: 7, soft: 1024n, hard: 4096n },
    { resource: 4, soft: 0n, hard: INFINITY },
  ],
};

test("the documented layout: flags, umask, blocked, ignored, closed, n, then 24 bytes per limit", () => {
  const bytes = encodeContextPayload(context);
  expect(bytes.length).toBe(32 + 2 * 24);
  const view = new DataView(bytes.buffer);
  expect(view.getUint32(0, true)).toBe(CONTEXT_LISTEN_PID);
  expect(view.getUint32(4, true)).toBe(0o027);
  expect(view.getBigUint64(8, true)).toBe(context.blocked);
  expect(view.getBigUint64(16, true)).toBe(context.ignored);
  expect(view.getUint32(24, true)).toBe(0b101);
  expect(view.getUint32(28, true)).toBe(2);
  expect([view.getUint32(32, true), view.getUint32(36, true), view.getBigUint64(40, true), view.getBigUint64(48, true)]).toEqual([7, 0, 1024n, 4096n]);
  expect(view.getBigUint64(32 + 24 + 16, true)).toBe(INFINITY);
});

test("round-trips, and an empty context too", () => {
  expect(decodeContextPayload(encodeContextPayload(context))).toEqual(context);
  const none: ProcessContext = { listenPid: false, umask: 0, blocked: 0n, ignored: 0n, closed: 0, limits: [] };
  expect(decodeContextPayload(encodeContextPayload(none))).toEqual(none);
});

test("malformed contexts are refused", () => {
  const cases: Array<[string, (view: DataView, bytes: Uint8Array) => Uint8Array]> = [
    ["unknown flags", (v, b) => (v.setUint32(0, 2, true), b)],
    ["umask above 0777", (v, b) => (v.setUint32(4, 0o1000, true), b)],
    ["closed fds above 2", (v, b) => (v.setUint32(24, 8, true), b)],
    ["a count that disagrees with the size", (v, b) => (v.setUint32(28, 3, true), b)],
    ["a resource >= 16", (v, b) => (v.setUint32(32, 16, true), b)],
    ["the same resource twice", (v, b) => (v.setUint32(32 + 24, 7, true), b)],
    ["soft above hard", (v, b) => (v.setBigUint64(40, 5000n, true), b)],
    ["a ragged size", (_, b) => b.subarray(0, b.length - 1)],
    ["too short", (_, b) => b.subarray(0, 31)],
  ];
  const errorOf = (mutate: (view: DataView, bytes: Uint8Array) => Uint8Array): string | null => {
    const bytes = encodeContextPayload(context);
    try {
      decodeContextPayload(mutate(new DataView(bytes.buffer), bytes));
      return null;
    } catch (error) {
      return error instanceof ProtocolError ? "ProtocolError" : String(error);
    }
  };
  expect(cases.map(([what, mutate]) => [what, errorOf(mutate)])).toEqual(cases.map(([what]) => [what, "ProtocolError"]));
});
