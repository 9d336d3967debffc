// Linux generic signal numbers and names (src/process/signals.ts).
import { expect, test } from "bun:test";
import { isFatalByDefault, parseSignal, signalName, SIGNALS, SIGRTMAX } from "../../../src/process/signals.ts";

test("the Linux generic numbers docs/protocol.md lists", () => {
  expect([SIGNALS.SIGHUP, SIGNALS.SIGINT, SIGNALS.SIGQUIT, SIGNALS.SIGKILL, SIGNALS.SIGUSR1, SIGNALS.SIGSEGV, SIGNALS.SIGUSR2]).toEqual([1, 2, 3, 9, 10, 11, 12]);
  expect([SIGNALS.SIGPIPE, SIGNALS.SIGTERM, SIGNALS.SIGCHLD, SIGNALS.SIGCONT, SIGNALS.SIGSTOP, SIGNALS.SIGTSTP, SIGNALS.SIGWINCH]).toEqual([13, 15, 17, 18, 19, 20, 28]);
  expect(SIGRTMAX).toBe(64);
});

test("parseSignal takes TERM, SIGTERM, sigterm and 15; refuses 0, 65 and unknown names", () => {
  for (const text of ["TERM", "SIGTERM", "sigterm", "15"]) expect(parseSignal(text)).toBe(15);
  expect(parseSignal("64")).toBe(64);
  for (const text of ["0", "65", "FOO", "", "-15", "1.5"]) expect(() => parseSignal(text)).toThrow(RangeError);
});

test("signalName names the classic ones, real-time ones relative to SIGRTMIN (34), and the rest by number", () => {
  expect(signalName(15)).toBe("SIGTERM");
  expect(signalName(34)).toBe("SIGRTMIN+0");
  expect(signalName(64)).toBe("SIGRTMIN+30");
  expect(signalName(32)).toBe("signal 32");
  expect(signalName(65)).toBe("signal 65");
});

test("a signal ends a process by default unless it is one of the eight that do not", () => {
  const harmless = [17, 18, 23, 28, 19, 20, 21, 22];
  for (let signal = 1; signal <= 64; signal++) expect({ signal, fatal: isFatalByDefault(signal) }).toEqual({ signal, fatal: !harmless.includes(signal) });
  expect(isFatalByDefault(0)).toBe(false);
  expect(isFatalByDefault(65)).toBe(false);
});
