// Fds for tests: pipes that already hold a known line, files that capture a
// program's output, and a program that reports which fds it has open and
// what each one holds. Every fd made here is an OwnedFd; the test closes it.
import { openSync, readFileSync } from "node:fs";
import { OwnedFd } from "../../src/libc/owned-fd.ts";
import { pipe, tryRead, writeAll as writeAllBytes } from "../../src/libc/file.ts";
import { getLimit, trySetLimit, RLIMIT_NOFILE } from "../../src/libc/process.ts";
import { O_CLOEXEC } from "../../src/libc/constants.ts";

export interface Pipe {
  read: OwnedFd;
  write: OwnedFd;
}

export function makePipe(flags = O_CLOEXEC): Pipe {
  const [read, write] = pipe(flags & ~O_CLOEXEC);
  return { read, write };
}

export function writeAll(fd: OwnedFd, data: Uint8Array | string): void {
  writeAllBytes(fd.fd, typeof data === "string" ? Buffer.from(data) : data);
}

/** The read end of a pipe that holds `line` + "\n" and has no writer left. */
export function pipeHolding(line: string): OwnedFd {
  const { read, write } = makePipe();
  try {
    writeAll(write, `${line}\n`);
  } finally {
    write.close();
  }
  return read;
}

/** What a non-blocking read sees right now: bytes, "eof" (no writer left) or "empty" (a writer is still open). */
export function readNow(fd: OwnedFd): Uint8Array | "eof" | "empty" {
  const buffer = new Uint8Array(65536);
  const n = tryRead(fd.fd, buffer);
  if (n > 0) return buffer.slice(0, n);
  return n === 0 ? "eof" : "empty";
}

/** A file in `path` opened for writing, to be passed as a program's output fd. */
export function outputFile(path: string): { fd: OwnedFd; bytes: () => Buffer; text: () => string } {
  const fd = new OwnedFd(openSync(path, "w"));
  return { fd, bytes: () => readFileSync(path), text: () => readFileSync(path, "utf8") };
}

/**
 * Makes sure this process may hold `needed` fds, raising the soft
 * RLIMIT_NOFILE up to the hard limit if it has to. Also bounds how many fds
 * may be in flight on a unix socket (the kernel checks the sender's limit).
 */
export function ensureFdLimit(needed: number): { ok: boolean; soft: bigint; hard: bigint } {
  const limit = getLimit(RLIMIT_NOFILE);
  if (limit.soft >= BigInt(needed)) return { ok: true, ...limit };
  if (limit.hard < BigInt(needed)) return { ok: false, ...limit };
  const raised = { soft: BigInt(needed), hard: limit.hard };
  if (trySetLimit(RLIMIT_NOFILE, raised) !== 0) throw new Error("setrlimit(RLIMIT_NOFILE) failed");
  return { ok: true, ...raised };
}

/**
 * bash script (argument $1: the report fd). Lists the fds the program has
 * open (the glob's own directory fd is closed again by the time `-h` looks,
 * so it drops out), then the first line of every fd >= 3 other than the
 * report fd. Only builtins run, so no helper process adds or hides an fd.
 */
const FD_REPORT_SCRIPT = `
out=$1
list=""
for p in /proc/self/fd/*; do [ -h "$p" ] && list="$list \${p##*/}"; done
text="fds:$list"$'\\n'
for n in $list; do
  if [ "$n" -ge 3 ] && [ "$n" != "$out" ]; then
    line=""
    IFS= read -r line <&"$n" || true
    text+="$n=$line"$'\\n'
  fi
done
printf '%s' "$text" >&"$out"
`;

/**
 * argv of the fd-reporting program, writing its report to fd `reportFd`.
 * `prelude` is bash run first (it may write to the report fd too).
 */
export function fdReportArgv(reportFd: number, prelude = ""): string[] {
  return ["/bin/bash", "-c", `${prelude}\n${FD_REPORT_SCRIPT}`, "fd-report", String(reportFd)];
}

export interface FdReport {
  /** Open fds, ascending. */
  fds: number[];
  /** First line read from each fd >= 3 (except the report fd). */
  lines: Map<number, string>;
  /** Lines a prelude wrote before the report. */
  before: string[];
}

/** Parses the report; lines before "fds:" (a prelude's output) are returned as `before`. */
export function parseFdReport(text: string): FdReport {
  const all = text.split("\n");
  const start = all.findIndex((line) => line.startsWith("fds:"));
  const before = start < 0 ? all : all.slice(0, start);
  const [head, ...rest] = start < 0 ? [] : all.slice(start);
  if (!head?.startsWith("fds:")) throw new Error(`not an fd report: ${JSON.stringify(text.slice(0, 200))}`);
  const fds = head.slice(4).trim().split(/\s+/).filter(Boolean).map(Number).sort((a, b) => a - b);
  const lines = new Map<number, string>();
  for (const entry of rest) {
    if (!entry) continue;
    const eq = entry.indexOf("=");
    lines.set(Number(entry.slice(0, eq)), entry.slice(eq + 1));
  }
  return { fds, lines, before };
}

export function range(from: number, toInclusive: number): number[] {
  return Array.from({ length: toInclusive - from + 1 }, (_, i) => from + i);
}
