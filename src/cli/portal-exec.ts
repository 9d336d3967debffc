// Entry point of the portal-exec binary (lean: no CLI framework, no logger;
// docs/performance.md). No top-level await: that keeps the file buildable as
// a CommonJS bundle with a bytecode cache (bun run build:client). A failure
// runExecCommand does not handle itself still ends the process with status 1.
import { runExecCommand } from "./exec-command.ts";

void runExecCommand();
