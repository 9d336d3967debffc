// Where client and spawner meet by default (the C exec-portal's convention).
export const DEFAULT_SOCKET = "./portal.sock";

/** The socket path: $PORTAL_NAME, else ./portal.sock. */
export function defaultSocketPath(env: Record<string, string | undefined> = process.env): string {
  return env.PORTAL_NAME || DEFAULT_SOCKET;
}
