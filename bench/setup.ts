// What a benchmark run needs before it starts: the s6 peer installed, the
// compiled client and its bare-start twin built and current, and a record of
// the machine the figures come from.
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join } from "node:path";
import { buildBundle, buildExecutable, buildPlainExecutable, CLIENT_ENTRY } from "../scripts/build-client.ts";
import { ROOT } from "./servers.ts";

export const BUILD = join(ROOT, "build");
export const CLIENT_EXECUTABLE = join(BUILD, "portal-exec");
export const CLIENT_BUNDLE = join(BUILD, "portal-exec.js");
/** An empty program built with the client's flags: the floor for the executable. */
export const BARE_EXECUTABLE = join(BUILD, "bench", "bare");
/** An empty script: the floor for `bun <script>`. */
export const BARE_SCRIPT = join(BUILD, "bench", "bare.js");

const S6_PROGRAMS = ["s6-sudo", "s6-sudod", "s6-ipcserver"];

/**
 * Installs Debian's s6 when one of its programs is missing. Needs root (the
 * bench is meant for a throw-away CI machine or a dev VM); otherwise it says
 * what to install and the s6 figures are skipped.
 */
export function ensureS6(log: (line: string) => void): boolean {
  if (S6_PROGRAMS.every((p) => Bun.which(p))) return true;
  if (process.getuid?.() !== 0 || !Bun.which("apt-get")) {
    log(`s6 is not installed (need ${S6_PROGRAMS.join(", ")}): install the Debian package 's6'; skipping the s6-sudo peer`);
    return false;
  }
  log("installing the Debian package s6 (the s6-sudo peer)...");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let install = Bun.spawnSync(["apt-get", "install", "-y", "--no-install-recommends", "s6"], { env, stdio: ["ignore", "ignore", "pipe"] });
  if (install.exitCode !== 0) {
    Bun.spawnSync(["apt-get", "update"], { env, stdio: ["ignore", "ignore", "ignore"] });
    install = Bun.spawnSync(["apt-get", "install", "-y", "--no-install-recommends", "s6"], { env, stdio: ["ignore", "ignore", "pipe"] });
  }
  if (install.exitCode !== 0 || !S6_PROGRAMS.every((p) => Bun.which(p))) {
    log(`apt-get install s6 failed: ${install.stderr.toString().trim().split("\n").pop()}; skipping the s6-sudo peer`);
    return false;
  }
  return true;
}

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

function isCurrent(output: string, sourcesMtime: number): boolean {
  return existsSync(output) && statSync(output).mtimeMs >= sourcesMtime;
}

/** Builds the client executable, its bundle and the bare floors when missing or older than src/. */
export async function ensureBuilds(log: (line: string) => void): Promise<void> {
  const sources = Math.max(newestSource(join(ROOT, "src")), statSync(join(ROOT, "scripts/build-client.ts")).mtimeMs);
  if (!isCurrent(CLIENT_EXECUTABLE, sources) || !isCurrent(CLIENT_BUNDLE, sources)) {
    log("building the client (bun run build:client)...");
    await buildExecutable(CLIENT_ENTRY, CLIENT_EXECUTABLE);
    await buildBundle(CLIENT_ENTRY, CLIENT_BUNDLE);
  }
  mkdirSync(join(BUILD, "bench"), { recursive: true });
  if (!existsSync(BARE_SCRIPT)) writeFileSync(BARE_SCRIPT, "");
  if (!isCurrent(BARE_EXECUTABLE, statSync(join(ROOT, "scripts/build-client.ts")).mtimeMs)) {
    log("building the bare executable floor...");
    const entry = join(BUILD, "bench", "bare-entry.ts");
    writeFileSync(entry, "export {};\n");
    await buildPlainExecutable(entry, BARE_EXECUTABLE);
  }
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  bun: string;
  s6: string | null;
  loadAverageAtStart: number[];
}

export function machineInfo(): MachineInfo {
  const s6 = Bun.spawnSync(["dpkg-query", "-W", "-f", "${Version}", "s6"], { stdio: ["ignore", "pipe", "ignore"] });
  return {
    cpu: cpus()[0]?.model.trim() ?? "unknown",
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    bun: Bun.version,
    s6: s6.exitCode === 0 ? s6.stdout.toString().trim() : null,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
