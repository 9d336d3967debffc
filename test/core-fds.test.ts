// Forwarded fds: the program gets exactly the fds it was given, each at its
// target number and each the very object the client had (every fd carries a
// distinct line, which the program reads back). The spawner keeps no fd and
// no child from any request, whatever became of it.
import { test, expect, beforeAll, afterAll, describe, setDefaultTimeout } from "bun:test";
import { chmodSync, existsSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { exec, PortalError, type OwnedFd } from "../src/index.ts";
import { FdWatcher } from "../src/fdwatch/fd-watcher.ts";
import { ownedFdCount } from "../src/libc/owned-fd.ts";
import { BUN, EXEC, Scratch, childPids, programChildren, openFds, waitFor } from "./helpers/harness.ts";
import { listeningSpawner } from "./helpers/listening-spawner.ts";
import { ensureFdLimit, fdReportArgv, makePipe, outputFile, parseFdReport, pipeHolding, range, writeAll } from "./helpers/fd-fixtures.ts";

// Generous: the machine may be loaded; every wait inside has its own deadline.
setDefaultTimeout(30_000);

// Room for 1024 forwarded fds, their copies in flight and the runtime's own.
const FD_LIMIT = ensureFdLimit(4096);
if (!FD_LIMIT.ok) {
  console.warn(`core-fds: skipping the 1024-fd tests: RLIMIT_NOFILE hard limit is ${FD_LIMIT.hard}, they need 4096`);
}

let scratch: Scratch;
let socket: string;

beforeAll(async () => {
  scratch = new Scratch();
  // Started after the limit was raised, so the spawner (and its programs) inherit it.
  socket = (await listeningSpawner(scratch)).socket;
});

afterAll(async () => {
  await scratch.cleanup();
});

const contentOf = (target: number) => `line for fd ${target}`;

/** Pipes holding contentOf(target), for each target. */
function contentPipes(targets: readonly number[]): Map<number, OwnedFd> {
  return new Map(targets.map((target) => [target, pipeHolding(contentOf(target))]));
}

/** The report's lines in fd order (the program lists them in name order: 10 before 9). */
function byFd(lines: ReadonlyMap<number, string>): [number, string][] {
  return [...lines].sort(([a], [b]) => a - b);
}

function closeEach(fds: Iterable<OwnedFd>): void {
  for (const fd of fds) fd.close();
}

/**
 * Runs portal-exec with `execArgs`, its stdout a pipe (the report comes back
 * there), its stdin /dev/null, and `extra` placed at the given fd numbers.
 */
async function portalExec(execArgs: readonly string[], extra: ReadonlyMap<number, OwnedFd> = new Map()) {
  const stdio: (number | "ignore" | "pipe" | null)[] = ["ignore", "pipe", "pipe"];
  for (const [target, fd] of extra) stdio[target] = fd.fd;
  for (let i = 3; i < stdio.length; i++) stdio[i] ??= null;
  const proc = scratch.track(Bun.spawn([BUN, EXEC, "--socket", socket, ...execArgs], { stdio: stdio as never }));
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { stdout, stderr, code };
}

describe("through the portal-exec CLI", () => {
  async function forwardsAll(count: number) {
    const targets = range(3, count + 2);
    const fds = contentPipes(targets);
    try {
      const { stdout, stderr, code } = await portalExec(["--", ...fdReportArgv(1)], fds);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const report = parseFdReport(stdout);
      expect(report.fds).toEqual(range(0, count + 2));
      expect(byFd(report.lines)).toEqual(targets.map((t) => [t, contentOf(t)]));
    } finally {
      closeEach(fds.values());
    }
  }

  test("300 inherited fds are forwarded by default; the program has exactly those (and 0-2)", () => forwardsAll(300), 60_000);

  test.skipIf(!FD_LIMIT.ok)("1024 inherited fds are forwarded by default; the program has exactly those (and 0-2)", () => forwardsAll(1024), 120_000);

  test("--fd N forwards only those fds; the others are not open in the program", async () => {
    const fds = contentPipes([3, 4, 5, 6]);
    try {
      const { stdout, stderr, code } = await portalExec(["--fd", "1", "--fd", "4", "--fd", "6", "--", ...fdReportArgv(1)], fds);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const report = parseFdReport(stdout);
      // 0 and 2 were not forwarded: the spawner opens /dev/null there.
      expect(report.fds).toEqual([0, 1, 2, 4, 6]);
      expect(byFd(report.lines)).toEqual([[4, contentOf(4)], [6, contentOf(6)]]);
    } finally {
      closeEach(fds.values());
    }
  });

  test("fds 0-2 that are not forwarded are /dev/null in the program", async () => {
    const out = outputFile(scratch.path("devnull.out"));
    try {
      const prelude = 'readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2 >&3';
      const { stderr, code } = await portalExec(["--fd", "3", "--", ...fdReportArgv(3, prelude)], new Map([[3, out.fd]]));
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const report = parseFdReport(out.text());
      expect(report.before).toEqual(["/dev/null", "/dev/null", "/dev/null"]);
      expect(report.fds).toEqual([0, 1, 2, 3]);
    } finally {
      out.fd.close();
    }
  });

  test("--fd 5:3 puts the client's fd 5 at fd 3, and nothing at 5", async () => {
    const fds = new Map([[5, pipeHolding("from source 5")]]);
    try {
      const { stdout, stderr, code } = await portalExec(["--fd", "1", "--fd", "5:3", "--", ...fdReportArgv(1)], fds);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const report = parseFdReport(stdout);
      expect(report.fds).toEqual([0, 1, 2, 3]);
      expect(byFd(report.lines)).toEqual([[3, "from source 5"]]);
    } finally {
      closeEach(fds.values());
    }
  });

  test("--fd 3:4 --fd 4:3 swaps the two fds", async () => {
    const fds = contentPipes([3, 4]);
    try {
      const { stdout, stderr, code } = await portalExec(["--fd", "1", "--fd", "3:4", "--fd", "4:3", "--", ...fdReportArgv(1)], fds);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const report = parseFdReport(stdout);
      expect(report.fds).toEqual([0, 1, 2, 3, 4]);
      expect(byFd(report.lines)).toEqual([[3, contentOf(4)], [4, contentOf(3)]]);
    } finally {
      closeEach(fds.values());
    }
  });

  test("a rotation 3->4->5->3 lands every fd at its target", async () => {
    const fds = contentPipes([3, 4, 5]);
    try {
      const { stdout, stderr, code } = await portalExec(["--fd", "1", "--fd", "3:4", "--fd", "4:5", "--fd", "5:3", "--", ...fdReportArgv(1)], fds);
      expect(stderr).toBe("");
      expect(code).toBe(0);
      const report = parseFdReport(stdout);
      expect(report.fds).toEqual([0, 1, 2, 3, 4, 5]);
      expect(byFd(report.lines)).toEqual([[3, contentOf(5)], [4, contentOf(3)], [5, contentOf(4)]]);
    } finally {
      closeEach(fds.values());
    }
  });

  test("a target given twice is a usage error (125) and nothing runs", async () => {
    const fds = contentPipes([3, 4]);
    const marker = scratch.path("ran-anyway");
    try {
      const { stdout, stderr, code } = await portalExec(["--fd", "3", "--fd", "4:3", "--", "/usr/bin/touch", marker], fds);
      expect(stdout).toBe("");
      expect(stderr).toContain("target fd 3 is given twice");
      expect(code).toBe(125);
      expect(existsSync(marker)).toBe(false);
    } finally {
      closeEach(fds.values());
    }
  });
});

describe("through the library", () => {
  async function forwardsAll(count: number) {
    const targets = range(3, count + 2);
    const fds = contentPipes(targets);
    const out = outputFile(scratch.path(`lib-${count}.out`));
    try {
      const map = new Map([[1, out.fd.fd], ...[...fds].map(([t, fd]) => [t, fd.fd] as [number, number])]);
      const result = await exec({ socket, args: fdReportArgv(1), env: ["PATH=/usr/bin:/bin"], fds: map });
      expect(result.exitCode).toBe(0);
      const report = parseFdReport(out.text());
      // 0 and 2 were not passed: /dev/null, opened by the spawner.
      expect(report.fds).toEqual(range(0, count + 2));
      expect(byFd(report.lines)).toEqual(targets.map((t) => [t, contentOf(t)]));
    } finally {
      out.fd.close();
      closeEach(fds.values());
    }
  }

  test("300 fds arrive, each at its target with its own contents, and no others", () => forwardsAll(300), 60_000);

  test.skipIf(!FD_LIMIT.ok)("1024 fds arrive, each at its target with its own contents, and no others", () => forwardsAll(1024), 120_000);

  test("a map that swaps two fds is honoured", async () => {
    const a = pipeHolding("A");
    const b = pipeHolding("B");
    const out = outputFile(scratch.path("lib-swap.out"));
    try {
      const result = await exec({ socket, args: fdReportArgv(1), env: [], fds: new Map([[1, out.fd.fd], [3, b.fd], [4, a.fd]]) });
      expect(result.exitCode).toBe(0);
      const report = parseFdReport(out.text());
      expect(report.fds).toEqual([0, 1, 2, 3, 4]);
      expect(byFd(report.lines)).toEqual([[3, "B"], [4, "A"]]);
    } finally {
      closeEach([a, b, out.fd]);
    }
  });

  test("without fds 0-2 the program's 0-2 are /dev/null", async () => {
    const out = outputFile(scratch.path("lib-devnull.out"));
    try {
      const prelude = 'readlink /proc/$$/fd/0 /proc/$$/fd/1 /proc/$$/fd/2 >&3';
      const result = await exec({ socket, args: fdReportArgv(3, prelude), env: ["PATH=/usr/bin:/bin"], fds: { 3: out.fd.fd } });
      expect(result.exitCode).toBe(0);
      const report = parseFdReport(out.text());
      expect(report.before).toEqual(["/dev/null", "/dev/null", "/dev/null"]);
      expect(report.fds).toEqual([0, 1, 2, 3]);
    } finally {
      out.fd.close();
    }
  });
});

describe("spawner hygiene", () => {
  test("500 requests (fds passed, exec failures, refusals, chdir failures) leave the spawner's fds and children as they were", async () => {
    const own = new Scratch();
    try {
      const spawner = await listeningSpawner(own, [], { stderr: "pipe" });
      // Each refusal logs a warning: keep reading so the pipe never fills up and stalls the spawner.
      void new Response(spawner.proc.stderr).text();
      const notExecutable = own.path("not-executable");
      writeFileSync(notExecutable, "#!/bin/sh\nexit 0\n");
      chmodSync(notExecutable, 0o644);

      // What each kind of request must end with: an outcome's shell exit code, or a refusal.
      const kinds: { args: string[]; cwd?: string; shellExitCode: number | "refused" }[] = [
        { args: ["/bin/true"], shellExitCode: 0 },
        { args: ["/nonexistent/program"], shellExitCode: 127 },
        { args: [notExecutable], shellExitCode: 126 },
        { args: ["/bin/true"], cwd: "/nonexistent/dir", shellExitCode: 125 },
        { args: [], shellExitCode: "refused" },
      ];

      const request = async (i: number) => {
        const kind = kinds[i % kinds.length]!;
        // Every request passes fds: both ends of a pipe, and the read end a second time.
        const { read, write } = makePipe();
        try {
          const outcome = await exec({ socket: spawner.socket, args: kind.args, cwd: kind.cwd, env: [], fds: { 3: read.fd, 4: write.fd, 7: read.fd } }).then(
            (result) => result.shellExitCode,
            (error: unknown) => (error instanceof PortalError && error.failure === "refused" ? "refused" : error),
          );
          expect(outcome).toBe(kind.shellExitCode);
        } finally {
          read.close();
          write.close();
        }
      };

      // One of each first: anything created once and kept (the runtime's own
      // threads and fds) is not a leak.
      for (let i = 0; i < kinds.length; i++) await request(i);
      // Settled: no children, and of the spawner's sockets only the listener
      // is left (a connection is closed just after its reply is sent, so the
      // client may see the reply a moment before the spawner's fd is gone).
      // The watchdog is a child for good, and its pidfd stays open.
      const watchdogs = () => childPids(spawner.pid).length - programChildren(spawner.pid).length;
      const settled = () => programChildren(spawner.pid).length === 0 && connectionFds(spawner.pid, spawner.socket) === watchdogs();
      await waitFor(settled, "spawner children to be reaped after the warm-up", 30_000);
      const before = openFds(spawner.pid);
      // The client starts its poll thread (a Worker, with an event loop of its
      // own) the first time a send has to wait; have it up and answering now
      // so its fds are not counted as a leak later.
      {
        const { read, write } = makePipe();
        try {
          writeAll(write, "x");
          await FdWatcher.shared().readable(read.fd);
        } finally {
          read.close();
          write.close();
        }
      }
      const clientOwnedBefore = ownedFdCount();

      for (let i = 0; i < 500; i++) await request(i);

      await waitFor(settled, "the spawner's connections and children to be gone", 30_000);
      expect({ fds: openFds(spawner.pid).length, children: programChildren(spawner.pid) }).toEqual({ fds: before.length, children: [] });
      // The client side too: every fd the portal code opened (sockets, reply
      // reader dups) is closed again. Counted through OwnedFd, because the
      // runtime itself now and then opens an fd of its own (seen: a lone
      // eventfd) that is no leak of ours.
      expect(ownedFdCount()).toBe(clientOwnedBefore);
    } finally {
      await own.cleanup();
    }
  }, 180_000);
});

/**
 * Connections (sockets bound to the spawner's path, listener excluded) and
 * pidfds the spawner holds. Other sockets it has, such as stdio socketpairs,
 * do not count.
 */
function connectionFds(pid: number, socketPath: string): number {
  const inodes = new Set<string>();
  for (const line of readFileSync("/proc/net/unix", "utf8").split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[7] === socketPath) inodes.add(fields[6]!);
  }
  let count = 0;
  for (const fd of openFds(pid)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if ((inode && inodes.has(inode)) || target === "anon_inode:[pidfd]") count++;
  }
  return count - 1;
}
