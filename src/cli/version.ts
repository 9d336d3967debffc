// The version every command prints for --version. Imported from package.json
// by name, so a bundle (bun run build:client, the overlay's compiled spawner)
// carries the string itself and needs no package.json beside it.
import { version } from "../../package.json" with { type: "json" };

export const VERSION: string = version;

/** `portal-exec --version`: "portal-exec 0.1.0", one line on stdout. */
export function printVersion(command: string): void {
  process.stdout.write(`${command} ${VERSION}\n`);
}
