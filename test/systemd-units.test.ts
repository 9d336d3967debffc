// The systemd units in docs/systemd/ work as written: systemd-analyze verify
// accepts them installed where the docs say, with the command where the
// README's Install section puts it; portal.conf (sysusers.d) creates the
// group they name; and their ExecStart lines, unchanged, serve requests: the
// socket-activated pair under systemd-socket-activate, the stand-alone unit
// binding its socket under RuntimeDirectory=. The service side runs in a
// private mount namespace that holds what an installed system would: the
// command at its ExecStart path, /etc/group with the sysusers.d group,
// /run/portal. Clients run outside it, as root and as nobody.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { EXEC, ROOT, Scratch, startProcess, whyNobodyCannotRun, type Proc } from "./helpers/harness.ts";
import { DEADLINE_MS, finish, runExec } from "./helpers/cli-processes.ts";
import { NotifySocket } from "./helpers/notify-socket.ts";

setDefaultTimeout(90_000);

const UNITS = join(ROOT, "docs", "systemd");
const SYSUSERS = join(UNITS, "portal.conf");
/** Where the README's Install section puts the commands (npm install -g, default prefix). */
const INSTALLED_SPAWNER = "/usr/local/bin/portal-spawner";
const UNIT_FILES = readdirSync(UNITS).filter((name) => /\.(service|socket)$/.test(name)).sort();

/** Key=value lines of a unit file's [section]. */
function unitSettings(name: string, section: string): Map<string, string> {
  const settings = new Map<string, string>();
  let current = "";
  for (const raw of readFileSync(join(UNITS, name), "utf8").split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      current = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    if (current === section && eq > 0) settings.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return settings;
}

/** ExecStart split the way systemd does for unquoted words and quotes (no globbing: LD_* stays as written). */
function splitCommandLine(text: string): string[] {
  return [...text.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
}

function execStart(unit: string): string[] {
  return splitCommandLine(unitSettings(unit, "Service").get("ExecStart")!);
}

/** The value following `option` in argv, or undefined. */
function optionValue(argv: string[], option: string): string | undefined {
  const i = argv.indexOf(option);
  return i >= 0 ? argv[i + 1] : undefined;
}

const scratch = new Scratch();
// Users other than root (the nobody clients) must reach the sockets inside.
chmodSync(scratch.dir, 0o755);
afterAll(() => scratch.cleanup());

test("every unit's ExecStart runs the command where the Install section puts it", () => {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const install = readme.slice(readme.indexOf("## Install"), readme.indexOf("\n## ", readme.indexOf("## Install") + 1));
  expect(install).toContain(INSTALLED_SPAWNER);
  for (const unit of UNIT_FILES.filter((u) => u.endsWith(".service"))) expect(execStart(unit)[0]).toBe(INSTALLED_SPAWNER);
});

test("the units say what the spawner needs: SEQPACKET, Type=notify, KillMode=mixed, a stop timeout above the graces", () => {
  expect(unitSettings("portal-spawner.socket", "Socket").get("ListenSequentialPacket")).toMatch(/^\/run\/.+\.sock$/);
  for (const unit of UNIT_FILES.filter((u) => u.endsWith(".service"))) {
    const service = unitSettings(unit, "Service");
    const argv = execStart(unit);
    expect([unit, service.get("Type"), service.get("KillMode")]).toEqual([unit, "notify", "mixed"]);
    const grace = Number(optionValue(argv, "--shutdown-grace") ?? 5) + Number(optionValue(argv, "--kill-grace") ?? 1);
    expect(Number(service.get("TimeoutStopSec"))).toBeGreaterThan(grace);
  }
});

test("the stand-alone unit binds an explicit socket under its RuntimeDirectory=, the socket unit's path, and conflicts with the pair", () => {
  const service = unitSettings("portal-spawner-standalone.service", "Service");
  const socket = optionValue(execStart("portal-spawner-standalone.service"), "--socket");
  expect(socket).toBe(`/run/${service.get("RuntimeDirectory")}/portal.sock`);
  expect(socket).toBe(unitSettings("portal-spawner.socket", "Socket").get("ListenSequentialPacket"));
  expect(unitSettings("portal-spawner-standalone.service", "Unit").get("Conflicts")!.split(/\s+/).sort()).toEqual(["portal-spawner.service", "portal-spawner.socket"]);
  // The socket-activated service binds nothing of its own.
  expect(optionValue(execStart("portal-spawner.service"), "--socket")).toBeUndefined();
});

const systemdAnalyze = Bun.which("systemd-analyze");
const SYSTEM_UNITS = ["/usr/lib/systemd/system", "/lib/systemd/system"].find((dir) => {
  try {
    return statSync(join(dir, "sysinit.target")).isFile();
  } catch {
    return false;
  }
});
const whyNoVerify = !systemdAnalyze ? "systemd-analyze is not installed (apt-get install systemd)" : !SYSTEM_UNITS ? "systemd's own units (sysinit.target) are not installed" : null;
if (whyNoVerify) console.warn(`systemd-units: skipping systemd-analyze verify: ${whyNoVerify}`);

test.skipIf(whyNoVerify !== null)("systemd-analyze verify accepts the units installed in /etc/systemd/system with the command in place", () => {
  // A root of its own: systemd's units, ours where the docs install them, the command at its path.
  const root = scratch.path("verify-root");
  cpSync(SYSTEM_UNITS!, join(root, "usr", "lib", "systemd", "system"), { recursive: true });
  mkdirSync(join(root, "etc", "systemd", "system"), { recursive: true });
  for (const unit of UNIT_FILES) copyFileSync(join(UNITS, unit), join(root, "etc", "systemd", "system", unit));
  mkdirSync(join(root, dirname(INSTALLED_SPAWNER)), { recursive: true });
  copyFileSync(join(ROOT, "bin", "portal-spawner"), join(root, INSTALLED_SPAWNER));
  chmodSync(join(root, INSTALLED_SPAWNER), 0o755);
  const verify = Bun.spawnSync([systemdAnalyze!, "verify", `--root=${root}`, "--man=no", ...UNIT_FILES], { stdio: ["ignore", "pipe", "pipe"] });
  expect({ code: verify.exitCode, output: `${verify.stdout}${verify.stderr}` }).toEqual({ code: 0, output: "" });
  // And it does check the command: without it, verify fails.
  rmSync(join(root, INSTALLED_SPAWNER));
  const missing = Bun.spawnSync([systemdAnalyze!, "verify", `--root=${root}`, "--man=no", ...UNIT_FILES], { stdio: ["ignore", "pipe", "pipe"] });
  expect(missing.exitCode).not.toBe(0);
  expect(missing.stderr.toString()).toContain(`Command ${INSTALLED_SPAWNER} is not executable`);
});

const sysusers = Bun.which("systemd-sysusers");
if (!sysusers) console.warn("systemd-units: systemd-sysusers is not installed (apt-get install systemd); the group tests are skipped");

let sysusersRoots = 0;

/** /etc/group as this machine has it plus what portal.conf creates, and the portal gid. */
function groupFileWithPortal(): { file: string; gid: number } {
  const root = scratch.path(`sysusers-root-${++sysusersRoots}`);
  mkdirSync(join(root, "etc"), { recursive: true });
  for (const file of ["passwd", "group"]) copyFileSync(`/etc/${file}`, join(root, "etc", file));
  const made = Bun.spawnSync([sysusers!, `--root=${root}`, SYSUSERS], { stdio: ["ignore", "pipe", "pipe"] });
  if (made.exitCode !== 0) throw new Error(`systemd-sysusers ${SYSUSERS} failed: ${made.stderr}`);
  const line = readFileSync(join(root, "etc", "group"), "utf8").split("\n").find((l) => l.startsWith("portal:"));
  if (!line) throw new Error(`systemd-sysusers ${SYSUSERS} made no portal group`);
  return { file: join(root, "etc", "group"), gid: Number(line.split(":")[2]) };
}

test.skipIf(!sysusers)("portal.conf creates every group the units name", () => {
  const { file } = groupFileWithPortal();
  const groups = new Set(readFileSync(file, "utf8").split("\n").map((l) => l.split(":")[0]));
  const named = new Set<string>();
  for (const unit of UNIT_FILES) {
    for (const [section, key] of [["Socket", "SocketGroup"], ["Service", "Group"]] as const) {
      const value = unitSettings(unit, section).get(key);
      if (value) named.add(value);
    }
    if (unit.endsWith(".service")) {
      const argv = execStart(unit);
      argv.forEach((arg, i) => arg === "--allow-gid" && named.add(argv[i + 1]!));
    }
  }
  expect([...named]).toEqual(["portal"]);
  for (const group of named) expect(groups.has(group)).toBe(true);
});

/**
 * Why the units cannot be run here, or null: the service side needs a
 * private mount namespace (root, unshare), systemd-sysusers for the group,
 * and systemd-socket-activate for the pair.
 */
function whyUnitsCannotRun(): string | null {
  if (process.getuid?.() !== 0) return "not running as root (the service side needs a mount namespace)";
  for (const tool of ["unshare", "setpriv", "systemd-sysusers", "systemd-socket-activate"]) {
    if (!Bun.which(tool)) return `${tool} is not installed`;
  }
  try {
    if (!statSync(dirname(INSTALLED_SPAWNER)).isDirectory()) return `${dirname(INSTALLED_SPAWNER)} is not a directory`;
  } catch {
    return `${dirname(INSTALLED_SPAWNER)} does not exist`;
  }
  const probe = Bun.spawnSync(["unshare", "--mount", "--propagation", "private", "mount", "-t", "tmpfs", "tmpfs", "/mnt"], { stdio: ["ignore", "pipe", "pipe"] });
  if (probe.exitCode !== 0) return `cannot mount in a new mount namespace: ${probe.stderr.toString().trim()}`;
  return null;
}
const whyNotRun = whyUnitsCannotRun();
if (whyNotRun) console.warn(`systemd-units: skipping the runs of the units: ${whyNotRun}`);
const whyNoNobody = whyNotRun ?? whyNobodyCannotRun(EXEC);
if (!whyNotRun && whyNoNobody) console.warn(`systemd-units: skipping the clients run as nobody: ${whyNoNobody}`);

/**
 * A command run the way an installed system would start the unit's
 * ExecStart: in a mount namespace where /etc/group has the portal group,
 * ExecStart's path is this checkout's launcher, and (for RuntimeDirectory=)
 * /run/NAME is `runtime`, owned and moded as systemd would make it.
 */
function installedSystem(groupFile: string, argv: string[], runtime?: { name: string; dir: string }): string[] {
  const setup = [
    "set -e",
    'mount --bind "$1" /etc/group',
    'mount -t tmpfs -o mode=0755 tmpfs "${2%/*}"',
    'ln -s "$3" "$2"',
    ...(runtime ? ['mount -t tmpfs -o mode=0755 tmpfs /run', 'mkdir "/run/$4"', 'mount --bind "$5" "/run/$4"'] : []),
    "shift 5",
    'exec "$@"',
  ].join("\n");
  return [
    "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", setup, "sh",
    groupFile, INSTALLED_SPAWNER, join(ROOT, "bin", "portal-spawner"), runtime?.name ?? "", runtime?.dir ?? "", ...argv,
  ];
}

/** Requests a user would make once the unit runs: root, a member of portal (primary group), and a stranger. */
async function expectServes(socket: string, portalGid: number): Promise<void> {
  const asRoot = await runExec(scratch, ["--one-shot", "--socket", socket, "--", "/bin/sh", "-c", "exit 11"]);
  expect(asRoot.code).toBe(11);
  if (whyNoNobody) return;
  const env = { PATH: "/usr/bin:/bin", BUN_RUNTIME_TRANSPILER_CACHE_PATH: "0", HOME: "/nonexistent" };
  const member = await runExec(scratch, ["--one-shot", "--socket", socket, "--", "/bin/sh", "-c", 'echo "$PORTAL_PEER_GID"'], {
    wrapper: ["setpriv", "--reuid=65534", `--regid=${portalGid}`, "--clear-groups"],
    env,
  });
  expect({ code: member.code, stdout: member.stdout, stderr: member.stderr }).toEqual({ code: 0, stdout: `${portalGid}\n`, stderr: "" });
  const stranger = await runExec(scratch, ["--one-shot", "--socket", socket, "--", "/bin/true"], {
    wrapper: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    env,
  });
  expect(stranger.code).toBe(125);
}

async function stop(run: Proc): Promise<number | null> {
  run.proc.kill("SIGTERM");
  return (await finish(run, DEADLINE_MS)).code;
}

describe.skipIf(whyNotRun !== null)("the units, run as written", () => {
  let group: { file: string; gid: number };
  beforeAll(() => {
    group = groupFileWithPortal();
  });

  test("portal-spawner.socket + .service under systemd-socket-activate: socket activated, READY=1, the portal group served", async () => {
    const listen = unitSettings("portal-spawner.socket", "Socket");
    const socket = scratch.path("activated.sock");
    const notify = new NotifySocket(scratch.path("notify-activated"));
    try {
      const run = startProcess(scratch, installedSystem(group.file, [
        "systemd-socket-activate", "--seqpacket", "-l", socket, `--fdname=${listen.get("FileDescriptorName")}`,
        "-E", "PATH", "-E", `NOTIFY_SOCKET=${notify.address}`, ...execStart("portal-spawner.service"),
      ]));
      await run.stderr.waitFor(/Listening on .* as 3\./, "systemd-socket-activate to listen", DEADLINE_MS);
      // What SocketMode= and SocketGroup= make of the socket file.
      chmodSync(socket, Number.parseInt(listen.get("SocketMode")!, 8));
      chownSync(socket, 0, group.gid);
      await expectServes(socket, group.gid);
      expect(await notify.next(DEADLINE_MS)).toMatch(/^READY=1\nSTATUS=listening on socket fd 3 \(socket activation\)\n/);
      expect(await stop(run)).toBe(0);
    } finally {
      notify.close();
    }
  });

  test("portal-spawner-standalone.service: binds its socket in RuntimeDirectory= with the portal group, READY=1, the portal group served", async () => {
    const service = unitSettings("portal-spawner-standalone.service", "Service");
    const runtime = scratch.path("runtime");
    mkdirSync(runtime);
    // RuntimeDirectory= as systemd makes it: mode RuntimeDirectoryMode=, owned by User=:Group=.
    chmodSync(runtime, Number.parseInt(service.get("RuntimeDirectoryMode") ?? "0755", 8));
    chownSync(runtime, 0, service.get("Group") === "portal" ? group.gid : 0);
    const notify = new NotifySocket(scratch.path("notify-standalone"));
    try {
      // Group= as systemd applies it.
      const groupSwitch = service.get("Group") ? ["setpriv", `--regid=${service.get("Group") === "portal" ? group.gid : service.get("Group")}`, "--clear-groups", "--"] : [];
      const run = startProcess(
        scratch,
        installedSystem(group.file, [...groupSwitch, ...execStart("portal-spawner-standalone.service")], { name: service.get("RuntimeDirectory")!, dir: runtime }),
        { env: { PATH: "/usr/bin:/bin", NOTIFY_SOCKET: notify.address, ...Object.fromEntries([service.get("Environment")!.split("=", 2) as [string, string]]) } },
      );
      const ready = await notify.next(DEADLINE_MS).catch((error: Error) => {
        throw new Error(`${error.message}; stderr: ${run.stderr.text}`);
      });
      expect(ready).toBe(`READY=1\nSTATUS=listening on /run/${service.get("RuntimeDirectory")}/portal.sock\nMAINPID=${run.proc.pid}\n`);
      const socket = join(runtime, "portal.sock");
      const stat = statSync(socket);
      expect({ mode: (stat.mode & 0o777).toString(8), gid: stat.gid }).toEqual({ mode: "660", gid: group.gid });
      await expectServes(socket, group.gid);
      expect(await stop(run)).toBe(0);
    } finally {
      notify.close();
    }
  });
});
