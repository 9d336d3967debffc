// bun package/build.ts [--arch arm64|x64] [-o DIR] [--overlay IMAGE]
// Assembles the info-beamer package directory (default build/package-arm64,
// for a Pi 5) with its compiled client and its overlay.squashfs.
import { ARCHES, type Arch } from "../overlay/image-contents.ts";
import { parseBuildArguments, usageError } from "../scripts/build-arguments.ts";
import { assemblePackage, defaultPackageDir } from "./assemble.ts";

const command = {
  name: "package/build.ts",
  usage: `usage: bun run build:package [-- options]   (bun package/build.ts [options])
Assembles the info-beamer package: package/files, the compiled portal-exec and overlay.squashfs.
  --arch ARCH        ${ARCHES.join(" or ")} (default arm64, for a Pi 5; from x64 it fetches an arm64 Bun from npm)
  -o, --output DIR   the package directory (default build/package-ARCH; emptied first)
  --overlay IMAGE    use this image as overlay.squashfs instead of building one
  -h, --help         this text`,
};

const { values } = parseBuildArguments(command, {
  arch: { type: "string", default: "arm64" },
  output: { type: "string", short: "o" },
  overlay: { type: "string" },
});
const arch = values.arch as Arch;
if (!ARCHES.includes(arch)) usageError(command, `--arch: unknown architecture '${arch}' (known: ${ARCHES.join(", ")})`);
const dir = values.output ?? defaultPackageDir(arch);
const started = performance.now();
await assemblePackage(dir, { arch, overlayImage: values.overlay });
process.stdout.write(`${dir}: info-beamer package for linux-${arch} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
