// Generated client conversations for the spawner, valid and broken, in both
// protocols: records in and out of order, truncated, oversized, with lying
// length fields and wrong fd counts, carrying fds of every kind. Each case is
// rebuilt from (master seed, index) alone.
import { HEADER_BYTES, MAX_RECORD_BYTES, MAX_TARGET_FD, V1_MAX_FDS, V1_MAX_RECORD_BYTES } from "../../src/protocol/limits.ts";
import {
  encodeFdTargets, encodeHello, encodeRecord, encodeSignal, encodeStart, HELLO_BYTES, HELLO_MAGIC, joinNulTerminated, RecordType, VERSION,
} from "../../src/protocol/v2.ts";
import { encodeV1FdNumbers, encodeV1Strings } from "../../src/protocol/v1.ts";
import { FD_KINDS, type FdKind } from "./fd-kinds.ts";
import { caseSeed, SeededRandom } from "./seeded-random.ts";

export interface Step {
  data: Uint8Array;
  fds: FdKind[];
}

export type Family = "valid-v2" | "valid-v1" | "running-v2" | "mutated-v2" | "mutated-v1" | "random" | "oversized";

export interface FuzzCase {
  index: number;
  seed: number;
  family: Family;
  steps: Step[];
  /** A complete, valid request: it must run and report /bin/true's exit. */
  valid: boolean;
  /**
   * Hang up after sending (the spawner must then close at once). Only cases
   * known to be complete keep the connection open and wait for the end.
   */
  hangUp: boolean;
  /** What was done to the case, for failure messages. */
  notes: string[];
}

const enc = (s: string) => new TextEncoder().encode(s);

/** Directories a valid request may name as its cwd. */
export const VALID_CWDS = ["/", "/tmp", "/usr"];

/** The spawner under test accepts this many fds per request (its --max-fds). */
export const FUZZ_MAX_FDS = 16;

function fdKinds(r: SeededRandom, count: number): FdKind[] {
  return Array.from({ length: count }, () => r.pick(FD_KINDS));
}

function distinctTargets(r: SeededRandom, count: number, below: number): number[] {
  const set = new Set<number>();
  while (set.size < count) set.add(r.int(below));
  return [...set];
}

/** Splits `bytes` into 1..3 pieces (a v2 ARGS/ENV stream may span records). */
function pieces(r: SeededRandom, bytes: Uint8Array): Uint8Array[] {
  if (bytes.length < 2 || r.chance(0.7)) return [bytes];
  const cut = r.range(1, bytes.length - 1);
  return [bytes.subarray(0, cut), bytes.subarray(cut)];
}

function validV2(r: SeededRandom): Step[] {
  const args = Array.from({ length: r.int(4) }, () => enc(r.word()));
  const env = Array.from({ length: r.int(5) }, () => enc(`${r.word(6).replace(/[^A-Za-z_]/g, "X")}=${r.word()}`));
  const fdCount = r.int(5);
  const targets = distinctTargets(r, fdCount, 24);
  const body: Step[] = [];
  for (const part of pieces(r, joinNulTerminated(args, "args"))) body.push({ data: encodeRecord(RecordType.Args, part), fds: [] });
  for (const part of pieces(r, joinNulTerminated(env, "env"))) body.push({ data: encodeRecord(RecordType.Env, part), fds: [] });
  if (r.chance(0.5)) body.push({ data: encodeRecord(RecordType.Cwd, enc(r.pick(VALID_CWDS))), fds: [] });
  // Fds may come in several FDS records.
  for (let i = 0; i < targets.length; ) {
    const n = r.range(1, targets.length - i);
    body.push({ data: encodeFdTargets(targets.slice(i, i + n)), fds: fdKinds(r, n) });
    i += n;
  }
  // Any order before START is allowed; only stream order within ARGS and within ENV matters.
  const shuffled = shuffleKeepingStreams(r, body);
  return [
    { data: encodeHello(), fds: [] },
    ...shuffled,
    { data: encodeStart({ argc: args.length, envc: env.length, fdCount: targets.length, flags: 0 }), fds: [] },
  ];
}

function shuffleKeepingStreams(r: SeededRandom, steps: Step[]): Step[] {
  const typeOf = (s: Step) => s.data[0]!;
  const queues = new Map<number, Step[]>();
  for (const s of steps) {
    const q = queues.get(typeOf(s)) ?? [];
    q.push(s);
    queues.set(typeOf(s), q);
  }
  const out: Step[] = [];
  while (queues.size > 0) {
    const key = r.pick([...queues.keys()]);
    const q = queues.get(key)!;
    out.push(q.shift()!);
    if (q.length === 0) queues.delete(key);
  }
  return out;
}

function validV1(r: SeededRandom): Step[] {
  const env = Array.from({ length: r.int(5) }, () => enc(`V${r.word(6).replace(/[^A-Za-z_]/g, "X")}=${r.word()}`));
  const args = Array.from({ length: r.int(4) }, () => enc(r.word()));
  const fdCount = r.int(5);
  const targets = distinctTargets(r, fdCount, 24).sort((a, b) => a - b);
  return [
    { data: encodeV1Strings(env, "env"), fds: [] },
    { data: encodeV1Strings(args, "args"), fds: [] },
    { data: encodeV1FdNumbers(targets), fds: [] },
    { data: new Uint8Array(2), fds: fdKinds(r, fdCount) },
  ];
}

function setU16(data: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = data.slice();
  if (copy.length >= offset + 2) new DataView(copy.buffer).setUint16(offset, value, true);
  return copy;
}

function setU32(data: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = data.slice();
  if (copy.length >= offset + 4) new DataView(copy.buffer).setUint32(offset, value >>> 0, true);
  return copy;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Mutations shared by both protocols: they act on whole steps or raw bytes. */
function mutateSteps(r: SeededRandom, steps: Step[], notes: string[]): void {
  if (steps.length === 0) {
    steps.push({ data: r.bytes(r.int(20)), fds: [] });
    notes.push("a random record instead of none");
    return;
  }
  const i = r.int(steps.length);
  const step = steps[i]!;
  switch (r.int(9)) {
    case 0:
      steps.splice(i, 1);
      notes.push(`dropped step ${i}`);
      break;
    case 1:
      steps.splice(i, 0, { data: step.data.slice(), fds: [...step.fds] });
      notes.push(`duplicated step ${i}`);
      break;
    case 2: {
      const j = r.int(steps.length);
      [steps[i], steps[j]] = [steps[j]!, steps[i]!];
      notes.push(`swapped steps ${i} and ${j}`);
      break;
    }
    case 3:
      step.data = step.data.slice(0, r.int(step.data.length + 1));
      notes.push(`truncated step ${i} to ${step.data.length} bytes`);
      break;
    case 4:
      step.data = concat(step.data, r.bytes(r.range(1, 40)));
      notes.push(`appended bytes to step ${i}`);
      break;
    case 5:
      step.data = step.data.slice();
      for (let n = r.range(1, 4); n > 0 && step.data.length > 0; n--) step.data[r.int(step.data.length)] = r.u32() & 0xff;
      notes.push(`flipped bytes in step ${i}`);
      break;
    case 6:
      step.fds = [...step.fds, ...fdKinds(r, r.range(1, 3))];
      notes.push(`added fds to step ${i}`);
      break;
    case 7:
      if (step.fds.length > 0) step.fds = step.fds.slice(0, r.int(step.fds.length));
      notes.push(`removed fds from step ${i}`);
      break;
    case 8:
      steps.length = r.int(steps.length + 1);
      notes.push(`cut after ${steps.length} steps`);
      break;
  }
}

function mutateV2(r: SeededRandom, steps: Step[], notes: string[]): void {
  const startIndex = steps.findIndex((s) => s.data[0] === RecordType.Start && s.data.length === HEADER_BYTES + 16);
  const pickRecord = () => 1 + r.int(Math.max(1, steps.length - 1));
  switch (r.int(13)) {
    case 0: {
      const i = pickRecord();
      if (steps[i]) steps[i]!.data = setU32(steps[i]!.data, 4, r.chance(0.5) ? r.u32() : steps[i]!.data.length - HEADER_BYTES + r.range(-3, 3));
      notes.push(`length field of step ${i} lies`);
      break;
    }
    case 1: {
      const i = pickRecord();
      if (steps[i]) steps[i]!.data = setU16(steps[i]!.data, 2, r.range(1, 0xffff));
      notes.push(`reserved bits in step ${i}`);
      break;
    }
    case 2: {
      const i = pickRecord();
      if (steps[i]) steps[i]!.data = setU16(steps[i]!.data, 0, r.chance(0.5) ? r.range(0, 0x90) : r.u32() & 0xffff);
      notes.push(`record type of step ${i} changed`);
      break;
    }
    case 3:
      if (startIndex >= 0) {
        const field = r.int(4);
        steps[startIndex]!.data = setU32(steps[startIndex]!.data, HEADER_BYTES + 4 * field, field === 3 ? 1 << r.int(32) : r.chance(0.5) ? r.u32() : r.range(0, 6));
        notes.push(`START field ${field} changed`);
      }
      break;
    case 4: {
      // FDS with targets and fds that disagree, repeat, or are out of range.
      const targets = r.pick([
        [3, 3],
        [MAX_TARGET_FD + 1],
        [0xffffffff],
        [r.int(30), r.int(30), r.int(30)],
        [],
      ]);
      const fds = fdKinds(r, r.chance(0.5) ? targets.length : r.int(5));
      steps.splice(pickRecord(), 0, { data: encodeFdTargets(targets), fds });
      notes.push(`FDS targets [${targets}] with ${fds.length} fds`);
      break;
    }
    case 5:
      steps[0] = { data: r.chance(0.5) ? setU32(encodeHello(), r.pick([8, 12]), r.range(0, 5)) : concat(HELLO_MAGIC, r.bytes(r.int(HELLO_BYTES))), fds: [] };
      notes.push("HELLO versions or length changed");
      break;
    case 6:
      steps.splice(pickRecord(), 0, { data: encodeSignal(r.range(0, 70)), fds: [] });
      notes.push("SIGNAL before START");
      break;
    case 7: {
      const cwd = r.pick([enc("/nonexistent/portal-fuzz"), new Uint8Array(0), enc("/tmp\0x"), enc("/".repeat(4097)), r.bytes(r.range(1, 64)), enc("/etc/passwd")]);
      steps.splice(pickRecord(), 0, { data: encodeRecord(RecordType.Cwd, cwd), fds: [] });
      notes.push(`CWD of ${cwd.length} bytes`);
      break;
    }
    case 8: {
      // After START: signals (some out of range) and garbage while /bin/true runs.
      const extra = r.chance(0.6) ? encodeSignal(r.range(0, 70)) : r.bytes(r.range(0, 30));
      steps.push({ data: extra, fds: r.chance(0.2) ? fdKinds(r, 1) : [] });
      notes.push("record after START");
      break;
    }
    case 9:
      steps.splice(pickRecord(), 0, { data: encodeRecord(RecordType.Args, enc(r.word())), fds: [] });
      notes.push("ARGS without a final NUL");
      break;
    case 10:
      steps.splice(pickRecord(), 0, { data: encodeRecord(r.pick<number>([RecordType.HelloAck, RecordType.Exited, RecordType.Refused, RecordType.Started, 0xff]) as RecordType, r.bytes(r.int(20))), fds: [] });
      notes.push("a record type clients never send");
      break;
    case 11: {
      // GRANT records, well-formed or not, with the wrong number of fds or fds of any kind.
      const dest = r.pick([enc("/data"), enc("/bin/true"), enc("/"), enc("relative"), enc("/a/../b"), enc("/a//b"), r.bytes(r.int(40))]);
      const flags = r.pick([0, 1, 2, 4, 8, 16, r.u32()]);
      const fds = fdKinds(r, r.pick([0, 1, 1, 1, 2]));
      steps.splice(pickRecord(), 0, { data: encodeRecord(RecordType.Grant, concat(setU32(new Uint8Array(4), 0, flags), dest)), fds });
      notes.push(`GRANT (flags 0x${flags.toString(16)}, ${dest.length}-byte destination) with ${fds.length} fds`);
      break;
    }
    default:
      mutateSteps(r, steps, notes);
  }
}

function mutateV1(r: SeededRandom, steps: Step[], notes: string[]): void {
  switch (r.int(7)) {
    case 0: {
      const numbers = r.pick([[-1], [V1_MAX_FDS], [1, 1], [r.int(300), r.int(300)], [2147483647]]);
      if (steps[2]) steps[2].data = encodeV1FdNumbers(numbers);
      notes.push(`fd numbers [${numbers}]`);
      break;
    }
    case 1:
      if (steps[2]) steps[2].data = concat(steps[2].data, r.bytes(r.range(1, 3)));
      notes.push("fd-number record not a multiple of 4");
      break;
    case 2:
      if (steps[3]) steps[3].data = r.bytes(r.pick([0, 1, 3, 8]));
      notes.push(`fd record of ${steps[3]?.data.length} bytes`);
      break;
    case 3:
      steps.push({ data: r.bytes(r.range(1, 20)), fds: r.chance(0.3) ? fdKinds(r, 1) : [] });
      notes.push("data after the fd record");
      break;
    case 4:
      // Looks like the start of a v2 HELLO, but is not one.
      steps[0] = { data: concat(HELLO_MAGIC.subarray(0, r.range(1, 7)), r.bytes(r.int(10))), fds: [] };
      notes.push("env record starting like HELLO");
      break;
    default:
      mutateSteps(r, steps, notes);
  }
}

function randomCase(r: SeededRandom): Step[] {
  const steps: Step[] = [];
  for (let n = r.range(1, 5); n > 0; n--) {
    let data = r.bytes(r.pick([0, r.range(1, 16), r.range(17, 300)]));
    if (n > 0 && steps.length === 0 && r.chance(0.3)) data = concat(encodeHello(), data.subarray(0, r.int(3)));
    steps.push({ data, fds: r.chance(0.3) ? fdKinds(r, r.range(1, 4)) : [] });
  }
  return steps;
}

function oversizedCase(r: SeededRandom, notes: string[]): Step[] {
  switch (r.int(4)) {
    case 0: {
      const steps = validV2(r);
      steps.splice(1, 0, { data: encodeRecordUnchecked(RecordType.Args, r.range(MAX_RECORD_BYTES - HEADER_BYTES + 1, MAX_RECORD_BYTES + 4000)), fds: [] });
      notes.push("v2 record above the record limit");
      return steps;
    }
    case 1: {
      const steps = validV1(r);
      steps[0] = { data: new Uint8Array(r.range(V1_MAX_RECORD_BYTES + 1, V1_MAX_RECORD_BYTES + 4000)).fill(0x41), fds: [] };
      notes.push("v1 env record above 64 KiB");
      return steps;
    }
    case 2: {
      const count = r.range(FUZZ_MAX_FDS + 1, 40);
      const steps = validV2(r).filter((s) => s.data[0] !== RecordType.Fds && s.data[0] !== RecordType.Start);
      steps.push({ data: encodeFdTargets(Array.from({ length: count }, (_, i) => i)), fds: fdKinds(r, count) });
      steps.push({ data: encodeStart({ argc: 0, envc: 0, fdCount: count, flags: 0 }), fds: [] });
      notes.push(`${count} fds (above --max-fds)`);
      return steps;
    }
    default: {
      const count = r.range(FUZZ_MAX_FDS + 1, 40);
      const steps = validV1(r);
      steps[2] = { data: encodeV1FdNumbers(Array.from({ length: count }, (_, i) => i)), fds: [] };
      steps[3] = { data: new Uint8Array(2), fds: fdKinds(r, count) };
      notes.push(`v1 with ${count} fds (above --max-fds)`);
      return steps;
    }
  }
}

/** A v2 record whose payload is `length` bytes, past what encodeRecord allows. */
function encodeRecordUnchecked(type: RecordType, length: number): Uint8Array {
  const bytes = new Uint8Array(HEADER_BYTES + length).fill(0x61);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, type, true);
  view.setUint16(2, 0, true);
  view.setUint32(4, length, true);
  return bytes;
}

export function generateCase(master: number, index: number): FuzzCase {
  const seed = caseSeed(master, index);
  const r = new SeededRandom(seed);
  const roll = r.int(100);
  const notes: string[] = [];
  let family: Family;
  let steps: Step[];
  if (roll < 10) {
    family = "valid-v2";
    steps = validV2(r);
  } else if (roll < 16) {
    family = "valid-v1";
    steps = validV1(r);
  } else if (roll < 20) {
    // A valid request, then records while its program runs: signals (stop
    // signals left out, nothing would continue the program), bad signal
    // numbers, garbage, fds. Waited on: the spawner must still end the run.
    family = "running-v2";
    steps = validV2(r);
    for (let n = r.range(1, 3); n > 0; n--) {
      const kind = r.int(4);
      const signal = r.pick([1, 2, 3, 9, 10, 12, 13, 14, 15, 17, 18, 28, 34, 64]);
      const data = kind === 0 ? encodeSignal(r.pick([0, 65, 1000, 0xffffffff])) : kind === 1 ? r.bytes(r.range(0, 30)) : encodeSignal(signal);
      steps.push({ data, fds: r.chance(0.15) ? fdKinds(r, r.range(1, 3)) : [] });
      notes.push(kind === 0 ? "bad signal number after START" : kind === 1 ? "garbage after START" : `signal ${signal} after START`);
    }
  } else if (roll < 52) {
    family = "mutated-v2";
    steps = validV2(r);
    for (let n = r.range(1, 3); n > 0; n--) mutateV2(r, steps, notes);
  } else if (roll < 77) {
    family = "mutated-v1";
    steps = validV1(r);
    for (let n = r.range(1, 3); n > 0; n--) mutateV1(r, steps, notes);
  } else if (roll < 93) {
    family = "random";
    steps = randomCase(r);
  } else {
    family = "oversized";
    steps = oversizedCase(r, notes);
  }
  const valid = family === "valid-v2" || family === "valid-v1";
  return { index, seed, family, steps, valid, hangUp: !valid && family !== "running-v2", notes };
}

/** A short description of a case's records, for failure messages. */
export function describeCase(c: FuzzCase): string {
  const hex = (d: Uint8Array) => Buffer.from(d.subarray(0, 24)).toString("hex");
  const steps = c.steps.map((s, i) => `  #${i} ${s.data.length} bytes ${hex(s.data)}${s.data.length > 24 ? "..." : ""}${s.fds.length ? ` fds [${s.fds.join(",")}]` : ""}`);
  return `${c.family}${c.notes.length ? ` (${c.notes.join("; ")})` : ""}\n${steps.join("\n")}`;
}

/** The spawner limits the fuzz runs against (its command line says the same). */
export const FUZZ_MAX_REQUEST_BYTES = 262_144;

/**
 * What docs/protocol.md says the spawner must do with a case's records,
 * written from the spec rather than from read-request.ts: "runs" when the
 * records up to START (v2) or the fd record (v1) form a complete, valid
 * request; "refused" when they do not, in which case nothing may run.
 */
export function referenceVerdict(steps: readonly Step[]): { protocol: 1 | 2; verdict: "runs" | "refused"; why: string } {
  const first = steps[0];
  const isHelloMagic = (d: Uint8Array) => d.length >= 8 && HELLO_MAGIC.every((b, i) => d[i] === b);
  // The magic alone makes it a v2 conversation: even a bad HELLO is answered with REFUSED.
  if (first && isHelloMagic(first.data)) return { protocol: 2, ...referenceV2(steps) };
  return { protocol: 1, ...referenceV1(steps) };
}

function referenceV2(steps: readonly Step[]): { verdict: "runs" | "refused"; why: string } {
  const refused = (why: string) => ({ verdict: "refused" as const, why });
  const hello = new DataView(steps[0]!.data.buffer, steps[0]!.data.byteOffset, steps[0]!.data.byteLength);
  if (steps[0]!.fds.length > 0) return refused("HELLO with fds");
  if (steps[0]!.data.length !== HELLO_BYTES) return refused("HELLO length");
  // The spawner speaks revisions 2 to VERSION and picks the highest both speak.
  const version = Math.min(hello.getUint32(12, true), VERSION);
  if (version < Math.max(hello.getUint32(8, true), 2)) return refused("HELLO versions");
  const args: number[] = [];
  const env: number[] = [];
  let cwdSeen = false;
  let bytes = 0;
  let fdTotal = 0;
  const targets = new Set<number>();
  for (const step of steps.slice(1)) {
    const d = step.data;
    if (d.length > MAX_RECORD_BYTES) return refused("record too long");
    if (d.length === 0 && step.fds.length === 0) return refused("end of file before START");
    if (d.length < HEADER_BYTES) return refused("shorter than a header");
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    if (view.getUint16(2, true) !== 0) return refused("reserved bits");
    if (view.getUint32(4, true) !== d.length - HEADER_BYTES) return refused("length field");
    const type = view.getUint16(0, true);
    const payload = d.subarray(HEADER_BYTES);
    if (type === RecordType.Fds) {
      if (payload.length % 4 !== 0) return refused("FDS payload");
      const list = Array.from({ length: payload.length / 4 }, (_, i) => view.getUint32(HEADER_BYTES + 4 * i, true));
      if (list.length !== step.fds.length) return refused("FDS count");
      fdTotal += list.length;
      if (fdTotal > FUZZ_MAX_FDS) return refused("too many fds");
      for (const t of list) {
        if (t > MAX_TARGET_FD || targets.has(t)) return refused("FDS target");
        targets.add(t);
      }
      continue;
    }
    // The fuzz spawner runs without --sandbox: a grant asks for confinement it would not get.
    if (type === RecordType.Grant) return refused("GRANT to a spawner without --sandbox");
    // Revision 3 lets CWD carry the directory as one fd.
    if (step.fds.length > (type === RecordType.Cwd && version >= 3 ? 1 : 0)) return refused("fds on a non-FDS record");
    if (type !== RecordType.Start) bytes += payload.length;
    if (bytes > FUZZ_MAX_REQUEST_BYTES) return refused("request bytes");
    if (type === RecordType.Args) args.push(...payload);
    else if (type === RecordType.Env) env.push(...payload);
    else if (type === RecordType.Cwd) {
      if (cwdSeen || payload.length === 0 || payload.length > 4096 || payload.includes(0)) return refused("CWD");
      cwdSeen = true;
    } else if (type === RecordType.Start) {
      if (payload.length !== 16) return refused("START length");
      const [argc, envc, fdCount, flags] = [0, 1, 2, 3].map((i) => view.getUint32(HEADER_BYTES + 4 * i, true));
      if (flags !== 0) return refused("START flags");
      const count = (stream: number[]) => (stream.length > 0 && stream[stream.length - 1] !== 0 ? -1 : stream.filter((b) => b === 0).length);
      if (count(args) < 0 || count(env) < 0) return refused("stream without final NUL");
      if (argc !== count(args) || envc !== count(env) || fdCount !== targets.size) return refused("START counts");
      return { verdict: "runs", why: "complete" };
    } else return refused(`record type ${type}`);
  }
  return refused("no START");
}

function referenceV1(steps: readonly Step[]): { verdict: "runs" | "refused"; why: string } {
  const refused = (why: string) => ({ verdict: "refused" as const, why });
  const [envRecord, argsRecord, numbersRecord, fdRecord] = steps;
  for (const [step, limit] of [[envRecord, V1_MAX_RECORD_BYTES], [argsRecord, V1_MAX_RECORD_BYTES], [numbersRecord, 4 * V1_MAX_FDS]] as const) {
    // A missing record reads as end of file, which v1 cannot tell from an empty one.
    if (step && step.fds.length > 0) return refused("fds on a string record");
    if (step && step.data.length > limit) return refused("record too long");
  }
  const numbers = numbersRecord?.data ?? new Uint8Array(0);
  if (numbers.length % 4 !== 0) return refused("fd numbers not ints");
  const view = new DataView(numbers.buffer, numbers.byteOffset, numbers.byteLength);
  const list = Array.from({ length: numbers.length / 4 }, (_, i) => view.getInt32(4 * i, true));
  if (list.length > V1_MAX_FDS || list.some((n) => n < 0 || n >= V1_MAX_FDS) || new Set(list).size !== list.length) return refused("fd numbers");
  if (list.length > FUZZ_MAX_FDS) return refused("too many fds");
  if (!fdRecord || (fdRecord.data.length === 0 && fdRecord.fds.length === 0)) return refused("no fd record");
  if (fdRecord.data.length > 2) return refused("fd record too long");
  if (fdRecord.fds.length !== list.length) return refused("fd count");
  return { verdict: "runs", why: "complete" };
}
