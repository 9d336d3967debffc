// portal-exec's option parsing (src/cli/exec-options.ts): options end at the
// first argument that is not one of ours, values stay bytes.
import { describe, expect, test } from "bun:test";
import { parseExecArgs, parseProtocol, UsageError } from "../../../src/cli/exec-options.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const parse = (...args: Array<string | Uint8Array>) => parseExecArgs(args.map((a) => (typeof a === "string" ? enc(a) : a)));

describe("where the command starts", () => {
  test("at the first argument that is not an option: its own options stay its own", () => {
    const options = parse("-s", "/run/p.sock", "ls", "-la", "--help");
    expect(options.socket).toBe("/run/p.sock");
    expect(options.commandIndex).toBe(2);
    expect(options.help).toBe(false);
  });

  test("after --, and at a lone -", () => {
    expect(parse("--one-shot", "--", "--help").commandIndex).toBe(2);
    expect(parse("--", "--help").help).toBe(false);
    expect(parse("-", "x").commandIndex).toBe(0);
  });

  test("no command at all: the index is the end", () => {
    const options = parse("--help");
    expect(options.help).toBe(true);
    expect(options.commandIndex).toBe(1);
  });
});

describe("values", () => {
  test("--name VALUE and --name=VALUE are the same", () => {
    expect(parse("--socket", "/a").socket).toBe("/a");
    expect(parse("--socket=/a=b").socket).toBe("/a=b");
    expect(parse("--protocol=1").protocol).toBe(1);
  });

  test("--env, --cwd and grant paths keep their bytes exactly", () => {
    const value = new Uint8Array([...enc("K="), 0xff, 0xfe]);
    const cwd = new Uint8Array([0x2f, 0xe9]);
    const options = parse("--env", value, "--env", "B=", "--cwd", cwd, "--grant", new Uint8Array([0x2f, 0x80]));
    expect(options.setEnv).toEqual([value, enc("B=")]);
    expect(options.cwd).toEqual(cwd);
    expect(options.grants).toEqual([{ path: new Uint8Array([0x2f, 0x80]), writable: false, appendArg: false }]);
    const eq = parse(new Uint8Array([...enc("--env=K="), 0xff]));
    expect(eq.setEnv).toEqual([new Uint8Array([...enc("K="), 0xff])]);
  });

  test("repeatable options collect every value in order", () => {
    const options = parse("--fd", "3", "--fd", "5:1", "--unset-env", "A", "--unset-env", "B", "--clear-env", "true");
    expect(options.fds).toEqual([{ source: 3, target: 3 }, { source: 5, target: 1 }]);
    expect(options.unsetEnv).toEqual(["A", "B"]);
    expect(options.clearEnv).toBe(true);
    expect(options.commandIndex).toBe(9);
  });

  test("the grant options say where the program sees the path and whether it joins argv", () => {
    const options = parse("--grant-rw", "/w", "--grant-at", "/in=/out", "--grant-rw-at", "/a=/b", "--grant-arg", "/r", "--grant-rw-arg", "/x", "--grant-std");
    expect(options.grants).toEqual([
      { path: enc("/w"), writable: true, appendArg: false },
      { dest: enc("/in"), path: enc("/out"), writable: false, appendArg: false },
      { dest: enc("/a"), path: enc("/b"), writable: true, appendArg: false },
      { path: enc("/r"), writable: false, appendArg: true },
      { path: enc("/x"), writable: true, appendArg: true },
    ]);
    expect(options.grantStd).toBe(true);
  });

  test("seconds may be fractional", () => {
    expect(parse("--timeout", "0.5").timeoutSeconds).toBe(0.5);
    expect(parse("--handshake-timeout", "3").handshakeSeconds).toBe(3);
  });
});

describe("usage errors", () => {
  const errorOf = (...args: string[]) => {
    try {
      parse(...args);
      return null;
    } catch (error) {
      return error instanceof UsageError ? error.message : `not a UsageError: ${String(error)}`;
    }
  };

  test("each names the option and what it needs", () => {
    expect(errorOf("--bogus", "ls")).toBe("unknown option '--bogus' (options come before the command; use -- to end them)");
    expect(errorOf("--socket")).toBe("option '--socket' needs a value");
    expect(errorOf("--one-shot=yes")).toBe("option '--one-shot' takes no value");
    expect(errorOf("--protocol", "3")).toBe("--protocol must be 1 or 2, got '3'");
    expect(errorOf("--timeout", "-1")).toBe("--timeout needs a number of seconds, got '-1'");
    expect(errorOf("--timeout", " ")).toBe("--timeout needs a number of seconds, got ' '");
    expect(errorOf("--fd", "x")).toBe("--fd needs N or SRC:DST, got 'x'");
    expect(errorOf("--fd", "1:")).toBe("--fd needs N or SRC:DST, got '1:'");
    expect(errorOf("--env", "NOVALUE")).toBe("--env needs KEY=VALUE, got 'NOVALUE'");
    expect(errorOf("--env", "=v")).toBe("--env needs KEY=VALUE, got '=v'");
    expect(errorOf("--unset-env", "A=B")).toBe("--unset-env needs a variable name, got 'A=B'");
    expect(errorOf("--cwd", "")).toBe("--cwd needs a directory");
    expect(errorOf("--grant", "")).toBe("--grant needs a path");
    expect(errorOf("--grant-at", "/a")).toBe("--grant-at needs DEST=SRC, got '/a'");
    expect(errorOf("--grant-at", "=/a")).toBe("--grant-at needs DEST=SRC, got '=/a'");
    expect(errorOf("--grant-rw-at", "/a=")).toBe("--grant-rw-at needs DEST=SRC, got '/a='");
  });

  test("parseProtocol accepts exactly 1 and 2", () => {
    expect(parseProtocol("1", "$PORTAL_PROTOCOL")).toBe(1);
    expect(parseProtocol("2", "$PORTAL_PROTOCOL")).toBe(2);
    expect(() => parseProtocol("v2", "$PORTAL_PROTOCOL")).toThrow("$PORTAL_PROTOCOL must be 1 or 2, got 'v2'");
  });
});
