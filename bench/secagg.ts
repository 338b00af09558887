/**
 * A secure aggregation round against a plain round on the researcher: 10 nodes × 100k and × 1M
 * parameters, through the real hub and round code (secureRound vs runTrainRound with a running mean).
 * The nodes are simulated in this process with the node's own secagg code (executeSecagg,
 * secaggExtension); their "training" adds noise to the global model. Node work is timed apart: on real
 * nodes it runs in parallel on their machines, here it runs one node after another on this thread.
 * Peak rss (sampled from a worker thread) includes the simulated nodes' buffers.
 * Then end to end with real processes: 10 `fbm-node serve` processes and the researcher CLI, a plain
 * and a secure fedavg run of the same experiment, the mean `round` event seconds (round 1 left out).
 * Run: node --import tsx bench/secagg.ts [--quick] [--repeats N]
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareNodes, runResearcher, startNodes } from "../scripts/lib/federation.js";
import { writeTabularCsv } from "../scripts/lib/synthetic.js";
import type { NamedTensor } from "../src/ml/types.js";
import { createRunningMean } from "../src/researcher/aggregators/running-mean.js";
import { secaggSchema } from "../src/researcher/run/secagg-config.js";
import { secureRound } from "../src/researcher/run/secure-round.js";
import { runTrainRound } from "../src/researcher/run/train-round.js";
import { createHub } from "../src/researcher/server/hub.js";
import { simulatedNode } from "../test/support/simulated-secagg-node.js";
import { bareTrainArgs } from "../test/support/train-task.js";
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

await endToEnd(10, quick ? 3 : 5);

/**
 * Real processes: the plain and the secure round of one experiment (an MLP of ~100k parameters,
 * 1 local epoch of 400 rows) on `nodes` node processes; mean round seconds over rounds 2…`rounds`.
 */
async function endToEnd(nodes: number, rounds: number) {
  const dir = mkdtempSync(join(tmpdir(), "fbm-bench-secagg-"));
  try {
    const homes = await prepareNodes(
      dir,
      Array.from({ length: nodes }, (_, i) => {
        const path = join(dir, `site-${i}.csv`);
        writeTabularCsv(path, { rows: 500, seed: i + 1, features: 8 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "bench", "--target", "label"]],
        };
      }),
      { planApproval: false },
    );
    const processes = await startNodes(homes);
    try {
      const seconds = async (name: string, secagg: boolean) => {
        const file = join(dir, `${name}.yaml`);
        writeFileSync(
          file,
          [
            `name: ${name}`,
            "tags: [bench]",
            `rounds: ${rounds}`,
            `nodes: {min: ${nodes}, wait: 5m, round_timeout: 10m}`,
            "plan:",
            "  data: {target: label, normalize: standard}",
            "  model: [{dense: {units: 300, activation: relu}}, {dense: {units: 300, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
            "  loss: binaryCrossentropy",
            "  optimizer: {name: sgd, learning_rate: 0.05}",
            "training: {epochs: 1, batch_size: 32, test_ratio: 0.2, metrics: [accuracy], seed: 1}",
            ...(secagg ? ["secagg: {clip: 1}"] : []),
          ].join("\n"),
        );
        const run = await runResearcher({ experiment: file, outDir: join(dir, "runs"), gate: processes.gate });
        if (run.code !== 0) throw new Error(`${name} exited ${run.code}: ${run.stderr}`);
        const times = run.events.filter((e) => e.event === "round" && e.round > 1).map((e) => e.seconds as number);
        return times.reduce((a, b) => a + b, 0) / times.length;
      };
      const plain = await seconds("plain", false);
      const secure = await seconds("secure", true);
      console.log(
        `end to end, ${nodes} real node processes × 93,301 parameters, mean of rounds 2–${rounds}: ` +
          `plain ${plain.toFixed(2)} s, secagg ${secure.toFixed(2)} s a round (${(secure / plain).toFixed(2)}×; target ≤ 2×)`,
      );
    } finally {
      await processes.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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
      planJson: JSON.stringify({
        data: { target: "label" },
        model: [{ dense: { units: 1 } }],
        loss: "meanSquaredError",
        optimizer: { name: "sgd", learning_rate: 0.1 },
      }),
      args: bareTrainArgs(),
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
