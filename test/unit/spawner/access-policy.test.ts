// Who may use the spawner, and which client variables reach the program
// (src/spawner/access-policy.ts).
import { describe, expect, test } from "bun:test";
import { checkPeer, compileEnvPolicy, defaultAccessPolicy, programEnvironment } from "../../../src/spawner/access-policy.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const peer = { pid: 4321, uid: 1000, gid: 100 };

describe("checkPeer", () => {
  test("a peer passes by its uid or by its primary gid; otherwise the reason names both", () => {
    expect(checkPeer({ uids: new Set([1000]), gids: new Set() }, peer)).toBeNull();
    expect(checkPeer({ uids: new Set(), gids: new Set([100]) }, peer)).toBeNull();
    expect(checkPeer({ uids: new Set([0, 1001]), gids: new Set([101]) }, peer)).toBe("uid 1000 (gid 100) is not allowed");
  });

  test("by default root and the spawner's own uid are allowed, no group", () => {
    const policy = defaultAccessPolicy();
    expect([...policy.uids].sort()).toEqual([...new Set([0, process.getuid!()])].sort());
    expect(policy.gids.size).toBe(0);
  });
});

describe("compileEnvPolicy", () => {
  const names = ["LC_ALL", "LC_CTYPE", "LANG", "LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "A.B", "AxB"];
  const passing = (allow: string[], deny: string[]) => names.filter(compileEnvPolicy({ allow, deny }));

  test("no patterns: everything passes", () => {
    expect(passing([], [])).toEqual(names);
  });

  test("allow patterns let only matches through; deny patterns then remove matches", () => {
    expect(passing(["LC_*"], [])).toEqual(["LC_ALL", "LC_CTYPE"]);
    expect(passing([], ["LD_*"])).toEqual(["LC_ALL", "LC_CTYPE", "LANG", "PATH", "A.B", "AxB"]);
    expect(passing(["L*"], ["LD_*", "LANG"])).toEqual(["LC_ALL", "LC_CTYPE"]);
  });

  test("? is one character; a pattern matches the whole name; other characters are literal", () => {
    expect(passing(["LAN?"], [])).toEqual(["LANG"]);
    expect(passing(["LC"], [])).toEqual([]);
    expect(passing(["A.B"], [])).toEqual(["A.B"]);
  });
});

describe("programEnvironment", () => {
  test("the client's entries in order, byte-exact, then PORTAL_PEER_PID, _UID, _GID", () => {
    const odd = new Uint8Array([...enc("ODD="), 0xff, 0x01]);
    const env = programEnvironment([enc("B=2"), odd, enc("A=1")], peer, () => true);
    expect(env).toEqual([enc("B=2"), odd, enc("A=1"), enc("PORTAL_PEER_PID=4321"), enc("PORTAL_PEER_UID=1000"), enc("PORTAL_PEER_GID=100")]);
  });

  test("a client cannot supply any PORTAL_PEER_ variable, even one the spawner does not set", () => {
    const env = programEnvironment([enc("PORTAL_PEER_UID=0"), enc("PORTAL_PEER_X=1"), enc("PORTAL_PEERS=kept")], peer, () => true);
    expect(env.map(dec)).toEqual(["PORTAL_PEERS=kept", "PORTAL_PEER_PID=4321", "PORTAL_PEER_UID=1000", "PORTAL_PEER_GID=100"]);
  });

  test("the policy sees each name (the part before '='; the whole entry when there is none); PORTAL_PEER_* are set regardless", () => {
    const seen: string[] = [];
    const env = programEnvironment([enc("KEEP=1"), enc("DROP=2"), enc("NOEQUALS")], peer, (name) => {
      seen.push(name);
      return name !== "DROP";
    });
    expect(seen).toEqual(["KEEP", "DROP", "NOEQUALS"]);
    expect(env.map(dec)).toEqual(["KEEP=1", "NOEQUALS", "PORTAL_PEER_PID=4321", "PORTAL_PEER_UID=1000", "PORTAL_PEER_GID=100"]);
    expect(programEnvironment([enc("A=1")], peer, () => false).map(dec)).toEqual(["PORTAL_PEER_PID=4321", "PORTAL_PEER_UID=1000", "PORTAL_PEER_GID=100"]);
  });
});
