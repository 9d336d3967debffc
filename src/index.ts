// The package's library API: an exec client and an in-process spawner.
export { exec, start, type ExecOptions, type ExecResult, type PtyOption, type RemoteProcess } from "./client/exec.ts";
export { PortalError, type PortalFailure } from "./client/errors.ts";
export { serve, defaultSocketPath, type ServeOptions, type PortalServer } from "./spawner/serve.ts";
export { PortalRequest, Refusal, type Handler, type HandlerResult } from "./spawner/request.ts";
export type { Logger } from "./spawner/logger.ts";
export type { Outcome, SpawnStage } from "./protocol/outcome.ts";
export { OwnedFd } from "./libc/owned-fd.ts";
export { signalName, parseSignal } from "./process/signals.ts";
