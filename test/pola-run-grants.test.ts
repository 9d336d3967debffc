// Which GRANT records `portal pola-run` sends for pola-run's -f, -t and
// endowments, walking a real tree of links (no spawner needed). What the
// program then sees is in pola-run.test.ts.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Scratch } from "./helpers/harness.ts";
import { parsePolaRunArgs } from "../src/cli/pola-run-options.ts";
import { polaRunGrants } from "../src/cli/pola-run-grants.ts";
import { walkLinks } from "../src/cli/pola-run-links.ts";
import { PortalError } from "../src/client/errors.ts";

const scratch = new Scratch();
afterAll(() => scratch.cleanup());
const d = scratch.dir;
mkdirSync(join(d, "real", "sub"), { recursive: true });
writeFileSync(join(d, "real", "sub", "file"), "x");
symlinkSync("real", join(d, "dirlink"));
symlinkSync("sub/file", join(d, "real", "filelink"));
symlinkSync("filelink", join(d, "real", "chain"));
symlinkSync(`${d}/real/sub/../sub`, join(d, "absolute"));
symlinkSync("loop", join(d, "loop"));

const enc = (s: string) => new TextEncoder().encode(s);
const sent = (args: string[], home?: string) =>
  polaRunGrants(parsePolaRunArgs(["--prog", "x", ...args].map(enc), { cwd: enc(d) }), { home }).map((g) => {
    const kind = g.symlink ? "link" : g.objectWritable ? "objrw" : g.socket ? "socket" : g.writable ? "rw" : "ro";
    const [path, dest] = [g.path, g.dest!].map((p) => new TextDecoder().decode(p as Uint8Array).replace(d, "D"));
    return path === dest ? `${kind} ${dest}` : `${kind} ${dest} <- ${path}`;
  });

describe("-f: the caller's tree mirrored, links and all", () => {
  test("links in the directories become links; a final link is followed only with `l`, through a chain", () => {
    expect(sent(["-f", "dirlink/sub/file"])).toEqual(["link D/dirlink", "ro D/real/sub/file"]);
    expect(sent(["-f", "real/chain"])).toEqual(["link D/real/chain"]);
    expect(sent(["-fl", "dirlink/chain"])).toEqual(["link D/dirlink", "link D/real/chain", "link D/real/filelink", "ro D/real/sub/file"]);
    expect(sent(["-fwl", "absolute"])).toEqual(["link D/absolute", "rw D/real/sub"]);
  });

  test("the kinds: w, ,objrw, ,socket", () => {
    expect(sent(["-fw", "real", "-f,objrw", "real/sub/file", "-f,socket", "real/sub"])).toEqual(["rw D/real", "objrw D/real/sub/file", "socket D/real/sub"]);
  });

  test("what an earlier grant already shows is not granted again; the same object twice gets the wider access", () => {
    expect(sent(["-f", "real", "-fl", "real/chain", "-f", "real/sub"])).toEqual(["ro D/real"]);
    expect(sent(["-fl", "dirlink", "-fl", "dirlink"])).toEqual(["link D/dirlink", "ro D/real"]);
    expect(sent(["-f", "real/sub", "-fw", "real/sub"])).toEqual(["rw D/real/sub"]);
    // Read-write inside a read-only grant is a grant of its own.
    expect(sent(["-f", "real", "-fw", "real/sub"])).toEqual(["ro D/real", "rw D/real/sub"]);
  });

  test("a loop of links, or a missing name, is an error naming the pathname", () => {
    expect(() => sent(["-fl", "loop"])).toThrow(new PortalError("usage", `cannot grant '${d}/loop': Too many levels of symbolic links`));
    expect(() => walkLinks(`${d}/dirlink/missing/file`, true)).toThrow(`cannot grant '${d}/dirlink/missing/file': No such file or directory ('${d}/real/missing')`);
  });
});

describe("-t: SRC at DEST", () => {
  test("a link at SRC's end goes to DEST as a link; with `l`, what it leads to; links in SRC's directories are just followed", () => {
    expect(sent(["-t", "/in", "real/filelink"])).toEqual(["link /in <- D/real/filelink"]);
    expect(sent(["-tl", "/in", "real/chain"])).toEqual(["ro /in <- D/real/chain"]);
    expect(sent(["-tw", "/out", "dirlink/sub"])).toEqual(["rw /out <- D/dirlink/sub"]);
  });

  test("two different objects at one place are an error", () => {
    expect(() => sent(["-t", "/in", "real", "-t", "/in", "real/sub"])).toThrow("'/in' is granted twice, as different things");
  });
});

describe("endowments", () => {
  test("-B is /usr, /bin, /lib, /lib64 with `l`, before the other grants; --x11 adds ~/.Xauthority", () => {
    const standard = sent(["-f", "real", "-B"]);
    expect(standard.at(-1)).toBe("ro D/real");
    expect(standard[0]).toBe("ro /usr");
    expect(standard.slice(0, -1).every((g) => /^(ro|link) \/(usr|bin|lib|lib64)(\/|$)/.test(g))).toBe(true);
    writeFileSync(join(d, ".Xauthority"), "cookie");
    expect(sent(["--x11"], d).filter((g) => g.includes("Xauthority"))).toEqual(["ro D/.Xauthority"]);
  });
});
