// The proof that docs/protocol.md suffices: a client written in Python from
// the page alone (test/reference-client/portal_exec.py) runs programs
// through a real spawner, and what a user sees is what a direct run gives.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { envWithoutPortal, Scratch, signalOf } from "./helpers/harness.ts";
import { DEADLINE_MS, startSpawner, type RunningSpawner } from "./helpers/cli-processes.ts";

const CLIENT = join(import.meta.dir, "reference-client", "portal_exec.py");
const PYTHON = Bun.which("python3");
const skipped = PYTHON === null ? " (skipped: python3 is not installed)" : "";

interface Ran {
  code: number | null;
  signal: string | null;
  stdout: Uint8Array;
  stderr: string;
}

/** Waits for `proc` and all of its output, failing (not hanging) past the deadline. */
async function collect(proc: Subprocess<"ignore", "pipe", "pipe">): Promise<Ran> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`process ${proc.pid} did not end within ${DEADLINE_MS} ms`)), DEADLINE_MS);
  });
  try {
    const [stdout, stderr] = await Promise.race([
      Promise.all([new Response(proc.stdout).bytes(), new Response(proc.stderr).text(), proc.exited]),
      late,
    ]);
    return { code: proc.signalCode ? null : proc.exitCode, signal: signalOf(proc), stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

describe.skipIf(PYTHON === null)(`the Python reference client${skipped}`, () => {
  const scratch = new Scratch();
  let spawner: RunningSpawner;
  let python: string;

  beforeAll(async () => {
    // The interpreter itself, not a version manager's shim in front of it: signals go straight to the client.
    const where = Bun.spawnSync([PYTHON!, "-c", "import sys; print(sys.executable)"]);
    python = where.stdout.toString().trim() || PYTHON!;
    spawner = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
  });
  afterAll(() => scratch.cleanup());

  interface RunOptions {
    cwd?: string;
    env?: Record<string, string | undefined>;
    /** The client's fds 3, 4, ... */
    extraFds?: number[];
  }

  function startClient(args: string[], options: RunOptions = {}) {
    return scratch.track(
      Bun.spawn([python, CLIENT, ...args], {
        cwd: options.cwd ?? scratch.dir,
        env: envWithoutPortal({ ...options.env, PORTAL_NAME: spawner.socket }),
        stdio: ["ignore", "pipe", "pipe", ...(options.extraFds ?? [])],
      }),
    ) as Subprocess<"ignore", "pipe", "pipe">;
  }

  const runClient = (args: string[], options?: RunOptions) => collect(startClient(args, options));

  /** The oracle: the same command run directly, with the same cwd and environment. */
  function runDirect(args: string[], options: RunOptions = {}): Promise<Ran> {
    const proc = scratch.track(
      Bun.spawn(args, { cwd: options.cwd ?? scratch.dir, env: envWithoutPortal(options.env), stdio: ["ignore", "pipe", "pipe"] }),
    ) as Subprocess<"ignore", "pipe", "pipe">;
    return collect(proc);
  }

  test("the program's stdout bytes arrive exactly as a direct run writes them (NUL, 0xff, more than a pipe buffer)", async () => {
    const script = ["sh", "-c", "printf 'a\\000b\\377\\n'; i=0; while [ $i -lt 4000 ]; do printf '%s\\n' 'line of the program'; i=$((i+1)); done"];
    const [through, direct] = await Promise.all([runClient(script), runDirect(script)]);
    expect(through.stderr).toBe("");
    expect(through.code).toBe(0);
    expect(through.stdout.length).toBeGreaterThan(65536);
    expect(Buffer.from(through.stdout).equals(Buffer.from(direct.stdout))).toBe(true);
  });

  test("exit codes and deaths by a signal are the program's, as a direct run ends", async () => {
    for (const script of ["exit 0", "exit 7", "exit 255", "kill -TERM $$", "kill -KILL $$", "kill -USR1 $$"]) {
      const [through, direct] = await Promise.all([runClient(["sh", "-c", script]), runDirect(["sh", "-c", script])]);
      expect({ script, code: through.code, signal: through.signal }).toEqual({ script, code: direct.code, signal: direct.signal });
    }
  });

  test("cwd, environment and arguments go along, bytes included", async () => {
    const dir = scratch.path("work dir");
    mkdirSync(dir);
    const options = { cwd: dir, env: { GREETING: "grüß dich" } };
    const script = ["sh", "-c", 'pwd; printf "%s|" "$GREETING" "$@"', "sh", "", "two words", "-x"];
    const [through, direct] = await Promise.all([runClient(script, options), runDirect(script, options)]);
    expect(new TextDecoder().decode(through.stdout)).toBe(`${dir}\ngrüß dich||two words|-x|`);
    expect(through.stdout).toEqual(direct.stdout);
  });

  test("an fd passed with --fd 3 is the program's fd 3; the client's fd 4, not passed, is not there", async () => {
    const three = scratch.path("fd3");
    const four = scratch.path("fd4");
    const fds = [openSync(three, "w"), openSync(four, "w")];
    try {
      const ran = await runClient(["--fd", "3", "sh", "-c", "echo three >&3; { echo four >&4; } 2>/dev/null || echo no-four >&3"], { extraFds: fds });
      expect(ran.code).toBe(0);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    expect(readFileSync(three, "utf8")).toBe("three\nno-four\n");
    expect(readFileSync(four, "utf8")).toBe("");
  });

  test("a refusal (nothing to execute) gives exit 125 with the code and the spawner's reason", async () => {
    const ran = await runClient([]);
    expect(ran.code).toBe(125);
    expect(ran.stderr).toMatch(/refused \(code 3\): nothing to execute/);
  });

  test("a missing program exits 127, one that cannot be executed 126, each with the spawner's message", async () => {
    const missing = await runClient(["no-such-program-for-portal"]);
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain("cannot run 'no-such-program-for-portal': No such file or directory");
    const notExecutable = scratch.path("not-executable");
    await Bun.write(notExecutable, "#!/bin/sh\necho never\n");
    const [through, direct] = await Promise.all([runClient([notExecutable]), runDirect(["sh", "-c", '"$0"', notExecutable])]);
    expect(through.code).toBe(126);
    expect(direct.code).toBe(126);
    expect(through.stdout.length).toBe(0);
  });

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`${signal} to the client reaches the program's process group`, async () => {
      const name = signal.slice(3);
      const script = `trap 'echo got-${name}; kill $! 2>/dev/null; exit 42' ${name}; echo ready; sleep 1000 & wait`;
      const proc = startClient(["sh", "-c", script]);
      const reader = proc.stdout.getReader();
      let text = "";
      // The program printing means it runs (STARTED came first): the signal cannot race the request.
      while (!text.includes("ready\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`client ended before the program was ready: ${JSON.stringify(text)}`);
        text += new TextDecoder().decode(value);
      }
      proc.kill(signal);
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(await proc.exited).toBe(42);
      expect(text).toBe(`ready\ngot-${name}\n`);
    });
  }
});
