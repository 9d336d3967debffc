// How a requested program ended, as both ends of the portal see it.

export type Outcome =
  | { kind: "exited"; code: number }
  | { kind: "signaled"; signal: number; coreDumped: boolean }
  /** The program never ran. `stage` says which step failed. */
  | { kind: "spawn-failed"; stage: SpawnStage; errno: number; message: string };

export type SpawnStage = "exec" | "chdir" | "setup";

export const SPAWN_STAGES: readonly SpawnStage[] = ["exec", "chdir", "setup"];

/** The wait status waitpid(2) would report, as protocol v1 sends it. */
export function toWaitStatus(outcome: Outcome): number {
  switch (outcome.kind) {
    case "exited":
      return (outcome.code & 0xff) << 8;
    case "signaled":
      return (outcome.signal & 0x7f) | (outcome.coreDumped ? 0x80 : 0);
    case "spawn-failed":
      // v1 has no way to say "never ran": use the shell's codes, never 1.
      return exitCodeForSpawnFailure(outcome) << 8;
  }
}

export function fromWaitStatus(status: number): Outcome {
  const low = status & 0x7f;
  if (low === 0) return { kind: "exited", code: (status >> 8) & 0xff };
  if (low !== 0x7f) return { kind: "signaled", signal: low, coreDumped: (status & 0x80) !== 0 };
  // Stopped: v1 never sends it; report it plainly rather than guess.
  return { kind: "exited", code: 128 + ((status >> 8) & 0xff) };
}

import { ENOENT } from "../libc/errno-values.ts";

/** 127 for "not found", 126 for "found but cannot run", 125 when setup failed. */
export function exitCodeForSpawnFailure(outcome: Extract<Outcome, { kind: "spawn-failed" }>): number {
  if (outcome.stage !== "exec") return 125;
  return outcome.errno === ENOENT ? 127 : 126;
}
