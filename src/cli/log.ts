// The log of a long-running command (portal-spawner, portal overlay run):
// consola, with levels by name (--log-level, PORTAL_LOG_LEVEL), the command
// as its tag, and one reporter that writes one plain line per entry to
// stderr, never stdout (a spawner's stdout may be anything, and nothing of
// ours must reach a program's stdio):
//
//   portal-spawner: warn: refused peer pid 12 uid 1000: uid 1000 (gid 1000) is not allowed
//
// When stderr is the journal, each line starts with its syslog priority, as
// sd-daemon.h's SD_ERR, SD_WARNING, ... do, so `journalctl -p warning` keeps
// the warnings and errors; journald takes the prefix off.
import { createConsola, type ConsolaInstance, type ConsolaReporter, type LogObject, type LogType } from "consola/core";
import { fstatSync } from "node:fs";
import { UsageError } from "./usage-error.ts";

export const LOG_LEVELS = { error: 0, warn: 1, info: 3, debug: 4 } as const;
export type LogLevelName = keyof typeof LOG_LEVELS;

/** syslog(3) priorities, the numbers in sd-daemon.h's "<N>" prefixes. */
export const SYSLOG = { crit: 2, err: 3, warning: 4, notice: 5, info: 6, debug: 7 } as const;

const PRIORITY_OF_TYPE: Partial<Record<LogType, number>> = {
  fatal: SYSLOG.crit,
  error: SYSLOG.err,
  fail: SYSLOG.err,
  warn: SYSLOG.warning,
  log: SYSLOG.notice,
  debug: SYSLOG.debug,
  trace: SYSLOG.debug,
  verbose: SYSLOG.debug,
};

/** The syslog priority of a consola entry: info for the types not listed (info, success, ready, start, box). */
export function syslogPriority(type: LogType): number {
  return PRIORITY_OF_TYPE[type] ?? SYSLOG.info;
}

/** A level name (any case) as consola's number; an unknown name is a UsageError. */
export function parseLogLevel(text: string | undefined, fallback: LogLevelName = "info"): number {
  if (text === undefined || text === "") return LOG_LEVELS[fallback];
  const level = LOG_LEVELS[text.toLowerCase() as LogLevelName];
  if (level === undefined) throw new UsageError(`unknown log level '${text}' (use ${Object.keys(LOG_LEVELS).join(", ")})`);
  return level;
}

type Environment = Record<string, string | undefined>;

/**
 * Whether fd 2 is the stream systemd connected to the journal: it sets
 * JOURNAL_STREAM to that stream's "device:inode", and a child that got
 * another stderr (a redirect, a pipe) must not prefix its lines.
 */
export function stderrIsJournal(env: Environment = process.env, fd = 2): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? "");
  if (!match) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}

export interface LineOutput {
  /** Where the text goes (default: stderr). */
  write?: (text: string) => void;
  /** Prefix every line with "<N>" (default: when stderr is the journal). */
  journal?: boolean;
}

/** `text` (one or more lines) on stderr, each line prefixed with `priority` when stderr is the journal. */
export function writeLines(text: string, priority: number, { write = stderrWriter(), journal = stderrIsJournal() }: LineOutput = {}): void {
  const lines = text.endsWith("\n") ? text.slice(0, -1) : text;
  // journald reads a stream line by line: a message of several lines needs the prefix on each.
  write(`${journal ? lines.replace(/^/gm, `<${priority}>`) : lines}\n`);
}

/**
 * Writes to stderr. Bun opens process.stderr's stream (a dup of fd 2) on
 * first use: a logger takes it when made, so a spawner's fds are all open
 * once it listens, not one more at its first warning.
 */
function stderrWriter(): (text: string) => void {
  const stream = process.stderr;
  return (text) => void stream.write(text);
}

export interface LineReporterOptions extends LineOutput {
  /** Say the entry's type ("warn: ") after the tag; off for commands whose lines never had one. */
  typeLabels?: boolean;
}

/**
 * consola's entries as "TAG: TYPE: MESSAGE" lines (no type for plain log()),
 * one write per entry.
 */
export function lineReporter({ typeLabels = true, write = stderrWriter(), journal = stderrIsJournal() }: LineReporterOptions = {}): ConsolaReporter {
  return {
    log(entry: LogObject) {
      const text = entry.args.map((a) => (typeof a === "string" ? a : Bun.inspect(a))).join(" ");
      const label = typeLabels && entry.type !== "log" ? `${entry.type}: ` : "";
      writeLines(`${entry.tag ? `${entry.tag}: ` : ""}${label}${text}`, syslogPriority(entry.type), { write, journal });
    },
  };
}

/**
 * The logger of the command `tag` at `level` (LOG_LEVELS). It satisfies the
 * spawner's Logger interface as it is. No throttling: a daemon's repeated
 * lines are each an event (consola would hold them back and fold them into
 * one "repeated N times" a second later, or lose them at exit).
 */
export function createLogger(tag: string, level: number, reporter: LineReporterOptions = {}): ConsolaInstance {
  return createConsola({ level, defaults: { tag }, reporters: [lineReporter(reporter)], throttle: 0 });
}
