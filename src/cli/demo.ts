// portal demo: the whole product in one run. A spawner on a temporary
// socket; a shared buffer (memfd, standing in for a dmabuf) at fd 3 and a
// command pipe at fd 0 handed to portal-exec; a renderer inside the spawner
// draws into the buffer; we check the pixels and time the round trips.
import { defineCommand } from "citty";
import { mkdtempSync, readSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { memFd, pipe as makePipe, readInto, writeAll } from "../libc/file.ts";
import { drawFrame, HEIGHT, WIDTH } from "../demo/renderer.ts";

const here = import.meta.dir;
const bun = process.execPath;

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function lines(stream: ReadableStream<Uint8Array>): Promise<AsyncIterator<string>> {
  async function* gen() {
    let pending = "";
    for await (const chunk of stream) {
      pending += new TextDecoder().decode(chunk);
      let i: number;
      while ((i = pending.indexOf("\n")) >= 0) {
        yield pending.slice(0, i);
        pending = pending.slice(i + 1);
      }
    }
  }
  return gen();
}

/** Starts a spawner and returns once it says it is listening (s6-style --ready-fd). */
function startSpawner(socket: string) {
  const [readEnd, writeEnd] = makePipe();
  try {
    const spawner = Bun.spawn([bun, join(here, "portal-spawner.ts"), "--socket", socket, "--ready-fd", "3"], {
      stdio: ["ignore", "inherit", "inherit", writeEnd.fd],
    });
    writeEnd.close();
    // Blocks until the newline arrives, or EOF if the spawner died first.
    if (readInto(readEnd.fd, new Uint8Array(1)) !== 1) throw new Error("the spawner exited before it was ready");
    return spawner;
  } finally {
    writeEnd.close();
    readEnd.close();
  }
}

export async function runDemo(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "portal-demo-"));
  const socket = join(dir, "portal.sock");
  const spawner = startSpawner(socket);
  const memfd = memFd("portal-demo-buffer");
  const [commandsRead, commandsWrite] = makePipe();
  let failed = false;
  try {
    const size = WIDTH * HEIGHT * 4;
    const { ftruncateSync } = await import("node:fs");
    ftruncateSync(memfd.fd, size);
    say(`spawner: pid ${spawner.pid} on ${socket}`);

    // Warm-up and round-trip figure: portal-exec /bin/true as a fresh process.
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      const p = Bun.spawn([bun, join(here, "portal-exec.ts"), "--socket", socket, "--", "/bin/true"], { stdio: ["ignore", "inherit", "inherit"] });
      const code = await p.exited;
      if (code !== 0) throw new Error(`portal-exec /bin/true exited ${code}`);
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    say(`portal-exec /bin/true round trip (fresh client process): median ${times[2]!.toFixed(1)} ms`);

    const client = Bun.spawn(
      [bun, join(here, "portal-exec.ts"), "--socket", socket, "--fd", "0", "--fd", "1", "--fd", "2", "--fd", "3", "--", bun, join(here, "..", "demo", "renderer.ts")],
      { stdio: [commandsRead.fd, "pipe", "inherit", memfd.fd] },
    );
    commandsRead.close();
    const status = await lines(client.stdout);
    const next = async () => (await status.next()).value as string | undefined;
    say(`renderer: ${await next()}`);
    const send = (line: string) => {
      writeAll(commandsWrite.fd, Buffer.from(`${line}\n`));
    };
    send("fill 0 0 128");
    say(`renderer: ${await next()}`);
    const rtts: number[] = [];
    for (let n = 1; n <= 20; n++) {
      const t = performance.now();
      send(`frame ${n}`);
      const reply = await next();
      rtts.push(performance.now() - t);
      if (reply !== `frame ${n} done`) throw new Error(`renderer answered '${reply}' to frame ${n}`);
    }
    rtts.sort((a, b) => a - b);
    say(`command -> frame drawn -> status round trip: median ${rtts[10]!.toFixed(2)} ms over 20 frames`);

    const pixels = new Uint8Array(size);
    readSync(memfd.fd, pixels, 0, size, 0);
    const expected = drawFrame(20, [0, 0, 128]);
    const matches = pixels.every((b, i) => b === expected[i]);
    say("buffer (fd 3) as the renderer left it, one character per 4 pixels of row 0:");
    let row = "";
    for (let x = 0; x < WIDTH; x += 1) row += pixels[x * 4] === 255 ? "#" : ".";
    say(`  ${row}`);
    say(matches ? `buffer check: all ${size} bytes match frame 20` : "buffer check: MISMATCH");
    if (!matches) failed = true;

    send("quit");
    commandsWrite.close();
    const code = await client.exited;
    say(`renderer exited with ${code} (forwarded through portal-exec)`);
    if (code !== 0) failed = true;
  } catch (error) {
    failed = true;
    process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  } finally {
    commandsRead.close();
    commandsWrite.close();
    memfd.close();
    spawner.kill("SIGTERM");
    await spawner.exited;
    say(`spawner stopped; socket removed: ${!existsSync(socket)}`);
    rmSync(dir, { recursive: true, force: true });
  }
  say(failed ? "demo: FAILED" : "demo: OK");
  return failed ? 1 : 0;
}

export const demoDefinition = defineCommand({
  meta: { name: "demo", description: "Run a renderer through the portal with a shared buffer at fd 3 and show the result" },
  async run() {
    process.exitCode = await runDemo();
  },
});
