// Graceful shutdown on SIGTERM: the spawner stops accepting and removes its
// socket at once, lets running programs finish within --shutdown-grace, then
// ends their process groups (SIGTERM, SIGKILL after --kill-grace) and exits 0.
import { afterEach, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { Scratch, processExists, waitFor } from "./helpers/harness.ts";
import type { OwnedFd } from "../src/libc/owned-fd.ts";
import { makePipe } from "./helpers/fd-fixtures.ts";
import { exec, start, PortalError } from "../src/index.ts";
import { encodeHello, encodeRecord, joinNulTerminated, RecordType, RefusalCode } from "../src/protocol/v2.ts";
import { RawClient, summarizeV2 } from "./helpers/raw-client.ts";
import { DEADLINE_MS, finish, Groups, startSpawner, type SpawnerProc } from "./helpers/trust-processes.ts";

setDefaultTimeout(90_000);

let scratch: Scratch;
const groups = new Groups();
const fds: OwnedFd[] = [];
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  for (const fd of fds.splice(0)) fd.close();
  groups.killAll();
  await scratch.cleanup();
});

function gatePipe(): { read: OwnedFd; write: OwnedFd } {
  const gate = makePipe();
  fds.push(gate.read, gate.write);
  return gate;
}

async function spawnerWith(args: string[]): Promise<SpawnerProc> {
  const socket = scratch.path("portal.sock");
  return startSpawner(scratch, socket, ["--socket", socket, ...args]);
}

function run(socket: string, script: string, extra: { fds?: Record<number, number>; args?: string[] } = {}) {
  const remote = start({ socket, args: ["/bin/sh", "-c", script, "sh", ...(extra.args ?? [])], fds: extra.fds ?? {}, env: {}, handshakeTimeoutMs: 30_000 });
  void remote.pid.then((pid) => pid && groups.add(pid));
  return remote;
}

test("programs that finish within the grace keep their status; new clients find no socket", async () => {
  const spawner = await spawnerWith(["--shutdown-grace", "60"]);
  const gate = gatePipe();
  const running = [31, 32].map((code) => run(spawner.socket, 'read x; exit "$1"', { fds: { 0: gate.read.fd }, args: [String(code)] }));
  await Promise.all(running.map((r) => r.pid));

  spawner.proc.kill("SIGTERM");
  await spawner.stderr.waitFor(/info: SIGTERM: stopping \(running programs get 60 s\)/);
  await waitFor(() => !existsSync(spawner.socket), "the socket to be removed", DEADLINE_MS);
  await expect(exec({ socket: spawner.socket, args: ["/bin/true"], fds: [] })).rejects.toThrow(PortalError);
  expect(spawner.proc.exitCode).toBeNull();

  gate.write.close();
  expect((await Promise.all(running.map((r) => r.result))).map((r) => r.exitCode)).toEqual([31, 32]);
  expect((await finish(spawner)).code).toBe(0);
});

test("after the grace, program groups are terminated (grandchildren included), and SIGKILLed if they ignore SIGTERM", async () => {
  const spawner = await spawnerWith(["--shutdown-grace", "0.2", "--kill-grace", "0.5"]);
  const grandchildFile = scratch.path("grandchild");
  const polite = run(spawner.socket, `sleep 600 & echo $! > ${grandchildFile}; wait`);
  const trapped = scratch.path("trapped");
  const stubborn = run(spawner.socket, `trap "" TERM; touch ${trapped}; while :; do sleep 1; done`);
  await Promise.all([polite.pid, stubborn.pid]);
  const grandchild = Number(await waitFor(() => existsSync(grandchildFile) && readFileSync(grandchildFile, "utf8").trim(), "the grandchild's pid"));
  // SIGTERM must not arrive before the stubborn program ignores it.
  await waitFor(() => existsSync(trapped), "the TERM trap to be set");

  spawner.proc.kill("SIGTERM");
  const [p, s] = await Promise.all([polite.result, stubborn.result]);
  expect(p.signal).toBe("SIGTERM");
  expect(s.signal).toBe("SIGKILL");
  expect((await finish(spawner)).code).toBe(0);
  await waitFor(() => !processExists(grandchild), "the grandchild to be gone", DEADLINE_MS);
  expect(existsSync(spawner.socket)).toBe(false);
});

test("a client still sending its request when SIGTERM arrives is refused at its deadline and the spawner exits", async () => {
  const spawner = await spawnerWith(["--shutdown-grace", "60", "--request-timeout", "1"]);
  const client = RawClient.connect(spawner.socket);
  try {
    client.send(encodeHello());
    // Accepted and in the middle of its request (HELLO_ACK came back).
    const ack = await client.next(DEADLINE_MS);
    expect(ack.kind).toBe("record");
    client.send(encodeRecord(RecordType.Args, joinNulTerminated([new TextEncoder().encode("/bin/true")], "args")));
    spawner.proc.kill("SIGTERM");
    const ending = summarizeV2(await client.repliesUntilClose(DEADLINE_MS));
    expect(ending).toEqual({ ack: false, startedPid: null, outcome: null, refused: { code: RefusalCode.Limit, reason: "request not complete within 1000 ms" } });
  } finally {
    client.close();
  }
  expect((await finish(spawner)).code).toBe(0);
});
