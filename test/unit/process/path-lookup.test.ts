// execvp's PATH rules against the environment the program gets
// (src/process/path-lookup.ts), on files in a temp dir: no process runs.
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_PATH, lookupProgram } from "../../../src/process/path-lookup.ts";
import { EACCES, ENOENT } from "../../../src/libc/errno-values.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const root = mkdtempSync(join(tmpdir(), "portal-unit-path-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function file(path: string, mode: number): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "#!/bin/sh\n");
  chmodSync(path, mode);
  return path;
}

const first = join(root, "first");
const second = join(root, "second");
file(join(first, "both"), 0o755);
file(join(second, "both"), 0o755);
file(join(second, "only-second"), 0o755);
file(join(first, "not-executable"), 0o644);
mkdirSync(join(first, "a-directory"), { recursive: true });
file(join(root, "cwd", "here"), 0o755);
file(join(root, "cwd", "bin", "tool"), 0o755);
const env = (path: string) => [enc("HOME=/nowhere"), enc(`PATH=${path}`), enc("X=1")];
const found = (result: ReturnType<typeof lookupProgram>) => (result.found ? dec(result.path) : `errno ${result.errno}`);

describe("lookupProgram", () => {
  test("takes the first PATH entry that has an executable of that name", () => {
    expect(found(lookupProgram(enc("both"), env(`${first}:${second}`)))).toBe(join(first, "both"));
    expect(found(lookupProgram(enc("both"), env(`${second}:${first}`)))).toBe(join(second, "both"));
    expect(found(lookupProgram(enc("only-second"), env(`${first}:${second}`)))).toBe(join(second, "only-second"));
  });

  test("uses the PATH of the environment it is given, not this process's", () => {
    expect(found(lookupProgram(enc("only-second"), env(first)))).toBe(`errno ${ENOENT}`);
    expect(found(lookupProgram(enc("only-second"), [enc(`PATH=${second}`)]))).toBe(join(second, "only-second"));
  });

  test("without PATH in the environment, /usr/local/bin:/usr/bin:/bin", () => {
    expect(dec(DEFAULT_PATH)).toBe("/usr/local/bin:/usr/bin:/bin");
    expect(found(lookupProgram(enc("only-second"), [enc("PATHX=" + second)]))).toBe(`errno ${ENOENT}`);
    expect(found(lookupProgram(enc("sh"), []))).toMatch(/^\/(usr\/local\/bin|usr\/bin|bin)\/sh$/);
  });

  test("skips files without execute permission and directories; only those found gives EACCES", () => {
    expect(found(lookupProgram(enc("not-executable"), env(first)))).toBe(`errno ${EACCES}`);
    expect(found(lookupProgram(enc("a-directory"), env(first)))).toBe(`errno ${EACCES}`);
    file(join(second, "not-executable"), 0o755);
    expect(found(lookupProgram(enc("not-executable"), env(`${first}:${second}`)))).toBe(join(second, "not-executable"));
  });

  test("a name with a slash is used as it is; an empty name is not found", () => {
    expect(found(lookupProgram(enc("./nowhere/prog"), env(first)))).toBe("./nowhere/prog");
    expect(found(lookupProgram(enc("/no/such/file"), env(first)))).toBe("/no/such/file");
    expect(found(lookupProgram(enc(""), env(first)))).toBe(`errno ${ENOENT}`);
  });

  test("empty and relative entries are taken from the program's cwd (base), and the result stays relative", () => {
    const cwd = enc(join(root, "cwd"));
    expect(found(lookupProgram(enc("here"), env(`${first}:`), cwd))).toBe("here");
    expect(found(lookupProgram(enc("here"), env(`:${first}`), cwd))).toBe("here");
    expect(found(lookupProgram(enc("here"), env(`${first}::${second}`), cwd))).toBe("here");
    expect(found(lookupProgram(enc("tool"), env(`bin:${first}`), cwd))).toBe("bin/tool");
    expect(found(lookupProgram(enc("tool"), env(`bin:${first}`), enc(first)))).toBe(`errno ${ENOENT}`);
  });

  test("names and PATH entries are bytes, not text", () => {
    const odd = Buffer.concat([Buffer.from(join(root, "odd-")), Buffer.from([0xff, 0xfe])]);
    mkdirSync(odd);
    writeFileSync(Buffer.concat([odd, Buffer.from("/pr\xe9g", "latin1")]), "#!/bin/sh\n", { mode: 0o755 });
    const name = new Uint8Array([0x70, 0x72, 0xe9, 0x67]);
    const result = lookupProgram(name, [new Uint8Array([...enc("PATH="), ...odd])]);
    expect(result.found && Buffer.from(result.path).equals(Buffer.concat([odd, Buffer.from([0x2f]), Buffer.from(name)]))).toBe(true);
  });
});
