// Things going wrong around a spawner: clients killed at every stage of the
// protocol, the spawner itself killed and restarted while clients wait,
// programs that close or ignore their stdio, and programs that exit while a
// signal for them is in flight. Nothing may leak and no status may be lost
// or given to the wrong client.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, Scratch, processExists, waitFor } from "./helpers/harness.ts";
import type { OwnedFd } from "../src/libc/owned-fd.ts";
import { tryWrite } from "../src/libc/file.ts";
import { makePipe, readNow } from "./helpers/fd-fixtures.ts";
import { O_CLOEXEC, O_NONBLOCK } from "../src/libc/constants.ts";
import { acceptSeqpacket, listenSeqpacket, sendRecord } from "../src/fdpass/seqpacket.ts";
import { FdWatcher } from "../src/fdwatch/fd-watcher.ts";
import { RecordReader } from "../src/fdpass/record-reader.ts";
import { exec, start, PortalError } from "../src/index.ts";
import { encodeHelloAck, encodeRefused, RefusalCode } from "../src/protocol/v2.ts";
import { completeRequest, RawClient } from "./helpers/raw-client.ts";
import {
  DEADLINE_MS, fdCount, finish, Groups, runExec, startExec, startProcess, startSpawner, waitForBaseline,
  type SpawnerProc,
} from "./helpers/trust-processes.ts";

setDefaultTimeout(120_000);

const STAGE_CLIENT = join(import.meta.dir, "helpers", "stage-client.ts");

let scratch: Scratch;
const groups = new Groups();
const fds: OwnedFd[] = [];
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  for (const fd of fds.splice(0)) fd.close();
  groups.killAll();
  await scratch.cleanup();
});

function pipe(flags = O_CLOEXEC | O_NONBLOCK): { read: OwnedFd; write: OwnedFd } {
  const p = makePipe(flags);
  fds.push(p.read, p.write);
  return p;
}

/** True once no writer is left on the pipe (a non-blocking read returns 0). */
function writersGone(read: OwnedFd): boolean {
  return readNow(read) === "eof";
}

async function spawnerAt(socket: string, args: string[] = []): Promise<SpawnerProc & { baseline: number }> {
  const spawner = await startSpawner(scratch, socket, ["--socket", socket, "--kill-grace", "0.5", ...args]);
  // Warm up, so whatever the runtime opens lazily is part of the baseline
  // (the raw client reads until the spawner has closed its end).
  expect((await completeRequest(socket, ["/bin/true"])).outcome).toEqual({ kind: "exited", code: 0 });
  return { ...spawner, baseline: fdCount(spawner.pid) };
}

describe("a client killed at each stage of the protocol", () => {
  const stages: Array<[1 | 2, string]> = [
    [2, "connected"], [2, "hello"], [2, "request"], [2, "fds-partial"], [2, "fds-in-flight"], [2, "fds"], [2, "running"],
    [1, "connected"], [1, "env"], [1, "args"], [1, "numbers"], [1, "fds-in-flight"], [1, "running"],
  ];

  test("leaves no fd, no program and no connection behind (v1 and v2, every stage)", async () => {
    const spawner = await spawnerAt(scratch.path("portal.sock"));
    const report: string[] = [];
    for (const [protocol, stage] of stages) {
      const probe = pipe();
      const pidFile = scratch.path(`pid-v${protocol}-${stage}`);
      const client = startProcess(scratch, [
        BUN, STAGE_CLIENT, spawner.socket, String(protocol), stage, "/bin/sh", "-c", `echo $$ > ${pidFile}; exec sleep 600`,
      ], { extraFds: [probe.write.fd] });
      // From here on only the client (and whoever it passed the pipe to) holds the write end.
      probe.write.close();
      let programPid: number | null = null;
      if (stage === "fds-in-flight") {
        await client.proc.exited;
      } else {
        await client.stdout.waitFor(new RegExp(`at ${stage}`));
        if (stage === "running") {
          programPid = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim(), "the program's pid"));
          groups.add(programPid);
        }
        client.proc.kill("SIGKILL");
        await client.proc.exited;
      }
      await waitFor(() => writersGone(probe.read), `v${protocol} ${stage}: every copy of the passed pipe to close`, DEADLINE_MS);
      if (programPid !== null) expect(processExists(programPid)).toBe(false);
      await waitForBaseline(spawner.pid, spawner.baseline, `v${protocol} ${stage}: spawner back to ${spawner.baseline} fds and no children`);
      report.push(`v${protocol} ${stage}: fds ${fdCount(spawner.pid)}`);
    }
    console.log(`trust-faults: spawner baseline ${spawner.baseline} fds; after each killed client: ${report.join(", ")}`);
    // Still serving.
    expect((await exec({ socket: spawner.socket, args: ["/bin/sh", "-c", "exit 12"], fds: [], env: {} })).exitCode).toBe(12);
  });
});

describe("the spawner killed and restarted", () => {
  for (const how of ["SIGKILL", "SIGTERM"] as const) {
    test(`(${how}) clients that wait for the socket connect once it is back, each getting its own status`, async () => {
      const socket = scratch.path("portal.sock");
      const first = await spawnerAt(socket, ["--shutdown-grace", "0.2"]);
      // A client whose program runs when the spawner dies (only its stdin is
      // passed, so an orphaned program holds none of the test's pipes).
      const pidFile = scratch.path("orphan");
      const gate = pipe(O_CLOEXEC);
      const running = startExec(scratch, ["--socket", socket, "--fd", "0", "--", "/bin/sh", "-c", `echo $$ > ${pidFile}; read x; exit 3`], { stdin: gate.read.fd });
      const orphan = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim(), "the running program's pid"));
      groups.add(orphan);

      first.proc.kill(how);
      await first.proc.exited;
      const cut = await finish(running);
      if (how === "SIGKILL") {
        expect(cut.code).toBe(125);
        expect(cut.stderr).toBe("portal-exec: the spawner closed the connection before the program ended\n");
        // The spawner's watchdog ends the program's group.
        await waitFor(() => !processExists(orphan), "the program to end with its spawner", 10_000);
      } else {
        // The shutdown grace ran out (the gate never opens): the group got
        // SIGTERM and the client died the same way.
        expect(cut.signal).toBe("SIGTERM");
        expect(processExists(orphan)).toBe(false);
      }

      const waiting = Array.from({ length: 10 }, (_, i) =>
        startExec(scratch, ["--socket", socket, "--clear-env", "--", "/bin/sh", "-c", `exit ${40 + i}`]),
      );
      for (const client of waiting) await client.stderr.waitFor(/waiting for spawner at/);
      const second = await startSpawner(scratch, socket, ["--socket", socket, "--kill-grace", "0.5", "--shutdown-grace", "0.2"]);
      const results = await Promise.all(waiting.map((c) => finish(c)));
      expect(results.map((r) => r.code)).toEqual(Array.from({ length: 10 }, (_, i) => 40 + i));
      // Started the same way as the first, so it settles at the same count.
      await waitForBaseline(second.pid, first.baseline, "restarted spawner back to its baseline");
    });
  }
});

describe("nothing outlives its spawner", () => {
  test("a SIGKILLed spawner's programs and their groups end within seconds (SIGTERM, then SIGKILL after the grace), and a restarted spawner starts only once they are gone", async () => {
    const socket = scratch.path("portal.sock");
    const first = await spawnerAt(socket, ["--kill-grace", "1"]);
    const pidFile = scratch.path("pids");
    const gate = pipe(O_CLOEXEC);
    // The program and a grandchild in its group, both ignoring SIGTERM: only SIGKILL ends them.
    const script = `trap '' TERM; (trap '' TERM; exec sleep 1000) & echo $$ $! > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; read x`;
    const running = startExec(scratch, ["--socket", socket, "--fd", "0", "--", "/bin/sh", "-c", script], { stdin: gate.read.fd });
    const pids = (await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim(), "the program's pids")).split(" ").map(Number);
    for (const pid of pids) groups.add(pid);
    expect(pids.every(processExists)).toBe(true);

    first.proc.kill("SIGKILL");
    await first.proc.exited;
    expect((await finish(running)).code).toBe(125);
    // A new spawner on the same socket waits for the old watchdog to finish, so when it listens nothing of the old one runs.
    const second = await startSpawner(scratch, socket, ["--socket", socket]);
    expect(pids.filter(processExists)).toEqual([]);
    expect(second.stderr.text).toContain(`waiting for the programs of a previous spawner on '${socket}' to end`);
    expect((await exec({ socket, args: ["/bin/sh", "-c", "exit 7"], fds: [], env: {} })).exitCode).toBe(7);
  });

  test("without a restart, the programs are gone too", async () => {
    const socket = scratch.path("portal.sock");
    const first = await spawnerAt(socket, ["--kill-grace", "0.5"]);
    const pidFile = scratch.path("pid");
    const gate = pipe(O_CLOEXEC);
    const running = startExec(scratch, ["--socket", socket, "--fd", "0", "--", "/bin/sh", "-c", `echo $$ > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; read x`], { stdin: gate.read.fd });
    const pid = Number(await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8").trim(), "the program's pid"));
    groups.add(pid);
    first.proc.kill("SIGKILL");
    await first.proc.exited;
    await finish(running);
    await waitFor(() => !processExists(pid), "the program to end without its spawner", 10_000);
  });
});

const hasPrlimit = Bun.which("prlimit") !== null;
if (!hasPrlimit) console.warn("trust-faults: prlimit is not installed; the out-of-fds test is skipped");

describe("a spawner that runs out of fds", () => {
  test.skipIf(!hasPrlimit)("keeps running, says why, and serves again once stalled clients are dropped", async () => {
    const socket = scratch.path("portal.sock");
    const spawner = await startSpawner(scratch, socket, ["--socket", socket, "--request-timeout", "1"], { wrapper: ["prlimit", "--nofile=40"] });
    expect((await completeRequest(socket, ["/bin/true"])).outcome).toEqual({ kind: "exited", code: 0 });
    const baseline = fdCount(spawner.pid);
    // More idle connections than it has fds left: accept() fails with EMFILE until the deadline drops them.
    const idle = Array.from({ length: 60 }, () => RawClient.connect(socket));
    try {
      await spawner.stderr.waitFor(/warn: accept failed: accept4: Too many open files \(EMFILE\)/);
      const result = await exec({ socket, args: ["/bin/sh", "-c", "exit 3"], fds: [], env: {}, handshakeTimeoutMs: 60_000 });
      expect(result.exitCode).toBe(3);
    } finally {
      for (const client of idle) client.close();
    }
    await waitForBaseline(spawner.pid, baseline, "spawner back to its baseline after EMFILE");
    expect(spawner.proc.exitCode).toBeNull();
  });
});

describe("programs and their stdio", () => {
  test("a program that closes its stdio, or never reads it, still reports its own status", async () => {
    const spawner = await spawnerAt(scratch.path("portal.sock"));
    const closes = await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exec 0<&- 1>&- 2>&-; exit 5"]);
    expect(closes.code).toBe(5);

    // stdin is a full pipe whose writer stays open; the program never reads it.
    const full = pipe();
    const chunk = new Uint8Array(4096).fill(0x78);
    while (tryWrite(full.write.fd, chunk) > 0);
    expect((await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exit 6"], { stdin: full.read.fd })).code).toBe(6);

    // A background grandchild keeps the program's stdout open; the status still comes back at once.
    const remote = start({ socket: spawner.socket, args: ["/bin/sh", "-c", "sleep 600 & exit 7"], fds: { 1: pipe().write.fd }, env: {} });
    void remote.pid.then((pid) => pid && groups.add(pid));
    expect((await remote.result).exitCode).toBe(7);
    await waitForBaseline(spawner.pid, spawner.baseline, "spawner back to its baseline");
  });
});

describe("a program that exits while a signal is in flight", () => {
  test("every client gets its own program's status: its exit code, or the signal it sent", async () => {
    const spawner = await spawnerAt(scratch.path("portal.sock"), ["--max-children", "200"]);
    const rounds = 10;
    const perRound = 40;
    const tally = { exited: 0, trapped: 0, signaled: 0 };
    for (let round = 0; round < rounds; round++) {
      const runs = Array.from({ length: perRound }, (_, i) => {
        const code = 1 + i;
        // Half exit by themselves, half exit with code+100 from a TERM trap;
        // a little busy work of varying length (in the shell, no sleep) moves
        // the exit back and forth across the moment the signal lands.
        const busy = 'n=0; while [ "$n" -lt "$2" ]; do n=$((n + 1)); done'
        const script = i % 2 === 0 ? `${busy}; exit "$1"` : `trap 'exit $(($1 + 100))' TERM; ${busy}; exit "$1"`;
        const spin = String((i % 5) * 1500);
        const remote = start({ socket: spawner.socket, args: ["/bin/sh", "-c", script, "sh", String(code), spin], fds: [], env: {}, handshakeTimeoutMs: 60_000 });
        void remote.pid.then((pid) => {
          if (!pid) return;
          groups.add(pid);
          remote.kill("SIGTERM");
        });
        return { code, trap: i % 2 === 1, remote };
      });
      for (const { code, trap, remote } of runs) {
        const result = await remote.result;
        if (result.exitCode === code) tally.exited++;
        else if (trap && result.exitCode === code + 100) tally.trapped++;
        else if (result.signal === "SIGTERM") tally.signaled++;
        else throw new Error(`client ${code} got ${JSON.stringify(result.outcome)}: not its own program's status`);
      }
    }
    console.log(`trust-faults: ${rounds * perRound} signal races: exited ${tally.exited}, trapped ${tally.trapped}, killed by SIGTERM ${tally.signaled}`);
    await waitForBaseline(spawner.pid, spawner.baseline, "spawner back to its baseline");
  });
});

describe("a spawner that refuses while the request is still arriving", () => {
  test("the client still reads the refusal the kernel queued behind ECONNRESET", async () => {
    // A fake spawner: acknowledges, reads one record, refuses and closes with the rest of the request unread.
    const path = scratch.path("fake.sock");
    const listener = listenSeqpacket(Buffer.from(path));
    fds.push(listener);
    const served = (async () => {
      let conn: OwnedFd | null = null;
      while (!(conn = acceptSeqpacket(listener))) await FdWatcher.shared().readable(listener.fd);
      fds.push(conn);
      const reader = new RecordReader(conn);
      await reader.next(65536, 0);
      sendRecord(conn, encodeHelloAck({ version: 2, maxRecordBytes: 65536, maxRequestBytes: 1 << 20, maxFds: 64 }));
      await reader.next(65536, 0);
      sendRecord(conn, encodeRefused(RefusalCode.Limit, "made-up limit"));
      reader.cancel();
      conn.close();
    })();
    const result = exec({ socket: path, args: ["/bin/true", "x".repeat(1000)], env: { A: "1" }, fds: [0, 1, 2] });
    await expect(result).rejects.toThrow(new PortalError("refused", "the spawner refused the request: made-up limit"));
    await served;
  });
});

describe("a supervised program whose client dies at once", () => {
  test("clients with a terminal, SIGKILLed right after their program started, never take the spawner down", async () => {
    const socket = scratch.path("portal.sock");
    const spawner = await startSpawner(scratch, socket, ["--socket", socket]);
    for (let round = 0; round < 12; round++) {
      const client = startExec(scratch, ["--socket", socket, "--pty", "--", "/bin/sh", "-c", "echo up; exec cat"], { stdin: "pipe" });
      await client.stdout.waitFor(/up/);
      // The spawner ends the program through its supervisor, which may be gone before it reads the word.
      client.proc.kill("SIGKILL");
      await client.proc.exited;
    }
    expect((await exec({ socket, args: ["/bin/sh", "-c", "exit 4"], env: ["PATH=/usr/bin:/bin"], fds: [] })).exitCode).toBe(4);
    expect(spawner.proc.exitCode).toBeNull();
    expect(spawner.proc.signalCode).toBeNull();
    expect(spawner.stderr.text).not.toContain("ECONNRESET");
  });
});
