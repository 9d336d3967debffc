// bun run bench [-- options]
//
// Runs the portal's benchmarks side by side with its peers, prints a
// markdown table, writes the figures as JSON and a chart as SVG to
// bench/results/. Figures are printed, never judged by the exit code: a
// missed target is a finding, not a failure. docs/performance.md explains
// every row and the method.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseArgs } from "node:util";
import { measureBurst } from "./burst.ts";
import { directly, measureEcho, measureStart, measureThroughput, throughPortal } from "./pty.ts";
import { drawChart, type Bar, type TargetBar } from "./chart.ts";
import { measureFdCounts } from "./fd-count.ts";
import { measureFresh, type Variant } from "./fresh-process.ts";
import { measureConcurrent, measureSequential } from "./in-process.ts";
import { BUN, ROOT, startPortalSpawner, startS6Sudod, type Server } from "./servers.ts";
import {
  BARE_EXECUTABLE, BARE_SCRIPT, CLIENT_BUNDLE, CLIENT_EXECUTABLE, ensureBuilds, ensureS6, machineInfo,
} from "./setup.ts";
import { measureCliSignal, measureLibrarySignal } from "./signal-latency.ts";
import { measureSpawnerMemory } from "./spawner-memory.ts";
import { rounded, summarize, type Summary } from "./stats.ts";

const SUITES = ["fresh", "sequential", "concurrent", "fds", "signals", "pty", "burst", "memory", "overlay"] as const;
type Suite = (typeof SUITES)[number];

const USAGE = `usage: bun run bench [-- options]
  --only LIST             suites to run, comma-separated (${SUITES.join(",")})
  --scale X               multiply every run count by X (0.2 for a quick look)
  --rounds N              fresh-process rounds (default 100)
  --iterations N          sequential exec()/Bun.spawn pairs (default 1000)
  --concurrent-rounds N   rounds of 16-way throughput (default 7, 1000 programs each)
  --fd-iterations N       requests per fd count (default 50)
  --signal-iterations N   signals per variant (default 100)
  --requests N            requests for the memory figure, run twice (default 10000)
  --out DIR               where latest.json and latest.svg go (default bench/results)`;

function options() {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      only: { type: "string" },
      scale: { type: "string", default: "1" },
      rounds: { type: "string", default: "100" },
      iterations: { type: "string", default: "1000" },
      "concurrent-rounds": { type: "string", default: "7" },
      "fd-iterations": { type: "string", default: "50" },
      "signal-iterations": { type: "string", default: "100" },
      requests: { type: "string", default: "10000" },
      out: { type: "string", default: join(ROOT, "bench", "results") },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const scale = Number(values.scale);
  const count = (text: string, min = 1) => Math.max(min, Math.round(Number(text) * scale));
  const only = values.only ? (values.only.split(",") as Suite[]) : [...SUITES];
  for (const suite of only) if (!SUITES.includes(suite)) throw new Error(`unknown suite '${suite}'\n${USAGE}`);
  return {
    only: new Set(only),
    scale,
    rounds: count(values.rounds!, 5),
    iterations: count(values.iterations!, 10),
    concurrentRounds: count(values["concurrent-rounds"]!, 1),
    perRound: 1000,
    fdIterations: count(values["fd-iterations"]!, 3),
    signalIterations: count(values["signal-iterations"]!, 5),
    requests: count(values.requests!, 100),
    out: values.out!,
  };
}

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const summaryWithSamples = (samples: number[]) => ({ summary: summarize(samples), samples: rounded(samples) });

interface TargetRow {
  figure: string;
  measured: string;
  target: string;
  /** measured / target oriented so <= 1 meets; null when not measured. */
  ratio: number | null;
  met: boolean | null;
}

async function main(): Promise<void> {
  const opts = options();
  const started = performance.now();
  const machine = machineInfo();
  log(`${machine.cores} x ${machine.cpu}, kernel ${machine.kernel}, Bun ${machine.bun}, load ${machine.loadAverageAtStart.join(" ")}`);
  const haveS6 = ensureS6(log);
  await ensureBuilds(log);

  const dir = mkdtempSync(join(tmpdir(), "portal-bench-"));
  const servers: Server[] = [];
  const results: Record<string, unknown> = {};
  const targets: TargetRow[] = [];
  const target = (figure: string, measured: string, goal: string, ratio: number | null) =>
    targets.push({ figure, measured, target: goal, ratio, met: ratio === null || Number.isNaN(ratio) ? null : ratio <= 1 });
  let roundTripBars: Bar[] = [];

  try {
    const spawner = await startPortalSpawner(dir);
    servers.push(spawner);
    const s6 = haveS6 ? await startS6Sudod(dir) : null;
    if (s6) servers.push(s6);
    const client = (argv: string[]) => [...argv, "--socket", spawner.socket, "/bin/true"];

    if (opts.only.has("fresh")) {
      const variants: Variant[] = [
        { name: "direct", label: "/bin/true, spawned directly", argv: ["/bin/true"] },
        { name: "bunBare", label: "bun, empty script", argv: [BUN, BARE_SCRIPT] },
        { name: "exeBare", label: "compiled Bun, empty program", argv: [BARE_EXECUTABLE] },
        ...(s6 ? [{ name: "s6sudo", label: "s6-sudo -> s6-sudod", argv: ["s6-sudo", s6.socket, "/bin/true"] }] : []),
        { name: "portalExecTs", label: "portal-exec (bun src/...ts)", argv: client([BUN, join(ROOT, "src/cli/portal-exec.ts")]) },
        { name: "portalExecJs", label: "portal-exec (bun build/portal-exec.js)", argv: client([BUN, CLIENT_BUNDLE]) },
        { name: "portalExecExe", label: "portal-exec (compiled build/portal-exec)", argv: client([CLIENT_EXECUTABLE]) },
      ];
      log(`fresh-process round trips: ${opts.rounds} interleaved rounds of ${variants.length} variants...`);
      const samples = measureFresh(variants, { rounds: opts.rounds, warmup: 3 });
      const med = (name: string) => summarize(samples[name]?.wall ?? []).median;
      results.freshProcess = Object.fromEntries(
        variants.map((v) => [v.name, { label: v.label, argv: v.argv, wall: summaryWithSamples(samples[v.name]!.wall), cpu: summaryWithSamples(samples[v.name]!.cpu) }]),
      );
      roundTripBars = variants.map((v) => ({ label: v.label, value: med(v.name), text: `${ms(med(v.name))} ms`, highlight: v.name.startsWith("portal") }));
      if (s6) {
        target("portal-exec (compiled) / s6-sudo, round trip", `${(med("portalExecExe") / med("s6sudo")).toFixed(2)}x (${ms(med("portalExecExe"))} vs ${ms(med("s6sudo"))} ms)`, "<= 1.0x", med("portalExecExe") / med("s6sudo"));
        target("portal-exec (bun .ts) / s6-sudo, round trip", `${(med("portalExecTs") / med("s6sudo")).toFixed(2)}x (${ms(med("portalExecTs"))} vs ${ms(med("s6sudo"))} ms)`, "<= 1.0x", med("portalExecTs") / med("s6sudo"));
      }
      const above = (a: string, b: string) => med(a) - med(b);
      target("portal-exec (compiled) above compiled empty program", `+${ms(above("portalExecExe", "exeBare"))} ms`, "<= +2 ms", above("portalExecExe", "exeBare") / 2);
      target("portal-exec (bundled .js) above bun empty script", `+${ms(above("portalExecJs", "bunBare"))} ms`, "<= +2 ms", above("portalExecJs", "bunBare") / 2);
      target("portal-exec (bun .ts) above bun empty script", `+${ms(above("portalExecTs", "bunBare"))} ms`, "<= +2 ms", above("portalExecTs", "bunBare") / 2);
    }

    if (opts.only.has("sequential")) {
      log(`in-process exec() vs Bun.spawn, sequential: ${opts.iterations} pairs...`);
      const s = await measureSequential(spawner.socket, { iterations: opts.iterations, warmup: 50 });
      const exec = summarize(s.exec);
      const spawn = summarize(s.spawn);
      results.sequential = { exec: summaryWithSamples(s.exec), spawn: summaryWithSamples(s.spawn) };
      target("exec() / Bun.spawn, sequential /bin/true", `${(exec.median / spawn.median).toFixed(2)}x (${ms(exec.median)} vs ${ms(spawn.median)} ms)`, "<= 1.3x", exec.median / spawn.median / 1.3);
    }

    if (opts.only.has("concurrent")) {
      log(`in-process exec(), 16 concurrent: ${opts.concurrentRounds} rounds of ${opts.perRound}...`);
      const c = await measureConcurrent(spawner.socket, spawner.pid, { concurrency: 16, perRound: opts.perRound, rounds: opts.concurrentRounds });
      const exec = summarize(c.exec);
      results.concurrent = {
        concurrency: 16, perRound: opts.perRound, exec: summaryWithSamples(c.exec), spawn: summaryWithSamples(c.spawn), cpuPerRequestMs: c.cpuPerRequestMs,
      };
      const cpu = `CPU/request: spawner ${c.cpuPerRequestMs.spawner.toFixed(2)} ms, client ${c.cpuPerRequestMs.client.toFixed(2)} ms`;
      target("exec(), 16 concurrent", `${exec.median.toFixed(0)} programs/s (Bun.spawn: ${summarize(c.spawn).median.toFixed(0)}/s; ${cpu})`, ">= 1000/s", 1000 / exec.median);
    }

    if (opts.only.has("fds")) {
      const counts = [0, 1, 64, 253, 1024];
      log(`fds per request ${counts.join(", ")}: ${opts.fdIterations} requests each...`);
      const f = await measureFdCounts(spawner.socket, { counts, iterations: opts.fdIterations, warmup: 3 });
      results.fds = Object.fromEntries(Object.entries(f).map(([n, v]) => [n, summaryWithSamples(v)]));
      const fds1024 = summarize(f["1024"]!);
      const others = counts.filter((n) => n !== 1024).map((n) => `${n}: ${ms(summarize(f[String(n)]!).median)}`).join(", ");
      target("1024 fds in one request, end to end", `${ms(fds1024.median)} ms (${others} ms)`, "<= 10 ms", fds1024.median / 10);
    }

    if (opts.only.has("signals")) {
      log(`signal forwarding: ${opts.signalIterations} through the library, ${opts.signalIterations} through compiled portal-exec...`);
      const lib = await measureLibrarySignal(spawner.socket, { iterations: opts.signalIterations, warmup: 3 });
      const cli = await measureCliSignal([CLIENT_EXECUTABLE], spawner.socket, { iterations: opts.signalIterations, warmup: 3 });
      const l = summarize(lib);
      const c = summarize(cli);
      results.signals = { library: summaryWithSamples(lib), cli: summaryWithSamples(cli) };
      target("signal -> program dead, library kill()", `median ${ms(l.median)} ms, p99 ${ms(l.p99)} ms`, "median <= 5, p99 <= 20 ms", Math.max(l.median / 5, l.p99 / 20));
      target("signal -> program dead, via portal-exec", `median ${ms(c.median)} ms, p99 ${ms(c.p99)} ms`, "median <= 5, p99 <= 20 ms", Math.max(c.median / 5, c.p99 / 20));
    }

    if (opts.only.has("pty")) {
      log("terminal: keystroke round trips, 100 MiB, start-up with and without a pty...");
      const portal = throughPortal(CLIENT_EXECUTABLE, spawner.socket);
      const keys = Math.max(50, Math.round(200 * opts.scale));
      const echoDirect = summarize(await measureEcho(directly(), keys));
      const echoPortal = summarize(await measureEcho(portal, keys));
      const bulkDirect = await measureThroughput(directly(), 100);
      const bulkPortal = await measureThroughput(portal, 100);
      const runs = Math.max(10, Math.round(30 * opts.scale));
      const withPty = summarize(await measureStart([CLIENT_EXECUTABLE, "--socket", spawner.socket, "--", "/bin/true"], runs));
      const withoutPty = summarize(await measureStart([CLIENT_EXECUTABLE, "--socket", spawner.socket, "--no-pty", "--", "/bin/true"], runs));
      results.pty = { echoDirect, echoPortal, bulkDirectMs: bulkDirect, bulkPortalMs: bulkPortal, startWithPty: withPty, startWithoutPty: withoutPty };
      target("keystroke round trip, through the relay", `median ${ms(echoPortal.median)} ms, p99 ${ms(echoPortal.p99)} ms (direct pty: ${ms(echoDirect.median)}, ${ms(echoDirect.p99)})`, "-", null);
      const mibs = (msTaken: number) => (100 / (msTaken / 1000)).toFixed(0);
      target("100 MiB through the program's terminal", `${mibs(bulkPortal)} MiB/s (${bulkPortal.toFixed(0)} ms; direct pty ${mibs(bulkDirect)} MiB/s)`, "-", null);
      target("portal-exec /bin/true in a terminal: pty vs --no-pty", `+${ms(withPty.median - withoutPty.median)} ms (${ms(withPty.median)} vs ${ms(withoutPty.median)} ms)`, "-", null);
    }

    // The long-running figures get their own spawner: stop the shared ones first.
    for (const server of servers.splice(0)) await server.stop();

    if (opts.only.has("burst")) {
      log("burst: 1000 concurrent clients against --max-children 8...");
      const burstDir = join(dir, "burst");
      mkdirSync(burstDir);
      const burstSpawner = await startPortalSpawner(burstDir, ["--max-children", "8"]);
      try {
        const b = await measureBurst(burstSpawner.socket, { clients: 1000, maxChildren: 8 });
        results.burst = b;
        const ok = b.failed === 0 && b.wrongStatus === 0;
        target(
          "burst: 1000 clients at once, --max-children 8",
          `all served in ${b.totalMs.toFixed(0)} ms (${(b.clients / (b.totalMs / 1000)).toFixed(0)}/s); wait to start median ${ms(b.waitMs.median)}, p99 ${ms(b.waitMs.p99)} ms; ` +
            `${b.failed} refused or failed, ${b.wrongStatus} wrong statuses`,
          "none refused, every status right",
          ok ? 1 : 2,
        );
      } finally {
        await burstSpawner.stop();
      }
    }

    if (opts.only.has("memory")) {
      log(`spawner footprint over 2 x ${opts.requests} requests (16 concurrent)...`);
      const m = await measureSpawnerMemory({ requests: opts.requests, concurrency: 16, settleMs: 2500 });
      results.memory = m;
      const mib = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)} MiB`;
      const growth = m.after.rssMiB - m.idle.rssMiB;
      target("spawner RSS idle", `${m.idle.rssMiB.toFixed(1)} MiB (anon ${m.idle.anonMiB.toFixed(1)})`, "<= 35 MiB", m.idle.rssMiB / 35);
      target(`spawner RSS growth, idle -> ${m.requests} requests`, `${mib(growth)} (anon ${mib(m.after.anonMiB - m.idle.anonMiB)})`, "<= 5 MiB", Math.max(0, growth) / 5);
      target(`spawner RSS growth, next ${m.requests} requests`, mib(m.afterTwice.rssMiB - m.after.rssMiB), "<= 5 MiB", Math.max(0, m.afterTwice.rssMiB - m.after.rssMiB) / 5);
      target("spawner open fds idle / after", `${m.idle.fds} / ${m.after.fds} / ${m.afterTwice.fds}`, "unchanged", m.after.fds === m.idle.fds && m.afterTwice.fds === m.idle.fds ? 1 : 2);
    }

    if (opts.only.has("overlay")) results.overlay = runOverlayBench(target);
  } finally {
    for (const server of servers) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const seconds = (performance.now() - started) / 1000;
  const report = {
    schema: 1,
    date: new Date().toISOString(),
    machine: { ...machine, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
    options: { ...opts, only: [...opts.only], out: relative(ROOT, opts.out) || "." },
    seconds: Math.round(seconds),
    targets,
    ...results,
  };
  mkdirSync(opts.out, { recursive: true });
  // Indented for diffs, but each list of samples on one line.
  const json = JSON.stringify(report, null, 1).replace(/\[[\d.,\s-]+\]/g, (list) => list.replace(/\s+/g, ""));
  writeFileSync(join(opts.out, "latest.json"), `${json}\n`);
  const chartTargets: TargetBar[] = targets
    .filter((t) => t.ratio !== null && Number.isFinite(t.ratio))
    .map((t) => ({ label: t.figure.length > 58 ? `${t.figure.slice(0, 57)}…` : t.figure, ratio: t.ratio!, text: t.measured.split(" (")[0]! }));
  const subtitle = `${machine.cores} x ${machine.cpu}, Linux ${machine.kernel}, Bun ${machine.bun}, s6 ${machine.s6 ?? "-"}, ${report.date.slice(0, 10)}`;
  writeFileSync(join(opts.out, "latest.svg"), drawChart({ title: "portal: bun run bench", subtitle, roundTrips: roundTripBars, targets: chartTargets }));

  console.log(`\n## portal benchmark, ${report.date.slice(0, 16).replace("T", " ")} UTC\n`);
  console.log(`Machine: ${subtitle}; load average ${machine.loadAverageAtStart.join(" ")} at start, ${report.machine.loadAverageAtEnd.join(" ")} at end.\n`);
  if (results.freshProcess) printFresh(results.freshProcess as Record<string, FreshFigures>);
  console.log("| figure | measured | target | met |\n|---|---|---|---|");
  for (const t of targets) console.log(`| ${t.figure} | ${t.measured} | ${t.target} | ${t.met === null ? "-" : t.met ? "yes" : "**no**"} |`);
  console.log(`\nRaw figures: ${join(opts.out, "latest.json")}; chart: ${join(opts.out, "latest.svg")}; ${seconds.toFixed(0)} s.`);
}

interface FreshFigures {
  label: string;
  wall: { summary: Summary };
  cpu: { summary: Summary };
}

function printFresh(fresh: Record<string, FreshFigures>): void {
  console.log("| fresh process, /bin/true | wall median ms | wall p90 ms | client CPU median ms | runs |\n|---|---|---|---|---|");
  for (const v of Object.values(fresh)) {
    console.log(`| ${v.label} | ${ms(v.wall.summary.median)} | ${ms(v.wall.summary.p90)} | ${ms(v.cpu.summary.median)} | ${v.wall.summary.n} |`);
  }
  console.log("");
}

/**
 * The overlay figure belongs to the overlay feature (bench/overlay-bench.ts,
 * not written here). It runs as its own process. The speedup is read from
 * its output: a last line that is a JSON object with a numeric `speedup`, or
 * its "ratio (b)/(a): N x" line (mount-and-sandbox per run / warm spawner).
 */
function runOverlayBench(target: (figure: string, measured: string, goal: string, ratio: number | null) => void): unknown {
  const figure = "overlay: 64 MiB read, warm spawner vs mount per run";
  const script = join(ROOT, "bench", "overlay-bench.ts");
  if (!existsSync(script)) {
    log("bench/overlay-bench.ts is not there: no overlay figure");
    target(figure, "not measured", ">= 10x", null);
    return null;
  }
  log("overlay: running bench/overlay-bench.ts...");
  const proc = Bun.spawnSync([BUN, script], { stdio: ["ignore", "pipe", "inherit"], cwd: ROOT });
  const lines = proc.stdout.toString().trim().split("\n");
  let speedup: number | null = null;
  try {
    const last = JSON.parse(lines[lines.length - 1] ?? "");
    if (typeof last?.speedup === "number") speedup = last.speedup;
  } catch {
    const ratio = /ratio \(b\)\/\(a\):\s*([\d.]+)\s*x/.exec(lines.join("\n"));
    if (ratio) speedup = Number(ratio[1]);
  }
  if (proc.exitCode !== 0 || speedup === null) {
    log(`overlay bench ${proc.exitCode === 0 ? "printed no speedup" : `exited with ${proc.exitCode}`}`);
    target(figure, "not measured", ">= 10x", null);
    return { exitCode: proc.exitCode, output: lines };
  }
  target(figure, `${speedup.toFixed(1)}x faster`, ">= 10x", 10 / speedup);
  return { speedup, output: lines.filter((line) => line.trim() !== "") };
}

await main();
