// `portal overlay build`: a directory tree becomes a squashfs image the way
// info-beamer packages ship their overlay.squashfs, byte-for-byte reproducible.
import { renameSync, rmSync, statSync } from "node:fs";
import { findTool, runToolAsync } from "./external-tool.ts";
import { OverlayError } from "./overlay-error.ts";

/** The mksquashfs options info-beamer packages are built with (lzo, 1 MiB blocks, owned by root). */
export const INFO_BEAMER_SQUASHFS_OPTIONS = ["-comp", "lzo", "-all-root", "-noappend", "-no-xattrs", "-no-recovery", "-b", "1048576"] as const;

export interface BuildImageOptions {
  /**
   * Timestamp (seconds since the epoch) given to every file and to the image
   * itself, so that only content, names and modes decide the bytes.
   * Default: $SOURCE_DATE_EPOCH, else 0.
   */
  time?: number;
}

export interface BuiltImage {
  image: string;
  bytes: number;
}

export async function buildImage(dir: string, image: string, options: BuildImageOptions = {}): Promise<BuiltImage> {
  let isDirectory = false;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch {
    // reported below
  }
  if (!isDirectory) throw new OverlayError(`'${dir}' is not a directory`);
  const time = options.time ?? sourceDateEpoch();
  const mksquashfs = findTool("mksquashfs");
  // Written next to the target and renamed, so IMAGE is never half an image.
  const partial = `${image}.partial-${process.pid}`;
  try {
    await runToolAsync(
      [
        mksquashfs, dir, partial, ...INFO_BEAMER_SQUASHFS_OPTIONS,
        "-reproducible", "-mkfs-time", String(time), "-all-time", String(time), "-no-progress", "-quiet",
      ],
      `building ${image} from ${dir}`,
    );
    renameSync(partial, image);
  } catch (error) {
    rmSync(partial, { force: true });
    throw error;
  }
  return { image, bytes: statSync(image).size };
}

function sourceDateEpoch(): number {
  const text = process.env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === "") return 0;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new OverlayError(`SOURCE_DATE_EPOCH must be seconds since the epoch, got '${text}'`);
  return n;
}
