// Splitting a CLI's own options from the command after them, and repeated
// options (src/cli/split-command.ts).
import { expect, test } from "bun:test";
import type { ArgsDef } from "citty";
import { repeated, splitAtCommand } from "../../../src/cli/split-command.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const def = {
  socket: { type: "string", alias: "s" },
  sandbox: { type: "boolean" },
  "allow-uid": { type: "string" },
  program: { type: "positional" },
} as const satisfies ArgsDef;
const split = (...args: string[]) => {
  const { options, command, unknown } = splitAtCommand(args.map(enc), def);
  return { options, command: command.map(dec), unknown };
};

test("options end at the first non-option; a value-taking option takes the next argument", () => {
  expect(split("--socket", "/p.sock", "--sandbox", "prog", "--sandbox")).toEqual({
    options: ["--socket", "/p.sock", "--sandbox"], command: ["prog", "--sandbox"], unknown: [],
  });
  expect(split("-s", "/p.sock", "prog")).toEqual({ options: ["-s", "/p.sock"], command: ["prog"], unknown: [] });
  expect(split("--socket=/p.sock", "prog").options).toEqual(["--socket=/p.sock"]);
});

test("-- ends the options; a lone - is the command", () => {
  expect(split("--sandbox", "--", "--socket", "x")).toEqual({ options: ["--sandbox"], command: ["--socket", "x"], unknown: [] });
  expect(split("-", "x").command).toEqual(["-", "x"]);
});

test("unknown options are reported, not taken for the command; --no-X counts as known", () => {
  expect(split("--bogus", "--no-sandbox", "prog")).toEqual({ options: ["--bogus", "--no-sandbox"], command: ["prog"], unknown: ["--bogus"] });
});

test("the positional is not an option name", () => {
  expect(split("--program", "x").unknown).toEqual(["--program"]);
});

test("repeated() collects every value of an option, in both spellings, in order", () => {
  const { options } = splitAtCommand(["--allow-uid", "a", "--allow-uid=b", "--socket", "s", "--allow-uid", "c"].map(enc), def);
  expect(repeated(options, "allow-uid")).toEqual(["a", "b", "c"]);
  expect(repeated(options, "socket")).toEqual(["s"]);
  expect(repeated(options, "sandbox")).toEqual([]);
});
