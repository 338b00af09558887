import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEADLINE_MS, type FederationRun, prepareNodes, runFederation } from "../../scripts/lib/federation.js";
import { makeImages, writeIdx, writePngFolder } from "../../scripts/lib/synthetic-images.js";

describe("a CNN trained on two IDX nodes and one PNG-folder node", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-img-"));
  const size = 12;
  let run: FederationRun;

  before(async () => {
    const idxNodes = [0, 1].map((i) => {
      const images = join(dir, `site${i}-images.idx${i === 0 ? ".gz" : ""}`);
      const labels = join(dir, `site${i}-labels.idx${i === 0 ? ".gz" : ""}`);
      writeIdx(images, labels, makeImages({ count: 240, size, seed: 10 + i }), size);
      return {
        name: `idx-${i}`,
        datasets: [["--type", "idx", "--path", images, "--labels", labels, "--tags", "shapes"]],
      };
    });
    const folder = join(dir, "site2-png");
    writePngFolder(folder, makeImages({ count: 150, size, seed: 30 }), size);
    const homes = await prepareNodes(
      dir,
      [...idxNodes, { name: "png-2", datasets: [["--type", "images", "--path", folder, "--tags", "shapes"]] }],
      { planApproval: false },
    );
    const experiment = join(dir, "cnn.yaml");
    writeFileSync(
      experiment,
      [
        "name: shapes-cnn",
        "tags: [shapes]",
        "rounds: 3",
        "nodes: {min: 3, wait: 5m}",
        "plan:",
        `  data: {input: {height: ${size}, width: ${size}, channels: 1}}`,
        "  model:",
        "    - conv2d: {filters: 8, kernelSize: 3, activation: relu, padding: same}",
        "    - maxPooling2d: {poolSize: 2}",
        "    - conv2d: {filters: 8, kernelSize: 3, activation: relu}",
        "    - globalAveragePooling2d: {}",
        "    - dense: {units: 3, activation: softmax}",
        "  loss: sparseCategoricalCrossentropy",
        "  optimizer: {name: adam, learning_rate: 0.02}",
        "training: {epochs: 3, batch_size: 16, test_ratio: 0.25, metrics: [accuracy], seed: 5}",
      ].join("\n"),
    );
    run = await runFederation({
      experiment,
      homes,
      outDir: join(dir, "runs"),
      env: { ...process.env, FBM_BACKEND: "wasm" },
    });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs 3 rounds on all three nodes on the wasm backend", () => {
    assert.equal(run.code, 0, run.researcherStderr + Object.values(run.nodeLogs).join("\n"));
    const rounds = run.events.filter((e) => e.event === "round");
    assert.deepEqual(
      rounds.map((r) => r.nodes.length),
      [3, 3, 3],
    );
    for (const log of Object.values(run.nodeLogs)) assert.match(log, /tfjs backend: wasm/);
  });

  it("reaches accuracy well above chance (1/3) on the held-back test splits", (t) => {
    const done = run.events.at(-1)!;
    t.diagnostic(`final accuracy ${done.metrics.accuracy}`);
    assert.equal(done.event, "done");
    assert.ok(done.metrics.accuracy > 0.7, JSON.stringify(done.metrics));
  });
});
