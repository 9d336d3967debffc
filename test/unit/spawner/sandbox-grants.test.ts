// The parts of the grant checks that need no other user (src/spawner/
// sandbox-grants.ts): no grant may replace the spawner's PROGRAM, and where
// a sandboxed program starts.
import { afterAll, describe, expect, test } from "bun:test";
import { openFile } from "../../../src/libc/file.ts";
import { O_NOFOLLOW, O_PATH, O_RDONLY } from "../../../src/libc/constants.ts";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { OwnedFd } from "../../../src/libc/owned-fd.ts";
import { checkGrants, sandboxCwd, type CheckedGrant } from "../../../src/spawner/sandbox-grants.ts";
import { createRequest } from "../../../src/spawner/request.ts";
import { Refusal } from "../../../src/spawner/refusal.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const opened: OwnedFd[] = [];
const dir = mkdtempSync(join(tmpdir(), "portal-unit-"));
const LINK = join(dir, "link");
symlinkSync("/usr/bin", LINK);
afterAll(() => {
  opened.forEach((fd) => fd.close());
  rmSync(dir, { recursive: true, force: true });
});

function devNull(): OwnedFd {
  const fd = openFile("/dev/null", O_RDONLY);
  opened.push(fd);
  return fd;
}

/** An O_PATH | O_NOFOLLOW fd of a symbolic link, as a link grant carries. */
function aLink(): OwnedFd {
  const fd = openFile(LINK, O_PATH | O_NOFOLLOW);
  opened.push(fd);
  return fd;
}

function requestGranting(dest: string, symlink: boolean) {
  const fd = symlink ? aLink() : devNull();
  const grant = { dest: enc(dest), writable: false, symlink, objectWritable: false, socket: false, fd };
  const replies = { started() {}, stopped() {}, ptyMaster() {} };
  return createRequest(
    {
      protocol: 3, args: [], env: [], cwd: null, cwdFd: null, fds: new Map(), grants: [grant], context: null, pty: null,
      peer: { pid: 1, uid: process.getuid!(), gid: process.getgid!() }, peerGroups: [], peerNamespace: null,
    },
    replies,
  ).request;
}

describe("checkGrants and the spawner's PROGRAM", () => {
  const program = enc("/usr/bin/tool");

  test("a grant at the program's path, or below it, is refused, naming both", () => {
    for (const dest of ["/usr/bin/tool", "/usr/bin/tool/x"]) {
      let error: unknown;
      try {
        checkGrants(requestGranting(dest, false), program);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(Refusal);
      expect((error as Refusal).message).toBe(`the grant at '${dest}' would replace the spawner's program '/usr/bin/tool'`);
    }
  });

  test("a grant beside it, or without a PROGRAM, passes that check (a symlink grant needs no access check)", () => {
    for (const [dest, fixed] of [["/usr/bin/toolbox", program], ["/usr/bin/tool", null]] as const) {
      expect(checkGrants(requestGranting(dest, true), fixed).map((g) => [new TextDecoder().decode(g.dest), g.kind])).toEqual([[dest, "symlink"]]);
    }
  });

  test("a symbolic link granted at a directory above it is refused: the program is bound at its path inside that directory", () => {
    expect(() => checkGrants(requestGranting("/usr/bin", true), program)).toThrow(
      "the symbolic link granted at '/usr/bin' would replace a directory holding the spawner's program '/usr/bin/tool'",
    );
  });
});

describe("sandboxCwd", () => {
  const grant = (dest: string, kind: CheckedGrant["kind"]) => ({ fd: devNull(), dest: enc(dest), kind });
  const grants = [grant("/srv", "ro"), grant("/home/me", "rw"), grant("/link", "symlink")];
  const cwd = (path: string | null) => new TextDecoder().decode(sandboxCwd(path === null ? null : enc(path), grants));

  test("the client's cwd when it lies in a granted tree (read-only or read-write)", () => {
    expect(cwd("/srv")).toBe("/srv");
    expect(cwd("/srv/data/x")).toBe("/srv/data/x");
    expect(cwd("/home/me/src")).toBe("/home/me/src");
  });

  test("else /: outside every grant, a mere name prefix, under a symlink grant, relative, or none", () => {
    expect(cwd("/etc")).toBe("/");
    expect(cwd("/srvx")).toBe("/");
    expect(cwd("/link/below")).toBe("/");
    expect(cwd("srv")).toBe("/");
    expect(cwd(null)).toBe("/");
  });
});
