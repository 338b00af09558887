import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  DEADLINE_MS,
  fbmNode,
  prepareNodes,
  runFederation,
  runResearcher,
  startNodes,
} from "../../scripts/lib/federation.js";
import { writeTabularCsv } from "../../scripts/lib/synthetic.js";
import { sgmEpsilon } from "../../src/privacy/dp/rdp.js";
import { researcherCli } from "../support/cli.js";

const plan = [
  "plan:",
  "  data: {target: label, normalize: standard}",
  "  model: [{dense: {units: 8, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
  "  loss: binaryCrossentropy",
  "  optimizer: {name: sgd, learning_rate: 0.5}",
];

function experiment(dir: string, name: string, lines: string[]): string {
  const path = join(dir, `${name}.yaml`);
  writeFileSync(path, [`name: ${name}`, "tags: [dp]", ...plan, ...lines].join("\n"));
  return path;
}

async function datasetId(home: string): Promise<string> {
  return JSON.parse((await fbmNode("--home", home, "dataset", "list", "--json")).stdout)[0].id;
}

async function privacyOf(home: string, id: string) {
  return JSON.parse((await fbmNode("--home", home, "dataset", "show", id, "--json")).stdout).privacy;
}

describe("differential privacy across real node processes", { timeout: 4 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-dp-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("local DP-SGD on a tabular federation learns, reports ε per node and per round, and the ledgers agree", async (t) => {
    const csvs = [0, 1].map((i) => join(dir, `site-${i}.csv`));
    csvs.forEach((path, i) => {
      writeTabularCsv(path, { rows: 2000, seed: i + 1, features: 4, noise: 0 });
    });
    const homes = await prepareNodes(
      dir,
      csvs.map((path, i) => ({
        name: `site-${i}`,
        datasets: [["--type", "csv", "--path", path, "--tags", "dp", "--target", "label"]],
        config: [["max_epsilon", "8"]],
      })),
      { planApproval: false },
    );
    const file = experiment(dir, "dp-local", [
      "rounds: 3",
      "nodes: {min: 2, wait: 5m}",
      // The nodes have a budget: they validate nothing (validation_refused), so no test_on.
      "training: {epochs: 2, batch_size: 64, test_ratio: 0.25, test_on: [], metrics: [accuracy], seed: 3}",
      "dp: {mode: local, noise_multiplier: 1.1, max_grad_norm: 1.0, delta: 1e-5}",
    ]);
    const run = await runFederation({ experiment: file, homes, outDir: join(dir, "runs") });
    assert.equal(run.code, 0, run.researcherStderr);
    const rounds = run.events.filter((e) => e.event === "round");
    assert.equal(rounds.length, 3);
    // q = 64 / 1500 training rows, 2 epochs of 24 steps a round, on each node.
    const expected = (r: number) => sgmEpsilon({ q: 64 / 1500, noiseMultiplier: 1.1, steps: 48 * r, delta: 1e-5 });
    for (const [i, r] of rounds.entries()) {
      const own = r.nodes.map((n: { privacy: { epsilon: number } }) => n.privacy.epsilon);
      assert.equal(r.privacy.epsilon, Math.max(...own));
      assert.equal(r.privacy.delta, 1e-5);
      assert.ok(Math.abs(r.privacy.epsilon - expected(i + 1)) < 1e-9, `round ${i + 1}: ε ${r.privacy.epsilon}`);
      // The nodes withhold what they compute on raw rows: the training loss and the trained model's metrics.
      assert.equal(r.loss, undefined);
      assert.ok(
        r.nodes.every((n: { loss?: number; local?: unknown }) => n.loss === undefined && n.local === undefined),
      );
    }
    const done = run.events.at(-1)!;
    assert.equal(done.event, "done");
    assert.deepEqual(done.privacy, { mode: "local", epsilon: rounds[2].privacy.epsilon, delta: 1e-5 });
    // The final evaluation is refused by both budgeted nodes: the run completes and says why.
    assert.deepEqual(done.metrics, {});
    assert.deepEqual(
      done.metrics_withheld.map((f: { code: string }) => f.code),
      ["validation_refused", "validation_refused"],
    );
    // The researcher scores the exported model on data of its own (drawn as the sites' rows are).
    const own = join(dir, "researcher-own.csv");
    writeTabularCsv(own, { rows: 500, seed: 7, features: 4, noise: 0 });
    const scored = await researcherCli("evaluate", "--model", done.model, "--data", own, "--json");
    assert.equal(scored.code, 0, scored.stderr);
    const { accuracy } = JSON.parse(scored.stdout).metrics;
    t.diagnostic(`accuracy ${accuracy} at ε ${done.privacy.epsilon} (δ 1e-5)`);
    assert.ok(done.privacy.epsilon <= 8);
    assert.ok(accuracy > 0.85, scored.stdout);
    for (const home of homes) {
      const privacy = await privacyOf(home, await datasetId(home));
      assert.ok(Math.abs(privacy.spent - done.privacy.epsilon) < 1e-9, JSON.stringify(privacy));
      assert.equal(privacy.budget, 8);
      assert.ok(Math.abs(privacy.left - (8 - privacy.spent)) < 1e-9);
    }
  });

  it("central DP: the researcher accounts per round with q = nodes sampled / connected, one step a round", async () => {
    const csvs = [0, 1].map((i) => join(dir, `central-${i}.csv`));
    csvs.forEach((path, i) => {
      writeTabularCsv(path, { rows: 300, seed: 10 + i, features: 4, noise: 0 });
    });
    const homes = await prepareNodes(
      dir,
      csvs.map((path, i) => ({
        name: `central-${i}`,
        datasets: [["--type", "csv", "--path", path, "--tags", "dp", "--target", "label"]],
      })),
      { planApproval: false },
    );
    const file = experiment(dir, "dp-central", [
      "rounds: 2",
      "nodes: {min: 2, wait: 5m}",
      "training: {epochs: 1, batch_size: 32, test_ratio: 0.25, seed: 2}",
      "dp: {mode: central, noise_multiplier: 1.0, clip_norm: 0.5, delta: 1e-5}",
    ]);
    const run = await runFederation({ experiment: file, homes, outDir: join(dir, "runs") });
    assert.equal(run.code, 0, run.researcherStderr);
    const rounds = run.events.filter((e) => e.event === "round");
    for (const [i, r] of rounds.entries()) {
      const expected = sgmEpsilon({ q: 1, noiseMultiplier: 1, steps: i + 1, delta: 1e-5 });
      assert.equal(r.privacy.sample_rate, 1);
      assert.ok(Math.abs(r.privacy.epsilon - expected) < 1e-9, `round ${i + 1}: ε ${r.privacy.epsilon}`);
      assert.ok(r.nodes.every((n: { privacy?: unknown }) => n.privacy === undefined));
      assert.ok(r.loss === undefined && r.nodes.every((n: { loss?: number }) => n.loss === undefined));
    }
    const done = run.events.at(-1)!;
    assert.deepEqual(done.privacy, { mode: "central", epsilon: rounds[1].privacy.epsilon, delta: 1e-5 });
  });

  it("a node refuses the round that would pass its dataset's budget, and still after a restart", async () => {
    const csv = join(dir, "budget.csv");
    writeTabularCsv(csv, { rows: 400, seed: 5, features: 4, noise: 0 });
    const [home] = await prepareNodes(
      dir,
      [{ name: "budgeted", datasets: [["--type", "csv", "--path", csv, "--tags", "dp", "--target", "label"]] }],
      { planApproval: false },
    );
    const id = await datasetId(home);
    // 300 training rows, batch 30: q 0.1, 10 steps a round. The budget fits two rounds, not three.
    const after = (rounds: number) => sgmEpsilon({ q: 0.1, noiseMultiplier: 1, steps: 10 * rounds, delta: 1e-5 });
    const budget = (after(2) + after(3)) / 2;
    await fbmNode("--home", home, "dataset", "set", id, "max_epsilon", budget.toFixed(6));
    const training = "training: {epochs: 1, batch_size: 30, test_ratio: 0.25, test_on: [], seed: 1}";
    const dp = "dp: {mode: local, noise_multiplier: 1.0, max_grad_norm: 1.0, delta: 1e-5}";

    let nodes = await startNodes([home]);
    try {
      const first = await runResearcher({
        experiment: experiment(dir, "dp-budget", ["rounds: 3", "nodes: {min: 1, wait: 5m}", training, dp]),
        outDir: join(dir, "runs"),
        gate: nodes.gate,
      });
      assert.equal(first.code, 1, first.stderr);
      assert.deepEqual(
        first.events.filter((e) => e.event === "round").map((e) => e.round),
        [1, 2],
      );
      const refusal = first.events.find((e) => e.event === "error" && e.code === "privacy_budget");
      assert.ok(refusal, JSON.stringify(first.events));
      assert.match(refusal.message, /Round 3 would bring dataset .* past its budget of .*: ε \d+\.\d+ is left/);
    } finally {
      await nodes.stop();
    }
    const spent = await privacyOf(home, id);
    assert.ok(Math.abs(spent.spent - after(2)) < 1e-9, JSON.stringify(spent));
    assert.ok(Math.abs(spent.left - (Number(budget.toFixed(6)) - after(2))) < 1e-9);

    // A new node process reads the same ledger: a new experiment's first round is refused too, and
    // training without DP on a dataset with a budget is refused outright.
    nodes = await startNodes([home]);
    try {
      const again = await runResearcher({
        experiment: experiment(dir, "dp-budget-again", ["rounds: 1", "nodes: {min: 1, wait: 5m}", training, dp]),
        outDir: join(dir, "runs"),
        gate: nodes.gate,
      });
      assert.equal(again.code, 1, again.stderr);
      assert.ok(again.events.some((e) => e.event === "error" && e.code === "privacy_budget"));
      const plain = await runResearcher({
        experiment: experiment(dir, "no-dp", ["rounds: 1", "nodes: {min: 1, wait: 5m}", training]),
        outDir: join(dir, "runs"),
        gate: nodes.gate,
      });
      assert.equal(plain.code, 1, plain.stderr);
      const refused = plain.events.find((e) => e.event === "error" && e.code === "privacy_budget");
      assert.match(refused?.message ?? "", /trains on it only with local differential privacy/);
    } finally {
      await nodes.stop();
    }
    assert.ok(Math.abs((await privacyOf(home, id)).spent - after(2)) < 1e-9);
  });
});
