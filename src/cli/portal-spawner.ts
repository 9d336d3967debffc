// Entry point of the portal-spawner binary.
import { spawnerMain } from "./spawner-command.ts";
import { argumentBytes } from "./process-bytes.ts";

await spawnerMain(argumentBytes());
