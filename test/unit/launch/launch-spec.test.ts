// The program spec a helper process gets in a memfd (src/launch/launch-spec.ts):
// JSON, byte strings in base64, bigints as decimal strings. It must come back
// exactly, through JSON text, as the helper reads it.
import { expect, test } from "bun:test";
import { decodeProgramSpec, encodeProgramSpec, type ProgramSpec } from "../../../src/launch/launch-spec.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const throughJson = (spec: ProgramSpec) => decodeProgramSpec(JSON.parse(JSON.stringify(encodeProgramSpec(spec))));

const full: ProgramSpec = {
  path: new Uint8Array([0x2f, 0x62, 0x69, 0x6e, 0x2f, 0xff, 0xfe]),
  argv: [enc("prog"), new Uint8Array(0), new Uint8Array([0xc3, 0x28]), enc("two words")],
  env: [enc("A=1"), new Uint8Array([...enc("B="), 0x80])],
  cwd: new Uint8Array([0x2f, 0xe9, 0x74, 0xe9]),
  cwdFd: 9,
  umask: 0o027,
  blocked: (1n << 63n) | 1n,
  ignored: 1n << 12n,
  limits: [
    { resource: 7, soft: 1024n, hard: 2n ** 64n - 1n },
    { resource: 0, soft: 0n, hard: 0n },
  ],
  listenPid: true,
  scheduling: { nice: -5, ioPriority: (3 << 13) | 7, policy: 3, priority: 0, affinity: new Uint8Array([0x05, 0, 0xff]), oomScoreAdjust: -1000, personality: 0x40000 },
  credentials: { uid: 1000, gid: 100, groups: [100, 27, 4] },
  unprivileged: true,
  keepFds: [0, 1, 2, 7],
  closeFds: [2],
  searchPath: true,
  waitFd: 11,
};

test("every field comes back exactly through JSON: non-UTF-8 bytes, empty items, 64-bit values", () => {
  expect(throughJson(full)).toEqual(full);
});

test("nulls and absent optional fields stay null and absent", () => {
  const bare: ProgramSpec = {
    ...full, cwd: null, cwdFd: null, credentials: null, limits: [], argv: [], env: [], keepFds: [], closeFds: [], listenPid: false,
    unprivileged: false, blocked: 0n, ignored: 0n,
  };
  delete bare.searchPath;
  delete bare.waitFd;
  delete bare.scheduling;
  const back = throughJson(bare);
  expect(back).toEqual(bare);
  expect("searchPath" in back).toBe(false);
});

test("byte strings travel as base64 and 64-bit values as decimal text, so JSON loses nothing", () => {
  const encoded = encodeProgramSpec(full);
  expect(encoded.path).toBe(Buffer.from(full.path).toString("base64"));
  expect(encoded.argv[1]).toBe("");
  expect(encoded.blocked).toBe("9223372036854775809");
  expect(encoded.limits[0]).toEqual({ resource: 7, soft: "1024", hard: "18446744073709551615" });
});
