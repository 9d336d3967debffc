// --help and --version of portal-exec. Loaded only for them, so citty stays
// off the client's start-up path.
import { showUsage } from "./usage.ts";
import { execArgs } from "./exec-options.ts";
import { printVersion } from "./version.ts";

export async function showExecHelp(): Promise<void> {
  await showUsage(
    {
      meta: { name: "portal-exec", description: "Run a program through a portal spawner, forwarding argv, env, cwd and fds" },
      args: { ...execArgs, command: { type: "positional", required: false, description: "Program and arguments (appended to the spawner's own PROGRAM)", valueHint: "COMMAND..." } },
    },
    {
      notes: [
        "Our options end at the first argument that is not one of them, or at --.",
        "Exit: the program's code; death by its signal; 127 not found; 126 cannot execute; 125 the portal failed or a bad option.",
      ].join("\n"),
    },
  );
}

export function showExecVersion(): void {
  printVersion("portal-exec");
}

export const execDefinition = {
  meta: { name: "exec", description: "Run a program through a portal spawner (same as portal-exec)" },
  args: execArgs,
};
