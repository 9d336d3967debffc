// LISTEN_PID follows the program (src/launch/listen-pid.ts).
import { expect, test } from "bun:test";
import { withListenPid } from "../../../src/launch/listen-pid.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (items: Uint8Array[]) => items.map((b) => new TextDecoder().decode(b));

test("replaces LISTEN_PID where it stands, and leaves the caller's list alone", () => {
  const env = [enc("LISTEN_FDS=1"), enc("LISTEN_PID=77"), enc("LISTEN_PIDX=5")];
  expect(dec(withListenPid(env, 4242))).toEqual(["LISTEN_FDS=1", "LISTEN_PID=4242", "LISTEN_PIDX=5"]);
  expect(dec(env)).toEqual(["LISTEN_FDS=1", "LISTEN_PID=77", "LISTEN_PIDX=5"]);
});

test("appends it when it is missing", () => {
  expect(dec(withListenPid([enc("LISTEN_FDS=1")], 9))).toEqual(["LISTEN_FDS=1", "LISTEN_PID=9"]);
  expect(dec(withListenPid([], 9))).toEqual(["LISTEN_PID=9"]);
});
