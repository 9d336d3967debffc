// portal pola-run: pola-run's own command line (Plash), run through a
// --sandbox spawner, so a script written for pola-run runs unchanged. The
// program, its arguments and its grants come from pola-run's options; the
// environment and the inherited fds go along as with portal-exec, and this
// process ends the way the program ended (portal-exec's exit codes).
import { defaultSocketPath } from "../protocol/socket-name.ts";
import { start } from "../client/exec.ts";
import { PortalError } from "../client/errors.ts";
import { isControlVariable } from "../client/request-input.ts";
import { callerContext, INHERITED_VARIABLE, parseInherited } from "../client/caller-context.ts";
import type { GrantInput } from "../client/grants.ts";
import { argumentBytes, cwdBytes, environmentBytes } from "./process-bytes.ts";
import { inheritableFds } from "./forwarded-fds.ts";
import { endLikeProgram, letGoOf, PORTAL_FAILED, relaySignals, stopLike } from "./exec-command.ts";
import { parsePolaRunArgs, UsageError, type PolaRunPlan } from "./pola-run-options.ts";
import { polaRunGrants } from "./pola-run-grants.ts";
import { POLA_RUN_USAGE } from "./pola-run-help.ts";

function fail(message: string, code = PORTAL_FAILED): never {
  process.stderr.write(`pola-run: ${message}\n`);
  process.exit(code);
}

export async function runPolaRun(args: Uint8Array[] = argumentBytes()): Promise<never> {
  // Before this client changes any of it: what a program it ran itself would inherit.
  const context = callerContext({ inherited: parseInherited(process.env[INHERITED_VARIABLE]), detectClosedStd: true });
  let plan: PolaRunPlan;
  let grants: GrantInput[];
  try {
    plan = parsePolaRunArgs(args, { cwd: cwdBytes() });
    if (plan.help) {
      process.stdout.write(POLA_RUN_USAGE);
      process.exit(0);
    }
    grants = polaRunGrants(plan, { home: process.env.HOME });
  } catch (error) {
    if (error instanceof UsageError) fail(`${error.message}\nTry 'portal pola-run --help'.`);
    if (error instanceof PortalError) fail(error.message);
    throw error;
  }
  const fds = new Map(inheritableFds().map((fd) => [fd, fd]));
  const socket = plan.socket ?? defaultSocketPath();
  const oneShot = plan.oneShot || Boolean(process.env.PORTAL_ONE_SHOT);
  const remote = start({
    socket,
    args: [plan.prog!, ...plan.args],
    env: environmentBytes().filter((entry) => !isControlVariable(entry)),
    cwd: plan.cwd,
    fds,
    grants,
    context,
    waitForSocket: oneShot ? false : plan.timeoutSeconds !== undefined ? plan.timeoutSeconds * 1000 : true,
    onWaiting: () => process.stderr.write(`pola-run: waiting for spawner at '${socket}'...\n`),
    waitInThread: true,
    onStarted: () => letGoOf(fds),
    onStopped: (signal) => stopLike(signal),
  });
  relaySignals(remote, context.ignored);
  return endLikeProgram(remote, fail);
}
