// bun run build:client [-- options]   (bun scripts/build-client.ts --help)
//
// Builds the lean client two ways:
//   build/portal-exec     single-file executable (no Bun needed on the device)
//   build/portal-exec.js  one bundled, minified file for `bun build/portal-exec.js`,
//                         with its bytecode cache portal-exec.js.jsc and the
//                         FdWatcher's worker (fd-watcher-worker.js[.jsc]) next to it
// Both skip the per-start work of resolving and transpiling ~20 TypeScript
// files and of parsing them (bytecode). The bytecode cache only fits the Bun
// version that built it; another Bun parses the .js instead (slower, same
// result). docs/performance.md says when to use which.
// --target and --compile-executable-path (cross-compiling), and any bun build
// flags after a --, go to the executable build.
import { dirname, join } from "node:path";
import type { BunPlugin } from "bun";
import { parseBuildArguments } from "./build-arguments.ts";

const ROOT = join(import.meta.dir, "..");
export const CLIENT_ENTRY = join(ROOT, "src/cli/portal-exec.ts");
/**
 * The FdWatcher's thread. The client starts it only when a request does not
 * fit the socket buffer, but then it must be there: Workers are separate
 * entry points of a build.
 */
const WORKER_ENTRY = join(ROOT, "src/fdwatch/fd-watcher-worker.ts");
const WORKER_URL = `URL("./fd-watcher-worker.ts"`;

/**
 * Flags of the compiled client. A device has no .env or bunfig.toml meant for
 * it, and looking for them costs a few syscalls per start. The client's code
 * runs once per process: a JIT tier-up would cost more than it saves (~1 ms
 * of CPU per start measured), so the threshold is raised far out of reach.
 */
export const COMPILE_FLAGS = [
  "--compile",
  "--minify",
  "--bytecode",
  "--format=esm",
  "--no-compile-autoload-dotenv",
  "--no-compile-autoload-bunfig",
  "--compile-jit-policy=100",
];

export async function buildExecutable(entry: string, outfile: string, extra: string[] = []): Promise<void> {
  // fd-watcher.ts expects the worker at fdwatch/fd-watcher-worker.ts inside the executable.
  await run([process.execPath, "build", entry, WORKER_ENTRY, "--root", join(ROOT, "src"), ...COMPILE_FLAGS, ...extra, "--outfile", outfile]);
}

/** An executable of `entry` alone with the client's flags (the bench's empty-program floor). */
export async function buildPlainExecutable(entry: string, outfile: string): Promise<void> {
  await run([process.execPath, "build", entry, ...COMPILE_FLAGS, "--outfile", outfile]);
}

/** `outfile` must be named after the entry (portal-exec.ts -> portal-exec.js): the bundler names it. */
export async function buildBundle(entry: string, outfile: string): Promise<void> {
  const result = await Bun.build({
    entrypoints: [entry, WORKER_ENTRY],
    outdir: dirname(outfile),
    naming: "[name].[ext]",
    target: "bun",
    // Bytecode for a bundle needs CommonJS (hence no top-level await in the entry).
    format: "cjs",
    bytecode: true,
    minify: true,
    plugins: [workerNextToBundle],
  });
  if (!result.success) throw new Error(`bundling ${entry} failed:\n${result.logs.join("\n")}`);
}

/**
 * The bundler leaves `new URL("./fd-watcher-worker.ts", import.meta.url)`
 * alone, and next to the bundle the worker is a .js file. The source is
 * changed as it is loaded, before the bytecode is made: editing the output
 * afterwards would make Bun reject the bytecode cache.
 */
const workerNextToBundle: BunPlugin = {
  name: "fd-watcher-worker next to the bundle",
  setup(build) {
    build.onLoad({ filter: /fd-watcher\.ts$/ }, async ({ path }) => {
      const source = await Bun.file(path).text();
      const uses = source.split(WORKER_URL).length - 1;
      if (uses !== 1) throw new Error(`expected one ${WORKER_URL} in ${path}, found ${uses}`);
      return { contents: source.replace(WORKER_URL, WORKER_URL.replace(".ts", ".js")), loader: "ts" };
    });
  },
};

async function run(argv: string[]): Promise<void> {
  const proc = Bun.spawn(argv, { stdio: ["ignore", "ignore", "pipe"], cwd: ROOT });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  if (code !== 0) throw new Error(`${argv.slice(1, 3).join(" ")} failed (exit ${code}):\n${stderr}`);
}

const command = {
  name: "scripts/build-client.ts",
  usage: `usage: bun run build:client [-- options] [-- BUN BUILD FLAGS...]   (bun scripts/build-client.ts [options])
Builds build/portal-exec (one executable, Bun inside) and build/portal-exec.js (for bun build/portal-exec.js).
  --target TARGET                   bun build target of the executable, e.g. bun-linux-arm64
  --compile-executable-path FILE    the Bun to build it from (an arm64 Bun when cross-compiling)
  -h, --help                        this text
Flags after -- go to bun build for the executable as they are.`,
};

if (import.meta.main) {
  const { values, rest } = parseBuildArguments(command, {
    target: { type: "string" },
    "compile-executable-path": { type: "string" },
  }, { rest: true });
  const extra = [
    ...(values.target ? [`--target=${values.target}`] : []),
    ...(values["compile-executable-path"] ? [`--compile-executable-path=${values["compile-executable-path"]}`] : []),
    ...rest,
  ];
  const out = join(ROOT, "build");
  await buildExecutable(CLIENT_ENTRY, join(out, "portal-exec"), extra);
  await buildBundle(CLIENT_ENTRY, join(out, "portal-exec.js"));
  console.log(`built ${join(out, "portal-exec")} and ${join(out, "portal-exec.js")}`);
}
