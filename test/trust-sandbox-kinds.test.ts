// The revision 3 grant kinds under --sandbox, from a raw client run as
// nobody (only the spawner's checks stand in the way): a symbolic link
// grant must carry a link and nothing else, a socket grant asks for what
// connecting needs, no grant covers the sandbox's own /dev or /proc, and the
// tree is built without ever following a link of the client's.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { asNobody, EXEC, Scratch, startProcess, whyNoNobody, nobodyExecutable } from "./helpers/harness.ts";
import { finish, startSpawner, type RunningSpawner } from "./helpers/cli-processes.ts";
import { GrantFlag } from "../src/protocol/v2.ts";
import { bindUnix, listenOn, unixSocket } from "../src/libc/socket.ts";
import { SOCK_STREAM } from "../src/libc/constants.ts";
import type { OwnedFd } from "../src/libc/owned-fd.ts";
import type { V2Ending } from "./helpers/raw-client.ts";

const unavailable = whyNoNobody();
if (unavailable) console.warn(`skipping sandbox grant kind tests: ${unavailable}`);

const STD = ["/usr", "/bin", "/lib", ...(existsSync("/lib64") ? ["/lib64"] : [])];
const NOBODY = 65534;
/** The C library this Bun runs on, as the kernel mapped it. */
const LIBC = readFileSync("/proc/self/maps", "utf8").split("\n").map((line) => line.split(/\s+/)[5] ?? "").find((path) => /\/libc[.-][^/]*so/.test(path)) ?? "/usr/lib/libc.so.6";

describe.skipIf(unavailable !== null)("--sandbox: grant kinds, checked as the peer", () => {
  const scratch = new Scratch();
  let spawner: RunningSpawner;
  let rawGrant: string;
  let client: string;
  let server: OwnedFd | null = null;
  const own = scratch.path("nobody-owns");

  beforeAll(async () => {
    [rawGrant, client] = await Promise.all([
      nobodyExecutable(scratch, join(import.meta.dir, "helpers/o-path-grant.ts"), "o-path-grant"),
      nobodyExecutable(scratch, EXEC, "portal-exec"),
    ]);
    mkdirSync(own);
    writeFileSync(join(own, "file.txt"), "nobody's\n");
    symlinkSync("file.txt", join(own, "link"));
    // A link in nobody's own tree that leads to the C library the spawner's exec step loads as root.
    symlinkSync(dirname(LIBC), join(own, "escape"));
    for (const path of [own, join(own, "file.txt")]) chownSync(path, NOBODY, NOBODY);
    server = unixSocket(SOCK_STREAM);
    bindUnix(server, Buffer.from(scratch.path("root.sock")));
    listenOn(server, 4);
    chmodSync(scratch.path("root.sock"), 0o600);
    spawner = await startSpawner(scratch, ["--socket", scratch.path("s.sock"), "--sandbox", "--mode", "0666", "--allow-uid", String(NOBODY)], {
      expectSocket: scratch.path("s.sock"),
    });
  }, 120_000);
  afterAll(async () => {
    server?.close();
    await scratch.cleanup();
  });

  /** The raw client, as nobody: the standard endowment, then `grants` (FLAGS:DEST=SRC), running `script`. */
  const raw = async (grants: string[], script = "true"): Promise<V2Ending> => {
    const all = [...STD.map((dir) => `0:${dir}=${dir}`), ...grants];
    const result = await finish(startProcess(scratch, [...asNobody(), rawGrant, spawner.socket, ...all, "--", "/bin/sh", "-c", script], { cwd: "/" }));
    expect(result.stderr).toBe("");
    return JSON.parse(result.stdout) as V2Ending;
  };

  test("a symbolic link grant is re-created in the sandbox; one whose fd is no link, or that asks for access, is refused", async () => {
    const link = await raw([`${GrantFlag.Symlink}:/l=${join(own, "link")}`], 'test "$(readlink /l)" = file.txt');
    expect(link.refused).toBeNull();
    expect(link.outcome).toMatchObject({ kind: "exited", code: 0 });
    const notALink = await raw([`${GrantFlag.Symlink}:/l=${join(own, "file.txt")}`]);
    expect(notALink.refused?.reason).toBe("the grant at '/l' is flagged as a symbolic link, but its fd is not one (open it with O_PATH | O_NOFOLLOW)");
    const withAccess = await raw([`${GrantFlag.Symlink | GrantFlag.Writable}:/l=${join(own, "link")}`]);
    expect(withAccess.refused?.reason).toBe("the symbolic link granted at '/l' carries access flags: a link has no access of its own");
  });

  test("a socket grant asks for what connecting needs: a root-only socket is refused", async () => {
    const ending = await raw([`${GrantFlag.Socket}:/s=${scratch.path("root.sock")}`]);
    expect(ending.refused?.reason).toBe(`uid ${NOBODY} may not connect to what it granted at '/s': Permission denied`);
  });

  test("no grant covers the sandbox's own /dev or /proc", async () => {
    for (const dest of ["/dev", "/proc", "/proc/1", "/dev/pts"]) {
      const ending = await raw([`0:${dest}=${own}`]);
      expect(ending.refused?.reason).toMatch(new RegExp(`^the grant at '${dest}' would cover the sandbox's own /(dev|proc)`));
    }
  });

  test("a grant placed through a link of the client's own tree is refused: the link would aim a root-made mount at the spawner's files", async () => {
    expect(existsSync(LIBC)).toBe(true);
    const dest = `/d/escape/${basename(LIBC)}`;
    const result = await finish(startProcess(scratch, [...asNobody(), client, "--socket", spawner.socket, "--grant-std", "--grant-at", `/d=${own}`, "--grant-at", `${dest}=${join(own, "file.txt")}`, "--", "/bin/true"], { cwd: "/" }));
    expect(result.stderr).toBe(`portal-exec: cannot place the grant at '${dest}': a symbolic link is in the way (the sandbox never follows one while it is built)\n`);
    expect(result.code).toBe(125);
  });
});
