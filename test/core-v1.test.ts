// Protocol v1 (info-beamer's C exec-portal) in both directions: our spawner
// serving a v1 client built from the spec, and our portal-exec talking to a
// v1 spawner double.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync } from "node:fs";
import { processExists, Scratch, waitFor } from "./helpers/harness.ts";
import { cleanEnv, DEADLINE_MS, ProgramGroups, runExec, startSpawner, startV1Spawner, waitForExec } from "./helpers/cli-processes.ts";
import { exitStatusOf, termSignalOf, V1Client, v1Exec } from "./helpers/v1-client.ts";

setDefaultTimeout(60_000);

let scratch: Scratch;
const groups = new ProgramGroups();
/** fds this test process opened to hand over; each is closed exactly once. */
const opened = new Set<number>();

beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  closeOpened();
  groups.killAll();
  await scratch.cleanup();
});

function open(path: string, flags: "r" | "w"): number {
  const fd = openSync(path, flags);
  opened.add(fd);
  return fd;
}

function closeOpened(): void {
  for (const fd of opened) closeSync(fd);
  opened.clear();
}

const ENV = ["PATH=/usr/bin:/bin", "LANG=C"];
const noFds = new Map<number, number>();
const fromSpawner = (line: string) => line.startsWith("PORTAL_PEER_");

/** Newline-terminated lines as bytes (no decoding: they may not be UTF-8). */
function splitLines(bytes: Buffer): Buffer[] {
  const lines: Buffer[] = [];
  let start = 0;
  for (let i = bytes.indexOf(10); i >= 0; i = bytes.indexOf(10, start)) {
    lines.push(bytes.subarray(start, i));
    start = i + 1;
  }
  expect(start).toBe(bytes.length);
  return lines;
}

describe("our spawner serves a v1 client", () => {
  async function spawner(args: string[] = [], cwd?: string) {
    return startSpawner(scratch, ["--socket", scratch.path("portal.sock"), ...args], { cwd });
  }

  for (const code of [0, 1, 200, 255]) {
    test(`exit ${code} comes back as wait status ${code << 8}`, async () => {
      const { socket } = await spawner();
      const status = await v1Exec(socket, { env: ENV, args: ["/bin/sh", "-c", `exit ${code}`], fds: noFds });
      expect(status).toBe(code << 8);
      expect(exitStatusOf(status!)).toBe(code);
    });
  }

  test("death by SIGKILL comes back as the raw status 9, SIGSEGV as signal 11", async () => {
    const { socket } = await spawner();
    expect(await v1Exec(socket, { env: ENV, args: ["/bin/sh", "-c", "kill -KILL $$"], fds: noFds })).toBe(9);
    const segv = await v1Exec(socket, { env: ENV, args: ["/bin/sh", "-c", "kill -SEGV $$"], fds: noFds });
    expect(termSignalOf(segv!)).toBe(11);
  });

  test("a program that cannot be found is exit status 127, never the program-like 1", async () => {
    const { socket } = await spawner();
    const status = await v1Exec(socket, { env: ENV, args: [scratch.path("missing")], fds: noFds });
    expect(status).toBe(127 << 8);
  });

  test("fds arrive at the numbers the client listed", async () => {
    const { socket } = await spawner();
    const one = open(scratch.path("one"), "w");
    const seven = open(scratch.path("seven"), "w");
    // The C client lists an fd at its own number: use this process's number for one of them.
    const high = open(scratch.path("high"), "w");
    const stdin = open("/dev/null", "r");
    const fds = new Map([
      [0, stdin],
      [1, one],
      [7, seven],
      [high, high],
    ]);
    const script = `for n in 1 7 ${high}; do echo "fd $n" >&$n; done; [ -e /proc/self/fd/2 ] && echo "fd 2 is open" >&1`;
    const status = await v1Exec(socket, { env: ENV, args: ["/usr/bin/bash", "-c", script], fds });
    expect(status).toBe(0);
    expect(readFileSync(scratch.path("one"), "utf8")).toBe("fd 1\nfd 2 is open\n");
    expect(readFileSync(scratch.path("seven"), "utf8")).toBe("fd 7\n");
    expect(readFileSync(scratch.path("high"), "utf8")).toBe(`fd ${high}\n`);
  });

  test("the program runs in the spawner's cwd (v1 sends none)", async () => {
    const dir = scratch.path("spawner-cwd");
    mkdirSync(dir);
    const { socket } = await spawner([], dir);
    const out = open(scratch.path("out"), "w");
    const status = await v1Exec(socket, { env: ENV, args: ["/bin/pwd"], fds: new Map([[1, out]]) });
    expect(status).toBe(0);
    expect(process.cwd()).not.toBe(realpathSync(dir));
    expect(readFileSync(scratch.path("out"), "utf8")).toBe(`${realpathSync(dir)}\n`);
  });

  test("env and args arrive byte for byte, empty arguments included", async () => {
    const { socket } = await spawner();
    const argsOut = open(scratch.path("args"), "w");
    const args = ["/bin/sh", "-c", 'printf "<%s>" "$@"', "sh", "", "two words", new Uint8Array([0xc3, 0x28])];
    expect(await v1Exec(socket, { env: ENV, args, fds: new Map([[1, argsOut]]) })).toBe(0);
    expect(readFileSync(scratch.path("args"))).toEqual(Buffer.concat([Buffer.from("<><two words><"), Buffer.from([0xc3, 0x28]), Buffer.from(">")]));

    // env(1) directly, not through a shell (which would add and reorder variables).
    const envOut = open(scratch.path("env"), "w");
    const raw = new Uint8Array([0x52, 0x41, 0x57, 0x3d, 0xff, 0xfe]); // "RAW=\xff\xfe"
    expect(await v1Exec(socket, { env: ["A=1", raw, "EMPTY="], args: ["/usr/bin/env"], fds: new Map([[1, envOut]]) })).toBe(0);
    const env = splitLines(readFileSync(scratch.path("env"))).filter((line) => !fromSpawner(line.toString("latin1")));
    expect(env).toEqual([Buffer.from("A=1"), Buffer.from(raw), Buffer.from("EMPTY=")]);
  });

  test("an empty environment is a zero-length record and works", async () => {
    const { socket } = await spawner();
    const out = open(scratch.path("out"), "w");
    const status = await v1Exec(socket, { env: [], args: ["/usr/bin/env"], fds: new Map([[1, out]]) });
    expect(status).toBe(0);
    const lines = readFileSync(scratch.path("out"), "utf8").trimEnd().split("\n").filter(Boolean);
    expect(lines.filter((line) => !fromSpawner(line))).toEqual([]);
  });

  test("a request whose fd record carries fewer fds than listed is refused and nothing runs", async () => {
    const spawnerProcess = await spawner();
    const marker = scratch.path("ran");
    const stdin = open("/dev/null", "r");
    const out = open(scratch.path("out"), "w");
    const request = {
      env: ENV,
      args: ["/bin/sh", "-c", `touch '${marker}'`],
      fds: new Map([
        [0, stdin],
        [1, out],
        [2, out],
      ]),
    };
    expect(await v1Exec(spawnerProcess.socket, { ...request, attach: 2 })).toBeNull();
    await spawnerProcess.stderr.waitFor(/lists 3 fds but 2 arrived/, "the spawner's refusal warning");
    expect(existsSync(marker)).toBe(false);
    // The same request complete does run: the marker would have appeared.
    expect(await v1Exec(spawnerProcess.socket, request)).toBe(0);
    expect(existsSync(marker)).toBe(true);
  });

  test("a v1 client that disconnects mid-run gets its program (and the program's group) killed", async () => {
    const { socket } = await spawner(["--kill-grace", "0.5"]);
    const pidFile = scratch.path("pids");
    const script = `trap '' TERM; sleep 1000 & echo "$$ $!" > '${pidFile}.tmp'; mv '${pidFile}.tmp' '${pidFile}'; wait`;
    const client = V1Client.connect(socket);
    try {
      client.send({ env: ENV, args: ["/bin/sh", "-c", script], fds: noFds });
      const [program, grandchild] = (await waitFor(() => existsSync(pidFile) && readFileSync(pidFile, "utf8"), "the program's pid file", DEADLINE_MS))
        .trim()
        .split(" ")
        .map(Number);
      groups.add(program!);
      scratch.trackPid(grandchild!);
      await waitForExec(grandchild!, "sleep");
      expect(processExists(program!)).toBe(true);
      client.close();
      await waitFor(() => !processExists(program!) && !processExists(grandchild!), "program and grandchild to be killed", DEADLINE_MS);
    } finally {
      client.close();
    }
  });
});

describe("portal-exec against a v1 spawner", () => {
  for (const how of ["--protocol 1", "PORTAL_PROTOCOL=1"] as const) {
    test(`${how}: exit code, stdout and fd 3 are forwarded`, async () => {
      const socket = scratch.path("v1.sock");
      await startV1Spawner(scratch, socket);
      const three = open(scratch.path("three"), "w");
      const protocol = how === "--protocol 1" ? ["--protocol", "1"] : [];
      const result = await runExec(scratch, [...protocol, "--socket", socket, "/bin/sh", "-c", "echo via-three >&3; echo out; exit 5"], {
        extraFds: [three],
        env: cleanEnv(how === "PORTAL_PROTOCOL=1" ? { PORTAL_PROTOCOL: "1" } : {}),
      });
      expect(result).toMatchObject({ code: 5, stdout: "out\n", stderr: "" });
      expect(readFileSync(scratch.path("three"), "utf8")).toBe("via-three\n");
    });
  }

  test("--protocol 1: the client's PORTAL_* variables are not sent", async () => {
    const socket = scratch.path("v1.sock");
    await startV1Spawner(scratch, socket);
    const result = await runExec(scratch, ["--protocol", "1", "/usr/bin/env"], { env: cleanEnv({ PORTAL_NAME: socket, PORTAL_ONE_SHOT: "1", KEEP: "k" }) });
    expect(result.code).toBe(0);
    const env = result.stdout.trimEnd().split("\n");
    expect(env).toContain("KEEP=k");
    expect(env.filter((line) => line.startsWith("PORTAL_"))).toEqual([]);
  });

  test("--protocol 1: death by signal is reported as death by signal", async () => {
    const socket = scratch.path("v1.sock");
    await startV1Spawner(scratch, socket);
    const result = await runExec(scratch, ["--protocol", "1", "--socket", socket, "/bin/sh", "-c", "kill -KILL $$"]);
    expect(result).toMatchObject({ code: null, signal: "SIGKILL" });
  });

  test("without --protocol 1 the client gives up with 125 and names the option", async () => {
    const socket = scratch.path("v1.sock");
    const v1 = await startV1Spawner(scratch, socket);
    const marker = scratch.path("ran");
    const result = await runExec(scratch, ["--handshake-timeout", "0.5", "--socket", socket, "/usr/bin/touch", marker]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain("--protocol 1");
    expect(result.stderr.trimEnd().split("\n")).toHaveLength(1);
    await v1.stderr.waitFor(/dropped a connection/, "the v1 spawner to drop the connection");
    expect(existsSync(marker)).toBe(false);
  });

  test("the v1 spawner double itself runs a complete request (sanity check of the double)", async () => {
    const socket = scratch.path("v1.sock");
    const v1 = await startV1Spawner(scratch, socket, ["/bin/sh", "-c", 'echo "$@" >&7; exit 3', "sh"]);
    const seven = open(scratch.path("seven"), "w");
    const status = await v1Exec(socket, { env: ENV, args: ["a", "b"], fds: new Map([[7, seven]]) });
    expect(status).toBe(3 << 8);
    expect(readFileSync(scratch.path("seven"), "utf8")).toBe("a b\n");
    await v1.stderr.waitFor(/status 768/, "the double's log line");
  });
});
