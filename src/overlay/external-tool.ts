// The system tools the overlay is built from: mksquashfs makes images, mount
// and umount (util-linux) set up loop devices and overlayfs, bwrap builds the
// mount namespaces. Each missing tool is reported with the package that has it.
import { OverlayError } from "./overlay-error.ts";

const PACKAGE_OF: Record<string, string> = {
  mksquashfs: "squashfs-tools",
  unsquashfs: "squashfs-tools",
  mount: "util-linux",
  umount: "util-linux",
  bwrap: "bubblewrap",
};

// Root's PATH does not always include the sbin directories where mount lives.
const EXTRA_PATH = "/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/usr/bin:/bin";

/** The absolute path of `name`, or an OverlayError that says what to install. */
export function findTool(name: string): string {
  const found = Bun.which(name, { PATH: `${process.env.PATH ?? ""}:${EXTRA_PATH}` });
  if (!found) throw new OverlayError(`${name} not found: install ${PACKAGE_OF[name] ?? name}`);
  return found;
}

/** Runs a short tool to completion; a non-zero exit becomes an OverlayError carrying its stderr. */
export function runTool(argv: readonly string[], what: string): string {
  const result = Bun.spawnSync([...argv], { stdio: ["ignore", "pipe", "pipe"] });
  if (result.exitCode !== 0) throw failure(argv, what, result.exitCode, result.stderr.toString());
  return result.stdout.toString();
}

/** The same for a long-running tool, without blocking the event loop. */
export async function runToolAsync(argv: readonly string[], what: string): Promise<string> {
  const proc = Bun.spawn([...argv], { stdio: ["ignore", "pipe", "pipe"] });
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw failure(argv, what, code, stderr);
  return stdout;
}

function failure(argv: readonly string[], what: string, code: number | null, stderr: string): OverlayError {
  const detail = stderr.trim().split("\n").slice(-5).join("\n");
  return new OverlayError(`${what} failed (${argv.join(" ")} exited ${code})${detail ? `: ${detail}` : ""}`);
}
