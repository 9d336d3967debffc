// Who may use a spawner and what reaches the program: peer uid/gid rules
// (with real clients running as nobody), the PORTAL_PEER_* variables the
// spawner sets itself, the environment policy, and the fixed PROGRAM.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXEC, nobodyExecutable, Scratch, startProcess, waitFor, whyNoNobody } from "./helpers/harness.ts";
import { OwnedFd } from "../src/libc/owned-fd.ts";
import { RawClient, summarizeV2 } from "./helpers/raw-client.ts";
import { baseEnv, fdCount, finish, runExec, startSpawner, waitForBaseline, type SpawnerProc } from "./helpers/trust-processes.ts";
import type { V2Ending } from "./helpers/raw-client.ts";
import { RefusalCode } from "../src/protocol/v2.ts";
import { encodeFdTargets, encodeHello, encodeRecord, encodeStart, joinNulTerminated, RecordType } from "../src/protocol/v2.ts";
import { decodeV1Status, encodeV1FdNumbers, encodeV1Strings } from "../src/protocol/v1.ts";

setDefaultTimeout(90_000);

/** The id of `name` in /etc/passwd or /etc/group, or null. */
function idOf(file: string, name: string): number | null {
  const line = readFileSync(file, "utf8").split("\n").find((l) => l.startsWith(`${name}:`));
  return line ? Number(line.split(":")[2]) : null;
}

const NOBODY_UID = idOf("/etc/passwd", "nobody") ?? -1;
const NOGROUP_GID = idOf("/etc/group", "nogroup") ?? -1;
const AS_NOBODY = ["setpriv", "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"];

/** Why clients cannot be run as nobody here, or null if they can. */
function cannotSwitchUser(): string | null {
  if (NOBODY_UID < 0 || NOGROUP_GID < 0) return "no 'nobody' user or 'nogroup' group";
  return whyNoNobody();
}
const whyNot = cannotSwitchUser();
if (whyNot) console.warn(`trust-access: skipping the tests that run clients as nobody: ${whyNot}`);
const canSwitchUser = whyNot === null;

// Clients for nobody, compiled once where nobody can run them (the checkout may be private to root).
const tools = new Scratch();
let nobodyClient = "";
let flood = "";
beforeAll(async () => {
  if (!canSwitchUser) return;
  [nobodyClient, flood] = await Promise.all([
    nobodyExecutable(tools, EXEC, "portal-exec"),
    nobodyExecutable(tools, join(import.meta.dir, "helpers/connection-flood.ts"), "connection-flood"),
  ]);
}, 120_000);
afterAll(() => tools.cleanup());

const enc = (s: string) => new TextEncoder().encode(s);

let scratch: Scratch;
beforeEach(() => {
  scratch = new Scratch();
  // Other users must be able to reach the socket inside.
  chmodSync(scratch.dir, 0o755);
});
afterEach(async () => {
  await scratch.cleanup();
});

/** A spawner whose socket anyone may connect to, so only its own rules decide. */
function openSpawner(args: string[] = [], name = "portal.sock"): Promise<SpawnerProc> {
  const socket = scratch.path(name);
  return startSpawner(scratch, socket, ["--socket", socket, "--mode", "0666", ...args]);
}

/** portal-exec (compiled) run as nobody, or as `uid`/`gid`. */
function execAsNobody(args: string[], uid = "nobody", gid = "nogroup") {
  const wrapper = uid === "nobody" ? AS_NOBODY : ["setpriv", "--reuid", uid, "--regid", gid, "--clear-groups"];
  return startProcess(scratch, [...wrapper, nobodyClient, ...args], { env: baseEnv() });
}

describe.skipIf(!canSwitchUser)("peer uid and gid rules", () => {
  test("a uid that is not allowed is refused with a reason, nothing runs, and the spawner logs a warning", async () => {
    const spawner = await openSpawner();
    const marker = scratch.path("marker");
    const client = execAsNobody(["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", `touch ${marker}`]);
    const result = await finish(client);
    expect(result.code).toBe(125);
    expect(result.stderr).toBe(`portal-exec: the spawner refused the request: uid ${NOBODY_UID} (gid ${NOGROUP_GID}) is not allowed\n`);
    expect(existsSync(marker)).toBe(false);
    await spawner.stderr.waitFor(new RegExp(`warn: refused peer pid ${client.proc.pid} uid ${NOBODY_UID}: uid ${NOBODY_UID} \\(gid ${NOGROUP_GID}\\) is not allowed`));

    // The spawner is still there for allowed peers (root always is).
    expect((await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exit 7"])).code).toBe(7);
  });

  test("a v1 client that is not allowed just sees the connection closed", async () => {
    const spawner = await openSpawner();
    const marker = scratch.path("marker");
    const client = execAsNobody(["--one-shot", "--protocol", "1", "--socket", spawner.socket, "--", "/bin/sh", "-c", `touch ${marker}`]);
    const result = await finish(client);
    expect(result.code).toBe(125);
    expect(result.stderr).toBe("portal-exec: portal-spawner closed connection without a status\n");
    expect(existsSync(marker)).toBe(false);
    await spawner.stderr.waitFor(new RegExp(`warn: refused peer pid ${client.proc.pid} uid ${NOBODY_UID}: .*not allowed`));
  });

  for (const rule of [["--allow-uid", "nobody"], ["--allow-uid", String(NOBODY_UID)], ["--allow-gid", "nogroup"]]) {
    test(`${rule.join(" ")} lets nobody in, and the program sees who asked`, async () => {
      const spawner = await openSpawner(rule);
      const marker = scratch.path("marker");
      const client = execAsNobody([
        "--one-shot", "--socket", spawner.socket, "--",
        "/bin/sh", "-c", `echo "$PORTAL_PEER_PID $PORTAL_PEER_UID $PORTAL_PEER_GID" > ${marker}; exit 3`,
      ]);
      const result = await finish(client);
      expect(result).toMatchObject({ code: 3, stderr: "" });
      expect(readFileSync(marker, "utf8")).toBe(`${client.proc.pid} ${NOBODY_UID} ${NOGROUP_GID}\n`);
    });
  }

  test("--allow-uid nobody admits nobody only (and root), not other uids", async () => {
    const spawner = await openSpawner(["--allow-uid", "nobody"]);
    const marker = scratch.path("marker");
    const other = await finish(execAsNobody(["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", `touch ${marker}`], "12345", "12345"));
    expect(other.code).toBe(125);
    expect(other.stderr).toContain("uid 12345 (gid 12345) is not allowed");
    expect(existsSync(marker)).toBe(false);
    expect((await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "/bin/true"])).code).toBe(0);
  });
});

describe.skipIf(!canSwitchUser)("a peer cannot deny service to others", () => {
  /** `count` silent connections from nobody (plus one HELLO with `thenHello`), held until done() is called. */
  async function floodAsNobody(socket: string, count: number, thenHello = false) {
    const run = startProcess(scratch, [...AS_NOBODY, flood, socket, String(count), ...(thenHello ? ["--then-hello"] : [])], { env: baseEnv(), stdin: "pipe" });
    const first = JSON.parse(await run.stdout.waitFor(/^\{"opened".*\n/m).then((m) => m[0]!)) as { opened: number; hello: V2Ending | null };
    return {
      ...first,
      async done(): Promise<number> {
        (run.proc.stdin as import("bun").FileSink).end();
        const result = await finish(run);
        expect(result.stderr).toBe("");
        return (JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { closedBySpawner: number }).closedBySpawner;
      },
    };
  }

  test("1,100 silent connections from a uid that is not allowed are closed at accept; an allowed client is served meanwhile", async () => {
    const spawner = await openSpawner(["--request-timeout", "60"]);
    expect((await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "/bin/true"])).code).toBe(0);
    const baseline = fdCount(spawner.pid);
    const peer = await floodAsNobody(spawner.socket, 1100);
    try {
      expect(peer.opened).toBe(1100);
      const served = await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exit 7"]);
      expect(served).toMatchObject({ code: 7, stderr: "" });
      await waitForBaseline(spawner.pid, baseline, "the refused connections to be closed");
    } finally {
      expect(await peer.done()).toBe(1100);
    }
    // One warning, not 1,100: the log says how many more it left out once it speaks again.
    const warnings = spawner.stderr.text.split("\n").filter((line) => line.includes(`refused peer`) && line.includes(`uid ${NOBODY_UID}`));
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBeLessThan(10);
  });

  test("--max-connections-per-uid: an allowed uid holding its share is refused more (told why), and others are still served", async () => {
    const spawner = await openSpawner(["--allow-uid", "nobody", "--max-connections-per-uid", "10", "--request-timeout", "60"]);
    const peer = await floodAsNobody(spawner.socket, 10, true);
    try {
      expect(peer.hello).toMatchObject({
        ack: false, outcome: null, refused: { code: RefusalCode.Limit, reason: `uid ${NOBODY_UID} has 10 connections open (the spawner's --max-connections-per-uid)` },
      });
      // Root is not counted against the cap, and another uid has its own share.
      expect((await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exit 7"])).code).toBe(7);
    } finally {
      // The ten it held were its own to keep: the spawner closes none of them before the request timeout.
      expect(await peer.done()).toBe(0);
    }
    const again = await finish(execAsNobody(["--one-shot", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exit 5"]));
    expect(again).toMatchObject({ code: 5, stderr: "" });
  });
  test("--max-children: one allowed uid holding its share of the slots does not starve another uid (default share: all but an eighth, at least one)", async () => {
    const spawner = await openSpawner(["--allow-uid", "nobody", "--allow-uid", "4321", "--max-children", "4", "--request-timeout", "60"]);
    const hogs = [1, 2, 3, 4].map(() => execAsNobody(["--one-shot", "--no-pty", "--socket", spawner.socket, "--", "/bin/sh", "-c", "echo running; exec sleep 60"]));
    try {
      await waitFor(() => hogs.filter((h) => h.stdout.text.includes("running")).length === 3, "three of nobody's programs running");
      // Its fourth waits for its own turn, while a later request of another uid takes the fourth slot.
      const other = execAsNobody(["--one-shot", "--no-pty", "--socket", spawner.socket, "--", "/bin/sh", "-c", "exit 7"], "4321", "4321");
      const ended = await Promise.race([finish(other), Bun.sleep(30_000).then(() => "still waiting after 30 s")]);
      expect(ended).toMatchObject({ code: 7, stderr: "" });
      expect(hogs.filter((h) => h.stdout.text.includes("running")).length).toBe(3);
    } finally {
      for (const hog of hogs) hog.proc.kill("SIGTERM");
    }
  });
  test("a caller gets no more scheduling than it has: a forged SCHEDULING (nice -20, SCHED_FIFO 99, no ASLR) for a root spawner's fixed PROGRAM is bounded", async () => {
    const probe = scratch.path("sched-probe.sh");
    writeFileSync(probe, '#!/bin/sh\nset -- $(cat /proc/self/stat)\necho "nice ${19} rt ${40} policy ${41} personality $(cat /proc/self/personality) uid $(id -u)"\n');
    chmodSync(probe, 0o755);
    const forger = await nobodyExecutable(tools, join(import.meta.dir, "helpers/forged-scheduling.ts"), "forged-scheduling");
    const spawner = await openSpawner(["--allow-uid", "nobody", "--", probe]);
    const run = await finish(startProcess(scratch, [...AS_NOBODY, "nice", "-n", "3", forger, spawner.socket], { env: baseEnv() }));
    expect(run).toMatchObject({ code: 0, stderr: "", stdout: "nice 3 rt 0 policy 0 personality 00000000 uid 0\n" });
  });
});

/** Opens a file in the scratch dir for a program's output; the test closes the returned fd. */
function outputFile(name: string): { fd: OwnedFd; text: () => string } {
  const path = scratch.path(name);
  const fd = new OwnedFd(openSync(path, "w"));
  return { fd, text: () => readFileSync(path, "utf8") };
}

/** The env lines a program printed (sorted), one variable per line. */
const lines = (text: string) => text.split("\n").filter(Boolean).sort();

describe("PORTAL_PEER_* come from the spawner", () => {
  const forged = ["PORTAL_PEER_UID=4242", "PORTAL_PEER_GID=4242", "PORTAL_PEER_PID=1", "PORTAL_PEER_EXTRA=forged", "OTHER=kept"];

  test("a v2 client cannot supply its own PORTAL_PEER_UID (or any PORTAL_PEER_ variable)", async () => {
    const spawner = await openSpawner();
    const out = outputFile("env.txt");
    const client = RawClient.connect(spawner.socket);
    try {
      const argv = joinNulTerminated(["/usr/bin/env"].map(enc), "args");
      const env = joinNulTerminated(forged.map(enc), "env");
      client.send(encodeHello());
      client.send(encodeRecord(RecordType.Args, argv));
      client.send(encodeRecord(RecordType.Env, env));
      client.send(encodeFdTargets([1]), [out.fd.fd]);
      client.send(encodeStart({ argc: 1, envc: forged.length, fdCount: 1, flags: 0 }));
      const ending = summarizeV2(await client.repliesUntilClose(30_000));
      expect(ending.outcome).toEqual({ kind: "exited", code: 0 });
    } finally {
      client.close();
      out.fd.close();
    }
    expect(lines(out.text())).toEqual(["OTHER=kept", "PORTAL_PEER_GID=0", `PORTAL_PEER_PID=${process.pid}`, "PORTAL_PEER_UID=0"]);
  });

  test("a v1 client cannot supply them either", async () => {
    const spawner = await openSpawner();
    const out = outputFile("env.txt");
    const client = RawClient.connect(spawner.socket);
    try {
      client.send(encodeV1Strings(forged.map(enc), "env"));
      client.send(encodeV1Strings(["/usr/bin/env"].map(enc), "args"));
      client.send(encodeV1FdNumbers([1]));
      client.send(new Uint8Array(2), [out.fd.fd]);
      const replies = await client.repliesUntilClose(30_000);
      expect(replies.map((r) => decodeV1Status(r))).toEqual([0]);
    } finally {
      client.close();
      out.fd.close();
    }
    expect(lines(out.text())).toEqual(["OTHER=kept", "PORTAL_PEER_GID=0", `PORTAL_PEER_PID=${process.pid}`, "PORTAL_PEER_UID=0"]);
  });
});

describe("environment policy", () => {
  // --clear-env plus --env makes the forwarded environment exactly this.
  const clientEnv = ["PATH=/usr/bin:/bin", "LD_PRELOAD=/nonexistent/portal-preload.so", "LD_LIBRARY_PATH=/nonexistent", "LC_ALL=C", "LC_SECRET=s", "LANGUAGE=en", "KEEP_ME=yes", "KEEP_ME_NOT=no"];
  const envArgs = ["--clear-env", ...clientEnv.flatMap((e) => ["--env", e])];

  async function programEnv(spawnerArgs: string[], name?: string): Promise<string[]> {
    const spawner = await openSpawner(spawnerArgs, name);
    const result = await runExec(scratch, ["--one-shot", "--socket", spawner.socket, ...envArgs, "--", "/usr/bin/env"]);
    expect(result.code).toBe(0);
    return lines(result.stdout).filter((l) => !l.startsWith("PORTAL_PEER_"));
  }

  test("without a policy every client variable reaches the program (LD_PRELOAD included)", async () => {
    expect(await programEnv([])).toEqual([...clientEnv].sort());
  });

  test("--deny-env 'LD_*' keeps LD_PRELOAD and LD_LIBRARY_PATH out", async () => {
    expect(await programEnv(["--deny-env", "LD_*"])).toEqual(clientEnv.filter((e) => !e.startsWith("LD_")).sort());
  });

  test("--allow-env passes only matching variables; --deny-env then removes from those", async () => {
    expect(await programEnv(["--allow-env", "LC_*", "--allow-env", "KEEP_ME"])).toEqual(["KEEP_ME=yes", "LC_ALL=C", "LC_SECRET=s"]);
    expect(await programEnv(["--allow-env", "LC_*", "--allow-env", "KEEP_ME", "--deny-env", "LC_SECRET"], "second.sock")).toEqual(["KEEP_ME=yes", "LC_ALL=C"]);
  });

  test("PORTAL_PEER_* are set even when --allow-env would not pass them", async () => {
    const spawner = await openSpawner(["--allow-env", "NOTHING_MATCHES"]);
    const result = await runExec(scratch, ["--one-shot", "--socket", spawner.socket, ...envArgs, "--", "/usr/bin/env"]);
    expect(result.code).toBe(0);
    expect(lines(result.stdout).map((l) => l.split("=")[0])).toEqual(["PORTAL_PEER_GID", "PORTAL_PEER_PID", "PORTAL_PEER_UID"]);
  });
});

describe("a spawner started with a PROGRAM only ever runs that PROGRAM", () => {
  /** A directory of look-alike programs a hostile client might point PATH or cwd at. */
  function decoys(marker: string): string {
    const dir = scratch.path("decoys");
    mkdirSync(dir);
    for (const name of ["echo", "tool"]) {
      writeFileSync(`${dir}/${name}`, `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
    }
    return dir;
  }

  test("client arguments are appended, whatever they name (v2 and v1)", async () => {
    const spawner = await openSpawner(["--", "/bin/echo", "fixed"]);
    const marker = scratch.path("marker");
    for (const protocol of ["2", "1"]) {
      const result = await runExec(scratch, ["--one-shot", "--protocol", protocol, "--socket", spawner.socket, "--", "/bin/touch", marker]);
      expect(result).toMatchObject({ code: 0, stdout: `fixed /bin/touch ${marker}\n` });
    }
    expect(existsSync(marker)).toBe(false);
  });

  test("a raw client's first argument is only an argument", async () => {
    const spawner = await openSpawner(["--", "/bin/echo", "fixed"]);
    const marker = scratch.path("marker");
    const out = outputFile("out.txt");
    const client = RawClient.connect(spawner.socket);
    try {
      const argv = ["/bin/sh", "-c", `touch ${marker}`].map(enc);
      client.send(encodeHello());
      client.send(encodeRecord(RecordType.Args, joinNulTerminated(argv, "args")));
      client.send(encodeFdTargets([1]), [out.fd.fd]);
      client.send(encodeStart({ argc: 3, envc: 0, fdCount: 1, flags: 0 }));
      expect(summarizeV2(await client.repliesUntilClose(30_000)).outcome).toEqual({ kind: "exited", code: 0 });
    } finally {
      client.close();
      out.fd.close();
    }
    expect(out.text()).toBe(`fixed /bin/sh -c touch ${marker}\n`);
    expect(existsSync(marker)).toBe(false);
  });

  test("a PROGRAM given by name is found in the spawner's PATH, not the client's", async () => {
    const marker = scratch.path("marker");
    const dir = decoys(marker);
    const spawner = await openSpawner(["--", "echo", "fixed"]);
    const result = await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--env", `PATH=${dir}`, "--", "hello"]);
    expect(result).toMatchObject({ code: 0, stdout: "fixed hello\n" });
    expect(existsSync(marker)).toBe(false);
  });

  test("a relative PROGRAM is anchored at the spawner's cwd, not the client's --cwd", async () => {
    const marker = scratch.path("marker");
    const dir = decoys(marker);
    const own = scratch.path("own");
    mkdirSync(own);
    writeFileSync(`${own}/tool`, "#!/bin/sh\necho own tool \"$@\"\n", { mode: 0o755 });
    const socket = scratch.path("portal.sock");
    const spawner = await startSpawner(scratch, socket, ["--socket", socket, "--", "./tool"], { cwd: own });
    const result = await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--cwd", dir, "--", "x"]);
    expect(result).toMatchObject({ code: 0, stdout: "own tool x\n" });
    expect(existsSync(marker)).toBe(false);
  });
});

describe("the socket's directory", () => {
  test("a missing directory is created private: 0700, with search permission only for classes the socket mode admits", async () => {
    const cases: Array<{ mode?: string; dirMode: number; socketMode: number }> = [
      { dirMode: 0o700, socketMode: 0o600 },
      { mode: "0660", dirMode: 0o710, socketMode: 0o660 },
      { mode: "0666", dirMode: 0o711, socketMode: 0o666 },
    ];
    for (const [i, c] of cases.entries()) {
      const socket = scratch.path(`run-${i}/nested/portal.sock`);
      const spawner = await startSpawner(scratch, socket, ["--socket", socket, ...(c.mode ? ["--mode", c.mode] : [])]);
      expect(statSync(scratch.path(`run-${i}/nested`)).mode & 0o7777).toBe(c.dirMode);
      expect(statSync(socket).mode & 0o777).toBe(c.socketMode);
      // Usable, not just present.
      const result = await runExec(scratch, ["--one-shot", "--socket", socket, "--", "/bin/sh", "-c", "exit 3"]);
      expect(result.code).toBe(3);
      spawner.proc.kill("SIGTERM");
      await spawner.proc.exited;
    }
  });
});
