// The hex dumps in docs/protocol.md ("Worked example") are what our encoders
// produce, byte for byte: a reader who implements from the page gets the
// bytes the spawner expects.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  encodeFdTargets, encodeHello, encodeHelloAck, encodeOutcome, encodeRecord, encodeRefused, encodeStart, encodeStarted, RecordType,
  RefusalCode,
} from "../../../src/protocol/v2.ts";
import { DEFAULT_MAX_FDS, DEFAULT_MAX_REQUEST_BYTES, MAX_RECORD_BYTES } from "../../../src/protocol/limits.ts";

const enc = (s: string) => new TextEncoder().encode(s);

interface DumpLine {
  from: "C" | "S";
  name: string;
  bytes: Uint8Array;
  /** The line ends in "…": it shows the record's first bytes only. */
  cut: boolean;
}

/** The `text` code blocks of the worked example, each a list of "C|S NAME hex | hex" lines. */
function workedExampleBlocks(): DumpLine[][] {
  const doc = readFileSync(join(import.meta.dir, "..", "..", "..", "docs", "protocol.md"), "utf8");
  const start = doc.indexOf("### Worked example");
  const section = doc.slice(start, doc.indexOf("\n## ", start));
  const blocks = [...section.matchAll(/```text\n([\s\S]*?)```/g)].map((m) => m[1]!);
  return blocks.map((block) =>
    block.trimEnd().split("\n").map((line) => {
      const match = /^([CS]) (\S+)\s+([0-9a-f |]+?)\s*(…)?$/.exec(line);
      if (!match) throw new Error(`not a dump line: ${JSON.stringify(line)}`);
      const hex = match[3]!.replaceAll("|", " ").trim().split(/\s+/);
      return { from: match[1] as "C" | "S", name: match[2]!, bytes: new Uint8Array(hex.map((h) => parseInt(h, 16))), cut: match[4] !== undefined };
    }),
  );
}

const limits = { maxRecordBytes: MAX_RECORD_BYTES, maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES, maxFds: DEFAULT_MAX_FDS };

test("the worked example's request and replies are our encoders' bytes, in conversation order", () => {
  const [conversation] = workedExampleBlocks();
  const expected: Array<[string, string, Uint8Array]> = [
    ["C", "HELLO", encodeHello(2, 2)],
    ["S", "HELLO_ACK", encodeHelloAck({ version: 2, ...limits })],
    ["C", "ARGS", encodeRecord(RecordType.Args, enc("echo\0hi\0"))],
    ["C", "ENV", encodeRecord(RecordType.Env, enc("PATH=/bin\0"))],
    ["C", "CWD", encodeRecord(RecordType.Cwd, enc("/tmp"))],
    ["C", "FDS", encodeFdTargets([0, 1, 2])],
    ["C", "START", encodeStart({ argc: 2, envc: 1, fdCount: 3, flags: 0 })],
    ["S", "STARTED", encodeStarted(12345)],
    ["S", "EXITED", encodeOutcome({ kind: "exited", code: 0 })],
  ];
  expect(conversation!.map((l) => [l.from, l.name, l.bytes])).toEqual(expected);
  expect(conversation!.some((l) => l.cut)).toBe(false);
});

test("the example REFUSED starts with our encoder's bytes for the spawner's 'nothing to execute'", () => {
  const [, refusal] = workedExampleBlocks();
  expect(refusal!.length).toBe(1);
  const line = refusal![0]!;
  expect([line.from, line.name, line.cut]).toEqual(["S", "REFUSED", true]);
  // The reason src/spawner/run-program.ts gives.
  const full = encodeRefused(RefusalCode.NotAllowed, "nothing to execute: the request has no arguments and the spawner was started without a PROGRAM");
  expect(line.bytes).toEqual(full.subarray(0, line.bytes.length));
});

test("the example revision-3 HELLO_ACK names pid 812 and start time 123456", () => {
  const [, , ack] = workedExampleBlocks();
  expect(ack!.map((l) => [l.from, l.name, l.bytes])).toEqual([
    ["S", "HELLO_ACK", encodeHelloAck({ version: 3, ...limits, spawner: { pid: 812, startTicks: 123456n } })],
  ]);
});
