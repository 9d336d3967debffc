// The view a package's overlay.squashfs gives on info-beamer OS: the image,
// mounted once (loop, read-only), layered over the host's root filesystem
// with overlayfs, and a writable layer on top that takes every write, so
// neither the image nor the host changes.
//
//   STATE/            tmpfs, unbindable (host-side staging, see state-dir.ts)
//   STATE/image       the squashfs image, read-only
//   STATE/layer       tmpfs with upper/ and work/, the writable layer, unless an upper dir is given
//   STATE/root        overlay: lowerdir=STATE/image:/ -> the merged view
//
// overlayfs sees only the root filesystem of "/", not what is mounted on it
// (/proc, /dev, ...): whoever enters the view binds those in (see hostSubmounts).
import { existsSync, mkdirSync, rmdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { findTool, runTool } from "./external-tool.ts";
import { OverlayError } from "./overlay-error.ts";
import { isAtOrBelow, readMountTable } from "./mount-table.ts";

export interface LayeredRootOptions {
  image: string;
  /** The staging directory (created; must not exist or be empty). */
  stateDir: string;
  /** A directory for the writable layer (DIR/upper, DIR/work) to keep the writes; default: tmpfs, gone at exit. */
  upperDir?: string;
}

export interface LayeredRoot {
  readonly stateDir: string;
  /** The merged view: image over host root, writes to the upper layer. */
  readonly root: string;
  /** Where the writes land. */
  readonly upper: string;
  /**
   * Detaches every staging mount from this namespace (and removes the state
   * directory). Namespaces that already copied them keep them until they end.
   */
  detach(): void;
}

export function mountLayeredRoot(options: LayeredRootOptions): LayeredRoot {
  const mount = findTool("mount");
  const image = resolve(options.image);
  if (!existsSync(image)) throw new OverlayError(`image '${options.image}' does not exist`);
  const stateDir = resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  runTool([mount, "-t", "tmpfs", "-o", "mode=0700", "portal-overlay", stateDir], "mounting the staging tmpfs");
  let detached = false;
  const detach = () => {
    if (detached) return;
    detached = true;
    detachMounts(stateDir);
    try {
      rmdirSync(stateDir);
    } catch {
      // Someone else's file in it, or gone already: leave it.
    }
  };
  try {
    // Unbindable: a recursive bind of a host mount above STATE (e.g. /run on
    // tmpfs) must not drag the staging mounts into the spawner's view.
    runTool([mount, "--make-unbindable", stateDir], "making the staging tmpfs unbindable");
    const imageDir = join(stateDir, "image");
    const root = join(stateDir, "root");
    const layerDir = options.upperDir ? resolve(options.upperDir) : join(stateDir, "layer");
    for (const dir of [imageDir, root, layerDir]) mkdirSync(dir, { recursive: true, mode: 0o755 });
    // overlayfs cannot take its upper layer from an unbindable mount: the default one gets its own tmpfs.
    if (!options.upperDir) runTool([mount, "-t", "tmpfs", "-o", "mode=0755", "portal-overlay-upper", layerDir], "mounting the tmpfs for writes");
    const upper = join(layerDir, "upper");
    const work = join(layerDir, "work");
    for (const dir of [upper, work]) mkdirSync(dir, { recursive: true, mode: 0o755 });
    runTool([mount, "-t", "squashfs", "-o", "loop,ro", image, imageDir], `mounting ${image}`);
    for (const path of [imageDir, upper, work]) {
      // overlayfs splits its options at ',' and its lower layers at ':'.
      if (/[,:\\]/.test(path)) throw new OverlayError(`'${path}' contains ',', ':' or '\\', which overlayfs options cannot carry`);
    }
    runTool(
      [mount, "-t", "overlay", "-o", `lowerdir=${imageDir}:/,upperdir=${upper},workdir=${work}`, "portal-overlay", root],
      "mounting the overlay (image over the host root)",
    );
    return { stateDir, root, upper, detach };
  } catch (error) {
    detach();
    throw error;
  }
}

/** Lazily unmounts `dir` and everything below it in this namespace. */
export function detachMounts(dir: string): void {
  const umount = findTool("umount");
  // MNT_DETACH takes the whole subtree with it; busy mounts go once unused.
  runTool([umount, "--lazy", dir], `unmounting ${dir}`);
}

/**
 * The host's mounts directly on its root filesystem (/proc, /dev, /sys, a
 * separate /home, ...), which the merged view must get by bind: overlayfs
 * shows only the root filesystem itself. Nested mounts come along with
 * their parents (binds are recursive). `exclude` drops the staging area.
 */
export function hostSubmounts(exclude: readonly string[]): string[] {
  const table = readMountTable();
  const root = table.findLast((m) => m.mountPoint === "/");
  if (!root) return [];
  const paths = new Set<string>();
  for (const m of table) {
    if (m.parentId !== root.id || m.mountPoint === "/") continue;
    if (exclude.some((dir) => isAtOrBelow(m.mountPoint, dir))) continue;
    paths.add(m.mountPoint);
  }
  return [...paths];
}
