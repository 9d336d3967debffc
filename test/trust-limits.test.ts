// The spawner's limits, each as a client meets it: a clear refusal (v2), a
// closed connection (v1), and a spawner that keeps serving afterwards with
// nothing left open.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { BUN, Scratch, SPAWNER, startProcess, waitFor } from "./helpers/harness.ts";
import type { OwnedFd } from "../src/libc/owned-fd.ts";
import { makePipe, readNow } from "./helpers/fd-fixtures.ts";
import { O_CLOEXEC, O_NONBLOCK } from "../src/libc/constants.ts";
import { exec, start, PortalError } from "../src/index.ts";
import { RawClient, summarizeV2 } from "./helpers/raw-client.ts";
import { fdCount, finish as finishProc, liveChildren, runExec, startSpawner, waitForBaseline, type SpawnerProc } from "./helpers/trust-processes.ts";
import { encodeFdTargets, encodeHello, encodeRecord, encodeStart, joinNulTerminated, RecordType, RefusalCode } from "../src/protocol/v2.ts";
import { encodeV1FdNumbers, encodeV1Strings } from "../src/protocol/v1.ts";

setDefaultTimeout(90_000);

const enc = (s: string) => new TextEncoder().encode(s);

let scratch: Scratch;
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  await scratch.cleanup();
});

async function spawnerWith(args: string[]): Promise<SpawnerProc & { baseline: number }> {
  const socket = scratch.path("portal.sock");
  const spawner = await startSpawner(scratch, socket, ["--socket", socket, ...args]);
  // One request first, so whatever the runtime opens lazily is part of the
  // baseline; a raw client waits for the spawner to close its end.
  expect((await rawV2(socket, ["/bin/true"])).outcome).toEqual({ kind: "exited", code: 0 });
  return { ...spawner, baseline: fdCount(spawner.pid) };
}

/** A pipe; `nonBlocking` for ends the test itself polls (programs get blocking ones). */
function pipe(nonBlocking = true): { read: OwnedFd; write: OwnedFd } {
  return makePipe(O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0));
}

/** True once every writer of the pipe is gone (read returns 0). */
function atEof(read: OwnedFd): boolean {
  return readNow(read) === "eof";
}

/** A complete raw v2 request; returns the spawner's final answer. */
async function rawV2(socket: string, argv: string[], options: { env?: string[]; fds?: number[]; extraArgBytes?: Uint8Array } = {}) {
  const client = RawClient.connect(socket);
  try {
    const env = options.env ?? [];
    const fds = options.fds ?? [];
    client.send(encodeHello());
    client.send(encodeRecord(RecordType.Args, joinNulTerminated(argv.map(enc), "args")));
    if (env.length > 0) client.send(encodeRecord(RecordType.Env, joinNulTerminated(env.map(enc), "env")));
    if (fds.length > 0) client.send(encodeFdTargets(fds.map((_, i) => 3 + i)), fds);
    client.send(encodeStart({ argc: argv.length, envc: env.length, fdCount: fds.length, flags: 0 }));
    return summarizeV2(await client.repliesUntilClose(30_000));
  } finally {
    client.close();
  }
}

/** A complete raw v1 request; returns the replies (empty: closed without status). */
async function rawV1(socket: string, argv: string[], env: string[], fds: number[]) {
  const client = RawClient.connect(socket);
  try {
    client.send(encodeV1Strings(env.map(enc), "env"));
    client.send(encodeV1Strings(argv.map(enc), "args"));
    client.send(encodeV1FdNumbers(fds.map((_, i) => 3 + i)));
    client.send(new Uint8Array(2), fds);
    return await client.repliesUntilClose(30_000);
  } finally {
    client.close();
  }
}

describe("--max-children and --max-queue", () => {
  test("N programs run, the next request waits its turn and runs once a slot frees; past the queue a request is refused with the reason", async () => {
    const spawner = await spawnerWith(["--max-children", "2", "--max-queue", "1", "--log-level", "debug"]);
    const gate = pipe(false);
    const marker = scratch.path("marker");
    try {
      // Both programs block reading the gate until the test closes its write end.
      const running = [11, 12].map((code) =>
        start({ socket: spawner.socket, args: ["/bin/sh", "-c", 'read x; exit "$1"', "sh", String(code)], fds: { 0: gate.read.fd }, env: {}, handshakeTimeoutMs: 30_000 }),
      );
      const pids = await Promise.all(running.map((r) => r.pid));
      expect(pids.every((pid) => typeof pid === "number")).toBe(true);

      // The third waits in the queue: nothing of it runs yet.
      const queued = start({ socket: spawner.socket, args: ["/bin/sh", "-c", `touch ${marker}; exit 13`], fds: [], env: {} });
      await spawner.stderr.waitFor(/waiting for a slot \(2 running, 0 waiting before it\)/);
      expect(liveChildren(spawner.pid).length).toBe(2);
      expect(existsSync(marker)).toBe(false);

      // The fourth finds the queue full: refused with the reason, by the CLI and the library alike.
      const busy = "busy: 2 programs are running and 1 requests are waiting (the spawner's --max-children 2, --max-queue 1)";
      const cli = await runExec(scratch, ["--one-shot", "--clear-env", "--socket", spawner.socket, "--", "/bin/true"]);
      expect(cli.code).toBe(125);
      expect(cli.stderr).toBe(`portal-exec: the spawner refused the request: ${busy}\n`);
      await expect(exec({ socket: spawner.socket, args: ["/bin/true"], fds: [], env: {} })).rejects.toThrow(`the spawner refused the request: ${busy}`);
      await spawner.stderr.waitFor(/warn: refused peer pid \d+ uid 0: busy: 2 programs are running and 1 requests are waiting/);

      gate.write.close();
      const results = await Promise.all(running.map((r) => r.result));
      expect(results.map((r) => r.exitCode)).toEqual([11, 12]);
      expect((await queued.result).exitCode).toBe(13);
      expect(existsSync(marker)).toBe(true);
      // The slots are free again.
      const after = await Promise.all([21, 22].map((code) => exec({ socket: spawner.socket, args: ["/bin/sh", "-c", `exit ${code}`], fds: [], env: {} })));
      expect(after.map((r) => r.exitCode)).toEqual([21, 22]);
    } finally {
      gate.read.close();
      gate.write.close();
    }
    await waitForBaseline(spawner.pid, spawner.baseline, "spawner back to its baseline fds");
  });

  test("a queued client that goes away leaves the queue, and nothing of it runs", async () => {
    const spawner = await spawnerWith(["--max-children", "1", "--log-level", "debug"]);
    const gate = pipe(false);
    const marker = scratch.path("marker");
    try {
      const blocker = start({ socket: spawner.socket, args: ["/bin/sh", "-c", "read x; exit 0"], fds: { 0: gate.read.fd }, env: {} });
      await blocker.pid;
      const client = RawClient.connect(spawner.socket);
      client.send(encodeHello());
      client.send(encodeRecord(RecordType.Args, joinNulTerminated(["/bin/sh", "-c", `touch ${marker}`].map(enc), "args")));
      client.send(encodeStart({ argc: 3, envc: 0, fdCount: 0, flags: 0 }));
      await spawner.stderr.waitFor(/waiting for a slot/);
      client.close();
      gate.write.close();
      expect((await blocker.result).exitCode).toBe(0);
      // The slot went to nobody: the next request runs at once, and the marker never appears.
      expect((await exec({ socket: spawner.socket, args: ["/bin/sh", "-c", "exit 3"], fds: [], env: {} })).exitCode).toBe(3);
      expect(existsSync(marker)).toBe(false);
    } finally {
      gate.read.close();
      gate.write.close();
    }
    await waitForBaseline(spawner.pid, spawner.baseline, "spawner back to its baseline fds");
  });
});

describe("--max-request-bytes", () => {
  // ARGS payload "/bin/true\0" + k x's + "\0": 11 + k bytes.
  const argvOf = (total: number) => ["/bin/true", "x".repeat(total - 11)];

  test("a request of exactly the limit runs; one byte more is refused (v2), closed (v1); the spawner keeps serving", async () => {
    const spawner = await spawnerWith(["--max-request-bytes", "4096"]);
    expect((await rawV2(spawner.socket, argvOf(4096))).outcome).toEqual({ kind: "exited", code: 0 });
    const over = await rawV2(spawner.socket, argvOf(4097));
    expect(over.outcome).toBeNull();
    expect(over.refused).toEqual({ code: RefusalCode.Limit, reason: "request is larger than 4096 bytes" });

    expect(await rawV1(spawner.socket, argvOf(4097), [], [])).toEqual([]);
    await spawner.stderr.waitFor(/warn: refused peer pid \d+ uid 0: request is larger than 4096 bytes[\s\S]*warn: refused peer pid \d+ uid 0: request is larger than 4096 bytes/);

    // Our own client learns the limit from HELLO_ACK and says so before sending.
    const cli = await runExec(scratch, ["--one-shot", "--clear-env", "--socket", spawner.socket, "--", ...argvOf(5000)]);
    expect(cli.code).toBe(125);
    expect(cli.stderr).toMatch(/^portal-exec: the request has \d+ bytes of arguments and environment; the spawner accepts at most 4096\n$/);

    expect((await runExec(scratch, ["--one-shot", "--clear-env", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exit 9"])).code).toBe(9);
    await waitForBaseline(spawner.pid, spawner.baseline, "spawner back to its baseline fds");
  });
});

describe("--max-fds", () => {
  test("more fds than allowed are refused and every one of them is closed again", async () => {
    const spawner = await spawnerWith(["--max-fds", "3"]);
    const probe = pipe();
    const extra = [pipe(), pipe(), pipe()];
    try {
      const fds = [probe.write.fd, ...extra.map((p) => p.read.fd)];
      const v2 = await rawV2(spawner.socket, ["/bin/true"], { fds });
      expect(v2.refused).toEqual({ code: RefusalCode.Limit, reason: "request passes more than 3 fds" });
      expect(await rawV1(spawner.socket, ["/bin/true"], [], fds)).toEqual([]);
      // Only the test holds the write end now: the spawner closed what it received.
      probe.write.close();
      await waitFor(() => atEof(probe.read), "the spawner to close the refused fds");

      expect((await rawV2(spawner.socket, ["/bin/sh", "-c", "exit 4"], { fds: extra.map((p) => p.read.fd) })).outcome).toEqual({ kind: "exited", code: 4 });
      const cli = await runExec(scratch, ["--one-shot", "--clear-env", "--socket", spawner.socket, "--fd", "0", "--fd", "1", "--fd", "2", "--fd", "2:3", "--", "/bin/true"]);
      expect(cli.code).toBe(125);
      expect(cli.stderr).toBe("portal-exec: the spawner accepts at most 3 fds, this request has 4\n");
      await spawner.stderr.waitFor(/warn: refused peer pid \d+ uid 0: request passes more than 3 fds/);
    } finally {
      for (const p of [probe, ...extra]) {
        p.read.close();
        p.write.close();
      }
    }
    await waitForBaseline(spawner.pid, spawner.baseline, "spawner back to its baseline fds");
  });
});

describe("timer options", () => {
  test("a timeout or grace the timers cannot hold (2^31 ms or more) is refused at start-up with exit 2 and the reason", async () => {
    for (const option of ["--request-timeout", "--kill-grace", "--shutdown-grace"]) {
      const socket = scratch.path("never.sock");
      const run = startProcess(scratch, [BUN, SPAWNER, "--socket", socket, option, "2147484"]);
      const result = await finishProc(run);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${option} must be at most 2147483 seconds (about 24.8 days), got '2147484'`);
      expect(existsSync(socket)).toBe(false);
    }
    // The largest value that fits is honoured: the spawner starts.
    const spawner = await spawnerWith(["--request-timeout", "2147483"]);
    expect((await rawV2(spawner.socket, ["/bin/sh", "-c", "exit 4"])).outcome).toEqual({ kind: "exited", code: 4 });
  });

  test("a socket directory anyone may write to (no sticky bit) gets a warning", async () => {
    const open = scratch.path("open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    const spawner = await startSpawner(scratch, join(open, "p.sock"), ["--socket", join(open, "p.sock")]);
    await spawner.stderr.waitFor(/warn: the socket's directory '.*\/open' is writable by everyone and not sticky: anyone could replace the socket/);
    const sticky = scratch.path("sticky");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const quiet = await startSpawner(scratch, join(sticky, "p.sock"), ["--socket", join(sticky, "p.sock")]);
    expect((await rawV2(quiet.socket, ["/bin/true"])).outcome).toEqual({ kind: "exited", code: 0 });
    expect(quiet.stderr.text).not.toContain("writable by everyone");
  });
});

describe("--request-timeout", () => {
  test("a client that sends nothing, or part of a request, is dropped after the deadline and pins nothing", async () => {
    const spawner = await spawnerWith(["--request-timeout", "1", "--max-children", "1"]);
    const silent = Array.from({ length: 20 }, () => RawClient.connect(spawner.socket));
    const partialV2 = RawClient.connect(spawner.socket);
    const partialV1 = RawClient.connect(spawner.socket);
    try {
      partialV2.send(encodeHello());
      partialV2.send(encodeRecord(RecordType.Args, joinNulTerminated([enc("/bin/true")], "args")));
      partialV1.send(encodeV1Strings([enc("A=1")], "env"));

      // While they stall, another client is served (with the only run slot).
      expect((await exec({ socket: spawner.socket, args: ["/bin/sh", "-c", "exit 5"], fds: [], env: {} })).exitCode).toBe(5);

      for (const client of silent) expect(await client.repliesUntilClose(30_000)).toEqual([]);
      const v2 = summarizeV2(await partialV2.repliesUntilClose(30_000));
      expect(v2).toMatchObject({ ack: true, outcome: null, refused: { code: RefusalCode.Limit, reason: "request not complete within 1000 ms" } });
      expect(await partialV1.repliesUntilClose(30_000)).toEqual([]);
    } finally {
      for (const client of [...silent, partialV2, partialV1]) client.close();
    }
    await spawner.stderr.waitFor(/warn: refused peer pid \d+ uid 0: request not complete within 1000 ms/);
    await waitForBaseline(spawner.pid, spawner.baseline, "spawner back to its baseline fds");
    expect((await exec({ socket: spawner.socket, args: ["/bin/sh", "-c", "exit 6"], fds: [], env: {} })).exitCode).toBe(6);
  });
});

describe("--max-connections", () => {
  test("past the cap a new connection is refused at once (a v2 client is told why), the open ones are unaffected, and the cap frees up again", async () => {
    const spawner = await spawnerWith(["--max-connections", "2", "--request-timeout", "60"]);
    // Two clients that connect and send nothing hold both places.
    const silent = [RawClient.connect(spawner.socket), RawClient.connect(spawner.socket)];
    try {
      await waitFor(() => fdCount(spawner.pid) === spawner.baseline + 2, "the spawner to accept the two silent clients");
      const v2 = RawClient.connect(spawner.socket);
      try {
        v2.send(encodeHello());
        expect(summarizeV2(await v2.repliesUntilClose(20_000))).toMatchObject({
          ack: false, outcome: null, refused: { code: RefusalCode.Limit, reason: "busy: 2 connections are open (the spawner's --max-connections)" },
        });
      } finally {
        v2.close();
      }
      const v1 = RawClient.connect(spawner.socket);
      try {
        v1.send(encodeV1Strings([enc("A=1")], "env"));
        // A v1 client has no refusal record: it reads end-of-file.
        expect(await v1.repliesUntilClose(20_000)).toEqual([]);
      } finally {
        v1.close();
      }
      await spawner.stderr.waitFor(/warn: refused peer pid \d+ uid 0: busy: 2 connections are open/);
    } finally {
      for (const client of silent) client.close();
    }
    await waitForBaseline(spawner.pid, spawner.baseline, "the silent connections to be closed");
    expect((await rawV2(spawner.socket, ["/bin/true"])).outcome).toEqual({ kind: "exited", code: 0 });
  });
});

describe("a HELLO the spawner cannot accept", () => {
  test("is answered with REFUSED (code 1, with the reason), not a silent close: versions that do not meet, a wrong length, fds on it", async () => {
    const spawner = await spawnerWith([]);
    const cases: Array<[Uint8Array, number[], string]> = [
      [encodeHello(5, 6), [], "protocol error: client speaks versions 5..6, this spawner speaks 2..4"],
      [encodeHello(1, 1), [], "protocol error: client speaks versions 1..1, this spawner speaks 2..4"],
      [new Uint8Array([...encodeHello(), 0]), [], "protocol error: HELLO must be 16 bytes, got 17"],
      [encodeHello(), [0], "protocol error: the first record must not carry fds"],
    ];
    for (const [record, fds, reason] of cases) {
      const client = RawClient.connect(spawner.socket);
      try {
        client.send(record, fds);
        expect(summarizeV2(await client.repliesUntilClose(20_000))).toEqual({ ack: false, startedPid: null, outcome: null, refused: { code: RefusalCode.Protocol, reason } });
      } finally {
        client.close();
      }
    }
    await waitForBaseline(spawner.pid, spawner.baseline, "the refused connections to be closed");
  });
});
