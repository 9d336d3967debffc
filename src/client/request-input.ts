// Turning what a caller gives (strings or bytes, maps or records) into the
// byte lists and fd map a request carries.
const encoder = new TextEncoder();

export type Bytes = string | Uint8Array;

export function toBytes(value: Bytes): Uint8Array {
  return typeof value === "string" ? encoder.encode(value) : value;
}

/**
 * The client's own control variables: read by the client (and its
 * launcher), never forwarded to the program. Every other variable is, a
 * program's own PORTAL_APP_MODE included (the README lists these).
 */
export const CONTROL_VARIABLES = ["PORTAL_NAME", "PORTAL_ONE_SHOT", "PORTAL_PROTOCOL", "PORTAL_BUN", "PORTAL_EXEC_INHERITED"] as const;
const CONTROL_PREFIXES = CONTROL_VARIABLES.map((name) => encoder.encode(`${name}=`));
const P = 0x50; // "P": most entries are ruled out by their first byte.

/** Whether `entry` ("NAME=value") is one of the client's control variables. */
export function isControlVariable(entry: Uint8Array): boolean {
  // Checked for every variable at start-up: plain loops, no closure per entry.
  if (entry[0] !== P) return false;
  for (const prefix of CONTROL_PREFIXES) {
    if (entry.length < prefix.length) continue;
    let i = 0;
    while (i < prefix.length && entry[i] === prefix[i]) i++;
    if (i === prefix.length) return true;
  }
  return false;
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
