// The images tests and benchmarks run: this machine's spawner, the sample renderer and
// their own files, built once per source state and cached under
// build/overlay/ (a compile and an lzo mksquashfs take a while; the key is a
// hash of everything that goes in, so a changed source rebuilds it).
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { buildImage } from "../src/overlay/squashfs-image.ts";
import { assembleOverlayRoot, BUILD_DIR, REPO, type Arch } from "./image-contents.ts";

/** Fixture files in the test image, path -> content. */
export const FIXTURES: Record<string, string> = {
  "opt/portal-test/hello.txt": "hello from the image\n",
  "opt/portal-test/shadow.txt": "the image's version\n",
};

function hashTree(hash: ReturnType<typeof createHash>, dir: string): void {
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    const stat = statSync(path);
    if (stat.isDirectory()) hashTree(hash, path);
    else {
      hash.update(`${relative(REPO, path)}\0${stat.mode & 0o111 ? "x" : "-"}\0`);
      hash.update(readFileSync(path));
    }
  }
}

function cacheKey(label: string, arch: Arch, extraKey: string): string {
  const hash = createHash("sha256");
  hash.update(`${Bun.version}\0${label}\0${arch}\0${extraKey}\0`);
  for (const dir of ["src", "overlay"]) hashTree(hash, join(REPO, dir));
  return hash.digest("hex").slice(0, 16);
}

/**
 * An image with this machine's spawner, the renderer and whatever
 * `writeExtra` puts into a tree, cached under build/overlay/LABEL-ARCH-KEY.
 * `extraKey` must change whenever `writeExtra` would write something else.
 */
export async function cachedImage(label: string, writeExtra: (dir: string) => void, extraKey: string, arch: Arch = process.arch as Arch): Promise<string> {
  const key = cacheKey(label, arch, extraKey);
  const prefix = `${label}-${arch}-`;
  const image = join(BUILD_DIR, `${prefix}${key}.squashfs`);
  if (existsSync(image)) return image;
  mkdirSync(BUILD_DIR, { recursive: true });
  const work = mkdtempSync(join(BUILD_DIR, `${label}-image-`));
  try {
    const extra = join(work, "extra");
    mkdirSync(extra);
    writeExtra(extra);
    const stage = join(work, "root");
    assembleOverlayRoot(stage, [arch], [extra]);
    await buildImage(stage, image);
    // Older images of this label are stale by construction.
    for (const name of readdirSync(BUILD_DIR)) {
      if (name.startsWith(prefix) && name.endsWith(".squashfs") && join(BUILD_DIR, name) !== image) rmSync(join(BUILD_DIR, name), { force: true });
    }
    return image;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The cached test image for `arch` (this machine's by default), with FIXTURES in it. */
export function testImage(arch: Arch = process.arch as Arch): Promise<string> {
  const write = (dir: string) => {
    for (const [path, content] of Object.entries(FIXTURES)) {
      mkdirSync(join(dir, path, ".."), { recursive: true });
      writeFileSync(join(dir, path), content);
    }
  };
  return cachedImage("test", write, JSON.stringify(FIXTURES), arch);
}
