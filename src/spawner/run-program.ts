// The default handler: run the requested program with the request's argv,
// env, cwd, fds and context (and, when asked, in a sandbox or on a terminal
// of its own), forward signals, and end its process group when the client
// goes away.
import { realpathSync } from "node:fs";
import { strerror } from "../libc/system-error.ts";
import { openFile, readAt } from "../libc/file.ts";
import { O_PATH, O_RDONLY } from "../libc/constants.ts";
import { ENOENT } from "../libc/errno-values.ts";
import type { OwnedFd } from "../libc/owned-fd.ts";
import type { Outcome } from "../protocol/outcome.ts";
import { lookupProgram, type Lookup } from "../process/path-lookup.ts";
import { signalName } from "../process/signals.ts";
import { SpawnError } from "../process/spawn.ts";
import { launch, launchSupervised, type LaunchedProgram, type LaunchHooks, type ProgramToRun } from "../launch/launcher.ts";
import { Refusal, type Handler, type PortalRequest } from "./request.ts";
import { programEnvironment } from "./access-policy.ts";
import { checkGrants, sandboxCwd, type CheckedGrant } from "./sandbox-grants.ts";
import { withinPeer } from "./peer-bounds.ts";
import type { Logger } from "./logger.ts";

export interface ProgramRunnerOptions {
  /** The spawner's own PROGRAM ARGS, put before the client's args. */
  prefix: readonly Uint8Array[];
  /** Time between SIGTERM and SIGKILL for the group of a program whose client went away. */
  killGraceMs: number;
  /** Which client variables reach the program (PORTAL_PEER_* are always the spawner's). */
  keepEnv?: (name: string) => boolean;
  /** Run every program in a sandbox that sees only what its client granted, as its client's user. */
  sandbox: boolean;
  log: Logger;
  /** Every program started (the spawner ends those still running when it stops). */
  track: (program: LaunchedProgram) => void;
  /** Process groups the watchdog must end should the spawner die. */
  groups: Pick<LaunchHooks, "onGroup" | "onGroupGone">;
}

const encoder = new TextEncoder();

export function programRunner(options: ProgramRunnerOptions): Handler {
  return async (request: PortalRequest): Promise<Outcome> => {
    // A fixed PROGRAM is the spawner's: found in its own PATH, from its own cwd.
    const own = options.prefix.length > 0 ? lookupOwnProgram(options.prefix[0]!) : null;
    const argv = [...options.prefix, ...request.args];
    if (argv.length === 0) {
      throw new Refusal("nothing to execute: the request has no arguments and the spawner was started without a PROGRAM");
    }
    if (request.grants.length > 0 && !options.sandbox) {
      throw new Refusal("the request grants files for a sandbox, but this spawner runs programs unsandboxed (start it with --sandbox)");
    }
    const name = argv[0]!;
    const env = programEnvironment(request.env, request.peer, options.keepEnv ?? (() => true));
    const shown = new TextDecoder().decode(name);
    const hooks: LaunchHooks = {
      ...options.groups,
      warn: (message) => options.log.warn(`peer pid ${request.peer.pid}: ${message}`),
      debug: (message) => options.log.debug(`peer pid ${request.peer.pid}: ${message}`),
    };
    if (request.disconnected.aborted) throw new Refusal("client went away before its program started");
    let program: LaunchedProgram;
    try {
      if (options.sandbox) {
        program = launchInSandbox(request, { argv, env, own }, hooks);
      } else {
        const lookup = own ?? lookupProgram(name, env, lookupBase(request));
        if (!lookup.found) return notFound(shown, lookup.errno, false);
        const run: ProgramToRun = {
          path: lookup.path, argv, env: withUnderscore(env, lookup.path), cwd: request.cwd, cwdFd: request.cwdFd, fds: request.fds,
          // Run as the spawner's user: another user's caller may not hand it a personality a setuid exec would clear.
          context: withinPeer(request.context, request.peer.pid, request.peer.uid !== process.geteuid?.()),
        };
        program = request.pty
          ? launchSupervised(run, { sandbox: null, pty: request.pty }, hooks, replies(request, hooks))
          : launch(run, hooks);
      }
    } catch (error) {
      if (error instanceof SpawnError) {
        if (error.stage === "exec") return notFound(shown, error.errno, options.sandbox);
        return { kind: "spawn-failed", stage: error.stage, errno: error.errno, message: error.message };
      }
      throw error;
    } finally {
      // The program has its own copies now; ours would keep pipes open (no EOF for readers).
      for (const fd of request.fds.values()) fd.close();
    }
    options.track(program);
    request.onSignal((signal, group, background) => program.signal(signal, group, background));
    const onGone = () => program.terminate(options.killGraceMs);
    if (request.disconnected.aborted) onGone();
    else request.disconnected.addEventListener("abort", onGone, { once: true });
    const started = await program.started;
    if ("outcome" in started) {
      const outcome = started.outcome;
      if (outcome.kind === "spawn-failed" && outcome.stage === "exec") return notFound(shown, outcome.errno, options.sandbox);
      return outcome;
    }
    request.started(started.pid);
    return await program.exited;
  };
}

/**
 * A sandboxed program runs as its client's user, with no capabilities,
 * seeing only the grants the client made (each checked here against the
 * client's own rights) and, for a fixed PROGRAM, that program, bound last
 * at its real path (no link on the way: the sandbox's tree never has the
 * spawner's links, and may have the client's) so no grant can replace it.
 */
function launchInSandbox(request: PortalRequest, what: { argv: Uint8Array[]; env: Uint8Array[]; own: Lookup | null }, hooks: LaunchHooks): LaunchedProgram {
  const own = what.own?.found ? realPath(what.own.path) : null;
  const grants: CheckedGrant[] = checkGrants(request, own);
  let programFd: OwnedFd | null = null;
  try {
    const binds = grants.map((g) => ({ fd: g.fd, dest: g.dest, kind: g.kind }));
    let path = what.argv[0]!;
    if (what.own) {
      if (!what.own.found) throw new SpawnError("exec", what.own.errno, "");
      path = own!;
      programFd = openFile(path, O_PATH);
      binds.push({ fd: programFd, dest: path, kind: "ro" });
    }
    return launchSupervised(
      { path, argv: what.argv, env: what.env, cwd: sandboxCwd(request.cwd, grants), cwdFd: null, fds: request.fds, context: withinPeer(request.context, request.peer.pid) },
      {
        sandbox: {
          binds,
          clientNamespace: request.peerNamespace,
          credentials: { uid: request.peer.uid, gid: request.peer.gid, groups: [...request.peerGroups] },
          searchPath: !what.own,
          // By fd: the bind at `path` may sit in a directory the client granted, where its rename would unmount it.
          program: programFd && isExecutableFile(path) ? programFd : null,
        },
        pty: request.pty,
      },
      hooks,
      replies(request, hooks),
    );
  } finally {
    programFd?.close();
  }
}

/**
 * The shell's `_` names the program it runs (bash, zsh and ksh set it to the
 * path they execute): a caller's that names the client (`_=.../portal-exec`)
 * names the program the spawner found instead, as a direct run's would.
 * Any other `_` (set by the caller itself) is left as it is.
 */
function withUnderscore(env: readonly Uint8Array[], path: Uint8Array): Uint8Array[] {
  const at = env.findIndex((entry) => entry[0] === UNDERSCORE && entry[1] === EQUALS && namesTheClient(entry.subarray(2)));
  if (at < 0) return [...env];
  const entry = new Uint8Array(2 + path.length);
  entry.set([UNDERSCORE, EQUALS]);
  entry.set(path, 2);
  return env.map((old, i) => (i === at ? entry : old));
}

function namesTheClient(value: Uint8Array): boolean {
  const name = new TextDecoder().decode(value.subarray(value.lastIndexOf(0x2f) + 1));
  return name === "portal-exec" || name === "portal";
}

const UNDERSCORE = 0x5f;
const EQUALS = 0x3d;

/**
 * Whether `path` is an ELF executable, which runs from a close-on-exec fd (a
 * script's interpreter would need to open the script again, by path).
 */
function isExecutableFile(path: Uint8Array): boolean {
  try {
    using file = openFile(path, O_RDONLY);
    const header = new Uint8Array(4);
    return readAt(file.fd, header, 0) === 4 && header.every((byte, i) => byte === ELF_MAGIC[i]);
  } catch {
    return false;
  }
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/** `path` with every link resolved, as the spawner sees it (unchanged if that fails: opening it will say why). */
function realPath(path: Uint8Array): Uint8Array {
  try {
    return new Uint8Array(realpathSync(Buffer.from(path), { encoding: "buffer" }));
  } catch {
    return path;
  }
}

function replies(request: PortalRequest, hooks: LaunchHooks) {
  return {
    ptyMaster: (master: OwnedFd) => {
      request.sendPtyMaster(master);
      master.close();
    },
    stopped: (signal: number) => {
      hooks.debug?.(`the program stopped (${signalName(signal)})`);
      request.stopped(signal);
    },
  };
}

/** 127/126 with execvp's message; in a sandbox, with the likely cause. */
function notFound(shown: string, errno: number, sandboxed: boolean): Outcome {
  const hint = sandboxed && errno === ENOENT ? " (only granted paths exist in the sandbox: is it granted? portal-exec --grant-std or --grant PATH, pola-run -B or -f PATH)" : "";
  return { kind: "spawn-failed", stage: "exec", errno, message: `cannot run '${shown}': ${strerror(errno)}${hint}` };
}

/** Where relative PATH entries are checked from: the program's cwd, by path or through its directory fd. */
function lookupBase(request: PortalRequest): Uint8Array | null {
  if (request.cwdFd) return encoder.encode(`/proc/self/fd/${request.cwdFd.fd}`);
  return request.cwd;
}

/**
 * The spawner's own PROGRAM is found in the spawner's PATH and, if relative,
 * anchored at the spawner's cwd: a client's PATH or cwd (the child changes
 * to it before exec) must never choose which executable runs.
 */
function lookupOwnProgram(name: Uint8Array): Lookup {
  const path = process.env.PATH;
  const own = lookupProgram(name, path === undefined ? [] : [encoder.encode(`PATH=${path}`)]);
  if (!own.found || own.path[0] === 0x2f) return own;
  const cwd = Buffer.from(`${process.cwd()}/`);
  const absolute = new Uint8Array(cwd.length + own.path.length);
  absolute.set(cwd);
  absolute.set(own.path, cwd.length);
  return { found: true, path: absolute };
}
