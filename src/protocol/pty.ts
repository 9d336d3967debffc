// The PTY record (revision 3): the client asks for a terminal. Little-endian:
//   u32 fds | u16 rows | u16 cols | u16 xpixel | u16 ypixel | [termios]
// `fds` has bit n set for each of fds 0-2 that was the client's terminal:
// exactly those get the pty. Bit 8 (PTY_BACKGROUND) says the client started
// in the background of its terminal: the program does not get its pty's
// foreground until a SIGCONT without SIGNAL_BACKGROUND (`fg`). The optional termios (52 bytes: u32 iflag,
// oflag, cflag, lflag; u8 line; 32 cc bytes; 3 zero bytes) gives the pty the
// client's terminal settings (erase character, UTF-8 input, ...).
import { ProtocolError } from "./errors.ts";

export const TERMIOS_WIRE_BYTES = 52;
const FIXED_BYTES = 12;

export interface WindowSize {
  rows: number;
  cols: number;
  xpixel: number;
  ypixel: number;
}

/** Bit of the `fds` word: the client is in the background of its terminal. */
export const PTY_BACKGROUND = 0x100;

export interface PtyRequest {
  /** Bit n set: fd n gets the pty. */
  fds: number;
  /** The client started in the background of its terminal (PTY_BACKGROUND). */
  background?: boolean;
  size: WindowSize;
  /** The client's terminal settings in wire form, or null to take the pty's defaults. */
  termios: Uint8Array | null;
}

export function encodePtyPayload(request: PtyRequest): Uint8Array {
  const bytes = new Uint8Array(FIXED_BYTES + (request.termios ? TERMIOS_WIRE_BYTES : 0));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, (request.fds & 7) | (request.background ? PTY_BACKGROUND : 0), true);
  view.setUint16(4, request.size.rows, true);
  view.setUint16(6, request.size.cols, true);
  view.setUint16(8, request.size.xpixel, true);
  view.setUint16(10, request.size.ypixel, true);
  if (request.termios) bytes.set(request.termios.subarray(0, TERMIOS_WIRE_BYTES), FIXED_BYTES);
  return bytes;
}

export function decodePtyPayload(payload: Uint8Array): PtyRequest {
  if (payload.length !== FIXED_BYTES && payload.length !== FIXED_BYTES + TERMIOS_WIRE_BYTES) {
    throw new ProtocolError(`PTY payload must be ${FIXED_BYTES} or ${FIXED_BYTES + TERMIOS_WIRE_BYTES} bytes, got ${payload.length}`);
  }
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const word = view.getUint32(0, true);
  if ((word & ~(7 | PTY_BACKGROUND)) !== 0) throw new ProtocolError(`PTY fd bits 0x${word.toString(16)} name fds above 2`);
  return {
    fds: word & 7,
    background: (word & PTY_BACKGROUND) !== 0,
    size: { rows: view.getUint16(4, true), cols: view.getUint16(6, true), xpixel: view.getUint16(8, true), ypixel: view.getUint16(10, true) },
    termios: payload.length > FIXED_BYTES ? payload.slice(FIXED_BYTES) : null,
  };
}
