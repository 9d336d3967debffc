// The commands as npm installs them. bin/portal, bin/portal-exec and
// bin/portal-spawner are sh launchers: they find the Bun that npm installed
// (no Bun on PATH needed), follow the symlinks npm makes, and exec it, so
// the process keeps its argv bytes, fds, ignored signals and pid. Checked in
// the checkout, through symlinks, under dash and busybox ash, against a real
// spawner, and after `npm install -g` of the checkout, of its packed tarball
// and into a consumer's project.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { BUN, ROOT, SPAWNER, Scratch, isListening, startProcess, waitFor } from "./helpers/harness.ts";
import { exactCommand, nulJoined, splitNul, type ByteItem } from "./helpers/exact-argv.ts";
import { DEADLINE_MS, finish } from "./helpers/cli-processes.ts";

setDefaultTimeout(60_000);

const COMMANDS = ["portal", "portal-exec", "portal-spawner"] as const;
const PACKAGE = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  name: string;
  version: string;
  devDependencies: Record<string, string>;
};

const scratch = new Scratch();
afterAll(() => scratch.cleanup());

/** A PATH with no Bun on it: only readlink, the one tool a launcher may call. */
const NO_BUN_PATH = scratch.path("path-without-bun");
mkdirSync(NO_BUN_PATH);
symlinkSync(Bun.which("readlink")!, join(NO_BUN_PATH, "readlink"));
mkdirSync(scratch.path("home"));

/** Runs `argv` with exactly `env` (no Bun on PATH unless given) and waits for it. */
async function run(argv: string[], env: Record<string, string> = {}, cwd = scratch.dir) {
  return finish(startProcess(scratch, argv, { cwd, env: { PATH: NO_BUN_PATH, HOME: scratch.path("home"), ...env } }), DEADLINE_MS);
}

/** What each command's --help starts with (citty's usage line). */
function expectHelp(result: Awaited<ReturnType<typeof run>>, command: string): void {
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
  expect(result.stdout).toContain(command === "portal" ? "portal" : `(${command})`);
  expect(result.stdout).toMatch(/USAGE/);
}

describe("the launchers in the checkout", () => {
  for (const command of COMMANDS) {
    test(`bin/${command} --help runs on the Bun npm installed, with no Bun on PATH, from any cwd`, async () => {
      expect(Bun.which("bun", { PATH: NO_BUN_PATH })).toBeNull();
      expectHelp(await run([join(ROOT, "bin", command), "--help"]), command);
      // The way npm's own scripts and a user in the checkout call it: relative, and as `sh FILE`.
      expectHelp(await run([`./bin/${command}`, "--help"], {}, ROOT), command);
      expectHelp(await run(["/bin/sh", command, "--help"], {}, join(ROOT, "bin")), command);
    });
  }

  test("found through the symlinks npm makes, a chain of links, and a relative link", async () => {
    // node_modules/.bin/NAME -> ../exec-portal/bin/NAME, in a consumer's project.
    const project = scratch.path("project/node_modules");
    mkdirSync(join(project, ".bin"), { recursive: true });
    symlinkSync(ROOT, join(project, PACKAGE.name));
    // PREFIX/bin/NAME -> ../lib/node_modules/exec-portal/bin/NAME, a global install.
    const prefix = scratch.path("prefix");
    mkdirSync(join(prefix, "bin"), { recursive: true });
    mkdirSync(join(prefix, "lib", "node_modules"), { recursive: true });
    symlinkSync(ROOT, join(prefix, "lib", "node_modules", PACKAGE.name));
    // Anything else: /usr/local/bin/NAME -> link -> the checkout.
    const other = scratch.path("other");
    mkdirSync(other);
    for (const command of COMMANDS) {
      symlinkSync(`../${PACKAGE.name}/bin/${command}`, join(project, ".bin", command));
      symlinkSync(`../lib/node_modules/${PACKAGE.name}/bin/${command}`, join(prefix, "bin", command));
      symlinkSync(join(ROOT, "bin", command), join(other, `${command}-1`));
      symlinkSync(`${command}-1`, join(other, command));
    }
    const elsewhere = scratch.path("home");
    for (const command of COMMANDS) {
      for (const link of [join(project, ".bin", command), join(prefix, "bin", command), join(other, command)]) {
        expectHelp(await run([link, "--help"], {}, elsewhere), command);
      }
      // Called by a relative path through a link in the cwd.
      expectHelp(await run([`./${command}`, "--help"], {}, other), command);
    }
  });

  test("without a Bun anywhere, each says what to install and exits 127; a bad PORTAL_BUN is named", async () => {
    // A copy of the package without node_modules, in a directory with no `bun` next to it.
    const lonely = scratch.path("lonely/exec-portal");
    for (const command of COMMANDS) {
      mkdirSync(join(lonely, "bin"), { recursive: true });
      mkdirSync(join(lonely, "src", "cli"), { recursive: true });
      copyFileSync(join(ROOT, "bin", command), join(lonely, "bin", command));
      chmodSync(join(lonely, "bin", command), 0o755);
      writeFileSync(join(lonely, "src", "cli", `${command}.ts`), "");
      const missing = await run([join(lonely, "bin", command), "--help"]);
      expect(missing.code).toBe(127);
      expect(missing.stdout).toBe("");
      expect(missing.stderr).toBe(`${command}: Bun not found next to exec-portal or on PATH: install the npm package bun (in a checkout: npm install; global: npm install -g bun), or set PORTAL_BUN\n`);
      const bad = await run([join(ROOT, "bin", command), "--help"], { PORTAL_BUN: scratch.path("no-such-bun") });
      expect(bad.code).toBe(127);
      expect(bad.stderr).toBe(`${command}: PORTAL_BUN=${scratch.path("no-such-bun")} is not an executable file\n`);
    }
    // A copy of a launcher (not a link) cannot know where its package is: it says so.
    const copy = scratch.path("copied-portal-exec");
    copyFileSync(join(ROOT, "bin", "portal-exec"), copy);
    chmodSync(copy, 0o755);
    const copied = await run([copy, "--help"]);
    expect(copied.code).toBe(127);
    expect(copied.stderr).toMatch(/^portal-exec: cannot find portal-exec\.ts next to .*: run it from its package \(a symlink is fine, a copy is not\)\n$/);
  });
});

/**
 * A stand-in for Bun (PORTAL_BUN) that records what it was started with, as
 * the kernel holds it: argv and environment bytes, fds with their targets,
 * ignored and blocked signals, pid. Its own shell does not change these.
 */
function writeProbe(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const probe = join(dir, "probe");
  writeFileSync(
    probe,
    [
      "#!/bin/sh",
      `d='${dir}'`,
      // Builtins only, first: a shell waiting for a child blocks signals, so a child would see that.
      `while IFS= read -r line; do case $line in SigIgn:* | SigBlk:*) printf '%s\\n' "$line" ;; esac; done < /proc/$$/status > "$d/signals"`,
      `/bin/cat /proc/$$/cmdline > "$d/cmdline"`,
      `/bin/cat /proc/$$/environ > "$d/environ"`,
      // No pipeline here: its pipe would show among this shell's fds while find looks.
      `/usr/bin/find /proc/$$/fd -mindepth 1 -maxdepth 1 -printf '%f %l\\n' > "$d/fds"`,
      `echo $$ > "$d/pid"`,
      "",
    ].join("\n"),
  );
  chmodSync(probe, 0o755);
  return probe;
}

interface Probed {
  pid: number;
  args: Buffer[];
  environ: Buffer[];
  signals: string;
  fds: string;
}

const SHELLS: Array<[string, string[]]> = [["dash (/bin/sh)", []]];
const busybox = Bun.which("busybox");
if (busybox) SHELLS.push(["busybox ash", [busybox, "sh"]]);
else console.warn("install.test: busybox is not installed; the launchers are checked under dash only");

describe("exec keeps what the process inherited", () => {
  /** Bytes no UTF-8 round trip survives, empty arguments, and words Bun itself would take as its own options. */
  const ARGS: ByteItem[] = [
    new Uint8Array([0xff, 0xfe]), "", "two words\nand a newline\n", "--help", "--no-env-file", "--config=x", "-e", "--", "*", "$HOME '\"", "",
  ];
  /** Only names sh can hold keep their place in the environment (see the comment in bin/portal-exec). */
  const ENV: ByteItem[] = [
    "PATH=/usr/bin:/bin", new Uint8Array([...Buffer.from("RAW="), 0xff, 0xfe]), "EMPTY=", "LINES=a\nb\n", "EQUALS=a=b=c",
  ];
  const files: number[] = [];
  beforeAll(() => {
    const file = (name: string, flags: string) => {
      const fd = openSync(scratch.path(name), flags);
      files.push(fd);
      return fd;
    };
    file("stdin", "w+");
    file("stdout", "w");
    file("stderr", "w");
    file("fd3", "w+");
    file("fd5", "a");
  });
  afterAll(() => {
    for (const fd of files.splice(0)) closeSync(fd);
  });

  /** Runs `argv(probe)` with PORTAL_BUN=probe and reads what the probe saw. Runs one at a time. */
  async function probe(argv: (probe: string) => ByteItem[], env: ByteItem[]): Promise<Probed> {
    const dir = scratch.path("probe");
    const probeFile = existsSync(dir) ? join(dir, "probe") : writeProbe(dir);
    const command = exactCommand(argv(probeFile), { env: [...env, `PORTAL_BUN=${probeFile}`, `PWD=${dir}`], cwd: dir });
    // HUP and USR1 ignored, as a caller such as nohup would leave them.
    command[2] = `trap '' HUP USR1\n${command[2]}`;
    const [stdin, stdout, stderr, fd3, fd5] = files;
    const proc = scratch.track(Bun.spawn(command, { stdio: [stdin!, stdout!, stderr!, fd3!, null, fd5!] }));
    expect(await proc.exited).toBe(0);
    const read = (name: string) => readFileSync(join(dir, name));
    const probed = {
      pid: Number(read("pid").toString()),
      // /bin/sh PROBE, then what the probe was given.
      args: splitNul(read("cmdline")).slice(2),
      environ: splitNul(read("environ")),
      signals: read("signals").toString(),
      fds: read("fds").toString().trim().split("\n").sort((a, b) => parseInt(a) - parseInt(b)).join("\n"),
    };
    // The same process all along: nothing forked on the way.
    expect(probed.pid).toBe(proc.pid);
    return probed;
  }

  const sorted = (entries: Buffer[]) => entries.map((e) => e.toString("latin1")).sort();

  for (const [shell, prefix] of SHELLS) {
    for (const command of COMMANDS) {
      test(`bin/${command} under ${shell}: same pid, argv bytes, fds, ignored signals; the environment's entries unchanged`, async () => {
        const script = join(ROOT, "src", "cli", `${command}.ts`);
        // The oracle: the same stand-in started directly with what the launcher should give it.
        const direct = await probe((p) => [p, "--no-env-file", "--config=/dev/null", script, ...ARGS], ENV);
        const launched = await probe(() => [...prefix, join(ROOT, "bin", command), ...ARGS], ENV);
        // Bun gets its options, the entry point, then every argument byte for byte.
        expect(launched.args.slice(0, 2).map(String)).toEqual(["--no-env-file", "--config=/dev/null"]);
        expect(realpathSync(launched.args[2]!)).toBe(realpathSync(script));
        expect(nulJoined(launched.args.slice(3))).toEqual(nulJoined(ARGS));
        expect(launched.fds).toBe(direct.fds);
        expect(launched.signals).toBe(direct.signals);
        const ignored = BigInt(`0x${/^SigIgn:\s*([0-9a-f]+)$/m.exec(launched.signals)![1]}`);
        expect(ignored & ((1n << 0n) | (1n << 9n))).toBe((1n << 0n) | (1n << 9n)); // SIGHUP (1) and SIGUSR1 (10) stay ignored
        // The shell rebuilds the environment from its variables: order may change and busybox
        // counts SHLVL; every entry's bytes stay. portal-spawner adds the cache switch;
        // portal-exec what it inherited before Bun (its open-file limit and ignored signals).
        const normal = (entries: Buffer[]) => sorted(entries).filter((e) => !e.startsWith("SHLVL="));
        const expected = normal(direct.environ);
        if (command === "portal-spawner") expected.push("BUN_RUNTIME_TRANSPILER_CACHE_PATH=0");
        if (command === "portal-exec") {
          const nofile = /^Max open files\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"))![1];
          const intPipeAndXfsz = (1n << 1n) | (1n << 12n) | (1n << 24n);
          expected.push(`PORTAL_EXEC_INHERITED=nofile=${nofile};sigign=${ignored & intPipeAndXfsz}`);
        }
        expect(normal(launched.environ)).toEqual(expected.sort());
      });
    }
  }

  test("portal-spawner keeps a BUN_RUNTIME_TRANSPILER_CACHE_PATH the caller set (even empty)", async () => {
    for (const value of ["/var/cache/portal", ""]) {
      const launched = await probe(() => [join(ROOT, "bin", "portal-spawner")], [...ENV, `BUN_RUNTIME_TRANSPILER_CACHE_PATH=${value}`]);
      expect(sorted(launched.environ).filter((e) => e.startsWith("BUN_RUNTIME_TRANSPILER_CACHE_PATH="))).toEqual([`BUN_RUNTIME_TRANSPILER_CACHE_PATH=${value}`]);
    }
  });

  test("portal-spawner writes no transpiler cache under $HOME; its programs get the client's environment, not the switch", async () => {
    const home = scratch.path("spawner-home");
    mkdirSync(home);
    const socket = scratch.path("launched.sock");
    const spawner = startProcess(scratch, [join(ROOT, "bin", "portal-spawner"), "--socket", socket], { env: { PATH: NO_BUN_PATH, HOME: home } });
    await waitFor(() => isListening(socket) || spawner.proc.exitCode !== null, `the launched spawner to listen (stderr: ${spawner.stderr.text})`, DEADLINE_MS);
    const client = await run([join(ROOT, "bin", "portal-exec"), "--socket", socket, "--", "/usr/bin/env"], { ONLY: "this" });
    expect(client.code).toBe(0);
    expect(client.stdout).not.toContain("BUN_RUNTIME_TRANSPILER_CACHE_PATH");
    expect(client.stdout).toContain("ONLY=this\n");
    spawner.proc.kill("SIGTERM");
    expect((await finish(spawner)).code).toBe(0);
    expect(readdirSync(home)).toEqual([]);
  });

  test("through a real spawner: bin/portal-exec forwards non-UTF-8 and empty arguments byte for byte", async () => {
    const socket = scratch.path("bytes.sock");
    const spawner = startProcess(scratch, [BUN, SPAWNER, "--socket", socket]);
    await waitFor(() => isListening(socket) || spawner.proc.exitCode !== null, "the spawner to listen", DEADLINE_MS);
    for (const [shell, prefix] of SHELLS) {
      const command = exactCommand([...prefix, join(ROOT, "bin", "portal-exec"), "--socket", socket, "--", "/usr/bin/printf", "%s\\000", ...ARGS], {
        env: ["PATH=/usr/bin:/bin", `HOME=${scratch.path("home")}`],
        cwd: scratch.dir,
      });
      const proc = scratch.track(Bun.spawn(command, { stdio: ["ignore", "pipe", "pipe"] }));
      const [code, stdout, stderr] = await Promise.all([proc.exited, new Response(proc.stdout).bytes(), new Response(proc.stderr).text()]);
      expect({ shell, code, stderr }).toEqual({ shell, code: 0, stderr: "" });
      expect(Buffer.from(stdout) as Uint8Array).toEqual(nulJoined(ARGS) as Uint8Array);
    }
    spawner.proc.kill("SIGTERM");
    await finish(spawner);
  });
});

test("npm pack ships what a consumer needs, and no tests, benchmarks or builds", () => {
  const packed = Bun.spawnSync(["npm", "pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  expect(packed.exitCode).toBe(0);
  const files = (JSON.parse(packed.stdout.toString()) as Array<{ files: Array<{ path: string; mode: number }> }>)[0]!.files;
  const paths = files.map((f) => f.path);
  for (const needed of ["package.json", "README.md", "LICENSE", "src/index.ts", "src/cli/portal-exec.ts", "docs/protocol.md", ...COMMANDS.map((c) => `bin/${c}`)]) {
    expect(paths).toContain(needed);
  }
  expect(paths.filter((p) => /^(test|bench|build|scripts|overlay|package|node_modules)\//.test(p))).toEqual([]);
  for (const file of files.filter((f) => f.path.startsWith("bin/"))) expect(file.mode & 0o111).toBe(0o111);
}, 60_000);

/**
 * Why npm cannot install Bun here, or null: the installs below reuse npm's
 * cache (`npm install` in the checkout filled it), so only a registry that
 * cannot be reached at all, with nothing cached, skips them.
 */
function whyNpmCannotInstall(): string | null {
  if (!Bun.which("npm")) return "npm is not installed";
  const bun = `bun@${PACKAGE.devDependencies.bun}`;
  const view = Bun.spawnSync(["npm", "view", "--prefer-offline", bun, "version"], { cwd: scratch.dir, stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
  if (view.exitCode === 0 && view.stdout.toString().trim() === PACKAGE.devDependencies.bun) return null;
  const stderr = view.stderr.toString();
  if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|offline/i.test(stderr) || view.exitCode === null) {
    return `the npm registry cannot be reached (npm view ${bun}: ${stderr.trim().split("\n")[0] ?? "timed out"})`;
  }
  throw new Error(`npm view ${bun} failed (exit ${view.exitCode}): ${stderr}`);
}

const npmUnavailable = whyNpmCannotInstall();
if (npmUnavailable) console.warn(`skipping the npm install tests: ${npmUnavailable}`);
// CI has npm and its registry (.ci/run sets CI): there, not installing is a failure.
test.skipIf(!process.env.CI)("on CI, npm can install Bun", () => {
  expect(npmUnavailable).toBeNull();
});

/** npm with a private prefix and no lifecycle noise; throws with npm's own words on failure. */
function npm(args: string[], cwd: string): void {
  const result = Bun.spawnSync(["npm", ...args, "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, npm_config_update_notifier: "false" },
  });
  if (result.exitCode !== 0) throw new Error(`npm ${args.join(" ")} failed (exit ${result.exitCode}):\n${result.stderr.toString()}`);
}

describe.skipIf(npmUnavailable !== null)("installed with npm", () => {
  let tarball = "";
  beforeAll(() => {
    const packs = scratch.path("packs");
    mkdirSync(packs);
    npm(["pack", ROOT, "--pack-destination", packs, "--ignore-scripts"], scratch.dir);
    tarball = join(packs, readdirSync(packs).find((f) => f.endsWith(".tgz"))!);
  });

  /** The three commands in `bin`: --help works, and a request goes through its portal-spawner and portal-exec. */
  async function expectWorkingCommands(bin: string): Promise<void> {
    for (const command of COMMANDS) expectHelp(await run([join(bin, command), "--help"]), command);
    const socket = scratch.path(`installed-${relative(scratch.dir, bin).replaceAll("/", "-")}.sock`);
    const spawner = startProcess(scratch, [join(bin, "portal-spawner"), "--socket", socket], { env: { PATH: NO_BUN_PATH, HOME: scratch.path("home") } });
    await waitFor(() => isListening(socket) || spawner.proc.exitCode !== null, `${bin}/portal-spawner to listen (stderr: ${spawner.stderr.text})`, DEADLINE_MS);
    const result = await run([join(bin, "portal-exec"), "--socket", socket, "--", "/bin/sh", "-c", "echo served; exit 7"]);
    expect({ code: result.code, stdout: result.stdout, stderr: result.stderr }).toEqual({ code: 7, stdout: "served\n", stderr: "" });
    spawner.proc.kill("SIGTERM");
    expect((await finish(spawner)).code).toBe(0);
  }

  test("npm install -g of the checkout gives three working commands", async () => {
    const prefix = scratch.path("global-checkout");
    npm(["install", "-g", "--prefix", prefix, "--offline", ROOT], scratch.dir);
    expect(realpathSync(join(prefix, "lib", "node_modules", PACKAGE.name))).toBe(realpathSync(ROOT));
    await expectWorkingCommands(join(prefix, "bin"));
  }, 120_000);

  test("npm install -g of the packed tarball with bun gives three working commands, with Bun found beside them", async () => {
    const prefix = scratch.path("global-tarball");
    npm(["install", "-g", "--prefix", prefix, `bun@${PACKAGE.devDependencies.bun}`, tarball], scratch.dir);
    expect(existsSync(join(prefix, "lib", "node_modules", PACKAGE.name, "test"))).toBe(false);
    await expectWorkingCommands(join(prefix, "bin"));
  }, 180_000);

  test("in a consumer's project, node_modules/.bin has the three commands and they find the project's Bun", async () => {
    const project = scratch.path("consumer");
    mkdirSync(project);
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
    npm(["install", `bun@${PACKAGE.devDependencies.bun}`, tarball], project);
    await expectWorkingCommands(join(project, "node_modules", ".bin"));
    // The library resolves by its name, and types point at the source.
    writeFileSync(join(project, "use.ts"), `import { exec } from "${PACKAGE.name}";\nconsole.log(typeof exec);\n`);
    const used = await run([join(project, "node_modules", ".bin", "bun"), "use.ts"], {}, project);
    expect(used.stdout).toBe("function\n");
  }, 180_000);
});
