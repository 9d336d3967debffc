// portal-exec's options. Parsing stops at the first argument that is not one
// of ours (as env and sudo do), so `portal-exec ls -la --help` runs
// `ls -la --help`. The table is a citty ArgsDef, so `portal exec --help` and
// `portal-exec --help` render the same usage; citty itself is only loaded for
// --help and --version, keeping it off the client's start-up path.
import type { ArgsDef } from "citty";
import { optionNumber } from "./option-number.ts";
import { walkOptions } from "./split-command.ts";
import { UsageError } from "./usage-error.ts";

export const execArgs = {
  socket: { type: "string", alias: "s", description: "Spawner socket (default: $PORTAL_NAME, else ./portal.sock)", valueHint: "PATH" },
  protocol: { type: "string", description: "Protocol version: 2 (default) or 1 for the C exec-portal spawner ($PORTAL_PROTOCOL)", valueHint: "1|2" },
  "one-shot": { type: "boolean", description: "Fail at once if the spawner is not there ($PORTAL_ONE_SHOT)" },
  timeout: { type: "string", description: "Wait at most this long for the socket to appear", valueHint: "SECONDS" },
  fd: { type: "string", description: "Forward only these fds (repeatable); SRC:DST puts SRC at DST", valueHint: "N|SRC:DST" },
  "clear-env": { type: "boolean", description: "Start the program with an empty environment" },
  env: { type: "string", description: "Set a variable for the program (repeatable)", valueHint: "K=V" },
  "unset-env": { type: "string", description: "Remove a variable (repeatable)", valueHint: "K" },
  cwd: { type: "string", description: "Working directory for the program (default: this one)", valueHint: "DIR" },
  pty: { type: "boolean", description: "Give the program a terminal even when stdin is not one (default: when stdin is a terminal)" },
  "no-pty": { type: "boolean", description: "Never give the program a terminal: it gets this client's fds as they are" },
  "handshake-timeout": { type: "string", description: "Seconds a v2 spawner may take to answer (default 3)", valueHint: "SECONDS" },
  grant: { type: "string", description: "Let the program of a --sandbox spawner read PATH (repeatable)", valueHint: "PATH" },
  "grant-rw": { type: "string", description: "Let it read and write PATH (repeatable)", valueHint: "PATH" },
  "grant-at": { type: "string", description: "Grant SRC read-only, seen at DEST (repeatable)", valueHint: "DEST=SRC" },
  "grant-rw-at": { type: "string", description: "Grant SRC read-write, seen at DEST (repeatable)", valueHint: "DEST=SRC" },
  "grant-arg": { type: "string", description: "Like --grant, and append PATH to the command's arguments", valueHint: "PATH" },
  "grant-rw-arg": { type: "string", description: "Like --grant-rw, and append PATH to the command's arguments", valueHint: "PATH" },
  "grant-std": { type: "boolean", description: "Grant the standard endowment read-only: /usr, /bin, /lib, /lib64 (pola-run -B)" },
  help: { type: "boolean", alias: "h", description: "Show this help" },
  version: { type: "boolean", description: "Print the name and version, and exit" },
} as const satisfies ArgsDef;

/** One --grant* option: what to open, where the program sees it, and whether its path joins argv. */
export interface CliGrant {
  path: Uint8Array;
  dest?: Uint8Array;
  writable: boolean;
  appendArg: boolean;
}

export interface ExecCliOptions {
  grants: CliGrant[];
  grantStd: boolean;
  socket?: string;
  protocol?: 1 | 2;
  oneShot: boolean;
  timeoutSeconds?: number;
  fds: Array<{ source: number; target: number }>;
  clearEnv: boolean;
  setEnv: Uint8Array[];
  unsetEnv: string[];
  cwd?: Uint8Array;
  handshakeSeconds?: number;
  /** --pty (true), --no-pty (false), or neither (undefined: when stdin is a terminal). */
  pty?: boolean;
  help: boolean;
  version: boolean;
  /** Index of the first argument that is not ours: the command starts here. */
  commandIndex: number;
}

export { UsageError };

/** Parses `args` (bytes, so values such as --cwd and --env stay exact). */
export function parseExecArgs(args: readonly Uint8Array[]): ExecCliOptions {
  const options: ExecCliOptions = {
    oneShot: false, fds: [], clearEnv: false, setEnv: [], unsetEnv: [], grants: [], grantStd: false, help: false, version: false, commandIndex: args.length,
  };
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  options.commandIndex = walkOptions(
    args,
    execArgs,
    ({ name, text, value }) => {
      const takesValue = execArgs[name as keyof typeof execArgs].type === "string";
      if (takesValue && value === undefined) throw new UsageError(`option '${text}' needs a value`);
      if (!takesValue && text.startsWith("--") && text.includes("=")) throw new UsageError(`option '--${name}' takes no value`);
      apply(options, name, value, decode);
    },
    (text) => {
      throw new UsageError(`unknown option '${text}' (options come before the command; use -- to end them)`);
    },
  );
  return options;
}

function apply(options: ExecCliOptions, name: string, value: Uint8Array | undefined, decode: (b: Uint8Array) => string): void {
  const text = value ? decode(value) : "";
  switch (name) {
    case "socket":
      options.socket = text;
      break;
    case "protocol":
      options.protocol = parseProtocol(text, "--protocol");
      break;
    case "one-shot":
      options.oneShot = true;
      break;
    case "timeout":
      options.timeoutSeconds = parseSeconds(text, "--timeout");
      break;
    case "handshake-timeout":
      options.handshakeSeconds = parseSeconds(text, "--handshake-timeout");
      break;
    case "fd":
      options.fds.push(parseFdSpec(text));
      break;
    case "clear-env":
      options.clearEnv = true;
      break;
    case "pty":
    case "no-pty":
      if (options.pty !== undefined && options.pty !== (name === "pty")) throw new UsageError("--pty and --no-pty contradict each other");
      options.pty = name === "pty";
      break;
    case "env":
      if (!text.includes("=") || text.startsWith("=")) throw new UsageError(`--env needs KEY=VALUE, got '${text}'`);
      options.setEnv.push(value!);
      break;
    case "unset-env":
      if (text.length === 0 || text.includes("=")) throw new UsageError(`--unset-env needs a variable name, got '${text}'`);
      options.unsetEnv.push(text);
      break;
    case "cwd":
      if (value!.length === 0) throw new UsageError("--cwd needs a directory");
      options.cwd = value;
      break;
    case "grant":
    case "grant-rw":
    case "grant-arg":
    case "grant-rw-arg":
      if (value!.length === 0) throw new UsageError(`--${name} needs a path`);
      options.grants.push({ path: value!, writable: name.includes("-rw"), appendArg: name.endsWith("-arg") });
      break;
    case "grant-at":
    case "grant-rw-at": {
      const eq = value!.indexOf(0x3d);
      if (eq <= 0 || eq === value!.length - 1) throw new UsageError(`--${name} needs DEST=SRC, got '${text}'`);
      options.grants.push({ dest: value!.subarray(0, eq), path: value!.subarray(eq + 1), writable: name === "grant-rw-at", appendArg: false });
      break;
    }
    case "grant-std":
      options.grantStd = true;
      break;
    case "help":
      options.help = true;
      break;
    case "version":
      options.version = true;
      break;
  }
}

export function parseProtocol(text: string, what: string): 1 | 2 {
  if (text === "1" || text === "2") return Number(text) as 1 | 2;
  throw new UsageError(`${what} must be 1 or 2, got '${text}'`);
}

function parseSeconds(text: string, what: string): number {
  const n = optionNumber(text);
  if (n === null) throw new UsageError(`${what} needs a number of seconds, got '${text}'`);
  return n;
}

function parseFdSpec(text: string): { source: number; target: number } {
  const match = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!match) throw new UsageError(`--fd needs N or SRC:DST, got '${text}'`);
  const source = Number(match[1]);
  return { source, target: match[2] === undefined ? source : Number(match[2]) };
}
