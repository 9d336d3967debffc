// Entry point of the `portal` binary: portal exec | spawner | pola-run | demo | overlay.
// Exit codes: `portal exec`, `portal spawner` and `portal pola-run` are
// portal-exec and portal-spawner (their own codes); the rest exit 2 for a
// usage mistake and 1 when what they do fails (README "Exit codes").
import { defineCommand } from "citty";
import { argumentBytes } from "./process-bytes.ts";
import { runCommandTree } from "./command-tree.ts";

/** `portal`'s exit code for a mistake on its command line. */
const PORTAL_USAGE_EXIT = 2;

const main = defineCommand({
  meta: { name: "portal", description: "Exec portal: run programs inside another environment with the caller's argv, env, cwd and fds" },
  subCommands: {
    exec: () => import("./exec-help.ts").then((m) => m.execDefinition),
    spawner: () => import("./spawner-command.ts").then((m) => m.spawnerDefinition),
    "pola-run": () => import("./pola-run-help.ts").then((m) => m.polaRunDefinition),
    demo: () => import("./demo.ts").then((m) => m.demoDefinition),
    overlay: () => import("./overlay-command.ts").then((m) => m.overlayDefinition),
  },
});

const args = argumentBytes();
const sub = args[0] ? new TextDecoder().decode(args[0]) : "";
// exec and spawner take a program after their options, and pola-run has
// options citty cannot express (-fwl PATH, -t DEST SRC): they parse their
// own arguments.
if (sub === "exec") {
  const { runExecCommand } = await import("./exec-command.ts");
  await runExecCommand(args.slice(1));
} else if (sub === "spawner") {
  const { spawnerMain } = await import("./spawner-command.ts");
  await spawnerMain(args.slice(1));
} else if (sub === "pola-run") {
  const { runPolaRun } = await import("./pola-run-command.ts");
  await runPolaRun(args.slice(1));
} else {
  await runCommandTree(main, process.argv.slice(2), { name: "portal", usageExit: PORTAL_USAGE_EXIT });
}
