// Running `portal overlay run` in tests, and finding (and, in cleanup,
// removing) whatever mounts and loop devices a test left behind.
import { copyFileSync, linkSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, PORTAL, waitFor, type Scratch } from "./harness.ts";
import { cleanEnv, DEADLINE_MS, TextCollector, type Running } from "./cli-processes.ts";
import { readMountTable, isAtOrBelow } from "../../src/overlay/mount-table.ts";

/** Why overlay tests cannot run here, or null if they can. */
export function overlayUnavailable(): string | null {
  if (process.getuid?.() !== 0) return "not root: kernel mounts (loop, squashfs, overlayfs) need root";
  for (const tool of ["bwrap", "mksquashfs", "mount", "umount"]) {
    if (!Bun.which(tool, { PATH: `${process.env.PATH}:/usr/sbin:/sbin` })) return `${tool} is not installed`;
  }
  return null;
}

export interface OverlayRun extends Running {
  socket: string;
  stateDir: string;
  /** The spawner's pid, from the supervisor's "listening" line. */
  spawnerPid: number;
}

export interface OverlayRunOptions {
  upper?: string;
  args?: string[];
  spawnerArgs?: string[];
  /** Socket directory (default <scratch>/sock, its own directory: it is shared with the view). */
  socketDir?: string;
  stateDir?: string;
}

/** Starts `portal overlay run IMAGE` and resolves once the spawner listens. */
export async function startOverlayRun(scratch: Scratch, image: string, options: OverlayRunOptions = {}): Promise<OverlayRun> {
  const socket = join(options.socketDir ?? scratch.path("sock"), "portal.sock");
  const stateDir = options.stateDir ?? scratch.path("state");
  const argv = [
    BUN, PORTAL, "overlay", "run", image, "--socket", socket, "--state-dir", stateDir,
    ...(options.upper ? ["--upper", options.upper] : []), ...(options.args ?? []),
    ...(options.spawnerArgs ? ["--", ...options.spawnerArgs] : []),
  ];
  const proc = scratch.track(Bun.spawn(argv, { cwd: scratch.dir, env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] })) as Running["proc"];
  const run = { proc, stdout: new TextCollector(proc.stdout), stderr: new TextCollector(proc.stderr) };
  await waitFor(
    () => /spawner pid \d+ is listening/.test(run.stderr.text) || proc.exitCode !== null,
    `overlay run to report its spawner listening (stderr so far: ${JSON.stringify(run.stderr.text)})`,
    DEADLINE_MS * 3,
  );
  const match = /spawner pid (\d+) is listening/.exec(run.stderr.text);
  if (!match) throw new Error(`overlay run exited with ${proc.exitCode} before listening: ${run.stderr.text}`);
  scratch.trackPid(Number(match[1]));
  return { ...run, socket, stateDir, spawnerPid: Number(match[1]) };
}

/** Mount points in this (the host's) namespace at or below `dir`. */
export function mountsUnder(dir: string): string[] {
  return readMountTable().filter((m) => isAtOrBelow(m.mountPoint, dir)).map((m) => m.mountPoint);
}

/** Loop devices whose backing file is `file` (or lies below it, for a directory). */
export function loopDevicesFor(file: string): string[] {
  const devices: string[] = [];
  for (const name of readdirSync("/sys/block")) {
    if (!name.startsWith("loop")) continue;
    try {
      const backing = readFileSync(`/sys/block/${name}/loop/backing_file`, "utf8").trim();
      if (isAtOrBelow(backing, file)) devices.push(`/dev/${name}`);
    } catch {
      // Not attached.
    }
  }
  return devices;
}

/** Waits until no loop device is backed by `file` (autoclear runs once the last mount is gone). */
export async function waitForLoopsReleased(file: string): Promise<void> {
  await waitFor(() => loopDevicesFor(file).length === 0, `loop devices backed by ${file} (${loopDevicesFor(file).join(", ")}) to be released`, DEADLINE_MS);
}

/**
 * Cleanup for a failed test: detaches every mount under `dir` and every loop
 * device backed by a file under it. Run after the processes are ended.
 */
export function releaseMountsUnder(dir: string): void {
  for (const mountPoint of mountsUnder(dir).reverse()) Bun.spawnSync(["umount", "--lazy", mountPoint], { stdio: ["ignore", "ignore", "ignore"] });
  for (const device of loopDevicesFor(dir)) Bun.spawnSync(["losetup", "-d", device], { stdio: ["ignore", "ignore", "ignore"] });
}

/**
 * A private name for a shared image: loop devices are then told apart by
 * their backing path, even while another test run uses the same image.
 */
export function privateImage(scratch: Scratch, image: string): string {
  const path = scratch.path("overlay.squashfs");
  try {
    linkSync(image, path);
  } catch {
    copyFileSync(image, path);
  }
  return path;
}
