// What goes into the image the spawner lives in, and how each piece is made:
//   /opt/portal/linux-ARCH/portal-spawner  the spawner, one `bun build --compile` per architecture
//   /opt/portal/bin/portal-spawner         picks the one for this machine
//   /opt/portal/bin/renderer               the sample renderer, run on the image's own runtime
//   /opt/portal/lib/renderer.js            src/demo/renderer.ts, bundled
// Static files come from overlay/root/. Everything is written with fixed
// modes so the image depends only on content (see squashfs-image.ts).
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "..");
const BUN = process.execPath;

export type Arch = "x64" | "arm64";
export const ARCHES: readonly Arch[] = ["x64", "arm64"];

/** Where builds keep their outputs and caches (git-ignored). */
export const BUILD_DIR = join(REPO, "build", "overlay");

export class BuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "BuildError";
  }
}

/** A download a build needs failed because its source (npm registry, Debian mirror) cannot be reached. */
export class DownloadError extends BuildError {
  constructor(message: string) {
    super(message);
    this.name = "DownloadError";
  }
}

/** True when npm's or apt's output says the network, not the request, failed. */
export function unreachable(output: string): boolean {
  return /ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|Temporary failure resolving|Could not resolve|Could not connect|Unable to connect|Connection failed|Connection timed out|No route to host/i.test(output);
}

/**
 * Runs a build step and returns its stdout. A failure throws a BuildError
 * with the tool's stderr; for a download whose source cannot be reached, a
 * DownloadError.
 */
export function run(argv: string[], what: string, cwd = REPO, download = false): string {
  const result = Bun.spawnSync(argv, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  if (result.exitCode !== 0) {
    const stderr = result.stderr.toString().trim();
    if (download && unreachable(stderr)) {
      throw new DownloadError(`${what} failed, cannot reach the source (${argv.join(" ")} exited ${result.exitCode}): ${stderr.split("\n").slice(0, 3).join("\n")}`);
    }
    throw new BuildError(`${what} failed (${argv.join(" ")} exited ${result.exitCode}): ${stderr}`);
  }
  return result.stdout.toString();
}

/**
 * An arm64 Bun of this Bun's version, for cross-compiling without network
 * beyond the npm registry: `npm pack @oven/bun-linux-aarch64@VERSION`,
 * unpacked once under build/overlay/.
 */
export function arm64Runtime(): string {
  const dir = join(BUILD_DIR, `bun-linux-aarch64-${Bun.version}`);
  const bun = join(dir, "package", "bin", "bun");
  if (existsSync(bun)) return bun;
  mkdirSync(dir, { recursive: true });
  const npm = Bun.which("npm");
  if (!npm) throw new BuildError("npm not found: it fetches the arm64 Bun (@oven/bun-linux-aarch64) for cross-compiling");
  const tarball = run([npm, "pack", "--loglevel=error", `@oven/bun-linux-aarch64@${Bun.version}`], "fetching the arm64 Bun from the npm registry", dir, true).trim().split("\n").pop()!;
  run(["tar", "-xzf", tarball, "-C", dir], "unpacking the arm64 Bun", dir);
  rmSync(join(dir, tarball), { force: true });
  chmodSync(bun, 0o755);
  return bun;
}

/**
 * Compiles `entry` (a path under src/) into one executable for `arch`. The
 * FdWatcher's worker is a second entrypoint; `--root src` fixes where it
 * lands inside the executable (src/fdwatch/fd-watcher.ts looks for it there).
 */
export function compileExecutable(entry: string, arch: Arch, outfile: string): void {
  mkdirSync(join(outfile, ".."), { recursive: true });
  const cross = arch === process.arch ? [] : [`--compile-executable-path=${arch === "arm64" ? arm64Runtime() : crossRuntimeMissing(arch)}`];
  run(
    [
      BUN, "build", "--compile", `--target=bun-linux-${arch}`, ...cross,
      "--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig", "--minify", "--root", "src",
      entry, "src/fdwatch/fd-watcher-worker.ts", "--outfile", outfile,
    ],
    `compiling ${entry} for linux-${arch}`,
  );
  chmodSync(outfile, 0o755);
}

export function compileSpawner(arch: Arch, outfile: string): void {
  compileExecutable("src/cli/portal-spawner.ts", arch, outfile);
}

function crossRuntimeMissing(arch: Arch): never {
  throw new BuildError(`cannot cross-compile for linux-${arch} from linux-${process.arch}: only arm64 runtimes are fetched`);
}

/** src/demo/renderer.ts as one file the image's runtime can run. */
export function bundleRenderer(outfile: string): void {
  run([BUN, "build", "--target=bun", "--minify", "src/demo/renderer.ts", "--outfile", outfile], "bundling the sample renderer");
  chmodSync(outfile, 0o644);
}

/** Copies a tree with normalised modes (0755 dirs and executables, 0644 the rest); symlinks are not expected. */
export function copyTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  chmodSync(to, 0o755);
  for (const name of readdirSync(from).sort()) {
    const source = join(from, name);
    const target = join(to, name);
    const stat = lstatSync(source);
    if (stat.isDirectory()) copyTree(source, target);
    else if (stat.isFile()) {
      copyFileSync(source, target);
      chmodSync(target, stat.mode & 0o111 ? 0o755 : 0o644);
    } else throw new BuildError(`${source}: only files and directories go into the image`);
  }
}

/** Fills `stage` (emptied first) with the image's contents for `arches`, plus the trees in `extra`. */
export function assembleOverlayRoot(stage: string, arches: readonly Arch[] = ARCHES, extra: readonly string[] = []): void {
  rmSync(stage, { recursive: true, force: true });
  copyTree(join(REPO, "overlay", "root"), stage);
  for (const tree of extra) copyTree(tree, stage);
  for (const arch of arches) compileSpawner(arch, join(stage, "opt", "portal", `linux-${arch}`, "portal-spawner"));
  bundleRenderer(join(stage, "opt", "portal", "lib", "renderer.js"));
  for (const dir of ["opt", "opt/portal", ...arches.map((a) => `opt/portal/linux-${a}`)]) chmodSync(join(stage, dir), 0o755);
}
