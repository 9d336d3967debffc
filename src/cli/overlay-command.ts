// portal overlay build DIR -o IMAGE
// portal overlay run IMAGE [--socket PATH] [--upper DIR] [--spawner PATH] [-- SPAWNER OPTIONS...]
import { optionNumber } from "./option-number.ts";
import { defaultSocketPath } from "../protocol/socket-name.ts";
import { defineCommand, parseArgs, type ArgsDef } from "citty";
import { buildImage } from "../overlay/squashfs-image.ts";
import { startOverlay } from "../overlay/overlay-run.ts";
import { OverlayError } from "../overlay/overlay-error.ts";
import { DEFAULT_STATE_BASE } from "../overlay/state-dir.ts";
import type { Command } from "./command-tree.ts";
import { createLogger, LOG_LEVELS } from "./log.ts";

// Its lines never said their level ("portal overlay: wrote ..."); the journal still gets it.
let log: ReturnType<typeof createLogger> | undefined;
const logger = () => (log ??= createLogger("portal overlay", LOG_LEVELS.info, { typeLabels: false }));

function say(line: string): void {
  logger().info(line);
}

/** OverlayErrors are the user's to act on: print the message, not a stack. */
async function reportingFailures(run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    if (!(error instanceof OverlayError)) throw error;
    logger().error(error.message);
    process.exit(1);
  }
}

const buildArgs = {
  dir: { type: "positional", required: true, description: "Directory whose contents become the image's root", valueHint: "DIR" },
  output: { type: "string", alias: "o", required: true, description: "Image file to write", valueHint: "IMAGE" },
  time: { type: "string", description: "Timestamp for every file, seconds since the epoch (default $SOURCE_DATE_EPOCH, else 0)", valueHint: "SECONDS" },
} as const satisfies ArgsDef;

const buildDefinition = defineCommand({
  meta: { name: "build", description: "Make a reproducible squashfs image with the options info-beamer packages use (mksquashfs -comp lzo -b 1M -all-root ...)" },
  args: buildArgs,
  async run({ args }) {
    await reportingFailures(async () => {
      let time: number | undefined;
      if (args.time !== undefined) {
        const parsed = optionNumber(String(args.time), { integer: true });
        if (parsed === null) throw new OverlayError(`--time needs whole seconds since the epoch, got '${args.time}'`);
        time = parsed;
      }
      const built = await buildImage(args.dir, args.output, { time });
      say(`wrote ${built.image} (${built.bytes} bytes)`);
    });
  },
});

const runArgs = {
  image: { type: "positional", required: true, description: "The squashfs image (a package's overlay.squashfs)", valueHint: "IMAGE" },
  socket: { type: "string", alias: "s", description: "Spawner socket on the host (default: $PORTAL_NAME, else ./portal.sock); its directory is shared with the view", valueHint: "PATH" },
  upper: { type: "string", description: "Keep the writable layer in DIR/upper (default: tmpfs, discarded at exit)", valueHint: "DIR" },
  spawner: { type: "string", description: "Spawner executable inside the view (default: /opt/portal/linux-ARCH/portal-spawner from the image)", valueHint: "PATH" },
  "state-dir": { type: "string", description: `Staging directory for mounts (default ${DEFAULT_STATE_BASE})`, valueHint: "DIR" },
  "ready-timeout": { type: "string", description: "Seconds the spawner may take to listen (default 30)", valueHint: "SECONDS" },
} as const satisfies ArgsDef;

const runDefinition: Command = {
  meta: { name: "run", description: "Mount IMAGE over the host root (read-only, writes to a tmpfs layer) and run the spawner inside; needs root" },
  args: runArgs,
  passesOn: true,
  helpNotes: [
    "Options after -- go to the spawner inside the view, as they are, after its --socket and",
    "--ready-fd ('portal-spawner --help' lists them); a second -- ends them, and a PROGRAM",
    "after it is what the spawner runs for every request:",
    "  portal overlay run IMAGE --socket /run/portal/render.sock -- --sandbox --allow-gid portal -- /opt/renderer/bin/render",
  ].join("\n"),
  async run({ rawArgs }) {
    // Everything after "--" belongs to the spawner, which citty cannot tell apart.
    const cut = rawArgs.indexOf("--");
    const args = parseArgs(cut < 0 ? rawArgs : rawArgs.slice(0, cut), runArgs);
    const spawnerArgs = cut < 0 ? [] : rawArgs.slice(cut + 1);
    await reportingFailures(async () => {
      const readySeconds = args["ready-timeout"] === undefined ? 30 : optionNumber(String(args["ready-timeout"]), { aboveMin: true });
      if (readySeconds === null) throw new OverlayError(`--ready-timeout needs a number of seconds, got '${args["ready-timeout"]}'`);
      const running = await startOverlay({
        image: String(args.image),
        socket: args.socket ?? defaultSocketPath(),
        spawner: args.spawner === undefined ? undefined : [args.spawner],
        spawnerArgs,
        upperDir: args.upper,
        stateBase: args["state-dir"],
        readyTimeoutMs: readySeconds * 1000,
        log: say,
      });
      for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
        process.on(signal, () => {
          say(`${signal}: stopping the spawner`);
          void running.stop();
        });
      }
      const code = await running.exited;
      say(`spawner exited with ${code}; the view is gone`);
      process.exit(code);
    });
  },
};

export const overlayDefinition = defineCommand({
  meta: { name: "overlay", description: "Build an overlay image, or run the spawner inside one" },
  subCommands: { build: buildDefinition, run: runDefinition },
});
