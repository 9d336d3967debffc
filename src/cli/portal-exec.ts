// Entry point of the portal-exec binary (lean: no CLI framework, no logger).
import { runExecCommand } from "./exec-command.ts";

await runExecCommand();
