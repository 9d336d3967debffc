// One refusal type for every request the spawner (or a handler) will not
// run: a code the client can act on (docs/protocol.md), a reason it prints,
// and the cause behind it for the log.
import { RefusalCode } from "../protocol/v2.ts";

export { RefusalCode };

export class Refusal extends Error {
  readonly code: RefusalCode;

  constructor(message: string, options: { code?: RefusalCode; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "Refusal";
    this.code = options.code ?? RefusalCode.NotAllowed;
  }
}

export const limitRefusal = (message: string) => new Refusal(message, { code: RefusalCode.Limit });
export const protocolRefusal = (message: string, cause?: unknown) => new Refusal(`protocol error: ${message}`, { code: RefusalCode.Protocol, cause });
