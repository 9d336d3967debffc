// The conventions all three commands keep, as a user meets them: --version,
// help that is plain text when it does not go to a terminal, a usage mistake
// that says how to get help and exits with the command's one usage code
// (portal-exec 125, portal-spawner 2, portal 2), and `portal overlay run`
// handing whatever follows "--" to the spawner, --help included.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EXEC, PORTAL, ROOT, SPAWNER, BUN, Scratch, startProcess } from "./helpers/harness.ts";
import { cleanEnv, DEADLINE_MS, finish } from "./helpers/cli-processes.ts";
import { colourWanted, styledFor } from "../src/cli/colour.ts";
import { openPty } from "../src/libc/tty.ts";
import { pipe } from "../src/libc/file.ts";
import { buildBundle, buildExecutable, CLIENT_ENTRY } from "../scripts/build-client.ts";

setDefaultTimeout(120_000);

const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const SCRIPTS = { portal: PORTAL, "portal-exec": EXEC, "portal-spawner": SPAWNER } as const;
type CommandName = keyof typeof SCRIPTS;

let scratch: Scratch;
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  await scratch.cleanup();
});

/**
 * An environment that would let colour through if the commands only asked
 * the environment (citty alone turns colour off only for NO_COLOR=1, CI,
 * TEST and TERM=dumb): stdout being a pipe must be enough.
 */
function colourfulEnv(extra: Record<string, string | undefined> = {}) {
  return cleanEnv({ NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, TEST: undefined, TERM: "xterm-256color", ...extra });
}

function run(command: CommandName, args: string[], env = colourfulEnv()) {
  return finish(startProcess(scratch, [BUN, SCRIPTS[command], ...args], { env }), DEADLINE_MS);
}

describe("--version", () => {
  const cases: Array<[CommandName, string[], string]> = [
    ["portal", ["--version"], "portal"],
    ["portal-exec", ["--version"], "portal-exec"],
    ["portal-spawner", ["--version"], "portal-spawner"],
    ["portal", ["exec", "--version"], "portal-exec"],
    ["portal", ["spawner", "--version"], "portal-spawner"],
  ];
  for (const [command, args, name] of cases) {
    test(`${command} ${args.join(" ")} prints "${name} ${VERSION}" and exits 0`, async () => {
      expect(await run(command, args)).toEqual({ code: 0, signal: null, stdout: `${name} ${VERSION}\n`, stderr: "" });
    });
  }

  test("the built client carries the version itself: build/portal-exec and portal-exec.js, run away from the checkout", async () => {
    const executable = scratch.path("portal-exec");
    await buildExecutable(CLIENT_ENTRY, executable);
    await buildBundle(CLIENT_ENTRY, scratch.path("portal-exec.js"));
    const elsewhere = { cwd: "/", env: colourfulEnv() };
    expect(await finish(startProcess(scratch, [executable, "--version"], elsewhere), DEADLINE_MS)).toMatchObject({ code: 0, stdout: `portal-exec ${VERSION}\n`, stderr: "" });
    expect(await finish(startProcess(scratch, [BUN, scratch.path("portal-exec.js"), "--version"], elsewhere), DEADLINE_MS)).toMatchObject({
      code: 0,
      stdout: `portal-exec ${VERSION}\n`,
      stderr: "",
    });
  });
});

describe("help", () => {
  const cases: Array<[CommandName, string[]]> = [
    ["portal", ["--help"]],
    ["portal", ["-h"]],
    ["portal", ["overlay", "--help"]],
    ["portal", ["overlay", "build", "--help"]],
    ["portal", ["overlay", "run", "--help"]],
    ["portal", ["demo", "--help"]],
    ["portal", ["exec", "--help"]],
    ["portal", ["spawner", "--help"]],
    ["portal-exec", ["--help"]],
    ["portal-spawner", ["--help"]],
  ];
  for (const [command, args] of cases) {
    test(`${command} ${args.join(" ")} through a pipe: plain text, no padding at line ends, exit 0`, async () => {
      const result = await run(command, args);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
      expect(result.stdout).toContain("USAGE");
      expect(result.stdout).not.toContain("\x1b");
      expect(result.stdout.split("\n").filter((line) => /[ \t]$/.test(line))).toEqual([]);
      expect(result.stdout).toEndWith("\n");
    });
  }

  test("colour only when asked for: FORCE_COLOR=1 keeps it through a pipe, FORCE_COLOR=0 and NO_COLOR drop it", async () => {
    expect((await run("portal-exec", ["--help"], colourfulEnv({ FORCE_COLOR: "1" }))).stdout).toContain("\x1b[36m");
    expect((await run("portal", ["--help"], colourfulEnv({ FORCE_COLOR: "1" }))).stdout).toContain("\x1b[36m");
    expect((await run("portal-exec", ["--help"], colourfulEnv({ FORCE_COLOR: "0" }))).stdout).not.toContain("\x1b");
    expect((await run("portal-spawner", ["--help"], colourfulEnv({ NO_COLOR: "1" }))).stdout).not.toContain("\x1b");
  });

  test("every option is listed, --help and --version included", async () => {
    for (const command of ["portal-exec", "portal-spawner"] as const) {
      const { stdout } = await run(command, ["--help"]);
      expect(stdout).toContain("-h, --help");
      expect(stdout).toContain("--version");
    }
    expect((await run("portal", ["--help"])).stdout).toContain("--version");
  });

  test("portal overlay run --help says that options after -- go to the spawner", async () => {
    const { stdout } = await run("portal", ["overlay", "run", "--help"]);
    expect(stdout).toContain("Options after -- go to the spawner");
    expect(stdout).toContain("portal-spawner --help");
  });
});

describe("colourWanted", () => {
  test("a terminal gets colour, a pipe does not; FORCE_COLOR, NO_COLOR and TERM=dumb decide over that, in that order", () => {
    const { master, slave } = openPty();
    const [read, write] = pipe();
    try {
      const tty = slave.fd;
      const notTty = write.fd;
      expect(colourWanted(tty, {})).toBe(true);
      expect(colourWanted(notTty, {})).toBe(false);
      expect(colourWanted(tty, { NO_COLOR: "1" })).toBe(false);
      expect(colourWanted(tty, { NO_COLOR: "" })).toBe(true);
      expect(colourWanted(tty, { TERM: "dumb" })).toBe(false);
      expect(colourWanted(tty, { FORCE_COLOR: "0" })).toBe(false);
      expect(colourWanted(tty, { FORCE_COLOR: "false" })).toBe(false);
      expect(colourWanted(notTty, { FORCE_COLOR: "1" })).toBe(true);
      expect(colourWanted(notTty, { FORCE_COLOR: "" })).toBe(true);
      expect(colourWanted(notTty, { FORCE_COLOR: "1", NO_COLOR: "1" })).toBe(true);
      expect(styledFor(notTty, "\x1b[36mword\x1b[39m   \nnext\t\n", {})).toBe("word\nnext\n");
      expect(styledFor(tty, "\x1b[36mword\x1b[39m   \n", {})).toBe("\x1b[36mword\x1b[39m\n");
    } finally {
      master.close();
      slave.close();
      read.close();
      write.close();
    }
  });
});

describe("usage mistakes", () => {
  const cases: Array<[CommandName, string[], number, string]> = [
    ["portal-exec", ["--bogus", "true"], 125, "portal-exec: unknown option '--bogus' (options come before the command; use -- to end them)\nTry 'portal-exec --help'.\n"],
    ["portal", ["exec", "--bogus", "true"], 125, "portal-exec: unknown option '--bogus' (options come before the command; use -- to end them)\nTry 'portal-exec --help'.\n"],
    ["portal-spawner", ["--bogus"], 2, "portal-spawner: unknown option '--bogus'\nTry 'portal-spawner --help'.\n"],
    ["portal", ["spawner", "--bogus"], 2, "portal-spawner: unknown option '--bogus'\nTry 'portal-spawner --help'.\n"],
    ["portal-spawner", ["--log-level", "loud"], 2, "portal-spawner: unknown log level 'loud' (use error, warn, info, debug)\nTry 'portal-spawner --help'.\n"],
    ["portal", ["--bogus"], 2, "portal: unknown option '--bogus'\nTry 'portal --help'.\n"],
    ["portal", [], 2, "portal: missing command (exec, spawner, pola-run, demo, overlay)\nTry 'portal --help'.\n"],
    ["portal", ["nosuch"], 2, "portal: unknown command 'nosuch' (exec, spawner, pola-run, demo, overlay)\nTry 'portal --help'.\n"],
    ["portal", ["demo", "--bogus"], 2, "portal demo: unknown option '--bogus'\nTry 'portal demo --help'.\n"],
    ["portal", ["overlay", "--bogus"], 2, "portal overlay: unknown option '--bogus'\nTry 'portal overlay --help'.\n"],
    ["portal", ["overlay", "run", "--bogus", "image"], 2, "portal overlay run: unknown option '--bogus'\nTry 'portal overlay run --help'.\n"],
    ["portal", ["overlay", "run"], 2, "portal overlay run: missing IMAGE\nTry 'portal overlay run --help'.\n"],
    ["portal", ["overlay", "run", "image", "more"], 2, "portal overlay run: unexpected argument 'more'\nTry 'portal overlay run --help'.\n"],
    ["portal", ["overlay", "build", "dir"], 2, "portal overlay build: missing option --output\nTry 'portal overlay build --help'.\n"],
    ["portal", ["overlay", "build", "dir", "-o"], 2, "portal overlay build: option '-o' needs a value\nTry 'portal overlay build --help'.\n"],
  ];
  for (const [command, args, code, stderr] of cases) {
    test(`${command} ${args.join(" ")}: exit ${code}, and how to get help`, async () => {
      expect(await run(command, args)).toEqual({ code, signal: null, stdout: "", stderr });
    });
  }
});

test("portal overlay run IMAGE -- --help hands --help to the spawner instead of showing help", async () => {
  // The image does not exist, so the run stops there (exit 1), before anything is mounted.
  const image = scratch.path("missing.squashfs");
  const result = await run("portal", ["overlay", "run", image, "--socket", scratch.path("portal.sock"), "--state-dir", scratch.path("state"), "--", "--help"]);
  expect(result.stdout).toBe("");
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^portal overlay: /);
  expect(result.stderr).not.toContain("USAGE");
});
