// portal overlay build / run: real squashfs images, loop devices, overlayfs
// and bubblewrap. The spawner in these tests is the compiled one inside the
// image (overlay/test-image.ts builds and caches it).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, PORTAL, Scratch, processExists, waitFor, whyNobodyCannotRun } from "./helpers/harness.ts";
import { cleanEnv, DEADLINE_MS, runExec } from "./helpers/cli-processes.ts";
import {
  loopDevicesFor, mountsUnder, overlayUnavailable, privateImage, releaseMountsUnder, startOverlayRun, waitForLoopsReleased,
} from "./helpers/overlay-run.ts";
import { testImage, FIXTURES } from "../overlay/test-image.ts";

const unavailable = overlayUnavailable();
if (unavailable) console.warn(`skipping overlay run tests: ${unavailable}`);
const haveMksquashfs = Bun.which("mksquashfs", { PATH: `${process.env.PATH}:/usr/sbin:/sbin` }) !== null;
if (!haveMksquashfs) console.warn("skipping overlay build tests: mksquashfs (squashfs-tools) is not installed");

function sha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

async function portal(args: string[], scratch: Scratch) {
  const proc = Bun.spawn([BUN, PORTAL, ...args], { cwd: scratch.dir, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  return { code, stdout, stderr };
}

describe.skipIf(!haveMksquashfs)("portal overlay build", () => {
  const scratch = new Scratch();
  afterAll(() => scratch.cleanup());

  test("the same tree gives the same bytes whatever its files' times, with info-beamer's lzo and 1 MiB blocks", async () => {
    const tree = scratch.path("tree");
    mkdirSync(join(tree, "opt", "x"), { recursive: true });
    writeFileSync(join(tree, "opt", "x", "data.txt"), "some data\n".repeat(1000));
    const first = await portal(["overlay", "build", tree, "-o", scratch.path("a.squashfs")], scratch);
    expect(first.stderr).toContain("wrote");
    expect(first.code).toBe(0);
    utimesSync(join(tree, "opt", "x", "data.txt"), new Date(2001, 1, 1), new Date(2001, 1, 1));
    const second = await portal(["overlay", "build", tree, "-o", scratch.path("b.squashfs")], scratch);
    expect(second.code).toBe(0);
    expect(sha256(scratch.path("b.squashfs"))).toBe(sha256(scratch.path("a.squashfs")));

    // The superblock says how it was made (squashfs 4 layout): block size at 12, compressor at 20 (3 = lzo).
    const header = readFileSync(scratch.path("a.squashfs")).subarray(0, 96);
    expect(header.readUInt32LE(12)).toBe(1048576);
    expect(header.readUInt16LE(20)).toBe(3);

    writeFileSync(join(tree, "opt", "x", "data.txt"), "other data\n");
    expect((await portal(["overlay", "build", tree, "-o", scratch.path("c.squashfs")], scratch)).code).toBe(0);
    expect(sha256(scratch.path("c.squashfs"))).not.toBe(sha256(scratch.path("a.squashfs")));
  });

  test("a directory that does not exist is refused with a message and no image", async () => {
    const result = await portal(["overlay", "build", scratch.path("missing"), "-o", scratch.path("m.squashfs")], scratch);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("is not a directory");
    expect(existsSync(scratch.path("m.squashfs"))).toBe(false);
  });
});

describe.skipIf(unavailable !== null)("portal overlay run", () => {
  const scratch = new Scratch();
  let image = "";
  let imageHash = "";

  beforeAll(async () => {
    image = privateImage(scratch, await testImage());
    imageHash = sha256(image);
  }, 300_000);

  afterAll(async () => {
    await scratch.cleanup().catch(() => {});
    releaseMountsUnder(scratch.dir);
  });

  test("programs see the image's files at their paths and the host's everywhere else", async () => {
    const hostDir = scratch.path("host-files");
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, "host.txt"), "from the host\n");
    const run = await startOverlayRun(scratch, image);
    try {
      const result = await runExec(scratch, ["--socket", run.socket, "--", "cat", "/opt/portal-test/hello.txt", join(hostDir, "host.txt")]);
      expect(result.stdout).toBe(`${FIXTURES["opt/portal-test/hello.txt"]}from the host\n`);
      expect(result.code).toBe(0);
      // The host itself has no /opt/portal-test: the image's files are only in the view.
      expect(existsSync("/opt/portal-test")).toBe(false);
    } finally {
      run.proc.kill("SIGTERM");
      await run.proc.exited;
    }
  });

  test("writes land in the upper layer: the host and the image stay as they were", async () => {
    const hostDir = scratch.path("host-writes");
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, "host.txt"), "original\n");
    const upper = scratch.path("upper");
    const run = await startOverlayRun(scratch, image, { upper });
    try {
      const script = [
        `echo changed > ${hostDir}/host.txt`,
        "echo new > /opt/portal-test/new.txt",
        "rm /opt/portal-test/shadow.txt",
        `cat ${hostDir}/host.txt /opt/portal-test/new.txt`,
        "test -e /opt/portal-test/shadow.txt || echo shadow-gone",
      ].join("; ");
      const result = await runExec(scratch, ["--socket", run.socket, "--", "sh", "-c", script]);
      expect(result.stdout).toBe("changed\nnew\nshadow-gone\n");
      expect(result.code).toBe(0);

      expect(readFileSync(join(hostDir, "host.txt"), "utf8")).toBe("original\n");
      expect(readFileSync(join(upper, "upper", hostDir, "host.txt"), "utf8")).toBe("changed\n");
      expect(readFileSync(join(upper, "upper", "opt", "portal-test", "new.txt"), "utf8")).toBe("new\n");
      // A deletion is a whiteout in the upper layer; the image keeps the file.
      expect(readdirSync(join(upper, "upper", "opt", "portal-test")).sort()).toEqual(["new.txt", "shadow.txt"]);
      expect(sha256(image)).toBe(imageHash);

      // The next program sees the same view: one mount, shared by every run.
      const again = await runExec(scratch, ["--socket", run.socket, "--", "cat", "/opt/portal-test/new.txt"]);
      expect(again.stdout).toBe("new\n");
    } finally {
      run.proc.kill("SIGTERM");
      await run.proc.exited;
    }
  });

  test("while it runs nothing is mounted on the host; SIGTERM ends it and releases the image", async () => {
    const run = await startOverlayRun(scratch, image);
    const pid = run.spawnerPid;
    expect(processExists(pid)).toBe(true);
    // The mounts live only in the spawner's namespace: the host sees no staging mounts.
    expect(mountsUnder(run.stateDir)).toEqual([]);
    expect(loopDevicesFor(image).length).toBe(1);

    run.proc.kill("SIGTERM");
    expect(await run.proc.exited).toBe(0);
    expect(run.stderr.text).toContain("spawner exited with 0");
    expect(processExists(pid)).toBe(false);
    await waitForLoopsReleased(image);
    expect(existsSync(run.socket)).toBe(false);
    expect(readdirSync(run.stateDir)).toEqual([]);
  });

  test("a supervisor killed with SIGKILL takes the spawner and the whole view with it", async () => {
    const run = await startOverlayRun(scratch, image);
    run.proc.kill("SIGKILL");
    await run.proc.exited;
    await waitFor(() => !processExists(run.spawnerPid), `spawner ${run.spawnerPid} to die with its supervisor`, DEADLINE_MS);
    await waitForLoopsReleased(image);
    expect(mountsUnder(scratch.dir)).toEqual([]);
  });

  test("a staging directory left mounted by a crash is cleaned up by the next start", async () => {
    const stateDir = scratch.path("state-crash");
    // What a supervisor that died before detaching leaves: a dead pid's directory with a mount on it.
    const stale = join(stateDir, "999999999-1");
    mkdirSync(stale, { recursive: true });
    expect(Bun.spawnSync(["mount", "-t", "tmpfs", "stale", stale]).exitCode).toBe(0);
    const run = await startOverlayRun(scratch, image, { stateDir });
    try {
      expect(run.stderr.text).toContain(`cleaned up ${stale}`);
      expect(mountsUnder(stateDir)).toEqual([]);
      expect(existsSync(stale)).toBe(false);
    } finally {
      run.proc.kill("SIGTERM");
      await run.proc.exited;
    }
  });

  test("options after -- go to the spawner", async () => {
    const run = await startOverlayRun(scratch, image, { spawnerArgs: ["--log-level", "debug"] });
    try {
      await runExec(scratch, ["--socket", run.socket, "--", "true"]);
      await run.stderr.waitFor(/portal-spawner: debug: .*'true' exited with 0/, "the spawner's debug line for the request");
    } finally {
      run.proc.kill("SIGTERM");
      await run.proc.exited;
    }
  });

  test("an image without a spawner is refused before anything stays mounted", async () => {
    const tree = scratch.path("empty-tree");
    mkdirSync(join(tree, "opt"), { recursive: true });
    const empty = scratch.path("empty.squashfs");
    expect((await portal(["overlay", "build", tree, "-o", empty], scratch)).code).toBe(0);
    const result = await portal(["overlay", "run", empty, "--socket", scratch.path("sock2/s.sock"), "--state-dir", scratch.path("state-empty")], scratch);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("/opt/portal/linux-");
    expect(result.stderr).toContain("is not in the merged view");
    expect(mountsUnder(scratch.path("state-empty"))).toEqual([]);
    await waitForLoopsReleased(empty);
  });
});

const nobodyCannotRun = whyNobodyCannotRun(PORTAL);
if (nobodyCannotRun) console.warn(`overlay: skipping the test that runs portal as nobody: ${nobodyCannotRun}`);

describe.skipIf(nobodyCannotRun !== null)("portal overlay run without root", () => {
  test("says that it needs root and why, and mounts nothing", async () => {
    const proc = Bun.spawn(
      ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BUN, PORTAL, "overlay", "run", "/nonexistent.squashfs", "--socket", "/tmp/never.sock"],
      { cwd: "/", env: { ...cleanEnv(), BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0", HOME: "/nonexistent" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    expect(stderr).toContain("needs root");
    expect(stderr).toContain("docs/overlay.md");
    expect(code).toBe(1);
  });
});

