import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  DEADLINE_MS,
  type NodeProcesses,
  prepareNodes,
  runResearcher,
  startNodes,
} from "../../scripts/lib/federation.js";
import { writeSkewedCsv } from "../../scripts/lib/synthetic.js";
import { quantizationBound } from "../../src/privacy/secagg/fixed-point.js";

const CLIP = 4;

function experiment(name: string, aggregator: string, secagg: boolean) {
  return [
    `name: ${name}`,
    "tags: [scaffold]",
    "rounds: 3",
    "nodes: {min: 3, wait: 5m, round_timeout: 5m}",
    "plan:",
    "  data: {target: label, normalize: standard}",
    "  model: [{dense: {units: 8, activation: relu}}, {dense: {units: 1, activation: sigmoid}}]",
    "  loss: binaryCrossentropy",
    "  optimizer: {name: sgd, learning_rate: 0.05}",
    "training: {epochs: 2, batch_size: 16, test_ratio: 0.25, metrics: [accuracy], seed: 3}",
    `aggregator: ${aggregator}`,
    ...(secagg ? [`secagg: {clip: ${CLIP}}`] : []),
  ].join("\n");
}

const weightsOf = (runDir: string) => {
  const bytes = readFileSync(join(runDir, "model", "weights.bin"));
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
};
const largestDifference = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** Three label-skewed sites (non-IID, where SCAFFOLD's control variates matter). */
describe("SCAFFOLD under secure aggregation, three real node processes", { timeout: 4 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-secagg-scaffold-"));
  let nodes: NodeProcesses;

  before(async () => {
    const homes = await prepareNodes(
      dir,
      [0, 1, 2].map((i) => {
        const path = join(dir, `site-${i}.csv`);
        writeSkewedCsv(path, { rows: 240, seed: 20 + i, positiveShare: [0.15, 0.5, 0.85][i], features: 4 });
        return {
          name: `site-${i}`,
          datasets: [["--type", "csv", "--path", path, "--tags", "scaffold", "--target", "label"]],
        };
      }),
      { planApproval: false },
    );
    nodes = await startNodes(homes);
  });
  after(async () => {
    await nodes?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const run = async (name: string, aggregator: string, secagg: boolean) => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, experiment(name, aggregator, secagg));
    const result = await runResearcher({ experiment: file, outDir: join(dir, "runs"), gate: nodes.gate });
    assert.equal(result.code, 0, result.stderr);
    return weightsOf(join(dir, "runs", name));
  };

  it("gives the model scaffold gives in the clear, to fixed-point precision", async (t) => {
    const clear = await run("scaffold-clear", "{name: scaffold}", false);
    const secure = await run("scaffold-secure", "{name: scaffold}", true);
    const fedavg = await run("fedavg-secure", "{name: fedavg}", true);
    // 3 × 180 training rows: auto takes 22 bits. Each round's mean and Σ Δcᵢ differ from the clear ones
    // by at most half a step; three rounds of (smooth, standardized) training carry that on: allow 10 steps.
    const step = 2 * quantizationBound({ clip: CLIP, bits: 22 });
    const worst = largestDifference(secure, clear);
    // Without the control variates (fedavg) the model is far from scaffold's: the test can tell.
    const apart = largestDifference(fedavg, clear);
    t.diagnostic(
      `secure vs clear scaffold: ${worst.toExponential(2)} (step ${step.toExponential(2)}); fedavg vs scaffold: ${apart.toExponential(2)}`,
    );
    assert.ok(worst <= 10 * step, `secure scaffold differs by ${worst}`);
    assert.ok(apart > 1000 * step, `fedavg is as close as ${apart}: the comparison tells nothing`);
  });
});
