// Flatpak's HostCommandSignal chooses between the process and its group
// (to_process_group), and HostCommandExited carries the raw wait status:
// the v2 SIGNAL record's process-only flag, RemoteProcess.kill(signal,
// { group }), portal-exec relaying to the group, and ExecResult.waitStatus.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { start, exec } from "../src/index.ts";
import { decodeRecord, decodeSignal, encodeSignal, ProtocolError, SIGNAL_PROCESS_ONLY } from "../src/protocol/v2.ts";
import { BUN, EXEC, Scratch, startProcess, waitFor } from "./helpers/harness.ts";
import { listeningSpawner } from "./helpers/listening-spawner.ts";
import { startSpawner } from "./helpers/cli-processes.ts";
import { outputFile } from "./helpers/fd-fixtures.ts";

setDefaultTimeout(60_000);

const ENV = ["PATH=/usr/bin:/bin"];

describe("the SIGNAL record", () => {
  test("to the group by default (revision 2's 4 bytes); the process-only flag makes it 8; unknown flags are refused", () => {
    const group = decodeRecord(encodeSignal(15));
    expect(group.payload.length).toBe(4);
    expect(decodeSignal(group.payload)).toEqual({ signal: 15, group: true, background: false });
    const processOnly = decodeRecord(encodeSignal(10, { group: false }));
    expect([...processOnly.payload]).toEqual([10, 0, 0, 0, SIGNAL_PROCESS_ONLY, 0, 0, 0]);
    expect(decodeSignal(processOnly.payload)).toEqual({ signal: 10, group: false, background: false });
    expect(() => decodeSignal(new Uint8Array([10, 0, 0, 0, 4, 0, 0, 0]))).toThrow(ProtocolError);
  });
});

/**
 * A shell (the program) with a background shell in its process group; each
 * says which of SIGUSR1 and SIGUSR2 it got. The test sends SIGUSR1 one way,
 * then SIGUSR2 to the group: a shell runs its pending traps in signal order,
 * so once both said USR2, a USR1 that reached a shell has been said too.
 */
const TWO_SHELLS = `
trap 'echo parent-USR1' USR1; trap 'echo parent-USR2' USR2
sh -c 'trap "echo child-USR1" USR1; trap "echo child-USR2" USR2; echo child-ready; while :; do sleep 1; done' &
echo parent-ready
while :; do sleep 1; done`;

const servers: Array<[string, () => Promise<string>]> = [["a spawner", async () => (await listeningSpawner(scratch)).socket]];
if (process.getuid?.() === 0) {
  servers.push(["a --sandbox spawner (its init sends the signal)", async () => {
    const path = scratch.path("sandbox.sock");
    return (await startSpawner(scratch, ["--socket", path, "--sandbox"], { expectSocket: path })).socket;
  }]);
}

let scratch: Scratch;
beforeAll(() => {
  scratch = new Scratch();
});
afterAll(() => scratch.cleanup());

for (const [which, listen] of servers) {
  describe(`kill(signal, { group }) through ${which}`, () => {
    let socket: string;
    beforeAll(async () => {
      socket = await listen();
    });

    const sandboxGrants = () => (which.includes("sandbox") ? { grants: ["/usr", "/bin", "/lib", "/lib64"].filter((p) => existsSync(p)).map((path) => ({ path })) } : {});

    for (const group of [false, true]) {
      test(`{ group: ${group} } reaches ${group ? "the whole process group" : "the program alone"}`, async () => {
        const out = outputFile(scratch.path(`two-shells-${group}-${which.length}.out`));
        try {
          const remote = start({ socket, args: ["/bin/sh", "-c", TWO_SHELLS], env: ENV, fds: { 1: out.fd.fd }, ...sandboxGrants() });
          const pid = await remote.pid;
          expect(pid).toBeGreaterThan(0);
          await waitFor(() => out.text().includes("parent-ready") && out.text().includes("child-ready"), "both shells to set their traps", 30_000);
          expect(remote.kill("SIGUSR1", { group })).toBe(true);
          expect(remote.kill("SIGUSR2")).toBe(true);
          await waitFor(() => out.text().includes("parent-USR2") && out.text().includes("child-USR2"), "both shells to get SIGUSR2", 30_000);
          const said = out.text().split("\n").filter((line) => line.endsWith("USR1")).sort();
          expect(said).toEqual(group ? ["child-USR1", "parent-USR1"] : ["parent-USR1"]);
          expect(remote.kill("SIGKILL")).toBe(true);
          const result = await remote.result;
          expect(result).toMatchObject({ signal: "SIGKILL", signalNumber: 9, waitStatus: 9 });
        } finally {
          out.fd.close();
        }
      });
    }
  });
}

describe("portal-exec relays to the group", () => {
  test("SIGUSR1 sent to portal-exec reaches the program and the background shell in its group", async () => {
    const socket = (await listeningSpawner(scratch, [], { name: "relay.sock" })).socket;
    const out = outputFile(scratch.path("relay.out"));
    try {
      const run = startProcess(scratch, [BUN, EXEC, "--socket", socket, "--fd", `${3}:1`, "--", "/bin/sh", "-c", TWO_SHELLS], { extraFds: [out.fd.fd] });
      await waitFor(() => out.text().includes("parent-ready") && out.text().includes("child-ready"), "both shells to set their traps", 30_000);
      run.proc.kill("SIGUSR1");
      run.proc.kill("SIGUSR2");
      // Two signals pending at once may be relayed in either order, as the runtime hands them over.
      const said = () => out.text().split("\n").filter((line) => /USR[12]$/.test(line)).sort();
      await waitFor(() => said().length >= 4, "both shells to get SIGUSR1 and SIGUSR2", 30_000);
      expect(said()).toEqual(["child-USR1", "child-USR2", "parent-USR1", "parent-USR2"]);
      run.proc.kill("SIGTERM");
      await run.proc.exited;
    } finally {
      out.fd.close();
    }
  });
});

describe("ExecResult.waitStatus, as waitpid(2) would give it", () => {
  test("exit code N is N << 8, death by signal N is N, a program not found is 127 << 8", async () => {
    const socket = (await listeningSpawner(scratch, [], { name: "status.sock" })).socket;
    const run = (args: string[]) => exec({ socket, args, env: ENV, fds: [] });
    expect((await run(["/bin/sh", "-c", "exit 3"])).waitStatus).toBe(3 << 8);
    expect((await run(["/bin/sh", "-c", "kill -TERM $$"])).waitStatus).toBe(15);
    expect((await run(["no-such-program-for-portal-tests"])).waitStatus).toBe(127 << 8);
  });
});
