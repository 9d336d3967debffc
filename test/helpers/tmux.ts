// A real terminal for tests: an interactive bash in a tmux pane, on a tmux
// server of its own (-L), driven with send-keys and read with capture-pane.
// Waits poll the screen for a pattern with a deadline; nothing sleeps for a
// fixed time.
import { waitFor } from "./harness.ts";

let sessions = 0;
/** Every server started and not yet killed: killAllTerminals() ends them, whatever the tests did. */
const running = new Set<TmuxTerminal>();

export class TmuxTerminal {
  readonly #server: string;

  private constructor(server: string) {
    this.#server = server;
  }

  /** A bash with prompt "$ " in a `cols` x `rows` pane, started in `cwd` with `env`. */
  static async start(options: { cwd: string; env: Record<string, string | undefined>; cols?: number; rows?: number }): Promise<TmuxTerminal> {
    const server = `portal-test-${process.pid}-${++sessions}`;
    const terminal = new TmuxTerminal(server);
    running.add(terminal);
    const env = Object.entries({ ...options.env, PS1: "$ ", TERM: "xterm" }).flatMap(([k, v]) => (v === undefined ? [] : ["-e", `${k}=${v}`]));
    terminal.#tmux(["new-session", "-d", "-s", "t", "-x", String(options.cols ?? 100), "-y", String(options.rows ?? 30), "-c", options.cwd, ...env, "bash --norc --noprofile -i"]);
    // bash sets its own PS1 for an interactive shell whatever the environment says.
    await terminal.waitFor(/[#$]\s*$/m, "the shell's first prompt");
    terminal.type("PS1='$ '");
    await terminal.clear();
    return terminal;
  }

  #tmux(args: string[]): string {
    const run = Bun.spawnSync(["tmux", "-L", this.#server, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    if (run.exitCode !== 0) throw new Error(`tmux ${args.join(" ")}: ${run.stderr.toString()}`);
    return run.stdout.toString();
  }

  /** Types `text` literally, then Enter unless `enter` is false. */
  type(text: string, enter = true): void {
    this.#tmux(["send-keys", "-t", "t", "-l", text]);
    if (enter) this.#tmux(["send-keys", "-t", "t", "Enter"]);
  }

  /** Presses keys by tmux name: "C-z", "C-c", "Enter". */
  press(...keys: string[]): void {
    this.#tmux(["send-keys", "-t", "t", ...keys]);
  }

  screen(): string {
    return this.#tmux(["capture-pane", "-p", "-t", "t"]);
  }

  /** Waits until the screen matches `pattern`; returns the match. */
  async waitFor(pattern: RegExp, what = String(pattern), timeoutMs = 20_000): Promise<RegExpMatchArray> {
    try {
      return await waitFor(() => this.screen().match(pattern), what, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- screen ---\n${this.screen()}`);
    }
  }

  /** Clears the screen and scroll-back, and waits for a fresh prompt. */
  async clear(): Promise<void> {
    this.type("clear");
    await this.waitFor(/^\$\s*$/, "a cleared screen");
    this.#tmux(["clear-history", "-t", "t"]);
  }

  /** Runs `command` and waits for `echo` of its status: returns the status. */
  async run(command: string, timeoutMs = 20_000): Promise<number> {
    const marker = `done-${Math.random().toString(36).slice(2, 8)}`;
    this.type(`${command}; echo "${marker} $?"`);
    return Number((await this.waitFor(new RegExp(`^${marker} (\\d+)$`, "m"), `${command} to finish`, timeoutMs))[1]);
  }

  /** Waits until the shell prompts again (what is typed before would go to the program, or be lost in between). */
  async prompt(): Promise<void> {
    await waitFor(() => this.screen().trimEnd().split("\n").at(-1)?.trim() === "$", "the shell's prompt");
  }

  /** The status of the last foreground job, as the shell's $? says it. */
  async status(): Promise<number> {
    await this.prompt();
    const marker = `status-${Math.random().toString(36).slice(2, 8)}`;
    this.type(`echo "${marker} $?"`);
    return Number((await this.waitFor(new RegExp(`^${marker} (\\d+)$`, "m"), "$?"))[1]);
  }

  resize(cols: number, rows: number): void {
    this.#tmux(["resize-window", "-t", "t", "-x", String(cols), "-y", String(rows)]);
  }

  /** The terminal's settings as `stty -g` prints them (from inside the pane's shell). */
  async stty(): Promise<string> {
    const marker = `stty-${Math.random().toString(36).slice(2, 8)}`;
    this.type(`echo "${marker} $(stty -g)"`);
    return (await this.waitFor(new RegExp(`^${marker} (\\S+)$`, "m"), "stty -g"))[1]!;
  }

  /** The pane's terminal settings seen from outside (stty -g), without running anything in the pane: what the shell's line editor set. */
  settingsFromOutside(): string {
    const tty = this.#tmux(["display", "-p", "-t", "t", "#{pane_tty}"]).trim();
    const run = Bun.spawnSync(["sh", "-c", 'stty -g < "$1"', "stty", tty], { stdio: ["ignore", "pipe", "pipe"] });
    if (run.exitCode !== 0) throw new Error(`stty -g < ${tty}: ${run.stderr.toString()}`);
    return run.stdout.toString().trim();
  }

  kill(): void {
    running.delete(this);
    Bun.spawnSync(["tmux", "-L", this.#server, "kill-server"], { stdio: ["ignore", "ignore", "ignore"] });
  }
}

/** Ends every terminal still running (for afterAll, so a failed test leaves no tmux server behind). */
export function killAllTerminals(): void {
  for (const terminal of [...running]) terminal.kill();
}

export function whyNoTmux(): string | null {
  return Bun.which("tmux") === null ? "tmux is not installed" : null;
}
