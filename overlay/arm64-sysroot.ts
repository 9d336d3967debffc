// An arm64 loader and C library for running the arm64 build under
// qemu-user on an x86-64 machine (tests only; a Pi has its own). Debian's
// libc6:arm64 is fetched with apt into a private state directory under
// build/overlay/, so the machine's own apt configuration (its architectures)
// is left alone.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUILD_DIR, BuildError } from "./image-contents.ts";

function run(argv: string[], cwd: string, what: string): void {
  const result = Bun.spawnSync(argv, { cwd, stdio: ["ignore", "pipe", "pipe"] });
  if (result.exitCode !== 0) throw new BuildError(`${what} failed (exit ${result.exitCode}): ${result.stderr.toString().trim().split("\n").slice(-3).join("\n")}`);
}

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
  run(["apt-get", "-qq", ...options, "update"], dir, "apt-get update (arm64 lists, private state)");
  run(["apt-get", "-qq", ...options, "download", "libc6:arm64"], debs, "apt-get download libc6:arm64");
  const deb = readdirSync(debs).find((name) => name.startsWith("libc6_") && name.endsWith("_arm64.deb"));
  if (!deb) throw new BuildError("apt-get download libc6:arm64 left no .deb");
  mkdirSync(sysroot, { recursive: true });
  run(["dpkg-deb", "-x", join(debs, deb), sysroot], dir, "unpacking libc6:arm64");
  return sysroot;
}

/** qemu-user for aarch64 on this machine, or null. */
export function qemuAarch64(): string | null {
  return Bun.which("qemu-aarch64-static") ?? Bun.which("qemu-aarch64");
}
