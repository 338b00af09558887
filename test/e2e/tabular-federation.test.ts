import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  type FederationRun,
  fbmResearcher,
  prepareNodes,
  runFederation,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { readSafetensors } from "../support/safetensors-reader.js";

/** Every file below `dir`, recursively. */
function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

describe("a researcher and two node processes over HTTP/2 (port 0)", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-"));
  const csvs = [join(dir, "site-one-private.csv"), join(dir, "site-two-private.csv")];
  const trace = join(dir, "trace.jsonl");
  let run: FederationRun;

  before(async () => {
    csvs.forEach((path, i) => {
      writeTabularCsv(path, { rows: 400, seed: i + 1, features: 4, noise: 0 });
    });
    const homes = await prepareNodes(
      dir,
      csvs.map((path, i) => ({
        name: `node-${i}`,
        datasets: [["--type", "csv", "--path", path, "--tags", "e2e,tabular", "--target", "label"]],
      })),
      { planApproval: false },
    );
    const experiment = join(dir, "experiment.yaml");
    writeFileSync(
      experiment,
      [
        "name: separable",
        "tags: [e2e]",
        "rounds: 3",
        "nodes: {min: 2, wait: 5m}",
        "plan:",
        "  data: {target: label, normalize: standard}",
        "  model: [{dense: {units: 8, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
        "  loss: binaryCrossentropy",
        "  optimizer: {name: adam, learning_rate: 0.05}",
        "training: {epochs: 3, batch_size: 16, test_ratio: 0.25, metrics: [accuracy, auc], seed: 3}",
      ].join("\n"),
    );
    run = await runFederation({ experiment, homes, outDir: join(dir, "runs"), researcherArgs: ["--trace", trace] });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs 3 rounds of FedAvg and exits 0", () => {
    assert.equal(run.code, 0, run.researcherStderr);
    const rounds = run.events.filter((e) => e.event === "round");
    assert.deepEqual(
      rounds.map((e) => e.round),
      [1, 2, 3],
    );
    for (const r of rounds) {
      assert.equal(r.nodes.length, 2);
      assert.equal(
        r.nodes.reduce((s: number, n: { samples: number }) => s + n.samples, 0),
        600,
      );
      // Each node reports where its round went; the phases fit inside its whole round.
      for (const n of r.nodes as { seconds: number; phases: Record<string, number> }[]) {
        assert.ok(n.phases.steps > 0, JSON.stringify(n));
        const total = Object.values(n.phases).reduce((a, b) => a + b, 0);
        assert.ok(total <= n.seconds + 1e-6, JSON.stringify(n));
      }
    }
  });

  it("prints JSON Lines events in order: listening, nodes, rounds, done", () => {
    const kinds = run.events.map((e) => e.event);
    assert.equal(kinds[0], "listening");
    assert.equal(kinds.at(-1), "done");
    assert.equal(kinds.filter((k) => k === "node").length >= 2, true);
  });

  it("prints each node's training progress (node, step, loss) before its round", () => {
    const progress = run.events.filter((e) => e.event === "progress");
    for (const round of [1, 2, 3]) {
      const seen = progress.filter((e) => e.round === round);
      assert.deepEqual([...new Set(seen.map((e) => e.name))].sort(), ["node-0", "node-1"]);
      for (const e of seen)
        assert.ok(e.step > 0 && e.step <= e.total_steps && Number.isFinite(e.loss), JSON.stringify(e));
      const roundAt = run.events.findIndex((e) => e.event === "round" && e.round === round);
      assert.ok(run.events.indexOf(seen[seen.length - 1]) < roundAt);
    }
  });

  it("pools validation metrics from counts and states the AUC bound", () => {
    for (const r of run.events.filter((e) => e.event === "round")) {
      assert.ok(r.auc_error.global >= 0 && r.auc_error.global < 0.2, JSON.stringify(r.auc_error));
      for (const n of r.nodes)
        assert.ok(n.global.accuracy >= 0 && n.global.auc <= 1, "per-node figures stay in the event");
    }
  });

  it("leaves TensorBoard event files, experiment.json and done.json in the run folder, and reports on it", async () => {
    const folder = run.events.at(-1)!.run as string;
    const logs = files(join(folder, "tensorboard")).map((f) => f.slice(folder.length + 1));
    assert.deepEqual(logs.map((f) => f.split("/")[1]).sort(), ["node-0", "node-1", "pooled"]);
    assert.ok(logs.every((f) => /events\.out\.tfevents\.\d+\.fbm$/.test(f)));
    assert.equal(JSON.parse(readFileSync(join(folder, "experiment.json"), "utf8")).name, "separable");
    assert.equal(JSON.parse(readFileSync(join(folder, "done.json"), "utf8")).event, "done");
    const report = join(dir, "report.html");
    await fbmResearcher("report", folder, "--out", report);
    const html = readFileSync(report, "utf8");
    for (const metric of ["loss", "global/accuracy", "global/auc", "local/accuracy"]) {
      assert.ok(html.includes(`data-metric="${metric}"`), metric);
    }
  });

  it("reaches accuracy above 0.9 on separable data", (t) => {
    const done = run.events.at(-1)!;
    t.diagnostic(`final accuracy ${done.metrics.accuracy}`);
    assert.ok(done.metrics.accuracy > 0.9, JSON.stringify(done.metrics));
    const last = run.events.filter((e) => e.event === "round").at(-1)!;
    assert.ok(last.metrics.local.accuracy > 0.9, JSON.stringify(last.metrics));
  });

  it("exports a model that `fbm-researcher evaluate` scores and `predict` applies on a local file", async () => {
    const done = run.events.at(-1)!;
    const heldOut = join(dir, "held-out.csv");
    writeTabularCsv(heldOut, { rows: 200, seed: 99, features: 4, noise: 0 });
    const { stdout } = await fbmResearcher("evaluate", "--model", done.model, "--data", heldOut, "--json");
    const result = JSON.parse(stdout);
    assert.equal(result.samples, 200);
    assert.ok(result.metrics.accuracy > 0.9, stdout);
    const predicted = JSON.parse(
      (await fbmResearcher("predict", "--model", done.model, "--data", heldOut, "--json")).stdout,
    );
    assert.equal(predicted.outputs, 1);
    assert.equal(predicted.predictions.length, 200);
    assert.ok(predicted.predictions.every((p: number) => p >= 0 && p <= 1));
  });

  it("exports model.safetensors holding exactly the tfjs model's weights", () => {
    const model = run.events.at(-1)!.model as string;
    const manifest = JSON.parse(readFileSync(join(model, "model.json"), "utf8")).weightsManifest[0];
    const weights = readFileSync(join(model, manifest.paths[0]));
    const safetensors = readSafetensors(readFileSync(join(model, "model.safetensors")));
    const names = Object.keys(safetensors.tensors);
    assert.equal(names.length, manifest.weights.length);
    let offset = 0;
    manifest.weights.forEach((w: { name: string; shape: number[] }, i: number) => {
      const n = w.shape.reduce((a, b) => a * b, 1);
      const tfjs = Array.from({ length: n }, (_, k) => weights.readFloatLE(offset + 4 * k));
      offset += 4 * n;
      assert.deepEqual(safetensors.tensors[names[i]].shape, w.shape, w.name);
      assert.deepEqual(safetensors.tensors[names[i]].values, tfjs, w.name);
    });
  });

  it("never lets a dataset path reach the researcher or its files", () => {
    const received = readFileSync(trace, "utf8");
    assert.ok(received.includes('"rpc":"ReplyTask"'), "the trace recorded the nodes' replies");
    const written = files(join(dir, "runs")).map((f) => readFileSync(f).toString("latin1"));
    const seen = [received, JSON.stringify(run.events), run.researcherStderr, ...written];
    for (const path of csvs) {
      for (const needle of [path, "private.csv"]) {
        assert.ok(!seen.some((text) => text.includes(needle)), `found "${needle}" in researcher data`);
      }
    }
  });
});
