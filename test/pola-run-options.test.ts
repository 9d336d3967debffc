// pola-run's command line as `portal pola-run` parses it (pure: no files,
// no spawner). What the grants do in a sandbox is in pola-run.test.ts.
import { describe, expect, test } from "bun:test";
import { parsePolaRunArgs, UsageError, type PolaRunPlan } from "../src/cli/pola-run-options.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString("latin1"));
const parse = (args: string[], cwd = "/home/u/work") => parsePolaRunArgs(args.map(enc), { cwd: enc(cwd) });
const argv = (plan: PolaRunPlan) => [text(plan.prog), ...plan.args.map(text)];
const grants = (plan: PolaRunPlan) => plan.grants.map((g) => ({ ...g }));
const refused = (args: string[]) => {
  try {
    parse(args);
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new Error(`accepted: ${args.join(" ")}`);
};

const none = { addArg: false, writable: false, follow: false, symlinks: false, objectWritable: false, socket: false };

describe("both forms of every option with a parameter", () => {
  test("--prog, -a, --cwd, --socket and --timeout: '--arg param' and '--arg=param' mean the same", () => {
    const spaced = parse(["--prog", "echo", "-a", "one", "--cwd", "/srv", "--socket", "/run/p.sock", "--timeout", "3"]);
    const joined = parse(["--prog=echo", "-a=one", "--cwd=/srv", "--socket=/run/p.sock", "--timeout=3"]);
    for (const plan of [spaced, joined]) {
      expect(argv(plan)).toEqual(["echo", "one"]);
      expect(text(plan.cwd)).toBe("/srv");
      expect(plan.socket).toBe("/run/p.sock");
      expect(plan.timeoutSeconds).toBe(3);
    }
  });

  test("-f PATH and -f=PATH; -t DEST SRC and -t=DEST SRC", () => {
    for (const args of [["-f", "/data/in"], ["-f=/data/in"]]) {
      expect(grants(parse(["--prog", "x", ...args]))).toEqual([{ option: "f", ...none, source: "/data/in", dest: "/data/in" }]);
    }
    for (const args of [["-t", "/in", "/data/in"], ["-t=/in", "/data/in"]]) {
      expect(grants(parse(["--prog", "x", ...args]))).toEqual([{ option: "t", ...none, source: "/data/in", dest: "/in" }]);
    }
  });

  test("a parameter is taken whole, even when it starts with '-' or holds '='", () => {
    expect(argv(parse(["--prog", "x", "-a", "-l", "-a=--x=1", "-a", ""]))).toEqual(["x", "-l", "--x=1", ""]);
  });
});

describe("-f and -t letters and comma options", () => {
  test("letters combine in any order, with ,objrw and ,socket after them", () => {
    const plan = parse(["--prog", "x", "-fwla,objrw", "/dev/null", "-tsl,socket=/x11", "/tmp/.X11-unix", "-f,objrw,socket", "/d"]);
    expect(grants(plan)).toEqual([
      { option: "f", ...none, addArg: true, writable: true, follow: true, objectWritable: true, source: "/dev/null", dest: "/dev/null" },
      { option: "t", ...none, symlinks: true, follow: true, socket: true, source: "/tmp/.X11-unix", dest: "/x11" },
      { option: "f", ...none, objectWritable: true, socket: true, source: "/d", dest: "/d" },
    ]);
  });

  test("`a` appends the pathname as given (for -t, DEST), in order with -a", () => {
    const plan = parse(["--prog", "cc", "-a", "-o", "-fwa", "out.o", "-ta", "in.c", "/src/main.c", "-a", "-O2"]);
    expect(argv(plan)).toEqual(["cc", "-o", "out.o", "in.c", "-O2"]);
    expect(grants(plan).map((g) => [g.source, g.dest])).toEqual([["/home/u/work/out.o", "/home/u/work/out.o"], ["/src/main.c", "/home/u/work/in.c"]]);
  });

  test("an unknown letter or comma option is refused", () => {
    expect(refused(["--prog", "x", "-fx", "/a"])).toBe("unknown option '-fx'");
    expect(refused(["--prog", "x", "-fw,rw", "/a"])).toContain("unknown option ',rw'");
  });

  test("-t needs both pathnames; -f needs one", () => {
    expect(refused(["--prog", "x", "-t", "/a"])).toBe("-t needs a parameter");
    expect(refused(["--prog", "x", "-f"])).toBe("-f needs a parameter");
    expect(refused(["--prog", "x", "-f="])).toBe("-f= needs a pathname");
  });
});

describe("cwd options", () => {
  test("pathnames resolve against the most recent one; the last sets the program's cwd", () => {
    const plan = parse(["--prog", "x", "-f", "a", "--cwd", "/srv", "-f", "b/../c", "--cwd", "sub", "-f", "./d", "--copy-cwd", "-f", "e", "--cwd", "/final"]);
    expect(grants(plan).map((g) => g.source)).toEqual(["/home/u/work/a", "/srv/c", "/srv/sub/d", "/home/u/work/e"]);
    expect(text(plan.cwd)).toBe("/final");
  });

  test("the caller's cwd by default; none after --no-cwd, where a relative pathname is an error", () => {
    expect(text(parse(["--prog", "x"]).cwd)).toBe("/home/u/work");
    const plan = parse(["--prog", "x", "--no-cwd", "-f", "/abs"]);
    expect(plan.cwd).toBeNull();
    expect(refused(["--prog", "x", "--no-cwd", "-f", "rel"])).toBe("-f: 'rel' is relative, but --no-cwd left no directory to resolve it against");
    expect(text(parse(["--prog", "x", "--no-cwd", "--copy-cwd"]).cwd)).toBe("/home/u/work");
  });
});

describe("--prog", () => {
  test("a name without '/' stays a name (the sandbox's PATH finds it); a relative pathname is made absolute", () => {
    expect(text(parse(["--prog", "ls"]).prog)).toBe("ls");
    expect(text(parse(["--cwd", "/opt", "--prog", "./bin/tool"]).prog)).toBe("/opt/bin/tool");
    expect(text(parse(["--prog", "/usr/bin/env"]).prog)).toBe("/usr/bin/env");
  });

  test("is required", () => {
    expect(refused(["-a", "x"])).toBe("--prog is required: the program to run");
  });
});

describe("the rest", () => {
  test("-B, --net and --x11 are flags", () => {
    const plan = parse(["--prog", "x", "-B", "--net", "--x11"]);
    expect([plan.standard, plan.net, plan.x11]).toEqual([true, true, true]);
    expect(refused(["--prog", "x", "--net=1"])).toBe("--net takes no parameter");
  });

  test("--powerbox and --pet-name are refused with the reason", () => {
    for (const args of [["--powerbox"], ["--powerbox", "--pet-name", "editor"], ["--pet-name=editor"]]) {
      expect(refused(["--prog", "x", ...args])).toMatch(/^--(powerbox|pet-name) is not supported: there is no powerbox here/);
    }
  });

  test("a bare argument is refused: the program's arguments come with -a", () => {
    expect(refused(["--prog", "x", "file"])).toBe("unexpected argument 'file' (pass the program's arguments with -a)");
    expect(refused(["--prog", "x", "--frobnicate"])).toBe("unknown option '--frobnicate'");
  });

  test("pathnames and arguments are bytes: non-UTF-8 ones arrive unchanged", () => {
    const odd = new Uint8Array([0x2f, 0x64, 0xff, 0xfe]);
    const plan = parsePolaRunArgs([enc("--prog"), enc("x"), enc("-fa"), odd], { cwd: enc("/") });
    expect(plan.grants[0]!.source).toBe(Buffer.from(odd).toString("latin1"));
    expect([...plan.args[0]!]).toEqual([...odd]);
  });
});
