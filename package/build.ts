// bun package/build.ts [--arch arm64|x64] [-o DIR] [--overlay IMAGE]
// Assembles the info-beamer package directory (default build/package-arm64,
// for a Pi 5) with its compiled client and its overlay.squashfs.
import { parseArgs } from "node:util";
import { ARCHES, type Arch } from "../overlay/image-contents.ts";
import { assemblePackage, defaultPackageDir } from "./assemble.ts";

const { values } = parseArgs({
  options: {
    arch: { type: "string", default: "arm64" },
    output: { type: "string", short: "o" },
    overlay: { type: "string" },
  },
});
const arch = values.arch as Arch;
if (!ARCHES.includes(arch)) throw new Error(`--arch: unknown architecture '${arch}' (known: ${ARCHES.join(", ")})`);
const dir = values.output ?? defaultPackageDir(arch);
const started = performance.now();
await assemblePackage(dir, { arch, overlayImage: values.overlay });
process.stdout.write(`${dir}: info-beamer package for linux-${arch} (${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
