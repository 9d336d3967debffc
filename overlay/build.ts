// bun overlay/build.ts [--arch x64,arm64] [-o build/overlay.squashfs]
// Assembles what the spawner's image holds (image-contents.ts) and packs it
// with `portal overlay build` (info-beamer's mksquashfs options, reproducible).
import { parseArgs } from "node:util";
import { join } from "node:path";
import { buildImage } from "../src/overlay/squashfs-image.ts";
import { ARCHES, assembleOverlayRoot, BUILD_DIR, REPO, type Arch } from "./image-contents.ts";

const { values } = parseArgs({
  options: {
    arch: { type: "string", default: ARCHES.join(",") },
    output: { type: "string", short: "o", default: join(REPO, "build", "overlay.squashfs") },
  },
});
const arches = values.arch.split(",").filter(Boolean) as Arch[];
for (const arch of arches) {
  if (!ARCHES.includes(arch)) throw new Error(`--arch: unknown architecture '${arch}' (known: ${ARCHES.join(", ")})`);
}

const stage = join(BUILD_DIR, "root");
const started = performance.now();
assembleOverlayRoot(stage, arches);
const built = await buildImage(stage, values.output);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`${built.image}: ${(built.bytes / 1048576).toFixed(1)} MiB, spawner for ${arches.map((a) => `linux-${a}`).join(" and ")} (${seconds} s)\n`);
