// How the spawner starts one of its helpers (the exec step, a supervisor):
// the same runtime and code it runs itself. From source that is Bun and the
// helper's entry file; in a compiled spawner (the overlay's), the executable
// itself, which hands argv after HELPER_FLAG to the helper.
import { fileURLToPath } from "node:url";

export const HELPER_FLAG = "__portal-helper";

const COMPILED_ROOT = "file:///$bunfs/";

export function helperCommand(mode: "step" | "supervise"): string[] {
  if (import.meta.url.startsWith(COMPILED_ROOT)) return [process.execPath, HELPER_FLAG, mode];
  return [process.execPath, fileURLToPath(new URL("./helper-main.ts", import.meta.url)), mode];
}

/** The environment helpers run with: the spawner's own (never the program's), without a transpiler cache on the device. */
export function helperEnvironment(): Uint8Array[] {
  const env: Record<string, string | undefined> = { ...process.env, BUN_RUNTIME_TRANSPILER_CACHE_PATH: process.env.BUN_RUNTIME_TRANSPILER_CACHE_PATH ?? "0" };
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  delete env.NOTIFY_SOCKET;
  return Object.entries(env).flatMap(([key, value]) => (value === undefined ? [] : [new TextEncoder().encode(`${key}=${value}`)]));
}
