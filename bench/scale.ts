/**
 * One researcher against many simulated nodes (bench/lib/sim-nodes.ts: the real client and poll loop,
 * no tfjs, many nodes per process) running a real experiment (bench/lib/scale-researcher.ts, its own
 * process, bundled by esbuild as the executable is). For each configuration prints: ready (from the
 * first node's connection to the datasets event, every node found, including the roster's 1.5 s grace;
 * and from forking the node processes), the mean and worst round time, the time between one round's
 * event and the next round's start (breakpoint + history writes), CPU per round of the researcher and of
 * the simulated nodes (which share the machine's cores), the researcher's peak rss, and issue 15's
 * targets where they apply. Asserts nothing.
 * `relayRxNxP` (e.g. relay2x1000x10k): R relays (bench/lib/sim-relay.ts: `fbm-researcher relay`'s
 * server, executor and poll loop, unsigned) each with N simulated nodes, under one researcher with R
 * nodes; it prints the researcher's round, each relay's share of it and its CPU, and no target (the
 * issue gives none for it).
 * `--calls` makes the simulated nodes use a GetTask/ReplyTask call pair per task instead of one Session
 * call each (issue 29's comparison).
 * Memory: besides the peak rss it prints the researcher's rss when listening and until ready, and the
 * peaks of heapUsed/arrayBuffers/external; BENCH_MEM_TRACE=<file> writes its process.memoryUsage()
 * every 50 ms with the events' times, BENCH_BUNDLED_ARGS passes Node/V8 flags to the researcher alone
 * (e.g. --max-semi-space-size=2), BENCH_TRANSFER_MIB runs it with another transfer budget, BENCH_SEMI_SPACE_MIB
 * another cap on its young generation (0: V8's default; src/common/young-generation.ts).
 * Run: node --import tsx bench/scale.ts [--quick] [--only 1000x10k,100x1M,relay2x1000x10k] [--rounds 3] [--procs 4] [--calls]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { exited, forkBundled, forkTs, nextMessage } from "./lib/child.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine, mib, seconds } from "./lib/machine.js";
import type { ResearcherEvent } from "./lib/scale-researcher.js";
import type { SimEvent } from "./lib/sim-nodes.js";
import type { RelayEvent } from "./lib/sim-relay.js";

interface Config {
  label: string;
  /** Relays between the researcher and the nodes (0: the nodes connect to the researcher). */
  relays: number;
  /** Simulated nodes in all (under relays: per relay). */
  nodes: number;
  /** Dense layer: features inputs → units outputs, features·units + units parameters. */
  features: number;
  units: number;
}

const sizes: Record<string, { features: number; units: number }> = {
  "10k": { features: 99, units: 100 }, // 9,900 + 100 = 10,000
  "1M": { features: 999, units: 1000 }, // 999,000 + 1,000 = 1,000,000
};
const all = ["10x10k", "100x10k", "1000x10k", "5000x10k", "10x1M", "100x1M", "relay2x1000x10k"];
const quick = ["10x10k", "100x10k", "10x1M", "relay2x10x10k"];

const onlyAt = process.argv.indexOf("--only");
const wanted = onlyAt >= 0 ? (process.argv[onlyAt + 1] ?? "").split(",") : isQuick() ? quick : all;
const configs: Config[] = wanted.map((label) => {
  const m = /^(?:relay(\d+)x)?(\d+)x(10k|1M)$/.exec(label);
  if (!m)
    throw new Error(
      `Unknown configuration "${label}": use NODESxPARAMS with PARAMS 10k or 1M, e.g. 1000x10k, or relayRxNODESxPARAMS`,
    );
  return { label, relays: Number(m[1] ?? 0), nodes: Number(m[2]), ...sizes[m[3]] };
});
const rounds = numberFlag("rounds", 3);
const maxProcs = numberFlag("procs", 4);
const sessions = !process.argv.includes("--calls");
const dir = fileURLToPath(new URL("./lib/", import.meta.url));
const epochMs = () => performance.timeOrigin + performance.now();

console.log(machineLine("not used (no training)"));
console.log(
  `scale: one researcher process (real experiment, fedavg, h2c on 127.0.0.1, unsigned calls) against simulated ` +
    `nodes in up to ${maxProcs} processes (one HTTP/2 connection each; ${sessions ? "one Session call per node" : "GetTask/ReplyTask calls"}); ${rounds} rounds per configuration`,
);

for (const config of configs) {
  try {
    await runConfig(config);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    console.log(`${config.label.padEnd(10)}FAILED: ${message.length > 300 ? `${message.slice(0, 300)}…` : message}`);
    process.exitCode = 1;
  }
}

async function runConfig(config: Config): Promise<void> {
  if (config.relays > 0) return runRelayConfig(config);
  const out = mkdtempSync(join(tmpdir(), "fbm-scale-"));
  // The researcher runs bundled, as the executable does (its rss is the figure); the simulated nodes under tsx.
  const researcher = await forkBundled(`${dir}scale-researcher.ts`, [
    String(config.nodes),
    String(config.features),
    String(config.units),
    String(rounds),
    out,
  ]);
  const events: (Extract<ResearcherEvent, { type: "event" }> & { simCpuMs: number })[] = [];
  const sims: ReturnType<typeof forkTs>[] = [];
  let simCpu = 0;
  researcher.on("message", (m: ResearcherEvent) => {
    if (m.type !== "event") return;
    // The simulated nodes' CPU since the previous event: they share the machine's cores with the researcher.
    const now = sims.reduce((sum, s) => sum + processCpuMs(s.pid), 0);
    events.push({ ...m, simCpuMs: now - simCpu });
    simCpu = now;
  });
  try {
    const { url, rss: idleRss } = await nextMessage<Extract<ResearcherEvent, { type: "listening" }>>(
      researcher,
      "listening",
    );
    const done = nextMessage<Extract<ResearcherEvent, { type: "done" }>>(researcher, "done");
    const started = epochMs();
    const procs = Math.min(maxProcs, Math.ceil(config.nodes / 25));
    for (let p = 0; p < procs; p++) {
      const first = Math.floor((p * config.nodes) / procs);
      const count = Math.floor(((p + 1) * config.nodes) / procs) - first;
      sims.push(
        forkTs(`${dir}sim-nodes.ts`, [
          url,
          String(first),
          String(count),
          String(config.features),
          sessions ? "session" : "calls",
        ]),
      );
    }
    // The simulated nodes say "started" once all are connected: a researcher that dies first ends the wait.
    await Promise.race([Promise.all(sims.map((s) => nextMessage<SimEvent>(s, "started"))), done]);
    const result = await done;
    if (result.error) throw new Error(result.error);
    report(config, started, events, result.peakRss);
    const { heapUsed, arrayBuffers, external } = result.peaks;
    const ready = events.find((e) => e.event.event === "datasets");
    console.log(
      `${"".padEnd(10)}researcher rss: listening ${mib(idleRss)}, peak until ready ${ready ? mib(ready.rss) : "never"}; ` +
        `peaks (sampled every 20 ms): heapUsed ${mib(heapUsed)}, ` +
        `arrayBuffers ${mib(arrayBuffers)}, external ${mib(external)}`,
    );
  } finally {
    for (const s of sims) s.disconnect();
    await Promise.all(sims.map((s) => exited(s).catch(() => undefined)));
    await exited(researcher).catch(() => undefined);
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * R relays × N simulated nodes each under one researcher (whose experiment then has R nodes, min R):
 * the round is the researcher's (it includes each relay's whole round below it); per relay, the mean
 * time of its train tasks and its CPU in them.
 */
async function runRelayConfig(config: Config): Promise<void> {
  const out = mkdtempSync(join(tmpdir(), "fbm-scale-"));
  const researcher = await forkBundled(`${dir}scale-researcher.ts`, [
    String(config.relays),
    String(config.features),
    String(config.units),
    String(rounds),
    out,
  ]);
  const events: Extract<ResearcherEvent, { type: "event" }>[] = [];
  researcher.on("message", (m: ResearcherEvent) => {
    if (m.type === "event") events.push(m);
  });
  const relays: ReturnType<typeof forkTs>[] = [];
  const sims: ReturnType<typeof forkTs>[] = [];
  const tasks: Extract<RelayEvent, { type: "task" }>[] = [];
  try {
    const { url } = await nextMessage<Extract<ResearcherEvent, { type: "listening" }>>(researcher, "listening");
    const done = nextMessage<Extract<ResearcherEvent, { type: "done" }>>(researcher, "done");
    const simCpuAtStart: number[] = [];
    const procsPerRelay = Math.max(1, Math.min(Math.floor(maxProcs / config.relays), Math.ceil(config.nodes / 25)));
    for (let r = 0; r < config.relays; r++) {
      const relay = forkTs(`${dir}sim-relay.ts`, [url, `relay-${r}`, String(config.nodes)]);
      relays.push(relay);
      relay.on("message", (m: RelayEvent) => {
        if (m.type === "task" && m.round > 0) tasks.push(m);
      });
      const { url: relayUrl } = await nextMessage<Extract<RelayEvent, { type: "listening" }>>(relay, "listening");
      for (let p = 0; p < procsPerRelay; p++) {
        const first = r * config.nodes + Math.floor((p * config.nodes) / procsPerRelay);
        const count =
          Math.floor(((p + 1) * config.nodes) / procsPerRelay) - Math.floor((p * config.nodes) / procsPerRelay);
        sims.push(forkTs(`${dir}sim-nodes.ts`, [relayUrl, String(first), String(count), String(config.features)]));
      }
    }
    await Promise.all(relays.map((r) => nextMessage<RelayEvent>(r, "upstream")));
    simCpuAtStart.push(sims.reduce((sum, s) => sum + processCpuMs(s.pid), 0));
    const result = await done;
    if (result.error) throw new Error(result.error);
    const simCpu = sims.reduce((sum, s) => sum + processCpuMs(s.pid), 0) - simCpuAtStart[0];
    const roundEvents = events.filter((e) => e.event.event === "round");
    const roundMs = roundEvents.map((e) => (e.event.seconds ?? 0) * 1000);
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
    const failed = roundEvents.reduce((n, e) => n + (e.event.failed?.length ?? 0), 0);
    const trained = tasks.filter((t) => t.round <= rounds);
    const perRelay = (pick: (t: (typeof tasks)[number]) => number) => mean(trained.map(pick));
    console.log(
      `${config.label.padEnd(10)} ${config.relays} relays × ${config.nodes} nodes under one researcher: ` +
        `round mean ${seconds(mean(roundMs), 3)}, worst ${seconds(Math.max(...roundMs), 3)}; ` +
        `per relay: its round ${seconds(
          perRelay((t) => t.ms),
          3,
        )}, cpu ${seconds(
          perRelay((t) => t.cpuMs),
          2,
        )}, ` +
        `peak rss ${mib(Math.max(...trained.map((t) => t.peakRss)))}; cpu per round: researcher ` +
        `${seconds(mean(roundEvents.map((e) => e.cpuMs)), 2)}, nodes ${seconds(simCpu / Math.max(1, roundEvents.length), 2)} ` +
        `(incl. search and approval); researcher peak rss ${mib(result.peakRss)}; ${roundEvents.length} rounds, ` +
        `${failed} failures; no target set for relays (issue 29 asks for the figure)`,
    );
  } finally {
    for (const s of sims) s.disconnect();
    for (const r of relays) if (r.connected) r.disconnect();
    await Promise.all([...sims, ...relays].map((s) => exited(s).catch(() => undefined)));
    await exited(researcher).catch(() => undefined);
    rmSync(out, { recursive: true, force: true });
  }
}

/** CPU time (user + system) of a live child process in ms, from /proc (0 where there is none). */
function processCpuMs(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return 0;
  }
}

function report(
  config: Config,
  started: number,
  events: (Extract<ResearcherEvent, { type: "event" }> & { simCpuMs: number })[],
  peak: number,
) {
  const listed = events.find((e) => e.event.event === "datasets");
  const connected = events.find((e) => e.event.event === "node");
  const roundEvents = events.filter((e) => e.event.event === "round");
  const roundMs = roundEvents.map((e) => (e.event.seconds ?? 0) * 1000);
  // Between rounds: from one round event to the next, less the next round's own time (breakpoint, history, event).
  const between = roundEvents.slice(1).map((e, i) => e.at - roundEvents[i].at - roundMs[i + 1]);
  const failed = roundEvents.reduce((n, e) => n + (e.event.failed?.length ?? 0), 0);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
  const params = config.features * config.units + config.units;
  console.log(
    `${config.label.padEnd(10)}ready ${listed && connected ? seconds(listed.at - connected.at, 1) : "never"} ` +
      `(${listed ? seconds(listed.at - started, 1) : "never"} from forking the node processes); ` +
      `round mean ${seconds(mean(roundMs), 3)}, worst ${seconds(Math.max(...roundMs), 3)}; ` +
      `between rounds ${seconds(mean(between), 3)}; cpu per round: researcher ${seconds(mean(roundEvents.map((e) => e.cpuMs)), 2)}, nodes ${seconds(mean(roundEvents.map((e) => e.simCpuMs)), 2)}; researcher peak rss ${mib(peak)} ` +
      `(model ${((params * 4) / 2 ** 20).toFixed(2)} MiB); ${roundEvents.length} rounds, ${failed} node failures`,
  );
  const checks = targets(config, {
    readyMs: listed && connected ? listed.at - connected.at : Number.POSITIVE_INFINITY,
    roundMs: mean(roundMs),
    cpuMs: mean(roundEvents.map((e) => e.cpuMs)),
    betweenMs: mean(between),
    peak,
    modelBytes: params * 4,
  });
  if (checks.length > 0) console.log(`${"".padEnd(10)}targets: ${checks.join("; ")}`);
}

/** Issue 15's targets for this configuration, each with what was measured against it. */
function targets(
  config: Config,
  got: { readyMs: number; roundMs: number; cpuMs: number; betweenMs: number; peak: number; modelBytes: number },
): string[] {
  const check = (what: string, value: string, limit: string, met: boolean) =>
    `${what} ${value} ≤ ${limit} ${met ? "met" : "NOT met"}`;
  const mibs = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  const out: string[] = [];
  if (config.label === "10x10k")
    out.push(check("between rounds", seconds(got.betweenMs, 3), "0.020 s", got.betweenMs <= 20));
  if (config.label === "1000x10k") {
    out.push(check("ready", seconds(got.readyMs, 1), "10 s", got.readyMs <= 10_000));
    out.push(check("round", seconds(got.roundMs, 2), "2 s", got.roundMs <= 2_000));
    const perNode = got.cpuMs / config.nodes;
    out.push(check("researcher cpu per node and round", `${perNode.toFixed(2)} ms`, "1 ms", perNode <= 1));
    out.push(check("rss", mibs(got.peak), "300 MiB", got.peak <= 300 * 2 ** 20));
  }
  if (config.label === "100x1M") out.push(check("round", seconds(got.roundMs, 2), "8 s", got.roundMs <= 8_000));
  if (config.units >= 1000) {
    const limit = 2.5 * got.modelBytes + 200 * 2 ** 20;
    out.push(check("rss", mibs(got.peak), `2.5 × model + 200 MiB = ${mibs(limit)}`, got.peak <= limit));
  }
  if (config.nodes >= 5000) out.push(check("round", seconds(got.roundMs, 2), "10 s", got.roundMs <= 10_000));
  return out;
}
