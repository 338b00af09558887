/**
 * A secure aggregation round against a plain round on the researcher: 10 nodes × 100k and × 1M
 * parameters, through the real hub and round code (secureRound vs runTrainRound with a running mean).
 * The nodes are simulated in this process with the node's own secagg code (executeSecagg,
 * secaggExtension); their "training" adds noise to the global model. Node work is timed apart: on real
 * nodes it runs in parallel on their machines, here it runs one node after another on this thread.
 * Peak rss (sampled from a worker thread) includes the simulated nodes' buffers.
 * Run: node --import tsx bench/secagg.ts [--quick] [--repeats N]
 */

import type { NamedTensor } from "../src/ml/types.js";
import { createRunningMean } from "../src/researcher/aggregators/running-mean.js";
import { secaggSchema } from "../src/researcher/run/secagg-config.js";
import { secureRound } from "../src/researcher/run/secure-round.js";
import { runTrainRound } from "../src/researcher/run/train-round.js";
import { createHub } from "../src/researcher/server/hub.js";
import { simulatedNode } from "../test/support/simulated-secagg-node.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine, mib } from "./lib/machine.js";
import { createRssWatcher } from "./lib/memory.js";

const quick = isQuick();
const sizes = quick
  ? [{ nodes: 10, params: 100_000 }]
  : [
      { nodes: 10, params: 100_000 },
      { nodes: 10, params: 1_000_000 },
    ];
const repeats = numberFlag("repeats", quick ? 1 : 3);

console.log(machineLine("not used (secure aggregation is node:crypto and typed arrays)"));
console.log(
  `secagg: ${repeats} round(s) each after a warm-up; full graph, threshold 0.6, clip 1, bits auto; ` +
    "researcher time = round time − simulated node time; peak rss over the baseline before the round",
);
console.log(
  `${"nodes × params".padEnd(18)}${"plain round".padEnd(14)}${"secagg researcher".padEnd(20)}${"ratio".padEnd(8)}${"secagg nodes (serial)".padEnd(23)}${"peak rss plain".padEnd(16)}peak rss secagg`,
);

for (const { nodes, params } of sizes) {
  const plain = await measure(nodes, params, false);
  const secure = await measure(nodes, params, true);
  const researcher = secure.roundMs - secure.nodeMs;
  const plainResearcher = plain.roundMs - plain.nodeMs;
  console.log(
    [
      `${nodes} × ${params.toLocaleString("en-US")}`.padEnd(18),
      `${plainResearcher.toFixed(0)} ms`.padEnd(14),
      `${researcher.toFixed(0)} ms`.padEnd(20),
      `${(researcher / plainResearcher).toFixed(2)}×`.padEnd(8),
      `${secure.nodeMs.toFixed(0)} ms`.padEnd(23),
      mib(plain.peak).padEnd(16),
      mib(secure.peak),
    ].join(""),
  );
}

async function measure(nodes: number, params: number, secure: boolean) {
  const global: NamedTensor[] = [{ name: "w", shape: [params], dtype: "float32", data: new Float32Array(params) }];
  const hub = createHub();
  const stop = new AbortController();
  const timer = { nodeMs: 0 };
  const train = (g: Float32Array) => Float32Array.from(g, (v) => v + (Math.random() - 0.5) * 0.01);
  const participants = Array.from({ length: nodes }, (_, i) =>
    simulatedNode(hub, `node-${i}`, { signal: stop.signal, samples: 100, train, timer }),
  );
  const round = async (n: number) => {
    const common = {
      hub,
      experiment: "bench",
      participants,
      round: n,
      planId: "p",
      planJson: "{}",
      args: {
        epochs: 1,
        updates: 0,
        batchSize: 1,
        testRatio: 0,
        testOnGlobal: false,
        testOnLocal: false,
        metrics: [],
        seed: 0,
        fedproxMu: 0,
      },
      global,
      timeoutMs: 600_000,
    };
    if (secure) {
      await secureRound({ ...common, secagg: secaggSchema.parse({}) });
    } else {
      const running = createRunningMean([params]);
      await runTrainRound({
        ...common,
        fold: (u) => running.add([u.result.params[0].data as Float32Array], u.result.sampleCount),
      });
      running.result();
    }
  };
  await round(1);
  const watcher = await createRssWatcher({ intervalMs: 5 });
  const base = process.memoryUsage.rss();
  watcher.reset();
  timer.nodeMs = 0;
  const started = performance.now();
  for (let r = 0; r < repeats; r++) await round(r + 2);
  const roundMs = (performance.now() - started) / repeats;
  const peak = watcher.peak() - base;
  await watcher.stop();
  stop.abort();
  hub.close();
  return { roundMs, nodeMs: timer.nodeMs / repeats, peak };
}
