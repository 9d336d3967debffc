// Terminal settings between the wire form of the PTY record (52 bytes,
// little-endian: iflag, oflag, cflag, lflag, line, cc[32], 3 zero bytes)
// and the C library's struct termios (60 bytes: the same fields, then the
// two speeds, which a pty does not use).
import { TERMIOS_BYTES } from "../libc/tty.ts";
import { TERMIOS_WIRE_BYTES } from "../protocol/pty.ts";

export function termiosToWire(termios: Uint8Array): Uint8Array {
  const wire = new Uint8Array(TERMIOS_WIRE_BYTES);
  // Flags, line and control characters sit at the same offsets in both forms (LP64 glibc and musl).
  wire.set(termios.subarray(0, 17 + 32));
  return wire;
}

export function termiosFromWire(wire: Uint8Array): Uint8Array {
  const termios = new Uint8Array(TERMIOS_BYTES);
  termios.set(wire.subarray(0, 17 + 32));
  // Speeds: B38400, a value every pty accepts.
  const view = new DataView(termios.buffer);
  view.setUint32(52, 0o17, true);
  view.setUint32(56, 0o17, true);
  return termios;
}
