// The build scripts' command lines: --help prints the usage and builds
// nothing; an unknown option, a stray argument or a bad value is a usage
// error (exit 2) that says what is wrong and shows the usage, not a stack
// trace and not a build.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { BUN, ROOT } from "./helpers/harness.ts";

const SCRIPTS = [
  ["overlay/build.ts", "build:overlay"],
  ["package/build.ts", "build:package"],
  ["scripts/build-client.ts", "build:client"],
] as const;

function run(script: string, args: string[]) {
  const result = Bun.spawnSync([BUN, join(ROOT, script), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  return { code: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

for (const [script, npmScript] of SCRIPTS) {
  test(`${script}: -h and --help print the usage and exit 0`, () => {
    for (const flag of ["--help", "-h"]) {
      const result = run(script, [flag]);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: "" });
      expect(result.stdout).toStartWith(`usage: bun run ${npmScript} [-- options]`);
      expect(result.stdout).toContain("-h, --help");
    }
  });

  test(`${script}: an unknown option or a stray argument is a usage error (exit 2), with the usage`, () => {
    for (const [args, message] of [
      [["--no-such-option"], "Unknown option '--no-such-option'"],
      [["stray"], "stray"],
      [["--help-me"], "Unknown option '--help-me'"],
    ] as const) {
      const result = run(script, [...args]);
      expect({ code: result.code, stdout: result.stdout }).toEqual({ code: 2, stdout: "" });
      expect(result.stderr).toStartWith(`${script}: `);
      expect(result.stderr.split("\n")[0]).toContain(message);
      expect(result.stderr).toContain(`usage: bun run ${npmScript}`);
      expect(result.stderr).not.toMatch(/^\s+at /m);
    }
  });
}

test("an unknown --arch is a usage error too", () => {
  for (const script of ["overlay/build.ts", "package/build.ts"]) {
    const result = run(script, ["--arch", "mips"]);
    expect(result.code).toBe(2);
    expect(result.stderr.split("\n")[0]).toBe(`${script}: --arch: unknown architecture 'mips' (known: x64, arm64)`);
  }
});
