// The default handler: run the requested program with the request's argv,
// env, cwd and fds, forward signals to its process group, and end the group
// when the client goes away.
import { closeAll } from "../libc/owned-fd.ts";
import { strerror } from "../libc/system-error.ts";
import type { Logger } from "./logger.ts";
import { ChildProcess } from "../process/child.ts";
import { lookupProgram, type Lookup } from "../process/path-lookup.ts";
import { spawnProgram, SpawnError } from "../process/spawn.ts";
import type { Outcome } from "../protocol/outcome.ts";
import { Refusal, type Handler, type PortalRequest } from "./request.ts";
import { programEnvironment } from "./access-policy.ts";
import { sandboxArgv } from "./sandbox-argv.ts";

export interface ProgramRunnerOptions {
  /** The spawner's own PROGRAM ARGS, put before the client's args. */
  prefix: readonly Uint8Array[];
  /** Time between SIGTERM and SIGKILL for the group of a program whose client went away. */
  killGraceMs: number;
  /** Which client variables reach the program (PORTAL_PEER_* are always the spawner's). */
  keepEnv?: (name: string) => boolean;
  /** Called for every started program (the spawner tracks them for shutdown). */
  onChild?: (child: ChildProcess) => void;
  /** Run every program in a sandbox that sees only what its client granted. */
  sandbox: boolean;
  log: Logger;
}

export function programRunner(runner: ProgramRunnerOptions): Handler {
  const bwrap = runner.sandbox ? Bun.which("bwrap") : null;
  const options = { ...runner, sandbox: bwrap ? { bwrap: new TextEncoder().encode(bwrap) } : undefined };
  return async (request: PortalRequest): Promise<Outcome> => {
    const argv = [...options.prefix, ...request.args];
    if (argv.length === 0) {
      throw new Refusal("nothing to execute: the request has no arguments and the spawner was started without a PROGRAM");
    }
    if (request.grants.length > 0 && !options.sandbox) {
      throw new Refusal("the request grants files for a sandbox, but this spawner runs programs unsandboxed (start it with --sandbox)");
    }
    const name = argv[0]!;
    const env = programEnvironment(request.env, request.peer, options.keepEnv ?? (() => true));
    const lookup = options.sandbox ? { found: true as const, path: options.sandbox.bwrap } : options.prefix.length > 0 ? lookupOwnProgram(name) : lookupProgram(name, env);
    const shown = new TextDecoder().decode(name);
    if (!lookup.found) {
      return { kind: "spawn-failed", stage: "exec", errno: lookup.errno, message: `cannot run '${shown}': ${strerror(lookup.errno)}` };
    }
    if (request.disconnected.aborted) throw new Refusal("client went away before its program started");
    let pid: number;
    try {
      pid = options.sandbox ? spawnSandboxed(options.sandbox.bwrap, argv, env, request) : spawnProgram({ path: lookup.path, argv, env, cwd: request.cwd, fds: request.fds });
    } catch (error) {
      if (error instanceof SpawnError) {
        const message = error.stage === "exec" ? `cannot run '${shown}': ${strerror(error.errno)}` : error.message;
        return { kind: "spawn-failed", stage: error.stage, errno: error.errno, message };
      }
      throw error;
    } finally {
      // The child has its own copies now; ours would keep pipes open (no EOF for readers).
      closeAll(request.fds.values());
      request.fds.clear();
    }
    const child = new ChildProcess(pid);
    options.onChild?.(child);
    request.started(pid);
    request.onSignal((signal) => child.signalGroup(signal));
    const onGone = () => child.terminateGroup(options.killGraceMs);
    if (request.disconnected.aborted) onGone();
    else request.disconnected.addEventListener("abort", onGone, { once: true });
    return await child.exited;
  };
}

/**
 * bwrap gets only the request's fds. It reaches each granted object through
 * the spawner's own fd for it (/proc/PID/fd/N, which the spawner keeps open
 * until the request ends), so the program never inherits a grant's O_PATH
 * fd. The program is looked up and its cwd set inside the sandbox, by bwrap.
 */
function spawnSandboxed(bwrap: Uint8Array, argv: Uint8Array[], env: Uint8Array[], request: PortalRequest): number {
  const grants = request.grants.map((grant) => ({
    source: new TextEncoder().encode(`/proc/${process.pid}/fd/${grant.fd.fd}`),
    dest: grant.dest,
    writable: grant.writable,
  }));
  return spawnProgram({ path: bwrap, argv: sandboxArgv({ bwrap, grants, cwd: request.cwd, argv }), env, cwd: null, fds: request.fds });
}

/**
 * The spawner's own PROGRAM is found in the spawner's PATH and, if relative,
 * anchored at the spawner's cwd: a client's PATH or cwd (the child changes
 * to it before exec) must never choose which executable runs.
 */
function lookupOwnProgram(name: Uint8Array): Lookup {
  const path = process.env.PATH;
  const own = lookupProgram(name, path === undefined ? [] : [new TextEncoder().encode(`PATH=${path}`)]);
  if (!own.found || own.path[0] === 0x2f) return own;
  const cwd = Buffer.from(`${process.cwd()}/`);
  const absolute = new Uint8Array(cwd.length + own.path.length);
  absolute.set(cwd);
  absolute.set(own.path, cwd.length);
  return { found: true, path: absolute };
}
