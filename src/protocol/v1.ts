// Protocol v1: the C exec-portal's four records and its 4-byte reply, as
// described in docs/protocol.md ("Compatibility with v1"). Integers are the
// platform's native int: little-endian on every target we build for.
import { V1_MAX_FDS } from "./limits.ts";
import { ProtocolError } from "./errors.ts";
import { joinNulTerminated, splitAtNul } from "./nul-strings.ts";

/** The C client pads its fd record with two data bytes. */
export const V1_FD_RECORD_BYTES = 2;

export function encodeV1Strings(items: readonly Uint8Array[], what: string): Uint8Array {
  return joinNulTerminated(items, what);
}

/**
 * Splits a v1 env/args record. The C client NUL-terminates every item; a
 * missing final NUL is tolerated (the last item runs to the end).
 */
export function decodeV1Strings(bytes: Uint8Array): Uint8Array[] {
  return splitAtNul(bytes).map((item) => item.slice());
}

export function encodeV1FdNumbers(fds: readonly number[]): Uint8Array {
  const bytes = new Uint8Array(4 * fds.length);
  const view = new DataView(bytes.buffer);
  fds.forEach((fd, i) => view.setInt32(4 * i, fd, true));
  return bytes;
}

export function decodeV1FdNumbers(bytes: Uint8Array): number[] {
  if (bytes.length % 4 !== 0) throw new ProtocolError(`v1 fd-number record of ${bytes.length} bytes is not a list of ints`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fds = Array.from({ length: bytes.length / 4 }, (_, i) => view.getInt32(4 * i, true));
  if (fds.length > V1_MAX_FDS) throw new ProtocolError(`v1 request lists ${fds.length} fds (at most ${V1_MAX_FDS})`);
  const seen = new Set<number>();
  for (const fd of fds) {
    if (fd < 0 || fd >= V1_MAX_FDS) throw new ProtocolError(`v1 fd number ${fd} is out of range 0..${V1_MAX_FDS - 1}`);
    if (seen.has(fd)) throw new ProtocolError(`v1 fd number ${fd} is listed twice`);
    seen.add(fd);
  }
  return fds;
}

export function encodeV1Status(waitStatus: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, waitStatus, true);
  return bytes;
}

export function decodeV1Status(bytes: Uint8Array): number {
  if (bytes.length !== 4) throw new ProtocolError(`v1 status record must be 4 bytes, got ${bytes.length}`);
  return new DataView(bytes.buffer, bytes.byteOffset).getInt32(0, true);
}
