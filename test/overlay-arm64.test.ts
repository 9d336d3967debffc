// The arm64 build of the spawner (cross-compiled with the arm64 Bun from the
// npm registry), run under qemu-user with Debian's arm64 libc: it must serve
// a request from an x86-64 client.
//
// Needs two downloads, kept under build/overlay/ after the first run: the
// arm64 Bun (npm: @oven/bun-linux-aarch64) and libc6:arm64 (apt). Where
// qemu-user is missing or either source cannot be reached, the test is
// skipped with the reason; on CI (CI set, as .ci/run does) an unreachable
// source fails it instead, because CI has both. Any other failure to build
// fails the test.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { Scratch, waitFor } from "./helpers/harness.ts";
import { DEADLINE_MS, isListening, runExec, TextCollector } from "./helpers/cli-processes.ts";
import { compileSpawner, DownloadError } from "../overlay/image-contents.ts";
import { arm64Sysroot, qemuAarch64 } from "../overlay/arm64-sysroot.ts";

const EM_AARCH64 = 183;
const ON_CI = Boolean(process.env.CI);

type Prepared = { qemu: string; sysroot: string; spawner: string } | { failure: Error } | { skip: string };

function prepare(scratch: Scratch): Prepared {
  if (process.arch === "arm64") return { skip: "this machine is arm64: the native tests cover it" };
  const qemu = qemuAarch64();
  if (!qemu) return { skip: "qemu-user for aarch64 (qemu-aarch64-static) is not installed" };
  try {
    const spawner = scratch.path("portal-spawner-arm64");
    compileSpawner("arm64", spawner);
    return { qemu, sysroot: arm64Sysroot(), spawner };
  } catch (error) {
    if (error instanceof DownloadError && !ON_CI) return { skip: `it needs downloads, and ${error.message}` };
    return { failure: error as Error };
  }
}

const scratch = new Scratch();
const ready = prepare(scratch);
if ("skip" in ready) console.warn(`skipping the arm64 test: ${ready.skip}`);
afterAll(() => scratch.cleanup());

describe.skipIf("skip" in ready)("the arm64 spawner under qemu-user", () => {
  test("is an aarch64 executable that serves a request from an x86-64 client", async () => {
    if ("failure" in ready) throw ready.failure;
    if ("skip" in ready) return;
    const header = readFileSync(ready.spawner).subarray(0, 20);
    expect(header.readUInt16LE(18)).toBe(EM_AARCH64);
    const socket = scratch.path("arm64.sock");
    const proc = scratch.track(Bun.spawn([ready.qemu, "-L", ready.sysroot, ready.spawner, "--socket", socket], { stdio: ["ignore", "ignore", "pipe"] }));
    const stderr = new TextCollector(proc.stderr);
    // Emulated start-up is slow: give it several times the usual deadline.
    await waitFor(() => isListening(socket) || proc.exitCode !== null, `the arm64 spawner to listen (stderr: ${JSON.stringify(stderr.text)})`, DEADLINE_MS * 3);
    const result = await runExec(scratch, ["--socket", socket, "--", "sh", "-c", "echo served; exit 7"]);
    expect(result.stdout).toBe("served\n");
    expect(result.code).toBe(7);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  }, 300_000);
});
