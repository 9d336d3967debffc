// Turning what a caller gives (strings or bytes, maps or records) into the
// byte lists and fd map a request carries.
const encoder = new TextEncoder();

export type Bytes = string | Uint8Array;

export function toBytes(value: Bytes): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

const CONTROL_PREFIX = encoder.encode("PORTAL_");

/** Client-side control variables: never forwarded to the program. */
export function isControlVariable(entry: Uint8Array): boolean {
  // Checked for every variable at start-up: a plain loop, no closure per entry.
  if (entry.length < CONTROL_PREFIX.length) return false;
  for (let i = 0; i < CONTROL_PREFIX.length; i++) if (entry[i] !== CONTROL_PREFIX[i]) return false;
  return true;
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
