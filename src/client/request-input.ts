// Turning what a caller gives (strings or bytes, maps or records) into the
// byte lists and fd map a request carries.
const encoder = new TextEncoder();

export type Bytes = string | Uint8Array;

export function toBytes(value: Bytes): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

/** Client-side control variables: never forwarded to the program. */
export function isControlVariable(entry: Uint8Array): boolean {
  // "PORTAL_" prefix
  const prefix = [0x50, 0x4f, 0x52, 0x54, 0x41, 0x4c, 0x5f];
  return entry.length >= prefix.length && prefix.every((b, i) => entry[i] === b);
}

export type EnvInput = readonly Bytes[] | Record<string, string | undefined>;

export function envEntries(env: EnvInput): Uint8Array[] {
  if (Array.isArray(env)) return (env as readonly Bytes[]).map(toBytes);
  return Object.entries(env as Record<string, string | undefined>)
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => encoder.encode(`${k}=${v}`));
}

export type FdInput = ReadonlyMap<number, number> | Record<number, number> | readonly number[];

/** target -> source. An array means "these fds at their own numbers". */
export function fdMap(fds: FdInput): Map<number, number> {
  if (fds instanceof Map) return new Map(fds);
  if (Array.isArray(fds)) return new Map((fds as readonly number[]).map((fd) => [fd, fd]));
  return new Map(Object.entries(fds as Record<number, number>).map(([t, s]) => [Number(t), s]));
}
