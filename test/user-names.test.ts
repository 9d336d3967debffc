// User and group names as the spawner resolves them (--allow-uid, --allow-gid):
// through the C library, so every name NSS knows works, checked against
// getent (the C library's own command-line answer) for every entry this
// machine has; an unknown name is a usage error; and a name only NSS knows
// (a systemd-userdb record, in a mount namespace of the test's own) lets that
// user in, which reading /etc/passwd could not.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import { EXEC, Scratch, nobodyExecutable } from "./helpers/harness.ts";
import { cleanEnv, DEADLINE_MS, finish, launchSpawner, startSpawner } from "./helpers/cli-processes.ts";
import { startProcess } from "./helpers/harness.ts";
import { groupByName, hasUserDatabase, userByName } from "../src/libc/user-database.ts";
import { idFromFiles, resolveId } from "../src/cli/user-names.ts";

setDefaultTimeout(60_000);

let scratch: Scratch;
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  await scratch.cleanup();
});

/** name -> id for every entry `getent DATABASE` lists (files and NSS modules alike), first one winning. */
function getentIds(database: "passwd" | "group"): Map<string, number> {
  const result = Bun.spawnSync(["getent", database], { stdio: ["ignore", "pipe", "ignore"] });
  const ids = new Map<string, number>();
  for (const line of result.stdout.toString().split("\n")) {
    const [name, , id] = line.split(":");
    if (name && id !== undefined && !ids.has(name)) ids.set(name, Number(id));
  }
  return ids;
}

/** First name of /etc/passwd or /etc/group, read by hand. */
function firstNameIn(file: string): string {
  return readFileSync(file, "utf8").split("\n")[0]!.split(":")[0]!;
}

const UNKNOWN = "no-such-name-for-portal-test";
const haveGetent = Bun.which("getent") !== null;

describe("the C library's user database", () => {
  test("is there (glibc or musl)", () => {
    expect(hasUserDatabase()).toBe(true);
  });

  test.skipIf(!haveGetent)("finds every user and group getent lists, with the same ids", () => {
    const users = getentIds("passwd");
    const groups = getentIds("group");
    expect(users.size).toBeGreaterThan(0);
    for (const [name, uid] of users) expect({ name, uid: userByName(name)?.uid }).toEqual({ name, uid });
    for (const [name, gid] of groups) expect({ name, gid: groupByName(name) }).toEqual({ name, gid });
  });

  test("a name from /etc/passwd and /etc/group gives the same id as the file", () => {
    const user = firstNameIn("/etc/passwd");
    const group = firstNameIn("/etc/group");
    expect(userByName(user)?.uid).toBe(idFromFiles(user, "user")!);
    expect(groupByName(group)).toBe(idFromFiles(group, "group")!);
  });

  test("an unknown name is null, and so is one no C string can hold", () => {
    expect(userByName(UNKNOWN)).toBeNull();
    expect(groupByName(UNKNOWN)).toBeNull();
    expect(userByName("root\0x")).toBeNull();
  });
});

describe("resolveId", () => {
  test("numbers as they are, names through the database, unknown names refused", () => {
    expect(resolveId("4242", "user")).toBe(4242);
    expect(resolveId("root", "user")).toBe(0);
    expect(resolveId(firstNameIn("/etc/group"), "group")).toBe(idFromFiles(firstNameIn("/etc/group"), "group")!);
    expect(() => resolveId(UNKNOWN, "user")).toThrow(`unknown user '${UNKNOWN}'`);
    expect(() => resolveId(UNKNOWN, "group")).toThrow(`unknown group '${UNKNOWN}'`);
  });

  test("the file reader (for C libraries without lookups) agrees on /etc/passwd and knows nothing else", () => {
    expect(idFromFiles("root", "user")).toBe(0);
    expect(idFromFiles(UNKNOWN, "user")).toBeNull();
  });
});

describe("portal-spawner --allow-uid/--allow-gid", () => {
  test("names from /etc/passwd and /etc/group start it", async () => {
    const spawner = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), "--allow-uid", firstNameIn("/etc/passwd"), "--allow-gid", firstNameIn("/etc/group")]);
    expect(spawner.proc.exitCode).toBeNull();
  });

  for (const [option, kind] of [["--allow-uid", "user"], ["--allow-gid", "group"]] as const) {
    test(`${option} with an unknown name is a usage error (exit 2) and it never listens`, async () => {
      const result = await finish(launchSpawner(scratch, ["--socket", scratch.path("portal.sock"), option, UNKNOWN]), DEADLINE_MS);
      expect(result).toMatchObject({ code: 2, stdout: "" });
      expect(result.stderr).toBe(`portal-spawner: ${option}: unknown ${kind} '${UNKNOWN}'\nTry 'portal-spawner --help'.\n`);
    });
  }
});

// A user and a group that only systemd-userdb knows: JSON records in
// /run/userdb, which nss-systemd reads without any daemon. /run is a tmpfs
// of the test's own mount namespace: the machine's /run never changes.
const NSS_UID = 4242;
const NSS_GID = 4243;
const NSS_NAME = "portal-nss-test";
const USERDB_SETUP = [
  "set -e",
  "mount -t tmpfs -o mode=0755 portal-test-run /run",
  "mkdir /run/userdb",
  `printf '%s' '{"userName":"${NSS_NAME}","uid":${NSS_UID},"gid":${NSS_GID}}' > /run/userdb/${NSS_NAME}.user`,
  `printf '%s' '{"groupName":"${NSS_NAME}","gid":${NSS_GID}}' > /run/userdb/${NSS_NAME}.group`,
];
/** `sh -c` in a fresh mount namespace with the records in place, then `argv` ("$@"). */
const IN_USERDB_NAMESPACE = ["unshare", "--mount", "--propagation", "private", "sh", "-c", [...USERDB_SETUP, 'exec "$@"'].join("\n"), "sh"];

function whyNoUserdb(): string | null {
  if (process.getuid?.() !== 0) return "not running as root (a mount namespace is needed)";
  for (const tool of ["unshare", "getent", "setpriv"]) if (Bun.which(tool) === null) return `${tool} is not installed`;
  const probe = Bun.spawnSync([...IN_USERDB_NAMESPACE, "getent", "passwd", NSS_NAME], { stdio: ["ignore", "pipe", "pipe"] });
  if (!probe.stdout.toString().startsWith(`${NSS_NAME}:`)) return `this system's NSS does not read systemd-userdb records (getent: ${JSON.stringify(probe.stdout.toString() || probe.stderr.toString())})`;
  return null;
}
const whyNot = whyNoUserdb();
if (whyNot) console.warn(`user-names: skipping the systemd-userdb test: ${whyNot}`);

describe.skipIf(whyNot !== null)("a name only NSS knows", () => {
  test("--allow-uid and --allow-gid of a systemd-userdb user let exactly that user in", async () => {
    expect(idFromFiles(NSS_NAME, "user")).toBeNull();
    const socket = scratch.path("portal.sock");
    const client = await nobodyExecutable(scratch, EXEC, "portal-exec");
    chmodSync(scratch.dir, 0o755);
    const spawner = await startSpawner(scratch, ["--socket", socket, "--mode", "0666", "--allow-uid", NSS_NAME], { wrapper: IN_USERDB_NAMESPACE, expectSocket: socket });
    const asUser = (uid: number, gid: number) =>
      finish(startProcess(scratch, ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", client, "--one-shot", "--socket", socket, "sh", "-c", "exit 7"], { env: cleanEnv() }));
    expect(await asUser(NSS_UID, NSS_GID)).toMatchObject({ code: 7, stderr: "" });
    const other = await asUser(NSS_UID + 10, NSS_GID + 10);
    expect(other.code).toBe(125);
    expect(other.stderr).toContain(`uid ${NSS_UID + 10} (gid ${NSS_GID + 10}) is not allowed`);
    expect(spawner.proc.exitCode).toBeNull();

    const byGroup = await startSpawner(scratch, ["--socket", scratch.path("group.sock"), "--mode", "0666", "--allow-gid", NSS_NAME], {
      wrapper: IN_USERDB_NAMESPACE,
      expectSocket: scratch.path("group.sock"),
    });
    const inGroup = await finish(
      startProcess(scratch, ["setpriv", `--reuid=${NSS_UID + 20}`, `--regid=${NSS_GID}`, "--clear-groups", client, "--one-shot", "--socket", byGroup.socket, "sh", "-c", "exit 8"], { env: cleanEnv() }),
    );
    expect(inGroup).toMatchObject({ code: 8, stderr: "" });
  });
});
