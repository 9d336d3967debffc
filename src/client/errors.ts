// The portal itself failed (as opposed to the program): the CLI exits 125.
export type PortalFailure = "connect" | "refused" | "protocol" | "gone" | "timeout" | "usage";

export class PortalError extends Error {
  /** For "refused": the spawner's REFUSED code (docs/protocol.md: 1 protocol, 2 limit, 3 not allowed, 4 unavailable, 5 internal). */
  readonly code: number | null;

  constructor(
    readonly failure: PortalFailure,
    message: string,
    options: { code?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "PortalError";
    this.code = options.code ?? null;
  }
}
