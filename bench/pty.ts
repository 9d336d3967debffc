// The terminal across the portal, against a direct pty. The bench plays the
// terminal emulator: it holds the master of an "outer" pty whose slave is
// the stdin, stdout and stderr of either the program itself (direct) or of
// portal-exec (which then relays to the pty the spawner made). Figures:
//   - keystroke round trip: one byte written at the outer master until the
//     program (cat, in raw mode without echo) has sent it back;
//   - 100 MiB written by the program until all of it arrived at the master;
//   - start-up: portal-exec true with its pty against --no-pty.
import type { Subprocess } from "bun";
import { openPty } from "../src/libc/tty.ts";
import { setNonBlocking, tryRead, tryWrite } from "../src/libc/file.ts";
import { PollList } from "../src/libc/poll.ts";
import { POLLIN } from "../src/libc/constants.ts";
import { EAGAIN } from "../src/libc/errno-values.ts";
import type { OwnedFd } from "../src/libc/owned-fd.ts";

const DEADLINE_MS = 20_000;
const MIB = 1024 * 1024;

interface Outer {
  master: OwnedFd;
  slave: OwnedFd;
}

function outerPty(): Outer {
  const { master, slave } = openPty();
  setNonBlocking(master.fd, true);
  return { master, slave };
}

/** Reads from the master until `done(total bytes)`; returns what was read when `keep`. */
function readUntil(master: OwnedFd, done: (total: number, text: string) => boolean, keep = true): string {
  const list = new PollList(1);
  const buffer = new Uint8Array(256 * 1024);
  let total = 0;
  let text = "";
  const deadline = performance.now() + DEADLINE_MS;
  for (;;) {
    const got = tryRead(master.fd, buffer);
    if (got > 0) {
      total += got;
      if (keep) text += new TextDecoder().decode(buffer.subarray(0, got));
      if (done(total, text)) return text;
      continue;
    }
    if (got !== -EAGAIN) throw new Error(`reading the outer pty: errno ${-got} after ${total} bytes`);
    if (performance.now() > deadline) throw new Error(`the outer pty went quiet after ${total} bytes`);
    list.clear();
    list.add(master.fd, POLLIN);
    list.wait(100);
  }
}

function startOn(outer: Outer, argv: string[]): Subprocess {
  return Bun.spawn(argv, { stdio: [outer.slave.fd, outer.slave.fd, outer.slave.fd] });
}

/** argv for the program `program`, run directly or through `client`. */
type Via = (program: string[]) => string[];

export function directly(): Via {
  return (program) => program;
}

export function throughPortal(client: string, socket: string, extra: string[] = []): Via {
  return (program) => [client, "--socket", socket, ...extra, "--", ...program];
}

/** Keystroke round trips, in ms: `count` single bytes, each sent once the previous one came back. */
export async function measureEcho(via: Via, count: number): Promise<number[]> {
  const outer = outerPty();
  const proc = startOn(outer, via(["/bin/sh", "-c", "stty raw -echo; echo ready; exec cat"]));
  try {
    readUntil(outer.master, (_, text) => text.includes("ready"));
    // Whatever followed "ready" (a newline) is drained by the first round trips' reads.
    const samples: number[] = [];
    for (let i = 0; i < count; i++) {
      const key = String.fromCharCode(97 + (i % 26));
      const sent = performance.now();
      if (tryWrite(outer.master.fd, new TextEncoder().encode(key)) !== 1) throw new Error("could not type into the outer pty");
      readUntil(outer.master, (_, text) => text.includes(key));
      samples.push(performance.now() - sent);
    }
    return samples;
  } finally {
    proc.kill("SIGKILL");
    await proc.exited;
    outer.master.close();
    outer.slave.close();
  }
}

/** ms to move `mib` MiB from the program through its terminal to the outer master. */
export async function measureThroughput(via: Via, mib: number): Promise<number> {
  const outer = outerPty();
  const bytes = mib * MIB;
  // raw: no newline translation, so exactly `bytes` arrive.
  // It starts writing when told to (one key), so nothing of it arrives with "go".
  const proc = startOn(outer, via(["/bin/sh", "-c", `stty raw -echo; echo go; head -c 1 >/dev/null; exec head -c ${bytes} /dev/zero`]));
  try {
    readUntil(outer.master, (_, text) => text.includes("go"));
    const began = performance.now();
    if (tryWrite(outer.master.fd, new Uint8Array([0x20])) !== 1) throw new Error("could not type into the outer pty");
    readUntil(outer.master, (total) => total >= bytes, false);
    return performance.now() - began;
  } finally {
    await proc.exited;
    outer.master.close();
    outer.slave.close();
  }
}

/** ms from start to exit of `argv` with a terminal as its stdio. */
export async function measureStart(argv: string[], runs: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const outer = outerPty();
    try {
      const began = performance.now();
      const proc = startOn(outer, argv);
      const code = await proc.exited;
      if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}`);
      samples.push(performance.now() - began);
    } finally {
      outer.master.close();
      outer.slave.close();
    }
  }
  return samples;
}
