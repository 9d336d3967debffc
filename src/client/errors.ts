// The portal itself failed (as opposed to the program): the CLI exits 125.
export type PortalFailure = "connect" | "refused" | "protocol" | "gone" | "timeout" | "usage";

export class PortalError extends Error {
  constructor(
    readonly failure: PortalFailure,
    message: string,
  ) {
    super(message);
    this.name = "PortalError";
  }
}
