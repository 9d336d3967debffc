// Process control through the real binaries: a program's death by a signal
// becomes the client's, signals sent to the client reach the program, job
// control (SIGTSTP/SIGCONT) stops and resumes both, and a client that dies
// takes its program's whole process group with it.
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { RawClient, summarizeV2 } from "./helpers/raw-client.ts";
import { encodeHello, encodeRecord, encodeSignal, encodeStart, joinNulTerminated, RecordType } from "../src/protocol/v2.ts";
import { BUN, EXEC, processExists, Scratch, startProcess, waitFor } from "./helpers/harness.ts";
import { DEADLINE_MS, finish, processState, ProgramGroups, runExec, startExec, startSpawner, waitForExec } from "./helpers/cli-processes.ts";

setDefaultTimeout(60_000);

let scratch: Scratch;
const groups = new ProgramGroups();
beforeEach(() => {
  scratch = new Scratch();
});
afterEach(async () => {
  groups.killAll();
  await scratch.cleanup();
});

/** Cores land in the dumping process's cwd only with a plain pattern such as "core" or "core.%p". */
function coresGoToCwd(): boolean {
  const pattern = readFileSync("/proc/sys/kernel/core_pattern", "utf8").trim();
  return pattern.length > 0 && !pattern.startsWith("|") && !pattern.includes("/");
}

const cores = (dir: string) => readdirSync(dir).filter((name) => name.startsWith("core"));

/**
 * Runs a client in a process group of its own, in our session. The kernel
 * discards SIGTSTP for an orphaned group (one whose members have no parent
 * in another group of the session); a test runner started detached (setsid,
 * or a shell that has gone) is in one, and so would its clients be. A group
 * whose parent (this runner) is in the same session is never orphaned.
 */
const OWN_GROUP = ["perl", "-e", "setpgrp(0, 0); exec @ARGV or die", "--"];

describe("death by signal", () => {
  test("a program killed by SIGSEGV makes portal-exec die by SIGSEGV, without a core file", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const clientDir = scratch.path("client");
    const programDir = scratch.path("program");
    mkdirSync(clientDir);
    mkdirSync(programDir);
    // Allow cores, so that only the client's own choice can prevent one.
    const wrapper = ["prlimit", "--core=unlimited:unlimited", "--"];
    const result = await runExec(scratch, ["--socket", socket, "--cwd", programDir, "sh", "-c", "kill -SEGV $$"], { cwd: clientDir, wrapper });
    expect(result.signal).toBe("SIGSEGV");
    expect(result.code).toBeNull();
    expect(result.stderr).toBe("");
    if (!coresGoToCwd()) {
      console.log("core-signals: kernel.core_pattern does not write to the cwd; only the signal was checked, not the absence of a core file");
      return;
    }
    // Control: under the same limits a process dying by SIGSEGV does leave a core here.
    const controlDir = scratch.path("control");
    mkdirSync(controlDir);
    const control = Bun.spawn([...wrapper, "sh", "-c", "kill -SEGV $$"], { cwd: controlDir, stdio: ["ignore", "ignore", "ignore"] });
    await control.exited;
    expect(control.signalCode).toBe("SIGSEGV");
    expect(cores(controlDir).length).toBe(1);
    expect(cores(clientDir)).toEqual([]);
  });

  test("a program killed by SIGKILL makes portal-exec die by SIGKILL", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const result = await runExec(scratch, ["--socket", socket, "sh", "-c", "echo before; kill -KILL $$; echo after"]);
    expect(result).toMatchObject({ code: null, signal: "SIGKILL", stdout: "before\n", stderr: "" });
  });

  test("a program killed by SIGTERM makes portal-exec die by SIGTERM although it relays SIGTERM itself", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const result = await runExec(scratch, ["--socket", socket, "sh", "-c", "kill -TERM $$"]);
    expect(result).toMatchObject({ code: null, signal: "SIGTERM", stderr: "" });
  });
});

describe("signals sent to portal-exec reach the program", () => {
  for (const signal of ["TERM", "INT", "USR1", "HUP", "ALRM", "VTALRM", "PROF", "URG", "IO", "XCPU"] as const) {
    test(`SIG${signal}`, async () => {
      const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
      // The shell reports a foreground sleep killed by HUP or USR1 on stderr; that is not the client's to print.
      const script = `exec 2>/dev/null; trap 'echo got ${signal}; exit 7' ${signal}; echo ready $$; while :; do sleep 1; done`;
      const client = startExec(scratch, ["--socket", socket, "sh", "-c", script]);
      const [, pid] = await client.stdout.waitFor(/^ready (\d+)\n/, "the program to start");
      groups.add(Number(pid));
      client.proc.kill(`SIG${signal}`);
      const result = await finish(client);
      expect(result).toMatchObject({ code: 7, signal: null, stdout: `ready ${pid}\ngot ${signal}\n`, stderr: "" });
    });
  }

  test("SIGTSTP stops the program and then the client; SIGCONT resumes both", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    // No fork loop: a shell stopped inside vfork() waits in state D, not T.
    const client = startExec(scratch, ["--socket", socket, "sh", "-c", "echo ready $$; exec sleep 1000"], { wrapper: OWN_GROUP });
    const pid = Number((await client.stdout.waitFor(/^ready (\d+)\n/, "the program to start"))[1]);
    groups.add(pid);

    client.proc.kill("SIGTSTP");
    await waitFor(() => processState(pid) === "T", "the program to be stopped", DEADLINE_MS);
    await waitFor(() => processState(client.proc.pid) === "T", "the client to be stopped", DEADLINE_MS);

    client.proc.kill("SIGCONT");
    await waitFor(() => !["T", null].includes(processState(client.proc.pid)), "the client to run again", DEADLINE_MS);
    await waitFor(() => !["T", null].includes(processState(pid)), "the program to run again", DEADLINE_MS);

    // Still connected and relaying: the program does not catch TERM, so both die by it.
    client.proc.kill("SIGTERM");
    const result = await finish(client);
    expect(result).toMatchObject({ code: null, signal: "SIGTERM", stdout: `ready ${pid}\n`, stderr: "" });
    expect(processExists(pid)).toBe(false);
  });
});

describe("Ctrl-Z", () => {
  test("the client stops with SIGTSTP, as a direct run would (a shell reports 148, not 147 for SIGSTOP)", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    // perl as the job-control shell: start the client, stop it as a terminal would, and say how it stopped.
    // A group of its own in our session: never orphaned, however this test runner was started (see OWN_GROUP).
    const parent = `use POSIX ":sys_wait_h"; setpgrp(0, 0); pipe(my $r, my $w); my $pid = fork; if (!$pid) { close $r; open STDOUT, ">&", $w; exec @ARGV; die } close $w;
      my $line = <$r>; kill "TSTP", $pid; waitpid($pid, WUNTRACED); my $s = \${^CHILD_ERROR_NATIVE}; print WIFSTOPPED($s) ? "stopped " . WSTOPSIG($s) . "\n" : "not stopped $s\n";
      kill "CONT", $pid; kill "TERM", $pid; waitpid($pid, 0); print WIFSIGNALED($?) ? "ended by " . WTERMSIG($?) . "\n" : "exited " . ($? >> 8) . "\n";`;
    const run = startProcess(scratch, ["perl", "-e", parent, "--", BUN, EXEC, "--socket", socket, "--", "sh", "-c", "echo ready; exec sleep 1000"]);
    expect(await finish(run)).toMatchObject({ code: 0, stdout: "stopped 20\nended by 15\n" });
  });
});

describe("a client that goes away takes its program's process group with it", () => {
  test("SIGTERM first: the program sees it", async () => {
    // A grace far beyond the deadline below: only the SIGTERM can have ended them.
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), "--kill-grace", "600"]);
    const script = `trap 'echo got TERM; exit 0' TERM; sleep 1000 & echo pids $$ $!; wait`;
    const client = startExec(scratch, ["--socket", socket, "sh", "-c", script]);
    const [, program, grandchild] = (await client.stdout.waitFor(/^pids (\d+) (\d+)\n/, "the program's pids")).map(Number);
    groups.add(program!);
    scratch.trackPid(grandchild!);
    await waitForExec(grandchild!, "sleep");

    client.proc.kill("SIGKILL");
    // The program's stdout is our pipe, still open in the program after the client died.
    await client.stdout.waitFor(/got TERM\n/, "the program's TERM trap");
    await waitFor(() => !processExists(program!) && !processExists(grandchild!), "program and grandchild to be gone", DEADLINE_MS);
  });

  test("then SIGKILL after --kill-grace: a program and a grandchild that ignore SIGTERM are killed", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock"), "--kill-grace", "0.5"]);
    // The ignored TERM is inherited by the background sleep.
    const script = `trap '' TERM; sleep 1000 & echo pids $$ $!; wait; echo wait ended`;
    const client = startExec(scratch, ["--socket", socket, "sh", "-c", script]);
    const [, program, grandchild] = (await client.stdout.waitFor(/^pids (\d+) (\d+)\n/, "the program's pids")).map(Number);
    groups.add(program!);
    scratch.trackPid(grandchild!);
    await waitForExec(grandchild!, "sleep");
    expect(processExists(program!)).toBe(true);
    expect(processExists(grandchild!)).toBe(true);

    client.proc.kill("SIGKILL");
    await client.proc.exited;
    expect(client.proc.signalCode).toBe("SIGKILL");
    // Nothing else in this test signals them: only the spawner's SIGKILL can end them.
    await waitFor(() => !processExists(program!) && !processExists(grandchild!), "program and grandchild to be killed", DEADLINE_MS);
    await client.stdout.done;
    expect(client.stdout.text).toBe(`pids ${program} ${grandchild}\n`);
  });
});

describe("a signal sent right behind START", () => {
  test("a fatal one ends the request, even when the slot is handed over at that moment (the program never runs on)", async () => {
    const { socket } = await startSpawner(scratch, ["--socket", scratch.path("portal.sock")]);
    const marker = scratch.path("ran-on");
    for (let round = 0; round < 10; round++) {
      const client = RawClient.connect(socket);
      try {
        const argv = ["/bin/sh", "-c", `sleep 2; touch ${marker}`];
        client.send(encodeHello());
        client.send(encodeRecord(RecordType.Args, joinNulTerminated(argv.map((a) => new TextEncoder().encode(a)), "args")));
        client.send(encodeStart({ argc: argv.length, envc: 0, fdCount: 0, flags: 0 }));
        client.send(encodeSignal(15));
        const ending = summarizeV2(await client.repliesUntilClose(DEADLINE_MS));
        expect(ending.outcome).toEqual({ kind: "signaled", signal: 15, coreDumped: false });
      } finally {
        client.close();
      }
    }
    expect(existsSync(marker)).toBe(false);
  });
});
