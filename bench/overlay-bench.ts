// bun bench/overlay-bench.ts [--runs N]   (root; needs bwrap and squashfs-tools)
//
// The measurement behind the overlay: the same program (cat of a 64 MiB file
// from the image, output to /dev/null) run
//   (a) through the long-lived spawner in the mounted overlay, and
//   (b) by mounting the image and starting a sandbox afresh for each run
//       (loop + squashfs + overlayfs mounts, bwrap into the merged view, the
//       program, unmount), as one would without a resident spawner.
// The data is half random, half zeros per MiB (compresses about 2:1 with lzo,
// like a mix of media and code). The image's compressed bytes stay in the
// page cache between runs of (b) too, so (b) is not charged for disk reads,
// only for what a fresh mount costs: new mounts and re-decompressing.
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { exec } from "../src/client/exec.ts";
import { startOverlay } from "../src/overlay/overlay-run.ts";
import { hostSubmounts, mountLayeredRoot } from "../src/overlay/layered-root.ts";
import { findTool } from "../src/overlay/external-tool.ts";
import { cachedImage } from "../overlay/test-image.ts";

const DATA_PATH = "/opt/bench/data-64m.bin";
const DATA_BYTES = 64 * 1024 * 1024;
const MIB = 1024 * 1024;

const { values } = parseArgs({ options: { runs: { type: "string", default: "10" } } });
const runs = Number(values.runs);

if (process.getuid?.() !== 0) {
  process.stderr.write("overlay-bench: needs root (loop, squashfs and overlayfs mounts)\n");
  process.exit(2);
}

/** Deterministic: xorshift32 random halves, zero halves. */
function writeData(dir: string): void {
  const data = new Uint8Array(DATA_BYTES);
  const words = new Uint32Array(data.buffer);
  let x = 0x9e3779b9;
  for (let mib = 0; mib < DATA_BYTES / MIB; mib++) {
    const start = (mib * MIB) / 4;
    for (let i = start; i < start + MIB / 8; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
  }
  mkdirSync(join(dir, "opt", "bench"), { recursive: true });
  writeFileSync(join(dir, DATA_PATH), data);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function summary(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  return `median ${median(values).toFixed(1)} ms (min ${sorted[0]!.toFixed(1)}, max ${sorted[sorted.length - 1]!.toFixed(1)}, n=${values.length})`;
}

const say = (line: string) => process.stdout.write(`${line}\n`);
say("building (or reusing) the bench image ...");
const image = await cachedImage("bench", writeData, `xorshift-half-zero-${DATA_BYTES}`);
const work = mkdtempSync(join(tmpdir(), "portal-overlay-bench-"));
const devNull = openSync("/dev/null", "r+");
try {
  // (a) one mount, one spawner; every run is a request.
  const startBegin = performance.now();
  const overlay = await startOverlay({ image, socket: join(work, "sock", "portal.sock"), stateBase: join(work, "state") });
  const startMs = performance.now() - startBegin;
  const viaSpawner: number[] = [];
  let firstMs = 0;
  try {
    for (let i = 0; i <= runs; i++) {
      const t = performance.now();
      const result = await exec({ socket: overlay.socket, args: ["cat", DATA_PATH], fds: { 0: devNull, 1: devNull, 2: 2 }, env: { PATH: "/usr/bin:/bin" } });
      const ms = performance.now() - t;
      if (result.exitCode !== 0) throw new Error(`cat through the spawner exited ${result.exitCode}`);
      // The first read after mounting decompresses; the others are the warm case.
      if (i === 0) firstMs = ms;
      else viaSpawner.push(ms);
    }
  } finally {
    await overlay.stop();
  }

  // (b) mount + sandbox + program + unmount, every run.
  const bwrap = findTool("bwrap");
  const stateBase = join(work, "state-fresh");
  const fresh: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const layered = mountLayeredRoot({ image, stateDir: join(stateBase, `run-${i}`) });
    try {
      const binds = hostSubmounts([stateBase]).flatMap((p) => ["--dev-bind", p, p]);
      const proc = Bun.spawnSync([bwrap, "--dev-bind", layered.root, "/", ...binds, "--die-with-parent", "--", "cat", DATA_PATH], {
        stdio: [devNull, devNull, "inherit"],
        env: { PATH: "/usr/bin:/bin" },
      });
      if (proc.exitCode !== 0) throw new Error(`cat in a fresh sandbox exited ${proc.exitCode}`);
    } finally {
      layered.detach();
    }
    fresh.push(performance.now() - t);
  }

  const a = median(viaSpawner);
  const b = median(fresh);
  say("");
  say(`image: ${image}`);
  say(`program: cat ${DATA_PATH} (${DATA_BYTES / MIB} MiB) > /dev/null`);
  say(`overlay run start-up (mount + spawner listening): ${startMs.toFixed(1)} ms`);
  say(`(a) long-lived spawner in the mounted overlay, first run after mount: ${firstMs.toFixed(1)} ms`);
  say(`(a) long-lived spawner in the mounted overlay, warm:  ${summary(viaSpawner)}`);
  say(`(b) mount image + fresh sandbox per run:              ${summary(fresh)}`);
  say(`ratio (b)/(a): ${(b / a).toFixed(1)}x`);
} finally {
  closeSync(devNull);
  rmSync(work, { recursive: true, force: true });
}
