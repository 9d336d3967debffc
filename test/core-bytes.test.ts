// Argv, environment and cwd are bytes on Linux: whatever bytes the caller
// has must reach the program unchanged, through the library and through the
// portal-exec CLI, and requests of megabytes must arrive complete.
import { test, expect, beforeAll, afterAll, describe, setDefaultTimeout } from "bun:test";
import { createHash } from "node:crypto";
import { mkdirSync, realpathSync } from "node:fs";
import { exec, serve, type PortalRequest } from "../src/index.ts";
import { BUN, EXEC, SPAWNER, Scratch, isListening, waitFor } from "./helpers/harness.ts";
import { listeningSpawner } from "./helpers/listening-spawner.ts";
import { outputFile } from "./helpers/fd-fixtures.ts";
import { exactCommand, nulJoined, portalExecArgv, splitNul, type ByteItem } from "./helpers/exact-argv.ts";

// Generous: the machine may be loaded; every wait inside has its own deadline.
setDefaultTimeout(30_000);

const bytes = (...values: number[]) => new Uint8Array(values);
const concat = (...parts: (string | Uint8Array)[]) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

/** Arguments no UTF-8 round trip survives, plus empty ones (the last one too). */
const AWKWARD_ARGS: ByteItem[] = [
  bytes(0xff, 0xfe),
  "",
  "plain",
  concat("a", bytes(0xc3, 0x28), "b"), // invalid UTF-8 sequence
  bytes(0x80),
  "two words\nand a newline\n",
  "%s \\n $HOME '\"",
  "",
];

const AWKWARD_ENV: ByteItem[] = [
  "PATH=/usr/bin:/bin",
  concat("RAW=", bytes(0xff, 0xfe)),
  "EMPTY=",
  concat("MIXED=x", bytes(0xe2, 0x82), "\n", bytes(0x80)),
  concat(bytes(0xff), "NAME=value"), // the name is not UTF-8 either
  "EQUALS=a=b=c",
];

const PRINTF_ARGS = ["/usr/bin/printf", "%s\\000"];

/**
 * `env -0` output without the PORTAL_PEER_* variables the spawner adds
 * itself (they say who asked; they are not the client's environment).
 */
function clientEnvironment(output: Uint8Array): Buffer[] {
  return splitNul(output).filter((entry) => !entry.subarray(0, 12).equals(Buffer.from("PORTAL_PEER_")));
}

let scratch: Scratch;
let socket: string;
/** A directory whose name is not UTF-8. */
let oddDir: Uint8Array;

beforeAll(async () => {
  scratch = new Scratch();
  socket = (await listeningSpawner(scratch)).socket;
  oddDir = concat(realpathSync(scratch.dir), "/dir-", bytes(0xff, 0x20, 0xfe), "-end");
  mkdirSync(Buffer.from(oddDir));
});

afterAll(async () => {
  await scratch.cleanup();
});

async function runProcess(command: string[], env?: Record<string, string>) {
  const proc = scratch.track(Bun.spawn(command, { stdio: ["ignore", "pipe", "pipe"], env: env ?? process.env }));
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { stdout: Buffer.from(stdout), stderr, code };
}

describe("through the library", () => {
  test("non-UTF-8 and empty arguments reach the program byte for byte", async () => {
    const out = outputFile(scratch.path("args.out"));
    try {
      const result = await exec({ socket, args: [...PRINTF_ARGS, ...AWKWARD_ARGS], env: ["PATH=/usr/bin:/bin"], fds: { 1: out.fd.fd } });
      expect(result.exitCode).toBe(0);
      expect(out.bytes()).toEqual(nulJoined(AWKWARD_ARGS));
    } finally {
      out.fd.close();
    }
  });

  test("non-UTF-8 environment entries reach the program byte for byte, in order", async () => {
    const out = outputFile(scratch.path("env.out"));
    try {
      const result = await exec({ socket, args: ["/usr/bin/env", "-0"], env: AWKWARD_ENV, fds: { 1: out.fd.fd } });
      expect(result.exitCode).toBe(0);
      expect(nulJoined(clientEnvironment(out.bytes()))).toEqual(nulJoined(AWKWARD_ENV));
    } finally {
      out.fd.close();
    }
  });

  test("a cwd whose name is not UTF-8 is where the program starts", async () => {
    const out = outputFile(scratch.path("cwd.out"));
    try {
      const result = await exec({ socket, args: ["/usr/bin/pwd", "-P"], env: [], cwd: oddDir, fds: { 1: out.fd.fd } });
      expect(result.exitCode).toBe(0);
      expect(out.bytes()).toEqual(Buffer.from(concat(oddDir, "\n")));
    } finally {
      out.fd.close();
    }
  });
});

describe("through the portal-exec CLI", () => {
  test("the byte-exact launcher itself delivers the bytes (control, no portal involved)", async () => {
    const { stdout, code } = await runProcess(exactCommand([...PRINTF_ARGS, ...AWKWARD_ARGS], { env: [] }));
    expect(code).toBe(0);
    expect(stdout as Uint8Array).toEqual(nulJoined(AWKWARD_ARGS) as Uint8Array);
  });

  test("non-UTF-8 and empty arguments given to portal-exec reach the program byte for byte", async () => {
    const command = exactCommand(portalExecArgv(["--socket", socket, "--", ...PRINTF_ARGS, ...AWKWARD_ARGS]), { env: ["PATH=/usr/bin:/bin"] });
    const { stdout, stderr, code } = await runProcess(command);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout as Uint8Array).toEqual(nulJoined(AWKWARD_ARGS) as Uint8Array);
  });

  test("portal-exec's non-UTF-8 environment reaches the program byte for byte (PORTAL_* stays behind)", async () => {
    const env = [...AWKWARD_ENV, "PORTAL_ONE_SHOT=1"];
    const command = exactCommand(portalExecArgv(["--socket", socket, "--", "/usr/bin/env", "-0"]), { env });
    const { stdout, stderr, code } = await runProcess(command);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(nulJoined(clientEnvironment(stdout))).toEqual(nulJoined(AWKWARD_ENV));
  });

  test("portal-exec started in a non-UTF-8 directory runs the program there", async () => {
    const command = exactCommand(portalExecArgv(["--socket", socket, "--", "/usr/bin/pwd", "-P"]), { env: [], cwd: oddDir });
    const { stdout, stderr, code } = await runProcess(command);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toEqual(Buffer.from(concat(oddDir, "\n")));
  });

  test("--cwd with a non-UTF-8 directory name runs the program there", async () => {
    const command = exactCommand(portalExecArgv(["--socket", socket, "--cwd", oddDir, "--", "/usr/bin/pwd", "-P"]), { env: [], cwd: "/" });
    const { stdout, stderr, code } = await runProcess(command);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toEqual(Buffer.from(concat(oddDir, "\n")));
  });
});

/** `count` entries NAME_i=<value> of `valueBytes` pseudo-random printable bytes each. */
function bulkEntries(prefix: string, count: number, valueBytes: number): Uint8Array[] {
  let seed = 12345;
  return Array.from({ length: count }, (_, i) => {
    const value = new Uint8Array(valueBytes);
    for (let j = 0; j < valueBytes; j++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      value[j] = 0x21 + ((seed >>> 16) % 94); // printable ASCII; an '=' in a value is fine, the first one splits
    }
    return concat(`${prefix}_${i}=`, value);
  });
}

const totalBytes = (items: readonly Uint8Array[]) => items.reduce((n, item) => n + item.length + 1, 0);

describe("size", () => {
  // 256 variables of 4 KiB: 1 MiB in all, each far below the kernel's 128 KiB per-string limit.
  const bigEnv = bulkEntries("BIG", 256, 4096);

  test("a 1 MiB environment arrives complete through the library", async () => {
    expect(totalBytes(bigEnv)).toBeGreaterThanOrEqual(1 << 20);
    const out = outputFile(scratch.path("bigenv.out"));
    try {
      const result = await exec({ socket, args: ["/usr/bin/env", "-0"], env: bigEnv, fds: { 1: out.fd.fd } });
      expect(result.exitCode).toBe(0);
      const received = nulJoined(clientEnvironment(out.bytes()));
      expect(received.length).toBe(totalBytes(bigEnv));
      expect(sha256(received)).toBe(sha256(nulJoined(bigEnv)));
    } finally {
      out.fd.close();
    }
  }, 60_000);

  test("a 1 MiB environment arrives complete through portal-exec", async () => {
    const env = Object.fromEntries(bigEnv.map((entry) => {
      const text = new TextDecoder().decode(entry);
      const eq = text.indexOf("=");
      return [text.slice(0, eq), text.slice(eq + 1)];
    }));
    const { stdout, stderr, code } = await runProcess([BUN, EXEC, "--socket", socket, "--", "/usr/bin/env", "-0"], env);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    // Bun.spawn decides the order of portal-exec's environment: compare the sorted entries.
    const sorted = (items: Uint8Array[]) => nulJoined([...items].map((b) => Buffer.from(b)).sort(Buffer.compare));
    const received = clientEnvironment(stdout);
    expect(totalBytes(received)).toBe(totalBytes(bigEnv));
    expect(sha256(sorted(received))).toBe(sha256(sorted(bigEnv)));
  }, 60_000);

  test("a request of 2 MiB of arguments and environment is carried whole to a handler", async () => {
    const args = bulkEntries("ARG", 512, 2048); // 1 MiB
    const env = bulkEntries("ENV", 256, 4096); // 1 MiB
    const sockPath = scratch.path("handler-2mib.sock");
    let seen: { args: string; env: string; argc: number; envc: number; cwd: string | null } | null = null;
    const server = serve({ socket: sockPath }, (request: PortalRequest) => {
      seen = {
        args: sha256(nulJoined(request.args)),
        env: sha256(nulJoined(request.env)),
        argc: request.args.length,
        envc: request.env.length,
        cwd: request.cwd && new TextDecoder().decode(request.cwd),
      };
      return 7;
    });
    try {
      expect(totalBytes(args) + totalBytes(env)).toBeGreaterThanOrEqual(2 << 20);
      const result = await exec({ socket: sockPath, args, env, cwd: "/tmp", fds: [] });
      expect(result.exitCode).toBe(7);
      expect(seen!).toEqual({ args: sha256(nulJoined(args)), env: sha256(nulJoined(env)), argc: 512, envc: 256, cwd: "/tmp" });
    } finally {
      await server.close();
    }
  }, 60_000);

  test("an argument above the kernel's 128 KiB per-string limit is a spawn failure (E2BIG, 126), not a portal failure", async () => {
    const huge = "x".repeat(200 * 1024);
    const result = await exec({ socket, args: ["/bin/true", huge], env: [], fds: [] });
    expect(result.failed).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.shellExitCode).toBe(126);
    expect(result.outcome).toMatchObject({ kind: "spawn-failed", stage: "exec", errno: 7 });
    expect(result.outcome.kind === "spawn-failed" && result.outcome.message).toContain("Argument list too long");
  }, 30_000);

  test("portal-exec reports E2BIG from the spawner's exec with exit 126 and the reason", async () => {
    // A spawner whose stack limit is 1 MiB may exec at most 256 KiB of argv+env;
    // the client, with the usual 8 MiB stack, can still be started with 400 KiB.
    const small = scratch.path("small-stack.sock");
    const spawner = scratch.track(
      Bun.spawn(["/bin/sh", "-c", 'ulimit -s 1024 && exec "$@"', "sh", BUN, SPAWNER, "--socket", small], { stdio: ["ignore", "ignore", "inherit"] }),
    );
    await waitFor(() => isListening(small) || spawner.exitCode !== null, `small-stack spawner listening on ${small}`, 30_000);
    expect(spawner.exitCode).toBeNull();
    const args = Array.from({ length: 4 }, (_, i) => `${i}`.repeat(100 * 1024));
    const { stdout, stderr, code } = await runProcess([BUN, EXEC, "--socket", small, "--", "/bin/true", ...args], { PATH: "/usr/bin:/bin" });
    expect(stdout.length).toBe(0);
    expect(stderr).toBe("portal-exec: cannot run '/bin/true': Argument list too long\n");
    expect(code).toBe(126);
  }, 60_000);
});
