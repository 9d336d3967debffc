// exec() from a long-running Bun process against a spawner in another
// process, next to the floor a Bun program has without the portal: a direct
// Bun.spawn of the same program plus waiting for it.
import { exec } from "../src/client/exec.ts";
import { processCpuMs } from "./servers.ts";

const PROGRAM = ["/bin/true"];

async function directSpawn(): Promise<void> {
  const proc = Bun.spawn(PROGRAM, { stdio: ["ignore", "ignore", "ignore"] });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`Bun.spawn ${PROGRAM.join(" ")} exited with ${code}`);
}

function viaPortal(socket: string): () => Promise<void> {
  // Default fds (0, 1, 2), env and cwd: what a caller gets without options.
  return async () => {
    const result = await exec({ socket, args: PROGRAM });
    if (result.exitCode !== 0) throw new Error(`exec ${PROGRAM.join(" ")}: ${result.outcome.kind} ${result.shellExitCode}`);
  };
}

async function timed(run: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await run();
  return performance.now() - started;
}

/** Sequential, interleaved one by one: exec, spawn, exec, spawn... */
export async function measureSequential(socket: string, options: { iterations: number; warmup: number }) {
  const portal = viaPortal(socket);
  const samples = { exec: [] as number[], spawn: [] as number[] };
  for (let i = 0; i < options.warmup + options.iterations; i++) {
    const first = i % 2 === 0;
    const a = await timed(first ? portal : directSpawn);
    const b = await timed(first ? directSpawn : portal);
    if (i < options.warmup) continue;
    samples.exec.push(first ? a : b);
    samples.spawn.push(first ? b : a);
  }
  return samples;
}

/** Programs per second with `concurrency` requests in flight until `total` have run. */
async function throughput(run: () => Promise<void>, total: number, concurrency: number): Promise<number> {
  let started = 0;
  const begin = performance.now();
  const lane = async () => {
    while (started < total) {
      started++;
      await run();
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return total / ((performance.now() - begin) / 1000);
}

/**
 * Rounds of `perRound` programs, alternating portal and direct spawn rounds.
 * Also the CPU each portal request costs the spawner (without its programs)
 * and this client: a figure far less shaken by other load than programs/s.
 */
export async function measureConcurrent(socket: string, spawnerPid: number, options: { concurrency: number; perRound: number; rounds: number }) {
  const portal = viaPortal(socket);
  const samples = { exec: [] as number[], spawn: [] as number[] };
  await throughput(portal, options.concurrency * 4, options.concurrency);
  let spawnerCpu = 0;
  let clientCpu = 0;
  for (let round = 0; round < options.rounds; round++) {
    const spawnerBefore = processCpuMs(spawnerPid).own;
    const clientBefore = processCpuMs("self").own;
    samples.exec.push(await throughput(portal, options.perRound, options.concurrency));
    spawnerCpu += processCpuMs(spawnerPid).own - spawnerBefore;
    clientCpu += processCpuMs("self").own - clientBefore;
    samples.spawn.push(await throughput(directSpawn, options.perRound, options.concurrency));
  }
  const requests = options.rounds * options.perRound;
  return { ...samples, cpuPerRequestMs: { spawner: spawnerCpu / requests, client: clientCpu / requests } };
}
