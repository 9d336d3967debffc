// consola, configured for a daemon: plain lines, always to stderr (never into
// a program's stdio), level by name from --log-level or PORTAL_LOG_LEVEL.
import { createConsola, type ConsolaInstance } from "consola/basic";
import type { Logger } from "../spawner/logger.ts";
import { UsageError } from "./usage-error.ts";

export const LOG_LEVELS = { error: 0, warn: 1, info: 3, debug: 4 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;

export function parseLogLevel(text: string | undefined, fallback: LogLevelName = "info"): number {
  if (text === undefined || text === "") return LOG_LEVELS[fallback];
  const level = LOG_LEVELS[text.toLowerCase() as LogLevelName];
  if (level === undefined) throw new UsageError(`unknown log level '${text}' (use ${Object.keys(LOG_LEVELS).join(", ")})`);
  return level;
}

export function createLogger(tag: string, level: number): Logger & { consola: ConsolaInstance } {
  const consola = createConsola({
    level,
    reporters: [
      {
        log(entry) {
          const text = entry.args.map((a) => (typeof a === "string" ? a : Bun.inspect(a))).join(" ");
          process.stderr.write(`${tag}: ${entry.type === "log" ? "" : `${entry.type}: `}${text}\n`);
        },
      },
    ],
  });
  return {
    consola,
    debug: (m) => consola.debug(m),
    info: (m) => consola.info(m),
    warn: (m) => consola.warn(m),
    error: (m) => consola.error(m),
  };
}
