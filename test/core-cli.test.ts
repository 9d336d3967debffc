// The CLI binaries as a user runs them: portal-exec's exit codes and options,
// portal-spawner's socket handling, program prefix and logging.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { Scratch, waitFor } from "./helpers/harness.ts";
import { listenSeqpacket } from "../src/fdpass/seqpacket.ts";
import {
  catchesSignal, cleanEnv, DEADLINE_MS, finish, isListening, launchSpawner, runExec, startExec, startSpawner, type RunningSpawner,
} from "./helpers/cli-processes.ts";

setDefaultTimeout(60_000);

let scratch: Scratch;
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  await scratch.cleanup();
});

/** A spawner PROGRAM that prints each argument it gets as <arg>. */
const PRINT_ARGS = ["/bin/sh", "-c", 'printf "<%s>" "$@"', "print-args"];

/** The variables the spawner itself adds to every program's environment. */
const fromSpawner = (line: string) => line.startsWith("PORTAL_PEER_");

async function stopSpawner(spawner: RunningSpawner, signal: "SIGTERM" | "SIGINT" = "SIGTERM") {
  // Until its handler is installed, the signal would simply kill it.
  await waitFor(() => catchesSignal(spawner.proc.pid, signal === "SIGTERM" ? 15 : 2), `spawner handling ${signal}`, DEADLINE_MS);
  spawner.proc.kill(signal);
  return finish(spawner);
}

describe("portal-exec exit codes", () => {
  for (const code of [0, 1, 200, 255]) {
    test(`the program's own exit code ${code} comes back`, async () => {
      const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
      const result = await runExec(scratch, ["--socket", socket, "sh", "-c", `exit ${code}`]);
      expect(result).toMatchObject({ code, signal: null, stderr: "" });
    });
  }

  test("127 and a message when the program does not exist", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const result = await runExec(scratch, ["--socket", socket, "no-such-program-for-portal"]);
    expect(result.code).toBe(127);
    expect(result.stderr).toBe("portal-exec: cannot run 'no-such-program-for-portal': No such file or directory\n");
  });

  test("127 for a path that does not exist", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const missing = scratch.path("missing-program");
    const result = await runExec(scratch, ["--socket", socket, missing]);
    expect(result.code).toBe(127);
    expect(result.stderr).toBe(`portal-exec: cannot run '${missing}': No such file or directory\n`);
  });

  test("126 when the program exists but is not executable", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const file = scratch.path("not-executable");
    writeFileSync(file, "#!/bin/sh\nexit 0\n");
    chmodSync(file, 0o644);
    // As root, access(X_OK) still fails when no execute bit is set at all.
    const result = await runExec(scratch, ["--socket", socket, file]);
    expect(result.code).toBe(126);
    expect(result.stderr).toBe(`portal-exec: cannot run '${file}': Permission denied\n`);
  });

  test("125 when no spawner listens and --one-shot is given", async () => {
    const socket = scratch.path("nobody.sock");
    const result = await runExec(scratch, ["--one-shot", "--socket", socket, "true"]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain(`portal-exec: cannot connect to spawner at '${socket}'`);
    expect(result.stderr).not.toContain("waiting");
  });

  test("125 when the spawner refuses the request (nothing to execute)", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const result = await runExec(scratch, ["--socket", socket]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain("portal-exec: the spawner refused the request: nothing to execute");
  });

  test("125 when a request exceeds the spawner's --max-fds", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), "--max-fds", "2"]);
    const marker = scratch.path("ran");
    const result = await runExec(scratch, ["--socket", socket, "--fd", "0", "--fd", "1", "--fd", "2", "touch", marker]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain("at most 2 fds");
    expect(existsSync(marker)).toBe(false);
  });

  test("a name without a slash is looked up in the PATH the client sends, not the spawner's", async () => {
    const bin = scratch.path("client-bin");
    mkdirSync(bin);
    writeFileSync(`${bin}/portal-test-tool`, '#!/bin/sh\necho "tool ran with $1"\nexit 9\n');
    chmodSync(`${bin}/portal-test-tool`, 0o755);
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")], { env: cleanEnv({ PATH: "/usr/bin:/bin" }) });
    const found = await runExec(scratch, ["--socket", socket, "portal-test-tool", "x"], { env: cleanEnv({ PATH: `/usr/bin:${bin}:/bin` }) });
    expect(found).toMatchObject({ code: 9, stdout: "tool ran with x\n" });
    const notFound = await runExec(scratch, ["--socket", socket, "portal-test-tool"], { env: cleanEnv({ PATH: "/usr/bin:/bin" }) });
    expect(notFound.code).toBe(127);
    expect(notFound.stderr).toContain("cannot run 'portal-test-tool': No such file or directory");
  });
});

describe("portal-exec options", () => {
  test("options end at the first non-option: `portal-exec ls -la --help` hands on -la --help", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), ...PRINT_ARGS]);
    const result = await runExec(scratch, ["--socket", socket, "ls", "-la", "--help"]);
    expect(result).toMatchObject({ code: 0, stdout: "<ls><-la><--help>", stderr: "" });
  });

  test("options end at the first non-option with a real program too", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const result = await runExec(scratch, ["--socket", socket, "sh", "-c", 'printf "<%s>" "$@"', "sh", "-la", "--help", "--socket"]);
    expect(result).toMatchObject({ code: 0, stdout: "<-la><--help><--socket>" });
  });

  test("-- ends our options: what follows goes to the program even if it looks like ours", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), ...PRINT_ARGS]);
    const result = await runExec(scratch, ["--socket", socket, "--", "--socket", "elsewhere", "--help", "--"]);
    expect(result).toMatchObject({ code: 0, stdout: "<--socket><elsewhere><--help><-->" });
  });

  test("an unknown option before the command is a usage error (125)", async () => {
    const result = await runExec(scratch, ["--no-such-option", "true"]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain("unknown option '--no-such-option'");
  });

  test("without --one-shot the client waits for the socket, says so once, and runs when the spawner appears", async () => {
    const socket = scratch.path("later.sock");
    const client = startExec(scratch, ["--socket", socket, "sh", "-c", "echo ran; exit 3"]);
    await client.stderr.waitFor(/waiting for spawner/, "the waiting message");
    const spawner = await startSpawner(scratch, ["--socket", socket], { expectSocket: socket });
    const result = await finish(client);
    expect(result).toMatchObject({ code: 3, stdout: "ran\n" });
    expect(result.stderr).toBe(`portal-exec: waiting for spawner at '${socket}'...\n`);
    await stopSpawner(spawner);
  });

  test("PORTAL_ONE_SHOT fails at once with 125 instead of waiting", async () => {
    const socket = scratch.path("nobody.sock");
    const result = await runExec(scratch, ["--socket", socket, "true"], { env: cleanEnv({ PORTAL_ONE_SHOT: "1" }) });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain(`cannot connect to spawner at '${socket}'`);
    expect(result.stderr).not.toContain("waiting");
  });

  test("--timeout gives up with 125 after waiting", async () => {
    const socket = scratch.path("nobody.sock");
    const result = await runExec(scratch, ["--timeout", "0.3", "--socket", socket, "true"]);
    expect(result.code).toBe(125);
    const lines = result.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`portal-exec: waiting for spawner at '${socket}'...`);
    expect(lines[1]).toContain(`portal-exec: cannot connect to spawner at '${socket}'`);
  });

  test("the program runs in the client's cwd by default and in --cwd DIR when given", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const clientDir = scratch.path("client-dir");
    const otherDir = scratch.path("other dir");
    mkdirSync(clientDir);
    mkdirSync(otherDir);
    const byDefault = await runExec(scratch, ["--socket", socket, "pwd"], { cwd: clientDir });
    expect(byDefault).toMatchObject({ code: 0, stdout: `${realpathSync(clientDir)}\n` });
    const given = await runExec(scratch, ["--socket", socket, "--cwd", otherDir, "pwd"], { cwd: clientDir });
    expect(given).toMatchObject({ code: 0, stdout: `${otherDir}\n` });
  });

  test("--cwd naming a missing directory fails with 125 and runs nothing", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const marker = scratch.path("ran");
    const result = await runExec(scratch, ["--socket", socket, "--cwd", scratch.path("missing"), "touch", marker]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain("missing");
    expect(existsSync(marker)).toBe(false);
  });

  test("--env sets and overrides, --unset-env removes, the rest of the environment is forwarded", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const result = await runExec(
      scratch,
      ["--socket", socket, "--env", "OVER=new", "--env", "ADDED=a=b", "--unset-env", "DROP", "/usr/bin/env"],
      { env: cleanEnv({ KEEP: "kept", DROP: "dropped", OVER: "old" }) },
    );
    expect(result.code).toBe(0);
    const env = result.stdout.trimEnd().split("\n");
    expect(env).toContain("KEEP=kept");
    expect(env).toContain("OVER=new");
    expect(env).not.toContain("OVER=old");
    expect(env).toContain("ADDED=a=b");
    expect(env.some((line) => line.startsWith("DROP="))).toBe(false);
  });

  test("--clear-env starts the program with only the --env variables", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const result = await runExec(scratch, ["--socket", socket, "--clear-env", "--env", "ONLY=1", "/usr/bin/env"], {
      env: cleanEnv({ KEEP: "kept" }),
    });
    expect(result.code).toBe(0);
    expect(result.stdout.trimEnd().split("\n").filter((line) => !fromSpawner(line))).toEqual(["ONLY=1"]);
  });

  test("PORTAL_NAME picks the socket; the client's own control variables stay behind, a program's own PORTAL_* variables reach it", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("named.sock")], { expectSocket: scratch.path("named.sock") });
    const elsewhere = scratch.path("elsewhere");
    mkdirSync(elsewhere);
    const result = await runExec(scratch, ["/usr/bin/env"], {
      cwd: elsewhere,
      env: cleanEnv({ PORTAL_NAME: socket, PORTAL_PROTOCOL: "2", PORTAL_ONE_SHOT: "1", PORTAL_BUN: "/nowhere", PORTAL_EXEC_INHERITED: "nofile=64", PORTAL_APP_MODE: "x", NOT_PORTAL: "y" }),
    });
    expect(result.code).toBe(0);
    const env = result.stdout.trimEnd().split("\n");
    expect(env).toContain("NOT_PORTAL=y");
    expect(env.filter((line) => line.startsWith("PORTAL_") && !fromSpawner(line))).toEqual(["PORTAL_APP_MODE=x"]);
  });

  test("--socket wins over PORTAL_NAME", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("real.sock")], { expectSocket: scratch.path("real.sock") });
    const result = await runExec(scratch, ["--one-shot", "--socket", socket, "sh", "-c", "exit 4"], {
      env: cleanEnv({ PORTAL_NAME: scratch.path("wrong.sock") }),
    });
    expect(result.code).toBe(4);
  });
});

describe("portal-spawner", () => {
  test("socket path: --socket, else PORTAL_NAME, else ./portal.sock in its cwd", async () => {
    const byOption = await startSpawner(scratch, ["--socket", scratch.path("option.sock")], {
      expectSocket: scratch.path("option.sock"),
      env: cleanEnv({ PORTAL_NAME: scratch.path("env-ignored.sock") }),
    });
    expect(existsSync(scratch.path("env-ignored.sock"))).toBe(false);

    const byEnv = await startSpawner(scratch, [], { expectSocket: scratch.path("env.sock"), env: cleanEnv({ PORTAL_NAME: scratch.path("env.sock") }) });

    const dir = scratch.path("spawner-cwd");
    mkdirSync(dir);
    const byDefault = await startSpawner(scratch, [], { cwd: dir, expectSocket: `${dir}/portal.sock`, boundAs: "./portal.sock" });

    for (const spawner of [byOption, byEnv, byDefault]) {
      const result = await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "sh", "-c", "exit 6"]);
      expect(result.code).toBe(6);
    }
  });

  test("replaces a stale socket nobody listens on", async () => {
    const socket = scratch.path("stale.sock");
    listenSeqpacket(Buffer.from(socket)).close();
    expect(statSync(socket).isSocket()).toBe(true);
    expect(isListening(socket)).toBe(false);
    await startSpawner(scratch, ["--socket", socket], { expectSocket: socket });
    const result = await runExec(scratch, ["--one-shot", "--socket", socket, "sh", "-c", "exit 8"]);
    expect(result.code).toBe(8);
  });

  test("refuses to start on a regular file and leaves the file alone", async () => {
    const path = scratch.path("precious.txt");
    writeFileSync(path, "precious data\n");
    const spawner = launchSpawner(scratch, ["--socket", path]);
    const result = await finish(spawner);
    expect(result.code).not.toBe(0);
    expect(result.code).not.toBeNull();
    expect(result.stderr).toContain(`refusing to replace '${path}': it exists and is not a socket`);
    expect(readFileSync(path, "utf8")).toBe("precious data\n");
    expect(statSync(path).isFile()).toBe(true);
  });

  test("refuses to start when another spawner is live on the path, and the first keeps serving", async () => {
    const first = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const second = await finish(launchSpawner(scratch, ["--socket", first.socket]));
    expect(second.code).not.toBe(0);
    expect(second.code).not.toBeNull();
    expect(second.stderr).toContain(`another spawner is already listening on '${first.socket}'`);
    expect(first.proc.exitCode).toBeNull();
    const result = await runExec(scratch, ["--one-shot", "--socket", first.socket, "sh", "-c", "exit 5"]);
    expect(result.code).toBe(5);
  });

  test("the socket gets mode 0600 by default and --mode 0660 when asked", async () => {
    const plain = await startSpawner(scratch, ["--socket", scratch.path("plain.sock")], { expectSocket: scratch.path("plain.sock") });
    const shared = await startSpawner(scratch, ["--socket", scratch.path("shared.sock"), "--mode", "0660"], {
      expectSocket: scratch.path("shared.sock"),
    });
    expect(statSync(plain.socket).mode & 0o777).toBe(0o600);
    expect(statSync(shared.socket).mode & 0o777).toBe(0o660);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`removes its socket and exits 0 on ${signal}`, async () => {
      const spawner = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
      expect(existsSync(spawner.socket)).toBe(true);
      const result = await stopSpawner(spawner, signal);
      expect(result.code).toBe(0);
      expect(existsSync(spawner.socket)).toBe(false);
    });
  }

  test("runs its own PROGRAM ARGS with the client's arguments appended", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), "/bin/echo", "spawner-arg", "--flag"]);
    const result = await runExec(scratch, ["--socket", socket, "client arg 1", "client-arg-2"]);
    expect(result).toMatchObject({ code: 0, stdout: "spawner-arg --flag client arg 1 client-arg-2\n" });
  });

  test("--log-level debug logs one line per request on stderr and nothing on any stdout", async () => {
    const spawner = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), "--log-level", "debug"]);
    const outputs: string[] = [];
    for (const code of [0, 3, 7]) {
      const result = await runExec(scratch, ["--socket", spawner.socket, "sh", "-c", `echo out-${code}; exit ${code}`]);
      expect(result.code).toBe(code);
      outputs.push(result.stdout);
    }
    expect(outputs).toEqual(["out-0\n", "out-3\n", "out-7\n"]);
    const requestLine = /^portal-spawner: debug: peer pid \d+: 'sh -c echo out-\d; exit \d' exited with \d .*$/gm;
    await spawner.stderr.waitFor(/out-7; exit 7' exited with 7/, "the log line of the last request");
    expect(spawner.stderr.text.match(requestLine)).toHaveLength(3);
    const stopped = await stopSpawner(spawner);
    expect(stopped.stdout).toBe("");
  });

  test("PORTAL_LOG_LEVEL=warn silences info but keeps warnings", async () => {
    const spawner = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")], { env: cleanEnv({ PORTAL_LOG_LEVEL: "warn" }) });
    const ok = await runExec(scratch, ["--socket", spawner.socket, "true"]);
    expect(ok.code).toBe(0);
    const refused = await runExec(scratch, ["--socket", spawner.socket]);
    expect(refused.code).toBe(125);
    await spawner.stderr.waitFor(/warn: refused/, "the refusal warning");
    const stopped = await stopSpawner(spawner);
    expect(stopped.code).toBe(0);
    expect(stopped.stderr).not.toContain("info");
    expect(stopped.stderr).not.toContain("listening on");
    expect(stopped.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(/^portal-spawner: warn: refused peer pid \d+ .*nothing to execute/)]);
  });

  test("without PORTAL_LOG_LEVEL it logs at info: where it listens", async () => {
    const spawner = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    await spawner.stderr.waitFor(/portal-spawner: info: listening on /, "the info line");
    expect(spawner.stderr.text).toContain(`listening on ${spawner.socket}`);
  });
});
