import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { DEADLINE_MS, fbmNode, prepareNodes, runFederation } from "../../scripts/lib/federation.js";
import { createRng } from "../../src/ml/rng.js";
import { sgmEpsilon } from "../../src/privacy/dp/rdp.js";
import { researcherCli } from "../support/cli.js";

/**
 * A table shaped like the Wisconsin breast cancer data (569 rows, 30 measurements on different scales,
 * 37% malignant): a latent severity apart by class, and each measurement a noisy view of it, some
 * barely informative, so a linear model reaches about 97% as on the real data.
 */
function writeBreastCancerLike(path: string, options: { rows: number; seed: number }): void {
  const rng = createRng(options.seed);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  const features = 30;
  const loading = Array.from({ length: features }, (_, j) => 0.15 + ((j * 7) % 10) / 12);
  const scale = Array.from({ length: features }, (_, j) => [1, 10, 100, 0.1, 1000, 0.01][j % 6]);
  const header = [...Array.from({ length: features }, (_, j) => `m${j + 1}`), "label"];
  const lines = [header.join(",")];
  for (let r = 0; r < options.rows; r++) {
    const malignant = rng.next() < 0.37 ? 1 : 0;
    const severity = malignant ? 2 + 0.8 * gauss() : -1.5 + 0.8 * gauss();
    const x = loading.map((a, j) => (scale[j] * (3 + a * severity + 0.6 * gauss())).toFixed(5));
    lines.push([...x, malignant].join(","));
  }
  writeFileSync(path, `${lines.join("\n")}\n`);
}

/** `dataset show`'s privacy figures of a node's one dataset (its ledger). */
async function ledgerOf(home: string): Promise<{ rounds: number; spent: number }> {
  const [dataset] = JSON.parse((await fbmNode("--home", home, "dataset", "list", "--json")).stdout);
  return JSON.parse((await fbmNode("--home", home, "dataset", "show", dataset.id, "--json")).stdout).privacy;
}

const SIGMA = 1.5;
const ROUNDS = 5;
const DELTA = 1e-5;

describe("distributed DP under secure aggregation, three real node processes", { timeout: 4 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-distributed-dp-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("each node adds its noise share; the model learns; round.privacy, done.privacy and every ledger give the accountant's ε", async (t) => {
    const homes = await prepareNodes(
      dir,
      [0, 1, 2].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        writeBreastCancerLike(path, { rows: 190, seed: 40 + i });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "breast", "--target", "label"]],
          // A budget: before distributed DP these nodes refused every round that was not local DP-SGD.
          config: [["max_epsilon", "10"]],
        };
      }),
      { planApproval: false },
    );
    const file = join(dir, "distributed.yaml");
    writeFileSync(
      file,
      [
        "name: distributed",
        "tags: [breast]",
        `rounds: ${ROUNDS}`,
        "nodes: {min: 3, wait: 5m}",
        "plan:",
        "  data: {target: label, normalize: standard}",
        "  model: [{dense: {units: 1, activation: sigmoid}}]",
        "  loss: binaryCrossentropy",
        "  optimizer: {name: sgd, learning_rate: 0.5}",
        // Budgeted datasets validate nothing (validation_refused): the researcher scores the model itself.
        "training: {epochs: 3, batch_size: 16, test_ratio: 0.3, test_on: [], metrics: [accuracy], seed: 5}",
        `dp: {mode: central, noise_multiplier: ${SIGMA}, clip_norm: 1, delta: ${DELTA}}`,
        // t = 3 of 3: each share σ·C/√3 (the default t = 2 of 3 would add 50% more noise, for a dropout).
        `secagg: {clip: ${1 + 4 * SIGMA}, threshold: 3}`,
      ].join("\n"),
    );
    const run = await runFederation({ experiment: file, homes, outDir: join(dir, "runs") });
    assert.equal(run.code, 0, run.researcherStderr);

    const rounds = run.events.filter((e) => e.event === "round");
    assert.equal(rounds.length, ROUNDS);
    // The sum carries noise σ·C at least (t = 3 survivors guaranteed, each share σ·C/√3): the
    // Gaussian mechanism once a round, q = 1 (the researcher picks the nodes: no amplification).
    const expected = (r: number) => sgmEpsilon({ q: 1, noiseMultiplier: SIGMA, steps: r, delta: DELTA });
    for (const [i, r] of rounds.entries()) {
      assert.ok(Math.abs(r.privacy.epsilon - expected(i + 1)) < 1e-9, `round ${i + 1}: ε ${r.privacy.epsilon}`);
      assert.equal(r.privacy.sample_rate, 1);
      // Under dp no loss is released (the nodes put zeros in its masked place); nothing per node.
      assert.equal(r.loss, undefined);
      for (const n of r.nodes) {
        assert.equal(n.loss, undefined);
        assert.equal(n.global, undefined);
        assert.equal(n.samples, 0);
      }
    }
    const done = run.events.at(-1)!;
    assert.equal(done.event, "done");
    assert.deepEqual(done.privacy, { mode: "central", epsilon: rounds.at(-1)!.privacy.epsilon, delta: DELTA });
    assert.deepEqual(done.metrics, {});
    // The researcher scores the exported model on held-out rows of its own, drawn as the sites' are.
    const own = join(dir, "researcher-own.csv");
    writeBreastCancerLike(own, { rows: 400, seed: 99 });
    const scored = await researcherCli("evaluate", "--model", done.model, "--data", own, "--json");
    assert.equal(scored.code, 0, scored.stderr);
    const { accuracy } = JSON.parse(scored.stdout).metrics;
    t.diagnostic(`held-out accuracy ${accuracy} at ε ${done.privacy.epsilon.toFixed(3)} (δ ${DELTA})`);
    assert.ok(accuracy >= 0.9, scored.stdout);

    // Each node charged its own ledger with the same mechanism, from its own arguments.
    for (const home of homes) {
      const privacy = await ledgerOf(home);
      assert.equal(privacy.rounds, ROUNDS);
      assert.ok(Math.abs(privacy.spent - expected(ROUNDS)) < 1e-9, JSON.stringify(privacy));
    }

    // The noise is there: one round run twice over the same three nodes (the same inputs and peers, which
    // the nodes allow) gives two models apart by two independent draws of the sum's noise over 3 nodes,
    // std σ·C/3 each, where training alone gives bit-identical models.
    const once = (name: string) => {
      const path = join(dir, `${name}.yaml`);
      writeFileSync(
        path,
        readFileSync(file, "utf8")
          .replace("name: distributed", `name: ${name}`)
          .replace(`rounds: ${ROUNDS}`, "rounds: 1"),
      );
      return runFederation({ experiment: path, homes, outDir: join(dir, "runs") });
    };
    for (const name of ["once-a", "once-b"]) assert.equal((await once(name)).code, 0);
    const [a, b] = ["once-a", "once-b"].map((name) => {
      const bytes = readFileSync(join(dir, "runs", name, "model", "weights.bin"));
      return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    });
    const diff = Array.from(a, (v, i) => v - b[i]);
    const std = Math.sqrt(diff.reduce((s, d) => s + d * d, 0) / diff.length);
    const expectedStd = (Math.SQRT2 * SIGMA) / 3;
    t.diagnostic(
      `two runs of one round differ by std ${std.toFixed(3)} per weight (noise alone: ${expectedStd.toFixed(3)})`,
    );
    assert.ok(std > 0.6 * expectedStd && std < 1.5 * expectedStd, `std ${std} vs ${expectedStd}`);

    // The nodes check the masking the researcher chose: 4 bits would round their noise away. Refused
    // before anything is charged.
    const coarse = join(dir, "coarse.yaml");
    writeFileSync(
      coarse,
      readFileSync(file, "utf8")
        .replace("name: distributed", "name: coarse")
        .replace("threshold: 3}", "threshold: 3, bits: 4}"),
    );
    const refused = await runFederation({ experiment: coarse, homes, outDir: join(dir, "runs") });
    assert.equal(refused.code, 1, refused.researcherStderr);
    const error = refused.events.find((e) => e.event === "error" && e.code === "invalid_input");
    assert.match(
      error?.message ?? refused.researcherStderr,
      /4 bits quantize this node's DP noise .*: use more secagg\.bits/,
    );
    const spent = await Promise.all(homes.map(async (home) => (await ledgerOf(home)).rounds));
    assert.deepEqual(spent, [ROUNDS + 2, ROUNDS + 2, ROUNDS + 2]);
  });
  it("local DP-SGD under secure aggregation: each node's own ε in its entry, the round's the largest", async () => {
    const homes = await prepareNodes(
      join(dir, "local"),
      [0, 1, 2].map((i) => {
        const path = join(dir, `local-${i}.csv`);
        writeBreastCancerLike(path, { rows: 200, seed: 60 + i });
        return {
          name: `local-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "breast", "--target", "label"]],
          config: [["max_epsilon", "10"]],
        };
      }),
      { planApproval: false },
    );
    const file = join(dir, "local.yaml");
    writeFileSync(
      file,
      [
        "name: local",
        "tags: [breast]",
        "rounds: 1",
        "nodes: {min: 3, wait: 5m}",
        "plan:",
        "  data: {target: label, normalize: standard}",
        "  model: [{dense: {units: 1, activation: sigmoid}}]",
        "  loss: binaryCrossentropy",
        "  optimizer: {name: sgd, learning_rate: 0.5}",
        "training: {epochs: 1, batch_size: 20, test_ratio: 0.3, test_on: [], metrics: [accuracy], seed: 5}",
        `dp: {mode: local, noise_multiplier: 1.1, max_grad_norm: 1, delta: ${DELTA}}`,
        "secagg: {}",
      ].join("\n"),
    );
    const run = await runFederation({ experiment: file, homes, outDir: join(dir, "runs") });
    assert.equal(run.code, 0, run.researcherStderr);
    const [round] = run.events.filter((e) => e.event === "round");
    // 140 training rows, batch 20: q = 1/7, 7 steps, on each node.
    const expected = sgmEpsilon({ q: 20 / 140, noiseMultiplier: 1.1, steps: 7, delta: DELTA });
    for (const n of round.nodes) {
      assert.ok(Math.abs(n.privacy.epsilon - expected) < 1e-9, JSON.stringify(n));
      assert.equal(n.loss, undefined);
    }
    assert.ok(Math.abs(round.privacy.epsilon - expected) < 1e-9);
  });
});
