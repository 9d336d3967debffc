// Round trip of a freshly started client process, from fork to reaped, with
// the spawner already warm: what a shell script pays per `portal-exec`. All
// variants run in the same rounds, one after the other (A B C A B C ...), so
// load from elsewhere hits them alike.

export interface Variant {
  /** Key in the JSON. */
  name: string;
  /** Row label in the table. */
  label: string;
  argv: string[];
  env?: Record<string, string | undefined>;
}

export interface FreshOptions {
  rounds: number;
  warmup: number;
}

export interface FreshSamples {
  /** Wall time from spawn to reaped, ms. */
  wall: number[];
  /**
   * CPU time (user + system, all threads) of the client process itself, ms.
   * Far less disturbed by other load than wall time; it leaves out the
   * server side (spawner, s6-sudod) and the program.
   */
  cpu: number[];
}

/** One run of `argv`; throws if it does not exit 0. */
function timeOnce(variant: Variant): { wall: number; cpu: number } {
  const started = performance.now();
  // stdin/stdout are /dev/null, stderr is ours: every client forwards 0-2.
  const proc = Bun.spawnSync(variant.argv, { stdio: ["ignore", "ignore", "inherit"], env: variant.env ?? process.env });
  const wall = performance.now() - started;
  if (proc.exitCode !== 0) throw new Error(`${variant.argv.join(" ")} exited with ${proc.exitCode ?? proc.signalCode}`);
  return { wall, cpu: Number(proc.resourceUsage.cpuTime.total) / 1000 };
}

export function measureFresh(variants: readonly Variant[], options: FreshOptions): Record<string, FreshSamples> {
  const samples: Record<string, FreshSamples> = Object.fromEntries(variants.map((v) => [v.name, { wall: [], cpu: [] }]));
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    // Rotate the order too, so no variant always runs right after the same one.
    for (let i = 0; i < variants.length; i++) {
      const variant = variants[(i + round) % variants.length]!;
      const { wall, cpu } = timeOnce(variant);
      if (round < options.warmup) continue;
      samples[variant.name]!.wall.push(wall);
      samples[variant.name]!.cpu.push(cpu);
    }
  }
  return samples;
}
