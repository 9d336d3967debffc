// The per-request sandbox: `portal-spawner --sandbox` runs every program in
// namespaces of its own where nothing is visible but what its client granted,
// and grants travel as fds the client opened itself (portal-exec --grant ...).
// What a sandboxed program may do (never more than its caller) is tested in
// trust-sandbox.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asNobody, EXEC, nobodyExecutable, Scratch, whyNoNobody } from "./helpers/harness.ts";
import { cleanEnv, runExec, startSpawner, type RunningSpawner } from "./helpers/cli-processes.ts";
import { overlayUnavailable, releaseMountsUnder, startOverlayRun, privateImage } from "./helpers/overlay-run.ts";
import { decodeGrant, encodeGrant, decodeRecord, GrantFlag, RecordType } from "../src/protocol/v2.ts";
import { testImage } from "../overlay/test-image.ts";

const unavailable = process.getuid?.() !== 0 ? "not root: --sandbox makes mount and pid namespaces" : null;
if (unavailable) console.warn(`skipping sandbox tests: ${unavailable}`);

describe("the GRANT record", () => {
  test("carries flags and an absolute destination, and refuses anything else", () => {
    const record = decodeRecord(encodeGrant({ dest: Buffer.from("/data/in"), writable: true }));
    expect(record.type).toBe(RecordType.Grant);
    expect(Buffer.from(record.payload).readUInt32LE(0)).toBe(GrantFlag.Writable);
    const grant = decodeGrant(record.payload);
    expect(Buffer.from(grant.dest).toString()).toBe("/data/in");
    expect(grant.writable).toBe(true);
    const payload = (flags: number, dest: string) => {
      const bytes = Buffer.alloc(4 + dest.length);
      bytes.writeUInt32LE(flags, 0);
      bytes.write(dest, 4);
      return new Uint8Array(bytes);
    };
    for (const dest of ["relative", "/", "/a/../b", "/a/./b", "/a//b", "/a/", "/a\0b", ""]) {
      expect(() => decodeGrant(payload(0, dest))).toThrow(/destination|flags and a destination/);
    }
    expect(() => decodeGrant(payload(16, "/ok"))).toThrow(/unknown flags/);
    expect(() => decodeGrant(payload(2, "/ok"), 2)).toThrow(/unknown flags/);
  });
});

describe.skipIf(unavailable !== null)("portal-spawner --sandbox", () => {
  const scratch = new Scratch();
  let spawner: RunningSpawner | null = null;
  const granted = scratch.path("granted");
  const secret = scratch.path("secret");
  const out = scratch.path("out");

  const sandboxed = async (args: string[], script: string) => {
    if (!spawner) {
      mkdirSync(granted, { recursive: true });
      mkdirSync(secret, { recursive: true });
      mkdirSync(out, { recursive: true });
      writeFileSync(join(granted, "in.txt"), "granted data\n");
      writeFileSync(join(secret, "s.txt"), "secret\n");
      spawner = await startSpawner(scratch, ["--socket", scratch.path("sandbox.sock"), "--sandbox"], { expectSocket: scratch.path("sandbox.sock") });
    }
    return runExec(scratch, ["--socket", spawner.socket, "--fd", "0", "--fd", "1", "--fd", "2", "--grant-std", ...args, "--", "sh", "-c", script, "sh"]);
  };

  afterAll(() => scratch.cleanup());

  test("nothing is visible but the standard endowment and what was granted", async () => {
    const result = await sandboxed(["--grant", granted], `ls /; cat ${granted}/in.txt; for p in ${secret} /etc /root /work; do test -e $p && echo "$p visible" || echo "$p invisible"; done`);
    expect(result.stderr).toBe("");
    const lines = result.stdout.trim().split("\n");
    const top = granted.split("/")[1]!;
    expect(lines.slice(0, -5).sort()).toEqual(["bin", "dev", "lib", ...(existsSync("/lib64") ? ["lib64"] : []), "proc", top, "usr"].sort());
    expect(lines.slice(-5)).toEqual(["granted data", `${secret} invisible`, "/etc invisible", "/root invisible", "/work invisible"]);
    expect(result.code).toBe(0);
  });

  test("a read-only grant cannot be written; a read-write grant's writes reach the caller's file", async () => {
    const result = await sandboxed(["--grant", granted, "--grant-rw", out], `echo x > ${granted}/new.txt 2>/dev/null && echo wrote-ro || echo ro-refused; echo result > ${out}/r.txt && echo wrote-rw`);
    expect(result.stdout).toBe("ro-refused\nwrote-rw\n");
    expect(existsSync(join(granted, "new.txt"))).toBe(false);
    expect(readFileSync(join(out, "r.txt"), "utf8")).toBe("result\n");
  });

  test("--grant-at attaches a path elsewhere and --grant-arg appends the granted path to argv", async () => {
    const result = await sandboxed(["--grant-at", `/input=${granted}`, "--grant-arg", join(granted, "in.txt")], 'cat /input/in.txt; echo "argv: $*"; cat "$1"');
    expect(result.stdout).toBe(`granted data\nargv: ${join(granted, "in.txt")}\ngranted data\n`);
    expect(result.code).toBe(0);
  });

  test("the program holds only its own fds: the granted O_PATH fds are not left open in it", async () => {
    const result = await sandboxed(["--grant", granted, "--grant-rw", out], "ls /proc/self/fd");
    // 3 is ls's own handle on the directory it lists.
    expect(result.stdout.trim().split("\n").map(Number).sort((a, b) => a - b)).toEqual([0, 1, 2, 3]);
  });

  test("the program starts in the caller's cwd when it was granted, else in /", async () => {
    const inside = await runExec(scratch, ["--socket", scratch.path("sandbox.sock"), "--fd", "0", "--fd", "1", "--fd", "2", "--grant-std", "--grant", granted, "--cwd", granted, "--", "pwd"]);
    expect(inside.stdout).toBe(`${granted}\n`);
    const outside = await runExec(scratch, ["--socket", scratch.path("sandbox.sock"), "--fd", "0", "--fd", "1", "--fd", "2", "--grant-std", "--cwd", secret, "--", "pwd"]);
    expect(outside.stdout).toBe("/\n");
  });

  test("a path the caller cannot open is an error at the client, before anything runs", async () => {
    const marker = join(out, "ran.txt");
    const missing = await sandboxed(["--grant-rw", out, "--grant", scratch.path("no-such-file")], `touch ${marker}`);
    expect(missing.code).toBe(125);
    expect(missing.stderr).toBe(`portal-exec: cannot grant '${scratch.path("no-such-file")}': No such file or directory\n`);
    expect(existsSync(marker)).toBe(false);
  });

  test.skipIf(whyNoNobody() !== null)("a caller can only grant what it may read itself (O_PATH alone would not ask)", async () => {
    const client = await nobodyExecutable(scratch, EXEC, "portal-exec");
    const closed = scratch.path("closed");
    mkdirSync(closed, { recursive: true });
    writeFileSync(join(closed, "root-only.txt"), "root only\n");
    chmodSync(join(closed, "root-only.txt"), 0o600);
    // nobody needs to reach the files: the scratch dir itself is 0700.
    chmodSync(scratch.dir, 0o711);
    chmodSync(closed, 0o755);
    const proc = Bun.spawn(
      [...asNobody(), client, "--socket", scratch.path("sandbox.sock"), "--grant", join(closed, "root-only.txt"), "--", "true"],
      { cwd: "/", env: { ...cleanEnv(), HOME: "/nonexistent", BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(stderr).toBe(`portal-exec: cannot grant '${join(closed, "root-only.txt")}': Permission denied\n`);
    expect(code).toBe(125);
  }, 60_000);

  test("a spawner without --sandbox refuses a request that carries grants", async () => {
    const plain = await startSpawner(scratch, ["--socket", scratch.path("plain.sock")], { expectSocket: scratch.path("plain.sock") });
    const result = await runExec(scratch, ["--socket", plain.socket, "--grant", granted, "--", "true"]);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain("start it with --sandbox");
  });
});

describe.skipIf(overlayUnavailable() !== null)("--sandbox inside the overlay", () => {
  const scratch = new Scratch();
  afterAll(async () => {
    await scratch.cleanup().catch(() => {});
    releaseMountsUnder(scratch.dir);
  });

  test("a sandboxed program of the overlay's spawner sees the host file its caller granted, and not the image", async () => {
    const image = privateImage(scratch, await testImage());
    const hostFile = scratch.path("host-input.txt");
    writeFileSync(hostFile, "from the caller\n");
    const run = await startOverlayRun(scratch, image, { spawnerArgs: ["--sandbox"] });
    try {
      const result = await runExec(scratch, [
        "--socket", run.socket, "--fd", "0", "--fd", "1", "--fd", "2", "--grant-std", "--grant-at", `/input.txt=${hostFile}`,
        "--", "sh", "-c", "cat /input.txt; test -e /opt/portal-test && echo image-visible || echo image-invisible",
      ]);
      expect({ stdout: result.stdout, stderr: result.stderr }).toEqual({ stdout: "from the caller\nimage-invisible\n", stderr: "" });
      expect(result.code).toBe(0);
    } finally {
      run.proc.kill("SIGTERM");
      await run.proc.exited;
    }
  }, 300_000);
});
