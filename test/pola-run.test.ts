// `portal pola-run`: pola-run's own command line against a --sandbox
// spawner. Each option, the `l` symlink cases, -t refusing links among its
// destination's directories, objrw and socket grants, and a script written
// the way pola-run scripts are, compared with running its commands directly.
// The parser alone is in pola-run-options.test.ts.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, PORTAL, Scratch, startProcess, type StartOptions } from "./helpers/harness.ts";
import { cleanEnv, finish, startSpawner, type Finished, type RunningSpawner } from "./helpers/cli-processes.ts";
import { bindUnix, listenOn, unixSocket } from "../src/libc/socket.ts";
import { SOCK_STREAM } from "../src/libc/constants.ts";
import type { OwnedFd } from "../src/libc/owned-fd.ts";

const unavailable = process.getuid?.() !== 0 ? "not root: --sandbox makes mount and pid namespaces" : null;
if (unavailable) console.warn(`skipping pola-run sandbox tests: ${unavailable}`);

describe.skipIf(unavailable !== null)("portal pola-run against a --sandbox spawner", () => {
  const scratch = new Scratch();
  const dir = scratch.dir;
  const files = join(dir, "files");
  let spawner: RunningSpawner;
  let listening: OwnedFd | null = null;

  beforeAll(async () => {
    mkdirSync(files);
    writeFileSync(join(files, "target.txt"), "target\n");
    symlinkSync("target.txt", join(files, "link"));
    symlinkSync("link", join(files, "chain"));
    symlinkSync(join(files, "target.txt"), join(files, "absolute"));
    symlinkSync("files", join(dir, "dirlink"));
    spawner = await startSpawner(scratch, ["--socket", scratch.path("sandbox.sock"), "--sandbox"], { expectSocket: scratch.path("sandbox.sock") });
  });

  afterAll(async () => {
    listening?.close();
    await scratch.cleanup();
  });

  const polaRun = (args: string[], options: StartOptions = {}): Promise<Finished> =>
    finish(startProcess(scratch, [BUN, PORTAL, "pola-run", "--socket", spawner.socket, ...args], options));
  /** `sh -c SCRIPT sh ARGS...` in the sandbox with the standard endowment and `grants`. */
  const shell = (script: string, grants: string[], options: StartOptions = {}) =>
    polaRun(["--prog=sh", "-B", "-a=-c", "-a", script, "-a=sh", ...grants], options);
  /** What the program sees at each path: "link -> TEXT" or "no link", then its content or "unreadable". */
  const LOOK = 'for p in "$@"; do t=$(readlink "$p") && echo "$p: link -> $t" || echo "$p: no link"; cat "$p" 2>/dev/null || echo "$p: unreadable"; done';

  test("--prog is looked up in the sandbox's view: its PATH there, not the caller's files", async () => {
    const callerBin = scratch.path("caller-bin");
    mkdirSync(callerBin);
    writeFileSync(join(callerBin, "tool"), "#!/bin/sh\necho caller\n", { mode: 0o755 });
    writeFileSync(scratch.path("tool.sh"), '#!/bin/sh\necho "sandbox: $0 $*"\n', { mode: 0o755 });
    // sandbox-bin exists only in the sandbox (-t makes it); the caller's PATH lookup would find caller-bin/tool.
    const path = `${scratch.path("sandbox-bin")}:${callerBin}:/usr/bin:/bin`;
    const result = await polaRun(["--prog", "tool", "-B", "-t", scratch.path("sandbox-bin/tool"), scratch.path("tool.sh"), "-a", "one", "-a=two"], { env: cleanEnv({ PATH: path }) });
    expect(result).toMatchObject({ code: 0, stdout: `sandbox: ${scratch.path("sandbox-bin/tool")} one two\n`, stderr: "" });
    const missing = await polaRun(["--prog", "tool", "-B"], { env: cleanEnv({ PATH: path }) });
    expect(missing.code).toBe(127);
    expect(missing.stderr).toContain("cannot run 'tool': No such file or directory");
  });

  test("-a and the `a` of -fa / -ta make the argument list, in order", async () => {
    const result = await shell('printf "%s|" "$@"; echo; cat "$2" "$4"', ["-a", "first", "-fa", join(files, "target.txt"), "-a=third", "-ta=/in.txt", join(files, "target.txt")]);
    expect(result).toMatchObject({ code: 0, stdout: `first|${join(files, "target.txt")}|third|/in.txt|\ntarget\ntarget\n`, stderr: "" });
  });

  test("-f grants read-only, -fw read-write (the caller's file changes); nothing else is there", async () => {
    const rw = scratch.path("rw.txt");
    writeFileSync(rw, "before\n");
    const result = await shell(
      `echo x >> ${join(files, "target.txt")} 2>/dev/null && echo ro-written || echo ro-refused; echo after > ${rw} && echo rw-written; test -e ${scratch.path("tool.sh")} && echo other-visible || echo other-invisible`,
      ["-f", join(files, "target.txt"), "-fw", rw],
    );
    expect(result).toMatchObject({ code: 0, stdout: "ro-refused\nrw-written\nother-invisible\n" });
    expect(readFileSync(rw, "utf8")).toBe("after\n");
    expect(readFileSync(join(files, "target.txt"), "utf8")).toBe("target\n");
  });

  describe("symbolic links", () => {
    test("-f of a link grants the link only; -fl grants it and what it leads to", async () => {
      const link = join(files, "link");
      expect((await shell(LOOK, ["-a", link, "-f", link])).stdout).toBe(`${link}: link -> target.txt\n${link}: unreadable\n`);
      expect((await shell(LOOK, ["-a", link, "-fl", link])).stdout).toBe(`${link}: link -> target.txt\ntarget\n`);
    });

    test("-fl follows a chain of links, relative and absolute, granting each", async () => {
      const [chain, link, absolute] = [join(files, "chain"), join(files, "link"), join(files, "absolute")];
      const result = await shell(LOOK, ["-a", chain, "-a", link, "-a", absolute, "-fl", chain, "-fl", absolute]);
      expect(result.stdout).toBe(
        `${chain}: link -> link\ntarget\n${link}: link -> target.txt\ntarget\n${absolute}: link -> ${join(files, "target.txt")}\ntarget\n`,
      );
    });

    test("a link among a pathname's directories is granted as a link, with or without `l`", async () => {
      const through = join(dir, "dirlink", "target.txt");
      const result = await shell(`${LOOK}; ls ${files}`, ["-a", join(dir, "dirlink"), "-a", through, "-f", through]);
      expect(result.stdout).toBe(`${join(dir, "dirlink")}: link -> files\n${join(dir, "dirlink")}: unreadable\n${through}: no link\ntarget\ntarget.txt\n`);
    });

    test("-t of a link puts the link at DEST (its text resolved in the sandbox); -tl puts what it leads to", async () => {
      const link = join(files, "link");
      expect((await shell(LOOK, ["-a", "/in", "-t", "/in", link])).stdout).toBe("/in: link -> target.txt\n/in: unreadable\n");
      expect((await shell(LOOK, ["-a", "/in", "-tl", "/in", link])).stdout).toBe("/in: no link\ntarget\n");
    });

    test("-t refuses a granted link among its destination's directories, in either order", async () => {
      const under = join(dir, "dirlink", "x");
      for (const grants of [["-f", join(dir, "dirlink"), "-t", under, join(files, "target.txt")], ["-t", under, join(files, "target.txt"), "-f", join(dir, "dirlink")]]) {
        const result = await shell("echo ran", grants);
        expect(result.code).toBe(125);
        expect(result.stdout).toBe("");
        expect(result.stderr).toMatch(/^pola-run: the spawner refused the request: (the grant at '.*\/dirlink\/x' lies under the symbolic link granted at '.*\/dirlink'|the symbolic link granted at '.*\/dirlink' would replace the directory holding the grant at '.*\/dirlink\/x')/);
      }
    });

    test("a grant inside a granted directory never goes through a link of the caller's tree (it would put a mount anywhere)", async () => {
      const tree = scratch.path("tree");
      mkdirSync(tree);
      symlinkSync("/usr/bin", join(tree, "escape"));
      const result = await polaRun(["--prog=/bin/true", "-B", "-t", "/t", tree, "-t", "/t/escape/true", join(files, "target.txt")]);
      expect(result.code).toBe(125);
      expect(result.stderr).toBe("pola-run: cannot place the grant at '/t/escape/true': a symbolic link is in the way (the sandbox never follows one while it is built)\n");
    });
  });

  test(",objrw: the object is writable, its slot is not (nor its directory); a device works only so", async () => {
    const object = scratch.path("object.txt");
    writeFileSync(object, "old\n");
    const script = `echo new > ${object} && echo wrote; rm -f ${object} 2>/dev/null && echo removed || echo not-removed; mv ${object} ${object}.2 2>/dev/null && echo moved || echo not-moved; touch ${scratch.path("sibling")} 2>/dev/null && echo sibling || echo no-sibling`;
    const result = await shell(script, ["-f,objrw", object]);
    expect(result).toMatchObject({ code: 0, stdout: "wrote\nnot-removed\nnot-moved\nno-sibling\n" });
    expect(readFileSync(object, "utf8")).toBe("new\n");
    const write = 'echo x > "$1" 2>/dev/null && echo written || echo refused';
    expect((await shell(write, ["-a", "/data/null", "-t", "/data/null", "/dev/null"])).stdout).toBe("refused\n");
    expect((await shell(write, ["-a", "/data/null", "-t,objrw", "/data/null", "/dev/null"])).stdout).toBe("written\n");
    // pola-run's -B spells these out: they join the sandbox's own /dev.
    expect((await shell(write, ["-a", "/dev/null", "-fl,objrw", "/dev/null", "-fl,objrw", "/dev/tty"])).stdout).toBe("written\n");
  });

  test(",socket: the program connects to the sockets, and writes nothing else there", async () => {
    const sockets = scratch.path("sockets");
    mkdirSync(sockets);
    writeFileSync(join(sockets, "file"), "unchanged\n");
    listening = unixSocket(SOCK_STREAM);
    bindUnix(listening, Buffer.from(join(sockets, "server")));
    listenOn(listening, 4);
    const connect = `perl -MSocket -e 'socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die; print connect($s, pack_sockaddr_un($ARGV[0])) ? "connected\\n" : "not connected: $!\\n"' ${join(sockets, "server")}; echo x > ${join(sockets, "file")} 2>/dev/null && echo wrote || echo write-refused; touch ${join(sockets, "new")} 2>/dev/null && echo made || echo make-refused`;
    for (const grant of [["-f,socket", sockets], ["-f,socket", join(sockets, "server"), "-f", join(sockets, "file")]]) {
      const result = await shell(connect, grant);
      expect(result).toMatchObject({ code: 0, stdout: "connected\nwrite-refused\nmake-refused\n" });
    }
    expect(readFileSync(join(sockets, "file"), "utf8")).toBe("unchanged\n");
    // Not granted: not there.
    expect((await shell(connect, [])).stdout).toBe("not connected: No such file or directory\nwrite-refused\nmake-refused\n");
  });

  test("--cwd, --no-cwd, --copy-cwd: pathnames resolve against the most recent; the last is the program's cwd", async () => {
    const work = scratch.path("work");
    mkdirSync(join(work, "sub"), { recursive: true });
    writeFileSync(join(work, "a.txt"), "a\n");
    writeFileSync(join(work, "sub", "b.txt"), "b\n");
    const script = 'pwd; echo "$@"; cat ../a.txt b.txt';
    const relative = await polaRun(["--prog", "sh", "-B", "-a=-c", "-a", script, "-a=sh", "--cwd", work, "-fa", "a.txt", "--cwd=sub", "-fa=b.txt"]);
    // `a` appends the pathname as given: relative names mean what they meant where they stood only if the cwd agrees.
    expect(relative).toMatchObject({ code: 0, stdout: `${join(work, "sub")}\na.txt b.txt\na\nb\n`, stderr: "" });
    // The caller's cwd (the scratch dir) holds the grants: the program starts there.
    expect((await polaRun(["--prog=/bin/pwd", "-B", "-f", "files/target.txt"])).stdout).toBe(`${dir}\n`);
    expect((await polaRun(["--no-cwd", "--prog=/bin/pwd", "-B", "-f", join(files, "target.txt")])).stdout).toBe("/\n");
    expect((await polaRun(["--no-cwd", "--copy-cwd", "--prog=/bin/pwd", "-B", "-f", "files/target.txt"])).stdout).toBe(`${dir}\n`);
    // A cwd that is not in the sandbox leaves the program in /.
    expect((await polaRun(["--cwd", work, "--prog=/bin/pwd", "-B"])).stdout).toBe("/\n");
    const noCwd = await polaRun(["--no-cwd", "--prog=sh", "-f", "relative"]);
    expect(noCwd.code).toBe(125);
    expect(noCwd.stderr).toContain("-f: 'relative' is relative, but --no-cwd left no directory to resolve it against");
  });

  test("-B grants /usr, and /bin, /lib, /lib64 as they are here (links on a merged /usr)", async () => {
    const result = await polaRun(["--prog=/bin/sh", "-B", "-a=-c", "-a", 'for p in /*; do t=$(readlink "$p") && echo "$p -> $t" || echo "$p"; done']);
    const here = (p: string) => {
      try {
        return `${p} -> ${readlinkSync(p)}`;
      } catch {
        return p;
      }
    };
    const expected = ["/bin", "/lib", "/lib64", "/usr"].filter((p) => existsSync(p)).map(here);
    expect(result.stdout.trim().split("\n").filter((line) => !["/dev", "/proc"].includes(line))).toEqual(expected);
  });

  test("--net grants resolv.conf, hosts and services (those there are); --x11 grants ~/.Xauthority", async () => {
    const present = ["/etc/resolv.conf", "/etc/hosts", "/etc/services"].filter((f) => existsSync(f));
    const net = await shell('cat "$@"; ls /etc', ["--net", ...present.flatMap((f) => ["-a", f])]);
    expect(net.code).toBe(0);
    expect(net.stdout).toBe(`${present.map((f) => readFileSync(f, "utf8")).join("")}${present.map((f) => f.slice(5)).sort().join("\n")}\n`);
    const home = scratch.path("home");
    mkdirSync(home);
    writeFileSync(join(home, ".Xauthority"), "cookie\n");
    const x11 = await shell('cat "$HOME/.Xauthority"; ls -A "$HOME"', ["--x11"], { env: cleanEnv({ HOME: home }) });
    expect(x11).toMatchObject({ code: 0, stdout: "cookie\n.Xauthority\n" });
  });

  test("`s` is accepted; a writable grant lets the program make links either way (the kernel has no switch for it)", async () => {
    const out = scratch.path("links-out");
    mkdirSync(out);
    for (const option of ["-fw", "-fws"]) {
      const result = await shell(`ln -s target ${out}/made${option} && echo linked`, [option, out]);
      expect(result).toMatchObject({ code: 0, stdout: "linked\n" });
      expect(readlinkSync(join(out, `made${option}`))).toBe("target");
    }
  });

  test("a grant names an object that exists: -fw of a missing file is an error at the client", async () => {
    const result = await polaRun(["--prog=/bin/true", "-fw", scratch.path("not-yet.txt")]);
    expect(result).toMatchObject({ code: 125, stderr: `pola-run: cannot grant '${scratch.path("not-yet.txt")}': No such file or directory\n` });
  });

  test("--powerbox and --pet-name are refused before anything runs", async () => {
    const result = await polaRun(["--prog=/bin/true", "--powerbox", "--pet-name", "x"]);
    expect(result.code).toBe(125);
    expect(result.stderr).toBe("pola-run: --powerbox is not supported: there is no powerbox here (grant what the program needs with -f or -t)\nTry 'portal pola-run --help'.\n");
  });

  test("a spawner's fixed PROGRAM reached through a link is bound at its real place: a client's link there does not refuse it", async () => {
    mkdirSync(scratch.path("real-bin"));
    writeFileSync(scratch.path("real-bin/worker"), '#!/bin/sh\necho "worker: $*"\n', { mode: 0o755 });
    symlinkSync("real-bin", scratch.path("link-bin"));
    const fixed = await startSpawner(scratch, ["--socket", scratch.path("fixed.sock"), "--sandbox", "--", scratch.path("link-bin/worker")], { expectSocket: scratch.path("fixed.sock") });
    const result = await finish(startProcess(scratch, [BUN, PORTAL, "pola-run", "--socket", fixed.socket, "--prog=first", "-a=second", "-B", "-fl", scratch.path("link-bin")]));
    expect(result).toMatchObject({ code: 0, stdout: "worker: first second\n", stderr: "" });
  });

  test("a script written for pola-run runs unchanged and gives what its commands give run directly", async () => {
    const bin = scratch.path("bin");
    mkdirSync(bin);
    // What `pola-run` on PATH is, for a script that calls it by that name.
    writeFileSync(join(bin, "pola-run"), `#!/bin/sh\nexec ${BUN} ${PORTAL} pola-run "$@"\n`, { mode: 0o755 });
    const work = scratch.path("script-work");
    mkdirSync(work);
    writeFileSync(join(work, "input.txt"), "pear\napple\nfig\n");
    // In pola-run's style: --arg=param, -fa / -fwa granting and naming files, -B for the installation.
    const script = [
      "#!/bin/sh",
      "set -e",
      'cd "$1"',
      ": > upper.txt",
      `pola-run --prog=/bin/sh -B -a=-c -a='tr a-z A-Z < "$1" > "$2"' -a=sh -fa=input.txt -fwa=upper.txt`,
      "pola-run --prog sort -B -fa input.txt",
      "pola-run --prog=wc -B -a=-l --cwd=.. -fa=script-work/upper.txt",
      "cat upper.txt",
    ].join("\n");
    writeFileSync(scratch.path("script.sh"), `${script}\n`);
    chmodSync(scratch.path("script.sh"), 0o755);
    const viaPortal = await finish(startProcess(scratch, [scratch.path("script.sh"), work], { env: cleanEnv({ PATH: `${bin}:/usr/bin:/bin`, PORTAL_NAME: spawner.socket }) }));
    // The same commands, run directly (pola-run's part is only the grants).
    const direct = Bun.spawnSync(["/bin/sh", "-c", 'cd "$1"; tr a-z A-Z < input.txt > upper.txt; sort input.txt; cd ..; wc -l script-work/upper.txt; cd script-work; cat upper.txt', "sh", work]);
    expect(viaPortal.stderr).toBe("");
    expect(viaPortal.code).toBe(0);
    expect(viaPortal.stdout).toBe(direct.stdout.toString());
    expect(viaPortal.stdout).toBe("apple\nfig\npear\n3 script-work/upper.txt\nPEAR\nAPPLE\nFIG\n");
  });
});
