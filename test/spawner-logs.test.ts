// What the spawner logs and how: consola with a line reporter ("portal-spawner:
// warn: ..."), each line prefixed with its syslog priority when stderr is the
// journal (JOURNAL_STREAM names stderr's device and inode), as sd-daemon.h's
// SD_WARNING etc. do, and left alone when it names anything else.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { BUN, SPAWNER, Scratch, catchesSignal, envWithoutPortal, isListening, waitFor } from "./helpers/harness.ts";
import { DEADLINE_MS, runExec } from "./helpers/cli-processes.ts";
import { createLogger, LOG_LEVELS, lineReporter, stderrIsJournal, SYSLOG, syslogPriority, writeLines } from "../src/cli/log.ts";
import { createConsola, type LogType } from "consola/core";

setDefaultTimeout(60_000);

let scratch: Scratch;
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  await scratch.cleanup();
});

/** "device:inode" of an open fd, the way systemd writes JOURNAL_STREAM. */
function streamId(fd: number): string {
  const stat = fstatSync(fd, { bigint: true });
  return `${stat.dev}:${stat.ino}`;
}

/**
 * portal-spawner with its stderr on a file of its own, and JOURNAL_STREAM
 * naming that file ("stderr"), another file ("other"), or unset.
 */
let launched = 0;
function launchWithStderrFile(args: string[], journal: "stderr" | "other" | "unset") {
  const logPath = scratch.path(`stderr-${++launched}.log`);
  const fd = openSync(logPath, "a");
  const otherPath = scratch.path("other.log");
  writeFileSync(otherPath, "");
  const otherFd = openSync(otherPath, "r");
  try {
    const JOURNAL_STREAM = journal === "stderr" ? streamId(fd) : journal === "other" ? streamId(otherFd) : undefined;
    const proc = scratch.track(Bun.spawn([BUN, SPAWNER, ...args], { cwd: scratch.dir, env: envWithoutPortal({ JOURNAL_STREAM }), stdio: ["ignore", "ignore", fd] }));
    return { proc, log: () => readFileSync(logPath, "utf8") };
  } finally {
    closeSync(fd);
    closeSync(otherFd);
  }
}

async function startWithStderrFile(args: string[], journal: "stderr" | "other" | "unset") {
  const socket = scratch.path("portal.sock");
  const run = launchWithStderrFile(["--socket", socket, ...args], journal);
  await waitFor(() => isListening(socket) || run.proc.exitCode !== null, `spawner listening on ${socket}`, DEADLINE_MS);
  if (!isListening(socket)) throw new Error(`the spawner ended before listening: ${run.log()}`);
  const logged = (pattern: RegExp, what: string) => waitFor(() => run.log().match(pattern), `${what} (log so far: ${JSON.stringify(run.log())})`, DEADLINE_MS);
  const stop = async () => {
    await waitFor(() => catchesSignal(run.proc.pid, 15), "the spawner handling SIGTERM", DEADLINE_MS);
    run.proc.kill("SIGTERM");
    return run.proc.exited;
  };
  return { ...run, socket, logged, stop };
}

describe("portal-spawner's log when stderr is the journal", () => {
  test("every line starts with its syslog priority: <6> info, <7> debug, <4> warning", async () => {
    const spawner = await startWithStderrFile(["--log-level", "debug"], "stderr");
    await spawner.logged(/^<6>portal-spawner: info: listening on /m, "the info line");
    expect((await runExec(scratch, ["--socket", spawner.socket, "sh", "-c", "exit 3"])).code).toBe(3);
    await spawner.logged(/^<7>portal-spawner: debug: peer pid \d+: 'sh -c exit 3' exited with 3/m, "the debug line of the request");
    expect((await runExec(scratch, ["--socket", spawner.socket])).code).toBe(125);
    await spawner.logged(/^<4>portal-spawner: warn: refused peer pid \d+ .*nothing to execute/m, "the refusal warning");
    expect(await spawner.stop()).toBe(0);
    const lines = spawner.log().trimEnd().split("\n");
    expect(lines.at(-1)).toMatch(/^<6>portal-spawner: info: SIGTERM: stopping/);
    expect(lines.filter((line) => !/^<[4-7]>portal-spawner: (info|debug|warn): /.test(line))).toEqual([]);
  });

  test("why it will not start is an error (<3>): a usage mistake (exit 2) and a failure (exit 1)", async () => {
    const usage = launchWithStderrFile(["--bogus"], "stderr");
    expect(await usage.proc.exited).toBe(2);
    expect(usage.log()).toBe("<3>portal-spawner: unknown option '--bogus'\n<3>Try 'portal-spawner --help'.\n");

    const file = scratch.path("not-a-socket");
    writeFileSync(file, "");
    const failure = launchWithStderrFile(["--socket", file], "stderr");
    expect(await failure.proc.exited).toBe(1);
    expect(failure.log()).toMatch(/^<3>portal-spawner: .*refusing to replace .*\n$/);
  });
});

describe("portal-spawner's log anywhere else", () => {
  for (const journal of ["other", "unset"] as const) {
    test(`no prefixes when JOURNAL_STREAM is ${journal === "other" ? "another stream's" : "not set"}`, async () => {
      const spawner = await startWithStderrFile([], journal);
      await spawner.logged(/^portal-spawner: info: listening on /m, "the info line");
      expect((await runExec(scratch, ["--socket", spawner.socket])).code).toBe(125);
      await spawner.logged(/^portal-spawner: warn: refused peer pid \d+ /m, "the refusal warning");
      expect(await spawner.stop()).toBe(0);
      expect(spawner.log()).not.toContain("<");
    });
  }
});

describe("the line reporter", () => {
  function capture(options: { journal: boolean; typeLabels?: boolean }) {
    const lines: string[] = [];
    return { lines, reporter: lineReporter({ ...options, write: (text) => void lines.push(text) }) };
  }

  test("consola's types map to the syslog priorities of sd-daemon.h", () => {
    const expected: Array<[LogType, number]> = [
      ["fatal", 2], ["error", 3], ["fail", 3], ["warn", 4], ["log", 5], ["info", 6], ["success", 6], ["ready", 6], ["start", 6], ["debug", 7], ["trace", 7],
    ];
    for (const [type, priority] of expected) expect({ type, priority: syslogPriority(type) }).toEqual({ type, priority });
  });

  test("tag, type and message on one line; each line of a longer message prefixed in the journal", () => {
    const { lines, reporter } = capture({ journal: true });
    const log = createConsola({ level: LOG_LEVELS.debug, defaults: { tag: "portal-spawner" }, reporters: [reporter], throttle: 0 });
    log.error("connection failed: Error: boom\n    at somewhere");
    log.withTag("watchdog").info("started");
    log.log("plain");
    expect(lines).toEqual([
      "<3>portal-spawner: error: connection failed: Error: boom\n<3>    at somewhere\n",
      "<6>portal-spawner:watchdog: info: started\n",
      "<5>portal-spawner: plain\n",
    ]);
  });

  test("without the journal the same lines, unprefixed; portal overlay's lines carry no type", () => {
    const { lines, reporter } = capture({ journal: false, typeLabels: false });
    const log = createConsola({ level: LOG_LEVELS.info, defaults: { tag: "portal overlay" }, reporters: [reporter], throttle: 0 });
    log.info("wrote build/x.squashfs (4096 bytes)");
    log.error("image 'x' does not exist");
    expect(lines).toEqual(["portal overlay: wrote build/x.squashfs (4096 bytes)\n", "portal overlay: image 'x' does not exist\n"]);
  });

  test("the level filters, and repeated lines are each written at once (no consola throttling)", () => {
    const written: string[] = [];
    const log = createLogger("portal-spawner", LOG_LEVELS.warn, { journal: false, write: (text) => void written.push(text) });
    log.info("not shown");
    log.debug("not shown");
    for (let i = 0; i < 10; i++) log.warn("refused peer pid 1 uid 0: busy");
    expect(written).toEqual(Array.from({ length: 10 }, () => "portal-spawner: warn: refused peer pid 1 uid 0: busy\n"));
  });

  test("writeLines prefixes only in the journal", () => {
    const out: string[] = [];
    writeLines("a\nb\n", SYSLOG.err, { journal: true, write: (t) => void out.push(t) });
    writeLines("a\nb", SYSLOG.err, { journal: false, write: (t) => void out.push(t) });
    expect(out).toEqual(["<3>a\n<3>b\n", "a\nb\n"]);
  });

  test("stderrIsJournal compares JOURNAL_STREAM with the fd's device and inode", () => {
    const path = scratch.path("stream");
    writeFileSync(path, "");
    const fd = openSync(path, "r");
    try {
      expect(stderrIsJournal({ JOURNAL_STREAM: streamId(fd) }, fd)).toBe(true);
      expect(stderrIsJournal({ JOURNAL_STREAM: streamId(fd) }, 0)).toBe(false);
      expect(stderrIsJournal({ JOURNAL_STREAM: "garbage" }, fd)).toBe(false);
      expect(stderrIsJournal({}, fd)).toBe(false);
    } finally {
      closeSync(fd);
    }
  });
});
