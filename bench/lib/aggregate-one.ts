/**
 * Helper process of bench/aggregate.ts: one aggregator on one size, alone in its process so the rss
 * peak is its own (freed memory a previous run left in the allocator would hide it). Makes `nodes`
 * updates of `params` float32 values around a global model, then times `repeats` aggregations.
 * Usage (from the benchmark): aggregate-one.ts <aggregator> <nodes> <params> <repeats>
 */

import { createRng } from "../../src/ml/rng.js";
import {
  type AggregatorConfig,
  createAggregator,
  minimumUpdates,
  type Update,
} from "../../src/researcher/aggregators/index.js";
import { toParent } from "./child.js";
import { createRssWatcher, forceGc } from "./memory.js";

export interface AggregateRun {
  type: "result";
  /** The config used (Krum's f, trimmed mean's beta). */
  config: AggregatorConfig;
  /** Milliseconds of each aggregate() call, the first one cold. */
  ms: number[];
  baselineRss: number;
  /** Highest rss during the first call (sampled every 5 ms from a worker thread). */
  peakRss: number;
  inputBytes: number;
  outputBytes: number;
}

/** The benchmark's config for an aggregator name: Krum with the largest f the node count allows. */
function benchConfig(name: string, nodes: number): AggregatorConfig {
  if (name === "krum") return { name, f: Math.max(0, Math.floor((nodes - 3) / 2)) };
  if (name === "trimmed_mean") return { name, beta: 0.1 };
  if (name === "fedavg" || name === "fedmedian") return { name };
  throw new Error(`No benchmark config for aggregator "${name}"`);
}

async function main(): Promise<void> {
  const [name, nodesText, paramsText, repeatsText] = process.argv.slice(2);
  const nodes = Number(nodesText);
  const size = Number(paramsText);
  const config = benchConfig(name, nodes);
  if (nodes < minimumUpdates(config)) throw new Error(`${name} needs at least ${minimumUpdates(config)} updates`);
  const rng = createRng(42);
  const global = [Float32Array.from({ length: size }, () => rng.next() - 0.5)];
  const updates: Update[] = Array.from({ length: nodes }, (_, i) => ({
    nodeId: `n${i}`,
    samples: 100 + 10 * i,
    params: [global[0].map((v) => v + 0.01 * (rng.next() - 0.5))],
  }));
  const aggregator = createAggregator(config);
  const watcher = await createRssWatcher({ intervalMs: 5 });
  forceGc();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const baselineRss = process.memoryUsage.rss();
  watcher.reset();
  const ms: number[] = [];
  let peakRss = 0;
  let outputBytes = 0;
  for (let run = 0; run < Number(repeatsText); run++) {
    const started = performance.now();
    const output = aggregator.aggregate({ round: 1, global, updates, state: {} });
    ms.push(performance.now() - started);
    outputBytes = output.params.reduce((sum, t) => sum + t.byteLength, 0);
    if (run === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20)); // one more sample from the watcher
      peakRss = watcher.peak();
    }
  }
  await watcher.stop();
  const inputBytes = (nodes + 1) * size * 4;
  await toParent({ type: "result", config, ms, baselineRss, peakRss, inputBytes, outputBytes } satisfies AggregateRun);
  process.disconnect();
}

await main();
