// A real terminal across the portal: in a tmux pane, a program run through
// portal-exec gets a pty of its own (made by the spawner) as its controlling
// terminal, with job control across the boundary. Each case is checked
// against what the same program does run directly in the same terminal.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, Scratch, waitFor } from "./helpers/harness.ts";
import { baseEnv, startSpawner, type SpawnerProc } from "./helpers/trust-processes.ts";
import { killAllTerminals, TmuxTerminal, whyNoTmux } from "./helpers/tmux.ts";

setDefaultTimeout(90_000);

const unavailable = whyNoTmux();
if (unavailable) console.warn(`skipping terminal tests: ${unavailable}`);

const LAUNCHER = join(ROOT, "bin/portal-exec");

describe.skipIf(unavailable !== null)("portal-exec in a terminal", () => {
  const scratch = new Scratch();
  let spawner: SpawnerProc;
  let terminal: TmuxTerminal | null = null;
  /** portal-exec with its options, as a shell variable of the pane (so job lines stay short); the command follows `--`. */
  const E = "$P";
  let socket = "";

  beforeAll(async () => {
    socket = scratch.path("portal.sock");
    spawner = await startSpawner(scratch, socket, ["--socket", socket, "--log-level", "debug"]);
  });
  afterAll(async () => {
    killAllTerminals();
    await scratch.cleanup();
  });

  async function fresh(): Promise<TmuxTerminal> {
    terminal?.kill();
    terminal = await TmuxTerminal.start({ cwd: scratch.dir, env: baseEnv({ HOME: scratch.dir }) });
    terminal.type(`P='${LAUNCHER} --socket ${socket}'`);
    await terminal.clear();
    return terminal;
  }

  test("the program's stdin, stdout and /dev/tty are a terminal of its own, as in a direct run", async () => {
    const t = await fresh();
    const check = `sh -c 'test -t 0 && test -t 1 && : </dev/tty && echo "tty ok: $(tty)"'`;
    expect(await t.run(check)).toBe(0);
    const own = (await t.waitFor(/^tty ok: (\S+)$/m))[1];
    await t.clear();
    expect(await t.run(`${E} -- ${check}`)).toBe(0);
    const theirs = (await t.waitFor(/^tty ok: (\/dev\/pts\/\d+)$/m))[1];
    // A pty the spawner made, not the pane's own terminal.
    expect(theirs).not.toBe(own);
  });

  test("a passphrase prompt does not echo what is typed", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`]) {
      await t.clear();
      t.type(`${via} bash -c 'read -s -p "pass: " p; echo; echo "got:$p"'`);
      await t.waitFor(/pass:\s*$/m, "the prompt");
      t.type("sekrit");
      await t.waitFor(/^got:sekrit$/m);
      expect(t.screen().match(/sekrit/g)?.length).toBe(1);
    }
  });

  test("Ctrl-C interrupts the program: status 130, as directly", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`]) {
      await t.clear();
      t.type(`${via} sh -c 'echo started; exec sleep 100'`);
      await t.waitFor(/^started$/m);
      t.press("C-c");
      expect(await t.status()).toBe(130);
    }
  });

  test("Ctrl-Z stops the program and the client together (148, as directly); fg resumes both", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`]) {
      await t.clear();
      t.type(`${via} sh -c 'echo started; read line; echo "read: $line"'`);
      await t.waitFor(/^started$/m);
      t.press("C-z");
      await t.waitFor(/Stopped/);
      expect(await t.status()).toBe(148);
      t.type("fg");
      await t.waitFor(/\$ fg\n\S/, "fg to name the job");
      t.type("resumed");
      await t.waitFor(/^read: resumed$/m);
      expect(await t.status()).toBe(0);
    }
  });

  test("a job stopped by Ctrl-Z, sent on with bg, that ends there leaves the shell's line editing alone, as directly", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`]) {
      await t.clear();
      const atPrompt = t.settingsFromOutside();
      t.type(`${via} sh -c 'echo started; sleep 1; echo ended'`);
      await t.waitFor(/^started$/m);
      t.press("C-z");
      await t.waitFor(/Stopped/);
      t.type(`bg; echo "job $!"`);
      const pid = Number((await t.waitFor(/^job (\d+)$/m))[1]);
      await t.waitFor(/ended$/m);
      // Gone (reaped by the shell), while the shell waits at its prompt with its own settings.
      await waitFor(() => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      }, "the job to end");
      await Bun.sleep(200);
      expect(t.settingsFromOutside()).toBe(atPrompt);
      // The shell tells of the ended job at its next prompt.
      expect(await t.run("true")).toBe(0);
    }
  });

  test("a SIGINT the caller ignores stays ignored (Bun alone would reset it with a terminal on stdin): Ctrl-C passes it by, as directly", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`, `${E} --no-pty --`]) {
      await t.clear();
      t.type(`(trap '' INT; ${via} sh -c 'grep SigIgn /proc/self/status; sleep 1; echo survived'); echo "status $?"`);
      await t.waitFor(/^SigIgn:\s+0000000000000002$/m);
      t.press("C-c");
      await t.waitFor(/survived\nstatus 0$/m);
    }
  });

  test("stty tostop: a job started in the background stops before it writes; kill %% then ends it, as directly", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`]) {
      await t.clear();
      t.type(`stty tostop; ${via} sh -c 'sleep 0.3; echo written' & sleep 2; jobs; kill %%; sleep 0.5; jobs; stty -tostop`);
      await t.waitFor(/Stopped.*\n(.*\n)*.*Terminated/);
      expect(t.screen()).not.toMatch(/^written$/m);
    }
  });

  test("kill -WINCH (no resize) reaches the program, as directly; it is not taken for a resize of the same size", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`]) {
      await t.clear();
      const marker = `winch-${Math.random().toString(36).slice(2, 8)}`;
      t.type(`${via} sh -c 'trap "echo got-WINCH" WINCH; echo ready; while :; do sleep 0.1; done' ${marker}`);
      await t.waitFor(/^ready$/m);
      // The client when there is one, else the program itself: whoever the caller's kill would name.
      const pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name)).filter((pid) => {
        try {
          const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8");
          return argv.includes(marker) && (via === "" || argv.includes("portal-exec"));
        } catch {
          return false;
        }
      });
      expect(pids.length).toBe(1);
      process.kill(Number(pids[0]), "SIGWINCH");
      await t.waitFor(/^got-WINCH$/m);
      t.press("C-c");
      await t.prompt();
    }
  });

  test("what the program leaves running in the background outlives it, as directly (not hung up, not terminated)", async () => {
    const t = await fresh();
    for (const [via, name] of [["", "direct"], [`${E} --`, "portal"]] as const) {
      const marker = scratch.path(`left-behind-${name}`);
      expect(await t.run(`${via} sh -c '(sleep 1; touch ${marker}) &'`)).toBe(0);
      expect(existsSync(marker)).toBe(false);
      await waitFor(() => existsSync(marker), `${name}: the background child to finish its work`);
    }
  });

  test("vi: Ctrl-Z suspends it (148), fg brings it back drawn, :q leaves the terminal as it was", async () => {
    const t = await fresh();
    const file = scratch.path("vi-test.txt");
    writeFileSync(file, "first line of the file\nsecond line\n");
    const before = await t.stty();
    await t.clear();
    t.type(`${E} -- vi -u NONE ${file}`);
    await t.waitFor(/first line of the file/);
    t.press("C-z");
    await t.waitFor(/Stopped/);
    expect(await t.status()).toBe(148);
    await t.clear();
    t.type("fg");
    await t.waitFor(/first line of the file/, "vi to redraw after fg");
    t.type(":q");
    expect(await t.status()).toBe(0);
    expect(await t.stty()).toBe(before);
  });

  test("bash -i inside has job control: a job stops with Ctrl-Z, jobs lists it, no complaint about job control", async () => {
    const t = await fresh();
    t.type(`${E} -- bash --norc --noprofile -i`);
    await t.waitFor(/-i\n\S*[#$]\s*$/m, "the inner prompt");
    // Ctrl-Z once the job runs (a ^Z while the shell itself still has the terminal only reaches the shell).
    t.type(`PS1='in$ '; sh -c 'echo job-runs; exec sleep 50'`);
    await t.waitFor(/^job-runs$/m);
    t.press("C-z");
    await t.waitFor(/Stopped +sh -c/);
    // Right after jobs, bash leaves at once, and hangs up its stopped job on the way.
    t.type("jobs; exit");
    await t.waitFor(/^exit$/m);
    // Typed before the outer prompt, keys would still go to the client on its way out (as with ssh).
    await t.prompt();
    expect(await t.run("true")).toBe(0);
    expect(t.screen()).not.toContain("no job control");
    expect(t.screen()).not.toContain("cannot set terminal process group");
  });

  test("a background portal-exec that reads the terminal stops, as a direct job does, and the line typed goes to the shell", async () => {
    const t = await fresh();
    for (const via of ["", `${E} --`]) {
      await t.clear();
      t.type(`${via} cat &`);
      await t.waitFor(/^\[1\] \d+$/m);
      t.type("echo typed-at-the-shell");
      await t.waitFor(/^typed-at-the-shell$/m);
      // The shell reports a job's stop before a prompt: ask until it has one to report.
      await waitFor(() => {
        t.type("jobs");
        return /Stopped +.*cat/.test(t.screen());
      }, "the background reader to stop");
      t.type("fg");
      await t.waitFor(/\$ fg\n.*cat\s*$/m);
      t.type("to-cat");
      await t.waitFor(/^to-cat\n(.*\n)?to-cat$/m, "cat to echo the line");
      t.press("C-d");
      expect(await t.status()).toBe(0);
    }
  });

  test("a resize reaches the program (stty size), as directly", async () => {
    const t = await fresh();
    t.type(`${E} -- sh -c 'stty size; read x; stty size'`);
    await t.waitFor(/^30 100$/m);
    t.resize(90, 25);
    await waitFor(() => t.screen().split("\n").length <= 26, "the pane to shrink");
    t.press("Enter");
    await t.waitFor(/^25 90$/m);
  });

  test("only the fds that were the terminal get the pty: `portal-exec cmd > file` still writes the file", async () => {
    const t = await fresh();
    const out = scratch.path("out.txt");
    expect(await t.run(`${E} -- sh -c 'echo to-the-file; test -t 0 && test ! -t 1 && echo "stdin is a $(tty)" >&2' > ${out}`)).toBe(0);
    await t.waitFor(/^stdin is a \/dev\/pts\/\d+$/m);
    expect(readFileSync(out, "utf8")).toBe("to-the-file\n");
  });

  test("in a pipeline (stdout a pipe): no pty, the program gets the caller's own terminal as stdin, as a direct run does", async () => {
    const t = await fresh();
    t.type("tty");
    const own = (await t.waitFor(/^(\/dev\/pts\/\d+)$/m))[1];
    await t.clear();
    expect(await t.run(`${E} -- sh -c 'tty >&2; echo piped' | cat`)).toBe(0);
    await t.waitFor(new RegExp(`^${own}$`, "m"));
    await t.waitFor(/^piped$/m);
    await t.clear();
    expect(await t.run(`${E} --pty -- sh -c 'echo "forced $(tty)" >&2' | cat`)).toBe(0);
    expect((await t.waitFor(/^forced (\/dev\/pts\/\d+)$/m))[1]).not.toBe(own);
  });

  test("in a pipeline the terminal stays the pipeline's: a partner's lines are not staircased, a pager leaves it as it was", async () => {
    const t = await fresh();
    const before = await t.stty();
    await t.clear();
    for (const via of ["", `${E} --`]) {
      expect(await t.run(`${via} printf 'one\\ntwo\\nthree\\n' | cat`)).toBe(0);
      await t.waitFor(/^one\ntwo\nthree$/m, "three lines, each at the start of its own line");
      await t.clear();
    }
    t.type(`${E} -- sh -c 'seq 1 200; sleep 1' | less`);
    await t.waitFor(/^:\s*$/m, "the pager's prompt");
    t.press("q");
    await t.prompt();
    expect(await t.stty()).toBe(before);
  });

  test("--no-pty: the program gets this terminal itself, as before", async () => {
    const t = await fresh();
    t.type("tty");
    const own = (await t.waitFor(/^(\/dev\/pts\/\d+)$/m))[1];
    await t.clear();
    expect(await t.run(`${E} --no-pty -- tty`)).toBe(0);
    await t.waitFor(new RegExp(`^${own}$`, "m"));
  });

  test("the caller's terminal is put back when the program is killed, and when the spawner dies", async () => {
    const t = await fresh();
    const before = await t.stty();
    t.type(`${E} -- sh -c 'echo "pid $$"; stty -echo -icanon; exec sleep 100'; echo "killed $?"`);
    const pid = Number((await t.waitFor(/^pid (\d+)/m))[1]);
    process.kill(pid, "SIGKILL");
    await t.waitFor(/^killed 137$/m);
    expect(await t.stty()).toBe(before);

    const socket = scratch.path("doomed.sock");
    const doomed = await startSpawner(scratch, socket, ["--socket", socket]);
    const file = scratch.path("doomed.txt");
    writeFileSync(file, "text of a doomed edit\n");
    await t.clear();
    t.type(`${LAUNCHER} --socket ${socket} -- vi -u NONE ${file}; echo "gone $?"`);
    await t.waitFor(/text of a doomed edit/);
    doomed.proc.kill("SIGKILL");
    // vi, ended by the watchdog, still leaves its screen through the pty before the client reports.
    await t.waitFor(/^gone 125$/m);
    expect(t.screen()).not.toContain("text of a doomed edit");
    expect(await t.stty()).toBe(before);
  });
});

describe.skipIf(unavailable !== null || process.getuid?.() !== 0)("a terminal in the sandbox", () => {
  const scratch = new Scratch();
  let terminal: TmuxTerminal | null = null;
  afterAll(async () => {
    killAllTerminals();
    await scratch.cleanup();
  });

  test("--sandbox: the program's pty comes from the sandbox's own /dev/pts", async () => {
    const socket = scratch.path("sandbox.sock");
    await startSpawner(scratch, socket, ["--socket", socket, "--sandbox"]);
    terminal = await TmuxTerminal.start({ cwd: scratch.dir, env: baseEnv({ HOME: scratch.dir }) });
    expect(await terminal.run(`${LAUNCHER} --socket ${socket} --grant-std -- sh -c 'tty; test -t 0 && : </dev/tty && echo tty-ok'`)).toBe(0);
    await terminal.waitFor(/^\/dev\/pts\/0\ntty-ok$/m);
  });
});
