import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DEADLINE_MS, type FederationRun, prepareNodes, runFederation } from "../../scripts/lib/federation.js";
import { writeSyntheticSubjects } from "../../scripts/lib/synthetic-volumes.js";

/**
 * Three hospitals of NIfTI subject folders (a spherical lesion per subject, each hospital's scanner on its
 * own intensity scale, noise wide enough that lesion and background voxels overlap in intensity) train a 2D slice segmentation model federatedly; the pooled Dice of the held-back
 * slices must be well above an all-background prediction's, which is 0 on slices holding a lesion.
 */
describe("slice segmentation on three medical-folder nodes", { timeout: 3 * DEADLINE_MS }, () => {
  const dir = mkdtempSync(join(tmpdir(), "fbm-e2e-med-"));
  let run: FederationRun;
  const hospitals = [
    { scale: 100, offset: 0 },
    { scale: 1200, offset: -500 },
    { scale: 7, offset: 40 },
  ];

  before(async () => {
    const nodes = hospitals.map((scanner, i) => {
      const folder = join(dir, `hospital-${i}`);
      writeSyntheticSubjects(folder, { subjects: 5, dims: [12, 12, 6], seed: 20 + i, noise: 1.4, ...scanner });
      return {
        name: `hospital-${i}`,
        datasets: [["--type", "medical-folder", "--path", folder, "--tags", "brain-mri"]],
      };
    });
    const homes = await prepareNodes(dir, nodes, { planApproval: false });
    const experiment = join(dir, "seg.yaml");
    writeFileSync(
      experiment,
      [
        "name: lesion-segmentation",
        "tags: [brain-mri]",
        "rounds: 3",
        "nodes: {min: 3, wait: 5m}",
        "plan:",
        "  data: {inputs: [T1], target: label, slices: axial, resample: [12, 12], intensity: zscore}",
        "  model:",
        "    - conv2d: {filters: 4, kernelSize: 3, activation: relu, padding: same}",
        "    - conv2d: {filters: 1, kernelSize: 3, activation: sigmoid, padding: same}",
        "  loss: dice",
        "  optimizer: {name: adam, learning_rate: 0.05}",
        "training: {epochs: 5, batch_size: 8, test_ratio: 0.25, metrics: [dice, iou], seed: 3}",
      ].join("\n"),
    );
    run = await runFederation({ experiment, homes, outDir: join(dir, "runs") });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs 3 rounds on all three nodes", () => {
    assert.equal(run.code, 0, run.researcherStderr + Object.values(run.nodeLogs).join("\n"));
    const rounds = run.events.filter((e) => e.event === "round");
    assert.deepEqual(
      rounds.map((r) => r.nodes.length),
      [3, 3, 3],
    );
  });

  it("reaches a pooled Dice well above an all-background prediction's", (t) => {
    const done = run.events.at(-1)!;
    t.diagnostic(`final pooled metrics ${JSON.stringify(done.metrics)}`);
    assert.equal(done.event, "done");
    assert.ok(done.metrics.dice > 0.6, JSON.stringify(done.metrics));
    assert.ok(done.metrics.iou > 0.4 && done.metrics.iou <= done.metrics.dice, JSON.stringify(done.metrics));
  });
});
