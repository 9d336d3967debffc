// Assembling the info-beamer package directory: the files in package/files,
// the thin client (`portal-exec`, compiled) that ./content starts, and the
// overlay.squashfs the spawner and renderer live in. info-beamer's limits
// are checked here, before anything is uploaded.
import { copyFileSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { buildImage } from "../src/overlay/squashfs-image.ts";
import { assembleOverlayRoot, BUILD_DIR, BuildError, compileExecutable, copyTree, REPO, type Arch } from "../overlay/image-contents.ts";

export const PACKAGE_FILES = join(REPO, "package", "files");

/** info-beamer's package limits (reference/info-beamer.md). */
export const LIMITS = { packageJsonBytes: 2000, nameChars: 32, descChars: 140, files: 2048, totalBytes: 4 * 1024 ** 3 };

export interface AssembleOptions {
  /** Architecture of the client and of the spawner in the overlay (a Pi 5: arm64). */
  arch: Arch;
  /** Use this image as overlay.squashfs instead of building one. */
  overlayImage?: string;
}

export async function assemblePackage(dir: string, options: AssembleOptions): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  copyTree(PACKAGE_FILES, dir);
  compileExecutable("src/cli/portal-exec.ts", options.arch, join(dir, "portal-exec"));
  const image = join(dir, "overlay.squashfs");
  if (options.overlayImage) {
    try {
      linkSync(options.overlayImage, image);
    } catch {
      copyFileSync(options.overlayImage, image);
    }
  } else {
    const stage = join(BUILD_DIR, `package-root-${options.arch}`);
    assembleOverlayRoot(stage, [options.arch]);
    await buildImage(stage, image);
    rmSync(stage, { recursive: true, force: true });
  }
  checkLimits(dir);
}

/** Throws a BuildError naming the first info-beamer limit the package breaks. */
export function checkLimits(dir: string): void {
  const manifestBytes = statSync(join(dir, "package.json")).size;
  if (manifestBytes > LIMITS.packageJsonBytes) throw new BuildError(`package.json has ${manifestBytes} bytes; info-beamer allows ${LIMITS.packageJsonBytes}`);
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; desc?: string };
  if (!manifest.name || manifest.name.length > LIMITS.nameChars) throw new BuildError(`package.json name must be 1..${LIMITS.nameChars} characters`);
  if ((manifest.desc ?? "").length > LIMITS.descChars) throw new BuildError(`package.json desc must be at most ${LIMITS.descChars} characters`);
  let files = 0;
  let bytes = 0;
  const walk = (path: string) => {
    for (const name of readdirSync(path)) {
      const stat = statSync(join(path, name));
      if (stat.isDirectory()) walk(join(path, name));
      else {
        files++;
        bytes += stat.size;
      }
    }
  };
  walk(dir);
  if (files > LIMITS.files) throw new BuildError(`the package has ${files} files; info-beamer allows ${LIMITS.files}`);
  if (bytes > LIMITS.totalBytes) throw new BuildError(`the package has ${bytes} bytes; info-beamer allows 4 GB`);
}

export function defaultPackageDir(arch: Arch): string {
  mkdirSync(join(REPO, "build"), { recursive: true });
  return join(REPO, "build", `package-${arch}`);
}
