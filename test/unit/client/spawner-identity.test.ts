// The pipelining cache (src/client/spawner-identity.ts): a request goes out
// behind its HELLO only to the spawner process that answered before, named
// by HELLO_ACK and confirmed by SO_PEERCRED and the process's start time.
// Here the "spawner" is this process, at the other end of a socketpair (the
// kernel names us as the peer), so nothing else is started.
import { afterAll, expect, test } from "bun:test";
import { unixSocketPair } from "../../../src/libc/socket.ts";
import { SOCK_SEQPACKET } from "../../../src/libc/constants.ts";
import { processStartTicks } from "../../../src/process/start-time.ts";
import { knownSpawner, rememberSpawner } from "../../../src/client/spawner-identity.ts";
import type { HelloAck } from "../../../src/protocol/v2.ts";

const [ours, theirs] = unixSocketPair(SOCK_SEQPACKET);
afterAll(() => {
  ours.close();
  theirs.close();
});

const self = { pid: process.pid, startTicks: processStartTicks("self")! };
const limits = { maxRecordBytes: 65536, maxRequestBytes: 1 << 23, maxFds: 4096 };
const ack = (spawner?: HelloAck["spawner"], version = 3): HelloAck => ({ version, ...limits, ...(spawner ? { spawner } : {}) });

test("a spawner that named itself, and is our peer, is known: its limits come back", () => {
  rememberSpawner("/run/same.sock", ack(self));
  expect(knownSpawner("/run/same.sock", ours)).toEqual(ack(self));
  expect(knownSpawner("/run/same.sock", ours)).toEqual(ack(self));
});

test("nothing remembered, another path, or a revision-2 ACK (no name): no pipelining", () => {
  expect(knownSpawner("/run/never.sock", ours)).toBeNull();
  rememberSpawner("/run/a.sock", ack(self));
  expect(knownSpawner("/run/b.sock", ours)).toBeNull();
  rememberSpawner("/run/two.sock", ack(undefined, 2));
  expect(knownSpawner("/run/two.sock", ours)).toBeNull();
});

test("a peer other than the process HELLO_ACK named (as under socket activation, where SO_PEERCRED names the listener): not known", () => {
  const listener = process.pid === 1 ? 2 : 1;
  rememberSpawner("/run/activated.sock", ack({ pid: listener, startTicks: processStartTicks(listener) ?? 0n }));
  expect(knownSpawner("/run/activated.sock", ours)).toBeNull();
});

test("the same pid with another start time (a new process that got the pid): not known", () => {
  rememberSpawner("/run/reused.sock", ack({ pid: self.pid, startTicks: self.startTicks + 1n }));
  expect(knownSpawner("/run/reused.sock", ours)).toBeNull();
});
