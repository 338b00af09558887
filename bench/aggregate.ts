/**
 * Aggregation cost on the researcher: fedavg, fedmedian, trimmed_mean and krum (pure functions over
 * Float32Array) for 10 nodes × 1M parameters and 3 nodes × 10M parameters. Each aggregator and size runs
 * in its own process (bench/lib/aggregate-one.ts) so its rss peak is its own. Prints figures only.
 * Run: node --import tsx bench/aggregate.ts [--quick] [--repeats N]
 */
import { fileURLToPath } from "node:url";
import type { AggregateRun } from "./lib/aggregate-one.js";
import { exited, forkTs, nextMessage } from "./lib/child.js";
import { isQuick, numberFlag } from "./lib/flags.js";
import { machineLine, mib } from "./lib/machine.js";

const quick = isQuick();
const sizes = quick
  ? [
      { nodes: 10, params: 100_000 },
      { nodes: 3, params: 1_000_000 },
    ]
  : [
      { nodes: 10, params: 1_000_000 },
      { nodes: 3, params: 10_000_000 },
    ];
const repeats = numberFlag("repeats", quick ? 2 : 3);
const aggregators = ["fedavg", "fedmedian", "trimmed_mean", "krum"];
const helper = fileURLToPath(new URL("./lib/aggregate-one.ts", import.meta.url));

console.log(machineLine("not used (aggregators are plain TypeScript)"));
console.log(
  `aggregate: ${aggregators.join(", ")}; float32 updates of one tensor around a global model; ${repeats} calls each, ` +
    "the first cold; peak rss sampled every 5 ms from a worker thread during the first call, over the rss before it",
);
console.log(
  `${"nodes × params".padEnd(18)}${"aggregator".padEnd(24)}${"first call".padEnd(12)}${"later calls".padEnd(13)}${"M values/s".padEnd(12)}${"inputs".padEnd(12)}${"peak rss over baseline".padEnd(24)}output`,
);
for (const { nodes, params } of sizes) {
  for (const name of aggregators) {
    const child = forkTs(helper, [name, String(nodes), String(params), String(repeats)]);
    const r = await nextMessage<AggregateRun>(child, "result");
    await exited(child);
    console.log(row(nodes, params, r));
  }
}

function row(nodes: number, params: number, r: AggregateRun): string {
  const later = r.ms.slice(1);
  const steady = later.length > 0 ? later.reduce((a, b) => a + b, 0) / later.length : r.ms[0];
  const label =
    r.config.name === "krum"
      ? `krum (f ${r.config.f})`
      : r.config.name === "trimmed_mean"
        ? `trimmed_mean (cuts ${Math.floor(r.config.beta * nodes)}+${Math.floor(r.config.beta * nodes)})`
        : r.config.name;
  return [
    `${nodes} × ${params.toLocaleString("en-US")}`.padEnd(18),
    label.padEnd(24),
    `${r.ms[0].toFixed(0)} ms`.padEnd(12),
    (later.length > 0 ? `${steady.toFixed(0)} ms` : "-").padEnd(13),
    // Values read per second: every update's every parameter, once per call.
    `${((nodes * params) / (steady / 1000) / 1e6).toFixed(0)}`.padEnd(12),
    mib(r.inputBytes).padEnd(12),
    mib(Math.max(0, r.peakRss - r.baselineRss)).padEnd(24),
    mib(r.outputBytes),
  ].join("");
}
