// The PTY record (revision 3): 12 bytes, or 64 with terminal settings.
import { expect, test } from "bun:test";
import { decodePtyPayload, encodePtyPayload, TERMIOS_WIRE_BYTES } from "../../../src/protocol/pty.ts";
import { ProtocolError } from "../../../src/protocol/errors.ts";

const size = { rows: 24, cols: 80, xpixel: 640, ypixel: 480 };

test("without settings: u32 fds, then rows, cols, xpixel, ypixel as u16", () => {
  const bytes = encodePtyPayload({ fds: 0b011, size, termios: null });
  expect(bytes).toEqual(new Uint8Array([3, 0, 0, 0, 24, 0, 80, 0, 0x80, 2, 0xe0, 1]));
  expect(decodePtyPayload(bytes)).toEqual({ fds: 3, background: false, size, termios: null });
});

test("bit 8 of the fds word: the client is in the background of its terminal", () => {
  const bytes = encodePtyPayload({ fds: 0b001, background: true, size, termios: null });
  expect(bytes.subarray(0, 4)).toEqual(new Uint8Array([1, 1, 0, 0]));
  expect(decodePtyPayload(bytes)).toEqual({ fds: 1, background: true, size, termios: null });
});

test("with settings: 52 more bytes, kept as they are", () => {
  const termios = new Uint8Array(TERMIOS_WIRE_BYTES).map((_, i) => i + 1);
  const bytes = encodePtyPayload({ fds: 7, size, termios });
  expect(bytes.length).toBe(64);
  expect(decodePtyPayload(bytes)).toEqual({ fds: 7, background: false, size, termios });
});

test("other sizes and fds above 2 are refused", () => {
  expect(() => decodePtyPayload(new Uint8Array(13))).toThrow(ProtocolError);
  expect(() => decodePtyPayload(new Uint8Array(63))).toThrow(/12 or 64 bytes/);
  const word = (value: number) => {
    const bytes = encodePtyPayload({ fds: 0, size, termios: null });
    new DataView(bytes.buffer).setUint32(0, value, true);
    return bytes;
  };
  expect(() => decodePtyPayload(word(8))).toThrow(/above 2/);
  expect(() => decodePtyPayload(word(0x200))).toThrow(ProtocolError);
});
