// How the program ended, as the library reports it: plain values, as execa does.
import { exitCodeForSpawnFailure, toWaitStatus, type Outcome } from "../protocol/outcome.ts";
import { signalName } from "../process/signals.ts";

export interface ExecResult {
  /** The program's exit code 0-255, or null if it was killed by a signal or never started. */
  exitCode: number | null;
  /** The name of the signal that killed it ("SIGTERM"), or null. */
  signal: string | null;
  signalNumber: number | null;
  /** The wait status waitpid(2) would have given for the program (as Flatpak's HostCommandExited carries it). */
  waitStatus: number;
  /** The program could not be started (see `outcome.message`). */
  failed: boolean;
  /** The code a shell-style caller should exit with: code, 128+signal, 127/126/125 for spawn failures. */
  shellExitCode: number;
  outcome: Outcome;
  /** The program's pid inside the spawner's pid namespace (v2 only). */
  pid: number | null;
  /** 1, or the revision of protocol v2 that was spoken (2, 3 or 4). */
  protocol: 1 | 2 | 3 | 4;
  durationMs: number;
}

export function toResult(outcome: Outcome, pid: number | null, protocol: 1 | 2 | 3 | 4, durationMs: number): ExecResult {
  const base = { outcome, pid, protocol, durationMs, waitStatus: toWaitStatus(outcome) };
  switch (outcome.kind) {
    case "exited":
      return { ...base, exitCode: outcome.code, signal: null, signalNumber: null, failed: false, shellExitCode: outcome.code };
    case "signaled":
      return {
        ...base, exitCode: null, signal: signalName(outcome.signal), signalNumber: outcome.signal, failed: false,
        shellExitCode: 128 + outcome.signal,
      };
    case "spawn-failed":
      return { ...base, exitCode: null, signal: null, signalNumber: null, failed: true, shellExitCode: exitCodeForSpawnFailure(outcome) };
  }
}
