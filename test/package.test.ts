// The info-beamer package, with this test playing info-beamer's part: it runs
// the package's `service` (which mounts overlay.squashfs and keeps a spawner
// running inside it) and starts the package's content process the way
// info-beamer does on a Pi 5: fd 3 = the buffer to render into (a memfd
// standing in for the dmabuf), fd 0 = commands, fd 1 = status, fd 2 = debug.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ftruncateSync, readFileSync, readlinkSync, readSync, existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { OwnedFd } from "../src/libc/owned-fd.ts";
import { memFd } from "../src/libc/file.ts";
import { drawFrame, HEIGHT, WIDTH } from "../src/demo/renderer.ts";
import { BUN, PORTAL, Scratch, processExists, waitFor } from "./helpers/harness.ts";
import { cleanEnv, DEADLINE_MS, TextCollector } from "./helpers/cli-processes.ts";
import { overlayUnavailable, releaseMountsUnder, waitForLoopsReleased } from "./helpers/overlay-run.ts";
import { testImage } from "../overlay/test-image.ts";
import { assemblePackage, checkLimits } from "../package/assemble.ts";
import { DEFAULT_STATE_BASE } from "../src/overlay/state-dir.ts";
import type { Arch } from "../overlay/image-contents.ts";

const unavailable = overlayUnavailable();
if (unavailable) console.warn(`skipping info-beamer package tests: ${unavailable}`);

const FRAME_BYTES = WIDTH * HEIGHT * 4;

interface Service {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  stderr: TextCollector;
}

/** The pid of the n-th spawner the service started (1-based), once it listens. */
async function spawnerPid(service: Service, n: number): Promise<number> {
  const pattern = /spawner pid (\d+) is listening/g;
  const match = await waitFor(() => [...service.stderr.text.matchAll(pattern)][n - 1], `spawner #${n} to listen (service stderr: ${JSON.stringify(service.stderr.text)})`, DEADLINE_MS * 3);
  return Number(match[1]);
}

/** info-beamer's side of one content item: start ./content with the four fds, drive it, read the buffer. */
async function playContentItem(packageDir: string, frames: number) {
  const buffer = memFd("dmabuf-stand-in");
  try {
    ftruncateSync(buffer.fd, FRAME_BYTES);
    const content = Bun.spawn([join(packageDir, "content")], {
      cwd: packageDir,
      env: cleanEnv(),
      stdio: ["pipe", "pipe", "pipe", buffer.fd],
    });
    const status = new TextCollector(content.stdout);
    const debug = new TextCollector(content.stderr);
    try {
      const ready = await status.waitFor(/^ready (\d+)x(\d+) pid (\d+)\n/, "the renderer's ready line");
      const rendererPid = Number(ready[3]);
      // The renderer is in the overlay's mount namespace, not ours, and its root holds the image.
      const namespace = readlinkSync(`/proc/${rendererPid}/ns/mnt`);
      const imageVisible = existsSync(`/proc/${rendererPid}/root/opt/portal/bin/renderer`);
      // Mount points in the renderer's view (field 5 of mountinfo).
      const mountPoints = readFileSync(`/proc/${rendererPid}/mountinfo`, "utf8").trim().split("\n").map((line) => line.split(" ")[4]!);

      content.stdin.write("fill 0 0 128\n");
      content.stdin.flush();
      await status.waitFor(/filled 0 0 128\n/, "the fill acknowledgement");
      for (let n = 1; n <= frames; n++) {
        content.stdin.write(`frame ${n}\n`);
        content.stdin.flush();
        await status.waitFor(new RegExp(`frame ${n} done\n`), `frame ${n}`);
      }
      content.stdin.write("no-such-command\n");
      content.stdin.flush();
      await debug.waitFor(/unknown command 'no-such-command'/, "the renderer's debug line on fd 2");
      content.stdin.write("quit\n");
      content.stdin.end();
      const code = await content.exited;
      await status.done;
      const pixels = new Uint8Array(FRAME_BYTES);
      readSync(buffer.fd, pixels, 0, FRAME_BYTES, 0);
      return { code, status: status.text, debug: debug.text, pixels, rendererPid, namespace, imageVisible, mountPoints };
    } finally {
      if (content.exitCode === null) content.kill("SIGKILL");
      await content.exited;
    }
  } finally {
    buffer.close();
  }
}

describe.skipIf(unavailable !== null)("the info-beamer package", () => {
  const scratch = new Scratch();
  const packageDir = scratch.path("package");
  let service: Service | null = null;
  const stateBaseExisted = existsSync(DEFAULT_STATE_BASE);

  beforeAll(async () => {
    await assemblePackage(packageDir, { arch: process.arch as Arch, overlayImage: await testImage() });
    mkdirSync(scratch.path("scratch"), { recursive: true });
    const proc = scratch.track(
      Bun.spawn(["sh", join(packageDir, "service")], {
        cwd: packageDir,
        // What info-beamer OS gives a service; PORTAL is how this machine mounts the overlay itself.
        env: cleanEnv({ NODE: "portal-renderer", SCRATCH: scratch.path("scratch"), PORTAL: `${BUN} ${PORTAL}` }),
        stdio: ["ignore", "pipe", "pipe"],
      }),
    );
    service = { proc, stderr: new TextCollector(proc.stderr) };
  }, 300_000);

  afterAll(async () => {
    // A service still running (a test failed or was filtered out) is stopped
    // the way info-beamer stops it, so it ends its `portal overlay run` too:
    // cleanup's SIGKILL would reach the service's shell only.
    if (service && service.proc.exitCode === null && service.proc.signalCode === null) {
      service.proc.kill("SIGTERM");
      await Promise.race([service.proc.exited, Bun.sleep(DEADLINE_MS)]);
    }
    await scratch.cleanup().catch(() => {});
    releaseMountsUnder(scratch.dir);
    if (!stateBaseExisted) {
      try {
        rmdirSync(DEFAULT_STATE_BASE);
      } catch {
        // In use by another run.
      }
    }
  });

  test("the package keeps to info-beamer's limits", () => {
    expect(() => checkLimits(packageDir)).not.toThrow();
  });

  test("a content process drives the renderer inside the overlay: frames land in the buffer, status comes back", async () => {
    await spawnerPid(service!, 1);
    const item = await playContentItem(packageDir, 12);
    expect(item.code).toBe(0);
    expect(item.status.split("\n")).toEqual([
      `ready ${WIDTH}x${HEIGHT} pid ${item.rendererPid}`, "filled 0 0 128",
      ...Array.from({ length: 12 }, (_, i) => `frame ${i + 1} done`), "",
    ]);
    expect(item.debug).toContain("renderer: unknown command 'no-such-command'");
    expect(Buffer.from(item.pixels).equals(Buffer.from(drawFrame(12, [0, 0, 128])))).toBe(true);
    expect(item.namespace).not.toBe(readlinkSync("/proc/self/ns/mnt"));
    expect(item.imageVisible).toBe(true);
    // The socket's own directory is bound into the view, not the package directory.
    expect(item.mountPoints).toContain(join(packageDir, "run"));
    expect(item.mountPoints).not.toContain(packageDir);
  });

  test("each content item gets a fresh renderer from the same long-lived spawner", async () => {
    const spawner = await spawnerPid(service!, 1);
    const first = await playContentItem(packageDir, 2);
    const second = await playContentItem(packageDir, 3);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(second.rendererPid).not.toBe(first.rendererPid);
    expect(Buffer.from(second.pixels).equals(Buffer.from(drawFrame(3, [0, 0, 128])))).toBe(true);
    expect(processExists(spawner)).toBe(true);
  });

  test("the service restarts a spawner that died, and content works again", async () => {
    const first = await spawnerPid(service!, 1);
    process.kill(first, "SIGKILL");
    await service!.stderr.waitFor(/service: spawner exited with \d+; restarting/, "the service to notice");
    const second = await spawnerPid(service!, 2);
    expect(second).not.toBe(first);
    const item = await playContentItem(packageDir, 1);
    expect(item.code).toBe(0);
    expect(Buffer.from(item.pixels).equals(Buffer.from(drawFrame(1, [0, 0, 128])))).toBe(true);
  });

  test("stopping the service stops the spawner and unmounts the overlay", async () => {
    const spawner = await spawnerPid(service!, 2);
    service!.proc.kill("SIGTERM");
    expect(await service!.proc.exited).toBe(0);
    expect(processExists(spawner)).toBe(false);
    await waitForLoopsReleased(join(packageDir, "overlay.squashfs"));
    expect(existsSync(join(packageDir, "run", "portal.sock"))).toBe(false);
  });
});
