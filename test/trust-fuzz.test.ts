// Bad input at volume: generated conversations (see helpers/fuzz-cases.ts)
// against one spawner whose PROGRAM is /bin/true, so no case can run
// anything else. Every reply must follow the protocol; afterwards the spawner
// must be alive, back to the fds and children it had, and still serve.
// Meanwhile a uid the spawner does not allow floods it with connections.
//
// Reproduce a failure with the seed it prints:
//   TRUST_FUZZ_SEED=<seed> TRUST_FUZZ_ONLY=<index> bun test test/trust-fuzz.test.ts
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { asNobody, nobodyExecutable, Scratch, startProcess, whyNoNobody } from "./helpers/harness.ts";
import { closeAll, ownedFdCount } from "../src/libc/owned-fd.ts";
import { decodeV1Status } from "../src/protocol/v1.ts";
import { exec } from "../src/index.ts";
import { isFatalByDefault } from "../src/process/signals.ts";
import { makeFd, type FdKind } from "./helpers/fd-kinds.ts";
import { describeCase, FUZZ_MAX_FDS, FUZZ_MAX_REQUEST_BYTES, generateCase, referenceVerdict, type Family, type FuzzCase } from "./helpers/fuzz-cases.ts";
import { RawClient, summarizeV2, type V2Ending } from "./helpers/raw-client.ts";
import { baseEnv, fdCount, finish, liveChildren, runExec, startSpawner, waitForBaseline, type SpawnerProc } from "./helpers/trust-processes.ts";

const CASES = Number(process.env.TRUST_FUZZ_CASES ?? 10_000);
const MASTER_SEED = Number(process.env.TRUST_FUZZ_SEED ?? Math.floor(Math.random() * 0x1_0000_0000));
const ONLY = process.env.TRUST_FUZZ_ONLY === undefined ? null : Number(process.env.TRUST_FUZZ_ONLY);
/** Cases in flight at once (each lane runs its cases one after another). */
const LANES = 8;
/** After the client hangs up, the spawner must close within this (its request deadline is far longer). */
const CLOSE_DEADLINE_MS = 30_000;

let scratch: Scratch;
let spawner: SpawnerProc;
let baselineFds: number;
/** The denied peers' flood (run as nobody), when this machine can run one. */
let flood: string | null = null;
const FLOOD_ROUNDS = 4;
const FLOOD_CONNECTIONS = 600;

beforeAll(async () => {
  scratch = new Scratch();
  const whyNot = whyNoNobody();
  if (whyNot) console.warn(`trust-fuzz: no flood from a denied uid: ${whyNot}`);
  else flood = await nobodyExecutable(scratch, join(import.meta.dir, "helpers/connection-flood.ts"), "connection-flood");
  const socket = scratch.path("portal.sock");
  spawner = await startSpawner(scratch, socket, [
    "--socket", socket, "--mode", "0666", "--log-level", "warn", "--max-fds", String(FUZZ_MAX_FDS), "--max-request-bytes", String(FUZZ_MAX_REQUEST_BYTES),
    "--request-timeout", "120", "--", "/bin/true",
  ]);
  // One request first, so whatever the runtime opens lazily is part of the baseline.
  await runCase(generateValidProbe(), new Stats());
  baselineFds = fdCount(spawner.pid);
});

afterAll(async () => {
  await scratch.cleanup();
});

function generateValidProbe(): FuzzCase {
  for (let i = 0; ; i++) {
    const c = generateCase(1, i);
    if (c.family === "valid-v2") return c;
  }
}

class Stats {
  readonly families = new Map<Family, number>();
  readonly endings = new Map<string, number>();
  readonly fdKinds = new Map<FdKind, number>();
  readonly verdicts = new Map<string, number>();

  count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  show(map: Map<unknown, number>): string {
    return [...map].sort(([a], [b]) => String(a).localeCompare(String(b))).map(([k, v]) => `${k} ${v}`).join(", ");
  }
}

/** Sends one case and checks every reply; throws with the seed and the case on any violation. */
async function runCase(c: FuzzCase, stats: Stats): Promise<void> {
  const fail = (why: string) => {
    throw new Error(`fuzz seed ${MASTER_SEED} case ${c.index} (case seed ${c.seed}): ${why}\n${describeCase(c)}`);
  };
  stats.count(stats.families, c.family);
  const client = RawClient.connect(spawner.socket);
  try {
    for (const step of c.steps) {
      const made = step.fds.map((kind) => {
        stats.count(stats.fdKinds, kind);
        return makeFd(kind);
      });
      let sent;
      try {
        sent = client.send(step.data, made.map((m) => m.fd));
      } finally {
        // The message holds its own references to what is in flight.
        closeAll(made.flatMap((m) => m.owned));
      }
      if (sent === "closed") break;
    }
    if (c.hangUp) client.hangUp();
    let replies: Uint8Array[];
    try {
      replies = await client.repliesUntilClose(CLOSE_DEADLINE_MS);
    } catch (error) {
      return fail((error as Error).message);
    }

    const reference = referenceVerdict(c.steps);
    stats.count(stats.verdicts, `v${reference.protocol} ${reference.verdict}`);
    if (reference.protocol === 2) {
      let ending;
      try {
        ending = summarizeV2(replies);
      } catch (error) {
        return fail(`replies break protocol v2: ${(error as Error).message}`);
      }
      const { outcome, refused } = ending;
      if (refused && (refused.code < 1 || refused.code > 5 || refused.reason.length === 0)) fail(`bad refusal ${JSON.stringify(refused)}`);
      if (outcome?.kind === "exited" && outcome.code !== 0) fail(`/bin/true exited with ${outcome.code}: did something else run?`);
      if (outcome?.kind === "spawn-failed" && outcome.stage === "exec") fail(`spawn failed at exec: ${outcome.message}`);
      const sentSignals = c.notes.flatMap((n) => /^signal (\d+) after START$/.exec(n)?.[1] ?? []).map(Number);
      const sentAny = sentSignals.length > 0 || c.notes.includes("record after START");
      if (outcome?.kind === "signaled" && !(sentAny && (sentSignals.length === 0 || sentSignals.includes(outcome.signal)))) {
        fail(`killed by signal ${outcome.signal}, which the client did not send`);
      }
      // A client that breaks the protocol right behind START may be dropped before its program starts; one that only sends signals may not.
      const brokeEarly = c.notes.some((n) => n === "garbage after START" || n === "bad signal number after START");
      // A signal that ends a process, arriving before the program started, ends the request without it (docs/protocol.md).
      const endedEarly = ending.startedPid === null && outcome?.kind === "signaled" && isFatalByDefault(outcome.signal) && sentSignals.includes(outcome.signal);
      if (c.family === "running-v2" && !brokeEarly && !endedEarly && !(ending.ack && ending.startedPid !== null && !refused)) {
        fail(`a valid request did not start: ${JSON.stringify(ending)}`);
      }
      if (c.family === "running-v2" && !(ending.ack && !refused)) fail(`a valid request was refused: ${JSON.stringify(ending)}`);
      // One the handler would refuse (GRANT without --sandbox) may be ended by such a signal first, even one
      // on a SIGNAL record that carried fds (closed, the signal kept: docs/protocol.md): nothing runs either way.
      const endedBySignal = ending.startedPid === null && outcome?.kind === "signaled" && isFatalByDefault(outcome.signal) && sentAny;
      if (reference.verdict === "refused" && (ending.startedPid !== null || (outcome && !endedBySignal))) fail(`an invalid request (${reference.why}) ran: ${JSON.stringify(ending)}`);
      if (reference.verdict === "runs" && refused && !(c.hangUp && refused.reason === "client went away before its program started")) {
        fail(`a valid request was refused: ${JSON.stringify(refused)}`);
      }
      if (c.valid && !(ending.ack && ending.startedPid !== null && outcome?.kind === "exited" && !refused)) {
        fail(`a valid request did not run: ${JSON.stringify(ending)}`);
      }
      stats.count(stats.endings, refused ? `v2 refused (code ${refused.code})` : outcome ? `v2 ${outcome.kind}${outcome.kind === "spawn-failed" ? ` (${outcome.stage})` : ""}` : "v2 closed without outcome");
    } else {
      if (replies.length > 1 || (replies.length === 1 && replies[0]!.length !== 4)) fail(`v1 replies ${replies.map((r) => r.length)} bytes`);
      const status = replies.length === 1 ? decodeV1Status(replies[0]!) : null;
      if (status !== null && status !== 0) fail(`v1 status 0x${status.toString(16)}: /bin/true does not end like that`);
      if (c.valid && status !== 0) fail(`a valid v1 request did not run (replies: ${replies.length})`);
      if (reference.verdict === "refused" && status !== null) fail(`an invalid v1 request (${reference.why}) ran`);
      stats.count(stats.endings, status === null ? "v1 closed without status" : "v1 status 0");
    }
  } finally {
    client.close();
  }
}

/** Rounds of silent connections from nobody, whom the spawner does not allow: each is closed at accept. */
async function floodFromDeniedUid(): Promise<number[]> {
  if (!flood || ONLY !== null) return [];
  const closed: number[] = [];
  for (let round = 0; round < FLOOD_ROUNDS; round++) {
    const run = startProcess(scratch, [...asNobody(), flood, spawner.socket, String(FLOOD_CONNECTIONS), "--then-hello"], { env: baseEnv(), stdin: "pipe" });
    const { hello } = JSON.parse((await run.stdout.waitFor(/^\{"opened".*\n/m))[0]!) as { hello: V2Ending };
    // Told why, or (when many refused peers are already waiting to be told) just closed: never served.
    expect(hello.ack || hello.startedPid !== null || hello.outcome !== null).toBe(false);
    if (hello.refused) expect(hello.refused.code).toBe(3);
    (run.proc.stdin as import("bun").FileSink).end();
    const result = await finish(run);
    closed.push((JSON.parse(result.stdout.trim().split("\n").at(-1)!) as { closedBySpawner: number }).closedBySpawner);
  }
  return closed;
}

test(
  `${CASES} generated bad (and some good) requests leave the spawner alive, leak-free and serving`,
  async () => {
    console.log(`trust-fuzz: master seed ${MASTER_SEED}${ONLY !== null ? `, only case ${ONLY}` : `, ${CASES} cases`}`);
    const ownedBefore = ownedFdCount();
    const childrenBefore = liveChildren(spawner.pid).length;
    const stats = new Stats();
    const began = performance.now();
    const indices = ONLY !== null ? [ONLY] : Array.from({ length: CASES }, (_, i) => i);
    const lanes = Promise.all(
      Array.from({ length: LANES }, async (_, lane) => {
        for (let k = lane; k < indices.length; k += LANES) await runCase(generateCase(MASTER_SEED, indices[k]!), stats);
      }),
    );
    const closedByFlood = await Promise.all([lanes.then(() => []), floodFromDeniedUid()]).then(([, closed]) => closed);
    expect(closedByFlood).toEqual(Array.from({ length: closedByFlood.length }, () => FLOOD_CONNECTIONS));
    const seconds = ((performance.now() - began) / 1000).toFixed(1);

    expect(spawner.proc.exitCode).toBeNull();
    expect(spawner.proc.signalCode).toBeNull();
    await waitForBaseline(spawner.pid, baselineFds, `spawner fds back to ${baselineFds} after the fuzz (seed ${MASTER_SEED})`);
    const fdsAfter = fdCount(spawner.pid);
    const childrenAfter = liveChildren(spawner.pid).length;
    expect(fdsAfter).toBe(baselineFds);
    expect(childrenAfter).toBe(childrenBefore);
    // The test's own fds (raw clients and the fds they sent) are all closed too.
    expect(ownedFdCount()).toBe(ownedBefore);

    // A valid request still works, through the library and through the CLI.
    expect((await exec({ socket: spawner.socket, args: ["ignored"], fds: [], env: {} })).exitCode).toBe(0);
    expect((await runExec(scratch, ["--one-shot", "--socket", spawner.socket, "--", "x"])).code).toBe(0);
    // Refusals are warnings; an error line would mean a connection failed unexpectedly.
    expect(spawner.stderr.text.split("\n").filter((l) => l.startsWith("portal-spawner: error:"))).toEqual([]);

    console.log(
      `trust-fuzz: ${indices.length} cases in ${seconds} s (seed ${MASTER_SEED}); spawner fds ${baselineFds} before, ${fdsAfter} after; ` +
        `children ${childrenBefore} before, ${childrenAfter} after; warnings logged ${spawner.stderr.text.split("\n").filter((l) => l.startsWith("portal-spawner: warn:")).length}\n` +
        `  families: ${stats.show(stats.families)}\n  reference verdicts: ${stats.show(stats.verdicts)}\n  endings: ${stats.show(stats.endings)}\n  fds sent: ${stats.show(stats.fdKinds)}`,
    );
  },
  { timeout: 600_000 },
);
