import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, prepareNodes, runFederation } from "../../../scripts/lib/federation.js";
import { writeSkewedCsv } from "../../../scripts/lib/synthetic.js";

/**
 * Issue 24, finding 5: under secure aggregation each node's training loss and validation metrics used to
 * travel in the clear beside its masked update, telling the researcher per hospital what the masking
 * hides. The researcher here reads everything it holds — its events and a full `--trace` of every reply —
 * and must find no node's own loss, metrics, counts or progress, while the round still shows the pooled
 * figures.
 */
describe("secure aggregation hides each node's loss and metrics, three real node processes", {
  timeout: 2 * DEADLINE_MS,
}, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-attack-metrics-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("no per-node loss, metrics or counts in the events or the trace; the pooled ones in the round event", async () => {
    const homes = await prepareNodes(
      dir,
      [0, 1, 2].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        writeSkewedCsv(path, { rows: 160, seed: 90 + i, positiveShare: [0.2, 0.5, 0.8][i], features: 4 });
        return { name: `site-${i}`, datasets: [["--type", "csv", "--path", path, "--tags", "m", "--target", "label"]] };
      }),
      { planApproval: false },
    );
    const file = join(dir, "metrics.yaml");
    writeFileSync(
      file,
      [
        "name: metrics",
        "tags: [m]",
        "rounds: 2",
        "nodes: {min: 3, wait: 5m}",
        "plan:",
        "  data: {target: label, normalize: standard}",
        "  model: [{dense: {units: 4, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
        "  loss: binaryCrossentropy",
        "  optimizer: {name: sgd, learning_rate: 0.1}",
        "training: {epochs: 2, batch_size: 8, test_ratio: 0.25, metrics: [accuracy, f1], seed: 2}",
        "secagg: {clip: 2}",
      ].join("\n"),
    );
    const trace = join(dir, "trace.jsonl");
    const run = await runFederation({
      experiment: file,
      homes,
      outDir: join(dir, "runs"),
      researcherArgs: ["--trace", trace],
    });
    assert.equal(run.code, 0, run.researcherStderr);

    const rounds = run.events.filter((e) => e.event === "round");
    assert.equal(rounds.length, 2);
    for (const r of rounds) {
      assert.ok(r.loss > 0 && Number.isFinite(r.loss), `pooled loss ${r.loss}`);
      assert.deepEqual(Object.keys(r.metrics.global), ["accuracy", "f1"]);
      assert.deepEqual(Object.keys(r.metrics.local), ["accuracy", "f1"]);
      for (const n of r.nodes) assert.deepEqual(Object.keys(n).sort(), ["name", "node", "samples", "seconds"]);
    }
    assert.equal(run.events.filter((e) => e.event === "progress").length, 0, "progress events carry a node's loss");

    // Every masked train reply in the trace: no loss, no metrics, no sample count of the node's own.
    const replies = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l))
      .filter((l) => l.value?.body?.kind === "train" && l.value.body.result.params[0]?.dtype === "int32");
    assert.equal(replies.length, 6);
    for (const { value } of replies) {
      const { result } = value.body;
      assert.equal(result.trainLoss, 0, `${value.nodeId} sent its training loss ${result.trainLoss}`);
      assert.equal(result.sampleCount, 0);
      assert.equal(result.globalMetrics, undefined, `${value.nodeId} sent ${JSON.stringify(result.globalMetrics)}`);
      assert.equal(result.localMetrics, undefined);
    }
  });
});
