// pola-run's command line (Plash), parsed into what to run and what to
// grant. Every option that takes one parameter comes as "--arg param" or
// "--arg=param"; -f and -t take letters (a w l s) and comma options (objrw,
// socket). Pathnames are resolved, by name, against the most recent of
// --cwd / --no-cwd / --copy-cwd, as pola-run does; the last one also sets
// the program's cwd. Pure: the caller's cwd comes in, nothing is looked up.
// Paths are bytes; here they travel as latin1 strings (one char per byte).
import { optionNumber } from "./option-number.ts";
import { UsageError } from "./exec-options.ts";

export { UsageError };

/** One -f or -t option. */
export interface PolaGrantOption {
  option: "f" | "t";
  /** `a`: the pathname (as given: the destination for -t) joins the argument list here. */
  addArg: boolean;
  /** `w`: read-write. */
  writable: boolean;
  /** `l`: follow symbolic links, granting each link and what it leads to. */
  follow: boolean;
  /** `s`: may create symbolic links (accepted; see docs/overlay.md: any writable grant allows them). */
  symlinks: boolean;
  /** `,objrw`: read-write access to the object, not its slot. */
  objectWritable: boolean;
  /** `,socket`: connect to unix sockets, without write access. */
  socket: boolean;
  /** What to grant, absolute (latin1 bytes). For -t, the source. */
  source: string;
  /** Where the program sees it, absolute (latin1 bytes). For -f, the same as `source`. */
  dest: string;
}

export interface PolaRunPlan {
  /** --prog: looked up in the sandbox's PATH when it has no '/', else made absolute against the cwd in force. */
  prog: Uint8Array | null;
  /** The program's arguments after argv[0], in order (-a, and pathnames of -fa / -ta). */
  args: Uint8Array[];
  grants: PolaGrantOption[];
  /** -B, --net, --x11. */
  standard: boolean;
  net: boolean;
  x11: boolean;
  /** The program's cwd (the last cwd option; --copy-cwd by default); null after --no-cwd. */
  cwd: Uint8Array | null;
  /** portal's own: which spawner, and how long to wait for it. */
  socket?: string;
  oneShot: boolean;
  timeoutSeconds?: number;
  help: boolean;
}

const GRANT_OPTION = /^-([ft])([awls]*)((?:,[a-z]+)*)(?:=|$)/;
const TAKES_VALUE = new Set(["--prog", "--cwd", "-a", "--pet-name", "--socket", "--timeout"]);

/** Parses pola-run's arguments; `cwd` is the caller's own (bytes), what --copy-cwd means. */
export function parsePolaRunArgs(args: readonly Uint8Array[], caller: { cwd: Uint8Array }): PolaRunPlan {
  const callerCwd = latin1(caller.cwd);
  const plan: PolaRunPlan = { prog: null, args: [], grants: [], standard: false, net: false, x11: false, cwd: caller.cwd, oneShot: false, help: false };
  let cwd: string | null = callerCwd;
  const resolve = (given: Uint8Array, what: string) => resolveAgainst(cwd, latin1(given), what);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const text = new TextDecoder().decode(arg);
    const next = (name: string): Uint8Array => {
      if (i + 1 >= args.length) throw new UsageError(`${name} needs a parameter`);
      return args[++i]!;
    };
    const grant = GRANT_OPTION.exec(text);
    if (grant) {
      const [, option, letters, commaOptions] = grant as unknown as [string, "f" | "t", string, string];
      const spec = grantFlags(text, letters, commaOptions);
      // "-f...=PATH": the parameter is the rest of this argument's bytes.
      const inline = grant[0].endsWith("=") ? arg.subarray(grant[0].length) : null;
      if (option === "f") {
        const given = inline ?? next(text);
        const path = resolve(given, text);
        plan.grants.push({ option, ...spec, source: path, dest: path });
        if (spec.addArg) plan.args.push(given);
      } else {
        const givenDest = inline ?? next(text);
        const source = resolve(next(text), text);
        plan.grants.push({ option, ...spec, source, dest: resolve(givenDest, text) });
        if (spec.addArg) plan.args.push(givenDest);
      }
      continue;
    }
    const eq = text.indexOf("=");
    const name = text.startsWith("-") && eq > 0 ? text.slice(0, eq) : text;
    let value: Uint8Array | null = null;
    if (TAKES_VALUE.has(name)) value = eq > 0 ? arg.subarray(eq + 1) : next(name);
    else if (eq > 0 && name.startsWith("-")) throw new UsageError(`${name} takes no parameter`);
    switch (name) {
      case "--prog":
        if (value!.length === 0) throw new UsageError("--prog needs a filename");
        // With a '/', a pathname like any other; without, a name for the sandbox's PATH.
        plan.prog = value!.includes(0x2f) ? Buffer.from(resolve(value!, "--prog"), "latin1") : value!;
        break;
      case "-a":
        plan.args.push(value!);
        break;
      case "--cwd":
        if (value!.length === 0) throw new UsageError("--cwd needs a directory");
        cwd = resolve(value!, "--cwd");
        break;
      case "--no-cwd":
        cwd = null;
        break;
      case "--copy-cwd":
        cwd = callerCwd;
        break;
      case "-B":
        plan.standard = true;
        break;
      case "--net":
        plan.net = true;
        break;
      case "--x11":
        plan.x11 = true;
        break;
      case "--powerbox":
      case "--pet-name":
        throw new UsageError(`${name} is not supported: there is no powerbox here (grant what the program needs with -f or -t)`);
      case "--socket":
        plan.socket = new TextDecoder().decode(value!);
        break;
      case "--one-shot":
        plan.oneShot = true;
        break;
      case "--timeout": {
        const seconds = optionNumber(new TextDecoder().decode(value!));
        if (seconds === null) throw new UsageError(`--timeout needs a number of seconds, got '${new TextDecoder().decode(value!)}'`);
        plan.timeoutSeconds = seconds;
        break;
      }
      case "-h":
      case "--help":
        plan.help = true;
        break;
      default:
        if (!text.startsWith("-")) throw new UsageError(`unexpected argument '${text}' (pass the program's arguments with -a)`);
        throw new UsageError(`unknown option '${text}'`);
    }
  }
  plan.cwd = cwd === null ? null : Buffer.from(cwd, "latin1");
  if (!plan.prog && !plan.help) throw new UsageError("--prog is required: the program to run");
  return plan;
}

type GrantFlags = Pick<PolaGrantOption, "addArg" | "writable" | "follow" | "symlinks" | "objectWritable" | "socket">;

function grantFlags(text: string, letters: string, commaOptions: string): GrantFlags {
  const flags: GrantFlags = {
    addArg: letters.includes("a"), writable: letters.includes("w"), follow: letters.includes("l"), symlinks: letters.includes("s"),
    objectWritable: false, socket: false,
  };
  for (const option of commaOptions.split(",").slice(1)) {
    if (option === "objrw") flags.objectWritable = true;
    else if (option === "socket") flags.socket = true;
    else throw new UsageError(`${text.split("=")[0]}: unknown option ',${option}' (pola-run knows ,objrw and ,socket)`);
  }
  return flags;
}

/**
 * `given` made absolute against `cwd` and normalised by name ("." dropped,
 * ".." takes the previous name away), as pola-run resolves pathnames.
 */
export function resolveAgainst(cwd: string | null, given: string, what: string): string {
  if (given.length === 0) throw new UsageError(`${what} needs a pathname`);
  if (!given.startsWith("/") && cwd === null) {
    throw new UsageError(`${what}: '${shown(given)}' is relative, but --no-cwd left no directory to resolve it against`);
  }
  const parts: string[] = [];
  for (const part of (given.startsWith("/") ? given : `${cwd}/${given}`).split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return `/${parts.join("/")}`;
}

export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("latin1");
}

/** A latin1 byte string as the user would read it (UTF-8). */
export function shown(path: string): string {
  return Buffer.from(path, "latin1").toString("utf8");
}
