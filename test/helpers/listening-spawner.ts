// A spawner process that is ready for clients: Scratch.spawner() returns once
// the socket file exists, which is a moment before the spawner listens.
import { isListening, waitFor, type Scratch } from "./harness.ts";

export async function listeningSpawner(scratch: Scratch, ...rest: Parameters<Scratch["spawner"]>) {
  const spawner = await scratch.spawner(...rest);
  await waitFor(() => isListening(spawner.socket) || spawner.proc.exitCode !== null, `spawner listening on ${spawner.socket}`, 30_000);
  if (spawner.proc.exitCode !== null) throw new Error(`spawner exited with ${spawner.proc.exitCode} before listening`);
  return spawner;
}
