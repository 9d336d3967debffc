// portal-spawner [options] [--] [PROGRAM [ARGS...]]
import { defineCommand, parseArgs, runCommand, type ArgsDef } from "citty";
import { serve, defaultSocketPath } from "../spawner/serve.ts";
import { DEFAULT_MAX_FDS, DEFAULT_MAX_REQUEST_BYTES } from "../protocol/limits.ts";
import { createLogger, parseLogLevel } from "./log.ts";
import { argumentBytes } from "./process-bytes.ts";
import { splitAtCommand } from "./split-command.ts";

export const spawnerArgs = {
  socket: { type: "string", alias: "s", description: "Socket path (default: $PORTAL_NAME, else ./portal.sock)", valueHint: "PATH" },
  mode: { type: "string", description: "Socket file mode, octal (default 0600)", valueHint: "MODE" },
  "kill-grace": { type: "string", description: "Seconds between SIGTERM and SIGKILL when a client goes away (default 1)", valueHint: "SECONDS" },
  "max-request-bytes": { type: "string", description: `Largest argv+env+cwd of one request (default ${DEFAULT_MAX_REQUEST_BYTES})`, valueHint: "BYTES" },
  "max-fds": { type: "string", description: `Most fds in one request (default ${DEFAULT_MAX_FDS})`, valueHint: "N" },
  "log-level": { type: "string", description: "error, warn, info or debug ($PORTAL_LOG_LEVEL; default info)", valueHint: "LEVEL" },
} as const satisfies ArgsDef;

export class SpawnerUsageError extends Error {}

function number(text: string | undefined, what: string, fallback: number, { min = 0, integer = false } = {}): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new SpawnerUsageError(`--${what} must be a number >= ${min}, got '${text}'`);
  }
  return n;
}

export async function runSpawnerCommand(args: Uint8Array[]): Promise<void> {
  const { options, command, unknown } = splitAtCommand(args, { ...spawnerArgs, help: { type: "boolean", alias: "h" } });
  if (options.includes("--help") || options.includes("-h")) {
    await runCommand(spawnerDefinition, { rawArgs: ["--help"] });
    return;
  }
  const parsed = parseArgs(options, spawnerArgs);
  if (unknown.length > 0) throw new SpawnerUsageError(`unknown option '${unknown[0]}'`);
  const log = createLogger("portal-spawner", parseLogLevel(parsed["log-level"] ?? process.env.PORTAL_LOG_LEVEL));
  const mode = parsed.mode === undefined ? 0o600 : parseInt(parsed.mode, 8);
  if (Number.isNaN(mode) || mode < 0 || mode > 0o777 || !/^[0-7]+$/.test(parsed.mode ?? "0")) {
    throw new SpawnerUsageError(`--mode must be an octal mode such as 0660, got '${parsed.mode}'`);
  }
  const killGraceMs = number(parsed["kill-grace"], "kill-grace", 1) * 1000;
  const server = serve({
    socket: parsed.socket ?? defaultSocketPath(),
    mode,
    program: command,
    killGraceMs,
    maxRequestBytes: number(parsed["max-request-bytes"], "max-request-bytes", DEFAULT_MAX_REQUEST_BYTES, { min: 1, integer: true }),
    maxFds: number(parsed["max-fds"], "max-fds", DEFAULT_MAX_FDS, { min: 0, integer: true }),
    log,
  });
  const shown = command.map((c) => new TextDecoder().decode(c)).join(" ");
  log.info(`listening on ${server.path}${shown ? ` (program: ${shown})` : ""}`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping`);
    await server.close({ graceMs: killGraceMs });
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
  // Keep running: the FdWatcher's wait on the listening socket holds the loop.
}

export const spawnerDefinition = defineCommand({
  meta: { name: "portal-spawner", description: "Serve exec requests on a unix socket: run PROGRAM (or the client's first argument) with the client's argv, env, cwd and fds" },
  args: {
    ...spawnerArgs,
    program: { type: "positional", required: false, description: "Program to run for every request; clients' arguments are appended", valueHint: "PROGRAM [ARGS...]" },
  },
  async run() {
    await runSpawnerCommand(argumentBytes());
  },
});

export async function spawnerMain(args: Uint8Array[]): Promise<void> {
  try {
    await runSpawnerCommand(args);
  } catch (error) {
    process.stderr.write(`portal-spawner: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(error instanceof SpawnerUsageError ? 2 : 1);
  }
}
