// The D-Bus containers hand-over: `portal-spawner --socket-fd N
// [--ready-notifier-fd M]`. The socket may be bound and listening before the
// notifier fires or only just before; readiness (--ready-fd, NOTIFY_SOCKET)
// comes once the socket accepts, and a socket that fails a check is refused
// with exit code 2, naming the check.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, openSync } from "node:fs";
import { BUN, SPAWNER, Scratch, waitFor } from "./helpers/harness.ts";
import { OwnedFd } from "../src/libc/owned-fd.ts";
import { anySocket, bindUnix, listenOn, unixSocket } from "../src/libc/socket.ts";
import { AF_INET, O_CLOEXEC, O_NONBLOCK, SOCK_SEQPACKET, SOCK_STREAM } from "../src/libc/constants.ts";
import { listenSeqpacket } from "../src/fdpass/seqpacket.ts";
import { makePipe, readNow, writeAll } from "./helpers/fd-fixtures.ts";
import { NotifySocket } from "./helpers/notify-socket.ts";
import { exec } from "../src/index.ts";
import { baseEnv, catchesSignal, DEADLINE_MS, finish, startProcess, type Proc } from "./helpers/trust-processes.ts";

setDefaultTimeout(90_000);

let scratch: Scratch;
const closeLater: OwnedFd[] = [];
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  for (const fd of closeLater.splice(0)) fd.close();
  await scratch.cleanup();
});

function own<T extends OwnedFd>(fd: T): T {
  closeLater.push(fd);
  return fd;
}

function pipe(): { read: OwnedFd; write: OwnedFd } {
  const p = makePipe(O_CLOEXEC | O_NONBLOCK);
  return { read: own(p.read), write: own(p.write) };
}

/** The spawner with `fds` at 3, 4, ... and `args`. */
function spawner(fds: number[], args: string[], env: Record<string, string | undefined> = {}): Proc {
  return startProcess(scratch, [BUN, SPAWNER, ...args], { extraFds: fds, env: baseEnv(env) });
}

async function serves(socket: string, code: number): Promise<void> {
  const result = await exec({ socket, args: ["/bin/sh", "-c", `exit ${code}`], fds: [], env: {}, handshakeTimeoutMs: 30_000 });
  expect(result.exitCode).toBe(code);
}

async function stop(run: Proc): Promise<number | null> {
  await waitFor(() => catchesSignal(run.proc.pid, 15), "spawner handling SIGTERM", DEADLINE_MS);
  run.proc.kill("SIGTERM");
  return (await finish(run)).code;
}

/** Everything the ready fd says, until it is closed. */
async function readiness(ready: OwnedFd): Promise<string> {
  let got = "";
  await waitFor(() => {
    const now = readNow(ready);
    if (now === "eof") return true;
    if (now !== "empty") got += new TextDecoder().decode(now);
    return false;
  }, "the ready fd to be written and closed", DEADLINE_MS);
  return got;
}

describe("with a ready notifier", () => {
  for (const order of ["before", "after"] as const) {
    test(`the socket bound and listening ${order} the spawner starts waiting is served once the notifier fires, and only then is it ready`, async () => {
      const path = scratch.path("handed.sock");
      // The caller's socket: the spawner gets the same one (its own fd on the same open file).
      const sock = own(order === "before" ? listenSeqpacket(Buffer.from(path)) : unixSocket(SOCK_SEQPACKET));
      const notifier = pipe();
      const ready = pipe();
      const run = spawner([sock.fd, notifier.read.fd, ready.write.fd], ["--socket-fd", "3", "--ready-notifier-fd", "4", "--ready-fd", "5"]);
      notifier.read.close();
      ready.write.close();
      await run.stderr.waitFor(/info: waiting for the ready notifier on fd 4 before accepting on fd 3\n/);
      // Waiting: nothing announced yet, whatever state the socket is in.
      expect(readNow(ready.read)).toBe("empty");
      if (order === "after") {
        bindUnix(sock, Buffer.from(path));
        listenOn(sock, 16);
      }
      // The caller's "bound and listening": its write end closes.
      notifier.write.close();
      expect(await readiness(ready.read)).toBe("\n");
      await run.stderr.waitFor(new RegExp(`info: listening on socket fd 3 \\(handed over, bound at ${path.replace(/[.]/g, "\\.")}\\)`));
      await serves(path, 7);
      expect(await stop(run)).toBe(0);
      // The socket's file is the caller's: the spawner leaves it.
      expect(existsSync(path)).toBe(true);
    });
  }

  test("NOTIFY_SOCKET hears READY=1 only after the notifier fired", async () => {
    const path = scratch.path("handed.sock");
    const sock = own(unixSocket(SOCK_SEQPACKET));
    const notifier = pipe();
    const notify = new NotifySocket(scratch.path("notify"));
    try {
      const run = spawner([sock.fd, notifier.read.fd], ["--socket-fd", "3", "--ready-notifier-fd", "4"], { NOTIFY_SOCKET: scratch.path("notify") });
      notifier.read.close();
      await run.stderr.waitFor(/waiting for the ready notifier/);
      const heard = notify.next(DEADLINE_MS);
      bindUnix(sock, Buffer.from(path));
      listenOn(sock, 16);
      // A notifier may also be written to rather than closed.
      writeAll(notifier.write, "x");
      expect(await heard).toBe(`READY=1\nSTATUS=listening on socket fd 3 (handed over, bound at ${path})\nMAINPID=${run.proc.pid}\n`);
      await serves(path, 8);
      expect(await stop(run)).toBe(0);
    } finally {
      notify.close();
    }
  });
});

describe("without a ready notifier", () => {
  test("a listening socket is served at once, and readiness follows", async () => {
    const path = scratch.path("handed.sock");
    const sock = own(listenSeqpacket(Buffer.from(path)));
    const ready = pipe();
    const run = spawner([sock.fd, ready.write.fd], ["--socket-fd", "3", "--ready-fd", "4"]);
    sock.close();
    ready.write.close();
    expect(await readiness(ready.read)).toBe("\n");
    await serves(path, 9);
    expect(await stop(run)).toBe(0);
  });
});

describe("refusals: exit code 2, the failed check named, nothing announced", () => {
  const listeningStream = (path: string) => {
    const sock = unixSocket(SOCK_STREAM);
    bindUnix(sock, Buffer.from(path));
    listenOn(sock, 4);
    return sock;
  };
  const cases: Array<[string, () => OwnedFd[], string[], string]> = [
    ["a regular file", () => [new OwnedFd(openSync(scratch.path("file"), "w"))], ["--socket-fd", "3"], "--socket-fd 3 failed the fstat check: it is a regular file, not a socket (S_IFSOCK)"],
    ["a pipe", () => [pipe().read], ["--socket-fd", "3"], "--socket-fd 3 failed the fstat check: it is a pipe or FIFO, not a socket (S_IFSOCK)"],
    ["an fd that is not open", () => [], ["--socket-fd", "900"], "--socket-fd 900 failed the fstat check: it is not open"],
    ["an AF_INET socket", () => [anySocket(AF_INET, SOCK_STREAM)], ["--socket-fd", "3"], "--socket-fd 3 failed the SO_DOMAIN check: its domain is 2, not AF_UNIX (1)"],
    ["a listening stream socket", () => [listeningStream(scratch.path("stream.sock"))], ["--socket-fd", "3"], "--socket-fd 3 failed the SO_TYPE check: its type is 1 (SOCK_STREAM), not SOCK_SEQPACKET (5)"],
    ["a stream socket, even with a notifier (what it is cannot change)", () => [unixSocket(SOCK_STREAM), pipe().read], ["--socket-fd", "3", "--ready-notifier-fd", "4"], "--socket-fd 3 failed the SO_TYPE check: its type is 1 (SOCK_STREAM), not SOCK_SEQPACKET (5)"],
    ["a seqpacket socket that does not listen, without a notifier", () => [unixSocket(SOCK_SEQPACKET)], ["--socket-fd", "3"], "--socket-fd 3 failed the SO_ACCEPTCONN check: it does not listen (without --ready-notifier-fd it must listen already)"],
    ["a notifier that is not a pipe", () => [unixSocket(SOCK_SEQPACKET), unixSocket(SOCK_SEQPACKET)], ["--socket-fd", "3", "--ready-notifier-fd", "4"], "--ready-notifier-fd 4 failed the fstat check: it is a socket, not a pipe or FIFO (S_IFIFO)"],
  ];
  for (const [what, make, args, message] of cases) {
    test(what, async () => {
      const fds = make().map(own);
      const ready = pipe();
      const run = spawner([...fds.map((fd) => fd.fd), ready.write.fd], [...args, "--ready-fd", String(3 + fds.length)]);
      ready.write.close();
      const result = await finish(run);
      expect(result.stderr).toBe(`portal-spawner: ${message}\n`);
      expect(result.code).toBe(2);
      expect(await readiness(ready.read)).toBe("");
    });
  }

  test("a socket that still does not listen once the notifier fired", async () => {
    const sock = own(unixSocket(SOCK_SEQPACKET));
    const notifier = pipe();
    const run = spawner([sock.fd, notifier.read.fd], ["--socket-fd", "3", "--ready-notifier-fd", "4"]);
    notifier.read.close();
    await run.stderr.waitFor(/waiting for the ready notifier/);
    notifier.write.close();
    const result = await finish(run);
    expect(result.stderr).toEndWith("portal-spawner: --socket-fd 3 failed the SO_ACCEPTCONN check: it does not listen once the ready notifier fired (bind and listen before making the notifier readable)\n");
    expect(result.code).toBe(2);
  });

  test("options that contradict it are usage errors", async () => {
    for (const [args, message] of [
      [["--ready-notifier-fd", "4"], "--ready-notifier-fd needs --socket-fd: it says when that socket is ready"],
      [["--socket-fd", "3", "--socket", scratch.path("x.sock")], "--socket-fd hands over a socket and --socket would bind another: give one of them"],
      [["--socket-fd", "3", "--ready-notifier-fd", "3"], "--socket-fd, --ready-notifier-fd and --ready-fd must be different fds"],
    ] as const) {
      const result = await finish(spawner([], [...args]));
      expect({ stderr: result.stderr, code: result.code }).toEqual({ stderr: `portal-spawner: ${message}\nTry 'portal-spawner --help'.\n`, code: 2 });
    }
  });
});
