// Load: a thousand clients at once (with room for all of them, and against
// --max-children 8, where the burst must wait its turn, none refused), and
// ten thousand one after another. Every client must get its own program's
// exit code (i % 256), and the spawner must end where it started.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Scratch, openFds, waitFor } from "./helpers/harness.ts";
import { ownedFdCount } from "../src/libc/owned-fd.ts";
import { ensureFdLimit } from "./helpers/fd-fixtures.ts";
import { exec, serve, PortalError } from "../src/index.ts";
import { completeRequest } from "./helpers/raw-client.ts";
import { fdCount, liveChildren, startSpawner, waitForBaseline, type SpawnerProc } from "./helpers/trust-processes.ts";

setDefaultTimeout(300_000);

const AT_ONCE = 1000;
const IN_SEQUENCE = 10_000;
const IN_SEQUENCE_WITH_PROCESSES = 10_000;
/** The program every load request runs: exits with its first argument. */
const EXIT_WITH = ["/bin/sh", "-c", 'exit "$1"', "sh"];


const FDS_NEEDED = 4 * AT_ONCE + 1000;
const fdLimit = ensureFdLimit(FDS_NEEDED);
if (!fdLimit.ok) console.warn(`trust-load: skipping the ${AT_ONCE}-at-once tests: RLIMIT_NOFILE hard limit ${fdLimit.hard} < ${FDS_NEEDED}`);

let scratch: Scratch;
beforeAll(() => {
  scratch = new Scratch();
});
afterAll(async () => {
  await scratch.cleanup();
});

async function spawner(name: string, args: string[]): Promise<SpawnerProc & { baseline: number }> {
  const socket = scratch.path(name);
  const proc = await startSpawner(scratch, socket, ["--socket", socket, "--log-level", "error", ...args]);
  // Warm up; the raw client returns once the spawner has closed its end.
  expect((await completeRequest(socket, ["0"])).outcome).toEqual({ kind: "exited", code: 0 });
  return { ...proc, baseline: fdCount(proc.pid) };
}

describe.skipIf(!fdLimit.ok)(`${AT_ONCE} clients at once`, () => {
  test("with --max-children above it, every client gets its own exit code (v2 and v1 mixed)", async () => {
    const s = await spawner("wide.sock", ["--max-children", String(AT_ONCE + 10), "--", ...EXIT_WITH]);
    const began = performance.now();
    const results = await Promise.all(
      Array.from({ length: AT_ONCE }, (_, i) =>
        exec({ socket: s.socket, args: [String(i % 256)], fds: [], env: {}, protocol: i % 10 === 0 ? 1 : 2, handshakeTimeoutMs: 120_000 }),
      ),
    );
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    const wrong = results.flatMap((r, i) => (r.exitCode === i % 256 ? [] : [`client ${i}: ${JSON.stringify(r.outcome)}`]));
    expect(wrong).toEqual([]);
    await waitForBaseline(s.pid, s.baseline, "spawner back to its baseline fds");
    console.log(
      `trust-load: ${AT_ONCE} at once (${AT_ONCE / 10} v1): ${AT_ONCE - wrong.length}/${AT_ONCE} statuses correct in ${seconds} s; ` +
        `spawner fds ${s.baseline} before, ${fdCount(s.pid)} after; children ${liveChildren(s.pid).length} after`,
    );
  });

  test("against --max-children 8 the burst waits its turn: every client gets its own exit code, none is refused (v2 and v1 mixed)", async () => {
    const s = await spawner("narrow.sock", ["--max-children", "8", "--", ...EXIT_WITH]);
    const began = performance.now();
    const outcomes = await Promise.all(
      Array.from({ length: AT_ONCE }, (_, i) =>
        exec({ socket: s.socket, args: [String(i % 256)], fds: [], env: {}, protocol: i % 10 === 0 ? 1 : 2, handshakeTimeoutMs: 120_000 }).then(
          (result) => result,
          (error: unknown) => (error instanceof PortalError ? error.message : `unexpected: ${String(error)}`),
        ),
      ),
    );
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    const failures = outcomes.flatMap((o, i) => (typeof o === "string" ? [`client ${i}: ${o}`] : o.exitCode === i % 256 ? [] : [`client ${i}: ${JSON.stringify(o.outcome)}`]));
    expect(failures).toEqual([]);
    await waitForBaseline(s.pid, s.baseline, "spawner back to its baseline fds");
    console.log(
      `trust-load: ${AT_ONCE} at once (${AT_ONCE / 10} v1) against --max-children 8: ${AT_ONCE - failures.length}/${AT_ONCE} statuses correct, ` +
        `none refused, in ${seconds} s; spawner fds ${s.baseline} before, ${fdCount(s.pid)} after`,
    );
  });
});

describe(`clients one after another`, () => {
  test(`${IN_SEQUENCE} through an in-process serve() handler: every status correct, nothing left open`, async () => {
    const fdsBefore = openFds().length;
    const ownedBefore = ownedFdCount();
    const server = serve({ socket: scratch.path("inproc.sock") }, (request) => Number(request.argStrings()[0]));
    const began = performance.now();
    let correct = 0;
    try {
      for (let i = 0; i < IN_SEQUENCE; i++) {
        const result = await exec({ socket: server.path, args: [String(i % 256)], fds: [], env: {} });
        if (result.exitCode !== i % 256) throw new Error(`client ${i} got ${JSON.stringify(result.outcome)}`);
        correct++;
      }
    } finally {
      await server.close();
    }
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    expect(correct).toBe(IN_SEQUENCE);
    expect(ownedFdCount()).toBe(ownedBefore);
    await waitFor(() => openFds().length <= fdsBefore, `this process back to ${fdsBefore} fds`);
    console.log(`trust-load: ${IN_SEQUENCE} in sequence (in-process handler): ${correct}/${IN_SEQUENCE} correct in ${seconds} s; process fds ${fdsBefore} before, ${openFds().length} after`);
  });

  test(`${IN_SEQUENCE_WITH_PROCESSES} through a spawner process running sh: every status correct`, async () => {
    const s = await spawner("seq.sock", ["--", ...EXIT_WITH]);
    const began = performance.now();
    let correct = 0;
    for (let i = 0; i < IN_SEQUENCE_WITH_PROCESSES; i++) {
      const result = await exec({ socket: s.socket, args: [String(i % 256)], fds: [], env: {} });
      if (result.exitCode !== i % 256) throw new Error(`client ${i} got ${JSON.stringify(result.outcome)}`);
      correct++;
    }
    const seconds = ((performance.now() - began) / 1000).toFixed(1);
    await waitForBaseline(s.pid, s.baseline, "spawner back to its baseline fds");
    console.log(`trust-load: ${IN_SEQUENCE_WITH_PROCESSES} in sequence (spawner process, sh): ${correct} correct in ${seconds} s; spawner fds ${s.baseline} before, ${fdCount(s.pid)} after`);
  });
});
