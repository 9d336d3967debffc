// An arm64 loader and C library for running the arm64 build under
// qemu-user on an x86-64 machine (tests only; a Pi has its own). Debian's
// libc6:arm64 is fetched with apt into a private state directory under
// build/overlay/, so the machine's own apt configuration (its architectures)
// is left alone.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUILD_DIR, BuildError, DownloadError, run, unreachable } from "./image-contents.ts";

/** A directory holding /lib/ld-linux-aarch64.so.1 and libc for `qemu-aarch64 -L`. */
export function arm64Sysroot(): string {
  const dir = join(BUILD_DIR, "apt-arm64");
  const sysroot = join(dir, "sysroot");
  if (existsSync(join(sysroot, "lib", "ld-linux-aarch64.so.1"))) return sysroot;
  for (const tool of ["apt-get", "dpkg-deb"]) if (!Bun.which(tool)) throw new BuildError(`${tool} not found: the arm64 libc comes from Debian's libc6:arm64`);
  const debs = join(dir, "debs");
  for (const sub of ["lists/partial", "cache/archives/partial", "debs"]) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(join(dir, "status"), "");
  const options = [
    "-o", "APT::Architecture=arm64", "-o", "APT::Architectures::=arm64", "-o", `Dir::State::Lists=${join(dir, "lists")}`,
    "-o", `Dir::Cache=${join(dir, "cache")}`, "-o", `Dir::State::status=${join(dir, "status")}`, "-o", "Debug::NoLocking=1",
  ];
  // apt-get update exits 0 when a mirror cannot be reached (W: lines); the download then finds nothing.
  const update = Bun.spawnSync(["apt-get", "-qq", ...options, "update"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  const updateOutput = update.stderr.toString().trim();
  if (update.exitCode !== 0) {
    const Failure = unreachable(updateOutput) ? DownloadError : BuildError;
    throw new Failure(`apt-get update (arm64 lists, private state) failed (exit ${update.exitCode}): ${updateOutput}`);
  }
  try {
    run(["apt-get", "-qq", ...options, "download", "libc6:arm64"], "apt-get download libc6:arm64", debs, true);
  } catch (error) {
    if (!(error instanceof DownloadError) && unreachable(updateOutput)) {
      throw new DownloadError(`${(error as Error).message}\n(apt-get update could not reach the mirror: ${updateOutput})`);
    }
    throw error;
  }
  const deb = readdirSync(debs).find((name) => name.startsWith("libc6_") && name.endsWith("_arm64.deb"));
  if (!deb) throw new BuildError("apt-get download libc6:arm64 left no .deb");
  mkdirSync(sysroot, { recursive: true });
  run(["dpkg-deb", "-x", join(debs, deb), sysroot], "unpacking libc6:arm64", dir);
  return sysroot;
}

/** qemu-user for aarch64 on this machine, or null. */
export function qemuAarch64(): string | null {
  return Bun.which("qemu-aarch64-static") ?? Bun.which("qemu-aarch64");
}
