// Lists of byte strings each ended by NUL: argv and environment, on the wire
// and in /proc/self/{cmdline,environ}.

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
