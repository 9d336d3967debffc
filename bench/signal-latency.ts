// Signal forwarding, client -> program: from the moment the signal is sent
// to the moment the program is dead. The program holds the write end of a
// pipe whose read end stays here; the kernel closes it when the program dies,
// so end-of-file on the read end is the death, seen without the spawner's help.
import type { OwnedFd } from "../src/libc/owned-fd.ts";
import { pipe as makePipe, readInto } from "../src/libc/file.ts";
import { PollList } from "../src/libc/poll.ts";
import { POLLIN } from "../src/libc/constants.ts";
import { start } from "../src/client/exec.ts";

/** Says "started" on fd 3, then becomes a process that only a signal ends. */
const PROGRAM = ["/bin/sh", "-c", "echo >&3; exec sleep 1000"];
const DEADLINE_MS = 10_000;

function pipe(): { read: OwnedFd; write: OwnedFd } {
  const [read, write] = makePipe();
  return { read, write };
}

/**
 * Blocks until `fd` yields data (true) or end of file (false). Blocking the
 * JS thread is fine here: the spawner is another process, and the client's
 * own part (sending the SIGNAL record) was done synchronously.
 */
function readByte(fd: OwnedFd): boolean {
  const list = new PollList(1);
  list.add(fd.fd, POLLIN);
  if (list.wait(DEADLINE_MS) !== 1) throw new Error(`no event on the program's pipe within ${DEADLINE_MS} ms`);
  return readInto(fd.fd, new Uint8Array(1)) === 1;
}

/** Through the library: RemoteProcess.kill() sends the SIGNAL record. */
export async function measureLibrarySignal(socket: string, options: { iterations: number; warmup: number }): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < options.warmup + options.iterations; i++) {
    const { read, write } = pipe();
    try {
      const remote = start({ socket, args: PROGRAM, fds: new Map([[3, write.fd]]) });
      // Yield until the request is sent (it needs the handshake), then wait for the program.
      await remote.pid;
      write.close();
      if (!readByte(read)) throw new Error("the program closed its pipe before it started");
      const sent = performance.now();
      if (!remote.kill("SIGTERM")) throw new Error("kill() could not send the signal");
      if (readByte(read)) throw new Error("the program wrote instead of dying");
      const ms = performance.now() - sent;
      const result = await remote.result;
      if (result.signal !== "SIGTERM") throw new Error(`the program ended with ${result.outcome.kind} ${result.shellExitCode}, not SIGTERM`);
      if (i >= options.warmup) samples.push(ms);
    } finally {
      write.close();
      read.close();
    }
  }
  return samples;
}

/** Through a portal-exec process that receives SIGTERM and relays it. */
export async function measureCliSignal(clientArgv: string[], socket: string, options: { iterations: number; warmup: number }): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < options.warmup + options.iterations; i++) {
    const { read, write } = pipe();
    const client = Bun.spawn([...clientArgv, "--socket", socket, "--fd", "3", ...PROGRAM], {
      stdio: ["ignore", "ignore", "inherit", write.fd],
    });
    try {
      write.close();
      if (!readByte(read)) throw new Error("the program closed its pipe before it started");
      const sent = performance.now();
      client.kill("SIGTERM");
      if (readByte(read)) throw new Error("the program wrote instead of dying");
      const ms = performance.now() - sent;
      await client.exited;
      if (client.signalCode !== "SIGTERM") throw new Error(`portal-exec ended with ${client.exitCode ?? client.signalCode}, not SIGTERM`);
      if (i >= options.warmup) samples.push(ms);
    } finally {
      if (client.exitCode === null && client.signalCode === null) client.kill("SIGKILL");
      await client.exited;
      write.close();
      read.close();
    }
  }
  return samples;
}
