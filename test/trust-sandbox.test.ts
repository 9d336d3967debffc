// Authority under --sandbox: a program never gets more than its caller. The
// kernel decides what a grant allows, because the program runs as the peer
// (uid, gid, groups) with no capabilities and no_new_privs; a GRANT the peer
// could not have opened itself is refused whatever client sent it; and no
// grant replaces the spawner's fixed PROGRAM.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asNobody, EXEC, Scratch, startProcess, whyNoNobody, nobodyExecutable } from "./helpers/harness.ts";
import { cleanEnv, finish, runExec, startSpawner, type RunningSpawner } from "./helpers/cli-processes.ts";
import { GrantFlag } from "../src/protocol/v2.ts";
import type { V2Ending } from "./helpers/raw-client.ts";

const unavailable = whyNoNobody();
if (unavailable) console.warn(`skipping sandbox authority tests: ${unavailable}`);

const STD = ["/usr", "/bin", "/lib", ...(existsSync("/lib64") ? ["/lib64"] : [])];

describe.skipIf(unavailable !== null)("--sandbox: never more than the caller", () => {
  const scratch = new Scratch();
  let spawner: RunningSpawner;
  let rawGrant: string;
  let client: string;
  const rootOnly = scratch.path("root-only.txt");
  const rootDir = scratch.path("root-dir");
  const shared = scratch.path("shared.txt");

  beforeAll(async () => {
    [rawGrant, client] = await Promise.all([
      nobodyExecutable(scratch, join(import.meta.dir, "helpers/o-path-grant.ts"), "o-path-grant"),
      nobodyExecutable(scratch, EXEC, "portal-exec"),
    ]);
    writeFileSync(rootOnly, "root only\n", { mode: 0o600 });
    mkdirSync(rootDir, { mode: 0o700 });
    writeFileSync(join(rootDir, "inside.txt"), "inside\n");
    writeFileSync(shared, "for everyone\n", { mode: 0o644 });
    spawner = await startSpawner(scratch, ["--socket", scratch.path("s.sock"), "--sandbox", "--mode", "0666", "--allow-uid", "65534"], {
      expectSocket: scratch.path("s.sock"),
    });
  }, 120_000);
  afterAll(() => scratch.cleanup());

  /** The raw client, as nobody: grants `pairs` (DEST=SRC, plus the standard endowment) with `flags`, runs `script` (in `cwd`, a path in the sandbox). */
  const rawAsNobody = async (flags: number, pairs: string[], script: string, cwd?: string): Promise<V2Ending> => {
    const grants = [...(cwd ? [`--cwd=${cwd}`] : []), ...STD.map((dir) => `0:${dir}=${dir}`), ...pairs.map((pair) => `${flags}:${pair}`)];
    const run = startProcess(scratch, [...asNobody(), rawGrant, spawner.socket, ...grants, "--", "/bin/sh", "-c", script], { cwd: "/" });
    const result = await finish(run);
    expect(result.stderr).toBe("");
    return JSON.parse(result.stdout) as V2Ending;
  };

  test("an O_PATH fd to a root-only file, granted writable by a raw client, is refused and the file is untouched", async () => {
    const ending = await rawAsNobody(GrantFlag.Writable, [`/x=${rootOnly}`], "cat /x; echo appended >> /x");
    expect(ending.outcome).toBeNull();
    expect(ending.refused?.reason).toBe("uid 65534 may not read and write what it granted at '/x': Permission denied");
    expect(readFileSync(rootOnly, "utf8")).toBe("root only\n");
  });

  test("the same file granted read-only, and a root-only directory, are refused too", async () => {
    const file = await rawAsNobody(0, [`/x=${rootOnly}`], "cat /x");
    expect(file.refused?.reason).toBe("uid 65534 may not read what it granted at '/x': Permission denied");
    const dir = await rawAsNobody(0, [`/d=${rootDir}`], "cat /d/inside.txt");
    expect(dir.refused?.reason).toBe("uid 65534 may not read what it granted at '/d': Permission denied");
    const objectOnly = await rawAsNobody(GrantFlag.ObjectWritable, [`/x=${rootOnly}`], "cat /x");
    expect(objectOnly.refused?.reason).toBe("uid 65534 may not read and write what it granted at '/x': Permission denied");
  });

  test("what nobody may read it can grant read-only, and the program runs as nobody, unable to write it", async () => {
    const ending = await rawAsNobody(0, [`/s=${shared}`], 'test "$(cat /s)" = "for everyone" && test "$(id -u)" = 65534 && ! (echo x >> /s) 2>/dev/null');
    expect(ending.refused).toBeNull();
    expect(ending.outcome).toEqual({ kind: "exited", code: 0 });
    expect(readFileSync(shared, "utf8")).toBe("for everyone\n");
  });

  test("a writable grant of a file nobody may only read is refused (the kernel, not the client, decides)", async () => {
    const ending = await rawAsNobody(GrantFlag.Writable, [`/s=${shared}`], "echo x >> /s");
    expect(ending.refused?.reason).toBe("uid 65534 may not read and write what it granted at '/s': Permission denied");
    expect(readFileSync(shared, "utf8")).toBe("for everyone\n");
  });

  test("the program's cwd is entered as the peer: below a directory nobody may not search, nothing runs, whatever cwd the client names", async () => {
    // Granting the tree is fine (nobody may read it); the way down to the secret is not.
    const tree = scratch.path("tree");
    mkdirSync(join(tree, "locked/open"), { recursive: true, mode: 0o755 });
    chmodSync(join(tree, "locked"), 0o700);
    writeFileSync(join(tree, "locked/open/secret.txt"), "secret\n", { mode: 0o644 });
    writeFileSync(join(tree, "readable.txt"), "for everyone\n", { mode: 0o644 });
    const ending = await rawAsNobody(0, [`/h=${tree}`], "cat secret.txt && exit 7; exit 0", "/h/locked/open");
    expect(ending.startedPid).toBeNull();
    expect(ending.outcome).toMatchObject({ kind: "spawn-failed", stage: "chdir", errno: 13 });
    // With a cwd nobody can reach, the same program runs.
    const control = await rawAsNobody(0, [`/h=${tree}`], "test -r readable.txt && exit 7; exit 0", "/h");
    expect(control.outcome).toEqual({ kind: "exited", code: 7 });
  });

  test("whatever the request says (here no CONTEXT at all), the program gets no more than its client has: hard limits, nice value", async () => {
    const grants = STD.map((dir) => `0:${dir}=${dir}`);
    // Which check failed, by the exit status: 2 the hard limit, 3 the soft one, 4 the nice value; 7 none.
    const check = 'test "$(ulimit -Hn)" = 256 || exit 2; test "$(ulimit -Sn)" = 256 || exit 3; set -- $(cat /proc/self/stat); test "${19}" = 5 || exit 4; exit 7';
    const run = startProcess(scratch, [...asNobody(), "/bin/sh", "-c", `ulimit -n 256; exec nice -n 5 "$@"`, "sh", rawGrant, spawner.socket, ...grants, "--", "/bin/sh", "-c", check], { cwd: "/" });
    const result = await finish(run);
    expect(result.stderr).toBe("");
    const ending = JSON.parse(result.stdout) as V2Ending;
    expect(ending).toMatchObject({ refused: null, outcome: { kind: "exited", code: 7 } });
  });

  const identity = "id -u; id -g; id -G; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status";
  const expectedStatus = ["CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1"];

  test("the program runs with the peer's uid, gid and groups, no capabilities and no_new_privs", async () => {
    const run = startProcess(scratch, [...asNobody([100, 65533]), client, "--socket", spawner.socket, "--grant-std", "--", "/bin/sh", "-c", identity], {
      cwd: "/",
      env: { ...cleanEnv(), PATH: "/usr/bin:/bin" },
    });
    const result = await finish(run);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n")).toEqual(["65534", "65534", "65534 100 65533", ...expectedStatus]);
    expect(result.code).toBe(0);
  });

  test("a root peer's program is root without any capability either", async () => {
    const result = await runExec(scratch, ["--socket", spawner.socket, "--grant-std", "--", "/bin/sh", "-c", `${identity}; cat /proc/1/environ 2>&1 >/dev/null | sed 's/.*: //'`]);
    expect(result.stderr).toBe("");
    const [uid, gid, , ...rest] = result.stdout.trim().split("\n");
    expect([uid, gid]).toEqual(["0", "0"]);
    // Without CAP_SYS_PTRACE the program cannot read its supervisor's (pid 1's) environment.
    expect(rest).toEqual([...expectedStatus, "Permission denied"]);
  });
});

describe.skipIf(unavailable !== null)("--sandbox with a fixed PROGRAM: no grant replaces it", () => {
  const scratch = new Scratch();
  const programDir = scratch.path("opt/bin");
  const program = join(programDir, "render");
  const evil = scratch.path("evil");
  const evilDir = scratch.path("evil-dir");
  const marker = scratch.path("out/ran-evil");
  let spawner: RunningSpawner;

  beforeAll(async () => {
    mkdirSync(programDir, { recursive: true });
    mkdirSync(evilDir);
    mkdirSync(scratch.path("out"));
    writeFileSync(program, '#!/bin/sh\necho "renderer: $*"\n');
    chmodSync(program, 0o755);
    for (const path of [evil, join(evilDir, "render")]) {
      writeFileSync(path, `#!/bin/sh\necho evil; touch ${marker}\n`);
      chmodSync(path, 0o755);
    }
    spawner = await startSpawner(scratch, ["--socket", scratch.path("s.sock"), "--sandbox", "--", program, "--fixed"], { expectSocket: scratch.path("s.sock") });
  }, 60_000);
  afterAll(() => scratch.cleanup());

  test("--grant-at the program's own path is refused and nothing runs", async () => {
    const result = await runExec(scratch, ["--socket", spawner.socket, "--grant-std", "--grant-rw", scratch.path("out"), "--grant-at", `${program}=${evil}`, "--", "arg"]);
    expect(result.stderr).toBe(`portal-exec: the spawner refused the request: the grant at '${program}' would replace the spawner's program '${program}'\n`);
    expect(result.code).toBe(125);
    expect(existsSync(marker)).toBe(false);
  });

  test("a grant of a directory above it does not shadow it: the spawner's program is bound on top", async () => {
    const result = await runExec(scratch, ["--socket", spawner.socket, "--grant-std", "--grant-rw", scratch.path("out"), "--grant-at", `${programDir}=${evilDir}`, "--", "arg"]);
    expect(result.stdout).toBe("renderer: --fixed arg\n");
    expect(result.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });

  test("a grant below it (the program as a directory) is refused too", async () => {
    const result = await runExec(scratch, ["--socket", spawner.socket, "--grant-std", "--grant-at", `${program}/x=${evil}`, "--", "arg"]);
    expect(result.stderr).toContain("would replace the spawner's program");
    expect(result.code).toBe(125);
  });
});

describe.skipIf(unavailable !== null)("--sandbox with a fixed PROGRAM in a directory the client granted", () => {
  const scratch = new Scratch();
  const dir = scratch.path("client-bin");
  let spawner: RunningSpawner;

  beforeAll(async () => {
    mkdirSync(dir);
    // The client's own /usr/bin/id: two copies (a rename of a file over itself does nothing).
    for (const name of ["id", "evil-a", "evil-b"]) {
      writeFileSync(join(dir, name), "#!/bin/sh\necho evil\nexit 77\n");
      chmodSync(join(dir, name), 0o755);
    }
    spawner = await startSpawner(scratch, ["--socket", scratch.path("s.sock"), "--sandbox", "--", "/usr/bin/id", "-u"], { expectSocket: scratch.path("s.sock") });
  }, 60_000);
  afterAll(() => scratch.cleanup());

  test("a client renaming over the file under the PROGRAM's bind (which unmounts it) never gets its own file run", async () => {
    // In the client's namespace, over and over: evil-a or evil-b becomes id. Each rename detaches
    // the bind on top of id in a sandbox being made; the PROGRAM is executed by fd, not by path.
    const renamer = startProcess(scratch, [
      "perl", "-e", `chdir "${dir}" or die; for (my $i = 0; ; $i++) { link($i % 2 ? "evil-a" : "evil-b", ".t"); rename(".t", "id") }`,
    ]);
    try {
      const run = () => runExec(scratch, ["--socket", spawner.socket, "--grant-std", "--grant-at", `/usr/bin=${dir}`, "--no-pty", "--"]);
      const results = (await Promise.all([0, 1, 2, 3].map(async () => {
        const mine = [];
        for (let i = 0; i < 15; i++) mine.push(await run());
        return mine;
      }))).flat();
      const ran = results.filter((r) => r.code !== 125);
      // Either the spawner's id ran (the peer is root) or, when a rename landed while the sandbox was
      // being made, the request failed; the client's file never ran.
      expect(results.filter((r) => r.stdout.includes("evil") || r.code === 77)).toEqual([]);
      for (const r of ran) expect(r).toMatchObject({ code: 0, stdout: "0\n" });
      expect(ran.length).toBeGreaterThan(0);
    } finally {
      renamer.proc.kill("SIGKILL");
    }
  }, 120_000);
});

describe.skipIf(unavailable !== null)("--sandbox: a program ends as it would directly", () => {
  const scratch = new Scratch();
  let spawner: RunningSpawner;
  beforeAll(async () => {
    spawner = await startSpawner(scratch, ["--socket", scratch.path("s.sock"), "--sandbox"], { expectSocket: scratch.path("s.sock") });
  });
  afterAll(() => scratch.cleanup());

  test("exit codes, deaths by signal and a missing program are reported exactly (no 128+N from an init in between)", async () => {
    const run = (args: string[]) => runExec(scratch, ["--socket", spawner.socket, "--grant-std", "--", ...args]);
    const [exited, segv, term, missing] = await Promise.all([
      run(["/bin/sh", "-c", "exit 3"]),
      run(["/bin/sh", "-c", "kill -SEGV $$"]),
      run(["/bin/sh", "-c", "kill -TERM $$"]),
      run(["/opt/not-granted/tool"]),
    ]);
    expect(exited).toMatchObject({ code: 3, signal: null });
    expect(segv).toMatchObject({ code: null, signal: "SIGSEGV" });
    expect(term).toMatchObject({ code: null, signal: "SIGTERM" });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toBe(
      "portal-exec: cannot run '/opt/not-granted/tool': No such file or directory (only granted paths exist in the sandbox: is it granted? portal-exec --grant-std or --grant PATH, pola-run -B or -f PATH)\n",
    );
  });
});

describe.skipIf(unavailable !== null)("--sandbox: a spawner scheduled otherwise than its caller", () => {
  const scratch = new Scratch();
  let spawner: RunningSpawner;
  beforeAll(async () => {
    spawner = await startSpawner(scratch, ["--socket", scratch.path("s.sock"), "--sandbox"], { expectSocket: scratch.path("s.sock"), wrapper: ["nice", "-n", "5"] });
  });
  afterAll(() => scratch.cleanup());

  test("the program gets its caller's nice value, even one lower than the spawner's (set before its capabilities go)", async () => {
    const result = await runExec(scratch, ["--socket", spawner.socket, "--grant-std", "--", "/bin/sh", "-c", "set -- $(cat /proc/self/stat); echo \"nice ${19}\""]);
    expect(result).toMatchObject({ code: 0, stdout: "nice 0\n", stderr: "" });
  });
});
