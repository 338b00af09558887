/**
 * Helper process of bench/scale.ts: one researcher on its own (so its rss is its own) running a real
 * experiment (createExperiment: roster, approval check, rounds, breakpoints, history) through a real
 * server on 127.0.0.1:0. The plan is one dense layer sized to the parameter count asked for. Reports
 * the url, each event's time and the researcher's peak rss to the parent.
 * Usage (from the benchmark): scale-researcher.ts <nodes> <features> <units> <rounds> <out dir>
 */

import { appendFileSync } from "node:fs";
import { capYoungGeneration, youngGenerationBytes } from "../../src/common/young-generation.js";
import type { Experiment } from "../../src/researcher/run/config.js";
import { toParent } from "./child.js";
import { createMemorySampler, createRssWatcher, type MemoryFigures } from "./memory.js";

/** Messages to the parent; `at` is epoch milliseconds, comparable across processes. */
export type ResearcherEvent =
  | { type: "listening"; url: string; rss: number }
  | {
      type: "event";
      at: number;
      event: { event: string; seconds?: number; failed?: unknown[]; nodes?: unknown[] };
      rss: number;
      /** Researcher CPU time (user + system, ms) since the previous event. */
      cpuMs: number;
    }
  | {
      type: "done";
      peakRss: number;
      /** Peaks of process.memoryUsage() sampled on the event loop: where the rss goes (heap, buffers). */
      peaks: MemoryFigures;
      error?: string;
    };

const [nodesArg, featuresArg, unitsArg, roundsArg, outDir] = process.argv.slice(2);
const nodes = Number(nodesArg);
const epochMs = () => performance.timeOrigin + performance.now();

// The rss watcher's thread first (a worker starting resets V8's flags; the executable starts none), then the young
// generation's cap, then the researcher's modules, as the executable loads them (src/researcher/cli/main.ts caps it first
// thing); BENCH_SEMI_SPACE_MIB=0 leaves V8's default, to compare.
const watcher = await createRssWatcher({ intervalMs: 5 });
const semiSpaceMiB = process.env.BENCH_SEMI_SPACE_MIB;
if (semiSpaceMiB !== "0") capYoungGeneration(semiSpaceMiB ? Number(semiSpaceMiB) : undefined);
const { experimentSchema } = await import("../../src/researcher/run/config.js");
const { createExperiment } = await import("../../src/researcher/run/experiment.js");
const { createHub } = await import("../../src/researcher/server/hub.js");
const { startServer } = await import("../../src/researcher/server/server.js");
const { createTransferBudget } = await import("../../src/researcher/server/transfer-budget.js");

const config = experimentSchema.parse({
  name: "scale",
  tags: ["scale"],
  rounds: Number(roundsArg),
  nodes: { min: nodes, wait: "10m", round_timeout: "10m" },
  plan: {
    data: { target: "y", normalize: "none" },
    model: [{ dense: { units: Number(unitsArg) } }],
    loss: "meanSquaredError",
    optimizer: { name: "sgd", learning_rate: 0.1 },
  },
  training: { epochs: 1, test_ratio: 0, test_on: [] },
  aggregator: { name: "fedavg" },
}) as Experiment;
void featuresArg; // the nodes' datasets decide the input width; passed for the record

const sampler = createMemorySampler({ intervalMs: 20 });
// BENCH_MEM_TRACE=<file>: process.memoryUsage() and the young generation's size every 50 ms and each event's time, one JSON
// line each (where a round's memory goes).
const trace = process.env.BENCH_MEM_TRACE;
const traceTimer =
  trace &&
  setInterval(
    () =>
      appendFileSync(
        trace,
        `${JSON.stringify({ at: epochMs(), ...process.memoryUsage(), young: youngGenerationBytes() })}\n`,
      ),
    50,
  );
const hub = createHub();
// Simulated nodes do not sign their calls (no key pairs for thousands of them): signatures are not measured.
// BENCH_TRANSFER_MIB: another transfer budget (server/transfer-budget.ts) than the default, to compare.
const budgetMiB = Number(process.env.BENCH_TRANSFER_MIB);
const server = await startServer({
  listen: "127.0.0.1:0",
  hub,
  allowUnsignedNodes: true,
  ...(budgetMiB > 0 ? { transfers: createTransferBudget(budgetMiB * 2 ** 20) } : {}),
});
await toParent<ResearcherEvent>({ type: "listening", url: server.url, rss: process.memoryUsage.rss() });
let error: string | undefined;
let cpu = process.cpuUsage();
let firstConnected = false;
try {
  for await (const event of createExperiment(config, { hub, outDir, log: () => {} }).run()) {
    // Of the node events, only the first connection is reported (where "connect → ready" starts).
    if (trace && event.event !== "progress")
      appendFileSync(trace, `${JSON.stringify({ at: epochMs(), event: event.event })}\n`);
    if (event.event === "progress" || (event.event === "node" && firstConnected)) continue;
    if (event.event === "node") firstConnected = true;
    const { seconds, failed, nodes: replied } = event as { seconds?: number; failed?: unknown[]; nodes?: unknown[] };
    await toParent<ResearcherEvent>({
      type: "event",
      at: epochMs(),
      event: {
        event: event.event,
        seconds,
        failed: failed?.slice(0, 3),
        nodes: replied ? [replied.length] : undefined,
      },
      rss: watcher.peak(),
      cpuMs: cpuSince(),
    });
  }
} catch (e) {
  error = e instanceof Error ? e.message : String(e);
} finally {
  await server.close();
}
function cpuSince(): number {
  const used = process.cpuUsage(cpu);
  cpu = process.cpuUsage();
  return (used.user + used.system) / 1000;
}
await toParent<ResearcherEvent>({ type: "done", peakRss: watcher.peak(), peaks: sampler.stop(), error });
await watcher.stop();
if (traceTimer) clearInterval(traceTimer);
process.disconnect();
