// A minimal protocol v1 spawner, written from the spec page
// (exec-portal-v1.md), standing in for the C portal-spawner so tests can run
// our client against it:
//
//   bun test/helpers/v1-spawner.ts SOCKET [PROGRAM ARGS...]
//
// For each connection it reads the four records (env, args, fd numbers, fds),
// runs PROGRAM ARGS + the client's args with each fd at the number the client
// listed, in its own session and its own cwd, and replies with the 4-byte
// wait status. It logs one line per connection on stderr.
import { chmodSync, rmSync } from "node:fs";
import { acceptSeqpacket, listenSeqpacket, sendRecord } from "../../src/fdpass/seqpacket.ts";
import { RecordReader, type ReadResult } from "../../src/fdpass/record-reader.ts";
import { FdWatcher } from "../../src/fdwatch/fd-watcher.ts";
import { closeAll, type OwnedFd } from "../../src/libc/owned-fd.ts";
import { SIGNALS, type SignalName } from "../../src/process/signals.ts";

/** The C client sends at most this many fds (it probes 0..255). */
const MAX_FDS = 253;

function log(line: string): void {
  process.stderr.write(`v1-spawner: ${line}\n`);
}

/** Splits a NUL-terminated record; a zero-length record (read as "eof") is an empty list. */
function strings(result: ReadResult, what: string): string[] {
  if (result.kind === "eof") return [];
  if (result.kind === "truncated") throw new Error(`${what} record too long`);
  if (result.fds.length > 0) {
    closeAll(result.fds);
    throw new Error(`${what} record carried fds`);
  }
  if (result.data.length === 0) return [];
  const text = new TextDecoder().decode(result.data);
  return (text.endsWith("\0") ? text.slice(0, -1) : text).split("\0");
}

function fdNumbers(result: ReadResult): number[] {
  if (result.kind === "eof") return [];
  if (result.kind === "truncated" || result.fds.length > 0 || result.data.length % 4 !== 0) throw new Error("bad fd-number record");
  return Array.from(new Int32Array(result.data.slice().buffer));
}

function waitStatus(proc: { exitCode: number | null; signalCode: string | number | null }): number {
  if (typeof proc.signalCode === "number") return proc.signalCode;
  if (proc.signalCode) return SIGNALS[proc.signalCode as SignalName];
  return (proc.exitCode! & 0xff) << 8;
}

async function serveConnection(sock: OwnedFd, prefix: readonly string[]): Promise<void> {
  const reader = new RecordReader(sock);
  let fds: OwnedFd[] = [];
  try {
    const env = strings(await reader.next(65536, 0), "env");
    const args = strings(await reader.next(65536, 0), "args");
    const numbers = fdNumbers(await reader.next(4 * 256, 0));
    const fdRecord = await reader.next(16, MAX_FDS);
    if (fdRecord.kind !== "record") throw new Error("no fd record");
    fds = fdRecord.fds;
    if (fds.length !== numbers.length) throw new Error(`fd record carries ${fds.length} fds, ${numbers.length} listed`);
    const argv = [...prefix, ...args];
    if (argv.length === 0) throw new Error("nothing to execute");
    const stdio: (number | null)[] = Array.from({ length: Math.max(3, ...numbers.map((n) => n + 1)) }, () => null);
    numbers.forEach((number, i) => (stdio[number] = fds[i]!.fd));
    const environment = Object.fromEntries(env.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]));
    let status: number;
    try {
      const proc = Bun.spawn(argv, { env: environment, stdio: stdio as never, detached: true });
      closeAll(fds);
      await proc.exited;
      status = waitStatus(proc);
    } catch (error) {
      // The C worker exits 1 when execve fails.
      log(`cannot run ${argv[0]}: ${(error as Error).message}`);
      status = 1 << 8;
    }
    sendRecord(sock, new Uint8Array(Int32Array.of(status).buffer));
    log(`ran ${JSON.stringify(argv)} with fds ${numbers.join(",")}: status ${status}`);
  } catch (error) {
    log(`dropped a connection: ${(error as Error).message}`);
  } finally {
    closeAll(fds);
    reader.cancel();
    sock.close();
  }
}

async function main(): Promise<void> {
  const [path, ...prefix] = process.argv.slice(2);
  if (!path) {
    log("usage: v1-spawner.ts SOCKET [PROGRAM ARGS...]");
    process.exit(2);
  }
  // As the C spawner does: whatever is at the path goes, and the socket is world-accessible.
  rmSync(path, { force: true });
  const listener = listenSeqpacket(Buffer.from(path), { backlog: 20 });
  chmodSync(path, 0o777);
  log(`listening on ${path}`);
  const watcher = FdWatcher.shared();
  for (;;) {
    const sock = acceptSeqpacket(listener);
    if (sock) void serveConnection(sock, prefix);
    else await watcher.readable(listener.fd);
  }
}

await main();
