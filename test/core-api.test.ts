// The library API as a program embedding it sees it: exec()/start() results
// for every way a program can end, signals forwarded by kill(), and serve()
// with a handler of its own (args, env, cwd, fds, exit code, refusal).
import { test, expect, beforeAll, afterAll, describe, setDefaultTimeout } from "bun:test";
import { chmodSync, mkdirSync, readSync, writeFileSync, writeSync } from "node:fs";
import { exec, start, serve, PortalError, Refusal, OwnedFd, type PortalRequest, type ExecResult } from "../src/index.ts";
import { O_CLOEXEC, O_NONBLOCK } from "../src/libc/constants.ts";
import { memFd } from "../src/libc/file.ts";
import { acceptSeqpacket, listenSeqpacket, receiveRecord, sendRecord } from "../src/fdpass/seqpacket.ts";
import { encodeHelloAck, isHello, VERSION } from "../src/protocol/v2.ts";
import { MAX_RECORD_BYTES } from "../src/protocol/limits.ts";
import { Scratch, processExists, waitFor } from "./helpers/harness.ts";
import { listeningSpawner } from "./helpers/listening-spawner.ts";
import { makePipe, outputFile, readNow } from "./helpers/fd-fixtures.ts";

// Generous: the machine may be loaded; every wait inside has its own deadline.
setDefaultTimeout(30_000);

const ENV = ["PATH=/usr/bin:/bin"];

let scratch: Scratch;
let socket: string;

beforeAll(async () => {
  scratch = new Scratch();
  socket = (await listeningSpawner(scratch)).socket;
});

afterAll(async () => {
  await scratch.cleanup();
});

const run = (args: string[], extra: { fds?: Record<number, number>; cwd?: string } = {}) =>
  exec({ socket, args, env: ENV, fds: extra.fds ?? [], cwd: extra.cwd });

describe("exec() results", () => {
  test.each([0, 3, 255])("exit code %d comes back as exitCode and shellExitCode", async (code) => {
    const result = await run(["/bin/sh", "-c", `exit ${code}`]);
    expect(result).toMatchObject({ exitCode: code, signal: null, signalNumber: null, failed: false, shellExitCode: code, protocol: 4, waitStatus: code << 8 });
    expect(result.outcome).toEqual({ kind: "exited", code });
    expect(result.pid).toBeGreaterThan(0);
  });

  test("death by a signal comes back as its name, with 128+N for a shell", async () => {
    const result = await run(["/bin/sh", "-c", "kill -KILL $$"]);
    expect(result).toMatchObject({ exitCode: null, signal: "SIGKILL", signalNumber: 9, failed: false, shellExitCode: 137 });
    expect(result.outcome).toMatchObject({ kind: "signaled", signal: 9 });
  });

  test("a program that is not found is a spawn failure with 127", async () => {
    const result = await run(["no-such-program-for-portal-tests", "arg"]);
    expect(result).toMatchObject({ exitCode: null, signal: null, failed: true, shellExitCode: 127, pid: null });
    expect(result.outcome).toMatchObject({ kind: "spawn-failed", stage: "exec", errno: 2 });
    expect(result.outcome.kind === "spawn-failed" && result.outcome.message).toContain("no-such-program-for-portal-tests");
  });

  test("a file that cannot be executed is a spawn failure with 126", async () => {
    const file = scratch.path("not-executable.sh");
    writeFileSync(file, "#!/bin/sh\nexit 0\n");
    chmodSync(file, 0o644);
    const dir = scratch.path("a-directory");
    mkdirSync(dir);
    for (const program of [file, dir]) {
      const result = await run([program]);
      expect(result).toMatchObject({ exitCode: null, signal: null, failed: true, shellExitCode: 126 });
      expect(result.outcome).toMatchObject({ kind: "spawn-failed", stage: "exec", errno: 13 });
    }
  });

  test("a cwd that does not exist is a spawn failure with 125", async () => {
    const result = await run(["/bin/true"], { cwd: scratch.path("no-such-dir") });
    expect(result).toMatchObject({ exitCode: null, failed: true, shellExitCode: 125 });
    expect(result.outcome).toMatchObject({ kind: "spawn-failed", stage: "chdir", errno: 2 });
  });

  test("exec() against a socket that does not exist rejects with a PortalError", async () => {
    const missing = scratch.path("nobody-listens-here.sock");
    const error = await exec({ socket: missing, args: ["/bin/true"], fds: [] }).then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(PortalError);
    expect((error as PortalError).failure).toBe("connect");
    expect((error as PortalError).message).toContain(missing);
  });

  test("a spawner that answers the handshake but stops reading makes exec() reject with a timeout", async () => {
    // A fake spawner in this very process: it acknowledges HELLO, then never
    // reads again. The client must neither block this thread (the fake could
    // not even answer) nor wait forever.
    const path = scratch.path("stuck.sock");
    const listener = listenSeqpacket(Buffer.from(path));
    let conn: OwnedFd | null = null;
    try {
      const pending = exec({ socket: path, args: Array.from({ length: 64 }, () => "x".repeat(32 * 1024)), env: [], fds: [], handshakeTimeoutMs: 500 }).then(
        () => null,
        (e: unknown) => e,
      );
      conn = await waitFor(() => acceptSeqpacket(listener), "the client to connect");
      const hello = await waitFor(() => {
        const got = receiveRecord(conn!, 64, 0);
        return got.kind === "again" ? null : got;
      }, "the client's HELLO");
      expect(hello.kind === "record" && isHello(hello.data)).toBe(true);
      sendRecord(conn, encodeHelloAck({ version: VERSION, maxRecordBytes: MAX_RECORD_BYTES, maxRequestBytes: 64 << 20, maxFds: 16 }));
      const error = await pending;
      expect(error).toBeInstanceOf(PortalError);
      expect((error as PortalError).failure).toBe("timeout");
      expect((error as PortalError).message).toContain("stopped reading");
    } finally {
      conn?.close();
      listener.close();
    }
  });

  test("16 concurrent exec() calls each get their own program's status", async () => {
    // Every fourth one dies by a signal, the rest exit with a code of their own.
    const expected = Array.from({ length: 16 }, (_, i) => (i % 4 === 3 ? { signal: "SIGUSR1" } : { exitCode: 10 + i }));
    const results = await Promise.all(
      expected.map((want) =>
        run(["/bin/sh", "-c", "sleep 0.2; if [ \"$1\" = signal ]; then kill -USR1 $$; fi; exit \"$1\"", "sh", "signal" in want ? "signal" : String(want.exitCode)]),
      ),
    );
    expect(results.map((r, i) => ("signal" in expected[i]! ? { signal: r.signal } : { exitCode: r.exitCode }))).toEqual(expected);
    expect(new Set(results.map((r) => r.pid)).size).toBe(16);
  }, 60_000);
});

describe("start()", () => {
  test("kill('SIGTERM') ends the program with SIGTERM", async () => {
    const remote = start({ socket, args: ["/bin/sleep", "600"], env: ENV, fds: [] });
    const pid = await remote.pid;
    expect(pid).toBeGreaterThan(0);
    scratch.trackPid(pid!);
    expect(processExists(pid!)).toBe(true);
    expect(remote.running).toBe(true);
    expect(remote.kill("SIGTERM")).toBe(true);
    const result = await remote.result;
    expect(result).toMatchObject({ exitCode: null, signal: "SIGTERM", signalNumber: 15, shellExitCode: 143, pid });
    expect(remote.running).toBe(false);
    expect(remote.kill("SIGTERM")).toBe(false);
    expect(processExists(pid!)).toBe(false);
  }, 30_000);

  test("a forwarded signal reaches the program's own handler", async () => {
    const out = outputFile(scratch.path("trap.out"));
    try {
      const remote = start({
        socket,
        args: ["/bin/sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 1; done"],
        env: ENV,
        fds: { 1: out.fd.fd },
      });
      const pid = await remote.pid;
      scratch.trackPid(pid!);
      await waitFor(() => out.text() === "ready\n", "the program to install its trap", 30_000);
      expect(remote.kill("SIGTERM")).toBe(true);
      const result = await remote.result;
      expect(result).toMatchObject({ exitCode: 7, signal: null });
      expect(out.text()).toBe("ready\ngot TERM\n");
    } finally {
      out.fd.close();
    }
  }, 30_000);
});

/** An in-process spawner with `handler`, closed after `body`. */
async function withServer(handler: (request: PortalRequest) => unknown, body: (socket: string) => Promise<void>): Promise<void> {
  const path = scratch.path(`handler-${Math.random().toString(36).slice(2)}.sock`);
  const server = serve({ socket: path }, handler as never);
  try {
    await body(path);
  } finally {
    await server.close();
  }
}

function memfd(): OwnedFd {
  return memFd("portal-api-test");
}

describe("start({ pty })", () => {
  test("the program gets a terminal of the asked size as its controlling terminal; the caller drives it through the master", async () => {
    const remote = start({ socket, args: ["/bin/sh", "-c", 'test -t 0 && : </dev/tty && stty size && read x && echo "got:$x"'], env: ENV, pty: { rows: 40, cols: 120 } });
    const master = await remote.pty;
    expect(master).toBeInstanceOf(OwnedFd);
    const seen: string[] = [];
    const readUntil = async (pattern: RegExp) => {
      const buffer = Buffer.alloc(4096);
      await waitFor(() => {
        try {
          const got = readSync(master!.fd, buffer);
          if (got > 0) seen.push(buffer.subarray(0, got).toString());
        } catch {
          // EAGAIN: nothing yet (EIO once the program is gone).
        }
        return pattern.test(seen.join(""));
      }, `${pattern} from the pty (so far ${JSON.stringify(seen.join(""))})`);
    };
    const { setNonBlocking } = await import("../src/libc/file.ts");
    setNonBlocking(master!.fd, true);
    await readUntil(/40 120\r\n/);
    writeSync(master!.fd, "hello\n");
    // The pty echoes what is typed, then the program answers.
    await readUntil(/hello\r\ngot:hello\r\n/);
    expect((await remote.result).exitCode).toBe(0);
    master!.close();
  }, 30_000);

  test("pty: true gives fds 0-2 the terminal unless they are given in fds", async () => {
    const out = outputFile(scratch.path("pty-fds.txt"));
    const remote = start({ socket, args: ["/bin/sh", "-c", "test -t 0 && test ! -t 1 && test -t 2 && echo ok"], env: ENV, fds: { 1: out.fd.fd }, pty: true });
    const master = await remote.pty;
    expect((await remote.result).exitCode).toBe(0);
    master?.close();
    out.fd.close();
    expect(out.text()).toBe("ok\n");
  }, 30_000);
});

describe("serve(options, handler)", () => {
  test("the handler sees args, env, cwd and fds; it writes to the client's memfd; its number is the exit code", async () => {
    const shared = memfd();
    let seen: Record<string, unknown> = {};
    try {
      await withServer(
        (request) => {
          seen = {
            protocol: request.protocol,
            args: request.args.map((a) => [...a]),
            foo: request.getenv("FOO"),
            missing: request.getenv("NOT_SET"),
            cwd: request.cwd && new TextDecoder().decode(request.cwd),
            targets: [...request.fds.keys()],
            peerPid: request.peer.pid,
          };
          writeSync(request.fd(3)!, "written by the handler", 0, "utf8");
          return 42;
        },
        async (path) => {
          const result = await exec({
            socket: path,
            args: ["first", new Uint8Array([0xff, 0xfe]), ""],
            env: { FOO: "bar baz", OTHER: "1" },
            cwd: "/tmp",
            fds: { 3: shared.fd },
          });
          expect(result).toMatchObject({ exitCode: 42, signal: null, failed: false, shellExitCode: 42 });
        },
      );
      expect(seen).toEqual({
        protocol: 4,
        args: [[...Buffer.from("first")], [0xff, 0xfe], []],
        foo: "bar baz",
        missing: undefined,
        cwd: "/tmp",
        targets: [3],
        peerPid: process.pid,
      });
      const back = Buffer.alloc(64);
      const n = readSync(shared.fd, back, 0, back.length, 0);
      expect(back.subarray(0, n).toString()).toBe("written by the handler");
    } finally {
      shared.close();
    }
  });

  test("a handler's outcome object is what the client gets", async () => {
    await withServer(
      () => ({ kind: "signaled", signal: 15, coreDumped: false }),
      async (path) => {
        const result = await exec({ socket: path, args: ["x"], env: [], fds: [] });
        expect(result).toMatchObject({ exitCode: null, signal: "SIGTERM", shellExitCode: 143 });
      },
    );
  });

  test("a handler throwing Refusal gives the client a PortalError with the reason", async () => {
    await withServer(
      () => {
        throw new Refusal("quota exceeded for this device");
      },
      async (path) => {
        const error = await exec({ socket: path, args: ["x"], env: [], fds: [] }).then(() => null, (e: unknown) => e);
        expect(error).toBeInstanceOf(PortalError);
        expect((error as PortalError).failure).toBe("refused");
        expect((error as PortalError).message).toContain("quota exceeded for this device");
      },
    );
  });

  test("fds the handler did not take are closed once the request is done", async () => {
    const { read, write } = makePipe(O_CLOEXEC | O_NONBLOCK);
    try {
      await withServer(
        (request) => (request.fd(4) === undefined ? 1 : 0),
        async (path) => {
          const result: ExecResult = await exec({ socket: path, args: ["x"], env: [], fds: { 4: write.fd } });
          expect(result.exitCode).toBe(0);
        },
      );
      expect(readNow(read)).toBe("empty"); // our own write end is still open
      write.close();
      // Had the spawner kept its copy of the write end, the reader would see "empty", not end of file.
      expect(readNow(read)).toBe("eof");
    } finally {
      read.close();
      write.close();
    }
  });

  test("an fd the handler took stays open until the handler closes it", async () => {
    const { read, write } = makePipe(O_CLOEXEC | O_NONBLOCK);
    let taken: OwnedFd | null = null;
    try {
      await withServer(
        (request) => {
          taken = new OwnedFd(request.fds.get(4)!.take());
          return 0;
        },
        async (path) => {
          expect((await exec({ socket: path, args: ["x"], env: [], fds: { 4: write.fd } })).exitCode).toBe(0);
        },
      );
      write.close();
      expect(readNow(read)).toBe("empty");
      taken!.close();
      expect(readNow(read)).toBe("eof");
    } finally {
      (taken as OwnedFd | null)?.close();
      read.close();
      write.close();
    }
  });
});
