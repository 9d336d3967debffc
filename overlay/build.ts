// bun overlay/build.ts [--arch x64,arm64] [-o build/overlay.squashfs]
// Assembles what the spawner's image holds (image-contents.ts) and packs it
// with `portal overlay build` (info-beamer's mksquashfs options, reproducible).
import { join } from "node:path";
import { buildImage } from "../src/overlay/squashfs-image.ts";
import { parseBuildArguments, usageError } from "../scripts/build-arguments.ts";
import { ARCHES, assembleOverlayRoot, BUILD_DIR, REPO, type Arch } from "./image-contents.ts";

const DEFAULT_OUTPUT = join(REPO, "build", "overlay.squashfs");
const command = {
  name: "overlay/build.ts",
  usage: `usage: bun run build:overlay [-- options]   (bun overlay/build.ts [options])
Builds the spawner's squashfs image: the compiled spawner per architecture and the sample renderer.
  --arch LIST        architectures, comma-separated (default ${ARCHES.join(",")}; arm64 from x64 fetches an arm64 Bun from npm)
  -o, --output FILE  the image (default build/overlay.squashfs)
  -h, --help         this text`,
};

const { values } = parseBuildArguments(command, {
  arch: { type: "string", default: ARCHES.join(",") },
  output: { type: "string", short: "o", default: DEFAULT_OUTPUT },
});
const arches = values.arch.split(",").filter(Boolean) as Arch[];
if (arches.length === 0) usageError(command, "--arch: no architecture given");
for (const arch of arches) {
  if (!ARCHES.includes(arch)) usageError(command, `--arch: unknown architecture '${arch}' (known: ${ARCHES.join(", ")})`);
}

const stage = join(BUILD_DIR, "root");
const started = performance.now();
assembleOverlayRoot(stage, arches);
const built = await buildImage(stage, values.output);
const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`${built.image}: ${(built.bytes / 1048576).toFixed(1)} MiB, spawner for ${arches.map((a) => `linux-${a}`).join(" and ")} (${seconds} s)\n`);
