// The one place that turns bytes or text into a NUL-terminated C string.
const encoder = new TextEncoder();

/** `value` followed by one NUL byte, for passing to libc. The bytes must not contain NUL themselves. */
export function cString(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  const z = new Uint8Array(bytes.length + 1);
  z.set(bytes);
  return z;
}
