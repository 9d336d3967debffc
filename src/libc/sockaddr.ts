// struct sockaddr_un: family u16@0, path[108]@2.
import { AF_UNIX } from "./constants.ts";

const SIZE = 110;
export const SUN_PATH_MAX = 108;

/** A sockaddr_un for a filesystem path, or an abstract name when it starts with NUL. */
export function sockaddrUn(path: Uint8Array): { bytes: Uint8Array; length: number } {
  if (path.length === 0 || path.length >= SUN_PATH_MAX) {
    throw new RangeError(`socket path must be 1..${SUN_PATH_MAX - 1} bytes, got ${path.length}`);
  }
  const bytes = new Uint8Array(SIZE);
  new DataView(bytes.buffer).setUint16(0, AF_UNIX, true);
  bytes.set(path, 2);
  // Abstract names are length-delimited; filesystem paths are NUL-terminated.
  const length = path[0] === 0 ? 2 + path.length : 2 + path.length + 1;
  return { bytes, length };
}
