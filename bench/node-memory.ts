/**
 * Issue 3: a node with 60,000 28×28 images trains within bounded memory. Writes synthetic MNIST-format
 * files (plain and gzip) to a temp dir, then for each runs one node-side process (bench/lib/idx-train.ts)
 * that loads them with `loadIdx` and trains a small CNN with `trainLocal` on the wasm backend, sampling
 * `process.memoryUsage()` every 50 ms. Prints figures; asserts nothing.
 * Run: node --import tsx bench/node-memory.ts [--quick] [--images N] [--updates N | --epoch]
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { makeImages, writeIdx } from "../scripts/lib/synthetic-images.js";
import { selectBackend } from "../src/ml/backend.js";
import { exited, forkTs, nextMessage } from "./lib/child.js";
import { hasFlag, isQuick, numberFlag } from "./lib/flags.js";
import type { IdxTrainResult } from "./lib/idx-train.js";
import { formatPeaks, machineLine, mib, seconds } from "./lib/machine.js";

const size = 28;
const quick = isQuick();
const count = numberFlag("images", quick ? 10_000 : 60_000);
// A full epoch of 60,000 images is ~1,700 batches (~1.5 min at 50 ms a step on 2 cores): a fixed
// number of updates keeps the run short while the whole dataset stays loaded, which is what memory is about.
const updates = hasFlag("epoch") ? 0 : numberFlag("updates", quick ? 40 : 300);
const helper = fileURLToPath(new URL("./lib/idx-train.ts", import.meta.url));

let backend = "";
await selectBackend({ prefer: "wasm", log: (line) => (backend = line.replace(/^tfjs backend: /, "")) });
console.log(machineLine(backend));
console.log(
  `node-memory: ${count.toLocaleString("en-US")} synthetic ${size}×${size} grayscale images (4 classes); ` +
    `CNN conv2d 8 3x3 relu → maxPooling2d → conv2d 16 3x3 relu → maxPooling2d → flatten → dense 10 softmax; ` +
    `sparseCategoricalCrossentropy, adam 0.001, batch 32, ${updates > 0 ? `${updates} updates` : "one epoch"}, test split 10% (validated after training)`,
);

const dir = mkdtempSync(path.join(os.tmpdir(), "fbm-bench-idx-"));
try {
  let started = performance.now();
  const data = makeImages({ count, size, classes: 4, seed: 1 });
  const files = {
    plain: [path.join(dir, "images-idx3-ubyte"), path.join(dir, "labels-idx1-ubyte")],
    gzip: [path.join(dir, "images-idx3-ubyte.gz"), path.join(dir, "labels-idx1-ubyte.gz")],
  };
  writeIdx(files.plain[0], files.plain[1], data, size);
  writeIdx(files.gzip[0], files.gzip[1], data, size);
  console.log(`generated and wrote both pairs in ${seconds(performance.now() - started, 1)}`);

  const float32Bytes = count * size * size * 4;
  const runs: [string, string[], string][] = [
    ["in-memory", files.plain, "memory"],
    ["streamed", files.plain, "stream"],
    ["gzip", files.gzip, "memory"],
  ];
  for (const [format, [images, labels], mode] of runs) {
    started = performance.now();
    const child = forkTs(helper, [images, labels, String(updates), mode]);
    const r = await nextMessage<IdxTrainResult>(child, "result");
    await exited(child);
    report(format, r, float32Bytes, performance.now() - started);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

function report(format: string, r: IdxTrainResult, float32Bytes: number, wallMs: number): void {
  const tag = `[${format}]`.padEnd(8);
  console.log(
    `${tag}files ${mib(r.fileBytes)} on disk; load ${seconds(r.loadMs)}; dataset in memory ${mib(r.datasetBytes)} ` +
      `(x as bytes, xScale 1/255, + y float32); a float32 copy of x would be ${mib(float32Bytes)}`,
  );
  console.log(
    `${tag}${r.steps} steps at ${r.stepsPerSecond.toFixed(1)} steps/s (${(1000 / r.stepsPerSecond).toFixed(1)} ms/step); ` +
      `trainLocal ${r.trainSeconds.toFixed(1)} s; train loss ${r.trainLoss.toFixed(3)}; test accuracy ${r.accuracy.toFixed(3)}; process ${seconds(wallMs, 1)}`,
  );
  console.log(`${tag}baseline (backend ready)  ${formatPeaks(r.baseline)}`);
  console.log(`${tag}after load               ${formatPeaks(r.afterLoad)}`);
  console.log(`${tag}peak during load         ${formatPeaks(r.peakLoad)}`);
  console.log(`${tag}peak load + training     ${formatPeaks(r.peak)}`);
  console.log(`${tag}after training + full GC ${formatPeaks(r.retained)}`);
  const growth = r.peak.rss - r.baseline.rss;
  console.log(
    `${tag}peak rss ${mib(r.peak.rss)} = baseline + ${mib(growth)}, the dataset's ${mib(r.datasetBytes)} included`,
  );
}
