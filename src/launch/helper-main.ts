// Entry of the spawner's helper processes: `step` becomes one program with
// exactly its caller's context (become-program.ts); `supervise` leads a
// sandbox or a terminal session and reports on the program it runs
// (supervisor.ts). Arguments: MODE SPEC-FD REPORT-FD.
import { OwnedFd } from "../libc/owned-fd.ts";
import { readAt, setCloseOnExec } from "../libc/file.ts";
import { exitNow } from "../libc/process.ts";
import { concatBytes } from "../protocol/bytes.ts";
import { becomeProgram } from "./become-program.ts";
import { stepReport } from "./step-report.ts";
import { decodeProgramSpec, type EncodedProgramSpec } from "./launch-spec.ts";
import { HELPER_FLAG } from "./self-command.ts";

/** Exit status of a step whose exec failed (its report says why). */
export const STEP_FAILED = 127;

export async function runHelper(args: readonly string[]): Promise<void> {
  const [mode, specArg, reportArg] = args;
  const specFd = Number(specArg);
  const reportFd = Number(reportArg);
  if (!Number.isInteger(specFd) || !Number.isInteger(reportFd)) throw new Error(`usage: ${HELPER_FLAG} step|supervise SPEC-FD REPORT-FD`);
  const spec = readSpec(specFd);
  if (mode === "step") {
    setCloseOnExec(reportFd, true);
    const program = decodeProgramSpec(spec as EncodedProgramSpec);
    if (program.waitFd !== null && program.waitFd !== undefined) stepReport.waiting(reportFd);
    stepReport.failed(reportFd, becomeProgram(program));
    exitNow(STEP_FAILED);
  }
  if (mode === "supervise") {
    const { supervise } = await import("./supervisor.ts");
    return supervise(spec as never, new OwnedFd(reportFd));
  }
  throw new Error(`unknown helper mode '${mode}'`);
}

/** The whole spec from its memfd, which is then closed. */
function readSpec(fd: number): unknown {
  using owned = new OwnedFd(fd);
  const parts: Uint8Array[] = [];
  for (let position = 0; ; ) {
    const buffer = new Uint8Array(256 * 1024);
    const got = readAt(owned.fd, buffer, position);
    if (got === 0) break;
    parts.push(buffer.subarray(0, got));
    position += got;
  }
  return JSON.parse(new TextDecoder().decode(concatBytes(parts)));
}

if (import.meta.main) await runHelper(process.argv.slice(2));
