// How a program ended, as wait statuses (v1) and shell exit codes
// (src/protocol/outcome.ts).
import { describe, expect, test } from "bun:test";
import { exitCodeForSpawnFailure, fromWaitStatus, toWaitStatus, type Outcome } from "../../../src/protocol/outcome.ts";

const failed = (stage: "exec" | "chdir" | "setup", errno: number) => ({ kind: "spawn-failed", stage, errno, message: "" }) as const;

describe("wait statuses", () => {
  test("exited: code << 8; signaled: the number, 0x80 for a core dump (as waitpid reports them)", () => {
    expect(toWaitStatus({ kind: "exited", code: 0 })).toBe(0);
    expect(toWaitStatus({ kind: "exited", code: 3 })).toBe(0x0300);
    expect(toWaitStatus({ kind: "exited", code: 255 })).toBe(0xff00);
    expect(toWaitStatus({ kind: "signaled", signal: 9, coreDumped: false })).toBe(9);
    expect(toWaitStatus({ kind: "signaled", signal: 11, coreDumped: true })).toBe(0x8b);
  });

  test("round-trips every exit code and every signal", () => {
    for (let code = 0; code <= 255; code++) expect(fromWaitStatus(toWaitStatus({ kind: "exited", code }))).toEqual({ kind: "exited", code });
    for (let signal = 1; signal <= 64; signal++) {
      for (const coreDumped of [false, true]) {
        const outcome: Outcome = { kind: "signaled", signal, coreDumped };
        expect(fromWaitStatus(toWaitStatus(outcome))).toEqual(outcome);
      }
    }
  });

  test("a stopped status (never sent by v1) is reported as 128 + the stop signal", () => {
    expect(fromWaitStatus((19 << 8) | 0x7f)).toEqual({ kind: "exited", code: 128 + 19 });
  });

  test("a program that never ran becomes the shell's codes in v1, never 1", () => {
    expect(toWaitStatus(failed("exec", 2))).toBe(127 << 8);
    expect(toWaitStatus(failed("exec", 13))).toBe(126 << 8);
    expect(toWaitStatus(failed("chdir", 2))).toBe(125 << 8);
    expect(toWaitStatus(failed("setup", 9))).toBe(125 << 8);
  });
});

describe("exit codes for spawn failures", () => {
  test("127 not found, 126 found but cannot run, 125 when chdir or setup failed", () => {
    expect(exitCodeForSpawnFailure(failed("exec", 2))).toBe(127);
    for (const errno of [1, 7, 8, 13, 26, 40]) expect(exitCodeForSpawnFailure(failed("exec", errno))).toBe(126);
    expect(exitCodeForSpawnFailure(failed("chdir", 2))).toBe(125);
    expect(exitCodeForSpawnFailure(failed("setup", 2))).toBe(125);
  });
});
