// Lists of byte strings each ended by NUL: argv and environment, on the wire
// (both protocol versions) and in /proc/self/{cmdline,environ}.
import { ProtocolError } from "./errors.ts";

/**
 * The NUL-ended items of `bytes`, as views into it (copy to keep them past
 * the buffer's reuse). Bytes after the last NUL come back as a last item.
 */
export function splitAtNul(bytes: Uint8Array): Uint8Array[] {
  const items: Uint8Array[] = [];
  // indexOf, not a loop over bytes: on a client's start-up this runs interpreted.
  let start = 0;
  for (let end = bytes.indexOf(0); end >= 0; end = bytes.indexOf(0, start)) {
    items.push(bytes.subarray(start, end));
    start = end + 1;
  }
  if (start < bytes.length) items.push(bytes.subarray(start));
  return items;
}

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
