// Entry point of the portal-spawner binary. A compiled spawner is also its
// own helper (the exec step, a sandbox's init, a terminal's leader): it is
// started again with HELPER_FLAG first, and then runs nothing else.
import { HELPER_FLAG } from "../launch/self-command.ts";

if (process.argv[2] === HELPER_FLAG) {
  const { runHelper } = await import("../launch/helper-main.ts");
  await runHelper(process.argv.slice(3));
} else {
  const { spawnerMain } = await import("./spawner-command.ts");
  const { argumentBytes } = await import("./process-bytes.ts");
  await spawnerMain(argumentBytes());
}
