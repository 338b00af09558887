import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  type NodeProcesses,
  nodeIdOf,
  prepareNodes,
  runResearcher,
  startNodes,
} from "../../../scripts/lib/federation.js";
import { writeSkewedCsv } from "../../../scripts/lib/synthetic.js";
import { buildModel, getParams } from "../../../src/ml/model.js";
import { parsePlan } from "../../../src/ml/plan.js";
import { quantizationBound } from "../../../src/privacy/secagg/fixed-point.js";

const CLIP = 4;
const SEED = 11;
const PLAN = {
  data: { target: "label", normalize: "none" },
  model: [{ dense: { units: 16, activation: "relu" } }, { dense: { units: 1, activation: "sigmoid" } }],
  loss: "binaryCrossentropy",
  optimizer: { name: "sgd", learning_rate: 0.1 } as { name: string; learning_rate: number; momentum?: number },
};

/**
 * One round of fedavg under secure aggregation over the datasets tagged `tags`, everything else fixed;
 * `optimizer` replaces the plan's (a change that trains the same, e.g. momentum 0 beside sgd).
 */
function experiment(name: string, tags: string, min: number, optimizer = PLAN.optimizer) {
  return [
    `name: ${name}`,
    `tags: [${tags}]`,
    "rounds: 1",
    `nodes: {min: ${min}, wait: 5m, round_timeout: 5m}`,
    `plan: ${JSON.stringify({ ...PLAN, optimizer })}`,
    `training: {epochs: 2, batch_size: 8, test_ratio: 0.25, metrics: [accuracy], seed: ${SEED}}`,
    "aggregator: {name: fedavg}",
    `secagg: {clip: ${CLIP}}`,
  ].join("\n");
}

const weightsOf = (runDir: string) => {
  const bytes = readFileSync(join(runDir, "model", "weights.bin"));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
};

/**
 * The attack of issue 24, finding 2: a malicious researcher runs the same round (same initial model,
 * plan, arguments and seed) over {A, B, C, D}, then over {A, B, C} (D's dataset lacks the second tag),
 * and subtracts. Local training is deterministic and every site has 150 training rows, so
 * Δ_D = 4·(w₁ − g) − 3·(w₂ − g), to fixed-point precision. The nodes must make the second sum unusable.
 */
describe("secure aggregation differencing attack, four real node processes", { timeout: 4 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-attack-differencing-"));
  const updatesDir = join(dir, "updates");
  let nodes: NodeProcesses;
  let homes: string[];

  before(async () => {
    mkdirSync(updatesDir);
    homes = await prepareNodes(
      dir,
      ["a", "b", "c", "d"].map((site, i) => {
        const path = join(dir, `${site}.csv`);
        writeSkewedCsv(path, { rows: 200, seed: 70 + i, positiveShare: [0.3, 0.6, 0.5, 0.8][i], features: 4 });
        const tags = site === "d" ? "cohort" : "cohort,second";
        return { name: site, datasets: [["--type", "csv", "--path", path, "--tags", tags, "--target", "label"]] };
      }),
      { planApproval: false },
    );
    nodes = await startNodes(homes, { env: { ...process.env, FBM_TEST_SECAGG_UPDATES: updatesDir } });
  });
  after(async () => {
    await nodes?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = (name: string, tags: string, min: number, optimizer?: typeof PLAN.optimizer) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, experiment(name, tags, min, optimizer));
    return runResearcher({ experiment: file, outDir: join(dir, "runs"), gate: nodes.gate });
  };

  /** If the second run went through, how exactly subtraction gave D's update: fails either way. */
  const failIfRecovered = (t: { diagnostic(m: string): void }, second: string) => {
    const g = initialWeights();
    const w1 = weightsOf(join(dir, "runs", "all-four"));
    const w2 = weightsOf(join(dir, "runs", second));
    const logged = readFileSync(join(updatesDir, `${nodeIdOf(homes[3])}.jsonl`), "utf8")
      .trim()
      .split("\n");
    const truth = (JSON.parse(logged[0]) as { update: number[][] }).update.flat();
    let worst = 0;
    for (let i = 0; i < truth.length; i++) {
      const recovered = 4 * (w1[i] - g[i]) - 3 * (w2[i] - g[i]);
      worst = Math.max(worst, Math.abs(recovered - truth[i]));
    }
    // 4 + 3 decoded means, each within half a quantization step (22 bits for 600 samples), plus float32.
    const bound = 7 * quantizationBound({ clip: CLIP, bits: 22 }) + 1e-4;
    t.diagnostic(`D's update recovered by subtraction: largest error ${worst.toExponential(2)} (bound ${bound})`);
    assert.ok(worst <= bound, `differencing came close but not within ${bound}: ${worst}`);
    assert.fail(`differencing recovered D's ${truth.length}-value update within ${worst.toExponential(2)}`);
  };

  it("{A,B,C,D} then {A,B,C} with the same model, arguments and seed: the second sum is refused", async (t) => {
    const first = await run("all-four", "cohort", 4);
    assert.equal(first.code, 0, first.stderr);
    const second = await run("without-d", "cohort, second", 3);

    if (second.code === 0) {
      // The attack worked: show how exactly D's update came out, then fail.
      failIfRecovered(t, "without-d");
    }

    assert.equal(second.code, 1, second.stderr);
    // Each of A, B and C held its masked input back (the round's error names every node's refusal).
    assert.match(second.stderr, /secure aggregation cannot complete: 0 masked update\(s\) came back/);
    for (const site of ["a", "b", "c"]) {
      assert.match(
        second.stderr,
        new RegExp(
          `${site}: This node already put this very update \\(or these very loss and validation counts\\) into a secure sum masked with 4 node\\(s\\)`,
        ),
      );
    }
    assert.match(second.stderr, /change training\.seed/);
    const refusals = second.events.filter((e) => e.event === "error" && e.code === "secagg_repeat");
    assert.deepEqual(refusals.map((e) => e.node).sort(), homes.slice(0, 3).map(nodeIdOf).sort());
    assert.equal(
      second.events.some((e) => e.event === "round"),
      false,
    );
    assert.throws(() => weightsOf(join(dir, "runs", "without-d")), /ENOENT/);
  });

  it("the same round over the same four nodes again (a rerun, or --resume) is allowed: it reveals nothing new", async () => {
    const again = await run("all-four-again", "cohort", 4);
    assert.equal(again.code, 0, again.stderr);
    const w1 = weightsOf(join(dir, "runs", "all-four"));
    const w3 = weightsOf(join(dir, "runs", "all-four-again"));
    assert.deepEqual(w3, w1);
  });

  it("a change that trains the same (momentum 0 beside sgd: another plan id) is refused too", async (t) => {
    const second = await run("without-d-momentum", "cohort, second", 3, { ...PLAN.optimizer, momentum: 0 });
    if (second.code === 0) failIfRecovered(t, "without-d-momentum");
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /a: This node already put this very update/);
  });

  it("a node restarted keeps its record: {A,B,C} is still refused", async () => {
    await nodes.stop();
    nodes = await startNodes(homes);
    const second = await run("without-d-later", "cohort, second", 3);
    assert.equal(second.code, 1, second.stderr);
    assert.match(second.stderr, /a: This node already put this very update/);
  });
});

/** The initial global model the researcher builds from the plan and the seed, as weights.bin lays it out. */
function initialWeights(): Float32Array {
  const model = buildModel(parsePlan(PLAN), [4], { seed: SEED });
  try {
    const params = getParams(model);
    const out = new Float32Array(params.reduce((n, p) => n + p.data.length, 0));
    let k = 0;
    for (const p of params) {
      out.set(p.data as Float32Array, k);
      k += p.data.length;
    }
    return out;
  } finally {
    model.dispose();
  }
}
