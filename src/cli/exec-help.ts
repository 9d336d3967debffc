// Rendered only for --help, so citty stays off the client's start-up path.
import { renderUsage } from "citty";
import { execArgs } from "./exec-options.ts";

export async function showExecHelp(): Promise<void> {
  const usage = await renderUsage({
    meta: { name: "portal-exec", description: "Run a program through a portal spawner, forwarding argv, env, cwd and fds" },
    args: { ...execArgs, command: { type: "positional", required: false, description: "Program and arguments (appended to the spawner's own PROGRAM)", valueHint: "COMMAND..." } },
  });
  process.stdout.write(`${usage}\n\nOur options end at the first argument that is not one of them.\nExit: the program's code; death by its signal; 127 not found; 126 cannot execute; 125 the portal failed.\n`);
}

export const execDefinition = {
  meta: { name: "exec", description: "Run a program through a portal spawner (same as portal-exec)" },
  args: execArgs,
};
