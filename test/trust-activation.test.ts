// Starting under a supervisor: s6-style readiness (--ready-fd), systemd's
// sd_notify (NOTIFY_SOCKET) and socket activation (LISTEN_FDS), including
// handed-in fds that are not a listening SEQPACKET socket. The example units
// in docs/systemd/ are run in systemd-units.test.ts.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, openSync } from "node:fs";
import { BUN, SPAWNER, Scratch, waitFor } from "./helpers/harness.ts";
import { OwnedFd } from "../src/libc/owned-fd.ts";
import { bindUnix, listenOn, unixSocket } from "../src/libc/socket.ts";
import { makePipe, readNow as readNowBytes } from "./helpers/fd-fixtures.ts";
import { O_CLOEXEC, O_NONBLOCK, SOCK_DGRAM, SOCK_SEQPACKET, SOCK_STREAM } from "../src/libc/constants.ts";
import { listenSeqpacket } from "../src/fdpass/seqpacket.ts";
import { exec } from "../src/index.ts";
import { NotifySocket } from "./helpers/notify-socket.ts";
import {
  baseEnv, catchesSignal, DEADLINE_MS, finish, isListening, startProcess, startSpawner, type Proc,
} from "./helpers/trust-processes.ts";

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

function own(fd: OwnedFd): OwnedFd {
  closeLater.push(fd);
  return fd;
}

function pipe(): { read: OwnedFd; write: OwnedFd } {
  const p = makePipe(O_CLOEXEC | O_NONBLOCK);
  return { read: own(p.read), write: own(p.write) };
}

/** What a non-blocking read returns now: bytes, "eof", or "empty" while a writer is still open. */
function readNow(fd: OwnedFd): string | "eof" | "empty" {
  const got = readNowBytes(fd);
  if (got instanceof Uint8Array) return new TextDecoder().decode(got);
  return got;
}

/** A request that proves the spawner serves `socket`. */
async function serves(socket: string, code: number): Promise<void> {
  const result = await exec({ socket, args: ["/bin/sh", "-c", `exit ${code}`], fds: [], env: {}, handshakeTimeoutMs: 30_000 });
  expect(result.exitCode).toBe(code);
}

async function stop(spawner: Proc): Promise<number | null> {
  await waitFor(() => catchesSignal(spawner.proc.pid, 15), "spawner handling SIGTERM", DEADLINE_MS);
  spawner.proc.kill("SIGTERM");
  return (await finish(spawner)).code;
}

describe("readiness", () => {
  test("--ready-fd gets one newline and is closed once the socket listens", async () => {
    const socket = scratch.path("portal.sock");
    const ready = pipe();
    const spawner = startProcess(scratch, [BUN, SPAWNER, "--socket", socket, "--ready-fd", "3"], { extraFds: [ready.write.fd] });
    ready.write.close();
    let got = "";
    await waitFor(() => {
      const now = readNow(ready.read);
      if (now === "eof") return true;
      if (now !== "empty") {
        got += now;
        // At the moment the supervisor hears "ready", clients can connect.
        expect(isListening(socket)).toBe(true);
      }
      return false;
    }, "the ready fd to be written and closed", DEADLINE_MS);
    expect(got).toBe("\n");
    await serves(socket, 3);
    expect(await stop(spawner)).toBe(0);
  });

  for (const kind of ["path", "abstract"] as const) {
    test(`NOTIFY_SOCKET (${kind}) gets READY=1 with a STATUS once listening, and STOPPING=1 on SIGTERM`, async () => {
      const socket = scratch.path("portal.sock");
      const address = kind === "path" ? scratch.path("notify") : `@portal-test-${process.pid}-${Math.random().toString(36).slice(2)}`;
      const notify = new NotifySocket(address);
      try {
        const spawner = startProcess(scratch, [BUN, SPAWNER, "--socket", socket], { env: baseEnv({ NOTIFY_SOCKET: address }) });
        const message = await notify.next(DEADLINE_MS);
        expect(isListening(socket)).toBe(true);
        expect(message).toBe(`READY=1\nSTATUS=listening on ${socket}\nMAINPID=${spawner.proc.pid}\n`);
        await serves(socket, 4);
        spawner.proc.kill("SIGTERM");
        expect(await notify.next(DEADLINE_MS)).toBe("STOPPING=1\n");
        expect((await finish(spawner)).code).toBe(0);
      } finally {
        notify.close();
      }
    });
  }
});

const hasSocketActivate = Bun.which("systemd-socket-activate") !== null;
if (!hasSocketActivate) console.warn("trust-activation: systemd-socket-activate is not installed; its tests are skipped");

describe("socket activation", () => {
  test.skipIf(!hasSocketActivate)("under systemd-socket-activate --seqpacket the spawner serves the socket it is handed", async () => {
    const socket = scratch.path("activated.sock");
    const run = startProcess(scratch, ["systemd-socket-activate", "--seqpacket", "-l", socket, "-E", "PATH", BUN, SPAWNER, "--log-level", "debug"]);
    await run.stderr.waitFor(/Listening on .* as 3\./);
    // The first connection starts the spawner; it is served like any other.
    await serves(socket, 5);
    await serves(socket, 6);
    await run.stderr.waitFor(/info: listening on socket fd 3 \(socket activation\)/);
    expect(await stop(run)).toBe(0);
  });

  /** Starts the spawner with `fds` at 3, 4, ... and LISTEN_PID set to its own pid, as systemd does. */
  function activated(fds: number[], env: Record<string, string>, args: string[] = []): Proc {
    const exports = Object.entries(env).map(([k, v]) => `${k}='${v}'`).join(" ");
    return startProcess(scratch, ["/bin/sh", "-c", `LISTEN_PID=$$ ${exports} exec "$@"`, "sh", BUN, SPAWNER, ...args], {
      extraFds: fds,
      env: baseEnv({ LISTEN_PID: undefined, LISTEN_FDS: undefined, LISTEN_FDNAMES: undefined }),
    });
  }

  test("a socket handed in by hand is served; with several, the one named 'portal' is used", async () => {
    const other = own(listenSeqpacket(Buffer.from(scratch.path("other.sock"))));
    const mine = own(listenSeqpacket(Buffer.from(scratch.path("mine.sock"))));
    const run = activated([other.fd, mine.fd], { LISTEN_FDS: "2", LISTEN_FDNAMES: "other:portal" });
    // The spawner holds its own copies now.
    other.close();
    mine.close();
    await run.stderr.waitFor(/listening on socket fd 4 \(socket activation\)/);
    await serves(scratch.path("mine.sock"), 8);
    // It never binds a path of its own.
    expect(existsSync(scratch.path("portal.sock"))).toBe(false);
    expect(await stop(run)).toBe(0);
  });

  function unboundSocket(type: number): OwnedFd {
    return own(unixSocket(type));
  }

  function listeningStream(path: string): OwnedFd {
    const sock = unboundSocket(SOCK_STREAM);
    bindUnix(sock, Buffer.from(path));
    listenOn(sock, 4);
    return sock;
  }

  const badFds: Array<[string, () => OwnedFd, RegExp]> = [
    ["a regular file", () => own(new OwnedFd(openSync(scratch.path("file"), "w"))), /^portal-spawner: passed fd 3 is not a socket\n$/],
    ["a pipe", () => pipe().read, /^portal-spawner: passed fd 3 is not a socket\n$/],
    ["a listening stream socket", () => listeningStream(scratch.path("stream.sock")), /^portal-spawner: passed fd 3 is not SOCK_SEQPACKET \(type 1\); use ListenSequentialPacket=\n$/],
    ["a datagram socket", () => unboundSocket(SOCK_DGRAM), /^portal-spawner: passed fd 3 is not SOCK_SEQPACKET \(type 2\); use ListenSequentialPacket=\n$/],
    ["a seqpacket socket that is not listening", () => unboundSocket(SOCK_SEQPACKET), /^portal-spawner: passed fd 3 is not listening\n$/],
  ];
  for (const [what, make, message] of badFds) {
    test(`a handed-in fd that is ${what} is refused with a clear error and a non-zero exit`, async () => {
      const fd = make();
      const run = activated([fd.fd], { LISTEN_FDS: "1" });
      const result = await finish(run);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(message);
      // No fallback to a socket of its own.
      expect(existsSync(scratch.path("portal.sock"))).toBe(false);
    });
  }

  test("LISTEN_FDS meant for another process (LISTEN_PID differs) is ignored", async () => {
    const socket = scratch.path("portal.sock");
    const spawner = await startSpawner(scratch, socket, ["--socket", socket], { env: baseEnv({ LISTEN_FDS: "1", LISTEN_PID: "1" }) });
    await serves(socket, 9);
    expect(await stop(spawner)).toBe(0);
  });
});
